"""Automated labeling: how many human-labeled records reach the F1 of today's labeling loop.

Usage::

    python bench/auto_labeling.py [DATASET|BENCH_DIR ...] [--target 0.95] [--rounds 5] [--max-rounds 10]
                                  [--sets 10] [--set-size 10] [--seed 0] [--mode sets|records]
                                  [--machine-truth] [--top-up] [--plan-validation]

Per dataset (default: febrl3, dblp_acm, cora):

* **without automation**: a perfect labeler (truth.csv) answers ``--rounds`` rounds of ``--sets`` sets chosen by
  ``matcher.active.choose_sets``, the matcher refitted after each (``bench/labeling_rounds.py``'s loop). Its F1
  after the last round is the goal; ``human_records`` is what it cost, ``first_round_at_goal`` the first round
  whose F1 was already >= the goal (F1 is not monotone; ``human_ratio_vs_first_at_goal`` compares with that).
* **with automation**: the same loop, but each round's proposed sets go first to
  ``matcher.auto_label.auto_label`` at ``--target``: the sets it labels are machine-labeled, the perfect labeler
  answers the others. It stops once F1 >= the goal or after ``--max-rounds`` rounds. Machine-labeled records
  leave the pool of records to ask about, as human-labeled ones do.
* ``--mode records``: instead, ``matcher.auto_label.split_sure_records`` machine-labels the records of each
  proposed set whose every pair in the set is sure, and the perfect labeler answers the set's other records.
  Human cost is the same count: records humans labeled.
* ``--mode complete``: ``matcher.auto_complete.plan_completion`` leaves humans the records the model is unsure of
  plus one anchor per group of sure matches, and ``complete`` adds the machine's records to their answer (followers
  take their anchor's label, settled records labels of their own), so every pair of a set is labeled. With
  ``--top-up`` (``plan_round``) sets the machine labels whole do not count against a round's ``--sets``.
  ``machine_accuracy`` then counts every pair touching a machine-labeled record, per side of its verdict.
* ``--plan-validation`` (with ``--mode complete``): thresholds from ``matcher.auto_plan_check.validated_plan``,
  validated on the completion of the held-out human-labeled sets (chains of sure matches allowed when they validate).
* ``--machine-truth`` (a diagnostic): the records the machine labels are trained on with their true labels, so
  the loop's F1 tells the cost of the machine's errors apart from the cost of humans labeling fewer records.

Prints one JSON line per dataset: both loops' human-labeled records and F1 by round, the ratio of human records
(target <= 0.5), and the achieved accuracy of all machine labels against truth (pairs of the machine-labeled sets)
next to the target and to what ``auto_label`` expected.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from labeling_rounds import DATASETS, label_from_truth  # noqa: E402
from score import pairwise_scores  # noqa: E402

from matcher.active import LabelingSet, choose_sets, labeling_file  # noqa: E402
from matcher.auto_complete import complete, machine_verdicts, plan_completion, plan_round  # noqa: E402
from matcher.auto_label import MACHINE, auto_label, split_sure_records  # noqa: E402
from matcher.auto_plan_check import validated_plan  # noqa: E402
from matcher.io import read_table  # noqa: E402
from matcher.labels import SET_COLUMN, Labels, read_labels  # noqa: E402
from matcher.pipeline import Matcher  # noqa: E402
from matcher.settings import Settings  # noqa: E402


class Data:
    """One benchmark dataset: records, truth, keys."""

    def __init__(self, name: str) -> None:
        bench = Path(name) if (Path(name) / "meta.json").exists() else DATASETS / name / "bench"
        meta = json.loads((bench / "meta.json").read_text())
        self.name, self.pk, self.src = name, meta["primary_key"], meta["source_column"]
        self.records = read_table(bench / "records.csv", self.pk, self.src)
        self.truth = pd.read_csv(bench / "truth.csv", dtype=str).set_index("id")["entity_id"]

    def f1(self, matcher: Matcher) -> float:
        result = matcher.predict()
        score = pairwise_scores(result.records[[self.pk, "match_id"]].rename(columns={self.pk: "id"}),
                                self.truth.reset_index(), self.records[self.src] if self.src else None)
        return round(float(score["f1"]), 4)

    def answered(self, matcher: Matcher, sets: list) -> Labels:
        """The perfect labeler's answer to ``sets``."""
        return read_labels(label_from_truth(labeling_file(matcher, sets), self.truth, self.pk), self.pk)

    def true_labels(self, labels: Labels) -> Labels:
        """The same records in the same sets, labeled with their true entity: what a perfect labeler would say."""
        rows = labels.rows
        return Labels(pd.DataFrame({SET_COLUMN: rows[SET_COLUMN], "key": rows["key"],
                                    "label": self.truth.reindex(rows["key"]).to_numpy()}))


