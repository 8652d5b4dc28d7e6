"""Term frequencies counted over entities, not records.

Term-frequency adjustment weighs an exact agreement by how rare the value is: its u is the chance that a
random *non-matching* pair shares it. Counted over records, a value repeated by one large entity looks
common although few entities hold it: on the kin generator one person with 69 records made her own name
and e-mail address weak evidence (an exact agreement on 'kimberly johnson' weighed -0.7 bits) and the cold
start left most of her records apart. Counted over the entities of a first unsupervised pass (its clusters,
from average linkage, not connected components: a chain through common names would make them look rare),
each entity holds a value once. The cold start is then fitted again with these frequencies.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from matcher.features import PairFeatures, equal_tf
from matcher.table import PreparedTable


def entity_term_freqs(table: PreparedTable, entity: np.ndarray, columns: list[str]) -> dict[str, np.ndarray]:
    """Per column, each row's value's share of the entities holding a value in that column (NaN if missing).
    ``entity``: an entity number per row."""
    out = {}
    for column in columns:
        codes = table.codes[column]
        valid = codes >= 0
        tf = np.full(len(codes), np.nan)
        if valid.any():
            width = int(entity.max()) + 1
            held = np.unique(codes[valid].astype(np.int64) * width + entity[valid])  # (value, entity) once each
            holders = np.bincount(held // width, minlength=int(codes.max()) + 1)
            tf[valid] = holders[codes[valid]] / len(np.unique(entity[valid]))
        out[column] = tf
    return out


def recount(table: PreparedTable, entity: np.ndarray, *pair_sets: PairFeatures) -> None:
    """Replace the table's term frequencies by ``entity_term_freqs`` and the pairs' exact-agreement
    frequencies with them (in place: the table and features are the fit's own, built moments before)."""
    columns = list(pair_sets[0].tf)
    table.term_freq.update(entity_term_freqs(table, entity, columns))
    for pairs in pair_sets:
        for column in columns:
            pairs.tf[column] = equal_tf(table, column, pairs.left, pairs.right)


def value_term_freqs(table: PreparedTable, columns: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per column, its distinct values and their term frequencies as the table holds them: what a saved model
    keeps, so that applied to the same data it scores exactly as fitted (``use_value_term_freqs``)."""
    out = {}
    for column in columns:
        codes, tf = table.codes[column], table.term_freq[column]
        freq = np.full(len(table.uniques[column]), np.nan)
        valid = codes >= 0
        freq[codes[valid]] = tf[valid]
        out[column] = (np.asarray(table.uniques[column], dtype=str), freq)
    return out


def use_value_term_freqs(table: PreparedTable, saved: Mapping[str, tuple[np.ndarray | pd.Index, np.ndarray]]
                        ) -> None:
    """Give the table's rows the saved frequency of their value where the model saw it (new values keep the
    table's own, counted over its records). The values may come as an index (built once, looked up often)."""
    for column, (values, freq) in saved.items():
        if column not in table.term_freq or not len(table.uniques[column]):  # no value at all (every row missing)
            continue
        index = values if isinstance(values, pd.Index) else pd.Index(values)
        at = index.get_indexer(np.asarray(table.uniques[column], dtype=str))
        codes = table.codes[column]
        known = (codes >= 0) & (at[np.maximum(codes, 0)] >= 0)
        table.term_freq[column] = np.where(known, freq[at[np.maximum(codes, 0)]], table.term_freq[column])
