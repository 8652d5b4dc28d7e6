"""Honest quality estimates from labels: cross-validation grouped by labeling set.

Pairs of one labeling set never sit in both the training and the test side, so a model cannot score well
by memorising a set. Blocking recall is reported beside the model's figures: a labeled match the blocker
never proposes cannot be found, whatever the model, so recall end to end is model recall x blocking recall
(Glue calls that ceiling the "recall upper limit" and never shows it).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve
from sklearn.model_selection import GroupKFold

from matcher.assemble import blocking_recall
from matcher.features import compare

if TYPE_CHECKING:
    from matcher.pipeline import LabeledPairs, Matcher

MIN_PAIRS_PER_CLASS = 5
MAX_FOLDS = 5


def _labeled_subset(lab: LabeledPairs, idx: np.ndarray) -> LabeledPairs:
    from matcher.pipeline import LabeledPairs

    return LabeledPairs(lab.left[idx], lab.right[idx], lab.is_match[idx], lab.set_id[idx])


def out_of_fold(matcher: Matcher, lab: LabeledPairs) -> tuple[np.ndarray, dict[str, np.ndarray], str]:
    """Out-of-fold P(match) per labeled pair, the same with each column ablated, and the model used."""
    features = compare(matcher.table_, lab.left, lab.right)
    columns = [c.name for c in matcher.settings_.data_columns]
    n_sets = len(np.unique(lab.set_id))
    folds = min(MAX_FOLDS, n_sets)
    can_train = lab.is_match.sum() >= MIN_PAIRS_PER_CLASS and (~lab.is_match).sum() >= MIN_PAIRS_PER_CLASS
    if folds < 2 or not can_train:
        prob = matcher.score(features, classifier=None)
        ablated = {c: matcher.score(features.without(c), classifier=None) for c in columns}
        return prob, ablated, "fellegi_sunter"
    prob = np.zeros(len(lab.left))
    ablated = {c: np.zeros(len(lab.left)) for c in columns}
    model = "classifier"
    for train, test in GroupKFold(folds).split(lab.left, lab.is_match, lab.set_id):
        clf = matcher.fit_classifier(_labeled_subset(lab, train), warn=False)
        model = model if clf is not None else "fellegi_sunter (a fold could not train a classifier)"
        test_features = features.subset(test)
        prob[test] = matcher.score(test_features, classifier=clf)
        for c in columns:
            ablated[c][test] = matcher.score(test_features.without(c), classifier=clf)
    return prob, ablated, model


def _metrics(y: np.ndarray, prob: np.ndarray, threshold: float) -> dict[str, Any]:
    pred = prob >= threshold
    tp, fp = int((pred & y).sum()), int((pred & ~y).sum())
    fn, tn = int((~pred & y).sum()), int((~pred & ~y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    both = y.any() and (~y).any()
    return {"precision": precision, "recall": recall, "f1": f1,
            "area_under_pr_curve": float(average_precision_score(y, prob)) if both else None,
            "confusion_matrix": {"true_positive": tp, "false_positive": fp, "false_negative": fn,
                                 "true_negative": tn}}


def _pr_curve(y: np.ndarray, prob: np.ndarray, points: int = 50) -> list[dict[str, float]]:
    if not (y.any() and (~y).any()):
        return []
    precision, recall, thresholds = precision_recall_curve(y, prob)
    pick = np.unique(np.linspace(0, len(thresholds) - 1, min(points, len(thresholds))).astype(int))
    return [{"threshold": round(float(thresholds[i]), 4), "precision": round(float(precision[i]), 4),
             "recall": round(float(recall[i]), 4)} for i in pick]


def evaluate(matcher: Matcher) -> dict[str, Any]:
    """Quality metrics of the matcher's current labels; the JSON the CLI, service and UI show."""
    lab = matcher.labeled_
    report: dict[str, Any] = {"warnings": []}
    if lab is None or len(lab.left) == 0:
        raise_no_labels()
    assert lab is not None
    y = lab.is_match
    if not y.any() or y.all():
        report["warnings"].append("labels hold only one class (all matches or all non-matches): precision and "
                                  "recall cannot be estimated; label sets that mix both")
    elif min(y.sum(), (~y).sum()) < 20:
        report["warnings"].append(f"only {int(y.sum())} matching and {int((~y).sum())} non-matching labeled "
                                  "pairs: estimates are rough; more labels would likely help")
    prob, ablated, model = out_of_fold(matcher, lab)
    threshold = matcher.threshold
    metrics = _metrics(y, prob, threshold)
    base_ap = metrics["area_under_pr_curve"]
    importances = {c: round(base_ap - float(average_precision_score(y, p)), 4) if base_ap is not None else None
                   for c, p in ablated.items()}
    recall_ceiling = blocking_recall(matcher)
    report.update({
        "model": model, "threshold": threshold, **{k: _round(v) for k, v in metrics.items()},
        "labels": {**(matcher.labels_.summary() if matcher.labels_ is not None else {}),
                   "labeled_pairs": int(len(y)), "matching_pairs": int(y.sum())},
        "blocking_recall": _round(recall_ceiling),
        "recall_end_to_end": _round(metrics["recall"] * recall_ceiling) if recall_ceiling is not None else None,
        "candidate_pairs": int(matcher.blocker_.n_pairs_),
        "column_importance": dict(sorted(importances.items(), key=lambda kv: -(kv[1] or 0))),
        "precision_recall_curve": _pr_curve(y, prob),
        "score_histogram": score_histogram(matcher.prob_),
        "cross_validation": "grouped by labeling set",
    })
    for message in report["warnings"]:
        warnings.warn(message, UserWarning, stacklevel=2)
    return report


def score_histogram(prob: np.ndarray, bins: int = 20) -> dict[str, list]:
    """How the candidate pairs' match probabilities spread: a good model leaves the middle nearly empty."""
    counts, edges = np.histogram(prob, bins=bins, range=(0.0, 1.0))
    return {"bin_edges": [round(float(e), 4) for e in edges], "counts": [int(c) for c in counts]}


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def raise_no_labels() -> NoReturn:
    from matcher.errors import LabelError

    raise LabelError("no labeled pairs to evaluate: label at least two records in one labeling set")
