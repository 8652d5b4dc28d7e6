"""Comparators for product-like free text: version numbers, token containment and price ratios.

Product titles differ in ways generic string similarity misreads: 'print shop 22 deluxe' and 'printshop v22
deluxe' are the same product while 'photoshop cs3' and 'photoshop cs4' are not, and one side often adds
words ('... - complete package - 1 user') to the other's title. All features are oriented like the others
(higher = more alike), NaN when a side has nothing to compare.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import sparse

from matcher.normalize import map_unique

NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


def _numbers(value: str) -> str:
    """Numbers in a value, so 'v22', '22' and 'deluxe22' agree and '10.0' equals '10'."""
    found = set()
    for raw in NUMBER_RE.findall(value):
        whole, _, frac = raw.partition(".")
        frac = frac.rstrip("0")
        found.add((whole.lstrip("0") or "0") + (f".{frac}" if frac else ""))
    return " ".join(sorted(found))


def version_numbers(norm: pd.Series) -> np.ndarray:
    """Per row, its distinct numbers as a sorted space-joined string (None when it has none)."""
    s = map_unique(norm, _numbers)
    return s.mask(s == "").to_numpy(dtype=object, na_value=None)


def _overlap(a: str, b: str) -> tuple[float, float]:
    x, y = set(a.split()), set(b.split())
    shared = len(x & y)
    return shared / min(len(x), len(y)), shared / len(x | y)


def number_agreement(numbers: np.ndarray, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(shared / smaller set, shared / union) of the two sides' numbers, once per distinct value pair.

    The first is 0 when the numbers conflict ('cs3' vs 'cs4', '2007' vs '2008'), 1 when one side's numbers
    all appear on the other; the second also counts extra numbers ('150 000' vs '150000').
    """
    codes, uniques = pd.factorize(pd.Series(numbers, dtype=object), use_na_sentinel=True)
    cl, cr = codes[left], codes[right]
    present = (cl >= 0) & (cr >= 0)
    subset = np.full(len(left), np.nan, dtype=np.float32)
    jaccard = np.full(len(left), np.nan, dtype=np.float32)
    if present.any():
        width = len(uniques)
        keys, inverse = np.unique(cl[present].astype(np.int64) * width + cr[present], return_inverse=True)
        pairs = np.array([_overlap(uniques[k // width], uniques[k % width]) for k in keys],
                         dtype=np.float32).reshape(-1, 2)
        subset[present] = pairs[inverse, 0]
        jaccard[present] = pairs[inverse, 1]
    return subset, jaccard


def containment(matrix: sparse.csr_matrix, left: np.ndarray, right: np.ndarray,
                chunk: int = 500_000) -> tuple[np.ndarray, np.ndarray]:
    """Share of each side's TF-IDF mass (squared weights) on words the other side also has: (max, min)
    over the two sides. A short title fully inside a long one scores max 1 however much the long one adds."""
    hi = np.empty(len(left), dtype=np.float32)
    lo = np.empty(len(left), dtype=np.float32)
    squared = matrix.multiply(matrix).tocsr()
    present = matrix.copy()
    present.data = np.ones_like(present.data)
    for start in range(0, len(left), chunk):
        a, b = left[start:start + chunk], right[start:start + chunk]
        in_a = np.asarray(squared[a].multiply(present[b]).sum(axis=1)).ravel()
        in_b = np.asarray(squared[b].multiply(present[a]).sum(axis=1)).ravel()
        hi[start:start + len(a)] = np.maximum(in_a, in_b)
        lo[start:start + len(a)] = np.minimum(in_a, in_b)
    return hi, lo


def containment_in(part: sparse.csr_matrix, whole: sparse.csr_matrix, left: np.ndarray, right: np.ndarray,
                   chunk: int = 500_000) -> tuple[np.ndarray, np.ndarray]:
    """Like ``containment`` but looking one side's ``part`` (one column) up in the other side's ``whole`` (the
    record; same vocabulary): (max, min) over the two directions, NaN for a side with an empty part."""
    hi = np.empty(len(left), dtype=np.float32)
    lo = np.empty(len(left), dtype=np.float32)
    squared = part.multiply(part).tocsr()
    present = whole.copy()
    present.data = np.ones_like(present.data)
    mass = np.asarray(squared.sum(axis=1)).ravel()
    for start in range(0, len(left), chunk):
        a, b = left[start:start + chunk], right[start:start + chunk]
        with np.errstate(invalid="ignore", divide="ignore"):
            in_b = np.asarray(squared[a].multiply(present[b]).sum(axis=1)).ravel() / mass[a]
            in_a = np.asarray(squared[b].multiply(present[a]).sum(axis=1)).ravel() / mass[b]
        hi[start:start + len(a)] = np.fmax(in_a, in_b)
        lo[start:start + len(a)] = np.fmin(in_a, in_b)
    return hi, lo


def price_closeness(values: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """-|log2(a / b)| for two positive amounts: 0 when equal, -1 at a factor of two. Zero or negative amounts
    are NaN: a price of 0 is a placeholder for 'unknown' far more often than a free product."""
    a, b = values[left], values[right]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = -np.abs(np.log2(a / b))
    out[~((a > 0) & (b > 0))] = np.nan
    return out.astype(np.float32)
