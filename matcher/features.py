"""Similarity features for candidate pairs, vectorised and computed once per distinct value pair.

Each column type gets one primary similarity in [0, 1] (the one the Fellegi-Sunter model discretises into
levels) and a few secondary ones the supervised classifier may use. Missing on either side gives NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler, Levenshtein
from rapidfuzz.process import cpdist
from scipy import sparse

from matcher import product
from matcher.prepare import CHAR_TFIDF_MAX_ROWS, PreparedTable
from matcher.progress import Progress
from matcher.settings import ColumnSettings

Scorer = Callable[..., float]

# column type -> string scorers, the first being the primary similarity
STRING_SCORERS: dict[str, list[tuple[str, Scorer]]] = {
    "person_name": [("jw", JaroWinkler.normalized_similarity), ("tsort", fuzz.token_sort_ratio)],
    "categorical": [("jw", JaroWinkler.normalized_similarity)],
    "free_text": [("tset", fuzz.token_set_ratio)],
    "email": [("jw", JaroWinkler.normalized_similarity)],
    "short_code": [("lev", Levenshtein.normalized_similarity)],
    "number": [("lev", Levenshtein.normalized_similarity)],
    "postcode": [("lev", Levenshtein.normalized_similarity)],
    "phone": [("lev", Levenshtein.normalized_similarity)],
    "date": [("osa", OSA.normalized_similarity)],
}

PERCENT_SCORERS = (fuzz.token_set_ratio, fuzz.token_sort_ratio)

# column type -> thresholds on the primary similarity defining Fellegi-Sunter levels (highest first)
LEVEL_THRESHOLDS: dict[str, tuple[float, ...]] = {
    "person_name": (1.0, 0.92, 0.8),
    "categorical": (1.0, 0.9),
    "free_text": (0.9, 0.7, 0.5, 0.3),
    "email": (1.0, 0.9, 0.8),
    "short_code": (1.0, 0.8, 0.6),
    "number": (1.0, 0.75, 0.5),
    "postcode": (1.0, 0.8, 0.6),
    "phone": (1.0, 0.85, 0.7),
    "date": (1.0, 0.875, 0.75),
}

TF_TYPES = {"person_name", "categorical", "postcode", "email"}


@dataclass
class PairFeatures:
    """Features of pairs (left[i], right[i]): continuous similarities and per-column FS levels."""

    left: np.ndarray
    right: np.ndarray
    sims: dict[str, np.ndarray]  # "col:measure" -> float32, NaN when missing
    levels: dict[str, np.ndarray]  # col -> int8 level (0 = dissimilar .. k = most similar), -1 missing
    tf: dict[str, np.ndarray]  # col -> term frequency of the value when both sides are equal, else NaN
    n_levels: dict[str, int]  # col -> number of FS levels

    def __len__(self) -> int:
        return len(self.left)

    def subset(self, rows: np.ndarray) -> PairFeatures:
        """The features of some pairs (a boolean mask or positions)."""
        return PairFeatures(self.left[rows], self.right[rows], {k: v[rows] for k, v in self.sims.items()},
                            {k: v[rows] for k, v in self.levels.items()}, {k: v[rows] for k, v in self.tf.items()},
                            self.n_levels)

    def without(self, column: str) -> PairFeatures:
        """The same pairs with one column treated as unknown (for ablation-based explanations)."""
        sims = {k: (np.full_like(v, np.nan) if k.split(":", 1)[0] == column else v) for k, v in self.sims.items()}
        levels = {k: (np.full_like(v, -1) if k == column else v) for k, v in self.levels.items()}
        tf = {k: (np.full_like(v, np.nan) if k == column else v) for k, v in self.tf.items()}
        return PairFeatures(self.left, self.right, sims, levels, tf, self.n_levels)

    def matrix(self) -> tuple[np.ndarray, list[str]]:
        """Dense float32 matrix for a classifier: similarities, then -log term frequencies."""
        names = list(self.sims) + [f"{c}:rarity" for c in self.tf]
        cols = list(self.sims.values()) + [-np.log(t) for t in self.tf.values()]
        if not cols:
            return np.zeros((len(self), 0), dtype=np.float32), names
        return np.column_stack(cols).astype(np.float32), names


def _unique_value_pairs(table: PreparedTable, column: str, left: np.ndarray, right: np.ndarray):
    codes = table.codes[column]
    cl, cr = codes[left], codes[right]
    present = (cl >= 0) & (cr >= 0)
    lo, hi = np.minimum(cl, cr)[present], np.maximum(cl, cr)[present]
    width = max(int(codes.max()) + 1, 1)
    keys, inverse = np.unique(lo * width + hi, return_inverse=True)
    return present, keys // width, keys % width, inverse


def _string_sims(table: PreparedTable, col: ColumnSettings, left: np.ndarray, right: np.ndarray):
    present, a, b, inverse = _unique_value_pairs(table, col.name, left, right)
    uniques = table.uniques[col.name]
    out = {}
    for measure, scorer in STRING_SCORERS[col.type]:
        # C scorers only (a Python callable here is ~100x slower); fuzz ratios are on a 0-100 scale
        sims = cpdist(list(uniques[a]), list(uniques[b]), scorer=scorer, workers=-1, dtype=np.float32)
        if scorer in PERCENT_SCORERS:
            sims = sims / 100.0
        full = np.full(len(left), np.nan, dtype=np.float32)
        full[present] = np.asarray(sims, dtype=np.float32)[inverse]
        out[f"{col.name}:{measure}"] = full
    return out


def _tfidf_cosine(matrix, table: PreparedTable, column: str | None, left: np.ndarray, right: np.ndarray,
                  chunk: int = 500_000) -> np.ndarray:
    out = np.empty(len(left), dtype=np.float32)
    for start in range(0, len(left), chunk):
        sl = slice(start, start + chunk)
        out[sl] = np.asarray(matrix[left[sl]].multiply(matrix[right[sl]]).sum(axis=1)).ravel()
    if column is not None:
        out[(table.codes[column][left] < 0) | (table.codes[column][right] < 0)] = np.nan
    return out


def _code_overlap(tokens: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Jaccard of digit-bearing tokens (model numbers): NaN unless both sides have some."""
    codes, uniques = _factorize(tokens)
    cl, cr = codes[left], codes[right]
    present = (cl >= 0) & (cr >= 0)
    out = np.full(len(left), np.nan, dtype=np.float32)
    if present.any():
        a, b = uniques[cl[present]], uniques[cr[present]]
        sims = cpdist(list(a), list(b), scorer=fuzz.token_set_ratio, workers=-1, dtype=np.float32)
        exact = np.fromiter((len(set(x.split()) & set(y.split())) > 0 for x, y in zip(a, b, strict=True)),
                            dtype=bool, count=len(a))
        out[present] = np.where(exact, 0.5 + sims / 200.0, sims / 200.0)
    return out


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def _relative(table: PreparedTable, column: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    a, b = table.numbers[column][left], table.numbers[column][right]
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = 1.0 - np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))
    rel[(a == 0) & (b == 0)] = 1.0
    return rel.astype(np.float32)


