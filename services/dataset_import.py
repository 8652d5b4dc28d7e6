"""An uploaded file turned into a dataset's files, chunk by chunk: the web process never holds the whole table.

Refused before parsing when the file's shape is pathological (``Config.max_columns``, ``Config.max_line_kb``):
a 1-row file of 10,000 columns held a request for 20 s. Then one pass over ``matcher.csv_stream``'s chunks
writes the strings Parquet copy, each row's line (CSV), the columns that could be the primary key
(``matcher.key_candidates``) and a sample for type inference. Every file is written under a temporary name
and renamed only when the whole table was read: a refused upload leaves nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from matcher.csv_stream import Chunk, header_width, iter_csv_chunks, iter_parquet_chunks, parquet_width, scan_csv
from matcher.key_candidates import KeyCandidates
from matcher.profile import SAMPLE_SIZE, infer_type
from services.config import Config
from services.errors import ValidationError
from storage.artifacts import ArtifactStore, write_atomically

SAMPLE_CELLS = 2_000_000  # a wide table is sampled on fewer rows: the sample stays ~100 MB at most
PARQUET_SUFFIXES = (".parquet", ".pq")
ROW_GROUP_CELLS = 100_000  # ~2 MB of Arrow strings held; the preview decodes one row group (~25 MB at 1M)


@dataclass(frozen=True)
class Imported:
    columns: list[str]
    types: dict[str, str]
    row_count: int
    key_candidates: list[str]


def import_upload(config: Config, path: Path, filename: str, dataset_id: str) -> Imported:
    """Write the dataset's files for the saved upload ``path``; errors name ``filename``, not our path."""
    parquet = path.suffix.lower() in PARQUET_SUFFIXES
    if parquet:
        _check_width(config, parquet_width(path, filename), filename)
        chunks = iter_parquet_chunks(path, filename)
    else:
        scan = scan_csv(path)
        if scan.longest_line > config.max_line_kb * 1024:
            raise ValidationError(f"{filename}: line {scan.longest_at} is {scan.longest_line:,} bytes long, over "
                                  f"the limit of {config.max_line_kb:,} KB a line (MATCHER_MAX_LINE_KB)",
                                  field="file", line=scan.longest_at)
        chunks = _checked_csv_chunks(config, path, scan.encoding, filename)
    return write_dataset(config, dataset_id, chunks, filename, lines=not parquet)


def _checked_csv_chunks(config: Config, path: Path, encoding: str, filename: str) -> Iterator[tuple[list[str], Chunk]]:
    _check_width(config, header_width(path, encoding), filename)
    yield from iter_csv_chunks(path, encoding, filename)


def _check_width(config: Config, width: int, filename: str) -> None:
    if width > config.max_columns:
        raise ValidationError(f"{filename}: {width:,} columns, over the limit of {config.max_columns:,} "
                              "(MATCHER_MAX_COLUMNS)", field="file")


def write_dataset(config: Config, dataset_id: str, chunks: Iterator[tuple[list[str], Chunk]], source: str,
                  lines: bool) -> Imported:
    """Consume ``chunks`` into the dataset's Parquet copy, its lines (when ``lines``) and its column facts."""
    store = ArtifactStore(config.data_dir)
    folder = store.dataset_path(dataset_id).parent
    folder.mkdir(parents=True, exist_ok=True)
    temporary = [_temp(folder, ".parquet"), _temp(folder, ".lines")]
    writer: pq.ParquetWriter | None = None
    group: _RowGroup | None = None
    keys: KeyCandidates | None = None
    sample: _Sample | None = None
    names: list[str] = []
    rows = 0
    try:
        with open(temporary[1], "wb") as positions:
            for names, chunk in chunks:
                if writer is None:
                    schema = pa.schema([(name, pa.string()) for name in names])
                    writer = pq.ParquetWriter(temporary[0], schema)
                    group = _RowGroup(writer)
                    keys, sample = KeyCandidates(names, folder), _Sample(names)
                assert keys is not None and sample is not None and group is not None
                group.add(pa.Table.from_arrays(chunk.columns, schema=writer.schema))
                positions.write(np.asarray(chunk.positions, dtype=np.int64).tobytes())
                keys.add(chunk.columns)
                sample.add(chunk.columns)
                rows += len(chunk.positions)
        if writer is None or group is None or keys is None or sample is None or rows == 0:
            detail = "no data rows (only a header)" if names else "file is empty"
            raise ValidationError(f"{source}: {detail}", field="file")
        group.flush()
        writer.close()
        writer = None
        imported = Imported(names, sample.types(), rows, keys.result())
        _publish(store, dataset_id, temporary, lines, imported)
        return imported
    finally:
        if writer is not None:
            writer.close()
        if keys is not None:
            keys.close()
        for path in temporary:
            path.unlink(missing_ok=True)


