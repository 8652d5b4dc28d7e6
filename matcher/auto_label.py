"""Automated labeling: the machine labels the labeling sets its model is sure of, humans label the rest.

SageMaker Ground Truth's automated data labeling, for Glue-style record labels. Ground Truth labels an item
automatically when its model's confidence clears a threshold validated on human-labeled items held out from
training. Here:

1. **Thresholds** (:func:`choose_thresholds`, :func:`validated_thresholds`). The human-labeled pairs are scored
   out of fold (:func:`matcher.evaluate.out_of_fold`: each by a model that never saw its labeling set). The high
   threshold is the lowest ``h`` such that the pairs scored ``>= h`` are matches with accuracy ``>= target``,
   the low threshold the highest ``l`` such that the pairs scored ``<= l`` are non-matches with accuracy
   ``>= target``. Accuracy is the one-sided Clopper-Pearson lower bound at ``confidence``, not the raw share:
   with every one of n validation pairs right the bound reaches 0.95 only from n = 59 (at 95% confidence),
   so a handful of lucky pairs never qualifies a threshold; ``min_count`` is a floor on top. Each side is also
   held to the target on the class it can wrong: of the held-out true matches, the share the low side would call
   non-matches must leave a bound >= target right (and the same for the high side and the non-matches), because
   nine held-out pairs in ten are non-matches and a low side right on 99% of its pairs can still miss 7% of the
   matches (dblp_acm), which the refit then learns as non-matches. So a side needs >= 59 held-out pairs of the
   other class at 0.95. Only human labels validate (:func:`human_pairs`): a machine label agrees with the
   model by construction, while the folds still train on machine labels as the model does. A side with no
   qualifying threshold labels nothing (``None``): with only the low side, the machine labels the sets it is
   sure are all different records. Picking the cut among many candidates makes the bound somewhat optimistic
   (a multiple-comparison effect); the check sample (5.) measures what was achieved.
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
from scipy.stats import beta

from matcher.active import MIN_SET, LabelingSet
from matcher.cluster import components
from matcher.errors import MatcherError, shown, shown_all
from matcher.evaluate import out_of_fold
from matcher.features import compare
from matcher.labels import SET_COLUMN, Labels

if TYPE_CHECKING:
    from matcher.pipeline import Matcher
    from matcher.results import LabeledPairs

MACHINE = "machine"
"""``labeled_by`` of every machine label: the audit trail tells them from human ones."""
MACHINE_PART = "-machine"
"""Suffix of the set id under which :func:`split_sure_records` files the sure records of a partly sure set."""
DEFAULT_CONFIDENCE = 0.95
DEFAULT_MIN_COUNT = 20


class AutoLabelError(MatcherError):
    """Automated labeling was asked for with an impossible target, confidence, share or set."""


@dataclass(frozen=True)
class Side:
    """One validated threshold: the ``n`` held-out pairs beyond it, their raw ``share`` of right verdicts and
    its Clopper-Pearson lower ``bound``; ``class_bound`` is the lower bound of the share of the *other* class's
    held-out pairs it leaves alone (for the non-match side: of the true matches, those it would not call
    non-matches), None when not measured."""

    threshold: float
    n: int
    share: float
    bound: float
    class_bound: float | None = None


@dataclass(frozen=True)
class Thresholds:
    """``high`` (sure matches, ``>=``) and ``low`` (sure non-matches, ``<=``); a side is None when no threshold
    reached ``target``; ``reason`` says why, in words."""

    high: Side | None
    low: Side | None
    target: float
    confidence: float
    validation_pairs: int
    reason: str

    @property
    def usable(self) -> bool:
        return self.low is not None or self.high is not None


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


def check_target(target: float, confidence: float = DEFAULT_CONFIDENCE, min_count: int = DEFAULT_MIN_COUNT) -> None:
    """:class:`AutoLabelError` unless 0.5 < target < 1, 0.5 < confidence < 1 and min_count >= 1: a target of 1
    cannot be validated from a finite sample, one of 0.5 or below is no better than a coin."""
    for name, value in (("target", target), ("confidence", confidence)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.5 < float(value) < 1.0:
            raise AutoLabelError(f"automated labeling needs a {name} strictly between 0.5 and 1 "
                                 f"(e.g. 0.95), got {shown(value)}")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise AutoLabelError(f"min_count must be a positive integer, got {shown(min_count)}")


def lower_bound(right: np.ndarray, n: np.ndarray, confidence: float) -> np.ndarray:
    """One-sided Clopper-Pearson lower bound of a share ``right / n`` (exact binomial; 0 when none is right)."""
    right, n = np.asarray(right, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore"):
        bound = beta.ppf(1.0 - confidence, right, n - right + 1.0)
    return np.where(right > 0, np.nan_to_num(bound, nan=0.0), 0.0)


def _side(prob: np.ndarray, right: np.ndarray, target: float, confidence: float, min_count: int,
          others: int) -> Side | None:
    """The widest prefix of ``prob`` (sorted from most to least sure) whose right share is bounded >= target
    and whose wrong verdicts leave a share bounded >= target of the ``others`` held-out pairs of the other class
    right; cuts only between different probabilities, so that the threshold takes in exactly the validated pairs.

    Why both: nine held-out pairs in ten are non-matches, so a non-match side can be right on 99% of its pairs
    and still call 7% of the true matches non-matches (dblp_acm after 3 rounds: 6 of its 85 matches); the refit
    then learns those matches as non-matches. Each side is held to the target on the class it can wrong."""
    n = np.arange(1, len(prob) + 1)
    hits = np.cumsum(right)
    cut = np.r_[prob[1:] != prob[:-1], True] if len(prob) else np.zeros(0, dtype=bool)
    bound = lower_bound(hits, n, confidence)
    kept = lower_bound(others - (n - hits), np.full(len(n), others), confidence)
    ok = np.flatnonzero(cut & (n >= min_count) & (bound >= target) & (kept >= target))
    if not len(ok):
        return None
    k = int(ok[-1])
    return Side(float(prob[k]), int(n[k]), float(hits[k] / n[k]), float(bound[k]), float(kept[k]))


def choose_thresholds(prob: np.ndarray, is_match: np.ndarray, target: float,
                      confidence: float = DEFAULT_CONFIDENCE, min_count: int = DEFAULT_MIN_COUNT,
                      cut: float = 0.5) -> Thresholds:
    """The thresholds of the module docstring from held-out probabilities ``prob`` and true verdicts: the high
    one among the pairs predicted matches (``prob >= cut``, the model's own threshold), the low one among those
    predicted non-matches. Without that split the low side would reach far into the predicted matches: nine
    validation pairs in ten are non-matches, so on the people fixture the pairs scored <= 0.98 were still 97%
    non-matches, and a pair the model is 98% sure of would have been machine-labeled a non-match."""
    check_target(target, confidence, min_count)
    prob, y = np.asarray(prob, dtype=float), np.asarray(is_match, dtype=bool)
    said = prob >= cut
    down = np.flatnonzero(said)[np.argsort(-prob[said], kind="stable")]
    up = np.flatnonzero(~said)[np.argsort(prob[~said], kind="stable")]
    high = _side(prob[down], y[down], target, confidence, min_count, int((~y).sum()))
    low = _side(prob[up], ~y[up], target, confidence, min_count, int(y.sum()))
    why = _why(high, low, y, target, confidence, min_count)
    return Thresholds(high, low, target, confidence, len(prob), why)


def _why(high: Side | None, low: Side | None, y: np.ndarray, target: float, confidence: float,
         min_count: int) -> str:
    need = (f"accuracy >= {target} (lower bound at {confidence:.0%} confidence, >= {min_count} pairs), on its "
            f"pairs and on the other class's, on the {len(y)} held-out human-labeled pairs ({int(y.sum())} matches)")
    if high is None and low is None:
        return f"no threshold reaches {need}; nothing is machine-labeled"
    parts = [f"{name} {s.threshold:.4f} ({s.n} held-out pairs, {s.share:.3f} right, bound {s.bound:.3f}; "
             f"{other} left alone: bound {s.class_bound:.3f})"
             for name, s, other in (("matches >=", high, "non-matches"), ("non-matches <=", low, "matches"))
             if s is not None]
    missing = [name for name, s in (("matches", high), ("non-matches", low)) if s is None]
    text = "; ".join(parts)
    return text + (f"; no threshold for {missing[0]} reaches {need}" if missing else "")


def validated_thresholds(matcher: Matcher, target: float, confidence: float = DEFAULT_CONFIDENCE,
                         min_count: int = DEFAULT_MIN_COUNT) -> Thresholds:
    """:func:`choose_thresholds` on the out-of-fold probabilities of the matcher's human-labeled pairs (in
    linkage the cross-source pairs, the only ones a run scores)."""
    check_target(target, confidence, min_count)
    if matcher.labeled_ is None or len(matcher.labeled_.left) == 0:
        return Thresholds(None, None, target, confidence, 0,
                          "no human labels to validate a threshold on; nothing is machine-labeled")
    lab = matcher.scored_kind(matcher.labeled_)
    human = human_pairs(matcher, lab)
    if not human.any():
        return Thresholds(None, None, target, confidence, 0, "no human-labeled pair (in linkage: joining the two "
                          "sources) to validate a threshold on; nothing is machine-labeled")
    prob = out_of_fold(matcher, lab).prob  # the folds train on machine labels too, as the model itself does
    return choose_thresholds(prob[human], lab.is_match[human], target, confidence, min_count,
                             cut=float(matcher.threshold))


def human_pairs(matcher: Matcher, lab: LabeledPairs) -> np.ndarray:
    """Which labeled pairs humans labeled: both records' rows in their set not ``labeled_by`` the machine.
    A machine label agrees with the model by construction, so validating on it would confirm the thresholds
    with their own verdicts (and count the machine's errors as right)."""
    rows = matcher.labels_.rows if matcher.labels_ is not None else None
    if rows is None or not (rows["labeled_by"] == MACHINE).any():
        return np.ones(len(lab.left), dtype=bool)
    machine = rows[rows["labeled_by"] == MACHINE]
    by_machine = set(zip(machine[SET_COLUMN].astype(str), machine["key"].astype(str), strict=True))
    keys = matcher.records_[matcher.settings_.primary_key].astype(str).to_numpy(dtype=object)
    sets = lab.set_id.astype(str)
    return np.array([(s, keys[a]) not in by_machine and (s, keys[b]) not in by_machine
                     for s, a, b in zip(sets, lab.left, lab.right, strict=True)], dtype=bool)


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
