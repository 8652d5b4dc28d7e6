"""Incremental matching against an entity store: quality against one run, and cost against a full run.

Quality: a dataset is split at random into a base (half its records) and 10 batches. The base is matched into a
store, the batches are matched into it one after another, and the final clusters are scored against the truth,
beside the one-shot run on every record (its own fit) and the one-shot run with the base's model (the same model
the batches were matched with: what the incremental mechanism itself costs)::

    python bench/incremental.py quality BENCH_DIR [--batches 10]

Cost: the full run on every record, then a store made of all but ``--batch-rows`` of them, then the batch matched
into it; each step in a process of its own, its wall time and peak memory (max RSS) measured::

    python bench/incremental.py cost BENCH_DIR [--batch-rows 10000]

Both print one JSON object. ``BENCH_DIR`` is a bench folder (records.csv, truth.csv, meta.json).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score import pairwise_scores  # noqa: E402

from matcher.decision import Decision  # noqa: E402
from matcher.entity_store import EntityStore  # noqa: E402
from matcher.incremental import match_batch, store_from_fit  # noqa: E402
from matcher.io import read_table  # noqa: E402
from matcher.model_file import load_model  # noqa: E402
from matcher.pipeline import Matcher  # noqa: E402
from matcher.settings import Settings  # noqa: E402


def _load(bench: Path) -> tuple[pd.DataFrame, Settings, pd.DataFrame, str | None]:
    meta = json.loads((bench / "meta.json").read_text())
    source = meta.get("source_column")
    records = read_table(bench / "records.csv", meta["primary_key"], source)
    settings = Settings.from_dict({"primary_key": meta["primary_key"], **({"source_column": source} if source else {})})
    truth = pd.read_csv(bench / "truth.csv", dtype=str)
    return records, settings, truth, source


def _f1(keys: pd.Series, ids: np.ndarray, records: pd.DataFrame, truth: pd.DataFrame, source: str | None,
        key: str) -> dict:
    pred = pd.DataFrame({"id": keys.astype(str).to_numpy(), "match_id": pd.Series(ids).astype(str).to_numpy()})
    src = pd.Series(records[source].to_numpy(), index=records[key].astype(str).to_numpy()) if source else None
    s = pairwise_scores(pred, truth, src)
    return {k: round(float(s[k]), 4) for k in ("precision", "recall", "f1")}


def _name(bench: Path) -> str:
    return bench.parent.name if bench.name == "bench" else bench.name


def _into_store(matcher: Matcher, root: Path) -> EntityStore:
    decision = Decision.from_settings(matcher.settings_)
    store = EntityStore(root)
    with store.writing():
        store.publish(store_from_fit(matcher, matcher.predict(decision), decision, None).contents)
    return store


def quality(bench: Path, batches: int, seed: int) -> dict:
    records, settings, truth, source = _load(bench)
    key = settings.primary_key
    order = np.random.default_rng(seed).permutation(len(records))
    half = len(records) // 2
    out: dict = {"dataset": _name(bench), "records": len(records),
                 "base": half, "batches": batches}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        base = Matcher(settings, keep_index=True).fit(records.iloc[order[:half]].reset_index(drop=True))
        store = _into_store(base, Path(tmp) / "store")
        out["base_seconds"] = round(time.perf_counter() - start, 2)
        times, stats = [], []
        for rows in np.array_split(order[half:], batches):
            start = time.perf_counter()
            with store.writing():
                outcome = match_batch(store.read(), records.iloc[rows].reset_index(drop=True))
                store.publish(outcome.contents)
            times.append(time.perf_counter() - start)
            stats.append(outcome.stats)
        out["batch_seconds_mean"] = round(float(np.mean(times)), 2)
        out["batch_means"] = {k: round(float(np.mean([s[k] for s in stats])), 1) for k in
                              ("batch_records", "probed_records", "touched_entities", "reclustered_records",
                               "candidate_pairs")}
        final = store.read()
        out["incremental"] = _f1(final.keys, final.ids, records, truth, source, key)
        model = load_model(final.model)
    same = Matcher.from_model(model, records).predict()
    out["one_shot_base_model"] = _f1(same.records[key], same.records["match_id"].to_numpy(), records, truth, source,
                                      key)
    start = time.perf_counter()
    full = Matcher(settings).fit(records).predict()
    out["one_shot_seconds"] = round(time.perf_counter() - start, 2)
    out["one_shot"] = _f1(full.records[key], full.records["match_id"].to_numpy(), records, truth, source, key)
    out["gap_to_one_shot"] = round(out["one_shot"]["f1"] - out["incremental"]["f1"], 4)
    return out


# -- cost: each step in its own process ------------------------------------------------------------------------

def step(kind: str, bench: Path, work: Path, batch_rows: int) -> dict:
    if kind == "batch":  # the batch alone is read (its own file): its peak memory is the store's, not the CSV's
        store = EntityStore(work / "store")
        batch = pd.read_parquet(work / "batch.parquet")
        start = time.perf_counter()
        with store.writing():
            outcome = match_batch(store.read(), batch)
            store.publish(outcome.contents)
        return {"seconds": round(time.perf_counter() - start, 2), "peak_rss_mb": _peak_mb(), **outcome.stats}
    records, settings, _, _ = _load(bench)
    start = time.perf_counter()
    if kind == "full":
        Matcher(settings).fit(records).predict()
    else:
        _into_store(Matcher(settings, keep_index=True).fit(records.iloc[:-batch_rows].reset_index(drop=True)),
                    work / "store")
        seconds = time.perf_counter() - start
        records.iloc[-batch_rows:].to_parquet(work / "batch.parquet", index=False)
        return {"seconds": round(seconds, 2), "peak_rss_mb": _peak_mb()}
    return {"seconds": round(time.perf_counter() - start, 2), "peak_rss_mb": _peak_mb()}


def _peak_mb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def cost(bench: Path, batch_rows: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="incremental-"))
    try:
        out: dict = {"dataset": _name(bench), "batch_rows": batch_rows}
        for kind in ("full", "store", "batch"):
            done = subprocess.run([sys.executable, __file__, "step", kind, str(bench), str(work), str(batch_rows)],
                                  check=True, capture_output=True, text=True)
            out[kind] = json.loads(done.stdout.strip().splitlines()[-1])
        out["batch_over_full"] = round(out["batch"]["seconds"] / out["full"]["seconds"], 4)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    q = verbs.add_parser("quality")
    q.add_argument("bench", type=Path)
    q.add_argument("--batches", type=int, default=10)
    q.add_argument("--seed", type=int, default=0)
    c = verbs.add_parser("cost")
    c.add_argument("bench", type=Path)
    c.add_argument("--batch-rows", type=int, default=10_000)
    s = verbs.add_parser("step")
    s.add_argument("kind", choices=("full", "store", "batch"))
    s.add_argument("bench", type=Path)
    s.add_argument("work", type=Path)
    s.add_argument("batch_rows", type=int)
    args = parser.parse_args()
    if args.verb == "quality":
        print(json.dumps(quality(args.bench, args.batches, args.seed)))
    elif args.verb == "cost":
        print(json.dumps(cost(args.bench, args.batch_rows)))
    else:
        print(json.dumps(step(args.kind, args.bench, args.work, args.batch_rows)))


if __name__ == "__main__":
    main()