def without_automation(data: Data, start: Matcher, rounds: int, num_sets: int, set_size: int, seed: int) -> dict:
    matcher, labels, f1, records = start, Labels.empty(), [], []
    for r in range(rounds):
        sets = choose_sets(matcher, num_sets, set_size, labels.key_set(), seed=r + 1000 * seed)
        labels = labels.append(data.answered(matcher, sets))
        matcher = matcher.refit_labels(labels)
        f1.append(data.f1(matcher))
        records.append(len(labels.rows))
    return {"human_records": len(labels.rows), "f1_by_round": f1, "human_records_by_round": records}


def machine_round(matcher: Matcher, sets: list[LabelingSet], target: float, mode: str
                  ) -> tuple[Labels, list[LabelingSet], float | None, str]:
    """One round's machine labels, the sets (or parts of sets) left to humans, the expected accuracy, the reason."""
    if mode == "records":
        split = split_sure_records(matcher, sets, target)
        return split.labels, split.human_sets, split.expected_accuracy, split.reason
    auto = auto_label(matcher, sets, target)
    human = [s for s in sets if s.set_id in set(auto.human_sets)]
    return auto.labels, human, auto.expected_accuracy, auto.reason


def completed_round(data: Data, matcher: Matcher, sets: list[LabelingSet], target: float, machine_truth: bool,
                    top_up: tuple[int, int, set[str], int] | None = None, plan_validation: bool = False
                    ) -> tuple[Labels, int, str]:
    """``--mode complete``: the sets' labels (humans' answers completed by the machine), human records, reason;
    with ``top_up`` (plan_round's num_sets, set_size, exclude, seed) the round proposes more sets instead."""
    if top_up:
        num_sets, set_size, exclude, seed = top_up
        plan = plan_round(matcher, num_sets, set_size, exclude, seed, target)[1]
    else:
        plan = plan_completion(matcher, sets, target,
                               thresholds=validated_plan(matcher, target) if plan_validation else None)
    answered = data.answered(matcher, plan.human_sets) if plan.human_sets else Labels.empty()
    labels = complete(plan, answered)
    if machine_truth:
        rows = labels.rows.assign(label=data.truth.reindex(labels.rows["key"]).to_numpy())
        labels = Labels(rows)
    return labels, len(answered.rows), plan.reason


