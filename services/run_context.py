"""What a task run's handler works with: its claimed rows, the data loaders, and what it hands back.

Loaders live here so every run type reads the dataset and the labels the same way (the labels from the
database go through the same validation as an uploaded labels file).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.io import read_table
from matcher.labels import Labels, read_labels
from matcher.pipeline import Matcher
from services import model_cache, training_weights
from services.errors import NotFound
from services.fanout import FanoutScorer, FanoutSettings, OddsOf, Send, in_process, spread_odds
from services.run_state import Claimed, ProgressReporter
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import Label, Transform


class Deferred(Protocol):
    """A file whose content is still being computed (maybe by other workers): the engine writes it after the
    others, calling ``resolve``, and calls ``discard`` in every case afterwards (intermediate data)."""

    def resolve(self) -> pd.DataFrame | dict[str, Any]: ...

    def discard(self) -> None: ...


FileContent: TypeAlias = pd.DataFrame | pa.Table | dict[str, Any] | bytes | Deferred  # a table, JSON, bytes, deferred


@dataclass
class Outcome:
    """What a run type produced: files to publish (the registry names the main one, ``RunType.output``) and
    database writes to commit on success."""

    files: dict[str, FileContent]
    apply: Callable[[Session], None] | None = None


@dataclass
class RunContext:
    """What a run type's handler may use; loaders are shared so every type reads data the same way."""

    db: Database
    store: ArtifactStore
    claimed: Claimed
    progress: ProgressReporter
    fanout: tuple[FanoutSettings, Send] | None = None  # score large candidate sets on every free worker
    params: dict[str, Any] = field(init=False)
    _dataset_table: pa.Table | None = field(default=None, init=False)  # read ahead for output_rows
    # records matched after the dataset's (``use_extra_records``), and their digest for the fit cache
    extra: pd.DataFrame | None = field(default=None, init=False)
    extra_digest: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self.params = dict(self.claimed.run.params or {})

    @property
    def transform(self) -> Transform:
        return self.claimed.transform

    def dataset_path(self) -> Path:
        path = self.store.dataset_path(self.claimed.dataset.id)
        if not path.exists():
            raise NotFound(f"dataset {self.claimed.dataset.id} has no data file ({path.name}); upload it again")
        return path

    def use_extra_records(self, extra: pd.DataFrame | None) -> None:
        """Match ``extra`` (the dataset's columns; keys not in the dataset) after the dataset's records: every
        loader below then gives them too, and the fit cache keeps them apart from the dataset's own."""
        if extra is None or not len(extra):
            self.extra, self.extra_digest = None, ""
            return
        self.extra = extra.reset_index(drop=True)
        self.extra_digest = f"{len(extra)}:{int(pd.util.hash_pandas_object(self.extra, index=False).sum()):x}"

    def records(self) -> pd.DataFrame:
        records = read_table(self.dataset_path(), self.transform.primary_key, self.transform.source_column)
        if self.extra is None:
            return records
        return pd.concat([records, self.extra[list(records.columns)]], ignore_index=True)

    def record_keys(self) -> pd.DataFrame:
        """The primary-key column alone, as ``records()`` gives it (0.4 s at 1M records instead of 1.5-2.7 s):
        all a cached fit needs until the output rows. A key column ``read_table`` would reject (missing, empty
        or repeated keys) is read through it instead, for its precise error."""
        key = self.transform.primary_key
        try:
            column = pq.read_table(self.dataset_path(), columns=[key]).column(0)
        except (KeyError, pa.ArrowException):
            return self.records()[[key]]
        keys = pd.Series(column.to_numpy(zero_copy_only=False), name=key, dtype=object)
        if self.extra is not None:
            keys = pd.concat([keys, self.extra[key].astype(object)], ignore_index=True)
        if not pa.types.is_string(column.type) or keys.isna().any() or keys.duplicated().any():
            return self.records()[[key]]
        return keys.to_frame()

    def read_dataset_ahead(self) -> None:
        """Read the dataset file for ``output_rows`` now: passed as ``matcher(meanwhile=...)``, it is read while
        other workers score partitions (~0.7 s at 1M records), not after, when nobody can help."""
        if self._dataset_table is None:
            self._dataset_table = pq.read_table(self.dataset_path())

    def output_rows(self, matched: pd.DataFrame) -> pa.Table | None:
        """Every dataset row with ``matched``'s match columns (same rows, same order), built in Arrow from the
        dataset file: the same table as ``to_arrow`` of the records with those columns, without turning 9M
        cells into Python strings and back (~2 s at 1M records). None when the file holds other than strings."""
        table = self._dataset_table if self._dataset_table is not None else pq.read_table(self.dataset_path())
        self._dataset_table = None  # ~200 MB at 1M records: held no longer than needed
        table = table.replace_schema_metadata(None)
        if len(table) != len(matched) or not all(pa.types.is_string(f.type) for f in table.schema):
            return None
        ids = matched["match_id"]
        id_column = pa.array(ids.to_numpy(dtype=np.int64), pa.int64()) if pd.api.types.is_integer_dtype(ids) else \
            pa.array(ids.to_numpy(dtype=object), pa.string())  # the entity store's ids, else smallest keys
        table = table.append_column("match_id", id_column)
        scores = matched["match_confidence_score"].to_numpy(dtype=np.float64)
        return table.append_column("match_confidence_score", pa.array(scores, pa.float64()))

    def labels(self, records: pd.DataFrame) -> Labels | None:
        return load_labels(self.db, self.transform.id, self.transform.primary_key, records)

    def matcher(self, records: pd.DataFrame, labels: Labels | None, share: float = 0.9,
                fit_records: Callable[[], pd.DataFrame] | None = None,
                meanwhile: Callable[[], None] | None = None) -> Matcher:
        """The fitted matcher (cached between runs); fitting reports progress on the first ``share`` of the run.
        ``records`` may be the key column alone (``record_keys``) when ``fit_records`` reads every column
        (``records``) for a fit: see ``model_cache.fitted_matcher``. ``meanwhile``: see ``FanoutScorer``."""
        self.progress.window(0.0, share)
        scorer = None
        if self.fanout is not None:
            settings, send = self.fanout
            scorer = FanoutScorer(settings, self.claimed.run.id, send, model_cache.scorer_progress(self.progress),
                                  meanwhile)
        weights = training_weights.pair_weights(self.db, self.transform.id, labels)
        fitted = model_cache.fitted_matcher(self.store, self.transform, records, labels, self.progress, scorer,
                                            fit_records, self.extra_digest, weights)
        self.progress.window(0.0, 1.0)
        return fitted

    def odds_of(self, n_pairs: int) -> OddsOf:
        """How to get a classifier's log2 odds of many rows (explanations): handed out in partitions to the
        free workers when this run's ``n_pairs`` candidates were (large enough to be), else computed here."""
        if self.fanout is None or not self.fanout[0].spreads(n_pairs):
            return in_process
        settings, send = self.fanout

        def report(_stage: str, fraction: float) -> None:
            self.progress("explaining pairs", 0.95 + 0.04 * fraction)
        return spread_odds(settings, f"{self.claimed.run.id}-explain", send, report)


def load_labels(db: Database, transform_id: str, primary_key: str, records: pd.DataFrame) -> Labels | None:
    """The transform's labels as ``matcher.labels.Labels``, through the same validation as a labels file."""
    with db.session() as session:
        rows = session.execute(
            select(Label.labeling_set_id, Label.label, Label.record_key, Label.labeled_by, Label.labeled_at)
            .where(Label.transform_id == transform_id).order_by(Label.labeling_set_id, Label.id)).all()
    if not rows:
        return None
    frame = pd.DataFrame([tuple(r) for r in rows],
                         columns=["labeling_set_id", "label", primary_key, "labeled_by", "labeled_at"])
    frame["labeled_at"] = [t.isoformat() if t is not None else None for t in frame["labeled_at"]]
    return read_labels(frame, primary_key, known_keys=records[primary_key])


def jsonable(value: Any) -> Any:
    """Plain JSON types for files and JSON columns: numpy scalars and arrays converted, NaN and infinities
    as null (PostgreSQL's json type rejects them)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
