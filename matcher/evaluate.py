"""Honest quality estimates from labels: cross-validation grouped by labeling set.

Pairs of one labeling set never sit in both the training and the test side, so a model cannot score well
by memorising a set. Blocking recall is reported beside the model's figures: a labeled match the blocker
never proposes cannot be found, whatever the model, so recall end to end is model recall x blocking recall
(Glue calls that ceiling the "recall upper limit" and never shows it).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve
from sklearn.model_selection import GroupKFold

from matcher.assemble import blocking_recall
from matcher.classifier import scoring_threads
from matcher.cluster import one_to_one
from matcher.errors import LabelError
from matcher.features import PairFeatures, compare
from matcher.results import LabeledPairs
from matcher.stopping import stop_advice

if TYPE_CHECKING:
    from matcher.classifier import PairClassifier
    from matcher.competition import Competition
    from matcher.pipeline import Matcher

MIN_PAIRS_PER_CLASS = 5
MAX_FOLDS = 5
ONE_TO_ONE_MODEL = "classifier + one-to-one competition and assignment"


@dataclass
class OutOfFold:
    """Each labeled pair scored by a model that never saw its labeling set: ``prob`` (final probability),
    ``ablated`` (the same with one column left out), ``linked`` (whether a run of that model would link the
    pair at ``threshold``) and which ``model`` it was."""

    prob: np.ndarray
    ablated: dict[str, np.ndarray]
    linked: np.ndarray
    model: str


def _labeled_subset(lab: LabeledPairs, idx: np.ndarray) -> LabeledPairs:
    return lab.subset(idx)


class _FoldModel:
    """One fold's model as a find-matches run applies it: the classifier, then in one-to-one linkage the
    competition stage (fitted on the fold's training sets against every candidate's score) and the
    assignment that links each record to at most one other."""

    def __init__(self, matcher: Matcher, classifier: PairClassifier | None, train: LabeledPairs | None) -> None:
        self.matcher, self.classifier = matcher, classifier
        self.competition: Competition | None = None
        if classifier is not None and matcher.links_one_to_one:
            with scoring_threads(len(matcher.candidates_)):
                first = matcher.score(matcher.candidates_, classifier=classifier)
            self.competition, self.candidate_prob = matcher.second_stage(classifier, train, first)

    def score(self, features: PairFeatures, columns: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The pairs' probability, and the same with each of ``columns`` left out. The classifier scores every
        variant in one batch: ~9 calls of a few hundred rows each cost more in per-call overhead than work."""
        variants = [features, *(features.without(c) for c in columns)]
        if self.classifier is None:
            probs = [self.matcher.score(v, classifier=None) for v in variants]
        else:  # Matcher.score of pairs other than the candidates, batched
            design = np.vstack([self.matcher.design(v) for v in variants])
            with scoring_threads(len(design)):
                probs = np.split(self.classifier.predict_proba(design), len(variants))
        if self.competition is not None:
            probs = [self.competition.predict_proba(p, features.left, features.right) for p in probs]
        return probs[0], dict(zip(columns, probs[1:], strict=True))

    def links(self, left: np.ndarray, right: np.ndarray, prob: np.ndarray, threshold: float) -> np.ndarray:
        """Whether each pair would be linked: above the threshold and, one-to-one, kept by the assignment
        over the candidates and these pairs (as if blocking had proposed them: blocking is scored apart)."""
        if self.competition is None:
            return prob >= threshold
        c = self.matcher.candidates_
        cluster = one_to_one(self.matcher.table_.n, np.r_[c.left, left], np.r_[c.right, right],
                             np.r_[self.candidate_prob, prob], threshold)
        return (prob >= threshold) & (cluster[left] == cluster[right])


