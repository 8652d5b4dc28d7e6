"""Automated labeling that completes the humans' answers: humans label the records the model is unsure of, the
machine adds the records it is sure of to the same labeling set, so every pair of the set is labeled.

The thresholds are validated pair by pair (:func:`matcher.auto_label.validated_thresholds`) unless given:
:func:`matcher.auto_plan_check.validated_plan` validates them on the completion itself (the held-out human-labeled
sets planned as below, the labels the machine would have given them held to the target, chains of sure matches
allowed when that validates); it takes more of each round but its errors slowed the loop (BENCHMARKS.md, branch
``auto18``), so it is opt-in: ``plan_completion(matcher, sets, target, thresholds=validated_plan(matcher, target))``.

:func:`matcher.auto_label.split_sure_records` takes a set's sure records into a set of their own, and the pairs
between them and the humans' records are labeled by no one; a record with one unsure pair stays with humans,
and without a validated non-match threshold (cora) no record is ever sure of all its pairs. Here, in each set
(``high`` and ``low`` the validated thresholds):

* records joined by sure matches (``>= high``) into a group whose every inner pair is a sure match (with
  ``chains``: none of whose inner pairs is a sure non-match, a chain deciding its unsure pairs): one of
  them, the **anchor** (the one with most unsure pairs), stays with humans, the others **follow** it: once the
  humans answered, they get the anchor's label. Only the match side is used, so this works without a
  non-match threshold; a follower's pairs with the humans' records take the humans' verdict on its anchor.
* such a group whose every pair leaving it is a sure non-match (``<= low``, or one source in linkage) is
  **settled**: all its records are machine-labeled, as an entity of its own, and humans never see it.
* every other record (in a pair between the thresholds, or in a sure-match chain that is not all sure) goes
  to humans.

:func:`complete` then merges the humans' answer with the machine's records into the set's labels, under the
set's own id; a follower whose inherited label would contradict one of its sure non-matches (the humans joined
its anchor to a record the machine is sure it is not) is left out. A set with nothing unsure is machine-labeled
whole. The human-labeled records keep ``labeled_by`` as the humans gave it, the machine's rows are
:data:`matcher.auto_label.MACHINE`, so validation (``human_pairs``) tells them apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from matcher.active import MIN_SET, LabelingSet, choose_sets
from matcher.auto_label import (
    DEFAULT_CONFIDENCE,
    DEFAULT_MIN_COUNT,
    MACHINE,
    Thresholds,
    check_target,
    set_members,
    set_pairs,
    validated_thresholds,
)
from matcher.cluster import components
from matcher.labels import LABEL_COLUMN, SET_COLUMN, Labels

if TYPE_CHECKING:
    from matcher.pipeline import Matcher

TOP_UP = 3
"""At most this many times a round's sets are proposed to give humans their ``num_sets`` sets (plan_round)."""


@dataclass(frozen=True)
class SetPlan:
    """What the machine does in one set (record keys): ``followers`` (key -> its anchor's key), ``settled``
    (key -> group number of the machine's own entities), ``never`` (follower key -> keys it surely differs
    from: checked against the humans' answer), ``human`` (the records humans label, set order)."""

    set_id: str
    human: list[str]
    followers: dict[str, str] = field(default_factory=dict)
    settled: dict[str, int] = field(default_factory=dict)
    never: dict[str, set[str]] = field(default_factory=dict)
    reason: str = ""

    @property
    def machine_records(self) -> int:
        return len(self.followers) + len(self.settled)


@dataclass(frozen=True)
class Completion:
    """The plan for a batch of sets: ``human_sets`` (each set's human records under its own id; a set the
    machine labels whole is absent), one :class:`SetPlan` per set id, the thresholds and why."""

    human_sets: list[LabelingSet]
    plans: dict[str, SetPlan]
    thresholds: Thresholds
    reason: str

    @property
    def machine_records(self) -> int:
        return sum(p.machine_records for p in self.plans.values())


