"""A transform's model versions: the model each succeeded FIND_MATCHES run matched with, as a file users can
download (``matcher.model_file``, docs/model-format.md) and apply with ``matcher match --model``.

A version is the id of the run that wrote it; its labels count, creation time and checksum come from the file's
own ``model.json``, its metrics from the run's ``stats.json`` beside it. Runs from before models were saved, or
whose file is gone or fails its checksum, are not listed.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from matcher.errors import MatcherError
from matcher.model_file import model_bytes, read_manifest
from matcher.pipeline import Matcher
from services.config import Config
from services.errors import NotFound
from storage.db import Database
from storage.models import TaskRun, Transform

log = logging.getLogger(__name__)

MODEL_FILE = "model.zip"
METRICS = ("records", "candidate_pairs", "clusters", "records_in_clusters", "model", "threshold", "one_to_one",
           "blocking_recall")
MAX_VERSIONS = 1000


@dataclass(frozen=True)
class ModelVersion:
    version: str  # the FIND_MATCHES run's id
    created_at: str
    labels: int  # labeled pairs the model learnt from
    schema_version: int
    metrics: dict[str, Any]
    path: Path


def model_files(matcher: Matcher) -> dict[str, bytes]:
    """A FIND_MATCHES run's model file, ``{MODEL_FILE: bytes}``; none (logged) when the model cannot be saved
    exactly (``matcher.model_file``): the run's matches matter more than its downloadable model."""
    try:
        return {MODEL_FILE: model_bytes(matcher)}
    except MatcherError as exc:
        log.warning("the model of this run is not saved: %s", exc)
        return {}


def list_models(config: Config, db: Database, transform_id: str) -> list[ModelVersion]:
    """The transform's model versions, newest first."""
    query = select(TaskRun).where(TaskRun.transform_id == transform_id, TaskRun.type == "FIND_MATCHES",
                                  TaskRun.status == "SUCCEEDED")
    with db.session() as session:
        if session.get(Transform, transform_id) is None:
            raise NotFound(f"transform {transform_id} not found")
        runs = list(session.scalars(query.order_by(TaskRun.created_at.desc(), TaskRun.id).limit(MAX_VERSIONS)))
    found = (_version(config, run) for run in runs)
    return [v for v in found if v is not None]


def get_model(config: Config, db: Database, transform_id: str, version: str) -> ModelVersion:
    with db.session() as session:
        run = session.get(TaskRun, version)
        if session.get(Transform, transform_id) is None:
            raise NotFound(f"transform {transform_id} not found")
        ok = run is not None and run.transform_id == transform_id and run.type == "FIND_MATCHES" and \
            run.status == "SUCCEEDED"
    found = _version(config, run) if ok and run is not None else None
    if found is None:
        raise NotFound(f"transform {transform_id} has no model version {version}")
    return found


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
