"""Random record pairs: the non-match background the unsupervised model learns u probabilities from."""

from __future__ import annotations

import numpy as np


def random_pairs(n: int, size: int, source: np.ndarray | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``size`` distinct random pairs i != j (from different sources for linkage), deterministic."""
    rng = np.random.default_rng(seed)
    size = int(min(size, n * (n - 1) // 2))
    left = rng.integers(0, n, size=size * 2)
    right = rng.integers(0, n, size=size * 2)
    keep = left != right
    if source is not None:
        keep &= source[left] != source[right]
    left, right = left[keep], right[keep]
    lo, hi = np.minimum(left, right), np.maximum(left, right)
    ids = np.unique(lo.astype(np.int64) * n + hi)
    ids = rng.permutation(ids)[:size]
    return ids // n, ids % n
