"""The records a matcher is given, checked once at the boundary: key and source columns present, settings' columns
present, extra comparators' columns present, primary key unique; rows numbered 0..n-1 with string keys."""

from __future__ import annotations

import pandas as pd

from matcher.errors import InputError, SettingsError
from matcher.extra_comparators import check_columns
from matcher.settings import Settings


def validated_records(records: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    for role, column in (("primary key", settings.primary_key), ("source", settings.source_column)):
        if column is not None and column not in records.columns:
            raise InputError(f"{role} column {column!r} not found; columns are: {', '.join(records.columns)}")
    for col in settings.columns:
        if col.name not in records.columns:
            raise SettingsError(f"settings describe column {col.name!r} which the data does not have")
    check_columns(settings.extra_comparators, [str(c) for c in records.columns])
    out = keyed_records(records, settings.primary_key)
    if out[settings.primary_key].duplicated().any():
        dup = out.loc[out[settings.primary_key].duplicated(), settings.primary_key].head(5).tolist()
        raise InputError(f"primary key {settings.primary_key!r} is not unique: {', '.join(dup)}")
    return out


def keyed_records(records: pd.DataFrame, primary_key: str) -> pd.DataFrame:
    """Rows numbered 0..n-1 (the matcher's row ids) with string keys."""
    out = records.reset_index(drop=True)
    out[primary_key] = out[primary_key].astype(str)
    return out
