"""Automated labeling in the service: a generation run lets the machine label the sets its model is sure of
(``matcher.auto_label``), when the transform's labeling policy sets ``auto_label_target``; with
``auto_label_mode`` "complete" it also completes the other sets' answers (``services.auto_completion``).

Of the sets the machine can label, a seeded share (``auto_label_check_share``) goes to humans unlabeled, the
machine's answer kept in the set's ``reason``; the others get the machine's labels as their decided labels
(``labeled_by`` = machine), which training reads like human ones. Once humans have decided the checked sets, the
evaluation reports the machine's achieved accuracy on them next to the target (:func:`report`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from matcher.active import LabelingSet as ProposedSet
from matcher.auto_complete import machine_verdicts
from matcher.auto_label import MACHINE, AutoLabeling, achieved_accuracy, auto_label, check_sample
from matcher.labels import SET_COLUMN, Labels
from services import auto_completion, label_history
from services.label_rows import decided_labels, lock_transform, replace_decided
from services.labeling_policy import LabelingPolicy
from storage.db import Database
from storage.models import Label, LabelingSet

REASON_KEY = "auto_label"


@dataclass(frozen=True)
class MachineShare:
    """What the machine labeled in one generation: ``decided`` (set id -> key -> label) become the sets' labels,
    ``checked`` go to humans with the machine's answer kept; ``plans`` (mode "complete": set id -> the stored
    ``machine_plan`` of a set humans label in part); ``summary`` is the run's auto_labeling.json."""

    decided: dict[str, dict[str, str]]
    checked: dict[str, dict[str, str]]
    summary: dict[str, Any]
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    checked_plans: dict[str, dict[str, Any]] = field(default_factory=dict)

    def human_keys(self, s: ProposedSet, keys: Any) -> list[str]:
        """The set's records humans label (its ``record_keys``): all but the machine's in a set it completes."""
        return [str(keys[r]) for r in self._human_rows(s, keys)]

    def for_humans(self, sets: list[ProposedSet], keys: Any) -> list[ProposedSet]:
        """The sets of the labeling file (``labeling_set.csv``): every proposed set in "sets" mode, as before; in
        "complete" mode the sets humans label, each with the humans' records only."""
        if self.summary.get("mode") != "complete":
            return sets
        return [replace(s, rows=np.array(self._human_rows(s, keys), dtype=np.int64)) for s in sets
                if s.set_id not in self.decided]

    def _human_rows(self, s: ProposedSet, keys: Any) -> list[int]:
        machine = auto_completion.machine_keys(self.plans.get(s.set_id))
        return [int(r) for r in s.rows if str(keys[r]) not in machine]


def machine_share(matcher: Any, sets: list[ProposedSet], policy: LabelingPolicy, seed: int) -> MachineShare | None:
    """None when the policy asks for no automated labeling."""
    if policy.auto_label_target is None:
        return None
    if policy.auto_label_mode == "complete":
        return MachineShare(*auto_completion.plan_sets(matcher, sets, policy, seed))
    outcome = auto_label(matcher, sets, policy.auto_label_target)
    sample = set(check_sample(outcome.machine_sets, policy.auto_label_check_share, seed=seed))
    by_set = _labels_by_set(outcome)
    decided = {s: by_set[s] for s in outcome.machine_sets if s not in sample}
    checked = {s: by_set[s] for s in outcome.machine_sets if s in sample}
    limits = outcome.thresholds
    summary = {"target": policy.auto_label_target, "mode": "sets", "machine_labeled": sorted(decided),
               "checked_by_humans": sorted(checked), "for_humans": outcome.human_sets,
               "expected_accuracy": outcome.expected_accuracy, "accuracy_bound": outcome.accuracy_bound,
               "reason": outcome.reason,
               "high_threshold": limits.high.threshold if limits.high else None,
               "low_threshold": limits.low.threshold if limits.low else None,
               "validation_pairs": limits.validation_pairs}
    return MachineShare(decided, checked, summary)


def _labels_by_set(outcome: AutoLabeling) -> dict[str, dict[str, str]]:
    rows = outcome.labels.rows
    out: dict[str, dict[str, str]] = {}
    for set_id, key, label in zip(rows[SET_COLUMN], rows["key"], rows["label"], strict=True):
        out.setdefault(str(set_id), {})[str(key)] = str(label)
    return out