def _publish(store: ArtifactStore, dataset_id: str, temporary: list[Path], lines: bool, imported: Imported) -> None:
    """Rename the files into place: the facts and lines first, the Parquet copy (the dataset itself) last; all
    of them or none (a full disk half-way)."""
    npy = temporary[1].with_suffix(".npy")
    try:
        facts = json.dumps({"key_candidates": imported.key_candidates}).encode()
        write_atomically(store.dataset_facts_path(dataset_id), lambda handle: handle.write(facts))
        if lines:  # np.save's format, streamed: loading 8 bytes a row first would cost 160 MB at 20M rows
            header = {"descr": "<i8", "fortran_order": False, "shape": (imported.row_count,)}
            with open(npy, "wb") as target, open(temporary[1], "rb") as raw:
                np.lib.format.write_array_header_1_0(target, header)
                shutil.copyfileobj(raw, target, 1024 * 1024)
            os.replace(npy, store.dataset_lines_path(dataset_id))
        os.replace(temporary[0], store.dataset_path(dataset_id))
    except BaseException:
        for path in (npy, store.dataset_facts_path(dataset_id), store.dataset_lines_path(dataset_id)):
            path.unlink(missing_ok=True)
        raise


def _temp(folder: Path, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    return Path(name)


class _RowGroup:
    """Chunks joined into row groups of ~``ROW_GROUP_CELLS``: a chunk is as small as a few rows of a wide file,
    and a row group per chunk would make the Parquet copy slow to read."""

    def __init__(self, writer: pq.ParquetWriter) -> None:
        self.writer = writer
        self.tables: list[pa.Table] = []
        self.cells = 0

    def add(self, table: pa.Table) -> None:
        self.tables.append(table)
        self.cells += table.num_rows * max(table.num_columns, 1)
        if self.cells >= ROW_GROUP_CELLS:
            self.flush()

    def flush(self) -> None:
        if self.tables:
            self.writer.write_table(pa.concat_tables(self.tables))
        self.tables, self.cells = [], 0


class _Sample:
    """A uniform sample of at most ``SAMPLE_SIZE`` rows for ``infer_type``: the rows with the smallest random
    keys (bottom-k), kept in file order, so a table smaller than the sample is typed on all its rows, in order,
    as before."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.size = max(1, min(SAMPLE_SIZE, SAMPLE_CELLS // max(len(names), 1)))
        self.rng = np.random.default_rng(0)
        self.table: pa.Table | None = None
        self.keys = np.empty(0)

    def add(self, columns: list[pa.Array | pa.ChunkedArray]) -> None:
        chunk = pa.Table.from_arrays(columns, names=self.names)
        self.table = chunk if self.table is None else pa.concat_tables([self.table, chunk])
        self.keys = np.concatenate((self.keys, self.rng.random(chunk.num_rows)))
        if self.table.num_rows > 2 * self.size:  # not at every chunk: a take per chunk cost ~15% of the upload
            self._cut()

    def _cut(self) -> None:
        assert self.table is not None
        if self.table.num_rows > self.size:
            kept = np.sort(np.argpartition(self.keys, self.size)[: self.size])
            self.table, self.keys = self.table.take(kept), self.keys[kept]

    def types(self) -> dict[str, str]:
        self._cut()
        assert self.table is not None
        return {name: infer_type(name, pd.Series(self.table.column(name).to_numpy(zero_copy_only=False),
                                                 dtype=object)) for name in self.names}
