"""Automated labeling that completes the humans' answers, in the service (labeling policy ``auto_label_mode``
"complete", ``matcher.auto_complete``).

A generation plans each proposed set: a set the machine is sure of whole is decided by it as in "sets" mode (a
seeded share goes to humans to check, ``services.auto_labeling``); in any other set with sure records, the set's
``record_keys`` are the records humans label and its ``machine_plan`` the others (followers of an anchor humans
label, groups settled apart from everything). When the set's labels are decided (a labeler's save, a
consolidation, a review, an imported file), :func:`complete_decided` adds the machine's records to them, labeled
by ``machine``, in the same transaction, with an ``auto_label`` event in the audit trail. Training then reads every
record of the set; validation (``matcher.auto_label.human_pairs``) still tells the machine's rows apart. A stored
plan is followed even if the policy changes later: its set was shown to humans without the machine's records, which
would otherwise stay unlabeled. Gold sets are not completed (their labels are an admin's answer key).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.active import LabelingSet as ProposedSet
from matcher.auto_complete import Completion, SetPlan, complete, plan_completion
from matcher.auto_label import MACHINE, Thresholds, check_sample
from matcher.labels import LABEL_COLUMN, SET_COLUMN, Labels
from services import label_history
from services.label_rows import decided_labels
from services.labeling_policy import LabelingPolicy
from storage.models import Label, LabelingSet

PLAN_FIELDS = ("followers", "settled", "never")


def plan_sets(matcher: Any, sets: list[ProposedSet], policy: LabelingPolicy, seed: int
              ) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]], dict[str, Any],
                         dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The machine's share of a generation in "complete" mode, ``services.auto_labeling.MachineShare``'s fields:
    ``decided`` (the sets it labels whole, set id -> key -> label), ``checked`` (those of them sent to humans
    whole), the summary for auto_labeling.json, ``plans`` (set id -> the stored plan of a set humans complete) and
    ``checked_plans`` (the plans of the sets it could complete that go to humans whole instead, the same share as
    the whole sets: the evaluation measures the machine's records against the humans' answer on them)."""
    target = policy.auto_label_target
    assert target is not None
    completion = plan_completion(matcher, sets, target)
    whole = [s for s, plan in completion.plans.items() if not plan.human]
    sample = set(check_sample(whole, policy.auto_label_check_share, seed=seed))
    labels = _by_set(complete(completion, Labels.empty()))
    decided = {s: labels[s] for s in whole if s not in sample}
    checked = {s: labels[s] for s in whole if s in sample}
    partial = [s for s, plan in completion.plans.items() if plan.human and plan.machine_records]
    to_check = set(check_sample(partial, policy.auto_label_check_share, seed=seed))
    plans = {s: stored_plan(completion.plans[s], target) for s in partial if s not in to_check}
    checked_plans = {s: stored_plan(completion.plans[s], target) for s in partial if s in to_check}
    summary = _summary(completion, policy, decided, checked, plans, checked_plans)
    return decided, checked, summary, plans, checked_plans


def completion_verdicts(set_id: str, plan: dict[str, Any], decided: dict[str, str]) -> Labels:
    """A set humans labeled whole instead of the machine completing it: the machine's labels for its records had
    humans answered only theirs (``machine_labels`` on the humans' labels of the plan's human records), with the
    humans' labels of those records, as one set (``matcher.auto_complete.machine_verdicts`` compares its pairs
    touching a machine record with the humans' whole answer)."""
    human = {k: v for k, v in decided.items() if k in set(plan.get("human", []))}
    machine = machine_labels(set_id, plan, human)
    rows = [(set_id, k, v, None) for k, v in human.items()] + [(set_id, k, v, MACHINE) for k, v in machine.items()]
    return Labels(pd.DataFrame(rows, columns=[SET_COLUMN, "key", LABEL_COLUMN, "labeled_by"]))


def stored_plan(plan: SetPlan, target: float) -> dict[str, Any]:
    """A set's plan as JSON (``labeling_sets.machine_plan``): the humans' records, followers (key -> anchor),
    settled (key -> group), never (follower -> keys it surely differs from), the target it was planned at."""
    return {"target": target, "human": list(plan.human), "followers": dict(plan.followers),
            "settled": {k: int(g) for k, g in plan.settled.items()},
            "never": {k: sorted(v) for k, v in plan.never.items()}, "reason": plan.reason}


def machine_keys(plan: dict[str, Any] | None) -> set[str]:
    """The records the machine labels in a set (none without a plan)."""
    if not plan:
        return set()
    return set(plan.get("followers", {})) | set(plan.get("settled", {}))


