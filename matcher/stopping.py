"""When to stop labeling: a learning curve from the labels a matcher has, and the expected gain of one more round.

The labeled sets are put in the order they were labeled (the earliest ``labeled_at`` of each set when every set
has one, else the order the labels arrived in) and grouped into rounds: the sets of one generation when the
caller knows them (the service does: each labeling set remembers the task run that generated it), else chunks of
:data:`ROUND_SETS` sets in labeling order (the default number of sets one generation proposes).

Each curve point trains on the first ``k`` rounds' sets only and is scored against *every* labeled pair, out of
fold: the pairs are split once into folds grouped by labeling set (as :mod:`matcher.evaluate` does), and at each
``k`` a fold's model trains on its training side's sets among the first ``k`` rounds and scores its whole test
side. Scoring every point on the same pairs keeps the points comparable: active learning asks harder sets in
later rounds, so F1 measured on each prefix's own pairs would fall as the labeler improves the model. The x
axis is the number of sets a fold's model trained on (about ``(folds - 1) / folds`` of the prefix's sets).

An inverse power law ``F1(n) = a - b * n**-c`` (``a <= 1``, ``b >= 0``) is fitted to the points (``c`` on a grid,
``a`` and ``b`` by least squares: robust with 3 to 6 points, never diverging); the expected gain of one more
round is ``F1(N + R) - F1(N)`` for the ``N`` sets labeled so far and a round of ``R`` sets. The same fit on
each fold's own points gives the spread reported beside it. The curve is the classifier's (threshold on its
probability, no one-to-one assignment) so it costs ``folds x points`` classifier fits and no candidate scoring:
at most 3 x 5.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from matcher.classifier import scoring_threads
from matcher.features import compare
from matcher.labels import SET_COLUMN, Labels
from matcher.results import LabeledPairs

if TYPE_CHECKING:
    from matcher.pipeline import Matcher

ROUND_SETS = 10
"""Sets per round when generations are unknown: what one labeling-set generation proposes by default."""
MIN_ROUNDS = 3
"""Fewest rounds to fit a three-parameter curve to; fewer and the advice says how many sets to label first."""
MAX_POINTS = 5
"""Curve points (prefixes of rounds) at most: each costs one classifier fit per fold."""
FOLDS = 3
"""Folds of the curve (the evaluation itself uses 5): 3 x 5 points keeps the advice to at most 15 fits."""
SMALL_GAIN = 0.002
"""Below this expected F1 gain per round, labeling more is reported as unlikely to help."""
_EXPONENTS = np.geomspace(0.05, 3.0, 60)


@dataclass(frozen=True)
class PowerLaw:
    """``F1(n) = a - b * n**-c``: saturates at ``a`` (at most 1); ``rmse`` is the fit's error on its points."""

    a: float
    b: float
    c: float
    rmse: float

    def __call__(self, n: float) -> float:
        return float(self.a - self.b * n ** -self.c)

    def gain(self, n: float, more: float) -> float:
        """Expected F1 added by training on ``n + more`` sets instead of ``n``."""
        return self(n + more) - self(n)


def fit_power_law(n: np.ndarray, f1: np.ndarray) -> PowerLaw:
    """Least squares over a grid of exponents; ``a`` capped at 1 and ``b`` kept >= 0 (F1 never falls with more
    labels in this model: a falling curve fits as flat, its gain 0)."""
    # a fold whose training side held none of the first round's sets trained on 0 sets: n**-c must stay finite
    n, f1 = np.maximum(np.asarray(n, dtype=float), 1.0), np.asarray(f1, dtype=float)
    best: PowerLaw | None = None
    for c in _EXPONENTS:
        a, b = _linear_fit(n ** -c, f1)
        rmse = float(np.sqrt(np.mean((a - b * n ** -c - f1) ** 2)))
        if best is None or rmse < best.rmse - 1e-12:
            best = PowerLaw(a, b, float(c), rmse)
    assert best is not None
    return best


def _linear_fit(x: np.ndarray, f1: np.ndarray) -> tuple[float, float]:
    """``a, b`` minimising ``sum((a - b x - f1)**2)`` subject to ``a <= 1, b >= 0``."""
    if np.ptp(x) > 0:
        slope, a = np.polyfit(x, f1, 1)
        b = -slope
    else:
        a, b = float(f1.mean()), 0.0
    if b < 0:
        a, b = float(f1.mean()), 0.0
    if a > 1:  # on the boundary: b alone, by least squares with a = 1
        a, b = 1.0, max(0.0, float(x @ (1 - f1) / (x @ x)))
    return float(a), float(b)


