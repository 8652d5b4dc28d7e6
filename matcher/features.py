"""Similarity features for candidate pairs, vectorised and computed once per distinct value pair.

Each column type gets one primary similarity in [0, 1] (the one the Fellegi-Sunter model discretises into
levels) and a few secondary ones the supervised classifier may use. Missing on either side gives NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz import fuzz
from rapidfuzz.process import cpdist
from scipy import sparse

from matcher import column_types, extra_comparators, name_order, product
from matcher.comparators import tfidf_cosine
from matcher.progress import Progress
from matcher.settings import ColumnSettings
from matcher.table import Column, PreparedTable

PERCENT_SCORERS = (fuzz.token_set_ratio, fuzz.token_sort_ratio)
RECORD = "~record"  # the whole-record text's similarities: "~record:cos", "~record:cos3"


@dataclass
class PairFeatures:
    """Features of pairs (left[i], right[i]): continuous similarities and per-column FS levels."""

    left: np.ndarray
    right: np.ndarray
    sims: dict[str, np.ndarray]  # "col:measure" -> float32, NaN when missing
    levels: dict[str, np.ndarray]  # col -> int8 level (0 = dissimilar .. k = most similar), -1 missing
    tf: dict[str, np.ndarray]  # col -> term frequency of the value when both sides are equal, else NaN
    n_levels: dict[str, int]  # col -> number of FS levels
    # pairs no blocking rule proposed (``matcher.isolated``): their prior is that of any two records, None: none
    outside_rules: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.left)

    def subset(self, rows: np.ndarray, sims: bool = True) -> PairFeatures:
        """The features of some pairs (a boolean mask or positions); without their similarities unless ``sims``
        (the Fellegi-Sunter model reads levels and term frequencies only: at 1M records the similarities of the
        rules' pairs are a gigabyte, copied for nothing)."""
        return PairFeatures(self.left[rows], self.right[rows],
                            {k: v[rows] for k, v in self.sims.items()} if sims else {},
                            {k: v[rows] for k, v in self.levels.items()}, {k: v[rows] for k, v in self.tf.items()},
                            self.n_levels, None if self.outside_rules is None else self.outside_rules[rows])

    def without(self, column: str) -> PairFeatures:
        """The same pairs with one column treated as unknown (for ablation-based explanations)."""
        sims = {k: (np.full_like(v, np.nan) if k.split(":", 1)[0] == column else v) for k, v in self.sims.items()}
        levels = {k: (np.full_like(v, -1) if k == column else v) for k, v in self.levels.items()}
        tf = {k: (np.full_like(v, np.nan) if k == column else v) for k, v in self.tf.items()}
        return PairFeatures(self.left, self.right, sims, levels, tf, self.n_levels, self.outside_rules)

    def matrix(self) -> tuple[np.ndarray, list[str]]:
        """Dense float32 matrix for a classifier: similarities, then -log term frequencies."""
        names = list(self.sims) + [f"{c}:rarity" for c in self.tf]
        cols = list(self.sims.values()) + [-np.log(t) for t in self.tf.values()]
        if not cols:
            return np.zeros((len(self), 0), dtype=np.float32), names
        return np.column_stack(cols).astype(np.float32), names


def _unique_value_pairs(table: PreparedTable, column: str, left: np.ndarray, right: np.ndarray):
    """Which pairs have the column on both sides, the distinct value pairs (codes a, b) among them, and each
    such pair's position in those. A hash count (``pd.factorize``): ``np.unique`` sorts, with four int64
    temporaries per pair (at 1M records and 6M candidates, a few hundred MB over the features being built)."""
    codes = table.codes[column]
    cl, cr = codes[left], codes[right]
    present = (cl >= 0) & (cr >= 0)
    cl, cr = cl[present], cr[present]
    width = max(int(codes.max()) + 1, 1)
    inverse, keys = pd.factorize(np.minimum(cl, cr) * width + np.maximum(cl, cr))
    return present, keys // width, keys % width, inverse


def _string_sims(table: PreparedTable, col: Column, left: np.ndarray, right: np.ndarray):
    present, a, b, inverse = _unique_value_pairs(table, col.name, left, right)
    uniques = table.uniques[col.name]
    out = {}
    for measure, scorer in column_types.of(col).scorers:
        # C scorers only (a Python callable here is ~100x slower); fuzz ratios are on a 0-100 scale
        sims = cpdist(list(uniques[a]), list(uniques[b]), scorer=scorer, workers=-1, dtype=np.float32)
        if scorer in PERCENT_SCORERS:
            sims = sims / 100.0
        full = np.full(len(left), np.nan, dtype=np.float32)
        full[present] = np.asarray(sims, dtype=np.float32)[inverse]
        out[f"{col.name}:{measure}"] = full
    return out


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
            progress: Progress | None = None, extras: bool = True) -> PairFeatures:
    """All features of the given pairs (arrays of row positions); without the settings' extra comparators when not
    ``extras`` (they only feed the classifier, and recordlinkage compares pair by pair in Python)."""
    feats = PairFeatures(left, right, {}, {}, {}, {})
    for i, col in enumerate(table.columns):
        kind = column_types.of(col)
        sims = _string_sims(table, col, left, right)
        if kind.compare is not None:
            sims = kind.compare(table, col.name, left, right, sims)
        feats.sims.update(sims)
        feats.levels[col.name] = _levels(next(iter(sims.values())), kind.levels)  # on the primary similarity
        feats.n_levels[col.name] = len(kind.levels) + 1
        if kind.term_frequencies:
            feats.tf[col.name] = equal_tf(table, col.name, left, right)
        if progress:
            progress.update((i + 1) / len(table.columns))
    if name_order.has_crosswise(table):
        _add_crosswise(table, feats)
    for measure, matrix in zip(("cos", "cos3"), table.record_tfidf, strict=False):
        feats.sims[f"{RECORD}:{measure}"] = tfidf_cosine(matrix, table, None, left, right)
    for name, matrix in table.in_record_tfidf.items():
        feats.sims.update(_in_record(table, name, matrix, left, right))
    if extras:
        feats.sims.update(extra_comparators.similarities(table, left, right))
    return feats


