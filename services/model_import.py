"""Importing a model file into a transform, and FIND_MATCHES applying it (issue 16).

A model saved by ``matcher match --save-model`` or downloaded from a transform (``GET .../models/VERSION``) is
checked in full before anything is kept: a zip within the size limits (413), every checksum and the schema
version (``matcher.model_file.load_model``), the transform's primary key and source column, and every column
the model reads present in the transform's dataset (422 naming what is wrong). Only then is the file moved to
``models/<transform_id>/<version>.zip`` and its ``imported_models`` row committed; a failure removes the file.

While the newest import is in effect (``services.models.import_in_effect``: no label of the transform is newer
than it), FIND_MATCHES applies it to the dataset without fitting anything (``Matcher.from_model``), with the
transform's decisions (precision/recall tradeoff, enforce labels, one-to-one): the clusters and scores that
``matcher match DATA --model MODEL`` gives with the same flags. Labeling set generation and evaluation always use
the transform's own fit; once a label is given after the import, FIND_MATCHES fits again as usual. The imported
version stays listed until an admin deletes it.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import zipfile
from pathlib import Path
from typing import IO

import pandas as pd

from matcher.errors import MatcherError
from matcher.extra_comparators import feature_class
from matcher.model_file import SavedModel, load_model
from matcher.pipeline import Matcher
from services import validation as v
from services.config import Config
from services.errors import Conflict, NotFound, PayloadTooLarge, ValidationError
from services.model_cache import settings_for
from services.models import ModelVersion, get_model, import_in_effect
from services.run_context import RunContext
from services.validation import only_fields
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import ImportedModel, TaskRun, Transform, new_id

MB = 1024 * 1024
UNZIPPED_FACTOR = 8  # a model's members may unzip to this many times the file limit (the arrays deflate well)
MAX_FILENAME = 500
_CHUNK = MB


def import_model(config: Config, db: Database, transform_id: str, filename: str, stream: IO[bytes],
                 imported_by: str | None = None) -> ModelVersion:
    """Check the uploaded model against the transform, keep it and record it; nothing is kept on failure."""
    with db.session() as session:
        transform = session.get(Transform, transform_id)
        if transform is None:
            raise NotFound(f"transform {transform_id} not found")
        fits = _Fit(transform.primary_key, transform.source_column, list(transform.dataset.columns),
                    transform.dataset.name)
    name = Path(filename or "model.zip").name[:MAX_FILENAME] or "model.zip"
    version = new_id()
    target = ArtifactStore(config.data_dir).imported_model_path(transform_id, version)
    received, digest, size = _receive(config, stream, name)
    try:
        fits.check(_loaded(config, received, name), name)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(received, target)
        with db.session() as session:
            if session.get(Transform, transform_id) is None:  # deleted meanwhile
                raise NotFound(f"transform {transform_id} not found")
            session.add(ImportedModel(id=version, transform_id=transform_id, filename=name, digest=digest,
                                      size=size, imported_by=imported_by))
    except BaseException:
        received.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        raise
    return get_model(config, db, transform_id, version)


def copy_model(config: Config, db: Database, transform_id: str, body: object,
               imported_by: str | None = None) -> ModelVersion:
    """Import another transform's model version (of this service), ``{transform_id, version}``, checked like an
    upload."""
    if not isinstance(body, dict):
        raise ValidationError("send a multipart 'file' or a JSON object {transform_id, version}")
    only_fields(body, ("transform_id", "version"))
    from_transform, version = v.text(body, "transform_id", max_length=36), v.text(body, "version", max_length=36)
    with db.session() as session:
        if session.get(Transform, from_transform) is None:
            raise ValidationError(f"transform {from_transform} not found", field="transform_id")
    try:
        source = get_model(config, db, from_transform, version)
    except NotFound as exc:
        raise ValidationError(exc.detail, field="version") from None
    with open(source.path, "rb") as stream:
        return import_model(config, db, transform_id, f"transform {from_transform} model {version}.zip", stream,
                            imported_by)


def delete_import(config: Config, db: Database, transform_id: str, version: str) -> None:
    """Remove an imported version (a run's version goes with its transform: 409)."""
    with db.session() as session:
        if session.get(Transform, transform_id) is None:
            raise NotFound(f"transform {transform_id} not found")
        row = session.get(ImportedModel, version)
        if row is None or row.transform_id != transform_id:
            run = session.get(TaskRun, version)
            if run is not None and run.transform_id == transform_id and run.type == "FIND_MATCHES":
                raise Conflict(f"model version {version} is the model of a FIND_MATCHES run, not an imported one: "
                               "only imported models are deleted")
            raise NotFound(f"transform {transform_id} has no imported model {version}")
        session.delete(row)
    ArtifactStore(config.data_dir).imported_model_path(transform_id, version).unlink(missing_ok=True)


def imported_matcher(ctx: RunContext) -> tuple[Matcher, str, bytes] | None:
    """For FIND_MATCHES: the import in effect applied to the dataset (no fit) with the transform's decisions,
    its version and its file's bytes (the run's model.zip); None when no import is in effect."""
    with ctx.db.session() as session:
        effective = import_in_effect(session, ctx.transform.id)
        version = effective.id if effective is not None else None
    if version is None:
        return None
    path = ctx.store.imported_model_path(ctx.transform.id, version)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"the file of imported model {version} is gone: import it again or delete that "
                       "version") from None
    model = load_model(data)
    records = ctx.records()
    model.require_columns(records.columns)
    ctx.progress.window(0.0, 0.9)
    ctx.progress("applying the imported model", 0.0)
    fitted = Matcher.from_model(model, records, progress=ctx.progress, keep_index=True)
    ctx.progress.window(0.0, 1.0)
    return fitted.with_knobs(settings_for(ctx.transform)), version, data