def out_of_fold(matcher: Matcher, lab: LabeledPairs) -> OutOfFold:
    """Grouped cross-validation of the labeled pairs (in linkage, the cross-source pairs a run scores)."""
    features = compare(matcher.table_, lab.left, lab.right)
    columns = [c.name for c in matcher.settings_.data_columns]
    n_sets = len(np.unique(lab.set_id))
    folds = min(MAX_FOLDS, n_sets)
    can_train = lab.is_match.sum() >= MIN_PAIRS_PER_CLASS and (~lab.is_match).sum() >= MIN_PAIRS_PER_CLASS
    threshold = matcher.threshold
    if folds < 2 or not can_train:
        prob = matcher.score(features, classifier=None)
        ablated = {c: matcher.score(features.without(c), classifier=None) for c in columns}
        return OutOfFold(prob, ablated, prob >= threshold, "fellegi_sunter")
    one = matcher.links_one_to_one
    out = OutOfFold(np.zeros(len(lab.left)), {c: np.zeros(len(lab.left)) for c in columns},
                    np.zeros(len(lab.left), dtype=bool), ONE_TO_ONE_MODEL if one else "classifier")
    for train, test in GroupKFold(folds).split(lab.left, lab.is_match, lab.set_id):
        train_lab = _labeled_subset(lab, train)
        with scoring_threads(len(train)):  # its calibration folds' predictions too, not only the trees' fit
            clf = matcher.fit_classifier(train_lab, warn=False)
        if clf is None:
            out.model = "fellegi_sunter (a fold could not train a classifier)"
        fold = _FoldModel(matcher, clf, train_lab)
        if clf is not None and fold.competition is None and out.model == ONE_TO_ONE_MODEL:
            out.model = "classifier (a fold could not fit the one-to-one competition stage)"
        out.prob[test], ablated = fold.score(features.subset(test), columns)
        out.linked[test] = fold.links(lab.left[test], lab.right[test], out.prob[test], threshold)
        for c in columns:
            out.ablated[c][test] = ablated[c]
    return out


def _metrics(y: np.ndarray, prob: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
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


def evaluate(matcher: Matcher, generation: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Quality metrics of the matcher's current labels; the JSON the CLI, service and UI show. ``stop_advice``
    (:mod:`matcher.stopping`) says whether another labeling round is expected to help; ``generation`` maps
    labeling set ids to the run that generated them, its rounds, when known."""
    if matcher.labeled_ is None or len(matcher.labeled_.left) == 0:
        raise_no_labels()
    assert matcher.labeled_ is not None
    # in linkage only cross-source pairs are scored, linked and counted (as the benchmarks count them)
    lab = matcher.scored_kind(matcher.labeled_)
    report: dict[str, Any] = {"warnings": []}
    if len(lab.left) == 0:
        raise LabelError("no labeled pair joins the two sources: label records of both sources in one set")
    y = lab.is_match
    if not y.any() or y.all():
        report["warnings"].append("labels hold only one class (all matches or all non-matches): precision and "
                                  "recall cannot be estimated; label sets that mix both")
    elif min(y.sum(), (~y).sum()) < 20:
        report["warnings"].append(f"only {int(y.sum())} matching and {int((~y).sum())} non-matching labeled "
                                  "pairs: estimates are rough; more labels would likely help")
    oof = out_of_fold(matcher, lab)
    prob, ablated, threshold = oof.prob, oof.ablated, matcher.threshold
    metrics = _metrics(y, prob, oof.linked)
    base_ap = metrics["area_under_pr_curve"]
    importances = {c: round(base_ap - float(average_precision_score(y, p)), 4) if base_ap is not None else None
                   for c, p in ablated.items()}
    recall_ceiling = blocking_recall(matcher)
    report.update({
        "model": oof.model, "threshold": threshold, **{k: _round(v) for k, v in metrics.items()},
        "labels": {**(matcher.labels_.summary() if matcher.labels_ is not None else {}),
                   "labeled_pairs": int(len(matcher.labeled_.left)), "evaluated_pairs": int(len(y)),
                   "matching_pairs": int(y.sum())},
        "blocking_recall": _round(recall_ceiling),
        "recall_end_to_end": _round(metrics["recall"] * recall_ceiling) if recall_ceiling is not None else None,
        "candidate_pairs": int(matcher.blocker_.n_pairs_),
        "column_importance": dict(sorted(importances.items(), key=lambda kv: -(kv[1] or 0))),
        "precision_recall_curve": _pr_curve(y, prob),
        "score_histogram": score_histogram(matcher.prob_),
        "cross_validation": "grouped by labeling set",
        "one_to_one": matcher.links_one_to_one, "one_to_one_reason": matcher.link_mode_.reason,
        "stop_advice": stop_advice(matcher, generation),
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
    raise LabelError("no labeled pairs to evaluate: label at least two records in one labeling set")
