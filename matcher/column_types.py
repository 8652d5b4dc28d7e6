"""The column types, each described once: how its values are normalised, which blocking keys it offers, how two
values are compared, whether agreeing on a rare value counts for more, whether it joins the whole-record text,
and what in a column's name suggests it. ``prepare``, ``features``, ``profile``, ``settings`` and the pipeline read
``REGISTRY``; a new type is one entry here (plus, for new kinds of data, its functions in ``matcher.comparators``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler, Levenshtein

from matcher import comparators, normalize

if TYPE_CHECKING:
    from matcher.table import Column, PreparedTable

Scorer = Callable[..., float]
Keys = Callable[[str, pd.Series], dict[str, pd.Series]]
Prepare = Callable[["PreparedTable", str, pd.Series, pd.Series], None]
Compare = Callable[["PreparedTable", str, np.ndarray, np.ndarray, dict[str, np.ndarray]], dict[str, np.ndarray]]

IGNORE = "ignore"  # a column left out of matching: no entry below
IGNORE_LABEL, IGNORE_DESCRIPTION = "Ignore", "left out of matching: neither compared nor blocked on"
KEY_VARIANT = "~"  # blocking key names: "<column>" for the exact value, "<column>~<variant>" for the others


def exact_key(column: str, norm: pd.Series) -> dict[str, pd.Series]:
    return {column: norm}


def name_keys(column: str, norm: pd.Series) -> dict[str, pd.Series]:
    """Spelling-tolerant variants: sound-alike, and word order for multi-word names."""
    keys = {column: norm, f"{column}{KEY_VARIANT}phonetic": normalize.phonetic(norm)}
    spaces = norm.str.count(" ").mean()  # NA when every value is missing
    if pd.notna(spaces) and float(spaces) >= 0.5:
        keys[f"{column}{KEY_VARIANT}sorted"] = normalize.sorted_tokens(norm)
    return keys


def email_keys(column: str, norm: pd.Series) -> dict[str, pd.Series]:
    return {column: norm, f"{column}{KEY_VARIANT}local": norm.str.split("@").str[0]}


def phone_keys(column: str, norm: pd.Series) -> dict[str, pd.Series]:
    """The last 8 digits: the same number with and without its country or area code."""
    return {column: norm.str[-8:]}


@dataclass(frozen=True)
class ColumnType:
    name: str  # as written in the settings' columns
    normaliser: Callable[[pd.Series], pd.Series]  # what comparators, keys and term frequencies work on
    # string similarities of the normalised values; the first is the primary one unless ``compare`` puts another
    # first: the primary similarity's ``levels`` (thresholds, highest first) are the Fellegi-Sunter levels
    scorers: tuple[tuple[str, Scorer], ...]
    levels: tuple[float, ...]
    blocking_keys: Keys = exact_key
    term_frequencies: bool = False  # agreeing on a rare value is stronger evidence (Fellegi-Sunter TF adjustment)
    record_text: bool = False  # joins the whole-record TF-IDF text
    prepare: Prepare | None = None  # more per-column data than codes and keys (``matcher.comparators``)
    compare: Compare | None = None  # more similarities, given the string ones; returns them all, primary first
    context: str | None = None  # a similarity whose best value per record the classifier also gets, as context
    name_hint: str | None = None  # a column name matching this (lower-cased) suggests the type to profiling
    # what a person reads: the API's ``GET /column-types`` and the transform page's select (keyword-only: every
    # type states them)
    label: str = field(kw_only=True)
    description: str = field(kw_only=True)


JW, LEV = ("jw", JaroWinkler.normalized_similarity), ("lev", Levenshtein.normalized_similarity)
# Insertion order is the order settings errors list the types in.
REGISTRY: dict[str, ColumnType] = {t.name: t for t in (
    ColumnType("person_name", normalize.basic, (JW, ("tsort", fuzz.token_sort_ratio)), (1.0, 0.92, 0.8),
               name_keys, term_frequencies=True, record_text=True,
               name_hint=r"(^|_)(f|l|given|first|last|sur|middle|fore|family)?_?(name|nm)(_|$)|surname|given|fname"
                         r"|lname",
               label="Person name", description="names of people: spelling- and word-order-tolerant, blocked on "
                                                "sound-alike keys; a rare name counts for more"),
    ColumnType("free_text", normalize.basic, (("tset", fuzz.token_set_ratio),), (0.9, 0.7, 0.5, 0.3),
               record_text=True, prepare=comparators.prepare_free_text, compare=comparators.compare_free_text,
               context="cos", label="Free text",
               description="several words (addresses, titles, descriptions): compared by the words they share, "
                           "rare words weighing more"),
    ColumnType("short_code", normalize.alnum, (LEV,), (1.0, 0.8, 0.6), label="Code",
               description="identifiers and short codes: compared character by character"),
    ColumnType("number", normalize.alnum, (LEV,), (1.0, 0.75, 0.5), prepare=comparators.prepare_number,
               compare=comparators.compare_number, label="Number",
               description="quantities and prices: compared by value as well as by digits"),
    ColumnType("date", normalize.to_date_digits, (("osa", OSA.normalized_similarity),), (1.0, 0.875, 0.75),
               name_hint=r"(^|_)(dob|date|birth|born)", label="Date",
               description="dates in any common layout: compared digit by digit, a swapped pair forgiven"),
    ColumnType("email", normalize.basic, (JW,), (1.0, 0.9, 0.8), email_keys, term_frequencies=True,
               name_hint=r"e_?mail", label="Email",
               description="email addresses: also blocked on the part before the @"),
    ColumnType("phone", normalize.digits, (LEV,), (1.0, 0.85, 0.7), phone_keys, name_hint=r"phone|tel|mobile|fax",
               label="Phone", description="phone numbers: their digits, blocked on the last 8 (with or without a "
                                          "country or area code)"),
    ColumnType("postcode", normalize.alnum, (LEV,), (1.0, 0.8, 0.6), term_frequencies=True,
               name_hint=r"post_?code|zip|postal", label="Postcode",
               description="postal codes: compared character by character; a rare one counts for more"),
    ColumnType("categorical", normalize.basic, (JW,), (1.0, 0.9), term_frequencies=True, record_text=True,
               label="Category", description="few distinct values (city, state, gender): equal or not; a rare "
                                             "value counts for more"),
)}


def names() -> tuple[str, ...]:
    """Every type a column may have (read per call: a type registered later counts)."""
    return (*REGISTRY, IGNORE)


def label(name: str) -> str:
    """What a person reads for a type name (one of ``names()``)."""
    return IGNORE_LABEL if name == IGNORE else REGISTRY[name].label


def description(name: str) -> str:
    return IGNORE_DESCRIPTION if name == IGNORE else REGISTRY[name].description


def of(column: Column) -> ColumnType:
    """The type of a compared column (a ``matcher.settings.ColumnSettings``: never one of type ``ignore``)."""
    return REGISTRY[column.type]
