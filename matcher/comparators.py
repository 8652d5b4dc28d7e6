"""What some column types add beyond string similarities: the data they prepare per column (TF-IDF, digit-bearing
tokens, numbers) and the similarities they compute from it. ``matcher.column_types`` names, per type, which of
these it uses; ``matcher.prepare`` and ``matcher.features`` call them through the registry.

The TF-IDF helpers also serve the whole-record text (``matcher.prepare``) and its cosine (``matcher.features``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from rapidfuzz import fuzz
from rapidfuzz.process import cpdist
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

from matcher import normalize, product
from matcher.reference import DocFreq, weigh

if TYPE_CHECKING:
    from matcher.table import PreparedTable

Sims = dict[str, np.ndarray]

CHAR_TFIDF_MAX_ROWS = 300_000


def tfidf(norm: pd.Series, analyzer: str = "word", table: PreparedTable | None = None,
          space: str | None = None) -> sparse.csr_matrix:
    """Word TF-IDF (rare shared words) or character 3-gram TF-IDF (robust to 'cs3' vs 'cs 3').

    Tokenised once per distinct value, then weighted over rows: the same matrix as vectorising every row,
    at the cost of the distinct values only (1M addresses hold far fewer distinct ones). With a ``table`` and the
    ``space`` it names, the table's reference (``matcher.reference``) gives the IDF, and the table keeps these
    rows' document frequencies when asked to.
    """
    counter = word_counter() if analyzer == "word" else \
        CountVectorizer(analyzer="char_wb", ngram_range=(3, 3), dtype=np.float32)
    codes, uniques = pd.factorize(norm.fillna(""), use_na_sentinel=True)
    try:
        counts = counter.fit_transform(np.asarray(uniques, dtype=object)).tocsr()
    except ValueError:  # an all-empty column has no vocabulary
        return sparse.csr_matrix((len(norm), 1), dtype=np.float32)
    return weigh_rows(counts[codes], counter, table, space)[0]


def word_counter() -> CountVectorizer:
    return CountVectorizer(token_pattern=r"(?u)\b\w+\b", dtype=np.float32)


def weigh_rows(rows: sparse.csr_matrix, counter: CountVectorizer, table: PreparedTable | None,
               space: str | None) -> tuple[sparse.csr_matrix, Callable[[sparse.csr_matrix], sparse.csr_matrix]]:
    """TF-IDF of token counts per row, IDF from these rows or from the table's reference for ``space``; and the
    same weighing for other counts in this vocabulary."""
    reference = None
    if table is not None and space is not None:
        tokens = counter.get_feature_names_out()
        if table.keep_index:
            table.doc_freq[space] = DocFreq.of_counts(rows, tokens)
        if table.reference is not None:
            reference = table.reference.doc_freq.get(space)
    if reference is None:
        fitted = TfidfTransformer(sublinear_tf=True).fit(rows)
        return fitted.transform(rows).astype(np.float32).tocsr(), \
            lambda counts: fitted.transform(counts).astype(np.float32).tocsr()
    idf = reference.idf(tokens, np.bincount(rows.indices, minlength=rows.shape[1]))
    return weigh(rows, idf), lambda counts: weigh(counts, idf)


def code_tokens(norm: pd.Series) -> np.ndarray:
    """Tokens with a digit in them (model numbers, versions, years) as a space-joined sorted string."""
    def codes(value: str) -> str:
        return " ".join(sorted({t for t in value.split() if any(ch.isdigit() for ch in t)}))
    s = normalize.map_unique(norm, codes)
    return s.mask(s == "").to_numpy(dtype=object, na_value=None)


def tfidf_cosine(matrix: sparse.csr_matrix, table: PreparedTable, column: str | None, left: np.ndarray,
                 right: np.ndarray, chunk: int = 500_000) -> np.ndarray:
    out = np.empty(len(left), dtype=np.float32)
    for start in range(0, len(left), chunk):
        sl = slice(start, start + chunk)
        out[sl] = np.asarray(matrix[left[sl]].multiply(matrix[right[sl]]).sum(axis=1)).ravel()
    if column is not None:
        out[(table.codes[column][left] < 0) | (table.codes[column][right] < 0)] = np.nan
    return out


# -- free text: word and character TF-IDF, digit-bearing codes, product numbers ---------------------------------

def prepare_free_text(table: PreparedTable, column: str, norm: pd.Series, raw: pd.Series) -> None:
    table.tfidf[column] = tfidf(norm, table=table, space=f"{column}:word")
    if table.scale <= CHAR_TFIDF_MAX_ROWS:
        table.char_tfidf[column] = tfidf(norm, "char", table, f"{column}:char")
        table.version_numbers[column] = product.version_numbers(norm)
    table.code_tokens[column] = code_tokens(norm)


def compare_free_text(table: PreparedTable, column: str, left: np.ndarray, right: np.ndarray,
                      strings: Sims) -> Sims:
    """The word TF-IDF cosine first (the primary similarity: its levels are the column's), then the strings'."""
    sims = {f"{column}:cos": tfidf_cosine(table.tfidf[column], table, column, left, right),
            **strings, f"{column}:codes": _code_overlap(table.code_tokens[column], left, right)}
    if column in table.char_tfidf:
        sims[f"{column}:cos3"] = tfidf_cosine(table.char_tfidf[column], table, column, left, right)
    if column in table.version_numbers:
        sims.update(_product_text(table, column, left, right))
    return sims


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
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def _product_text(table: PreparedTable, column: str, left: np.ndarray, right: np.ndarray) -> Sims:
    """Version-number agreement and word containment (see ``matcher.product``)."""
    subset, jaccard = product.number_agreement(table.version_numbers[column], left, right)
    hi, lo = product.containment(table.tfidf[column], left, right)
    missing = (table.codes[column][left] < 0) | (table.codes[column][right] < 0)
    hi[missing], lo[missing] = np.nan, np.nan
    return {f"{column}:nums": subset, f"{column}:numsj": jaccard, f"{column}:within": hi, f"{column}:within_min": lo}


# -- numbers: relative difference and price closeness --------------------------------------------------------------

def prepare_number(table: PreparedTable, column: str, norm: pd.Series, raw: pd.Series) -> None:
    table.numbers[column] = normalize.to_float(raw)


def compare_number(table: PreparedTable, column: str, left: np.ndarray, right: np.ndarray, strings: Sims) -> Sims:
    sims = {**strings, f"{column}:rel": _relative(table, column, left, right)}
    if table.scale <= CHAR_TFIDF_MAX_ROWS:
        sims[f"{column}:log2"] = product.price_closeness(table.numbers[column], left, right)
    return sims


def _relative(table: PreparedTable, column: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    a, b = table.numbers[column][left], table.numbers[column][right]
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = 1.0 - np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))
    rel[(a == 0) & (b == 0)] = 1.0
    return rel.astype(np.float32)
