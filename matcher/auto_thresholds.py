"""Automated labeling's thresholds: validated on human labels held out from training (Ground Truth's rule).

**Thresholds** (:func:`choose_thresholds`, :func:`validated_thresholds`). The human-labeled pairs are scored
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
(a multiple-comparison effect); the check sample (:func:`matcher.auto_label.check_sample`) measures what was
achieved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import beta

from matcher.errors import MatcherError, shown
from matcher.evaluate import out_of_fold
from matcher.labels import SET_COLUMN

if TYPE_CHECKING:
    from matcher.pipeline import Matcher
    from matcher.results import LabeledPairs


MACHINE = "machine"
"""``labeled_by`` of every machine label: the audit trail tells them from human ones."""

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
    chains: bool = False
    """Whether a chain of sure matches may join records whose own pair is unsure (no sure non-match inside):
    set by :func:`matcher.auto_plan_check.validated_plan`, which validated exactly that rule."""

    @property
    def usable(self) -> bool:
        return self.low is not None or self.high is not None


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
