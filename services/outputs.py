"""A succeeded task run's output file, in the format asked for (converted once and cached if needed)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from matcher.csv_safety import restore_frame
from matcher.errors import shown
from matcher.io import write_table
from services import run_types
from services.config import Config
from services.errors import Conflict, NotFound, ValidationError
from services.task_runs import get_run
from storage.db import Database
from storage.models import TaskRun
from storage.run_status import RunStatus

MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "json": "application/json"}
SUFFIXES = {"csv": (".csv",), "parquet": (".parquet", ".pq"), "json": (".json",)}
CONVERTIBLE = ("csv", "parquet")  # what a published CSV or Parquet file can be converted to
NUMERIC_COLUMNS = ("match_confidence_score", "match_probability")


@dataclass(frozen=True)
class OutputFile:
    path: Path
    media_type: str
    download_name: str


def output_file(config: Config, db: Database, run_id: str, fmt: str | None = None,
                file: str | None = None) -> OutputFile:
    """The published file as is (``fmt`` None), or in one of the formats its type offers (``RunType.formats``).
    ``file``: another file the type publishes (``RunType.files``, by stem: ``changes``), else its main output."""
    offered = run_types.download_formats()
    if fmt is not None and fmt not in offered:
        raise ValidationError(f"format must be one of {', '.join(offered)}, got {shown(fmt)}", field="format")
    stems = run_types.file_stems()
    if file is not None and file not in stems:
        raise ValidationError(f"file must be one of {', '.join(stems)}, got {shown(file)}", field="file")
    run = get_run(db, run_id)
    if file is not None:
        return _other_file(config, run, file, fmt)
    if fmt is not None and fmt not in run_types.get(run.type).formats:
        raise ValidationError(f"format={fmt} is offered for {', '.join(run_types.offering(fmt))} runs only; "
                              "omit format for the file as published", field="format")
    if run.status != RunStatus.SUCCEEDED:
        raise Conflict(f"task run {run_id} is {run.status}; its output is available once it has SUCCEEDED")
    source = _published(config, run.output)
    if source is None:
        raise NotFound(f"task run {run_id} ({run.type}) has no output file")
    natural = _format_of(source)
    if fmt is None or fmt == natural:
        return OutputFile(source, MEDIA_TYPES[natural], f"{run.type.lower()}-{run_id}.{natural}")
    if natural not in CONVERTIBLE:
        raise ValidationError(f"the output of this {run.type} run is {natural}; omit format", field="format")
    return OutputFile(_converted(source, fmt), MEDIA_TYPES[fmt], f"{run.type.lower()}-{run_id}.{fmt}")


def _other_file(config: Config, run: TaskRun, stem: str, fmt: str | None) -> OutputFile:
    name = run_types.get(run.type).file(stem)
    if name is None:
        raise ValidationError(f"file={stem} is not published by {run.type} runs", field="file")
    if run.status != RunStatus.SUCCEEDED:
        raise Conflict(f"task run {run.id} is {run.status}; its files are available once it has SUCCEEDED")
    main = _published(config, run.output)
    source = main.parent / name if main is not None else None
    if source is None or not source.is_file():
        raise NotFound(f"task run {run.id} ({run.type}) has no {name} (it predates it, or it was erased)")
    natural = _format_of(source)
    want = fmt or natural
    if want not in CONVERTIBLE and want != natural:
        raise ValidationError(f"{name} is {natural}; omit format", field="format")
    path = source if want == natural else _converted(source, want)
    return OutputFile(path, MEDIA_TYPES[want], f"{stem}-{run.id}.{want}")


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    return next((fmt for fmt, suffixes in SUFFIXES.items() if suffix in suffixes), "csv")


def _published(config: Config, output: str | None) -> Path | None:
    """The output path (absolute, or relative to the data dir); a directory means its CSV or Parquet file."""
    if not output:
        return None
    path = Path(output) if os.path.isabs(output) else config.data_dir / output
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".parquet", ".pq", ".json"))
        path = files[0] if files else path
    return path if path.is_file() else None


def _converted(source: Path, fmt: str) -> Path:
    """CSV <-> Parquet, written atomically beside the source. Parquet is raw: a CSV's neutralised text cells
    (``matcher.csv_safety``) are restored first; a CSV written from Parquet is neutralised by ``write_table``."""
    target = source.with_suffix(SUFFIXES[fmt][0])
    if target.is_file():
        return target
    if fmt == "parquet":
        frame = restore_frame(pd.read_csv(source, dtype=str, keep_default_na=False))
        frame = frame.astype(object).where(frame != "", None)
        for column in NUMERIC_COLUMNS:
            if column in frame.columns:
                frame[column] = pd.to_numeric(frame[column])
    else:
        frame = pd.read_parquet(source)
    write_table(frame, target)
    return target
