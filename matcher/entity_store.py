"""An entity store: matched records, their stable entity ids, and what matching later rows against them needs.

A store is a directory. Each run publishes a new **version**, a directory written in full under a temporary name
and then renamed into ``versions/``; the file ``CURRENT`` names the version readers use and is replaced
atomically after the rename. A run killed at any moment leaves ``CURRENT`` on the previous, complete version
(an unfinished temporary directory is removed by the next run). Runs that write are serialised by an exclusive
lock on ``lock`` (``EntityStore.writing``). The last ``KEEP_VERSIONS`` versions are kept; erasure keeps one.

A version holds (``docs/entity-store.md`` describes the files): ``manifest.json`` (format, version number,
primary key, counts, the next unused entity id, the segments, the reference statistics), ``model.zip`` (the
fitted model, ``matcher.model_file``), per segment of rows ``records.parquet`` (the raw rows), ``hashes.npy``
(per record and blocking key, a hash of the key's value) and ``best.npy`` (per record, its best candidate
scores), ``entities.npz`` (match id and confidence per record), ``docfreq/*`` (document frequencies per TF-IDF
space), ``merged.parquet`` (ids merged into others) and ``history/*`` (every entity change of every run).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from matcher.errors import InputError
from matcher.reference import DocFreq, Reference

FORMAT = 1
KEEP_VERSIONS = 3
HISTORY_COLUMNS = ["version", "match_id", "change", "related_ids", "records_before", "records_after"]


class StoreError(InputError):
    """The store is missing, of another format, or does not fit what it is asked to do."""


@dataclass
class Segment:
    """A run of consecutive stored rows kept in files of their own: a version re-uses (hard-links) the files of
    the segments it did not change, so a batch writes its own rows, not the store's."""

    id: str
    rows: int
    changed: bool = True  # written by the next publish (else linked from the version it was read from)

    @classmethod
    def new(cls, rows: int) -> Segment:
        return cls(uuid.uuid4().hex, rows)


@dataclass
class StoreContents:
    """Everything one version holds. Rows of ``table``, ``ids``, ``scores``, ``hashes`` and ``best`` align;
    ``segments`` cut them into the runs of rows stored together."""

    primary_key: str
    source_column: str | None
    table: pa.Table  # the stored records, every column as text
    ids: np.ndarray  # int64 match id per record
    scores: np.ndarray  # float64 match confidence per record
    hashes: pd.DataFrame  # uint64 per blocking key
    best: np.ndarray  # float32 (records, context scores)
    reference: Reference
    next_id: int
    model: bytes
    segments: list[Segment]
    merged: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"match_id": pd.Series(dtype="int64"),
                                                                       "merged_into": pd.Series(dtype="int64")}))
    history: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=HISTORY_COLUMNS))
    version: int = 0
    created_by: str = ""
    decision: dict[str, Any] = field(default_factory=dict)  # the decision of the run that made it (``Decision``)

    @functools.cached_property
    def records(self) -> pd.DataFrame:
        """The stored records as a DataFrame (converted once; a batch needs a few rows: ``rows``)."""
        return self.table.to_pandas()

    def rows(self, positions: np.ndarray) -> pd.DataFrame:
        return self.table.take(pa.array(np.asarray(positions, dtype=np.int64))).to_pandas()

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)

    @functools.cached_property
    def keys(self) -> pd.Series:
        return pd.Series(self.table.column(self.primary_key).to_numpy(zero_copy_only=False), dtype=object,
                         name=self.primary_key).astype(str)

    def entities_frame(self) -> pd.DataFrame:
        return pd.DataFrame({self.primary_key: self.keys.to_numpy(dtype=object), "match_id": self.ids,
                             "match_confidence_score": self.scores})

    def entity_sizes(self) -> pd.Series:
        return pd.Series(self.ids).value_counts()


def table_of(records: pd.DataFrame, like: pa.Schema | None = None) -> pa.Table:
    """Records as an Arrow table of text columns (in ``like``'s schema when given, to append to a store)."""
    table = pa.Table.from_pandas(records, preserve_index=False)
    schema = like or pa.schema([pa.field(name, pa.large_string()) for name in table.column_names])
    return table.select(schema.names).cast(schema)


