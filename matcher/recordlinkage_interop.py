"""Our blocker and comparators inside a `recordlinkage <https://recordlinkage.readthedocs.io>`_ pipeline.

* ``AutoBlock``: an indexing algorithm (``recordlinkage.base.BaseIndexAlgorithm``) giving the candidate pairs
  our automatic blocking (``matcher.blocking``) chooses, as recordlinkage's MultiIndex of the frames' index
  labels: ``recordlinkage.Index().add(AutoBlock())``, deduplication (one frame) and linkage (two).
* ``ColumnTypeCompare``: a compare feature (``recordlinkage.base.BaseCompareFeature``) giving the similarity
  our engine computes for a column type of ``matcher.column_types.REGISTRY`` (person_name, date, phone, ...);
  ``column_features(frame)`` gives one per column, typed as our profiling types them.

The opposite direction, recordlinkage's compare features inside our settings, is ``matcher.extra_comparators``.

Importing this module imports recordlinkage (an ImportError says how to install it); the rest of ``matcher``
never does. recordlinkage 0.16 declares pandas<3: see docs/recordlinkage.md for the supported combination.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from matcher import column_types
from matcher.blocking import Blocker, decode
from matcher.errors import SettingsError, shown
from matcher.extra_comparators import import_recordlinkage
from matcher.features import compare
from matcher.prepare import prepare
from matcher.profile import infer_settings, infer_type
from matcher.settings import ColumnSettings, Settings

import_recordlinkage()  # the clear message first; the imports below then succeed

from recordlinkage.base import BaseCompareFeature, BaseIndexAlgorithm  # noqa: E402

ROW, SOURCE, VALUE = "~row", "~source", "value"  # our own column names in the frames we build


def _as_text(values: pd.Series) -> pd.Series:
    """Values as our engine reads them, strings with missing values kept missing (numbers as their text)."""
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        return values
    return values.astype(object).where(values.notna(), None).map(lambda v: v if v is None else str(v))


def candidate_rows(records: pd.DataFrame, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Our candidate pairs of ``records`` (rows 0..n-1, a unique primary key) as row positions (left < right):
    the steps ``Matcher.fit`` takes up to blocking, column types inferred where ``settings`` do not give them."""
    full = infer_settings(records, settings.primary_key, settings.source_column,
                          base=Settings.from_dict(settings.to_dict()))
    if not full.data_columns:
        raise SettingsError("no data columns to compare besides the primary key and source column")
    table = prepare(records, full)
    return decode(Blocker(full.accuracy_cost_tradeoff).fit(table).pair_ids_, table.n)


