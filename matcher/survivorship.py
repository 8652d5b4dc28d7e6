"""Golden records (survivorship): one survivor record per entity, each value with its provenance.

Per column a rule (``ColumnRule``) chooses which record of the entity gives the value; the output keeps that
record's raw value and its primary key (``<column>__from``). Every rule only ever looks at the records whose value
in the column is non-empty (empty: NaN/None, or a string that is blank after stripping whitespace), so an empty
value is chosen only when every record of the entity is empty there; then the value and ``__from`` are both NA.

The rules (``RULES``; each is one function returning sort keys, see ``_RANKERS``):

- ``most_frequent``: the value held by the most records of the entity, values compared as strings after stripping
  whitespace; ties: the longest (stripped) value.
- ``most_recent``: the value of the record with the latest date in ``date_column``. Dates are parsed leniently by
  pandas (the format inferred for the column, then per value for those it misses; offsets converted to UTC, naive
  dates taken as UTC); an empty or unparseable date counts as older than every real date.
- ``longest``: the longest (stripped) value.
- ``source_order``: the value of the record whose source (``source_column``, stripped) comes first in
  ``source_order``; sources not listed follow in name order, records without a source come last.
- ``most_complete``: the value of the record with the most non-empty columns (the primary key not counted).

Remaining ties always go to the record with the smallest primary key compared as a string, so the result does not
depend on the order of the rows. Every rule is a sort of the candidate rows by (entity, the rule's keys, key) and
the first row per entity wins: one vectorised sort per column, no Python loop per entity or record.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from matcher import column_types
from matcher.errors import InputError, SettingsError, shown, shown_all

if TYPE_CHECKING:
    from matcher.settings import Settings

FROM = "__from"  # suffix of a value's provenance column: "<column>__from"
_TEXT = pd.StringDtype("pyarrow")  # fast strip/len, and NA for missing values on pandas 2 and 3 alike


@dataclass(frozen=True)
class ColumnRule:
    rule: str  # one of RULES
    date_column: str | None = None  # most_recent: the column holding each record's date
    source_column: str | None = None  # source_order: the column naming each record's source
    source_order: tuple[str, ...] = ()  # source_order: preferred sources first


@dataclass(frozen=True)
class _Frame:
    """What every rule sees; arrays align with the rows of the records."""

    entity: np.ndarray  # int64 position of the record's entity among the sorted match ids
    key_rank: np.ndarray  # int64 rank of the record's primary key as a string: the last tie-break
    texts: dict[str, pd.Series]  # per column, the stripped value; NA when empty
    filled: np.ndarray  # int64 count of the record's non-empty columns
    dates: dict[str, np.ndarray] = field(default_factory=dict)  # parsed date columns, each parsed once


# A rule: sort keys over all rows, most significant first, each sorted ascending (a smaller key wins).
RankKeys = Callable[[_Frame, str, ColumnRule], list[np.ndarray]]


def _lengths(text: pd.Series) -> np.ndarray:
    return text.str.len().fillna(0).to_numpy(dtype=np.int64)


def _most_frequent(frame: _Frame, column: str, rule: ColumnRule) -> list[np.ndarray]:
    text = frame.texts[column]
    codes, uniques = pd.factorize(text)  # NA -> -1: empties share a code but are never candidates
    # one int64 per (entity, value): entities x distinct values <= records**2, far below 2**63
    pair = frame.entity * (len(uniques) + 1) + (codes + 1)
    _, inverse, counts = np.unique(pair, return_inverse=True, return_counts=True)
    return [-counts[inverse.ravel()], -_lengths(text)]


def _most_recent(frame: _Frame, column: str, rule: ColumnRule) -> list[np.ndarray]:
    assert rule.date_column is not None  # checked by _check_rule
    if rule.date_column not in frame.dates:
        frame.dates[rule.date_column] = _date_values(frame.texts[rule.date_column])
    return [-frame.dates[rule.date_column]]


def _longest(frame: _Frame, column: str, rule: ColumnRule) -> list[np.ndarray]:
    return [-_lengths(frame.texts[column])]


def _source_order(frame: _Frame, column: str, rule: ColumnRule) -> list[np.ndarray]:
    assert rule.source_column is not None  # checked by _check_rule
    codes, names = pd.factorize(frame.texts[rule.source_column], sort=True)
    listed: dict[str, int] = {}
    for position, name in enumerate(rule.source_order):
        listed.setdefault(name.strip(), position)
    # a loop over the distinct sources (a handful), not over records; unlisted ones keep their name order
    ranks = [listed.get(name, len(listed) + i) for i, name in enumerate(names)]
    no_source = len(listed) + len(names)  # after every named source
    return [np.array([*ranks, no_source], dtype=np.int64)[np.where(codes >= 0, codes, len(names))]]


def _most_complete(frame: _Frame, column: str, rule: ColumnRule) -> list[np.ndarray]:
    return [-frame.filled]


_RANKERS: dict[str, RankKeys] = {
    "most_frequent": _most_frequent,
    "most_recent": _most_recent,
    "longest": _longest,
    "source_order": _source_order,
    "most_complete": _most_complete,
}
RULES: tuple[str, ...] = tuple(_RANKERS)

# Why each default: a value most records agree on is the likeliest correct one (a typo or a one-off variant loses),
# and its tie-break (the longest) prefers the fuller form: "John A Smith" over "J Smith", a phone number with its
# area code over the bare one, an address with its town. That holds for every typed column, free text included
# (text repeated by several sources wins; text found once falls back to the most informative, longest one).
# Dates of change (most_recent) and trusted sources (source_order) need columns only the user can name.
# An ``ignore`` column is untyped (often a source, a timestamp, an internal id): all of them then come from one
# record, the most complete, so they stay coherent with each other instead of mixing records.
_DEFAULTS: dict[str, str] = {name: "most_frequent" for name in column_types.REGISTRY} | {
    column_types.IGNORE: "most_complete"}


def default_rule(column_type: str) -> ColumnRule:
    """The rule for a column of ``column_type`` (a ``matcher.column_types`` name, or ``ignore``) nobody set."""
    if column_type in _DEFAULTS:
        return ColumnRule(_DEFAULTS[column_type])
    if column_type in column_types.names():  # a type registered after this module was imported
        return ColumnRule("most_frequent")
    raise SettingsError(f"unknown column type {shown(column_type)}; allowed: {', '.join(column_types.names())}")


_FIELDS = ("rule", "date_column", "source_column", "source_order")


def rules_from_dict(values: dict[str, dict], columns: list[str]) -> dict[str, ColumnRule]:
    """Rules from the settings JSON form ``{"col": {"rule": "most_recent", "date_column": "updated"}}``."""
    if not isinstance(values, dict):
        raise SettingsError(f"survivorship rules must be an object of column -> rule, not {shown(values)}")
    return {column: _rule_from_dict(column, spec, columns) for column, spec in values.items()}


def _rule_from_dict(column: str, spec: Any, columns: list[str]) -> ColumnRule:
    where = f"survivorship rule of column {shown(column)}"
    allowed = f"allowed rules: {', '.join(RULES)}"
    if column not in columns:
        raise SettingsError(f"{where}: unknown column; columns: {shown_all(list(columns))}")
    if not isinstance(spec, dict):
        raise SettingsError(f"{where}: must be an object like {{\"rule\": \"most_frequent\"}}; {allowed}")
    unknown = sorted(set(spec) - set(_FIELDS), key=str)
    if unknown:
        raise SettingsError(f"{where}: unknown keys {shown_all(unknown)}; keys: {', '.join(_FIELDS)}")
    if spec.get("rule") not in RULES:
        raise SettingsError(f"{where}: unknown rule {shown(spec.get('rule'))}; {allowed}")
    order = spec.get("source_order", [])
    if not isinstance(order, list | tuple) or not all(isinstance(source, str) for source in order):
        raise SettingsError(f"{where}: source_order must be a list of source names, not {shown(order)}")
    rule = ColumnRule(spec["rule"], spec.get("date_column"), spec.get("source_column"), tuple(order))
    _check_rule(where, rule, columns)
    return rule


_NEEDS = {"date_column": "most_recent", "source_column": "source_order"}  # the rule each field belongs to


def _check_rule(where: str, rule: ColumnRule, columns: list[str]) -> None:
    """A rule's own fields: the column its rule needs is given and exists, no field of another rule is set."""
    if rule.rule not in RULES:
        raise SettingsError(f"{where}: unknown rule {shown(rule.rule)}; allowed rules: {', '.join(RULES)}")
    for name, value in (("date_column", rule.date_column), ("source_column", rule.source_column)):
        if _NEEDS[name] == rule.rule and value is None:
            raise SettingsError(f"{where}: rule {rule.rule} needs a {name}")
        if _NEEDS[name] != rule.rule and value is not None:
            raise SettingsError(f"{where}: {name} only applies to rule {_NEEDS[name]}")
        if value is not None and value not in columns:
            raise SettingsError(f"{where}: {name} {shown(value)} is not a column; columns: {shown_all(columns)}")
    if rule.source_order and rule.rule != "source_order":
        raise SettingsError(f"{where}: source_order only applies to rule source_order")