class _Fit:
    """What an imported model must agree with: the transform's keys and its dataset's columns."""

    def __init__(self, primary_key: str, source_column: str | None, columns: list[str], dataset: str) -> None:
        self.primary_key, self.source_column, self.columns, self.dataset = primary_key, source_column, columns, dataset

    def check(self, model: SavedModel, name: str) -> None:
        settings = model.settings
        for what, saved, mine in (("primary key", settings.primary_key, self.primary_key),
                                  ("source column", settings.source_column, self.source_column)):
            if saved != mine:
                raise ValidationError(f"{name}: the model was fitted with {what} {saved!r}, this transform has "
                                      f"{mine!r}", field="file")
        try:
            model.require_columns(pd.Index(self.columns))
        except MatcherError as exc:
            raise ValidationError(f"{name} does not fit the transform's dataset {self.dataset!r}: {exc}",
                                  field="file") from None
        try:  # a model with recordlinkage features would only fail at FIND_MATCHES on a service without it
            for extra in settings.extra_comparators:
                feature_class(extra.feature, extra.name)
        except MatcherError as exc:
            raise ValidationError(f"{name} cannot be applied by this service: {exc}", field="file") from None


def _receive(config: Config, stream: IO[bytes], name: str) -> tuple[Path, str, int]:
    """The upload copied under DATA_DIR/uploads (at most ``max_model_mb``), with its SHA-256 and size."""
    folder = config.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"model-{uuid.uuid4().hex}.zip"
    limit, size, digest = config.max_model_mb * MB, 0, hashlib.sha256()
    try:
        with open(path, "wb") as handle:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"{name} is larger than the model limit of {config.max_model_mb:,} MB; "
                                          "an administrator can raise it with MATCHER_MAX_MODEL_MB", field="file")
                digest.update(chunk)
                handle.write(chunk)
        if not size:
            raise ValidationError(f"{name} is empty", field="file")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size


def _loaded(config: Config, path: Path, name: str) -> SavedModel:
    """The model, fully checked (``load_model``); its members' unzipped size is bounded before they are read."""
    try:
        with zipfile.ZipFile(path) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise ValidationError(f"{name} is not a model file (a zip archive, docs/model-format.md): {exc}",
                              field="file") from None
    if unzipped > UNZIPPED_FACTOR * config.max_model_mb * MB:
        raise PayloadTooLarge(f"{name} unzips to {unzipped / MB:,.0f} MB, more than {UNZIPPED_FACTOR} times the "
                              f"model limit of {config.max_model_mb:,} MB (MATCHER_MAX_MODEL_MB)", field="file")
    try:
        return load_model(path)
    except MatcherError as exc:
        raise ValidationError(str(exc).replace(str(path), name), field="file") from None
