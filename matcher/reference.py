"""What a few rows need from the whole dataset to be prepared as the whole would prepare them.

Incremental matching (``matcher.incremental``) prepares a batch and the stored records near it, never the whole
store. Most of preparation is per row (normalised values, blocking keys), but some of it is read off the whole
dataset: the TF-IDF weights (a word shared by few records weighs more), the filler values read as missing, the
row count some features are switched on by, and the term frequency of a value the model never saw. A
``Reference`` carries those statistics of the whole (the store plus the batch), so that a subset prepared with
it gets the features the one-shot run would have given those rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse


@dataclass(frozen=True)
class DocFreq:
    """How many of ``n`` documents (rows; an empty one counts) hold each token."""

    tokens: np.ndarray  # object array of str
    df: np.ndarray  # int64
    n: int

    @classmethod
    def of_counts(cls, counts: sparse.csr_matrix, tokens: np.ndarray) -> DocFreq:
        df = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.int64)
        keep = df > 0
        return cls(np.asarray(tokens, dtype=object)[keep], df[keep], counts.shape[0])

    def plus(self, other: DocFreq) -> DocFreq:
        """The document frequencies of both sets of documents together."""
        both = pd.concat([pd.Series(self.df, index=self.tokens), pd.Series(other.df, index=other.tokens)])
        summed = both.groupby(level=0, sort=True).sum()
        return DocFreq(summed.index.to_numpy(dtype=object), summed.to_numpy(dtype=np.int64), self.n + other.n)

    def minus(self, other: DocFreq) -> DocFreq:
        """These documents without ``other`` (a subset of them: replaced or erased records)."""
        at = pd.Index(self.tokens).get_indexer(other.tokens)
        df = self.df.copy()
        np.subtract.at(df, at[at >= 0], other.df[at >= 0])
        keep = df > 0
        return DocFreq(self.tokens[keep], df[keep], self.n - other.n)

    def idf(self, tokens: np.ndarray, own: np.ndarray) -> np.ndarray:
        """scikit-learn's smoothed IDF of ``tokens`` over these documents; a token they lack counts ``own``."""
        at = pd.Index(self.tokens).get_indexer(np.asarray(tokens, dtype=object))
        df = np.where(at >= 0, self.df[np.maximum(at, 0)], own)
        return np.log((1.0 + self.n) / (1.0 + df)) + 1.0


def weigh(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """Sublinear TF times IDF, rows scaled to unit length: ``TfidfTransformer(sublinear_tf=True)`` with a given
    IDF."""
    out = counts.astype(np.float64).tocsr(copy=True)
    out.data = 1.0 + np.log(out.data)
    out = out @ sparse.diags(idf)
    norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
    out = sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ out
    return sparse.csr_matrix(out, dtype=np.float32)


@dataclass
class Reference:
    """Statistics of the whole dataset a subset belongs to (see the module docstring)."""

    n: int  # rows of the whole
    placeholders: dict[str, str] = field(default_factory=dict)  # column -> filler read as missing
    doc_freq: dict[str, DocFreq] = field(default_factory=dict)  # TF-IDF space -> document frequencies
    entities: int = 0  # entities of the whole: a value the model never saw is held by few of them

    def with_rows(self, added: dict[str, DocFreq], removed: dict[str, DocFreq], rows_added: int,
                  rows_removed: int, entities: int) -> Reference:
        """The reference after some rows are added and others removed."""
        spaces = set(self.doc_freq) | set(added)
        doc_freq = {}
        for space in spaces:
            base = self.doc_freq.get(space, DocFreq(np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64), self.n))
            if space in removed:
                base = base.minus(removed[space])
            if space in added:
                base = base.plus(added[space])
            doc_freq[space] = base
        return Reference(self.n + rows_added - rows_removed, dict(self.placeholders), doc_freq, entities)


@dataclass(frozen=True)
class Subset:
    """How ``Matcher.from_model`` treats rows that are a subset of a larger dataset (an entity store's)."""

    reference: Reference
    touching: np.ndarray | None = None  # bool per row: only candidate pairs with such a row are scored
    best_floor: list[np.ndarray] | None = None  # per context score, each row's best over the whole, if known
    keep_index: bool = False  # keep what a store needs (``PreparedTable.keep_index``)
    random_pairs: int = 20_000  # random pairs compared (they only tell which values are rare among these rows)
    # a group number per row (-1: free): rows of one group stay together and their pairs are never scored again
    # (a stored entity a batch only joins or merges with: its inside was decided by the run that stored it)
    pinned: np.ndarray | None = None
