"""A transform's model versions: the model each succeeded FIND_MATCHES run matched with, and each model file an
admin imported (``services.model_import``), as files users can download (``matcher.model_file``,
docs/model-format.md) and apply with ``matcher match --model``.

A run's version is the id of the run that wrote it; an import's is the id of its ``imported_models`` row. Labels
count, creation time and checksum come from the file's own ``model.json``, a run's metrics from its
``stats.json`` beside it. Runs from before models were saved, or whose file is gone or fails its checksum, are
not listed.

The newest import is *in effect* (FIND_MATCHES applies it instead of fitting) while no label of the transform is
newer than it: labeling after an import means the transform learns again from its own labels.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matcher.errors import MatcherError
from matcher.model_file import model_bytes, read_manifest
from matcher.pipeline import Matcher
from services.config import Config
from services.errors import NotFound
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import ImportedModel, Label, TaskRun, Transform, as_utc, iso_utc

log = logging.getLogger(__name__)

MODEL_FILE = "model.zip"
METRICS = ("records", "candidate_pairs", "clusters", "records_in_clusters", "model", "threshold", "one_to_one",
           "blocking_recall", "imported_model")
MAX_VERSIONS = 1000


@dataclass(frozen=True)
class ModelVersion:
    version: str  # the FIND_MATCHES run's id
    created_at: str
    labels: int  # labeled pairs the model learnt from
    schema_version: int
    metrics: dict[str, Any]
    path: Path
    imported: bool = False
    filename: str | None = None  # an import's: the file's name as uploaded
    imported_at: str | None = None
    imported_by: str | None = None
    in_effect: bool = False  # an import FIND_MATCHES applies now (no label newer than it)


def model_files(matcher: Matcher) -> dict[str, bytes]:
    """A FIND_MATCHES run's model file, ``{MODEL_FILE: bytes}``; none (logged) when the model cannot be saved
    exactly (``matcher.model_file``): the run's matches matter more than its downloadable model."""
    try:
        return {MODEL_FILE: model_bytes(matcher)}
    except MatcherError as exc:
        log.warning("the model of this run is not saved: %s", exc)
        return {}


def list_models(config: Config, db: Database, transform_id: str) -> list[ModelVersion]:
    """The transform's model versions, runs' and imports' together, newest first."""
    query = select(TaskRun).where(TaskRun.transform_id == transform_id, TaskRun.type == "FIND_MATCHES",
                                  TaskRun.status == "SUCCEEDED")
    with db.session() as session:
        if session.get(Transform, transform_id) is None:
            raise NotFound(f"transform {transform_id} not found")
        runs = list(session.scalars(query.order_by(TaskRun.created_at.desc(), TaskRun.id).limit(MAX_VERSIONS)))
        imports = list(session.scalars(select(ImportedModel).where(ImportedModel.transform_id == transform_id)
                                       .order_by(ImportedModel.created_at.desc()).limit(MAX_VERSIONS)))
        effective = import_in_effect(session, transform_id)
    found: list[tuple[datetime, ModelVersion | None]] = [(as_utc(r.created_at), _version(config, r)) for r in runs]
    found += [(as_utc(i.created_at), _imported(config, i, effective)) for i in imports]
    found.sort(key=lambda item: item[0], reverse=True)
    return [v for _, v in found if v is not None][:MAX_VERSIONS]


def get_model(config: Config, db: Database, transform_id: str, version: str) -> ModelVersion:
    with db.session() as session:
        run = session.get(TaskRun, version)
        if session.get(Transform, transform_id) is None:
            raise NotFound(f"transform {transform_id} not found")
        ok = run is not None and run.transform_id == transform_id and run.type == "FIND_MATCHES" and \
            run.status == "SUCCEEDED"
        imported = session.get(ImportedModel, version)
        if imported is not None and imported.transform_id == transform_id:
            found = _imported(config, imported, import_in_effect(session, transform_id))
            if found is not None:
                return found
    found = _version(config, run) if ok and run is not None else None
    if found is None:
        raise NotFound(f"transform {transform_id} has no model version {version}")
    return found


def import_in_effect(session: Session, transform_id: str) -> ImportedModel | None:
    """The import FIND_MATCHES applies: the newest, unless a label of the transform is newer than it."""
    newest = session.scalars(select(ImportedModel).where(ImportedModel.transform_id == transform_id)
                             .order_by(ImportedModel.created_at.desc(), ImportedModel.id).limit(1)).first()
    if newest is None:
        return None
    last_label = session.scalar(select(func.max(Label.labeled_at)).where(Label.transform_id == transform_id))
    if last_label is not None and as_utc(last_label) > as_utc(newest.created_at):
        return None
    return newest


def _imported(config: Config, row: ImportedModel, effective: ImportedModel | None) -> ModelVersion | None:
    path = ArtifactStore(config.data_dir).imported_model_path(row.transform_id, row.id)
    try:
        manifest = read_manifest(path)
    except MatcherError as exc:
        log.warning("imported model %s not listed: %s", row.id, exc)
        return None
    return ModelVersion(row.id, str(manifest.get("created_at")), int(manifest.get("labels", {}).get("pairs", 0)),
                        int(manifest["schema_version"]), {"records": manifest.get("records")}, path,
                        imported=True, filename=row.filename, imported_at=iso_utc(row.created_at),
                        imported_by=row.imported_by, in_effect=effective is not None and effective.id == row.id)


def _version(config: Config, run: TaskRun) -> ModelVersion | None:
    if not run.output:
        return None
    output = Path(run.output) if os.path.isabs(run.output) else config.data_dir / run.output
    path = output.parent / MODEL_FILE
    if not path.is_file():
        return None
    try:
        manifest = read_manifest(path)
    except MatcherError as exc:
        log.warning("model of run %s not listed: %s", run.id, exc)
        return None
    try:
        stats = json.loads((path.parent / "stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stats = {}
    return ModelVersion(run.id, str(manifest.get("created_at")), int(manifest.get("labels", {}).get("pairs", 0)),
                        int(manifest["schema_version"]), {k: stats.get(k) for k in METRICS if k in stats}, path)
