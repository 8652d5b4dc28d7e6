"""Quality and speed of ``matcher`` on every shared benchmark, unsupervised and with labeling rounds.

Usage::

    python bench/run_datasets.py [--datasets febrl3,dblp_acm] [--rounds 5] [--skip-rounds]

Each dataset runs in its own process (so peak RSS is its own). Prints a Markdown table per section and
writes the raw figures to ``bench/results/datasets.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DATASETS = HERE.parents[1] / "shared" / "datasets"
ALL = ["febrl1", "febrl2", "febrl3", "febrl4", "dblp_acm", "amazon_google", "restaurants_fodors_zagat", "cora",
       "rldata10000", "historical_figures_50k", "fake_1000"]
ROUNDS = ["febrl3", "dblp_acm", "amazon_google", "cora", "restaurants_fodors_zagat"]


def one(name: str, one_to_one: bool) -> dict:
    from score import pairwise_scores

    from matcher.io import read_table
    from matcher.pipeline import Matcher
    from matcher.settings import Settings

    bench = DATASETS / name / "bench"
    meta = json.loads((bench / "meta.json").read_text())
    pk, src = meta["primary_key"], meta["source_column"]
    start = time.perf_counter()
    records = read_table(bench / "records.csv", pk, src)
    result = Matcher(Settings(primary_key=pk, source_column=src, one_to_one=one_to_one or None)).fit(records).predict()
    seconds = time.perf_counter() - start
    truth = pd.read_csv(bench / "truth.csv", dtype=str)
    score = pairwise_scores(result.records[[pk, "match_id"]].rename(columns={pk: "id"}), truth,
                            records[src] if src else None)
    return {"dataset": name, "one_to_one": one_to_one, "records": len(records),
            "candidate_pairs": result.stats["candidate_pairs"], "seconds": round(seconds, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            **{k: round(score[k], 4) for k in ("precision", "recall", "f1")}}


def child(args: list[str]) -> list[dict]:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def label_efficiency(rounds: list[dict], budget: int) -> list[dict]:
    """For each dataset: active learning's F1 after ``budget`` rounds, and how many labeled records random sets
    needed to reach that F1 (None if they never did within twice the rounds)."""
    out = []
    for name in dict.fromkeys(r["dataset"] for r in rounds):
        active = [r for r in rounds if r["dataset"] == name and r["strategy"] == "active" and r["round"] == budget]
        if not active:
            continue
        target = active[0]
        reached = [r for r in rounds if r["dataset"] == name and r["strategy"] == "random" and r["round"] > 0
                   and r["f1"] >= target["f1"]]
        need = min((r["labeled_records"] for r in reached), default=None)
        out.append({"dataset": name, "active_f1": target["f1"], "active_labels": target["labeled_records"],
                    "random_labels_to_match": need if need is not None else "not reached",
                    "ratio": round(target["labeled_records"] / need, 2) if need else "-"})
    return out


def table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(ALL))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-rounds", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--one-to-one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.one_to_one)))
        return
    names = args.datasets.split(",")
    unsupervised = []
    for name in names:
        unsupervised += child(["--one", name])
        if json.loads((DATASETS / name / "bench" / "meta.json").read_text())["source_column"]:
            unsupervised += child(["--one", name, "--one-to-one"])
    print("## Unsupervised (no labels)\n")
    print(table(unsupervised, ["dataset", "one_to_one", "records", "candidate_pairs", "precision", "recall", "f1",
                               "seconds", "peak_rss_mb"]))
    rounds = []
    if not args.skip_rounds:
        for name in [n for n in ROUNDS if n in names]:
            linkage = json.loads((DATASETS / name / "bench" / "meta.json").read_text())["source_column"]
            for strategy, budget in (("active", args.rounds), ("random", 2 * args.rounds)):
                extra = ["--one-to-one"] if linkage else []
                out = subprocess.run([sys.executable, str(HERE / "labeling_rounds.py"), name, "--rounds",
                                      str(budget), "--strategy", strategy, *extra],
                                     capture_output=True, text=True, check=True)
                rounds += [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
        print("\n## Labeling rounds (10 sets of 10 records per round, simulated labeler from truth)\n")
        print(table(rounds, ["dataset", "strategy", "round", "labeled_records", "precision", "recall", "f1",
                             "round_seconds"]))
        print("\n## Labels needed: active learning vs random sets\n")
        print(table(label_efficiency(rounds, args.rounds), ["dataset", "active_f1", "active_labels",
                                                            "random_labels_to_match", "ratio"]))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "datasets.json").write_text(json.dumps({"unsupervised": unsupervised, "rounds": rounds},
                                                               indent=1))


if __name__ == "__main__":
    main()
