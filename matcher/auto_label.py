"""Automated labeling: the machine labels the labeling sets its model is sure of, humans label the rest.

SageMaker Ground Truth's automated data labeling, for Glue-style record labels. Ground Truth labels an item
automatically when its model's confidence clears a threshold validated on human-labeled items held out from
training. Here:

1. **Thresholds** (:mod:`matcher.auto_thresholds`): validated on human-labeled pairs held out from training,
   each side on its own class and on the other, as a Clopper-Pearson lower bound; see that module.
2. **Sets** (:func:`auto_label`). Every pair of records in a set gets the model's probability: a candidate pair
   its ``prob_`` (what a run links on), any other pair the same model's score, because the clustering scores such
   pairs too once a chain of candidates joins their records (so a pair blocking missed is not taken for a
   non-match). In two-table linkage, pairs of one source are never scored nor linked: they count as sure
   non-matches, as a run treats them. A set is machine-labeled when every pair is ``>= high`` or ``<= low``
   and the groups are consistent: records are grouped by the connected components of the sure matches, and a
   component holding a sure non-match (a ~ b, b ~ c, a !~ c) goes to humans. Labels are one per component
   (``labeled_by`` = :data:`MACHINE`), so they train a Matcher as human labels do.
3. **Expected accuracy**: the machine-decided pairs' validated accuracies, weighted by how many fall on each side;
   ``accuracy_bound`` is the same with the lower bounds. Both exclude the rule-decided one-source pairs.
4. **Records** (:func:`split_sure_records`), the second mode: inside each set, the records whose every pair in
   the set is sure are split off into a machine-labeled set (id ``<set id>`` + :data:`MACHINE_PART`), grouped
   and checked for consistency as in 2., and humans label the set's other records under its own id. An unsure
   pair keeps both its records with humans, so the humans' part is never a single record; a wholly sure set is
   machine-labeled under its own id as in 2. The sure pairs between the two parts are labeled by no one: the
   model was sure of them, so a refit loses little, but they are not training pairs either.
5. **Checking** (:func:`check_sample`, :func:`achieved_accuracy`): a seeded share of the machine-labeled sets goes
   to humans; comparing their answers with the machine's on the pairs both labeled gives the achieved accuracy.

The validation pairs come from active-learning sets, which gather uncertain pairs; the sets the machine labels are
the confident ones, so the validated accuracy is a conservative proxy for theirs, not a guarantee.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from matcher.active import MIN_SET, LabelingSet
from matcher.auto_thresholds import (  # noqa: F401  (re-exported: the module's API before the split)
    DEFAULT_CONFIDENCE,
    DEFAULT_MIN_COUNT,
    MACHINE,
    AutoLabelError,
    Side,
    Thresholds,
    check_target,
    choose_thresholds,
    human_pairs,
    lower_bound,
    validated_thresholds,
)
from matcher.cluster import components
from matcher.errors import shown, shown_all
from matcher.features import compare
from matcher.labels import SET_COLUMN, Labels

if TYPE_CHECKING:
    from matcher.pipeline import Matcher

MACHINE_PART = "-machine"
"""Suffix of the set id under which :func:`split_sure_records` files the sure records of a partly sure set."""


@dataclass(frozen=True)
class AutoLabeling:
    """The outcome for one batch of sets: which the machine labeled (``labels`` holds their records) and which
    stay for humans, with each set's reason (``set_reasons``); accuracies are None when nothing was labeled."""

    machine_sets: list[str]
    human_sets: list[str]
    labels: Labels
    thresholds: Thresholds
    expected_accuracy: float | None
    accuracy_bound: float | None
    reason: str
    set_reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordSplit:
    """The outcome of :func:`split_sure_records`: the machine's ``labels``, the sets humans still label
    (``human_sets``: each set's remaining records under its own id; a wholly machine-labeled set is absent), and
    per set id how many records the machine took (``machine_records``) and why (``set_reasons``)."""

    labels: Labels
    human_sets: list[LabelingSet]
    machine_records: dict[str, int]
    thresholds: Thresholds
    expected_accuracy: float | None
    accuracy_bound: float | None
    reason: str
    set_reasons: dict[str, str] = field(default_factory=dict)


