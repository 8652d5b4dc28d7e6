"""Thresholds for completion validated on what the machine would label, not on the pairs beyond a cut.

:func:`matcher.auto_thresholds.validated_thresholds` validates each side on the held-out human-labeled *pairs*
scored beyond it. Those pairs come from active-learning sets, built around uncertain pairs, so few of them lie
beyond a sure cut: a side needs >= 59 of them all right (and >= 59 held-out pairs of the other class) before its
Clopper-Pearson bound reaches 0.95. On dblp_acm after one round (~30 held-out matches) no side can qualify; after
two, the match side still never does. Yet what the target is about is the machine's labels: in completion
(:mod:`matcher.auto_complete`) a machine-labeled record labels every pair it has in its set, most of them through
the humans' answer on its anchor.

:func:`validated_plan` therefore validates the completion itself. Every held-out human-labeled set is planned as
:func:`matcher.auto_complete.plan_completion` would plan it, on the out-of-fold probabilities of its pairs (each
by a model that never saw the set); the records the plan gives the machine get the labels ``complete`` would give
them (followers their anchor's true label, settled groups labels of their own), and every pair touching such a
record is compared with the humans' verdict. A candidate (high, low, chains) qualifies when those pairs are right
with a Clopper-Pearson lower bound >= target at ``confidence``, >= ``min_count`` of them, and each class is kept
right at >= target on its own (the share of the touched true matches called matches, and of the true non-matches
called non-matches: nine pairs in ten are non-matches, and missed matches are what the refit learns wrongly).
Among qualifying candidates the one taking the most held-out records wins (the match side first, then the
non-match side given it). ``chains`` lets a chain of sure matches join records whose own pair is unsure, which a
group in a large entity (cora) needs; it is validated like the rest.

Caveats, said where they matter: pairs touching one wrongly labeled record err together, so the bound is optimistic
for clustered errors; choosing the best of a few dozen candidates on the same held-out sets adds a selection
effect. The achieved accuracy (``bench/auto_labeling.py``, the service's check share) measures what happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from matcher.auto_thresholds import (
    DEFAULT_CONFIDENCE,
    DEFAULT_MIN_COUNT,
    MACHINE,
    Side,
    Thresholds,
    check_target,
    human_pairs,
    lower_bound,
)
from matcher.evaluate import out_of_fold
from matcher.labels import LABEL_COLUMN, SET_COLUMN

if TYPE_CHECKING:
    from matcher.pipeline import Matcher

CANDIDATES = 12
"""Cut candidates per side: quantiles of the held-out probabilities beyond the model's cut."""


def validated_plan(matcher: Matcher, target: float, confidence: float = DEFAULT_CONFIDENCE,
                   min_count: int = DEFAULT_MIN_COUNT) -> Thresholds:
    """The completion thresholds of the module docstring; sides None (nothing machine-labeled) when none qualifies."""
    check_target(target, confidence, min_count)
    held = _held_out_sets(matcher)
    if held is None:
        return Thresholds(None, None, target, confidence, 0, "no human-labeled sets to validate a completion on; "
                          "nothing is machine-labeled")
    sets, prob = held
    cut = float(matcher.threshold)
    inf = float("inf")
    best: tuple[int, Side | None, Side | None, bool] = (0, None, None, False)
    for chains in (False, True):
        high_side, taken = None, 0
        for h in _candidates(prob[prob >= cut], high=True):
            got = _simulate(sets, -inf, h, chains, target, confidence, min_count)
            if got is not None and got[0] > taken:
                taken, high_side = got[0], Side(h, got[1], got[2], got[3])
        high = high_side.threshold if high_side is not None else inf
        low_side = None
        for lo in _candidates(prob[prob < cut], high=False):
            got = _simulate(sets, lo, high, chains, target, confidence, min_count)
            if got is not None and got[0] > taken:
                taken, low_side = got[0], Side(lo, got[1], got[2], got[3])
        if taken > best[0]:
            best = (taken, high_side, low_side, chains)
    taken, high_side, low_side, chains = best
    records = sum(len(s[0]) for s in sets)
    if not taken:
        why = (f"no completion validated on the {len(sets)} held-out human-labeled sets ({records} records) reaches "
               f"accuracy >= {target} (lower bound at {confidence:.0%} confidence, >= {min_count} pairs, each class "
               "kept right); nothing is machine-labeled")
        return Thresholds(None, None, target, confidence, len(prob), why)
    parts = [f"{name} {s.threshold:.4f}" for name, s in (("matches >=", high_side), ("non-matches <=", low_side))
             if s is not None]
    last = low_side or high_side
    assert last is not None
    why = (f"{'; '.join(parts)}{', chains of sure matches' if chains else ''}: the completion would machine-label "
           f"{taken} of {records} records of {len(sets)} held-out human-labeled sets, {last.n} pairs "
           f"{last.share:.3f} right (bound {last.bound:.3f})")
    return Thresholds(high_side, low_side, target, confidence, len(prob), why, chains)