def rules_for(settings: Settings, columns: list[str]) -> dict[str, ColumnRule]:
    """Every column's rule: the settings' ``survivorship`` where given, else its type's default (``ignore`` for
    a column the settings do not type, such as the source column)."""
    typed = {c.name: c.type for c in settings.columns}
    given = rules_from_dict(settings.survivorship, columns)
    return {c: given.get(c) or default_rule(typed.get(c, column_types.IGNORE)) for c in columns
            if c != settings.primary_key}


def golden_records(records: pd.DataFrame, ids: np.ndarray, primary_key: str, rules: dict[str, ColumnRule],
                   default: ColumnRule = ColumnRule("most_frequent")) -> pd.DataFrame:
    """One row per entity, sorted by match id: ``match_id``, ``records`` (its record count), then per column of
    ``records`` but the primary key the chosen raw value and ``<column>__from`` (the key of the record it came from).
    ``rules`` maps columns to rules; a column not in it follows ``default``."""
    columns = [c for c in records.columns if c != primary_key]
    _check_inputs(records, ids, primary_key, columns)
    _check_rule("the default survivorship rule", default, columns)
    for column, rule in rules.items():
        where = f"survivorship rule of column {shown(column)}"
        if column not in columns:
            raise SettingsError(f"{where}: unknown column; columns: {shown_all(columns)}")
        _check_rule(where, rule, columns)
    match_ids, entity = np.unique(np.asarray(ids, dtype=np.int64), return_inverse=True)
    frame = _frame(records, entity.ravel().astype(np.int64), primary_key, columns)
    out: dict[str, Any] = {"match_id": match_ids, "records": np.bincount(frame.entity, minlength=len(match_ids))}
    for column in columns:
        chosen = _choose(frame, column, rules.get(column, default), len(match_ids))
        out[column] = _take(records[column], chosen)
        out[column + FROM] = _take(records[primary_key], chosen)
    return pd.DataFrame(out)