def plan_completion(matcher: Matcher, sets: Sequence[LabelingSet], target: float = 0.95,
                    confidence: float = DEFAULT_CONFIDENCE, min_count: int = DEFAULT_MIN_COUNT,
                    thresholds: Thresholds | None = None) -> Completion:
    """Split each of ``sets`` between humans and the machine (module docstring)."""
    check_target(target, confidence, min_count)
    members = set_members(matcher, sets)
    limits = thresholds or validated_thresholds(matcher, target, confidence, min_count)
    keys = matcher.records_[matcher.settings_.primary_key].astype(str).to_numpy(dtype=object)
    if not limits.usable or not members:
        why = limits.reason if members else "no sets given"
        plans = {s.set_id: SetPlan(s.set_id, [keys[m] for m in members[s.set_id]], reason=why) for s in sets}
        return Completion(list(sets), plans, limits, why)
    high = limits.high.threshold if limits.high is not None else math.inf  # low side alone: settled records only
    low = limits.low.threshold if limits.low is not None else -math.inf
    pairs = set_pairs(matcher, members)
    human_sets, plans = [], {}
    for s in sets:
        plan = _plan_set(s.set_id, members[s.set_id], pairs[pairs[SET_COLUMN] == s.set_id], low, high, keys,
                         limits.chains)
        plans[s.set_id] = plan
        if plan.human:
            rows = [m for m in members[s.set_id] if keys[m] in set(plan.human)]
            human_sets.append(replace(s, rows=np.array(rows, dtype=np.int64)))
    taken = sum(p.machine_records for p in plans.values())
    reason = (f"{taken} of {sum(map(len, members.values()))} records in {len(members)} sets completed by the "
              f"machine at target {target}: {limits.reason}")
    return Completion(human_sets, plans, limits, reason)


def plan_round(matcher: Matcher, num_sets: int, set_size: int, exclude: set[str] | None = None, seed: int = 0,
               target: float = 0.95, top_up: int = TOP_UP) -> tuple[list[LabelingSet], Completion]:
    """A round of ``num_sets`` sets for humans: ``choose_sets`` proposes up to ``top_up`` times as many (its first
    ``num_sets`` are the ones it proposes anyway) and they are kept in that order until ``num_sets`` have records
    for humans; a set the machine labels whole does not count, so a round does not shrink to a few records when
    the model is sure of most of what it proposes. Returns the kept sets and their :class:`Completion`."""
    limits = validated_thresholds(matcher, target)
    proposed = choose_sets(matcher, num_sets * max(top_up, 1), set_size, exclude, seed=seed)
    plan = plan_completion(matcher, proposed, target, thresholds=limits)
    kept, humans = [], 0
    for s in proposed:
        if humans >= num_sets:
            break
        kept.append(s)
        humans += bool(plan.plans[s.set_id].human)
    ids = {s.set_id for s in kept}
    return kept, Completion([s for s in plan.human_sets if s.set_id in ids],
                            {i: p for i, p in plan.plans.items() if i in ids}, limits,
                            f"{len(kept)} sets proposed for {humans} human sets; {plan.reason}")


def _plan_set(set_id: str, rows: list[int], pairs: pd.DataFrame, low: float, high: float,
              keys: np.ndarray, chains: bool = False) -> SetPlan:
    """The plan of one set (module docstring). With ``chains`` a group of records joined by sure matches needs
    no sure match on each of its inner pairs, only no sure non-match among them (an unsure pair inside a chain
    takes the chain's verdict); without, every inner pair must be a sure match."""
    local = {m: i for i, m in enumerate(rows)}
    a = np.array([local[x] for x in pairs["a"]], dtype=np.int64)
    b = np.array([local[x] for x in pairs["b"]], dtype=np.int64)
    prob, rule = pairs["prob"].to_numpy(dtype=float), pairs["rule"].to_numpy(dtype=bool)
    match = (prob >= high) & ~rule
    differ = rule | (prob <= low)
    unsure = ~match & ~differ
    comp = components(len(rows), a[match], b[match])
    doubt = np.bincount(np.r_[a[unsure], b[unsure]], minlength=len(rows))
    human, followers, settled, never = [], {}, {}, {}
    for c in np.unique(comp):
        group = np.flatnonzero(comp == c)
        inner, outer = (comp[a] == c) & (comp[b] == c), (comp[a] == c) != (comp[b] == c)
        if differ[inner].any() or not (chains or match[inner].all()):  # a chain over a pair that is not a match
            human += group.tolist()
        elif differ[outer].all():
            settled.update({keys[rows[i]]: int(c) for i in group})
        elif len(group) == 1:
            human.append(int(group[0]))
        else:
            anchor = int(group[np.argmax(doubt[group])])
            human.append(anchor)
            for i in group[group != anchor]:
                followers[keys[rows[i]]] = keys[rows[anchor]]
                other = np.where(a == i, b, a)[((a == i) | (b == i)) & differ]
                never[keys[rows[i]]] = {keys[rows[j]] for j in other}
    if 0 < len(human) < MIN_SET:  # nothing for humans to answer alone; cannot happen with an unsure pair
        return SetPlan(set_id, [keys[m] for m in rows], reason="a single record left for humans")
    why = (f"{len(followers)} records follow a sure match, {len(settled)} settled, "
           f"{len(human)} of {len(rows)} for humans")
    return SetPlan(set_id, [keys[rows[i]] for i in sorted(human)], followers, settled, never, why)


