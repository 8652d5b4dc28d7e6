"""Pseudo-labels: confident verdicts of the unsupervised model that join the human labels in training the
classifier, so that a few labels refine the cold start rather than start from nothing."""

from __future__ import annotations

import numpy as np

from matcher.results import LabeledPairs

PSEUDO_SHARE = 2.0  # pseudo-labeled pairs per human-labeled pair (half of them matches, half non-matches)
PSEUDO_MIN = 1000
PSEUDO_MIN_PRECISION = 0.9  # pseudo-labels of a class are narrowed once the human labels put them below this
# strata of the pool's scores in which the humans' answers are reweighted (``uncontradicted``): Cochran's five
# strata remove most of a selection bias along one score
STRATA = 5


def pseudo_labels(p: np.ndarray, left: np.ndarray, right: np.ndarray, n: int, lab: LabeledPairs,
                  lab_prob: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Confident cold-start verdicts on unlabeled candidates (``left``, ``right``: rows among ``n``; ``p``: the
    cold start's probability of each), as candidate positions and verdicts, PSEUDO_SHARE as many as the human
    labels: a few labels then refine the unsupervised model rather than start from nothing. ``lab_prob`` is the
    unsupervised probability of each labeled pair: a class of verdicts the humans contradict is dropped
    (on products, pairs scored >= 0.95 are matches less than half the time), and only the verdicts more
    extreme than every contradicted one remain (``uncontradicted``)."""
    ids = np.minimum(left, right).astype(np.int64) * n + np.maximum(left, right)
    lab_ids = np.minimum(lab.left, lab.right).astype(np.int64) * n + np.maximum(lab.left, lab.right)
    free = ~np.isin(ids, lab_ids)
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(free & (p >= 0.95))
    neg = np.flatnonzero(free & (p <= 0.05))
    if len(pos) < 5 or len(neg) < 5:
        return None
    # counted, not weighted: sample weights make gradient boosting's binning ~10x slower
    per_class = max(PSEUDO_MIN, int(PSEUDO_SHARE * len(lab.left) / 2))
    pos = rng.permutation(uncontradicted(pos, p[pos], lab_prob, lab.is_match, 0.95))[:per_class]
    neg = rng.permutation(uncontradicted(neg, -p[neg], -lab_prob, ~lab.is_match, -0.05))[:per_class]
    return np.r_[pos, neg], np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]


def trusted(correct: np.ndarray, weight: np.ndarray | None = None) -> bool:
    """Whether verdicts are estimated at least PSEUDO_MIN_PRECISION right, given which of them the humans
    confirmed (no labeled verdicts: no evidence against them). ``weight``: how much each labeled verdict stands
    for (``stratum_weights``). A point estimate, not a test's benefit of the doubt: reweighted, a round's
    answers stand for few draws (Kish's effective size (sum w)^2 / sum w^2 was 10 for cora's 32 labeled
    pseudo-negatives, 70% right), and a binomial test at that size passes the class whole."""
    if len(correct) == 0:
        return True
    if weight is None:
        weight = np.ones(len(correct))
    return bool((weight * correct).sum() >= PSEUDO_MIN_PRECISION * weight.sum())


def strata(score: np.ndarray, lab_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stratum (0 = least sure) of each pool score and each labeled score: STRATA quantiles of the pool."""
    edges = np.quantile(score, np.linspace(0.0, 1.0, STRATA + 1)[1:-1])
    return np.searchsorted(edges, score, side="right"), np.searchsorted(edges, lab_score, side="right")


def stratum_weights(lab_stratum: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """Each labeled verdict's weight: its stratum's share of the pool (equal, by construction) over the labeled
    verdicts the stratum holds, so every stratum with labels counts alike however often active learning asked
    there; strata without labels drop out (``counted``: the strata in the estimate)."""
    weight = np.zeros(len(lab_stratum))
    for k in np.unique(lab_stratum[np.isin(lab_stratum, counted)]):
        here = lab_stratum == k
        weight[here] = 1.0 / here.sum()
    return weight


def uncontradicted(pool: np.ndarray, score: np.ndarray, lab_score: np.ndarray, correct: np.ndarray,
                    cut: float) -> np.ndarray:
    """The pseudo-label candidates ``pool`` (``score >= cut``) a class of verdicts may use, given the labeled
    pairs' scores and whether each verdict ``lab_score >= cut`` was right (scores oriented: higher = surer):
    the largest upper part of the pool, in STRATA quantile strata of its scores, whose labeled verdicts, each
    stratum weighted by its share of the pool (``stratum_weights``), pass ``trusted`` (upper strata nobody
    labeled: no evidence against them); none if fewer than 5 remain.

    Active learning asks where the model errs, not where the pool lies: on kin_100k a round's 140 labeled
    verdicts were 66% right, 70 of them in the least sure fifth of the pool (39% right there, 78% in the pool),
    while the pool held 95% matches. Counted as drawn, the humans' answers rejected the whole class and the
    pseudo-matches were narrowed to near-identical records (the classifier then lost 15% of true pairs);
    weighted by stratum, the upper four fifths pass (99.4% matches). Amazon-Google's verdicts fail in every
    stratum (29-35% right; 28-45% in the pool) and no pseudo-match is kept: the earlier rule kept the 13
    above every contradicted verdict, 12 of them wrong. Dropping a class outright is still the worst case
    (a cora round held 7 labeled pairs at P <= 0.05, 6 of them matches, while 97% of the 21,714 candidates
    there are non-matches: without any pseudo-negative the classifier's probabilities summed to 32,077 matches
    among 37,709 candidates, 14,352 true, and F1 fell from 0.86 to 0.70): the strata keep the surest part."""
    verdict = lab_score >= cut
    if not verdict.any() or len(pool) == 0:
        return pool
    pool_stratum, lab_stratum = strata(score, lab_score[verdict])
    right = correct[verdict]
    for lowest in range(STRATA):
        counted = np.arange(lowest, STRATA)
        inside = np.isin(lab_stratum, counted)
        if trusted(right[inside], stratum_weights(lab_stratum, counted)[inside]):
            keep = pool[pool_stratum >= lowest]
            return keep if len(keep) >= 5 else pool[:0]
    return pool[:0]