def _add_crosswise(table: PreparedTable, feats: PairFeatures) -> None:
    """Swapped given name and surname: a level of their own on the name columns, and one classifier feature
    (``matcher.name_order``)."""
    names = name_order.name_columns(table)
    straight = {c.name: feats.sims[f"{c.name}:{column_types.of(c).scorers[0][0]}"] for c in names}
    swapped, best = name_order.crosswise(table, feats.left, feats.right, straight)
    for c in names:
        feats.levels[c.name] = name_order.with_swapped_level(feats.levels[c.name], swapped[c.name])
        feats.n_levels[c.name] += 1
    feats.sims[name_order.CROSS_FEATURE] = best


def _in_record(table: PreparedTable, column: str, matrix: sparse.csr_matrix, left: np.ndarray, right: np.ndarray
               ) -> dict[str, np.ndarray]:
    """Share of one side's column words found anywhere in the other side's record, (max, min) over the sides:
    a short title inside the other's title plus description, a manufacturer missing from its column on one
    side but named in that side's title."""
    hi, lo = product.containment_in(matrix, table.record_tfidf[0], left, right)
    missing = (table.codes[column][left] < 0) & (table.codes[column][right] < 0)
    hi[missing], lo[missing] = np.nan, np.nan
    return {f"{column}:in_record": hi, f"{column}:in_record_min": lo}


def context_similarities(features: PairFeatures, columns: list[ColumnSettings]) -> list[np.ndarray]:
    """The similarities whose best value per record is context for the classifier: each column type's own
    (``ColumnType.context``: free text's word cosine), in column order, then the whole record's word cosine."""
    names = [f"{c.name}:{column_types.of(c).context}" for c in columns if column_types.of(c).context]
    names += [f"{RECORD}:cos"] if f"{RECORD}:cos" in features.sims else []
    return [features.sims[name] for name in names]
