"""Unsupervised cold start: a Fellegi-Sunter model whose m probabilities are learnt by EM.

u probabilities (how often non-matches agree) come from random record pairs, which are almost all
non-matches; holding them fixed keeps EM from drifting to a split that is not the match split (the failure
Splink's docs warn about at scale). Exact agreement on a value is weighted by that value's rarity
(term-frequency adjustment): agreeing on 'zabrowski' says more than agreeing on 'smith'. With ``cap_near`` a near
agreement (a typo) never weighs more than exact agreement on the commoner of its two values: 'julie' vs 'juolie' is at
most as strong as 'julie' vs 'julie'.

Two departures from textbook Fellegi-Sunter guard against its known failures on data nobody tuned for
(``weight_table``): an agreement never weighs more than against random pairs, and a clear disagreement never
counts for a match. With ``group_guard`` (the default) a group EM let into the match class cannot teach it its near
agreements as typos (``_cap_near_levels``). With ``dependence="tree"`` (the default) a column largely redundant
with another among non-matches (a first name beside a full name, a landline beside a household's address) is
conditioned on it (``matcher.fs_tree``), so one fact is not counted twice.

``prior="random"`` is the classic Fellegi-Sunter set-up instead: u fixed at the random pairs' u and the prior
taken over all record pairs, so a column the blocking made common among candidates keeps its full weight.
Within candidates EM can settle on a split that is not the match split when blocking confounds a column
(RLdata10000: names agree among most candidates, and EM takes "same date of birth" as the match class).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from matcher.features import PairFeatures
from matcher.fs_tree import chow_liu_parents, conditional_table, n_states, parent_states

TF_FLOOR = 1e-7
LEVEL_FLOOR = 0.01


class FellegiSunter:
    """Estimator over ``PairFeatures``: ``fit(candidates, random_pairs)`` then ``predict_proba``.

    Fitted state: ``m_``/``u_`` (column -> probability per level), ``lambda_`` (share of matches among
    candidate pairs), ``prior_`` (the match probability the weights start from: ``lambda_``, or with
    ``prior="random"`` the share of matches among all record pairs), ``row_tf_`` (column -> term frequency of
    each row's value where some exact agreement revealed it, else NaN), ``n_iter_``.
    """

    def __init__(self, max_iter: int = 50, tol: float = 1e-4, tf_adjust: bool = True,
                 estimate_u: bool = True, seed_agreement: float = 0.75, prior: str = "candidates",
                 cap_near: bool = False, dependence: str = "tree", group_guard: bool = True) -> None:
        self.group_guard = group_guard
        self.dependence = dependence
        self.cap_near = cap_near
        self.prior = prior
        self.seed_agreement = seed_agreement
        self.estimate_u = estimate_u
        self.max_iter = max_iter
        self.tol = tol
        self.tf_adjust = tf_adjust

    def fit(self, candidates: PairFeatures, random_pairs: PairFeatures, n_pairs: int | None = None,
            start: np.ndarray | None = None) -> FellegiSunter:
        """``n_pairs``: how many record pairs exist (used with ``prior="random"``); default n(n-1)/2 with n
        inferred from the row positions seen, an overestimate for linkage (a more cautious prior). ``start``:
        a posterior per candidate to start EM from (a previous fit's) instead of the obvious matches."""
        if self.prior not in ("candidates", "random"):
            raise ValueError(f"prior must be 'candidates' or 'random', not {self.prior!r}")
        outside = candidates.outside_rules
        if outside is not None:
            # EM learns from the rules' candidates alone; pairs outside the rules are only scored (fitted on
            # them too, EM moved to another split on transactions: F1 0.65 -> 0.32)
            n = max(_n_rows(candidates), _n_rows(random_pairs))
            inside = candidates.subset(~outside, sims=False)  # EM reads no similarity
            inside.outside_rules = None
            return self.fit(inside, random_pairs, n_pairs if n_pairs is not None else max(n * (n - 1) // 2, 1),
                            None if start is None else start[~outside])
        self.n_levels_ = dict(candidates.n_levels)
        self.u_random_ = {c: self._distribution(random_pairs.levels[c], k, None) for c, k in self.n_levels_.items()}
        self.row_tf_ = _row_term_freqs(candidates, random_pairs)
        n = max(_n_rows(candidates), _n_rows(random_pairs))
        self.n_pairs_ = n_pairs if n_pairs is not None else max(n * (n - 1) // 2, 1)
        # start u at the candidates' own distribution (most candidates are non-matches): starting from the
        # random-pair u makes every blocked pair look like a match and EM collapses to lambda = 1
        source = candidates if self.estimate_u and self.prior == "candidates" else random_pairs
        self.u_ = {c: self._distribution(source.levels[c], k, None) for c, k in self.n_levels_.items()}
        self.parent_: dict[str, str | None] = {c: None for c in self.n_levels_}
        self.m_cond_: dict[str, np.ndarray] = {}
        self.u_cond_: dict[str, np.ndarray] = {}
        self._m_step(candidates, self._seed_posterior(candidates) if start is None else start)
        self._em(candidates)
        if self.dependence == "tree":
            # the structure is read off the independent fit's classes, then EM goes on with each column
            # conditioned on its parent (matcher.fs_tree)
            posterior = self.predict_proba(candidates)
            self.parent_ = chow_liu_parents(candidates.levels, self.n_levels_, posterior)
            self.u_random_cond_ = {c: self._conditional(random_pairs, c, None, self.u_random_[c])
                                   for c in self.n_levels_ if self.parent_[c] is not None}
            self._m_step(candidates, posterior)
            self._em(candidates)
        elif self.dependence != "none":
            raise ValueError(f"dependence must be 'tree' or 'none', not {self.dependence!r}")
        self.__dict__.pop("_present", None)  # the fit's working caches: not part of the model
        self.__dict__.pop("_clear", None)
        return self

    def _em(self, candidates: PairFeatures) -> None:
        self.n_iter_ = 0
        for iteration in range(1, self.max_iter + 1):
            self.n_iter_ = iteration
            old = {**self.m_, **{f"~{c}": t for c, t in self.m_cond_.items()}}
            old_lambda = self.lambda_
            self._m_step(candidates, self.predict_proba(candidates))
            new = {**self.m_, **{f"~{c}": t for c, t in self.m_cond_.items()}}
            shift = max(max(np.abs(new[c] - old[c]).max() for c in old), abs(self.lambda_ - old_lambda))
            if shift < self.tol:
                break

    def _conditional(self, pairs: PairFeatures, column: str, weights: np.ndarray | None,
                     marginal: np.ndarray, floor: float = 0.0) -> np.ndarray:
        """P(level of ``column`` | its parent's state) over ``pairs`` (weighted), shape (states, levels)."""
        given = parent_states(pairs.levels, self.n_levels_, self.parent_, column)
        return conditional_table(pairs.levels[column], self.n_levels_[column], given,
                                 n_states(self.n_levels_, self.parent_, column), weights, marginal, floor)

    def _m_step(self, candidates: PairFeatures, posterior: np.ndarray) -> None:
        # m is floored (a match can disagree on any column now and then: typos, moves; without the floor EM
        # learns m=0 and one typo vetoes a pair with -18 bits); u is not: flooring it drowns rare agreements
        telling = self._telling_disagreements()  # read off the previous step's m and u, before they change
        self.m_ = {c: self._candidate_distribution(candidates, c, posterior, LEVEL_FLOOR) for c in self.n_levels_}
        self.lambda_ = float(np.clip(posterior.mean(), 1e-6, 1 - 1e-6))
        # a pair no rule proposed was found by sharing a name or code, the very agreement it is scored on: it
        # starts from the odds of any two records matching, not from the share of matches among the rules' pairs
        # (from those, a name shared by namesakes and nothing else came out at 0.77)
        self.prior_any_ = float(np.clip(posterior.sum() / self.n_pairs_, 1e-12, 0.5))
        children = [c for c, p in self.parent_.items() if p is not None]
        self.m_cond_ = {c: self._conditional(candidates, c, posterior, self.m_[c], LEVEL_FLOOR) for c in children}
        if self.group_guard:
            self._cap_near_levels(candidates, posterior, telling)
        if self.prior == "random":
            # non-candidate pairs count as non-matches: blocking keeps (nearly) every match
            self.prior_ = float(np.clip(posterior.sum() / self.n_pairs_, 1e-12, 0.5))
            self.u_cond_ = {c: self.u_random_cond_[c] for c in children}
            return
        self.prior_ = self.lambda_
        if self.estimate_u:
            rest = 1 - posterior
            self.u_ = {c: self._candidate_distribution(candidates, c, rest) for c in self.n_levels_}
            self.u_cond_ = {c: self._conditional(candidates, c, 1 - posterior, self.u_[c]) for c in children}
        else:
            self.u_cond_ = {c: self._conditional(candidates, c, None, self.u_[c]) for c in children}

    def _telling_disagreements(self) -> list[str]:
        """The columns whose clear disagreement counts against a match in the current model (m below u on
        level 0) and is the exception among matches (m below one half); none before the first M-step. A column
        most matches clearly disagree on (a product's description, a price) says little when it disagrees:
        leaving out its disagreements would select the best-documented matches instead of removing a group
        (Amazon-Google: the title's partial agreements, common among its matches, capped from 0.54 to 0.21)."""
        if not hasattr(self, "m_") or not hasattr(self, "u_"):
            return []
        return [c for c in self.n_levels_ if self.m_[c][0] < min(self.u_[c][0], 0.5)]

    def _cap_near_levels(self, candidates: PairFeatures, posterior: np.ndarray, telling: list[str]) -> None:
        """Cap each column's near levels (between clear disagreement and exact agreement: typos, a swapped name)
        at their share among the match class's pairs that clearly disagree on no *other* telling column.

        Among true matches the columns err independently, so leaving out the pairs that clearly disagree
        elsewhere changes no column's distribution; what it leaves out is a group admitted into the match class
        by what it shares (restaurants: a different restaurant in the same building, same address, the phone
        one digit off, another name), whose near agreements EM would otherwise learn as a match's typos and
        then admit more of the group on them (restaurants: m of a near phone 0.18 where the truth has 0.03).
        A cap, not a replacement: where errors exclude each other (one corrupted field per duplicate, as in
        RLdata10000) the subset shows more near agreements than the class, and the cap does not bind."""
        if not telling:
            return
        clear, n_clear, single, single_column = self._clear_disagreements(candidates, telling)
        # a column's kept pairs: those clearly disagreeing on no telling column, plus for a telling column those
        # clearly disagreeing on it alone (which add to its level 0 only)
        nowhere = np.where(n_clear == 0, posterior, 0.0)
        alone = np.bincount(single_column, weights=posterior[single], minlength=len(telling))
        for c, k in self.n_levels_.items():
            if k < 3:  # no level between clear disagreement and exact agreement
                continue
            counts = self._candidate_counts(candidates, c, nowhere)
            if c in clear:
                counts[0] += alone[telling.index(c)]
            subset = _floored(counts + 1e-3, LEVEL_FLOOR)  # smoothed as _candidate_distribution
            self.m_[c] = _capped_between(self.m_[c], subset)
            if c in self.m_cond_:
                weights = np.where((n_clear == 1) & clear[c], posterior, nowhere) if c in clear else nowhere
                table = self._conditional(candidates, c, weights, subset, LEVEL_FLOOR)
                self.m_cond_[c] = _capped_between(self.m_cond_[c], table)

    def _clear_disagreements(self, candidates: PairFeatures, telling: list[str]
                             ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
        """Per telling column the pairs clearly disagreeing on it; per pair on how many telling columns it does;
        the pairs doing so on one alone and that column's position in ``telling``. Kept for the fit while the
        telling columns stay the same (they rarely change between steps)."""
        key = (id(candidates), tuple(telling))
        if self.__dict__.get("_clear", (None,))[0] != key:
            clear = {c: candidates.levels[c] == 0 for c in telling}
            n_clear = np.zeros(len(candidates), dtype=np.int16)
            column = np.zeros(len(candidates), dtype=np.int16)
            for i, disagrees in enumerate(clear.values()):
                n_clear += disagrees
                column[disagrees] = i
            single = np.flatnonzero(n_clear == 1)
            self.__dict__["_clear"] = (key, clear, n_clear, single, column[single])
        _, clear, n_clear, single, single_column = self.__dict__["_clear"]
        return clear, n_clear, single, single_column

    def _seed_posterior(self, candidates: PairFeatures) -> np.ndarray:
        """Start EM from obvious matches (most present columns at their top level) rather than from guessed
        m/lambda: a guessed start lets EM settle on a split that is not the match split (lambda -> 1).

        A seed needs two columns present on both sides, or one where no pair ever has two (a single column
        of affiliation strings; two sources sharing only a title): without a seed EM links nothing."""
        top = np.zeros(len(candidates))
        present = np.zeros(len(candidates))
        for c, k in self.n_levels_.items():
            levels = candidates.levels[c]
            top += levels >= k - 1
            present += levels >= 0
        needed = min(2.0, float(present.max(initial=0.0)))
        return ((top >= self.seed_agreement * present) & (present >= max(needed, 1.0))).astype(np.float64)

    @staticmethod
    def _initial_m(k: int) -> np.ndarray:
        """Most matches agree exactly, few disagree: 0.7 on the top level, geometrically less below."""
        m = 0.3 * 0.5 ** np.arange(k - 1)[::-1]
        m = np.append(m / m.sum() * 0.3, 0.7) if k > 1 else np.ones(1)
        return m / m.sum()

    def _candidate_distribution(self, candidates: PairFeatures, column: str, weights: np.ndarray,
                                floor: float = 0.0) -> np.ndarray:
        """``_distribution`` of one column over the candidates (weighted)."""
        return _floored(self._candidate_counts(candidates, column, weights) + 1e-3, floor)  # as _distribution

    def _candidate_counts(self, candidates: PairFeatures, column: str, weights: np.ndarray) -> np.ndarray:
        """The weighted count of each level of one column over the candidates, the pairs where it is present
        found once per fit (EM asks for every column twice per iteration: the masks cost more than the counting)."""
        levels = candidates.levels[column]
        cache = self.__dict__.setdefault("_present", {})
        if column not in cache or cache[column][0] is not levels:
            where = np.flatnonzero(levels >= 0).astype(np.int32 if len(levels) < 2**31 else np.int64)
            cache[column] = (levels, where, levels[where])
        _, where, present = cache[column]
        return np.bincount(present, weights=weights[where], minlength=self.n_levels_[column]).astype(np.float64)

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
        return {c: self._column_weight(features, c) for c in self.n_levels_}

    def _column_weight(self, features: PairFeatures, c: str) -> np.ndarray:
        """``column_weights`` of one column: ``match_weight`` adds them up one at a time (held together they are a
        float64 per pair and column, 1.3 GB at 18M candidates and 9 columns)."""
        k = self.n_levels_[c]
        levels = features.levels[c]
        safe = np.clip(levels, 0, k - 1)
        given = parent_states(features.levels, self.n_levels_, self.parent_, c)
        weight = self.weight_table(c)[given, safe]
        if self.tf_adjust and c in features.tf:
            tf = features.tf[c]
            exact = (levels == k - 1) & ~np.isnan(tf)
            # only exact agreements take a value's rarity: computed on those alone (EM scores every
            # candidate each iteration, and most candidates do not agree exactly on a given column)
            rare = np.flatnonzero(exact & self._rarity_counts(c, given))
            weight[rare] += self._rarity(c, tf[rare], self._u_top(c, given[rare]))
            if self.cap_near:
                weight = self._capped_near(c, features, exact, given, weight)
        return np.where(levels >= 0, weight, 0.0)

    def weight_table(self, column: str) -> np.ndarray:
        """log2 m/u per (parent state, level) of one column, shape (states, levels), under two safeguards
        against EM's known failures: an agreement never weighs more than against random pairs (blocking makes
        non-matches more alike than random pairs, never less: a u among candidates below the random pairs' u
        is EM's error: historical figures had 'thomas hunt' vs 'thomas anstey guthrie' at +10.5 bits), and
        clear disagreement (level 0) never counts for a match (EM learnt +4.9 bits for a *different* birth
        place where blocking made the same birth place common among non-matches). They bind inside EM too
        (applied to the scores alone, historical figures kept 0.62 F1 instead of 0.75), which slows its
        convergence: EM stops at Splink's tolerance (1e-4)."""
        if self.parent_[column] is None:
            m, u = self.m_[column][None, :], self.u_[column][None, :]
        else:
            m, u = self.m_cond_[column], self.u_cond_[column]
        weight = np.log2(m / u)
        weight[:, 1:] = np.minimum(weight[:, 1:], np.log2(m / self.u_random_[column][None, :])[:, 1:])
        weight[:, 0] = np.minimum(weight[:, 0], 0.0)
        return weight

    def _u_top(self, column: str, given: np.ndarray) -> np.ndarray:
        """The u of exact agreement of each pair (under its parent's state)."""
        if self.parent_[column] is None:
            return np.full(len(given), self.u_[column][-1])
        return self.u_cond_[column][given, -1]

    def _rarity(self, column: str, tf: np.ndarray, u_top: np.ndarray) -> np.ndarray:
        """How much more (or less) an exact agreement on values of these term frequencies says than an
        average exact agreement: the u of exact agreement scaled by the value's frequency relative to the
        random pairs' exact-agreement rate, a probability (at most 1) like any u."""
        k = self.n_levels_[column]
        scaled = np.nan_to_num(tf, nan=1.0) * u_top / self.u_random_[column][k - 1]
        return np.log2(u_top) - np.log2(np.clip(scaled, TF_FLOOR, 1.0))

    def _capped_near(self, column: str, features: PairFeatures, exact: np.ndarray, given: np.ndarray,
                     weight: np.ndarray) -> np.ndarray:
        """A typo of a value is no stronger evidence than agreeing on the value itself (under the same parent
        state): lower levels are capped at the exact weight of the commoner of the two values (as Splink
        TF-adjusts fuzzy levels)."""
        common = np.fmax(self._row_tf(column, features.left), self._row_tf(column, features.right))
        capped = ~exact & ~np.isnan(common)
        exact_weight = self.weight_table(column)[given, -1]
        exact_weight = np.where(self._rarity_counts(column, given),
                                exact_weight + self._rarity(column, common, self._u_top(column, given)), exact_weight)
        return np.where(capped, np.minimum(weight, exact_weight), weight)

    def _rarity_counts(self, column: str, given: np.ndarray) -> np.ndarray | bool:
        """Whether a value's rarity adds to an exact agreement: not when the parent agrees exactly too (the
        rarity of a full name already speaks for its first name)."""
        parent = self.parent_[column]
        return True if parent is None else given != self.n_levels_[parent] - 1

    def _row_tf(self, column: str, rows: np.ndarray) -> np.ndarray:
        known = self.row_tf_[column]
        inside = rows < len(known)
        return np.where(inside, known[np.where(inside, rows, 0)], np.nan)

    def match_weight(self, features: PairFeatures) -> np.ndarray:
        """Total log2 Bayes factor plus the prior log odds: the model's log2 odds of a match."""
        total = np.full(len(features), np.log2(self.prior_ / (1 - self.prior_)))
        if features.outside_rules is not None:
            prior_any = getattr(self, "prior_any_", self.prior_)
            total[features.outside_rules] = np.log2(prior_any / (1 - prior_any))
        for c in self.n_levels_:
            total += self._column_weight(features, c)
        return total

    def predict_proba(self, features: PairFeatures) -> np.ndarray:
        return 1.0 / (1.0 + np.exp2(-np.clip(self.match_weight(features), -60, 60)))

    def to_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The fitted model as JSON-able values and named arrays (per column, by position in ``columns``), as a
        saved model holds it (``matcher.model_file``); ``from_dict`` reads it back (``group_guard`` acts during the fit
        only, which the saved m already reflects: not kept, so the file is as before). The rows' term frequencies
        (``row_tf_``) describe the data, not the model: ``from_dict`` takes them from the data it is applied to."""
        params = {"max_iter": self.max_iter, "tol": self.tol, "tf_adjust": self.tf_adjust,
                  "estimate_u": self.estimate_u, "seed_agreement": self.seed_agreement, "prior": self.prior,
                  "cap_near": self.cap_near, "dependence": self.dependence}
        columns = list(self.n_levels_)
        values = {"params": params, "columns": columns, "n_levels": [int(self.n_levels_[c]) for c in columns],
                  "lambda": float(self.lambda_), "prior": float(self.prior_), "n_iter": int(self.n_iter_),
                  "prior_any": float(getattr(self, "prior_any_", self.prior_)),
                  "n_pairs": int(self.n_pairs_), "parents": [self.parent_[c] for c in columns]}
        arrays: dict[str, np.ndarray] = {}
        for i, c in enumerate(columns):
            arrays[f"m.{i}"], arrays[f"u.{i}"], arrays[f"u_random.{i}"] = self.m_[c], self.u_[c], self.u_random_[c]
            if self.parent_[c] is not None:  # the tables given the parent's level (matcher.fs_tree)
                arrays[f"m_cond.{i}"], arrays[f"u_cond.{i}"] = self.m_cond_[c], self.u_cond_[c]
        return values, arrays

    @classmethod
    def from_dict(cls, values: dict[str, Any], arrays: dict[str, np.ndarray], candidates: PairFeatures,
                  random_pairs: PairFeatures) -> FellegiSunter:
        """The model ``to_dict`` gave, applied to data whose candidate and random pairs are these."""
        model = cls(**values["params"])
        columns = values["columns"]
        model.n_levels_ = dict(zip(columns, values["n_levels"], strict=True))
        model.m_ = {c: arrays[f"m.{i}"] for i, c in enumerate(columns)}
        model.u_ = {c: arrays[f"u.{i}"] for i, c in enumerate(columns)}
        model.u_random_ = {c: arrays[f"u_random.{i}"] for i, c in enumerate(columns)}
        model.lambda_, model.prior_ = float(values["lambda"]), float(values["prior"])
        model.prior_any_ = float(values.get("prior_any", values["prior"]))  # a model saved before it: no such pairs
        model.n_iter_, model.n_pairs_ = int(values["n_iter"]), int(values["n_pairs"])
        model.parent_ = dict(zip(columns, values["parents"], strict=True))
        children = [(i, c) for i, c in enumerate(columns) if model.parent_[c] is not None]
        model.m_cond_ = {c: arrays[f"m_cond.{i}"] for i, c in children}
        model.u_cond_ = {c: arrays[f"u_cond.{i}"] for i, c in children}
        model.row_tf_ = _row_term_freqs(candidates, random_pairs)
        return model


def _floored(counts: np.ndarray, floor: float) -> np.ndarray:
    """Counts as probabilities, none below ``floor``."""
    probs = np.maximum(counts / counts.sum(), floor)
    return probs / probs.sum()


def _capped_between(m: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """``m`` (levels on the last axis) with its levels strictly between the first and the last at most ``cap``'s,
    renormalised."""
    out = m.copy()
    out[..., 1:-1] = np.minimum(m[..., 1:-1], cap[..., 1:-1])
    return out / out.sum(axis=-1, keepdims=True)


def _n_rows(features: PairFeatures) -> int:
    return int(max(features.left.max(initial=-1), features.right.max(initial=-1))) + 1


def _row_term_freqs(*pair_sets: PairFeatures) -> dict[str, np.ndarray]:
    """Term frequency of each row's value, read off the pairs that agree exactly on it (NaN where none does):
    the features carry a term frequency only for equal values, yet capping a near agreement needs the
    frequency of the values compared. Row positions refer to the table the model is fitted on."""
    n = max(_n_rows(p) for p in pair_sets)
    out: dict[str, np.ndarray] = {}
    for column in pair_sets[0].tf:
        known = np.full(n, np.nan)
        for pairs in pair_sets:
            tf = pairs.tf[column]
            exact = ~np.isnan(tf)
            known[pairs.left[exact]] = tf[exact]
            known[pairs.right[exact]] = tf[exact]
        out[column] = known
    return out
