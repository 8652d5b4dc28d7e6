"""Diagnostic: how much of each round's proposed records the machine could complete, under several thresholds.

Usage::

    python bench/auto_labeling_headroom.py DATASET|BENCH_DIR [--rounds 5] [--seed 0] [--target 0.95]

Runs the labeling loop without automation (a perfect labeler answers every proposed set, as
``bench/auto_labeling.py``'s ``without_automation``) and, before answering each round's sets, plans their completion
(``matcher.auto_complete.plan_completion``) with thresholds chosen on the human labels so far, scored out of fold:

* ``cp95``: today's thresholds (Clopper-Pearson lower bound at 95%, each side held on both classes);
* ``share``: the same cut with the raw share instead of the bound (confidence 0.501: the beta median);
* ``oracle``: every pair decided at the model's own cut (an upper bound of what any threshold could take).

Per round and variant: the records the machine would take, and its pair verdicts against truth per side.
One JSON line per round.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from auto_labeling import Data  # noqa: E402

from matcher.active import choose_sets  # noqa: E402
from matcher.auto_complete import complete, machine_verdicts, plan_completion  # noqa: E402
from matcher.auto_label import Side, Thresholds, choose_thresholds, human_pairs  # noqa: E402
from matcher.evaluate import out_of_fold  # noqa: E402
from matcher.labels import Labels  # noqa: E402
from matcher.pipeline import Matcher  # noqa: E402
from matcher.settings import Settings  # noqa: E402


def variants(matcher: Matcher, target: float) -> dict[str, Thresholds]:
    cut = float(matcher.threshold)
    oracle = Thresholds(Side(cut, 0, 1.0, 1.0), Side(cut - 1e-9, 0, 1.0, 1.0), target, 0.5, 0, "oracle")
    if matcher.labeled_ is None or len(matcher.labeled_.left) == 0:
        return {"oracle": oracle}
    lab = matcher.scored_kind(matcher.labeled_)
    human = human_pairs(matcher, lab)
    prob = out_of_fold(matcher, lab).prob[human]
    y = lab.is_match[human]
    return {"cp95": choose_thresholds(prob, y, target, 0.95, 20, cut),
            "share": choose_thresholds(prob, y, target, 0.501, 20, cut), "oracle": oracle}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", type=float, default=0.95)
    args = parser.parse_args()
    data = Data(args.dataset)
    matcher = Matcher(Settings(primary_key=data.pk, source_column=data.src)).fit(data.records)
    labels = Labels.empty()
    for r in range(args.rounds):
        sets = choose_sets(matcher, 10, 10, labels.key_set(), seed=r + 1000 * args.seed)
        out = {"dataset": args.dataset, "seed": args.seed, "round": r + 1,
               "records": sum(len(s.rows) for s in sets)}
        for name, limits in variants(matcher, args.target).items():
            plan = plan_completion(matcher, sets, args.target, thresholds=limits)
            answered = data.answered(matcher, plan.human_sets) if plan.human_sets else Labels.empty()
            done = complete(plan, answered)
            out[name] = {"machine_records": plan.machine_records, "human_records": len(answered.rows),
                         "high": limits.high.threshold if limits.high else None,
                         "low": limits.low.threshold if limits.low else None,
                         "verdicts": machine_verdicts(done, data.true_labels(done))}
        labels = labels.append(data.answered(matcher, sets))
        matcher = matcher.refit_labels(labels)
        out["f1_after"] = data.f1(matcher)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
