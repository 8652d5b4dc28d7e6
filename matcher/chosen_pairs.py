"""The bookkeeping of blocking's second rule pass (``matcher.blocking``, ``Blocker._support_pass``): the candidate
pairs chosen so far, each rule charged the distinct pairs it adds, and how many columns a pair's records agree on."""

from __future__ import annotations

import numpy as np


def columns_agreeing(keys: dict[str, np.ndarray], columns: list[str], left: np.ndarray,
                     right: np.ndarray) -> np.ndarray:
    """For each pair (``left``, ``right`` row positions), how many of ``columns`` its records share a blocking
    key of: the value itself or any derived key (``column~phonetic``, ``column~sorted``), so a spelling variant
    of a surname still counts. ``keys`` are a prepared table's integer codes, -1 where missing."""
    agree = np.zeros(len(left), dtype=np.int8)
    for column in columns:
        shared = np.zeros(len(left), dtype=bool)
        for key, codes in keys.items():
            if key.split("~", 1)[0] == column:
                shared |= (codes[left] == codes[right]) & (codes[left] >= 0)
        agree += shared
    return agree


class ChosenPairs:
    """Candidate pairs (sorted, unique pair ids) growing rule by rule, each rule charged the pairs it adds, up to
    ``budget`` distinct pairs. Building rules costs their own pairs: at most ``work`` in all, and once ``probe``
    pairs were built, only while at least ``MIN_YIELD`` of the pairs built were added. Where the first pass left
    nothing out (synth_1m: 8 rules built 27.6M pairs for 420 new ones, 16 s of CPU; synth_100k: 27 in 2.6M) the
    pass stops after the probe; on historical_figures_50k 1-2% of the pairs built were added from the third rule
    on, on kin_100k 0.05% in the first quarter budget and 0.6% in all (one in 1,000 stopped it there: F1 0.950
    -> 0.915). The bar sits between, an order of magnitude from either side."""

    MIN_YIELD = 0.0001

    def __init__(self, pair_ids: np.ndarray, budget: int, work: int, probe: int) -> None:
        self.pair_ids, self.budget, self.work, self.probe = pair_ids, budget, work, probe
        self.built = self.added = 0

    def may_try(self, pairs: int) -> bool:
        """Whether a rule of ``pairs`` pairs may still be built: room in the budget and the work, and a yield."""
        paying = self.built < self.probe or self.added >= self.MIN_YIELD * self.built
        return len(self.pair_ids) < self.budget and self.built + pairs <= self.work and paying

    def fresh(self, pair_ids: np.ndarray, pairs: int) -> np.ndarray:
        """The pairs (sorted, unique) of ``pair_ids`` not yet chosen; building them cost ``pairs``."""
        self.built += pairs
        found = np.unique(pair_ids)
        if not len(self.pair_ids):
            return found
        at = np.minimum(np.searchsorted(self.pair_ids, found), len(self.pair_ids) - 1)
        return found[self.pair_ids[at] != found]

    def add(self, fresh: np.ndarray) -> bool:
        """Keep ``fresh`` (sorted, none chosen yet) if they fit the budget."""
        if len(self.pair_ids) + len(fresh) > self.budget:
            return False
        self.pair_ids = np.insert(self.pair_ids, np.searchsorted(self.pair_ids, fresh), fresh)  # a linear merge
        self.added += len(fresh)
        return True