def _check_inputs(records: pd.DataFrame, ids: np.ndarray, primary_key: str, columns: list[str]) -> None:
    if primary_key not in records.columns:
        raise InputError(f"primary key {shown(primary_key)} is not a column of the records")
    if len(ids) != len(records):
        raise InputError(f"{len(ids)} match ids for {len(records)} records")
    if records.columns.duplicated().any():
        raise InputError("the records have duplicate column names")
    names = ["match_id", "records", *columns, *(c + FROM for c in columns)]
    clashes = sorted({str(n) for n in names if names.count(n) > 1})
    if clashes:
        raise InputError(f"columns {shown_all(clashes)} clash with the golden record's own columns")


def _frame(records: pd.DataFrame, entity: np.ndarray, primary_key: str, columns: list[str]) -> _Frame:
    texts = {column: _stripped(records[column]) for column in columns}
    filled = np.zeros(len(records), dtype=np.int64)
    for text in texts.values():
        filled += text.notna().to_numpy()
    key_rank, keys = pd.factorize(records[primary_key].astype(_TEXT), sort=True)  # unique keys: codes are ranks
    if len(keys) < len(records):
        raise InputError(f"primary key {shown(primary_key)} has duplicate or empty values: "
                         "ties could not be broken by it")
    return _Frame(entity, key_rank.astype(np.int64), texts, filled)


