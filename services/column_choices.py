"""The column types a user chose for a transform (its ``column_types``: column -> a ``matcher.column_types`` name),
checked against the registry and the dataset's columns, and the types its runs use: the user's choice, else the
automatic profile's guess.

A choice is a column of the run's settings; the profile types the other columns when the matcher is fitted, as
before (``matcher.profile.infer_settings``). The guesses shown here are the ones the dataset's upload stored: the
fit profiles again on its own sample of at most 20,000 values, which can differ on a borderline column of a large
file, hence a choice is the way to be sure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from matcher import column_types
from matcher.errors import shown, shown_all
from matcher.settings import ColumnSettings
from services.errors import ValidationError
from storage.models import Transform

FIELD = "column_types"


@dataclass(frozen=True)
class ColumnInUse:
    name: str
    type: str
    chosen: bool  # the user's choice, else the profile's guess


def parse_choices(value: Any, columns: list[str], keys: tuple[str, str | None]) -> dict[str, str] | None:
    """The ``column_types`` field: null (or {}) for the profile's guesses everywhere, else column -> type for
    columns of the dataset other than the primary key and source column (``keys``). A 422 names
    ``column_types.<column>`` and lists the columns or the types allowed."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError(f"{FIELD} must be an object of column -> type, got {shown(value)}", field=FIELD)
    comparable = [c for c in columns if c not in keys]
    for column, kind in value.items():
        where = f"{FIELD}.{column}"
        if column in keys:
            raise ValidationError(f"column {shown(column)} is the primary key or source column: never compared",
                                  field=where)
        if column not in comparable:
            raise ValidationError(f"column {shown(column)} not in the dataset; columns: {shown_all(comparable)}",
                                  field=where)
        if not isinstance(kind, str) or kind not in column_types.names():
            raise ValidationError(f"column {shown(column)}: unknown type {shown(kind)}; use one of "
                                  f"{', '.join(column_types.names())}", field=where)
    if comparable and all(value.get(c) == column_types.IGNORE for c in comparable):
        raise ValidationError(f"every column is ignored: nothing is left to compare; {FIELD} must leave one",
                              field=FIELD)
    return dict(value) or None


def settings_columns(transform: Transform) -> list[ColumnSettings]:
    """The chosen types as the matcher's settings take them (the profile types the rest)."""
    return [ColumnSettings(name, kind) for name, kind in (transform.column_types or {}).items()]


def in_use(transform: Transform) -> tuple[ColumnInUse, ...]:
    """Every compared-or-ignored column of the transform's dataset, in the dataset's order, with its type
    (inside the session: reads the dataset)."""
    chosen = transform.column_types or {}
    guessed = transform.dataset.column_types or {}
    keys = (transform.primary_key, transform.source_column)
    return tuple(ColumnInUse(c, chosen.get(c, guessed.get(c, column_types.IGNORE)), c in chosen)
                 for c in transform.dataset.columns if c not in keys)
