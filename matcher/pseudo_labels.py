"""Pseudo-labels: confident verdicts of the unsupervised model that join the human labels in training the
classifier, so that a few labels refine the cold start rather than start from nothing."""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest

from matcher.results import LabeledPairs

PSEUDO_SHARE = 2.0  # pseudo-labeled pairs per human-labeled pair (half of them matches, half non-matches)
PSEUDO_MIN = 1000
PSEUDO_MIN_PRECISION = 0.9  # pseudo-labels of a class are dropped once the human labels reject this accuracy


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


def trusted(correct: np.ndarray) -> bool:
    """Whether verdicts are consistent with being PSEUDO_MIN_PRECISION right, given which of them the humans
    confirmed: a one-sided binomial test at 5% (no labeled verdicts: no evidence against them)."""
    if len(correct) == 0:
        return True
    test = binomtest(int(correct.sum()), len(correct), PSEUDO_MIN_PRECISION, alternative="less")
    return bool(test.pvalue >= 0.05)


def uncontradicted(pool: np.ndarray, score: np.ndarray, lab_score: np.ndarray, correct: np.ndarray,
                    cut: float) -> np.ndarray:
    """The pseudo-label candidates ``pool`` (``score >= cut``) a class of verdicts may use, given the labeled
    pairs' scores and whether each verdict ``lab_score >= cut`` was right (scores oriented: higher = surer).

    All of them while the humans do not reject the verdicts (``trusted``); else only those scored beyond
    every contradicted labeled pair, or none if fewer than 5. Active learning labels exactly where the
    unsupervised model errs (a cora round held 7 labeled pairs at P <= 0.05, 6 of them matches, while 97% of
    the 21,714 candidates there are non-matches): dropping the whole class then trained on 356 matches
    against 94 non-matches, whose probabilities summed to 32,077 matches among 37,709 candidates (14,352
    true) and F1 fell from 0.86 to 0.70."""
    verdict = lab_score >= cut
    if trusted(correct[verdict]):
        return pool
    keep = pool[score > lab_score[verdict & ~correct].max()]
    return keep if len(keep) >= 5 else pool[:0]