class AutoBlock(BaseIndexAlgorithm):
    """Our automatic blocking as a recordlinkage indexing algorithm.

    ``columns``: the columns to block on, every column by default; a list of names (types inferred, as
    ``matcher match`` does) or a mapping of name -> column type (``matcher.column_types``). In linkage both
    frames need them. ``accuracy_cost_tradeoff`` widens the search as in our settings (1: more pairs)."""

    def __init__(self, columns: Sequence[str] | Mapping[str, str] | None = None,
                 accuracy_cost_tradeoff: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.columns = columns
        self.accuracy_cost_tradeoff = accuracy_cost_tradeoff

    def _records(self, frames: list[pd.DataFrame]) -> pd.DataFrame:
        names = [str(c) for c in frames[0].columns] if self.columns is None else [str(c) for c in self.columns]
        parts = []
        for i, frame in enumerate(frames):
            renamed = frame.rename(columns=str)
            missing = [c for c in names if c not in renamed.columns]
            if missing:
                raise SettingsError(f"frame {i + 1} has no column {shown(missing[0])}")
            part = pd.DataFrame({c: _as_text(renamed[c]) for c in names}).reset_index(drop=True)
            part.insert(0, SOURCE, str(i))
            parts.append(part)
        records = pd.concat(parts, ignore_index=True)
        records.insert(0, ROW, np.arange(len(records)).astype(str))
        return records

    def _settings(self, linkage: bool) -> Settings:
        typed = self.columns if isinstance(self.columns, Mapping) else {}
        return Settings(primary_key=ROW, source_column=SOURCE if linkage else None,
                        columns=[ColumnSettings(str(name), kind) for name, kind in typed.items()],
                        accuracy_cost_tradeoff=self.accuracy_cost_tradeoff)

    def _dedup_index(self, df_a: pd.DataFrame) -> pd.MultiIndex:
        records = self._records([df_a]).drop(columns=SOURCE)
        left, right = candidate_rows(records, self._settings(linkage=False))
        # recordlinkage's order within a deduplication pair: the later record first (as its Full index)
        return pd.MultiIndex.from_arrays([df_a.index[right], df_a.index[left]])

    def _link_index(self, df_a: pd.DataFrame, df_b: pd.DataFrame) -> pd.MultiIndex:
        left, right = candidate_rows(self._records([df_a, df_b]), self._settings(linkage=True))
        # only cross-source pairs, and frame A's rows come first: left is in A, right in B
        return pd.MultiIndex.from_arrays([df_a.index[left], df_b.index[right - len(df_a)]])


def _records_of(values: pd.Series, level: int) -> tuple[np.ndarray, np.ndarray]:
    """The records on one side of the pairs (by their index label, level ``level`` of the pairs' MultiIndex;
    each row its own record when the index is not one) as (record number per pair, each record's value)."""
    index = values.index
    labels = index.get_level_values(level) if isinstance(index, pd.MultiIndex) and index.nlevels == 2 else \
        np.arange(len(values))
    codes, _ = pd.factorize(labels)
    first = np.unique(codes, return_index=True)[1]
    return codes.astype(np.int64), _as_text(values).to_numpy(dtype=object)[first]


def engine_similarity(left: pd.Series, right: pd.Series, column_type: str, measure: str | None = None
                      ) -> np.ndarray:
    """Our engine's similarity of each pair of values (NaN where either is missing) for a column of this type:
    the records the pairs hold become a one-column table, prepared and compared as ``matcher match`` does.
    ``measure``: one of the type's similarities (``features.compare`` names them), its primary one by default.
    Word rarity (free text's TF-IDF) is then counted over those records, not over a whole dataset."""
    left_codes, left_values = _records_of(left, 0)
    right_codes, right_values = _records_of(right, 1)
    values = np.concatenate([left_values, right_values])
    frame = pd.DataFrame({ROW: np.arange(len(values)).astype(str), VALUE: pd.Series(values, dtype=object)})
    settings = Settings(primary_key=ROW, columns=[ColumnSettings(VALUE, column_type, blocking=False)])
    sims = compare(prepare(frame, settings), left_codes, len(left_values) + right_codes).sims
    wanted = f"{VALUE}:{measure}" if measure else next(iter(sims))
    if wanted not in sims:
        known = ", ".join(k.split(":", 1)[1] for k in sims if k.startswith(f"{VALUE}:"))
        raise SettingsError(f"column type {column_type!r} has no measure {shown(measure)}; it has {known}")
    return sims[wanted].astype(np.float64)


class ColumnTypeCompare(BaseCompareFeature):
    """Compare feature: our engine's similarity for ``column_type`` (``engine_similarity``).

    ``threshold``: 1.0 at or above it, else 0.0 (binary features, as recordlinkage's ECMClassifier wants);
    ``missing_value``: the value where either side is missing (0.0, as recordlinkage's own features)."""

    name = "matcher"
    description = "our engine's similarity for a column type"

    def __init__(self, left_on: str, right_on: str | None = None, column_type: str = "person_name",
                 measure: str | None = None, threshold: float | None = None, missing_value: float = 0.0,
                 label: Any = None) -> None:
        if column_type not in column_types.REGISTRY:
            raise SettingsError(f"unknown column type {shown(column_type)}; use one of "
                                f"{', '.join(column_types.REGISTRY)}")
        super().__init__(left_on, left_on if right_on is None else right_on, label=label)
        self.column_type, self.measure = column_type, measure
        self.threshold, self.missing_value = threshold, missing_value

    def _compute_vectorized(self, left: pd.Series, right: pd.Series) -> pd.Series:
        sims = engine_similarity(left, right, self.column_type, self.measure)
        if self.threshold is not None:
            sims = np.where(np.isnan(sims), np.nan, (sims >= self.threshold).astype(np.float64))
        return pd.Series(np.where(np.isnan(sims), self.missing_value, sims), index=left.index)


def column_features(frame: pd.DataFrame, columns: Sequence[str] | Mapping[str, str] | None = None,
                    **kwargs: Any) -> list[ColumnTypeCompare]:
    """One ``ColumnTypeCompare`` per column (every column by default), its type inferred as ``matcher match``
    infers it, or as given by a mapping of name -> type; columns typed ``ignore`` are left out. ``kwargs`` go
    to each feature (e.g. ``threshold`` for binary features)."""
    typed = dict(columns) if isinstance(columns, Mapping) else \
        {c: infer_type(str(c), _as_text(frame[c])) for c in (frame.columns if columns is None else columns)}
    return [ColumnTypeCompare(name, column_type=kind, label=name, **kwargs)
            for name, kind in typed.items() if kind != column_types.IGNORE]