def complete(completion: Completion, answers: Labels) -> Labels:
    """The sets' labels: the humans' ``answers`` (under each set's own id) with the machine's records added,
    plus the sets the machine labeled whole. A set humans did not answer gets no machine rows either."""
    given = {str(s): frame for s, frame in answers.rows.groupby(SET_COLUMN, sort=False)}
    parts = []
    for set_id, plan in completion.plans.items():
        frame = given.get(set_id)
        if plan.human and frame is None:
            continue
        human = dict(zip(frame["key"].astype(str), frame[LABEL_COLUMN].astype(str), strict=True)) \
            if frame is not None else {}
        machine = _machine_labels(plan, human)
        if frame is not None:
            parts.append(frame)
        if machine:
            parts.append(pd.DataFrame({SET_COLUMN: set_id, "key": list(machine), LABEL_COLUMN: list(machine.values()),
                                       "labeled_by": MACHINE}))
    if not parts:
        return Labels.empty()
    return Labels(pd.concat(parts, ignore_index=True))


def _machine_labels(plan: SetPlan, human: dict[str, str]) -> dict[str, str]:
    """Followers take their anchor's label unless it joins them to a record they surely differ from; settled
    groups get labels no human label in the set uses."""
    out: dict[str, str] = {}
    for key, anchor in plan.followers.items():
        label = human.get(anchor)
        if label is not None and not any(human.get(k, out.get(k)) == label for k in plan.never.get(key, ())):
            out[key] = label
    used = set(human.values())
    for key, group in plan.settled.items():
        label = f"{MACHINE}-{group}"
        while label in used:
            label += "'"
        out[key] = label
    return out


def machine_verdicts(labels: Labels, truth: Labels) -> dict[str, float | int | None]:
    """The pairs of ``labels`` with at least one machine-labeled record against ``truth`` (the same records'
    true labels), per side: ``match_accuracy`` of the machine's match verdicts, ``non_match_accuracy`` of its
    non-match verdicts (None when it gave none), their counts, and ``accuracy`` overall."""
    rows = labels.rows
    by_machine = rows[rows["labeled_by"] == MACHINE]
    machine = set(zip(by_machine[SET_COLUMN].astype(str), by_machine["key"].astype(str), strict=True))
    said, true = labels.pairs(), truth.pairs()
    both = said.merge(true, on=["key_a", "key_b", SET_COLUMN], suffixes=("", "_true"))
    involved = [(s, x) in machine or (s, y) in machine
                for s, x, y in zip(both[SET_COLUMN].astype(str), both["key_a"], both["key_b"], strict=True)]
    both = both[np.array(involved, dtype=bool)]
    verdict, right = both["is_match"].to_numpy(dtype=bool), both["is_match_true"].to_numpy(dtype=bool)

    def share(mask: np.ndarray) -> float | None:
        return round(float((verdict[mask] == right[mask]).mean()), 4) if mask.any() else None

    return {"pairs": len(both), "accuracy": share(np.ones(len(both), dtype=bool)),
            "match_verdicts": int(verdict.sum()), "match_accuracy": share(verdict),
            "non_match_verdicts": int((~verdict).sum()), "non_match_accuracy": share(~verdict),
            "false_matches": int((verdict & ~right).sum()), "missed_matches": int((~verdict & right).sum())}
