"""Column profiling: guess what each column holds so the engine can pick comparators and blocking keys.

Guesses combine the column name (``surname``, ``zip``) with the values themselves, on a sample, so
profiling 1M rows costs the same as profiling 20k.
"""

from __future__ import annotations

import re

import pandas as pd

from matcher import column_types
from matcher.settings import ColumnSettings, Settings

SAMPLE_SIZE = 20_000

EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"
PHONE_RE = r"^\+?[\d\s().\-/]{7,20}$"
DATE_RE = r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|(19|20)\d{2}[01]\d[0-3]\d)$"
NUMBER_RE = r"^[$€£]?-?\d[\d,]*(\.\d+)?$"


def _share(values: pd.Series, pattern: str) -> float:
    return float(values.str.match(pattern, flags=re.IGNORECASE).mean()) if len(values) else 0.0


def _hinted(name: str, kind: str) -> bool:
    """The column's name suggests this type (``ColumnType.name_hint``)."""
    hint = column_types.REGISTRY[kind].name_hint
    return hint is not None and re.search(hint, name.lower()) is not None


def infer_type(name: str, series: pd.Series) -> str:
    """Best guess of a column's type from its name and a sample of its non-missing values."""
    values = series.dropna().astype(str)
    if len(values) == 0:
        return column_types.IGNORE
    values = values.sample(min(len(values), SAMPLE_SIZE), random_state=0)
    distinct = values.nunique() / len(values)
    mean_tokens = float(values.str.split().str.len().mean())
    if _share(values, EMAIL_RE) > 0.8 or (_hinted(name, "email") and _share(values, r".*@") > 0.5):
        return "email"
    if _share(values, DATE_RE) > 0.8 and (_hinted(name, "date") or _share(values, r"^\d{8}$") < 0.5):
        return "date"
    if _hinted(name, "date") and _share(values, r"^\d{8}$") > 0.8:
        return "date"
    if _hinted(name, "phone") and _share(values, PHONE_RE) > 0.6:
        return "phone"
    if _hinted(name, "postcode"):
        return "postcode"
    if _hinted(name, "person_name") and mean_tokens <= 4:
        return "person_name"
    if _share(values, r"^\d{5,}$") > 0.8:
        return "short_code"  # long digit strings are identifiers, not quantities
    if values.nunique() <= 30 or (distinct < 0.05 and mean_tokens <= 3):
        return "categorical"
    if _share(values, NUMBER_RE) > 0.9:
        return "number"
    if _share(values, PHONE_RE) > 0.9 and _share(values, r".*\d{3}") > 0.9:
        return "phone"
    if mean_tokens >= 2.5:
        return "free_text"
    if _share(values, r"^[\w\-]+$") > 0.9 and _share(values, r".*\d") > 0.5:
        return "short_code"
    return "free_text" if mean_tokens > 1.2 else "person_name" if _share(values, r"^[^\d]+$") > 0.95 else "short_code"


def infer_settings(df: pd.DataFrame, primary_key: str, source_column: str | None = None,
                   base: Settings | None = None) -> Settings:
    """Fill in column settings for every data column the base settings do not already describe."""
    settings = base or Settings(primary_key=primary_key, source_column=source_column)
    described = {c.name for c in settings.columns}
    skip = {primary_key, source_column, "labeling_set_id", "label", "match_id", "match_confidence_score"}
    for name in df.columns:
        if name in described or name in skip:
            continue
        settings.columns.append(ColumnSettings(name=name, type=infer_type(name, df[name])))
    order = {name: i for i, name in enumerate(df.columns)}
    settings.columns.sort(key=lambda c: order.get(c.name, len(order)))
    return settings