@dataclass(frozen=True)
class Rounds:
    """Labeled set ids in labeling order, grouped into rounds; how the rounds were found; and the sets in a
    typical round, what "another round" means in the advice: the chunk size when any round is a chunk (a last,
    partial chunk says nothing about a round's size), else the median number of sets a generation proposed
    (labeled or not: a half-labeled generation still says what a round asks)."""

    groups: list[list[str]]
    source: str
    round_sets: int


def labeling_order(labels: Labels) -> list[str]:
    """Set ids by their earliest ``labeled_at`` when every set has one, else by their first row."""
    rows = labels.rows
    first_seen = list(dict.fromkeys(rows[SET_COLUMN]))
    stamps = pd.to_datetime(rows["labeled_at"], utc=True, errors="coerce", format="ISO8601")
    earliest = stamps.groupby(rows[SET_COLUMN].to_numpy()).min()
    if earliest.isna().any() or len(earliest) != len(first_seen):
        return first_seen
    position = {s: i for i, s in enumerate(first_seen)}
    return sorted(first_seen, key=lambda s: (earliest[s], position[s]))


def group_rounds(order: list[str], generation: Mapping[str, str] | None = None,
                 round_sets: int = ROUND_SETS) -> Rounds:
    """Sets of one generation form a round (ordered by their first labeled set); sets without a known
    generation (imported labels) form chunks of ``round_sets`` in labeling order, placed where they start."""
    generation = generation or {}
    rounds: dict[str, list[str]] = {}
    unknown = 0
    for set_id in order:
        if set_id in generation:
            key = f"g:{generation[set_id]}"
        else:
            key, unknown = f"c:{unknown // round_sets}", unknown + 1
        rounds.setdefault(key, []).append(set_id)
    known = sum(1 for s in order if s in generation)
    source = ("labeling-set generations" if unknown == 0 else
              f"chunks of {round_sets} sets in labeling order" if known == 0 else
              f"labeling-set generations, and chunks of {round_sets} sets for the {unknown} imported set(s)")
    groups = list(rounds.values())
    proposed = Counter(generation.values()).values()  # sets per generation, labeled or not
    typical = round_sets if unknown or not groups else max(1, round(float(np.median(list(proposed)))))
    return Rounds(groups, source, typical)


def _prefixes(n_rounds: int) -> list[int]:
    """Round counts to train on: every one up to MAX_POINTS rounds, else spread geometrically (where a
    power law bends), always ending at all rounds."""
    if n_rounds <= MAX_POINTS:
        return list(range(1, n_rounds + 1))
    return sorted({int(k) for k in np.round(np.geomspace(1, n_rounds, MAX_POINTS))} | {n_rounds})


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = int((pred & y).sum())
    denominator = int(pred.sum()) + int(y.sum())
    return 2 * tp / denominator if denominator else 0.0


@dataclass
class _Curve:
    training_sets: np.ndarray  # (points, folds)
    f1_folds: np.ndarray  # (points, folds), each fold's test pairs
    f1: np.ndarray  # (points,), all pairs pooled


def _measure(matcher: Matcher, lab: LabeledPairs, rounds: Rounds, prefixes: list[int]) -> _Curve:
    """Out-of-fold F1 on every labeled pair when training on the first k rounds, for each k in ``prefixes``."""
    round_of = {s: r for r, group in enumerate(rounds.groups) for s in group}
    set_ids = lab.set_id.astype(str)
    pair_round = np.array([round_of.get(s, len(rounds.groups)) for s in set_ids])
    X = matcher.design(compare(matcher.table_, lab.left, lab.right))
    folds = min(FOLDS, len(np.unique(set_ids)))
    split = list(GroupKFold(folds).split(X, lab.is_match, set_ids))
    shape = (len(prefixes), folds)
    trained, per_fold = np.zeros(shape), np.zeros(shape)
    pooled = np.zeros((len(prefixes), len(lab.left)), dtype=bool)
    for p, k in enumerate(prefixes):
        for f, (train, test) in enumerate(split):
            train = train[pair_round[train] < k]
            sub = lab.subset(train)
            with scoring_threads(len(train)):
                clf = matcher.fit_classifier(sub, warn=False)
            prob = (clf.predict_proba(X[test]) if clf is not None else
                    matcher.score(compare(matcher.table_, lab.left[test], lab.right[test]), classifier=None))
            pooled[p, test] = prob >= matcher.threshold
            trained[p, f] = len(np.unique(set_ids[train]))
            per_fold[p, f] = _f1(lab.is_match[test], pooled[p, test])
    f1 = np.array([_f1(lab.is_match, pooled[p]) for p in range(len(prefixes))])
    return _Curve(trained, per_fold, f1)