def _stripped(values: pd.Series) -> pd.Series:
    text = values.astype(_TEXT).str.strip()
    return text.mask(text == "")


def _choose(frame: _Frame, column: str, rule: ColumnRule, entities: int) -> np.ndarray:
    """Per entity, the row whose value survives (-1 when the entity has no non-empty value in the column)."""
    candidates = np.flatnonzero(frame.texts[column].notna().to_numpy())
    keys = [key[candidates] for key in _RANKERS[rule.rule](frame, column, rule)]
    rows = candidates[_order([frame.entity[candidates], *keys, frame.key_rank[candidates]])]
    entity = frame.entity[rows]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = entity[1:] != entity[:-1]
    chosen = np.full(entities, -1, dtype=np.int64)
    chosen[entity[first]] = rows[first]
    return chosen


_FOLD_LIMIT = 2**62  # keys whose ranges multiply to less than this fold into one int64 without overflowing


def _order(keys: list[np.ndarray]) -> np.ndarray:
    """The rows sorted by ``keys`` (int64, most significant first; the last one unique), like ``np.lexsort``.
    Adjacent keys fold into one int64 while the product of their ranges fits: one sort of one array is several
    times faster than a lexsort of three or four (entity, rule keys, key rank)."""
    if not len(keys[0]):
        return np.zeros(0, dtype=np.int64)
    folded: list[np.ndarray] = []  # least significant first, as np.lexsort takes them
    current: np.ndarray | None = None
    span = 1
    for key in reversed(keys):
        low = int(key.min())
        width = int(key.max()) - low + 1
        if width >= _FOLD_LIMIT:  # a wide key (dates) is sorted on its own, unshifted: key - low could overflow
            folded += [*([current] if current is not None else []), key]
            current, span = None, 1
        elif current is not None and span * width < _FOLD_LIMIT:
            current, span = (key - low) * span + current, span * width
        else:
            folded += [current] if current is not None else []
            current, span = key - low, width
    folded += [current] if current is not None else []
    return np.argsort(folded[0]) if len(folded) == 1 else np.lexsort(folded)


def _take(values: pd.Series, chosen: np.ndarray) -> pd.Series:
    """The chosen rows' values in the column's own dtype (a take of arrow strings is cheap), NA where none."""
    if not pd.api.types.is_string_dtype(values):  # numbers, booleans: NA must not turn the key 10 into 10.0
        values = values.astype(object)
    taken = values.iloc[np.maximum(chosen, 0)].reset_index(drop=True)  # every entity has a record: rows exist
    return taken.where(chosen >= 0)


def _date_values(text: pd.Series) -> np.ndarray:
    """int64 microseconds since the epoch (UTC) per value; empty or unparseable: older than every date."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "could not infer format": expected for mixed columns
        parsed = pd.to_datetime(text, errors="coerce", utc=True)
        missed = parsed.isna() & text.notna()
        if missed.any():  # values in another format than the one inferred for the column: parse each alone
            parsed = parsed.astype("datetime64[us, UTC]")
            parsed[missed] = pd.to_datetime(text[missed], errors="coerce", utc=True, format="mixed")
    values = parsed.astype("datetime64[us, UTC]").dt.tz_localize(None).to_numpy(dtype="datetime64[us]").view(np.int64)
    known = values != np.iinfo(np.int64).min  # NaT
    oldest = int(values[known].min()) - 1 if known.any() else 0
    return np.where(known, values, oldest)  # a small range: negating cannot overflow and the key folds
