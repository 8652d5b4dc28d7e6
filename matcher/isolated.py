"""Candidates for the records no blocking rule reached: each meets the records of its most specific blocks.

The rules are chosen for the table as a whole (``matcher.blocking``): conjunctions of two keys, cheapest per
record first, until the pair budget is spent. A record that fills few columns (a name and an employer code,
a name alone) meets none of them, so it is never a candidate and can only come out alone, whatever its
entity: on person data with 30-60% empty columns these records held nearly 9 in 10 of the missed pairs.
Here each such record gets the partners of the keys it does have, taken from its smallest blocks first (the
rarest value it shares with anyone), until it has ``wanted`` partners: every member of a block of up to
``max_block`` records, ``wanted`` random members of a larger one. The cost is at most a few blocks per
isolated record, so linear in the table.

Such a pair was found by sharing the very name or code it is then scored on, so the model scores it from the
odds of any two records matching, not from the share of matches among the rules' candidates
(``PairFeatures.outside_rules``, ``FellegiSunter.prior_any_``): scored like the rules' pairs, a name shared
by namesakes and nothing else came out at 0.77, and kin_100k's namesakes chained into clusters of dozens
(precision 0.945 -> 0.847). From the odds of any two records, only strong evidence links them. EM does not
learn from them (``FellegiSunter.fit`` fits on the rules' pairs alone: fitted on them too, transactions fell from
0.65 to 0.32); the cold start's symptoms are read on the rules' pairs too (``matcher.cold_start.symptoms``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# a record tries at most this many of its blocks, smallest first (a rare name, then a name with a town, ...)
BLOCKS_TRIED = 3


def isolated_rows(n: int, pair_ids: np.ndarray) -> np.ndarray:
    """Rows in no candidate pair (``pair_ids``: i*n+j)."""
    seen = np.zeros(n, dtype=bool)
    seen[pair_ids // n] = True
    seen[pair_ids % n] = True
    return np.flatnonzero(~seen)


def partners_of_isolated(rule_codes: Iterable[np.ndarray], pair_ids: np.ndarray, source: np.ndarray | None,
                         max_block: int, wanted: int, seed: int = 0) -> np.ndarray:
    """Pair ids (i*n+j, i<j, unique, sorted) pairing each row in no pair of ``pair_ids`` with the members of its
    smallest blocks among ``rule_codes`` (a code per row for each rule, -1 where the row lacks the key). With
    ``source`` (linkage), only pairs across sources.

    ``rule_codes`` may be a generator: each rule's codes are read once and only the blocks holding an isolated
    row are kept (``_Blocks``), so a rule's whole-table codes live one at a time (at 1M records, 75 rules' codes
    held together were 600 MB)."""
    codes_of = iter(rule_codes)
    first = next(codes_of, None)
    if first is None:
        return np.zeros(0, dtype=np.int64)
    n = len(first)
    rows = isolated_rows(n, pair_ids)
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    blocks = [_Blocks.of(first, rows)]
    del first
    blocks += [_Blocks.of(codes, rows) for codes in codes_of]
    sizes = np.stack([b.size for b in blocks], axis=1)  # 0: none
    order = np.argsort(np.where(sizes >= 2, sizes, np.iinfo(np.int32).max), axis=1, kind="stable")
    rng = np.random.default_rng(seed)
    found = np.zeros(len(rows), dtype=np.int64)
    chunks = []
    for turn in range(min(BLOCKS_TRIED, len(blocks))):
        rule = order[:, turn]
        size = sizes[np.arange(len(rows)), rule]
        hungry = (found < wanted) & (size >= 2)
        for r in np.unique(rule[hungry]):
            pick = hungry & (rule == r)
            left, right = blocks[r].partners(rows[pick], blocks[r].row_codes[pick], max_block, wanted, rng)
            if source is not None:
                keep = source[left] != source[right]
                left, right = left[keep], right[keep]
            found[pick] += np.bincount(np.searchsorted(rows[pick], left), minlength=int(pick.sum()))
            chunks.append(_encode(left, right, n))
    return np.unique(np.concatenate(chunks)) if chunks else np.zeros(0, dtype=np.int64)


@dataclass
class _Blocks:
    """One rule's blocks that hold an isolated row and another record: their members (row positions) sorted by
    code as ``np.argsort(codes, kind="stable")`` orders them, and each isolated row's code and block size
    (0 where it lacks the key or is alone in its block)."""

    members: np.ndarray
    member_codes: np.ndarray
    row_codes: np.ndarray
    size: np.ndarray

    @classmethod
    def of(cls, codes: np.ndarray, rows: np.ndarray) -> _Blocks:
        small = np.int32 if len(codes) < 2**31 else np.int64
        valid = codes >= 0
        counts = np.bincount(codes[valid]) if valid.any() else np.zeros(1, dtype=np.int64)
        mine = codes[rows]
        size = np.where(mine >= 0, counts[np.maximum(mine, 0)], 0).astype(np.int32)
        kept = np.zeros(len(counts), dtype=bool)
        kept[mine[size >= 2]] = True
        members = np.flatnonzero(valid & kept[np.maximum(codes, 0)])
        members = members[np.argsort(codes[members], kind="stable")]
        return cls(members.astype(small), codes[members].astype(small), mine.astype(small), size)

    def partners(self, rows: np.ndarray, row_codes: np.ndarray, max_block: int, wanted: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(row, partner) for each of ``rows`` (sorted; ``row_codes`` their codes) and the other members of its
        block: all of them in a block of up to ``max_block``, ``wanted`` drawn at random (with repeats) in a
        larger one."""
        start = np.searchsorted(self.member_codes, row_codes, side="left")
        size = np.searchsorted(self.member_codes, row_codes, side="right") - start
        take = np.where(size <= max_block, size, wanted)
        left = np.repeat(rows, take)
        offset = np.arange(int(take.sum())) - np.repeat(np.cumsum(take) - take, take)
        drawn = np.repeat(size > max_block, take)
        offset[drawn] = (rng.random(int(drawn.sum())) * np.repeat(size, take)[drawn]).astype(np.int64)
        right = self.members[np.repeat(start, take) + offset].astype(np.int64)
        keep = left != right
        return left[keep], right[keep]


def _encode(left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    lo, hi = np.minimum(left, right), np.maximum(left, right)
    return lo.astype(np.int64) * n + hi