def _product_text(table: PreparedTable, column: str, left: np.ndarray, right: np.ndarray) -> dict[str, np.ndarray]:
    """Version-number agreement and word containment (see ``matcher.product``)."""
    subset, jaccard = product.number_agreement(table.version_numbers[column], left, right)
    hi, lo = product.containment(table.tfidf[column], left, right)
    missing = (table.codes[column][left] < 0) | (table.codes[column][right] < 0)
    hi[missing], lo[missing] = np.nan, np.nan
    return {f"{column}:nums": subset, f"{column}:numsj": jaccard, f"{column}:within": hi, f"{column}:within_min": lo}


def _levels(sims: np.ndarray, thresholds: tuple[float, ...]) -> np.ndarray:
    levels = np.zeros(len(sims), dtype=np.int8)
    for i, threshold in enumerate(sorted(thresholds)):
        levels[sims >= threshold - 1e-6] = i + 1
    levels[np.isnan(sims)] = -1
    return levels


def equal_tf(table: PreparedTable, column: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    codes = table.codes[column]
    equal = (codes[left] == codes[right]) & (codes[left] >= 0)
    return np.where(equal, table.term_freq[column][left], np.nan)


def compare(table: PreparedTable, left: np.ndarray, right: np.ndarray,
            progress: Progress | None = None) -> PairFeatures:
    """All features of the given pairs (arrays of row positions)."""
    feats = PairFeatures(left, right, {}, {}, {}, {})
    for i, col in enumerate(table.columns):
        sims = _string_sims(table, col, left, right)
        if col.type == "free_text":
            sims = {f"{col.name}:cos": _tfidf_cosine(table.tfidf[col.name], table, col.name, left, right),
                    **sims, f"{col.name}:codes": _code_overlap(table.code_tokens[col.name], left, right)}
            if col.name in table.char_tfidf:
                sims[f"{col.name}:cos3"] = _tfidf_cosine(table.char_tfidf[col.name], table, col.name, left, right)
            if col.name in table.version_numbers:
                sims.update(_product_text(table, col.name, left, right))
        if col.type == "number":
            sims[f"{col.name}:rel"] = _relative(table, col.name, left, right)
            if table.n <= CHAR_TFIDF_MAX_ROWS:
                sims[f"{col.name}:log2"] = product.price_closeness(table.numbers[col.name], left, right)
        feats.sims.update(sims)
        feats.levels[col.name] = _levels(next(iter(sims.values())), LEVEL_THRESHOLDS[col.type])
        feats.n_levels[col.name] = len(LEVEL_THRESHOLDS[col.type]) + 1
        if col.type in TF_TYPES:
            feats.tf[col.name] = equal_tf(table, col.name, left, right)
        if progress:
            progress.update((i + 1) / len(table.columns))
    for measure, matrix in zip(("cos", "cos3"), table.record_tfidf, strict=False):
        feats.sims[f"~record:{measure}"] = _tfidf_cosine(matrix, table, None, left, right)
    for name, matrix in table.in_record_tfidf.items():
        feats.sims.update(_in_record(table, name, matrix, left, right))
    return feats


def _in_record(table: PreparedTable, column: str, matrix: sparse.csr_matrix, left: np.ndarray, right: np.ndarray
               ) -> dict[str, np.ndarray]:
    """Share of one side's column words found anywhere in the other side's record, (max, min) over the sides:
    a short title inside the other's title plus description, a manufacturer missing from its column on one
    side but named in that side's title."""
    hi, lo = product.containment_in(matrix, table.record_tfidf[0], left, right)
    missing = (table.codes[column][left] < 0) & (table.codes[column][right] < 0)
    hi[missing], lo[missing] = np.nan, np.nan
    return {f"{column}:in_record": hi, f"{column}:in_record_min": lo}
