"""Given name and surname swapped between two records ("Smith John" for "John Smith"): evidence, not disagreement.

Per-column comparison sees a swapped pair as two clear name disagreements, the strongest evidence against a match
the model has, although a swap is a common data-entry error (21% of the missed true pairs of a 1M-record synthetic
run). Where a table has two or more ``person_name`` columns (found by type, never by name), the two most often
filled are also compared crosswise: left's first with right's second and left's second with right's first. A record
pair whose names agree crosswise (both pairings at the type's high similarity level or above) but not straight gets,
on each of those name columns that does not agree straight, a Fellegi-Sunter level of its own, ``SWAPPED`` (between
clear disagreement and the fuzzy levels), whose m and u EM estimates like any level's: how much a swap weighs comes
from the data. The classifier gets the best crosswise similarity as one feature, ``~names:cross``.

A table with fewer than two person-name columns is compared exactly as before (same levels, same features).
"""

from __future__ import annotations

import itertools

import numpy as np
from rapidfuzz.process import cpdist

from matcher import column_types
from matcher.table import Column, PreparedTable

NAME_TYPE = "person_name"
SWAPPED = 1  # the level index: 0 stays clear disagreement, the straight levels above it move up by one
CROSS_FEATURE = "~names:cross"


def name_columns(table: PreparedTable) -> list[Column]:
    """The two person-name columns most often filled (the given name and surname; a second given name or a
    maiden name, filled for few records, is left as it was), in table order; none with fewer than two.

    Why not every pair: RLdata10000's second surname, filled on 150 of 74,144 candidate pairs, took a swapped
    level correlated with the first surname's, which tipped the cold start to another model (F1 0.97 -> 0.59)."""
    if table.crosswise is not None:  # a saved model's choice (its comparison levels depend on it)
        return [c for c in table.columns if c.name in table.crosswise]
    names = [c for c in table.columns if c.type == NAME_TYPE]
    if len(names) < 2:
        return []
    filled = sorted(names, key=lambda c: -int((table.codes[c.name] >= 0).sum()))[:2]  # stable: ties keep order
    return [c for c in names if c in filled]


def has_crosswise(table: PreparedTable) -> bool:
    return bool(name_columns(table))


def high_threshold() -> float:
    """The name type's high similarity level (the one under exact): a crosswise agreement at or above it counts."""
    levels = sorted(column_types.REGISTRY[NAME_TYPE].levels, reverse=True)
    return levels[1] if len(levels) > 1 else levels[0]


def cross_similarity(table: PreparedTable, a: str, b: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The primary similarity of left's column ``a`` and right's column ``b``, NaN where either is missing;
    computed once per distinct value pair."""
    ca, cb = table.codes[a][left], table.codes[b][right]
    present = (ca >= 0) & (cb >= 0)
    width = max(int(table.codes[b].max()) + 1, 1)
    keys, inverse = np.unique(ca[present].astype(np.int64) * width + cb[present], return_inverse=True)
    scorer = column_types.REGISTRY[NAME_TYPE].scorers[0][1]
    sims = cpdist(list(table.uniques[a][keys // width]), list(table.uniques[b][keys % width]), scorer=scorer,
                  workers=-1, dtype=np.float32)
    out = np.full(len(left), np.nan, dtype=np.float32)
    out[present] = np.asarray(sims, dtype=np.float32)[inverse]
    return out


def crosswise(table: PreparedTable, left: np.ndarray, right: np.ndarray, straight: dict[str, np.ndarray]
              ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """For each name column, where the pair's names are swapped and this column does not agree straight (a boolean
    mask); and the best crosswise similarity over the pairs of name columns (NaN where no pairing is present).
    ``straight``: each name column's primary similarity of the pairs."""
    high = high_threshold()
    swapped = {c.name: np.zeros(len(left), dtype=bool) for c in name_columns(table)}
    best = np.full(len(left), np.nan, dtype=np.float32)
    for a, b in itertools.combinations([c.name for c in name_columns(table)], 2):
        # both pairings must agree: one shared word between a given name and a surname is no swap
        cross = np.fmin(cross_similarity(table, a, b, left, right), cross_similarity(table, b, a, left, right))
        best = np.fmax(best, cross)
        agree_straight = (straight[a] >= high) & (straight[b] >= high)
        pair_swapped = (cross >= high) & ~agree_straight
        for column in (a, b):
            swapped[column] |= pair_swapped & ~(straight[column] >= high)
    return swapped, best


def with_swapped_level(levels: np.ndarray, swapped: np.ndarray) -> np.ndarray:
    """A name column's straight levels with ``SWAPPED`` inserted above clear disagreement (missing stays -1)."""
    out = np.where(levels >= SWAPPED, levels + 1, levels).astype(np.int8)
    out[swapped] = SWAPPED
    return out