def _candidates(prob: np.ndarray, high: bool) -> list[float]:
    """Up to CANDIDATES distinct held-out probabilities, spread by quantile, surest first."""
    values = np.unique(prob)
    if len(values) > CANDIDATES:
        values = np.unique(np.quantile(values, np.linspace(0.0, 1.0, CANDIDATES), method="nearest"))
    return sorted(values.tolist(), reverse=high)


def _held_out_sets(matcher: Matcher) -> tuple[list[tuple[list[int], pd.DataFrame, dict[int, str]]], np.ndarray] | None:
    """Per human-labeled set: its human records (numbered from 0 within the set), its pairs with out-of-fold
    ``prob`` (one-source pairs in linkage as rule-decided), each record's human label; and every held-out
    probability."""
    if matcher.labeled_ is None or len(matcher.labeled_.left) == 0 or matcher.labels_ is None:
        return None
    lab = matcher.scored_kind(matcher.labeled_)
    human = human_pairs(matcher, lab)
    if not human.any():
        return None
    prob = out_of_fold(matcher, lab).prob[human]
    left, right, set_id = lab.left[human], lab.right[human], lab.set_id[human].astype(str)
    scored = {(s, int(a), int(b)): float(p) for s, a, b, p in zip(set_id, np.minimum(left, right),
                                                                     np.maximum(left, right), prob, strict=True)}
    rows = matcher.labels_.rows
    rows = rows[rows["labeled_by"] != MACHINE]
    index = pd.Index(matcher.records_[matcher.settings_.primary_key].astype(str).to_numpy(dtype=object))
    position = index.get_indexer(rows["key"].astype(str))
    source = matcher.table_.source
    sets = []
    for s, frame in rows.assign(pos=position).groupby(SET_COLUMN, sort=True):
        frame = frame[frame["pos"] >= 0].drop_duplicates("pos")
        members = frame["pos"].astype(int).tolist()
        if len(members) < 2:
            continue
        label = dict(enumerate(frame[LABEL_COLUMN].astype(str)))
        parts = []
        for i, a in enumerate(members):
            for j in range(i + 1, len(members)):
                lo, hi = min(a, members[j]), max(a, members[j])
                rule = source is not None and source[lo] == source[hi]
                parts.append((i, j, 0.0 if rule else scored.get((str(s), lo, hi), np.nan), rule))
        sets.append((list(range(len(members))), pd.DataFrame(parts, columns=["a", "b", "prob", "rule"]), label))
    return (sets, prob) if sets else None


def _simulate(sets: list[tuple[list[int], pd.DataFrame, dict[int, str]]], low: float, high: float, chains: bool,
              target: float, confidence: float, min_count: int) -> tuple[int, int, float, float] | None:
    """(held-out records taken, pairs judged, share right, bound) of this completion, None if it does not qualify."""
    from matcher.auto_complete import _machine_labels, _plan_set  # a cycle at import time otherwise

    taken, said, true = 0, [], []
    for members, pairs, label in sets:
        keys = np.array([str(m) for m in members], dtype=object)
        plan = _plan_set("held-out", members, pairs, low, high, keys, chains)
        if not plan.machine_records:
            continue
        human = {k: label[int(k)] for k in plan.human}
        machine = _machine_labels(plan, human)  # settled groups get labels no human label uses
        taken += len(machine)
        given = {int(k): v for k, v in (human | machine).items()}
        for a, b in zip(pairs["a"].tolist(), pairs["b"].tolist(), strict=True):
            if (str(a) in machine or str(b) in machine) and a in given and b in given:
                said.append(given[a] == given[b])
                true.append(label[a] == label[b])
    if not taken or len(said) < min_count:
        return None
    said_arr, true_arr = np.array(said), np.array(true)
    right = said_arr == true_arr
    bound = float(lower_bound(np.array([right.sum()]), np.array([len(right)]), confidence)[0])
    for cls in (True, False):
        of = true_arr == cls
        if of.any() and right[of].mean() < target:
            return None
    if bound < target:
        return None
    return taken, len(right), float(right.mean()), bound
