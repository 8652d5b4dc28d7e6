"""Labeling efficiency: a simulated labeler answers each round of labeling sets from truth.csv.

Usage::

    python bench/labeling_rounds.py DATASET|BENCH_DIR [--rounds 5] [--sets 10] [--set-size 10]
                                     [--strategy active|random] [--one-to-one] [--seed 0]

Each round generates ``--sets`` labeling sets with ``matcher.active`` (or random sets: a random record plus
its candidate neighbours), labels every record with its true entity id (within a set, same entity = same
label, exactly Glue's semantics), refits on all labels so far and prints F1 of the resulting clustering.
``--seed S`` varies the labeling: round ``r`` asks ``choose_sets`` for seed ``r + 1000 * S`` (S=0 is the
original run) and random sets draw from ``default_rng(S)``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from score import pairwise_scores  # noqa: E402

from matcher.active import LabelingSet, choose_sets, labeling_file  # noqa: E402
from matcher.io import read_table  # noqa: E402
from matcher.labels import Labels, read_labels  # noqa: E402
from matcher.pipeline import Matcher  # noqa: E402
from matcher.settings import Settings  # noqa: E402

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def random_sets(matcher: Matcher, num: int, size: int, exclude: set[str], rng: np.random.Generator):
    keys = matcher.records_[matcher.settings_.primary_key].to_numpy(dtype=object)
    left, right = matcher.candidates_.left, matcher.candidates_.right
    sets = []
    for start in rng.permutation(matcher.table_.n):
        if len(sets) >= num:
            break
        if keys[start] in exclude:
            continue
        near = np.unique(np.r_[right[left == start], left[right == start]])
        near = [int(x) for x in rng.permutation(near) if keys[x] not in exclude][: size - 1]
        members = np.array([int(start), *near])
        exclude |= {keys[m] for m in members}
        sets.append(LabelingSet(f"random-{len(sets)}-{start}", members, {}))
    return sets


def label_from_truth(file: pd.DataFrame, truth: pd.Series, pk: str) -> pd.DataFrame:
    file = file.copy()
    file["label"] = truth.reindex(file[pk]).to_numpy()
    return file


def run(name: str, rounds: int, num_sets: int, set_size: int, strategy: str, one_to_one: bool,
        seed: int = 0, after_round: Callable[[Matcher], dict] | None = None) -> list[dict]:
    """One row per round; ``after_round(matcher)`` adds its fields to each round's row (e.g. a prediction
    made from that round's labels, to compare with the next round's F1)."""
    bench = Path(name) if (Path(name) / "meta.json").exists() else DATASETS / name / "bench"
    meta = json.loads((bench / "meta.json").read_text())
    pk, src = meta["primary_key"], meta["source_column"]
    records = read_table(bench / "records.csv", pk, src)
    truth = pd.read_csv(bench / "truth.csv", dtype=str).set_index("id")["entity_id"]
    matcher = Matcher(Settings(primary_key=pk, source_column=src, one_to_one=one_to_one or None)).fit(records)
    labels, rng, out, seconds = Labels.empty(), np.random.default_rng(seed), [], None
    for r in range(rounds + 1):
        result = matcher.predict()
        score = pairwise_scores(result.records[[pk, "match_id"]].rename(columns={pk: "id"}),
                                truth.reset_index(), records[src] if src else None)
        out.append({"dataset": name, "strategy": strategy, "seed": seed, "round": r,
                    "labeled_records": len(labels.rows), "f1": round(score["f1"], 4),
                    "precision": round(score["precision"], 4), "recall": round(score["recall"], 4),
                    "model": result.stats["model"], "round_seconds": seconds,
                    **(after_round(matcher) if after_round and len(labels.rows) else {})})
        print(json.dumps(out[-1]), flush=True)
        if r == rounds:
            break
        t = time.time()
        exclude = labels.key_set()
        sets = (choose_sets(matcher, num_sets, set_size, exclude, seed=r + 1000 * seed) if strategy == "active"
                else random_sets(matcher, num_sets, set_size, set(exclude), rng))
        answered = label_from_truth(labeling_file(matcher, sets), truth, pk)
        labels = labels.append(read_labels(answered, pk))
        matcher = matcher.refit_labels(labels)
        seconds = round(time.time() - t, 2)  # choosing the sets + refitting on every label so far
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sets", type=int, default=10)
    parser.add_argument("--set-size", type=int, default=10)
    parser.add_argument("--strategy", choices=["active", "random"], default="active")
    parser.add_argument("--one-to-one", action="store_true")
    parser.add_argument("--seed", type=int, default=0, help="labeling seed; 0 reproduces the original run")
    args = parser.parse_args()
    run(args.dataset, args.rounds, args.sets, args.set_size, args.strategy, args.one_to_one, args.seed)


if __name__ == "__main__":
    main()
