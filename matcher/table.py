"""The prepared table: normalised values, blocking keys, term frequencies and TF-IDF matrices of one dataset, as
``matcher.prepare`` builds them and blocking, comparators and features read them.

Its own module, naming its columns by a Protocol rather than ``matcher.settings.ColumnSettings``, so that the
column-type registry and the comparators it lists can name the table's type without a circle of imports back
through ``matcher.prepare`` or ``matcher.settings`` (both import the registry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy import sparse

from matcher.extra_comparators import ExtraComparator
from matcher.reference import DocFreq, Reference


class Column(Protocol):
    """A compared column as the table records it (``matcher.settings.ColumnSettings``)."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def blocking(self) -> bool: ...


@dataclass
class PreparedTable:
    """Normalised view of one dataset; row i here is row i of the input."""

    n: int
    columns: Sequence[Column]  # the compared ones (``Settings.data_columns``)
    codes: dict[str, np.ndarray]  # factorised normalised values, -1 when missing
    uniques: dict[str, np.ndarray]  # code -> normalised value
    term_freq: dict[str, np.ndarray]  # share of rows holding the same value, NaN when missing
    keys: dict[str, np.ndarray] = field(default_factory=dict)  # blocking key name -> int codes (-1 missing)
    tfidf: dict[str, sparse.csr_matrix] = field(default_factory=dict)
    char_tfidf: dict[str, sparse.csr_matrix] = field(default_factory=dict)
    code_tokens: dict[str, np.ndarray] = field(default_factory=dict)  # sorted tokens holding digits
    version_numbers: dict[str, np.ndarray] = field(default_factory=dict)  # sorted numbers, 'v22' -> '22'
    record_tfidf: list[sparse.csr_matrix] = field(default_factory=list)  # whole-record text, word and char
    # free-text column -> its words weighted in the whole-record vocabulary (columns of record_tfidf[0])
    in_record_tfidf: dict[str, sparse.csr_matrix] = field(default_factory=dict)
    numbers: dict[str, np.ndarray] = field(default_factory=dict)
    source: np.ndarray | None = None  # int source codes for linkage
    placeholders: dict[str, str] = field(default_factory=dict)  # column -> filler value read as missing
    # the whole dataset these rows belong to, when they are a subset of it (``matcher.reference``)
    reference: Reference | None = None
    # what an entity store keeps to match later rows against these (``matcher.incremental``): each TF-IDF space's
    # document frequencies and each blocking key's value hashes (0 where missing)
    keep_index: bool = False
    doc_freq: dict[str, DocFreq] = field(default_factory=dict)
    key_hashes: dict[str, np.ndarray] = field(default_factory=dict)
    # the settings' recordlinkage features and the raw values of the columns they read (``matcher.extra_comparators``)
    extra_comparators: list[ExtraComparator] = field(default_factory=list)
    raw_values: dict[str, np.ndarray] = field(default_factory=dict)
    # the person-name columns compared crosswise (``matcher.name_order``), fixed by the fit when a saved model is
    # applied: the data it is applied to (a batch, a subset) may rank the name columns' fill otherwise
    crosswise: tuple[str, ...] | None = None

    @property
    def scale(self) -> int:
        """Rows of the whole dataset: what switches size-dependent features on or off, so that a subset gets the
        features the whole got."""
        return self.reference.n if self.reference is not None else self.n