class EntityStore:
    """A store directory (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def _current_file(self) -> Path:
        return self.root / "CURRENT"

    def exists(self) -> bool:
        return self._current_file.is_file()

    def current_version(self) -> int:
        if not self.exists():
            raise StoreError(f"{self.root}: no entity store here (create one with `matcher match ... --store DIR`)")
        return int(self._current_file.read_text(encoding="utf-8").strip().lstrip("v"))

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the store's write lock (blocking until another run releases it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                self._remove_unfinished()
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def read(self, version: int | None = None) -> StoreContents:
        number = self.current_version() if version is None else version
        where = self._version_dir(number)
        manifest = json.loads((where / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise StoreError(f"{where}: store format {manifest.get('format')!r}, this matcher reads {FORMAT}")
        segments = [Segment(s["id"], int(s["rows"]), changed=False) for s in manifest["segments"]]
        parts = [where / "segments" / s.id for s in segments]
        table = pa.concat_tables([pq.read_table(p / "records.parquet") for p in parts]) if parts else \
            pa.table({})
        entities = np.load(where / "entities.npz")
        ref = manifest["reference"]
        doc_freq = {}
        for i, space in enumerate(ref["spaces"]):  # files by position: column names need not be file names
            frame = pd.read_parquet(where / "docfreq" / f"{i}.parquet")
            doc_freq[space] = DocFreq(frame["token"].to_numpy(dtype=object), frame["df"].to_numpy(dtype=np.int64),
                                      int(ref["n"]))
        history = [pd.read_parquet(p) for p in sorted((where / "history").glob("*.parquet"))]
        return StoreContents(
            primary_key=manifest["primary_key"], source_column=manifest["source_column"], table=table,
            ids=entities["match_id"], scores=entities["match_confidence_score"],
            hashes=pd.DataFrame(np.vstack([np.load(p / "hashes.npy") for p in parts]) if parts else None,
                                columns=manifest["hash_keys"]),
            best=np.vstack([np.load(p / "best.npy") for p in parts]),
            reference=Reference(int(ref["n"]), dict(ref["placeholders"]), doc_freq, int(ref["entities"])),
            next_id=int(manifest["next_id"]), model=(where / "model.zip").read_bytes(), segments=segments,
            merged=pd.read_parquet(where / "merged.parquet"),
            history=pd.concat(history, ignore_index=True) if history else pd.DataFrame(columns=HISTORY_COLUMNS),
            version=number, created_by=manifest.get("created_by", ""), decision=manifest.get("decision", {}))

    def read_records(self, columns: list[str] | None = None, version: int | None = None) -> pa.Table:
        """The stored records (only ``columns`` when given) of a version (default: the current one), without the
        rest of the version: e.g. the keys alone to see which records a dataset lacks."""
        where = self._version_dir(self.current_version() if version is None else version)
        manifest = json.loads((where / "manifest.json").read_text(encoding="utf-8"))
        parts = [pq.read_table(where / "segments" / s["id"] / "records.parquet", columns=columns)
                 for s in manifest["segments"]]
        return pa.concat_tables(parts) if parts else pa.table({})

    def model_path(self, version: int | None = None) -> Path:
        """The fitted model file of a version (default: the current one)."""
        return self._version_dir(self.current_version() if version is None else version) / "model.zip"

    def read_part(self, name: str, version: int | None = None) -> pd.DataFrame:
        """One part of a version, without the rest (no model, no hashes): ``records``, ``entities`` (match_id and
        match_confidence_score per record, in the records' order), ``history`` or ``merged``."""
        number = self.current_version() if version is None else version
        where = self._version_dir(number)
        if name == "records":
            return self.read_records(version=number).to_pandas()
        if name == "entities":
            with np.load(where / "entities.npz") as arrays:
                return pd.DataFrame({k: arrays[k] for k in ("match_id", "match_confidence_score")})
        if name == "history":
            parts = [pd.read_parquet(p) for p in sorted((where / "history").glob("*.parquet"))]
            return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=HISTORY_COLUMNS)
        if name == "merged":
            return pd.read_parquet(where / "merged.parquet")
        raise ValueError(f"no part {name!r} in a store version")

    def _version_dir(self, number: int) -> Path:
        return self.root / "versions" / f"v{number:06d}"

    def publish(self, contents: StoreContents, keep: int = KEEP_VERSIONS) -> int:
        """Write ``contents`` as the next version and make it current; returns its number. Call inside
        ``writing()``."""
        number = (self.current_version() if self.exists() else 0) + 1
        versions = self.root / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        temporary = versions / f".tmp-{uuid.uuid4().hex}"
        temporary.mkdir()
        try:
            previous = self._version_dir(number - 1) if number > 1 else None
            _write_version(temporary, contents, number, previous)
            os.rename(temporary, versions / f"v{number:06d}")
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        _replace_text(self._current_file, f"v{number:06d}\n")
        _fsync_dir(self.root)
        self.prune(keep)
        return number

    def prune(self, keep: int) -> list[Path]:
        """Remove all but the last ``keep`` versions; returns the directories removed."""
        current = self.current_version()
        removed = []
        for path in sorted((self.root / "versions").glob("v*")):
            number = int(path.name[1:])
            if number <= current - keep:
                shutil.rmtree(path)
                removed.append(path)
        return removed

    def _remove_unfinished(self) -> None:
        for path in (self.root / "versions").glob(".tmp-*"):
            shutil.rmtree(path, ignore_errors=True)


