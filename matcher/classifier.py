"""Supervised scoring once humans have labeled pairs: gradient boosting with calibrated probabilities.

The unsupervised Fellegi-Sunter weight is one of its inputs, so a few hundred labels refine the cold start
instead of replacing it; calibration makes ``precision_recall_tradeoff`` a threshold on a real probability.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import GroupKFold, StratifiedKFold
from threadpoolctl import threadpool_limits

MIN_PER_CLASS = 5
# below this many rows a batch is scored on one OpenMP thread: scikit-learn's tree predictions on a few thousand
# rows cost less than the hand-offs between threads, which on a busy 2-core machine made scoring the 660
# labeled pairs of one labeling round ~10x slower (bench/evaluation_speed.py, BENCHMARKS.md)
PARALLEL_MIN_ROWS = 200_000


def scoring_threads(n_rows: int) -> AbstractContextManager[object]:
    """Around scoring ``n_rows`` rows (or fitting on them): one OpenMP thread for a small batch, the library's
    default otherwise. OpenMP's thread count is a per-thread setting: enter this in the thread that scores."""
    if n_rows >= PARALLEL_MIN_ROWS:
        return nullcontext()
    return threadpool_limits(limits=1, user_api="openmp")


def informative_columns(X: np.ndarray) -> np.ndarray:
    """Indices of columns with at least two distinct non-missing values (others cannot split anything)."""
    keep = []
    for j in range(X.shape[1]):
        col = X[:, j]
        col = col[~np.isnan(col)]
        if len(col) and col.min() != col.max():
            keep.append(j)
    return np.array(keep, dtype=np.int64)


def checked_weights(weight: np.ndarray | None, n: int) -> np.ndarray | None:
    """``weight`` as floats, one finite value >= 0 per row and some positive, else ValueError; None stays None,
    and so do weights all 1: they fit the same model, and scikit-learn bins weighted columns by weighted
    percentiles, which made a refit on examples/people 2.8x slower (0.9 s -> 2.6 s)."""
    if weight is None:
        return None
    weight = np.asarray(weight, dtype=float)
    if weight.shape != (n,):
        raise ValueError(f"sample_weight has shape {weight.shape}, expected ({n},)")
    if not np.isfinite(weight).all() or (weight < 0).any() or not (weight > 0).any():
        raise ValueError("sample_weight must be finite, >= 0 and not all 0")
    return None if (weight == 1.0).all() else weight


class PairClassifier:
    """``fit(X, y, groups)`` on labeled pairs; ``predict_proba(X)`` gives P(match).

    Fitted state: ``model_`` (a calibrated classifier), ``n_train_``, ``oof_`` (each training pair's
    probability from the fold that did not train on it: an honest score for a second stage to learn from).
    """

    def __init__(self, random_state: int = 0, max_iter: int = 200) -> None:
        self.random_state = random_state
        self.max_iter = max_iter

    @staticmethod
    def can_fit(y: np.ndarray) -> bool:
        return int(y.sum()) >= MIN_PER_CLASS and int((~y.astype(bool)).sum()) >= MIN_PER_CLASS

    def _base(self) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=0.08, max_leaf_nodes=15, min_samples_leaf=5,
            l2_regularization=1.0, random_state=self.random_state,
        )

    def _folds(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Calibration folds: by labeling set when there are enough sets with both classes in every fold."""
        folds = int(min(3, y.sum(), (~y).sum()))
        stratified = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        if groups is not None and len(np.unique(groups)) >= folds:
            cv = list(GroupKFold(folds).split(X, y, groups))
            if all(len(np.unique(y[train])) == 2 for train, _ in cv):
                return cv
        return list(stratified.split(X, y))

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
            sample_weight: np.ndarray | None = None) -> PairClassifier:
        """``sample_weight``: how much each row counts, in the boosted trees' loss and in their calibration
        (scikit-learn's meaning); None counts every row once."""
        y = np.asarray(y, dtype=bool)
        sample_weight = checked_weights(sample_weight, len(y))
        cv = self._folds(X, y, groups)
        # a column must vary inside every fold's training part too: gradient boosting cannot bin a column
        # holding one value (a sparse comparator, e.g. prices, on a few hundred labeled pairs)
        keep = set(informative_columns(X).tolist())
        for train, _ in cv:
            keep &= set(informative_columns(X[train]).tolist())
        self.columns_ = np.array(sorted(keep), dtype=np.int64)
        X = X[:, self.columns_]
        method = "isotonic" if len(y) >= 2000 else "sigmoid"
        self.model_ = CalibratedClassifierCV(self._base(), method=method, cv=cv)
        # training sets are small (labels + pseudo-labels): threads only add joblib/OpenMP hand-off waits,
        # which cost seconds per fit on a busy 2-core machine
        with threadpool_limits(limits=1, user_api="openmp"):
            self.model_.fit(X, y, sample_weight=sample_weight)
        self.n_train_ = len(y)
        self.oof_ = np.empty(len(y))
        for (_, test), fold in zip(cv, self.model_.calibrated_classifiers_, strict=True):
            self.oof_[test] = fold.predict_proba(X[test])[:, 1]
        return self

    def log2_odds(self, X: np.ndarray) -> np.ndarray:
        """The boosted trees' own log2 odds, averaged over the calibration folds. Unlike the calibrated
        probability it does not saturate at 0 or 1, so per-column ablations stay visible on sure pairs."""
        X = X[:, self.columns_]
        margins = [c.estimator.decision_function(X) for c in self.model_.calibrated_classifiers_]
        return np.mean(margins, axis=0) / np.log(2.0)

    def predict_proba(self, X: np.ndarray, chunk: int = 1_000_000) -> np.ndarray:
        out = np.empty(len(X))
        for start in range(0, len(X), chunk):
            out[start:start + chunk] = self.model_.predict_proba(X[start:start + chunk, self.columns_])[:, 1]
        return out


# the balanced threshold stays inside this range: a guard against a degenerate estimate on very few pairs
BALANCED_RANGE = (0.1, 0.9)


def expected_f1_threshold(prob: np.ndarray) -> float:
    """The threshold maximising the F1 the probabilities themselves expect: linking every pair with p >= t
    expects sum(p) true links among them and sum(p) matches in all. With calibrated probabilities the best
    F1 threshold is below 0.5 whenever F1 is below 1 (it is half the best F1, Lipton et al. 2014): at 0.5
    a hard dataset loses more recall than it gains precision."""
    p = np.sort(np.asarray(prob, dtype=float))[::-1]
    if len(p) == 0 or p.sum() <= 0:
        return 0.5
    linked = np.arange(1, len(p) + 1)
    f1 = 2.0 * np.cumsum(p) / (linked + p.sum())
    return float(np.clip(p[np.argmax(f1)], *BALANCED_RANGE))

