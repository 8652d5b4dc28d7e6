"""Turn raw string columns into what comparators and blocking keys need, once per dataset.

The result, ``PreparedTable`` (``matcher.table``), is the shared input of blocking and scoring: normalised values
per column (coded), integer-coded blocking keys, term frequencies and, for free text, a TF-IDF matrix.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import sparse

from matcher import column_types
from matcher.comparators import CHAR_TFIDF_MAX_ROWS, tfidf, weigh_rows, word_counter
from matcher.progress import Progress
from matcher.reference import Reference
from matcher.settings import Settings
from matcher.table import PreparedTable

# a filler standing for "unknown": zeros (0, 0.0, 00000), n/a, none, null, unknown, dashes, question marks, 9999
PLACEHOLDER = r"^([0.\-\s]+|n[\s/]?a|none|null|nil|unknown|unk|missing|not available|tbd|\?+|x+|9{4,})$"
PLACEHOLDER_MIN_SHARE = 0.05


def placeholder(norm: pd.Series) -> str | None:
    """The column's most common value when it is a filler held by at least 5% of the rows, else None.
    Agreeing on it says nothing (patent holders' latitude '0.0' for every unknown location: 45% of rows), so
    it is read as missing; the same value as one value among many (a real 0) is left alone."""
    counts = norm.value_counts(dropna=True)
    if counts.empty or counts.iloc[0] < PLACEHOLDER_MIN_SHARE * len(norm):
        return None
    value = str(counts.index[0])
    return value if re.match(PLACEHOLDER, value.strip(), flags=re.IGNORECASE) else None


def _codes(series: pd.Series) -> np.ndarray:
    codes, _ = pd.factorize(series, use_na_sentinel=True)
    return codes.astype(np.int64)


def value_hashes(values: pd.Series) -> np.ndarray:
    """A 64-bit hash of each value, 0 where missing (a real value's hash is never 0)."""
    out = pd.util.hash_array(values.fillna("").to_numpy(dtype=object), categorize=True)
    out[out == 0] = 1
    out[values.isna().to_numpy()] = 0
    return out


def _term_freq(codes: np.ndarray, holders: int = 0) -> np.ndarray:
    """Each row's value's share of the rows holding a value, or of ``holders`` when given (a subset's rows among
    the whole's entities: ``matcher.reference``)."""
    valid = codes >= 0
    counts = np.bincount(codes[valid]) if valid.any() else np.zeros(0, dtype=np.int64)
    tf = np.full(len(codes), np.nan)
    tf[valid] = counts[codes[valid]] / max(holders or int(valid.sum()), 1)
    return tf


def prepare(df: pd.DataFrame, settings: Settings, progress: Progress | None = None,
            reference: Reference | None = None, keep_index: bool = False) -> PreparedTable:
    """``progress`` is told after each column: at 1M rows the stage takes ~15 s, a few seconds per column.
    ``reference``: the whole dataset's statistics when ``df`` is a subset of it (``matcher.reference``)."""
    table = PreparedTable(n=len(df), columns=settings.data_columns, codes={}, uniques={}, term_freq={},
                          reference=reference, keep_index=keep_index)
    # normalised strings only serve the whole-record text below: comparators work on codes and uniques, and
    # 1M Python strings per column would make the cached fit slow to load (seconds of unpickling per run)
    values: dict[str, np.ndarray] = {}
    for i, col in enumerate(settings.data_columns):
        if progress is not None:
            progress.update(i / len(settings.data_columns))
        kind = column_types.of(col)
        norm = kind.normaliser(df[col.name])
        filler = reference.placeholders.get(col.name) if reference is not None else placeholder(norm)
        if filler is not None:
            norm = norm.mask(norm == filler)
            table.placeholders[col.name] = filler
        values[col.name] = norm.to_numpy(dtype=object, na_value=None)
        codes, uniques = pd.factorize(norm, use_na_sentinel=True)
        table.codes[col.name] = codes.astype(np.int64)
        table.uniques[col.name] = np.asarray(uniques, dtype=object)
        table.term_freq[col.name] = _term_freq(table.codes[col.name], reference.entities if reference else 0)
        if col.blocking:
            for key, series in kind.blocking_keys(col.name, norm).items():
                table.keys[key] = _codes(series)
                if keep_index:
                    table.key_hashes[key] = value_hashes(series)
        if kind.prepare is not None:
            kind.prepare(table, col.name, norm, df[col.name])
    if settings.source_column:
        table.source = _codes(df[settings.source_column].fillna(""))
    table.extra_comparators = list(settings.extra_comparators)
    for extra in settings.extra_comparators:
        table.raw_values.update({c: df[c].to_numpy(dtype=object) for c in extra.columns})
    _record_text(table, values)
    return table


def _record_text(table: PreparedTable, values: dict[str, np.ndarray]) -> None:
    """TF-IDF of all text columns together: catches values in the 'wrong' column (a brand inside the title on
    one side, in the manufacturer column on the other)."""
    names = [c.name for c in table.columns if column_types.of(c).record_text]
    if len(names) < 2 or table.scale > CHAR_TFIDF_MAX_ROWS:
        return
    text = pd.Series([""] * table.n, dtype=object)
    for name in names:
        text = text + " " + pd.Series(values[name], dtype=object).fillna("")
    text = text.str.strip().replace("", None)
    # cross-column lookups only between sources: two sources fill the same columns differently (one names the
    # manufacturer in its title, one leaves descriptions empty); one source's duplicates do not (cora: -0.01 F1)
    worded = list(table.tfidf) if table.source is not None else []  # the columns with a word TF-IDF: free text
    words, table.in_record_tfidf = _shared_vocabulary_tfidf(table, text, {c: values[c] for c in worded})
    table.record_tfidf = [words, tfidf(text, "char", table, "~record:char")]


def _shared_vocabulary_tfidf(table: PreparedTable, text: pd.Series, columns: dict[str, np.ndarray]
                             ) -> tuple[sparse.csr_matrix, dict[str, sparse.csr_matrix]]:
    """Word TF-IDF of the record text (as ``comparators.tfidf``) and of each column's values in the same vocabulary and
    IDF, so a column's words can be looked up in the other record's text whichever column holds them."""
    counter = word_counter()
    codes, uniques = pd.factorize(text.fillna(""), use_na_sentinel=True)
    try:
        counts = counter.fit_transform(np.asarray(uniques, dtype=object)).tocsr()[codes]
    except ValueError:  # no text at all
        return sparse.csr_matrix((len(text), 1), dtype=np.float32), {}
    words, weighed = weigh_rows(counts, counter, table, "~record:word")
    per_column = {}
    for name, values in columns.items():
        col_codes, col_uniques = pd.factorize(pd.Series(values, dtype=object).fillna(""), use_na_sentinel=True)
        per_column[name] = weighed(counter.transform(np.asarray(col_uniques, dtype=object)).tocsr()[col_codes])
    return words, per_column