def reason_with(reason: dict[str, Any], share: MachineShare | None, set_id: str) -> dict[str, Any]:
    """The set's reason, noting the machine's answer for a set it labeled or that humans check (for a set it could
    complete, its plan: its answer depends on the humans')."""
    if share is not None and set_id in share.checked_plans:
        return {**reason, REASON_KEY: {"checked_by_humans": True, "target": share.summary["target"],
                                       "plan": share.checked_plans[set_id]}}
    if share is None or (set_id not in share.decided and set_id not in share.checked):
        return reason
    note = {"checked_by_humans": set_id in share.checked, "target": share.summary["target"],
            "labels": share.checked.get(set_id) or share.decided[set_id]}
    return {**reason, REASON_KEY: note}


def apply(session: Session, transform_id: str, share: MachineShare | None, now: datetime) -> None:
    """Write the machine's decided labels (in the generation's transaction), each with its history event."""
    if share is None or not share.decided:
        return
    lock_transform(session, transform_id)
    before = decided_labels(session, transform_id, list(share.decided))
    for set_id, labels in sorted(share.decided.items()):
        replace_decided(session, transform_id, set_id, labels, MACHINE, now)
        label_history.record(session, transform_id, set_id, MACHINE, "machine", "auto_label",
                             before.get(set_id, {}), labels, note=f"target {share.summary['target']}", at=now)


def report(db: Database, transform_id: str) -> dict[str, Any] | None:
    """The machine's labels measured where humans decided the checked sets, and how many records it labeled in the
    sets it labeled whole or completed (None: no automated labeling ever proposed)."""
    with db.session() as session:
        every = list(session.scalars(select(LabelingSet).where(LabelingSet.transform_id == transform_id)))
        proposals = [p for p in every if isinstance((p.reason or {}).get(REASON_KEY), dict)]
        plan_targets = {(p.machine_plan or {}).get("target") for p in every if p.machine_plan}
        if not proposals and not plan_targets:
            return None
        human = {s: labels for s, labels in decided_labels(session, transform_id,
                                                           [p.set_id for p in proposals]).items()}
        counts = {str(s): (int(n), int(m or 0)) for s, n, m in session.execute(
            select(Label.labeling_set_id, func.count(), func.sum(case((Label.labeled_by == MACHINE, 1), else_=0)))
            .where(Label.transform_id == transform_id).group_by(Label.labeling_set_id))}
    by_machine = {s for s, (_, m) in counts.items() if m}
    whole = {s for s, (n, m) in counts.items() if m and m == n}
    notes = {p.set_id: p.reason[REASON_KEY] for p in proposals}
    checked = [s for s, n in notes.items() if n.get("checked_by_humans") and "labels" in n]
    answered = [s for s in checked if s in human and s not in by_machine]
    machine = _as_labels({s: notes[s]["labels"] for s in answered})
    people = _as_labels({s: human[s] for s in answered})
    measured = achieved_accuracy(machine, people) if answered else {"accuracy": None, "pairs": 0}
    targets = {n.get("target") for n in notes.values()} | plan_targets
    out = {"target": targets.pop() if len(targets) == 1 else sorted(t for t in targets if t is not None),
           "machine_labeled_sets": len(whole), "completed_sets": len(by_machine - whole),
           "machine_records": sum(m for _, m in counts.values()), "checked_sets": len(checked),
           "checked_and_answered": len(answered), "achieved_accuracy": measured["accuracy"],
           "pairs_compared": measured["pairs"],
           **{k: measured[k] for k in ("false_matches", "missed_matches") if k in measured}}
    plans = {s: n["plan"] for s, n in notes.items() if n.get("checked_by_humans") and isinstance(n.get("plan"), dict)}
    if plans:
        out["completion_check"] = _completion_check(plans, {s: human[s] for s in plans
                                                            if s in human and s not in by_machine})
    return out


def _completion_check(plans: dict[str, dict[str, Any]], answered: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The sets the machine could have completed that humans labeled whole: what it would have said of its records,
    given the humans' labels of theirs, against the humans' whole answer (pairs touching a machine record)."""
    measured: dict[str, Any] = {"pairs": 0, "accuracy": None}
    if answered:
        said = Labels(pd.concat([auto_completion.completion_verdicts(s, plans[s], labels).rows
                                 for s, labels in answered.items()], ignore_index=True))
        measured = machine_verdicts(said, _as_labels(answered))
    return {"sets": len(plans), "answered": len(answered), **measured}


def _as_labels(by_set: dict[str, dict[str, str]]) -> Labels:
    rows = [(s, k, v) for s, labels in by_set.items() for k, v in labels.items()]
    if not rows:
        return Labels.empty()
    return Labels(pd.DataFrame(rows, columns=[SET_COLUMN, "key", "label"]))