def machine_labels(set_id: str, plan: dict[str, Any], human: dict[str, str]) -> dict[str, str]:
    """The machine's labels completing the humans' ``human`` labels of the set (``matcher.auto_complete.complete``):
    only for records the humans did not label themselves (a reviewer may have)."""
    set_plan = SetPlan(set_id, list(plan.get("human", [])), dict(plan.get("followers", {})),
                       {k: int(g) for k, g in plan.get("settled", {}).items()},
                       {k: set(v) for k, v in plan.get("never", {}).items()})
    answers = Labels(pd.DataFrame({SET_COLUMN: set_id, "key": list(human), LABEL_COLUMN: list(human.values())}))
    merged = complete(Completion([], {set_id: set_plan}, _NO_THRESHOLDS, ""), answers).rows
    mine = merged[merged["labeled_by"] == MACHINE]
    return {str(k): str(v) for k, v in zip(mine["key"], mine[LABEL_COLUMN], strict=True) if str(k) not in human}


def complete_decided(session: Session, transform_id: str, set_ids: Iterable[str], now: datetime) -> None:
    """After the sets' decided labels were written (in the caller's transaction): add the machine's records to each
    planned set that has decided labels and lacks them, with its ``auto_label`` event."""
    wanted = sorted(set(map(str, set_ids)))
    if not wanted:
        return
    planned = session.scalars(select(LabelingSet).where(LabelingSet.transform_id == transform_id,
                                                        LabelingSet.set_id.in_(wanted)))
    # filtered here: a JSON column's None may be stored as JSON null, which IS NULL does not find
    plans = {p.set_id: p.machine_plan for p in planned if p.machine_plan and p.gold_labels is None}
    if not plans:
        return
    session.flush()
    for set_id, decided in sorted(decided_labels(session, transform_id, list(plans)).items()):
        plan = plans[set_id]
        added = {k: v for k, v in machine_labels(set_id, plan, decided).items() if k not in decided}
        if not added:  # nothing to add, or added already (a repeated call)
            continue
        session.add_all(Label(transform_id=transform_id, labeling_set_id=set_id, record_key=key, label=label,
                              labeled_by=MACHINE, labeled_at=now) for key, label in added.items())
        label_history.record(session, transform_id, set_id, MACHINE, "machine", "auto_label", decided,
                             {**decided, **added}, note=f"completed the humans' answer at target {plan.get('target')}: "
                                                  f"{len(added)} record(s)", at=now)


def without_keys(plan: dict[str, Any] | None, erased: set[str]) -> dict[str, Any] | None:
    """A plan with erased records gone: a follower whose anchor is erased has nothing to follow and goes too."""
    if not plan or not (machine_keys(plan) | set(plan.get("human", []))) & erased:
        return plan
    followers = {k: a for k, a in plan.get("followers", {}).items() if k not in erased and a not in erased}
    kept = {**plan, "human": [k for k in plan.get("human", []) if k not in erased], "followers": followers,
            "settled": {k: g for k, g in plan.get("settled", {}).items() if k not in erased},
            "never": {k: [x for x in v if x not in erased] for k, v in plan.get("never", {}).items() if k in followers},
            "reason": "records of this set were erased"}
    return kept if machine_keys(kept) else None


def _by_set(labels: Labels) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    rows = labels.rows
    for set_id, key, label in zip(rows[SET_COLUMN], rows["key"], rows[LABEL_COLUMN], strict=True):
        out.setdefault(str(set_id), {})[str(key)] = str(label)
    return out


def _summary(completion: Completion, policy: LabelingPolicy, decided: dict[str, Any], checked: dict[str, Any],
             plans: dict[str, dict[str, Any]], checked_plans: dict[str, dict[str, Any]]) -> dict[str, Any]:
    limits = completion.thresholds
    machine = sum(len(machine_keys(p)) for p in plans.values()) + sum(map(len, decided.values()))
    total = sum(len(p.human) + p.machine_records for p in completion.plans.values())
    return {"target": policy.auto_label_target, "mode": "complete", "machine_labeled": sorted(decided),
            "checked_by_humans": sorted(checked), "completed_by_machine": sorted(plans),
            "completion_checked_by_humans": sorted(checked_plans),
            "machine_records": machine, "human_records": total - machine,
            "reason": completion.reason, "set_reasons": {s: p.reason for s, p in completion.plans.items()},
            "high_threshold": limits.high.threshold if limits.high else None,
            "low_threshold": limits.low.threshold if limits.low else None,
            "chains": limits.chains, "validation_pairs": limits.validation_pairs}


_NO_THRESHOLDS = Thresholds(None, None, 0.95, 0.95, 0, "completing stored plans: thresholds not used")
