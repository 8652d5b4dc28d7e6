"""A fitted ``PairClassifier`` as plain arrays: what a saved model holds instead of a pickle.

The classifier is scikit-learn gradient boosting calibrated on folds (``CalibratedClassifierCV``): per fold,
trees whose nodes are numpy records and a sigmoid (two numbers) or isotonic (two arrays) calibration. Here they
are kept as flat arrays and evaluated in numpy in the order and precision scikit-learn uses, so a reloaded
classifier gives the fitted one's probabilities bit for bit (checked when a model is saved,
``matcher.model_file``), without trusting a pickle and without scikit-learn's private classes at load time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import interpolate
from scipy.special import expit

from matcher.classifier import PairClassifier
from matcher.errors import InputError

NODE_FIELDS = ("feature", "threshold", "missing_left", "left", "right", "is_leaf", "value")
CLIP_ABOVE_ONE = 1e-5  # scikit-learn sets calibrated probabilities in (1, 1 + 1e-5] to 1


@dataclass(frozen=True)
class FrozenFold:
    """One calibration fold: boosted trees (their nodes in one array per field, trees starting at
    ``tree_starts``) and the calibration of their summed output."""

    baseline: float
    tree_starts: np.ndarray  # int64, index of each tree's root in the node arrays
    depths: np.ndarray  # int64, each tree's depth (steps from the root to its deepest leaf)
    nodes: dict[str, np.ndarray]  # NODE_FIELDS -> one entry per node; left/right are global node indices
    method: str  # "sigmoid" or "isotonic"
    calibration: dict[str, np.ndarray]  # sigmoid: ab = [a, b]; isotonic: x, y, bounds = [min, max]

    def decision(self, X: np.ndarray) -> np.ndarray:
        """The trees' summed raw output (scikit-learn's ``decision_function``), tree after tree in float64.

        A row walks down a tree by the same comparisons as scikit-learn's (missing values go where the node
        says, else ``x <= threshold`` goes left). For speed a leaf is its own child on both sides (a row that
        reached it stays), each node's two children sit side by side (``children[2 * node + went_left]``) and
        the rows' values are gathered from the flattened matrix."""
        n, width = X.shape
        flat = np.ascontiguousarray(X).ravel()
        row_start = np.arange(n, dtype=np.int64) * width
        raw = np.zeros(n) + self.baseline
        feature, threshold, missing_left, children = self._walk
        value = self.nodes["value"]
        has_missing = bool(np.isnan(flat).any())
        for root, depth in zip(self.tree_starts, self.depths, strict=True):
            node = np.full(n, root, dtype=np.int64)
            for _ in range(int(depth)):
                x = flat.take(row_start + feature.take(node))
                went_left = x <= threshold.take(node)
                if has_missing:
                    went_left = np.where(np.isnan(x), missing_left.take(node), went_left)
                node = children.take(2 * node + went_left)
            raw += value.take(node)
        return raw

    @cached_property
    def _walk(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Feature, threshold, missing-goes-left and children per node, leaves pointing at themselves."""
        leaf = self.nodes["is_leaf"].astype(bool)
        own = np.arange(len(leaf), dtype=np.int64)
        left = np.where(leaf, own, self.nodes["left"])
        right = np.where(leaf, own, self.nodes["right"])
        children = np.column_stack([right, left]).ravel()  # [2 * node] if it went right, [2 * node + 1] if left
        feature = np.where(leaf, 0, self.nodes["feature"]).astype(np.int64)
        return feature, self.nodes["threshold"], self.nodes["missing_left"].astype(bool), children

    def calibrated(self, decision: np.ndarray) -> np.ndarray:
        if self.method == "sigmoid":
            a, b = self.calibration["ab"]
            p = expit(-(a * decision + b))
        else:
            x, y, (low, high) = self.calibration["x"], self.calibration["y"], self.calibration["bounds"]
            t = np.clip(decision.astype(x.dtype), low, high)
            p = y.repeat(t.shape) if len(y) == 1 else interpolate.interp1d(x, y, kind="linear",
                                                                            bounds_error=False)(t)
            p = p.astype(t.dtype)
        p[(p > 1.0) & (p <= 1.0 + CLIP_ABOVE_ONE)] = 1.0
        return p


@dataclass(frozen=True)
class FrozenClassifier:
    """``PairClassifier``'s prediction interface (``predict_proba``, ``log2_odds``, ``columns_``) over arrays."""

    columns_: np.ndarray
    n_train_: int
    folds: tuple[FrozenFold, ...]

    @classmethod
    def of(cls, classifier: PairClassifier) -> FrozenClassifier:
        folds = []
        for fold in classifier.model_.calibrated_classifiers_:
            folds.append(_frozen_fold(fold.estimator, fold.method, fold.calibrators[0]))
        return cls(np.asarray(classifier.columns_, dtype=np.int64), int(classifier.n_train_), tuple(folds))

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(X[:, self.columns_], dtype=np.float64)

    def predict_proba(self, X: np.ndarray, chunk: int = 1_000_000) -> np.ndarray:
        out = np.empty(len(X))
        for start in range(0, len(X), chunk):
            part = self._inputs(X[start:start + chunk])
            total = np.zeros(len(part))
            for fold in self.folds:
                total += fold.calibrated(fold.decision(part))
            total /= len(self.folds)
            out[start:start + chunk] = total
        return out

    def log2_odds(self, X: np.ndarray) -> np.ndarray:
        part = self._inputs(X)
        return np.mean([fold.decision(part) for fold in self.folds], axis=0) / np.log(2.0)


def _frozen_fold(estimator: object, method: str, calibrator: object) -> FrozenFold:
    predictors = [tree for iteration in estimator._predictors for tree in iteration]  # type: ignore[attr-defined]
    if getattr(estimator, "n_trees_per_iteration_", 1) != 1:
        raise InputError("only a binary classifier can be saved")
    starts, depths, fields = [], [], {name: [] for name in NODE_FIELDS}  # type: ignore[var-annotated]
    offset = 0
    for tree in predictors:
        nodes = tree.nodes
        if nodes["is_categorical"].any():
            raise InputError("a classifier with categorical splits cannot be saved")
        starts.append(offset)
        depths.append(int(nodes["depth"].max(initial=0)))
        fields["feature"].append(nodes["feature_idx"].astype(np.int64))
        fields["threshold"].append(nodes["num_threshold"].astype(np.float64))
        fields["missing_left"].append(nodes["missing_go_to_left"].astype(bool))
        fields["left"].append(nodes["left"].astype(np.int64) + offset)
        fields["right"].append(nodes["right"].astype(np.int64) + offset)
        fields["is_leaf"].append(nodes["is_leaf"].astype(bool))
        fields["value"].append(nodes["value"].astype(np.float64))
        offset += len(nodes)
    baseline = float(np.asarray(estimator._baseline_prediction).ravel()[0])  # type: ignore[attr-defined]
    if method == "sigmoid":
        calibration = {"ab": np.array([calibrator.a_, calibrator.b_], dtype=np.float64)}  # type: ignore[attr-defined]
    elif method == "isotonic":
        calibration = {"x": np.asarray(calibrator.X_thresholds_), "y": np.asarray(calibrator.y_thresholds_),  # type: ignore[attr-defined]
                       "bounds": np.array([calibrator.X_min_, calibrator.X_max_], dtype=np.float64)}  # type: ignore[attr-defined]
    else:
        raise InputError(f"a classifier calibrated by {method!r} cannot be saved")
    nodes = {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in fields.items()}
    return FrozenFold(baseline, np.array(starts, dtype=np.int64), np.array(depths, dtype=np.int64), nodes,
                      method, calibration)


# what a fitted matcher scores pairs with: a classifier it trained, or one a saved model holds
Classifier = PairClassifier | FrozenClassifier