def auto_label(matcher: Matcher, sets: Sequence[LabelingSet] | Mapping[str, Sequence[str]], target: float = 0.95,
               confidence: float = DEFAULT_CONFIDENCE, min_count: int = DEFAULT_MIN_COUNT,
               thresholds: Thresholds | None = None) -> AutoLabeling:
    """Machine-label the ``sets`` (``choose_sets`` output, or set id -> record keys) the fitted ``matcher`` is
    sure of at ``target``; ``thresholds`` (from :func:`validated_thresholds`) skips the validation when given."""
    check_target(target, confidence, min_count)
    members = set_members(matcher, sets)
    limits = thresholds or validated_thresholds(matcher, target, confidence, min_count)
    if not limits.usable or not members:
        why = limits.reason if not limits.usable else "no sets given"
        return AutoLabeling([], list(members), Labels.empty(), limits, None, None, why,
                            dict.fromkeys(members, why))
    high = limits.high.threshold if limits.high is not None else math.inf
    low = limits.low.threshold if limits.low is not None else -math.inf
    pairs = set_pairs(matcher, members)
    keys = matcher.records_[matcher.settings_.primary_key].to_numpy(dtype=object)
    rows, machine, human, reasons = [], [], [], {}
    decided = {"high": 0, "low": 0}
    for set_id, rows_of_set in members.items():
        frame = pairs[pairs[SET_COLUMN] == set_id]
        label, why = _set_labels(rows_of_set, frame, low, high)
        reasons[set_id] = why
        if label is None:
            human.append(set_id)
            continue
        machine.append(set_id)
        rows += [(set_id, str(keys[m]), f"{set_id}:{label[m]}", MACHINE) for m in rows_of_set]
        model = frame[~frame["rule"]]
        decided["high"] += int((model["prob"] >= high).sum())
        decided["low"] += int((model["prob"] <= low).sum())
    labels = Labels(pd.DataFrame(rows, columns=[SET_COLUMN, "key", "label", "labeled_by"])) if rows \
        else Labels.empty()
    expected, bound = _expected(limits, decided)
    reason = (f"{len(machine)} of {len(members)} sets machine-labeled at target {target}: {limits.reason}")
    return AutoLabeling(machine, human, labels, limits, expected, bound, reason, reasons)


def split_sure_records(matcher: Matcher, sets: Sequence[LabelingSet], target: float = 0.95,
                       confidence: float = DEFAULT_CONFIDENCE, min_count: int = DEFAULT_MIN_COUNT,
                       thresholds: Thresholds | None = None) -> RecordSplit:
    """Machine-label the sure records inside each of ``sets`` (module docstring, 4.), humans the rest."""
    check_target(target, confidence, min_count)
    members = set_members(matcher, sets)
    limits = thresholds or validated_thresholds(matcher, target, confidence, min_count)
    if not limits.usable or not members:
        why = limits.reason if not limits.usable else "no sets given"
        return RecordSplit(Labels.empty(), list(sets), dict.fromkeys(members, 0), limits, None, None, why,
                           dict.fromkeys(members, why))
    high = limits.high.threshold if limits.high is not None else math.inf
    low = limits.low.threshold if limits.low is not None else -math.inf
    pairs = set_pairs(matcher, members)
    keys = matcher.records_[matcher.settings_.primary_key].to_numpy(dtype=object)
    rows, human, taken, reasons = [], [], {}, {}
    decided = {"high": 0, "low": 0}
    for s in sets:
        frame = pairs[pairs[SET_COLUMN] == s.set_id]
        label, why = _sure_records(members[s.set_id], frame, low, high)
        reasons[s.set_id], taken[s.set_id] = why, len(label or {})
        rest = [m for m in members[s.set_id] if m not in (label or {})]
        if rest:
            human.append(replace(s, rows=np.array(rest, dtype=np.int64)))
        if not label:
            continue
        machine_id = s.set_id + MACHINE_PART if rest else s.set_id
        rows += [(machine_id, str(keys[m]), f"{machine_id}:{g}", MACHINE) for m, g in label.items()]
        inside = frame[frame["a"].isin(label) & frame["b"].isin(label) & ~frame["rule"]]
        decided["high"] += int((inside["prob"] >= high).sum())
        decided["low"] += int((inside["prob"] <= low).sum())
    labels = Labels(pd.DataFrame(rows, columns=[SET_COLUMN, "key", "label", "labeled_by"])) if rows \
        else Labels.empty()
    expected, bound = _expected(limits, decided)
    reason = (f"{sum(taken.values())} of {sum(map(len, members.values()))} records in {len(members)} sets "
              f"machine-labeled at target {target}: {limits.reason}")
    return RecordSplit(labels, human, taken, limits, expected, bound, reason, reasons)


