"""Unsupervised cold start: a Fellegi-Sunter model whose m probabilities are learnt by EM.

u probabilities (how often non-matches agree) come from random record pairs, which are almost all
non-matches; holding them fixed keeps EM from drifting to a split that is not the match split (the failure
Splink's docs warn about at scale). Exact agreement on a value is weighted by that value's rarity
(term-frequency adjustment): agreeing on 'zabrowski' says more than agreeing on 'smith'.
"""

from __future__ import annotations

import numpy as np

from matcher.features import PairFeatures

TF_FLOOR = 1e-7
LEVEL_FLOOR = 0.01


class FellegiSunter:
    """Estimator over ``PairFeatures``: ``fit(candidates, random_pairs)`` then ``predict_proba``.

    Fitted state: ``m_``/``u_`` (column -> probability per level), ``lambda_`` (share of matches among
    candidate pairs), ``n_iter_``.
    """

    def __init__(self, max_iter: int = 50, tol: float = 1e-5, tf_adjust: bool = True,
                 estimate_u: bool = True, seed_agreement: float = 0.75) -> None:
        self.seed_agreement = seed_agreement
        self.estimate_u = estimate_u
        self.max_iter = max_iter
        self.tol = tol
        self.tf_adjust = tf_adjust

    def fit(self, candidates: PairFeatures, random_pairs: PairFeatures) -> FellegiSunter:
        self.n_levels_ = dict(candidates.n_levels)
        self.u_random_ = {c: self._distribution(random_pairs.levels[c], k, None) for c, k in self.n_levels_.items()}
        # start u at the candidates' own distribution (most candidates are non-matches): starting from the
        # random-pair u makes every blocked pair look like a match and EM collapses to lambda = 1
        source = candidates if self.estimate_u else random_pairs
        self.u_ = {c: self._distribution(source.levels[c], k, None) for c, k in self.n_levels_.items()}
        self._m_step(candidates, self._seed_posterior(candidates))
        self.n_iter_ = 0
        for iteration in range(1, self.max_iter + 1):
            self.n_iter_ = iteration
            old_m, old_lambda = self.m_, self.lambda_
            self._m_step(candidates, self.predict_proba(candidates))
            shift = max(max(np.abs(self.m_[c] - old_m[c]).max() for c in old_m), abs(self.lambda_ - old_lambda))
            if shift < self.tol:
                break
        return self

    def _m_step(self, candidates: PairFeatures, posterior: np.ndarray) -> None:
        # m is floored (a match can disagree on any column now and then: typos, moves; without the floor EM
        # learns m=0 and one typo vetoes a pair with -18 bits); u is not: flooring it drowns rare agreements
        self.m_ = {c: self._distribution(candidates.levels[c], k, posterior, LEVEL_FLOOR)
                   for c, k in self.n_levels_.items()}
        if self.estimate_u:
            self.u_ = {c: self._distribution(candidates.levels[c], k, 1 - posterior)
                       for c, k in self.n_levels_.items()}
        self.lambda_ = float(np.clip(posterior.mean(), 1e-6, 1 - 1e-6))

    def _seed_posterior(self, candidates: PairFeatures) -> np.ndarray:
        """Start EM from obvious matches (most present columns at their top level) rather than from guessed
        m/lambda: a guessed start lets EM settle on a split that is not the match split (lambda -> 1)."""
        top = np.zeros(len(candidates))
        present = np.zeros(len(candidates))
        for c, k in self.n_levels_.items():
            levels = candidates.levels[c]
            top += levels >= k - 1
            present += levels >= 0
        return ((top >= self.seed_agreement * present) & (present >= 2)).astype(np.float64)

    @staticmethod
    def _initial_m(k: int) -> np.ndarray:
        """Most matches agree exactly, few disagree: 0.7 on the top level, geometrically less below."""
        m = 0.3 * 0.5 ** np.arange(k - 1)[::-1]
        m = np.append(m / m.sum() * 0.3, 0.7) if k > 1 else np.ones(1)
        return m / m.sum()

    @staticmethod
    def _distribution(levels: np.ndarray, k: int, weights: np.ndarray | None, floor: float = 0.0) -> np.ndarray:
        present = levels >= 0
        w = None if weights is None else weights[present]
        counts = np.bincount(levels[present], weights=w, minlength=k).astype(np.float64)
        counts += 0.5 if weights is None else 1e-3  # smoothing: no level is ever impossible
        probs = np.maximum(counts / counts.sum(), floor)
        return probs / probs.sum()

    def column_weights(self, features: PairFeatures) -> dict[str, np.ndarray]:
        """log2 Bayes factor each column contributes to each pair (0 when a value is missing)."""
        out = {}
        for c, k in self.n_levels_.items():
            levels = features.levels[c]
            safe = np.clip(levels, 0, k - 1)
            u = self.u_[c][safe]
            if self.tf_adjust and c in features.tf:
                tf = features.tf[c]
                exact = (levels == k - 1) & ~np.isnan(tf)
                # scale this column's exact-agreement u by how common the agreed value is relative to the
                # average random agreement: rare values give strong evidence, common ones weak evidence
                scale = self.u_[c][k - 1] / self.u_random_[c][k - 1]
                u = np.where(exact, np.clip(np.nan_to_num(tf, nan=1.0) * scale, TF_FLOOR, 1.0), u)
            weight = np.log2(self.m_[c][safe] / u)
            out[c] = np.where(levels >= 0, weight, 0.0)
        return out

    def match_weight(self, features: PairFeatures) -> np.ndarray:
        """Total log2 Bayes factor plus the prior log odds: the model's log2 odds of a match."""
        total = np.full(len(features), np.log2(self.lambda_ / (1 - self.lambda_)))
        for weight in self.column_weights(features).values():
            total += weight
        return total

    def predict_proba(self, features: PairFeatures) -> np.ndarray:
        return 1.0 / (1.0 + np.exp2(-np.clip(self.match_weight(features), -60, 60)))
