"""What a task run's handler works with: its claimed rows, the data loaders, and what it hands back.

Loaders live here so every run type reads the dataset and the labels the same way (the labels from the
database go through the same validation as an uploaded labels file).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.io import read_table
from matcher.labels import Labels, read_labels
from matcher.pipeline import Matcher
from services import model_cache
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


FileContent: TypeAlias = pd.DataFrame | pa.Table | dict[str, Any] | Deferred  # a table, JSON or deferred


@dataclass
class Outcome:
    """What a run type produced: files to publish, the main one, and database writes to commit on success."""

    files: dict[str, FileContent]
    output: str | None = None
    output_format: str | None = None
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

    def __post_init__(self) -> None:
        self.params = dict(self.claimed.run.params or {})

    @property
    def transform(self) -> Transform:
        return self.claimed.transform

    def records(self) -> pd.DataFrame:
        path = self.store.dataset_path(self.claimed.dataset.id)
        if not path.exists():
            raise NotFound(f"dataset {self.claimed.dataset.id} has no data file ({path.name}); upload it again")
        return read_table(path, self.transform.primary_key, self.transform.source_column)

    def labels(self, records: pd.DataFrame) -> Labels | None:
        return load_labels(self.db, self.transform.id, self.transform.primary_key, records)

    def matcher(self, records: pd.DataFrame, labels: Labels | None, share: float = 0.9) -> Matcher:
        """The fitted matcher (cached between runs); fitting reports progress on the first ``share`` of the run."""
        self.progress.window(0.0, share)
        scorer = None
        if self.fanout is not None:
            settings, send = self.fanout
            scorer = FanoutScorer(settings, self.claimed.run.id, send, model_cache.scorer_progress(self.progress))
        fitted = model_cache.fitted_matcher(self.store, self.transform, records, labels, self.progress, scorer)
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