def _sure_records(rows: list[int], pairs: pd.DataFrame, low: float, high: float
                  ) -> tuple[dict[int, int] | None, str]:
    """The group of each record whose every pair in the set is sure (as :func:`_set_labels` groups them), or
    None and why the whole set goes to humans: fewer than two such records, or inconsistent groups."""
    prob = pairs["prob"].to_numpy(dtype=float)
    unsure = (prob > low) & (prob < high)
    doubtful = set(pairs["a"][unsure]) | set(pairs["b"][unsure])
    sure = [m for m in rows if m not in doubtful]
    if len(sure) < MIN_SET:  # a machine set of one record would label no pair
        return None, f"{len(rows) - len(sure)} of {len(rows)} records in a pair between the thresholds"
    label, why = _set_labels(sure, pairs[pairs["a"].isin(sure) & pairs["b"].isin(sure)], low, high)
    if label is None:
        return None, why
    return label, f"{len(sure)} of {len(rows)} records sure of all their pairs in the set"


def set_members(matcher: Matcher, sets: Sequence[LabelingSet] | Mapping[str, Sequence[str]]) -> dict[str, list[int]]:
    """Record positions per set id, in the given order; unknown keys or repeated ids raise."""
    if isinstance(sets, Mapping):
        index = pd.Index(matcher.records_[matcher.settings_.primary_key].astype(str).to_numpy(dtype=object))
        out = {}
        for set_id, set_keys in sets.items():
            found = index.get_indexer([str(k) for k in set_keys])
            if (found < 0).any():
                unknown = [str(k) for k, f in zip(set_keys, found, strict=True) if f < 0]
                raise AutoLabelError(f"set {shown(set_id)} names keys not in the data: {shown_all(unknown, 5)}")
            out[str(set_id)] = [int(f) for f in found]
        return out
    out = {}
    for s in sets:
        if s.set_id in out:
            raise AutoLabelError(f"set id {shown(s.set_id)} given twice")
        out[s.set_id] = [int(r) for r in s.rows]
    return out


def set_pairs(matcher: Matcher, members: dict[str, list[int]]) -> pd.DataFrame:
    """Every within-set pair (row positions, left < right) with the model's ``prob`` and whether a rule, not the
    model, decided it (``rule``: one-source pairs in linkage, prob 0)."""
    parts = [(set_id, a, b) for set_id, rows in members.items() for i, a in enumerate(rows) for b in rows[i + 1:]]
    frame = pd.DataFrame(parts, columns=[SET_COLUMN, "a", "b"])
    left = np.minimum(frame["a"], frame["b"]).to_numpy(dtype=np.int64)
    right = np.maximum(frame["a"], frame["b"]).to_numpy(dtype=np.int64)
    prob = np.full(len(frame), np.nan)
    source = matcher.table_.source
    rule = (source[left] == source[right]) if source is not None else np.zeros(len(frame), dtype=bool)
    prob[rule] = 0.0
    n, c = matcher.table_.n, matcher.candidates_
    cand_ids = np.minimum(c.left, c.right).astype(np.int64) * n + np.maximum(c.left, c.right)
    if len(cand_ids):
        order = np.argsort(cand_ids, kind="stable")
        ids = left * n + right
        pos = np.minimum(np.searchsorted(cand_ids[order], ids), len(order) - 1)
        found = (cand_ids[order][pos] == ids) & ~rule
        prob[found] = matcher.prob_[order[pos[found]]]
    rest = np.flatnonzero(np.isnan(prob))
    if len(rest):
        prob[rest] = _score(matcher, left[rest], right[rest])
    return frame.assign(a=left, b=right, prob=prob, rule=rule)