def _write_version(where: Path, c: StoreContents, number: int, previous: Path | None) -> None:
    (where / "model.zip").write_bytes(c.model)
    start = 0
    for segment in c.segments:
        target = where / "segments" / segment.id
        source = previous / "segments" / segment.id if previous is not None else None
        if not segment.changed and source is not None and source.is_dir():
            shutil.copytree(source, target, copy_function=os.link)  # the same rows: the same files
        else:
            target.mkdir(parents=True)
            rows = slice(start, start + segment.rows)
            pq.write_table(c.table.slice(start, segment.rows), target / "records.parquet")
            np.save(target / "hashes.npy", c.hashes.iloc[rows].to_numpy(dtype=np.uint64))
            np.save(target / "best.npy", c.best[rows].astype(np.float32))
        start += segment.rows
    if start != len(c.ids):
        raise ValueError(f"segments hold {start} rows, the store {len(c.ids)}")
    np.savez(where / "entities.npz", match_id=c.ids.astype(np.int64),
             match_confidence_score=c.scores.astype(np.float64))
    (where / "docfreq").mkdir()
    for i, space in enumerate(sorted(c.reference.doc_freq)):
        freq = c.reference.doc_freq[space]
        pd.DataFrame({"token": pd.Series(freq.tokens, dtype=object), "df": freq.df}).to_parquet(
            where / "docfreq" / f"{i}.parquet", index=False)
    c.merged.to_parquet(where / "merged.parquet", index=False)
    _write_history(where / "history", c.history, number, previous)
    manifest: dict[str, Any] = {
        "format": FORMAT, "version": number, "created_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "created_by": c.created_by, "decision": c.decision, "primary_key": c.primary_key,
        "source_column": c.source_column, "records": len(c.ids), "entities": c.reference.entities,
        "next_id": int(c.next_id), "segments": [{"id": s.id, "rows": s.rows} for s in c.segments],
        "hash_keys": list(c.hashes.columns),
        "model_sha256": hashlib.sha256(c.model).hexdigest(),  # which fitted model made these matches
        "reference": {"n": c.reference.n, "placeholders": c.reference.placeholders,
                      "entities": c.reference.entities, "spaces": sorted(c.reference.doc_freq)},
    }
    (where / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    for path in where.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def _write_history(where: Path, history: pd.DataFrame, number: int, previous: Path | None) -> None:
    """One file per version's changes: the earlier ones linked from the previous version when it has them."""
    where.mkdir()
    versions = history["version"].astype(np.int64) if len(history) else pd.Series(dtype=np.int64)
    for version in sorted(set(versions.tolist())):
        name = f"{version:06d}.parquet"
        source = previous / "history" / name if previous is not None else None
        if version < number and source is not None and source.is_file():
            os.link(source, where / name)
        else:
            history[versions == version].to_parquet(where / name, index=False)


def _replace_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