def stop_advice(matcher: Matcher, lab: LabeledPairs, generation: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The learning curve of ``lab`` (the evaluated pairs), its fitted power law and the expected gain of one
    more round, as JSON; ``sentence`` says it plainly. ``generation`` maps set ids to the run that generated
    them, when known."""
    if matcher.labels_ is None:
        return _fallback("labeling order unknown (a saved model's labels carry no order): cannot draw a "
                         "learning curve", None)
    rounds = group_rounds(labeling_order(matcher.labels_), generation)
    evaluated = set(lab.set_id.astype(str))
    rounds = Rounds([kept for g in rounds.groups if (kept := [s for s in g if s in evaluated])], rounds.source,
                    rounds.round_sets)
    size = rounds.round_sets
    if len(rounds.groups) < MIN_ROUNDS:
        missing = max(1, MIN_ROUNDS * size - sum(len(g) for g in rounds.groups))
        return _fallback(f"not enough labeled rounds to estimate: label at least {missing} more set(s) "
                         f"({MIN_ROUNDS} rounds of about {size} set(s)) to see whether labeling more helps", rounds)
    prefixes = _prefixes(len(rounds.groups))
    curve = _measure(matcher, lab, rounds, prefixes)
    n_now = float(sum(len(g) for g in rounds.groups))
    law = fit_power_law(curve.training_sets.mean(axis=1), curve.f1)
    gain = max(0.0, law.gain(n_now, size))
    fold_gains = [max(0.0, fit_power_law(curve.training_sets[:, f], curve.f1_folds[:, f]).gain(n_now, size))
                  for f in range(curve.f1_folds.shape[1])]
    spread = [round(min(fold_gains), 4), round(max(fold_gains), 4)]
    points = [{"rounds": k, "sets": sum(len(g) for g in rounds.groups[:k]),
               "training_sets": round(float(curve.training_sets[p].mean()), 1), "f1": round(float(curve.f1[p]), 4),
               "f1_fold_spread": round(float(curve.f1_folds[p].std()), 4)} for p, k in enumerate(prefixes)]
    return {"status": "estimated", "sentence": _sentence(gain, size, spread),
            "expected_gain": round(gain, 4), "expected_gain_across_folds": spread, "round_sets": size,
            "rounds": len(rounds.groups), "labeled_sets": int(n_now), "rounds_from": rounds.source,
            "curve": points, "fit": {"a": round(law.a, 4), "b": round(law.b, 4), "c": round(law.c, 3),
                                     "rmse": round(law.rmse, 4), "form": "F1(n) = a - b * n^-c, n = sets trained on"},
            "predicted_f1": {"now": round(law(n_now), 4), "after_another_round": round(law(n_now + size), 4)}}


def _sentence(gain: float, size: int, spread: list[float]) -> str:
    folds = f" (folds alone: {spread[0]:.3f} to {spread[1]:.3f})"
    if gain < SMALL_GAIN:
        return (f"another round of {size} sets is expected to add less than {SMALL_GAIN} F1: "
                f"labeling more is unlikely to help{folds}")
    return f"another round of {size} sets is expected to add about {gain:.3f} F1{folds}"


def _fallback(sentence: str, rounds: Rounds | None) -> dict[str, Any]:
    return {"status": "not_enough_rounds" if rounds is not None else "unknown_order", "sentence": sentence,
            "expected_gain": None, "round_sets": rounds.round_sets if rounds else None,
            "rounds": len(rounds.groups) if rounds else None,
            "labeled_sets": sum(len(g) for g in rounds.groups) if rounds else None,
            "rounds_from": rounds.source if rounds else None, "curve": [], "fit": None}
