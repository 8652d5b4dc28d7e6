"""One-to-one linkage: a pair's probability in the light of each record's other candidates.

When each record has at most one match in the other table, a pair that both records prefer by a wide
margin is far more likely a match than its own score says, and a pair with a stronger rival on either side
far less. The pair classifier scores pairs one at a time and cannot see this; ``Competition`` is a small
second stage, a logistic regression on (the pair's log odds, its margin over the best rival of each record)
fitted on the human labels with out-of-fold first-stage probabilities, so it learns from the labels how much
the margins matter on this data and stays calibrated on them.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

EPS = 1e-4
MIN_PER_CLASS = 5


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def top_two(n: int, left: np.ndarray, right: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per record: its best candidate's probability, that candidate, and the second best probability
    (0 and -1 where a record has fewer candidates)."""
    a, b, p = np.r_[left, right], np.r_[right, left], np.r_[prob, prob]
    order = np.lexsort((-p, a))
    a, b, p = a[order], b[order], p[order]
    first = np.r_[True, a[1:] != a[:-1]] if len(a) else np.zeros(0, dtype=bool)
    second = np.r_[False, ~first[1:] & first[:-1]] if len(a) else first
    best, partner, runner_up = np.zeros(n), np.full(n, -1, dtype=np.int64), np.zeros(n)
    best[a[first]], partner[a[first]] = p[first], b[first]
    runner_up[a[second]] = p[second]
    return best, partner, runner_up


class Competition:
    """``fit(prob, left, right, y, candidates)`` on labeled pairs, ``predict_proba(prob, left, right)``.

    ``candidates`` is ``(n, left, right, prob)``: every scored pair with its first-stage probability, from
    which each record's rivals are taken. Fitted state: ``model_`` and the per-record ``best_``,
    ``partner_``, ``runner_up_``.
    """

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    @staticmethod
    def can_fit(y: np.ndarray) -> bool:
        return int(y.sum()) >= MIN_PER_CLASS and int((~y.astype(bool)).sum()) >= MIN_PER_CLASS

    def _features(self, prob: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        # a record's rival for this pair: its best candidate, or its second best when the best is this pair
        rival_l = np.where(self.partner_[left] == right, self.runner_up_[left], self.best_[left])
        rival_r = np.where(self.partner_[right] == left, self.runner_up_[right], self.best_[right])
        z = _logit(prob)
        return np.column_stack([z, z - _logit(rival_l), z - _logit(rival_r)])

    def fit(self, prob: np.ndarray, left: np.ndarray, right: np.ndarray, y: np.ndarray,
            candidates: tuple[int, np.ndarray, np.ndarray, np.ndarray]) -> Competition:
        self.best_, self.partner_, self.runner_up_ = top_two(*candidates)
        self.model_ = LogisticRegression(C=self.C).fit(self._features(prob, left, right), np.asarray(y, bool))
        return self

    def predict_proba(self, prob: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(self._features(prob, left, right))[:, 1]
