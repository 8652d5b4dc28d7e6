"""Datasets: an uploaded CSV/Parquet file or a database table, kept as a Parquet copy of strings."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from matcher.errors import shown
from matcher.io import raw_table_from_frame
from matcher.profile import infer_type
from services import table_sources
from services.config import Config
from services.errors import Conflict, NotFound, ValidationError
from services.rows import get_or_404
from services.uploads import read_upload, save_upload
from storage.artifacts import ArtifactStore, write_atomically
from storage.db import Database
from storage.models import Dataset, Transform, new_id

PREVIEW_ROWS = 20
MAX_NAME = 200


def create_from_upload(config: Config, db: Database, filename: str, stream: IO[bytes],
                       name: str | None = None, user_id: str | None = None) -> Dataset:
    """Save the upload under DATA_DIR/uploads, read it as text, infer column types, keep a Parquet copy."""
    path = save_upload(config, filename, stream, "dataset")
    try:
        raw = read_upload(path, filename)
        lines = raw.positions if raw.unit == "line" else None
        return _create(config, db, raw.frame, name or Path(filename).stem, filename, user_id, lines)
    finally:
        path.unlink(missing_ok=True)  # the Parquet copy is the dataset of record


def create_from_table(config: Config, db: Database, url: str | None, table: str | None,
                      schema: str | None = None, name: str | None = None, user_id: str | None = None) -> Dataset:
    """Copy a table of another database, named by a SQLAlchemy URL, if the operator allows that database
    (services.table_sources); its password is never stored or echoed."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationError("database_url is required (a SQLAlchemy URL)", field="database_url")
    if not isinstance(table, str) or not table.strip():
        raise ValidationError("table is required", field="table")
    if schema is not None and (not isinstance(schema, str) or not schema.strip()):
        raise ValidationError("schema must be a non-empty string when given", field="schema")
    source = table_sources.open_source(config, url.strip())
    frame = table_sources.read_table(config, source, table.strip(), schema)
    raw = raw_table_from_frame(frame, source=f"table {shown(table)}")
    qualified = f"{schema}.{table}" if schema else table
    return _create(config, db, raw.frame, name or table, f"{source.shown}#{qualified}", user_id)


def _create(config: Config, db: Database, frame: pd.DataFrame, name: str, source: str,
            user_id: str | None, lines: np.ndarray | None = None) -> Dataset:
    name = _name(name)
    if len(frame) == 0:
        raise ValidationError(f"{source}: no data rows (only a header)", field="file")
    types = {column: infer_type(column, frame[column]) for column in frame.columns}
    dataset_id = new_id()
    store = ArtifactStore(config.data_dir)
    target = store.dataset_path(dataset_id)
    write_strings_parquet(frame, target)
    if lines is not None:  # a CSV: errors about its rows name the lines the user sees in the file
        write_atomically(store.dataset_lines_path(dataset_id), lambda handle: np.save(handle, lines))
    try:
        with db.session() as session:
            dataset = Dataset(id=dataset_id, name=name, source=source[:500], artifact=str(target),
                              columns=list(frame.columns), column_types=types, row_count=len(frame),
                              created_by=user_id)
            session.add(dataset)
    except BaseException:
        target.unlink(missing_ok=True)
        store.dataset_lines_path(dataset_id).unlink(missing_ok=True)
        raise
    return dataset


def _name(name: str | None) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
        raise ValidationError(f"name must be 1 to {MAX_NAME} characters", field="name")
    return name.strip()


def write_strings_parquet(frame: pd.DataFrame, target: Path) -> None:
    """Every column as Arrow strings (missing as null), written to a temp name and renamed: all or nothing."""
    arrays = [pa.array(frame[c].to_numpy(dtype=object), type=pa.string(), from_pandas=True) for c in frame.columns]
    table = pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".parquet")
    # mkstemp makes it 0600: private to the service user, like everything under the data dir
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def list_datasets(db: Database) -> list[Dataset]:
    with db.session() as session:
        return list(session.scalars(select(Dataset).order_by(Dataset.created_at, Dataset.id)))


def get_dataset(db: Database, dataset_id: str) -> Dataset:
    return get_or_404(db, Dataset, dataset_id, "dataset")


def preview(config: Config, dataset_id: str, limit: int = PREVIEW_ROWS) -> list[dict[str, Any]]:
    """The first rows, as the engine sees them (strings or null)."""
    parquet = pq.ParquetFile(ArtifactStore(config.data_dir).dataset_path(dataset_id))
    batch = next(parquet.iter_batches(batch_size=max(limit, 1)), None)
    return [] if batch is None else batch.slice(0, limit).to_pylist()


def read_column(config: Config, dataset_id: str, column: str) -> list[str | None]:
    path = ArtifactStore(config.data_dir).dataset_path(dataset_id)
    return pq.read_table(path, columns=[column]).column(0).to_pylist()


def row_positions(config: Config, dataset_id: str) -> tuple[str, np.ndarray | None]:
    """How errors name the dataset's rows: ``("line", line of each row)`` for a CSV upload (the header is line
    1), else ``("row", None)``: 1-based data rows."""
    path = ArtifactStore(config.data_dir).dataset_lines_path(dataset_id)
    return ("line", np.load(path)) if path.is_file() else ("row", None)


def read_rows(config: Config, dataset_id: str, key_column: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The records whose key is in ``keys``, by key."""
    path = ArtifactStore(config.data_dir).dataset_path(dataset_id)
    table = pq.read_table(path, filters=[(key_column, "in", list(keys))]) if keys else None
    rows = [] if table is None else table.to_pylist()
    return {row[key_column]: row for row in rows}


def delete_dataset(config: Config, db: Database, dataset_id: str) -> None:
    """Refused (409) while a transform uses the dataset; the Parquet copy goes after the row is gone."""
    try:
        with db.session() as session:
            dataset = session.get(Dataset, dataset_id)
            if dataset is None:
                raise NotFound(f"dataset {dataset_id} not found")
            users = list(session.scalars(select(Transform.name).where(Transform.dataset_id == dataset_id)))
            if users:
                named = ", ".join(repr(n) for n in users[:5])
                raise Conflict(f"dataset {dataset_id} is used by {len(users)} transform(s) ({named}); "
                               "delete them first")
            session.delete(dataset)
    except IntegrityError as exc:  # a transform created concurrently
        raise Conflict(f"dataset {dataset_id} is used by a transform; delete it first") from exc
    store = ArtifactStore(config.data_dir)
    store.dataset_path(dataset_id).unlink(missing_ok=True)
    store.dataset_lines_path(dataset_id).unlink(missing_ok=True)