def with_automation(data: Data, start: Matcher, goal: float, target: float, max_rounds: int, num_sets: int,
                    set_size: int, seed: int, mode: str, machine_truth: bool = False, topped_up: bool = False,
                    plan_validation: bool = False) -> dict:
    matcher, labels, machine_all = start, Labels.empty(), Labels.empty()
    human_records, f1, machine_records, expected, reason = 0, [], [], [], ""
    for r in range(max_rounds):
        if mode == "complete":
            top_up = (num_sets, set_size, labels.key_set(), r + 1000 * seed) if topped_up else None
            sets = [] if top_up else choose_sets(matcher, num_sets, set_size, labels.key_set(), seed=r + 1000 * seed)
            done, asked, reason = completed_round(data, matcher, sets, target, machine_truth, top_up, plan_validation)
            human_records += asked
            machine = Labels(done.rows[done.rows["labeled_by"] == MACHINE])
            machine_all = machine_all.append(done)
            labels = labels.append(done)
            matcher = matcher.refit_labels(labels)
            f1.append(data.f1(matcher))
            machine_records.append(len(machine.rows))
            if f1[-1] >= goal:
                break
            continue
        sets = choose_sets(matcher, num_sets, set_size, labels.key_set(), seed=r + 1000 * seed)
        machine, human, accuracy, reason = machine_round(matcher, sets, target, mode)
        answered = data.answered(matcher, human) if human else Labels.empty()
        human_records += len(answered.rows)
        if len(machine.rows):
            machine_all = machine_all.append(machine)
            expected.append(accuracy)
        labels = labels.append(answered).append(data.true_labels(machine) if machine_truth else machine)
        matcher = matcher.refit_labels(labels)
        f1.append(data.f1(matcher))
        machine_records.append(len(machine.rows))
        if f1[-1] >= goal:
            break
    return {"human_records": human_records, "machine_records": sum(machine_records), "f1_by_round": f1,
            "machine_records_by_round": machine_records, "reached_goal": bool(f1 and f1[-1] >= goal),
            # per side: the machine's match and non-match verdicts (with --mode complete, every pair touching a
            # machine-labeled record, its pairs with the humans' records too)
            "machine_accuracy": machine_verdicts(machine_all, data.true_labels(machine_all)),
            "expected_accuracy_by_round": expected, "last_reason": reason}


def run(name: str, target: float, rounds: int, max_rounds: int, num_sets: int, set_size: int, seed: int,
        mode: str = "sets", machine_truth: bool = False, top_up: bool = False, plan_validation: bool = False) -> dict:
    started = time.time()
    data = Data(name)
    start = Matcher(Settings(primary_key=data.pk, source_column=data.src)).fit(data.records)
    base = without_automation(data, start, rounds, num_sets, set_size, seed)
    goal = base["f1_by_round"][-1]
    auto = with_automation(data, start, goal, target, max_rounds, num_sets, set_size, seed, mode, machine_truth,
                           top_up, plan_validation)
    at_goal = next(i for i, f in enumerate(base["f1_by_round"]) if f >= goal)
    # a ratio where the loop never reached the goal is a miss, not a saving: reached_goal says which
    return {"dataset": name, "mode": mode, "top_up": top_up, "plan_validation": plan_validation,
            "machine_truth": machine_truth, "target": target,
            "goal_f1": goal,
            "seed": seed, "reached_goal": auto["reached_goal"],
            "without": {**base, "first_round_at_goal": at_goal + 1},
            "with": auto, "human_ratio": round(auto["human_records"] / base["human_records"], 3),
            # the loop without automation may reach its own 5-round F1 earlier: the fairer denominator
            "human_ratio_vs_first_at_goal": round(auto["human_records"] / base["human_records_by_round"][at_goal], 3),
            "seconds": round(time.time() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", default=["febrl3", "dblp_acm", "cora"])
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-rounds", type=int, default=10)
    parser.add_argument("--sets", type=int, default=10)
    parser.add_argument("--set-size", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=["sets", "records", "complete"], default="sets",
                        help="machine-label whole sure sets (default), the sure records inside each set, or "
                             "complete the humans' answers with the sure records (matcher.auto_complete)")
    parser.add_argument("--machine-truth", action="store_true",
                        help="diagnostic: train on the true labels of the records the machine labels")
    parser.add_argument("--top-up", action="store_true",
                        help="with --mode complete: sets the machine labels whole do not count against a round's "
                             "--sets human sets (matcher.auto_complete.plan_round)")
    parser.add_argument("--plan-validation", action="store_true",
                        help="with --mode complete: thresholds validated on the completion itself "
                             "(matcher.auto_plan_check.validated_plan) instead of pair by pair")
    args = parser.parse_args()
    for name in args.datasets:
        print(json.dumps(run(name, args.target, args.rounds, args.max_rounds, args.sets, args.set_size, args.seed,
                             args.mode, args.machine_truth, args.top_up, args.plan_validation)), flush=True)


if __name__ == "__main__":
    main()
