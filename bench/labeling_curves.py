"""Active learning vs random sets over several labeling seeds: mean learning curves and the labels each needs.

Usage::

    python bench/labeling_curves.py DATASET [--seeds 0,1,2,3] [--rounds 5] [--random-rounds 11] [--one-to-one]
                                    [--jobs 2] [--out bench/results/curves_DATASET.json]

Runs ``labeling_rounds.run`` for every seed with both strategies (random sets get about twice the rounds), in
``--jobs`` processes, then averages F1 and labeled records per round over the seeds. A single seed's 5-round
F1 moves by 0.01-0.03 from one round to the next on small data such as cora, so one seed's verdict on "active
learning reaches its 5-round F1 with at most half the labels random sets need" is mostly noise; the mean
curves answer it for the expected labeler. Prints both curves and, per seed and for the mean, the labels
active learning needed to first reach its 5-round F1, the labels random sets needed, and their ratio.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from labeling_rounds import run

HERE = Path(__file__).resolve().parent


def _one(args: tuple[str, str, int, int, bool]) -> list[dict]:
    dataset, strategy, rounds, seed, one_to_one = args
    return run(dataset, rounds, 10, 10, strategy, one_to_one, seed)


def mean_curve(runs: list[list[dict]]) -> tuple[np.ndarray, np.ndarray]:
    """(mean labeled records, mean F1) per round over the runs, up to the shortest run."""
    length = min(len(r) for r in runs)
    labels = np.mean([[row["labeled_records"] for row in r[:length]] for r in runs], axis=0)
    f1 = np.mean([[row["f1"] for row in r[:length]] for r in runs], axis=0)
    return labels, f1


def labels_to_reach(labels: np.ndarray, f1: np.ndarray, target: float) -> float | None:
    reached = np.flatnonzero(f1 >= target - 1e-9)
    return float(labels[reached[0]]) if len(reached) else None


def verdict(active: tuple[np.ndarray, np.ndarray], random: tuple[np.ndarray, np.ndarray]) -> dict:
    """Active's final F1, the labels it first reached it with, the labels random sets needed, the ratio (an
    upper bound, marked ``<``, when random sets never reach it)."""
    target = float(active[1][-1])
    needed = labels_to_reach(*active, target)
    assert needed is not None
    got = labels_to_reach(*random, target)
    if got is None:
        ratio = f"< {needed / random[0][-1]:.2f}"
    else:
        ratio = f"{needed / got:.2f}" if got else "n/a (reached without labels)"
    return {"active_f1": round(target, 4), "active_labels": needed, "random_labels": got,
            "random_best_f1": round(float(random[1].max()), 4), "random_max_labels": float(random[0][-1]),
            "ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--random-rounds", type=int, default=11)
    parser.add_argument("--one-to-one", action="store_true")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(args.dataset, strategy, rounds, seed, args.one_to_one) for seed in seeds
            for strategy, rounds in (("active", args.rounds), ("random", args.random_rounds))]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = dict(zip(((j[1], j[3]) for j in jobs), pool.map(_one, jobs), strict=True))
    active = [results["active", s] for s in seeds]
    random = [results["random", s] for s in seeds]
    rows = {f"seed {s}": verdict(mean_curve([results["active", s]]), mean_curve([results["random", s]]))
            for s in seeds}
    rows["mean of seeds"] = verdict(mean_curve(active), mean_curve(random))
    name = Path(args.dataset).name
    for strategy, runs in (("active", active), ("random", random)):
        labels, f1 = mean_curve(runs)
        curve = " / ".join(f"{v:.4f}" for v in f1)
        print(f"| {name} | {strategy}, mean of seeds {args.seeds} | {curve} ({labels[-1]:.0f} labels) |")
    print("\n| dataset | seeds | active 5-round F1 | labels it first reached it with | random labels to reach it "
          "| random best F1 (within labels) | ratio |\n|---|---|---|---|---|---|---|")
    for seed, v in rows.items():
        got = "not reached" if v["random_labels"] is None else f"{v['random_labels']:.0f}"
        print(f"| {name} | {seed} | {v['active_f1']} | {v['active_labels']:.0f} | {got} "
              f"| {v['random_best_f1']} ({v['random_max_labels']:.0f}) | {v['ratio']} |")
    out = args.out or HERE / "results" / f"curves_{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": [r for runs in results.values() for r in runs], "verdicts": rows}, indent=1))


if __name__ == "__main__":
    main()