def _score(matcher: Matcher, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The fitted model's final probability of pairs blocking did not propose (as the clustering scores them)."""
    prob = matcher.score(compare(matcher.table_, left, right))
    competition = matcher.competition_
    return competition.predict_proba(prob, left, right) if competition is not None else prob


def _set_labels(rows: list[int], pairs: pd.DataFrame, low: float, high: float
                ) -> tuple[dict[int, int] | None, str]:
    """Each record's group (connected components of the sure matches), or None and why the set needs humans."""
    prob = pairs["prob"].to_numpy(dtype=float)
    unsure = (prob > low) & (prob < high)
    if unsure.any():
        return None, f"{int(unsure.sum())} of {len(prob)} pairs between the thresholds"
    local = {m: i for i, m in enumerate(rows)}
    a = np.array([local[x] for x in pairs["a"]], dtype=np.int64)
    b = np.array([local[x] for x in pairs["b"]], dtype=np.int64)
    sure = prob >= high
    comp = components(len(rows), a[sure], b[sure])
    broken = int((comp[a] == comp[b])[~sure].sum())
    if broken:
        return None, f"sure matches chain {broken} pair(s) the model is sure differ: groups inconsistent"
    return {m: int(comp[i]) for m, i in local.items()}, f"all {len(prob)} pairs beyond the thresholds"


def _expected(limits: Thresholds, decided: dict[str, int]) -> tuple[float | None, float | None]:
    total = decided["high"] + decided["low"]
    if total == 0:
        return None, None
    sides = [(limits.high, decided["high"]), (limits.low, decided["low"])]
    share = sum(s.share * k for s, k in sides if s is not None) / total
    bound = sum(s.bound * k for s, k in sides if s is not None) / total
    return round(share, 4), round(bound, 4)


def check_sample(machine_sets: Sequence[str], share: float, seed: int = 0) -> list[str]:
    """The machine-labeled sets to send to humans for checking: ``ceil(share * n)`` of them (at least one when
    share > 0), drawn with ``seed`` from the sorted ids, so the same batch and seed always give the same sample."""
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0.0 <= float(share) <= 1.0:
        raise AutoLabelError(f"the check share must be between 0 and 1, got {shown(share)}")
    ids = sorted(set(map(str, machine_sets)))
    k = min(len(ids), math.ceil(share * len(ids)))
    rng = np.random.default_rng(seed)
    return sorted(ids[i] for i in rng.choice(len(ids), size=k, replace=False)) if k else []


def achieved_accuracy(machine_labels: Labels, human_labels: Labels) -> dict[str, float | int | None]:
    """The machine's pair verdicts against the humans' on the record pairs both labeled (whatever the sets):
    ``accuracy`` (None when no pair is shared), ``pairs``, ``false_matches``, ``missed_matches``. A pair humans
    answered in several sets counts once per answer."""
    key = ["key_a", "key_b"]
    machine = machine_labels.pairs()[[*key, "is_match"]].drop_duplicates(key)
    both = machine.merge(human_labels.pairs()[[*key, "is_match"]], on=key, suffixes=("", "_human"))
    said, true = both["is_match"].to_numpy(dtype=bool), both["is_match_human"].to_numpy(dtype=bool)
    return {"accuracy": round(float((said == true).mean()), 4) if len(both) else None, "pairs": len(both),
            "false_matches": int((said & ~true).sum()), "missed_matches": int((~said & true).sum())}
