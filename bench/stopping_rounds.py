"""When to stop labeling, validated: the gain of round r+1 predicted after round r vs the gain measured on truth.

Usage::

    python bench/stopping_rounds.py DATASET [--rounds 5] [--one-to-one] [--seed 0]

Runs ``labeling_rounds.run`` (10 active sets of 10 records per round, a simulated labeler answering from
truth.csv) and, after every round, ``matcher.stopping.stop_advice`` on the labels so far (rounds: chunks of 10
sets in labeling order, which here are exactly the rounds). Prints one row per round: the F1 against truth,
the change predicted for the next round, the gain the next round actually brought (against truth, the whole
data's pairwise F1), the changes of the last two rounds the prediction extrapolates (each model's clusters
against the previous model's) and the advice's cost in seconds (``--time-evaluation``: and the whole
evaluation's, the advice included).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

from labeling_rounds import run

from matcher.evaluate import evaluate
from matcher.pipeline import Matcher
from matcher.stopping import stop_advice


def advise(matcher: Matcher, time_evaluation: bool = False) -> dict:
    """The advice on this round's labels and what it cost; with ``time_evaluation`` also the whole
    evaluation's time (the advice included), to see the advice's share."""
    assert matcher.labeled_ is not None
    whole = None
    if time_evaluation:
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            evaluate(matcher)
        whole = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        advice = stop_advice(matcher)
    seconds = round(time.perf_counter() - started, 1) if advice["curve"] else None
    return {"predicted_gain": advice["expected_gain"], "changes": (advice["fit"] or {}).get("changes", []),
            "advice_seconds": seconds, "evaluation_seconds": whole, "sentence": advice["sentence"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--one-to-one", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-evaluation", action="store_true", help="also time the whole evaluation per round")
    args = parser.parse_args()
    rows = run(args.dataset, args.rounds, 10, 10, "active", args.one_to_one, args.seed,
               after_round=lambda m: advise(m, args.time_evaluation))
    print("\n| dataset | round | F1 (truth) | predicted change of next round | actual gain of next round "
          "| changes of the last two rounds | advice s | evaluation s |\n|---|---|---|---|---|---|---|---|")
    for row, nxt in zip(rows, [*rows[1:], None], strict=True):
        actual = f"{nxt['f1'] - row['f1']:+.4f}" if nxt else "(not run)"
        predicted = row.get("predicted_gain")
        shown = "-" if predicted is None else f"{predicted:.4f}"
        print(f"| {args.dataset} | {row['round']} | {row['f1']:.4f} | {shown} | {actual} "
              f"| {' / '.join(str(c) for c in row.get('changes', []))} | {row.get('advice_seconds') or '-'} "
              f"| {row.get('evaluation_seconds') or '-'} |")
    print(json.dumps([r.get("sentence") for r in rows]))


if __name__ == "__main__":
    main()
