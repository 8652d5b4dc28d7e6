"""Read a CSV file in bounded chunks with ``matcher.io``'s cell contract, for files too large to hold whole.

``matcher.io.read_raw_table`` reads the whole text and then a DataFrame of it (about 13x the file in memory);
this reads the same way chunk by chunk: pandas' parser (the same options, so the same cells), lines counted
across chunks (the header is line 1, quoted line breaks count), short rows refused as ``csv_checks`` refuses
them, a longer row refused with its line instead of pandas' record count. Only the text of the rows being
parsed is kept (``_TextWindow``), so memory follows the chunk, not the file.

``scan_csv`` comes first: one pass over the bytes that picks the encoding (UTF-8, else cp1252, else latin-1,
as ``matcher.io._decode`` does) and measures the longest line, so a caller can refuse a pathological file
before parsing it. ``iter_parquet_chunks`` reads a Parquet file the same way, a record batch at a time.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from matcher.csv_checks import MAX_LISTED, longer_row, short_rows, too_few_fields, too_many_fields
from matcher.errors import InputError
from matcher.io import arrow_to_strings, clean_columns

CHUNK_CELLS = 50_000
"""Cells parsed at a time: a chunk costs ~30 MB at its peak (pandas' tokens, Python strings, Arrow copies); a
wide file gets fewer rows per chunk. 400,000 cost ~100 MB and was no faster (bench/upload_memory.py)."""
_READ = 1024 * 1024
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_NOT_CP1252 = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")  # the bytes cp1252 leaves undefined


@dataclass(frozen=True)
class CsvScan:
    encoding: str
    longest_line: int  # bytes, line break excluded
    longest_at: int  # its line number (physical lines, 1-based)


@dataclass(frozen=True)
class Chunk:
    """Rows of a table under the cell contract: Arrow string columns and each row's line (or 1-based row)."""

    columns: list[pa.Array]
    positions: np.ndarray


def scan_csv(path: str | os.PathLike[str]) -> CsvScan:
    """The file's encoding and its longest physical line, in one pass of 1 MB reads."""
    utf8 = codecs.getincrementaldecoder("utf-8")()
    valid = {"utf-8": True, "cp1252": True}
    longest, longest_at, lines, run = 0, 1, 0, 0
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head.startswith(_UTF16_BOMS):
            return CsvScan("utf-16", 0, 1)  # two bytes a character: lengths in bytes mean little; checked parsed
        handle.seek(0)
        while chunk := handle.read(_READ):
            if valid["utf-8"]:
                try:
                    utf8.decode(chunk)
                except UnicodeDecodeError:
                    valid["utf-8"] = False
            if valid["cp1252"] and any(byte in chunk for byte in _NOT_CP1252):
                valid["cp1252"] = False
            breaks = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == ord("\n"))
            if not len(breaks):
                run += len(chunk)
            else:
                widths = np.diff(breaks, prepend=-1) - 1
                widths[0] += run
                at = int(np.argmax(widths))
                if widths[at] > longest:
                    longest, longest_at = int(widths[at]), lines + at + 1
                lines, run = lines + len(breaks), len(chunk) - int(breaks[-1]) - 1
    if run > longest:
        longest, longest_at = run, lines + 1
    encoding = "utf-8-sig" if valid["utf-8"] else "cp1252" if valid["cp1252"] else "latin-1"
    return CsvScan(encoding, longest, longest_at)


def header_width(path: str | os.PathLike[str], encoding: str) -> int:
    """How many fields the first record has (read alone: a caller refuses a 10,000-column file before parsing)."""
    with open(path, encoding=encoding, newline="") as handle:
        return len(next(csv.reader(handle), []))


class _TextWindow:
    """The decoded file, read by pandas through ``read``; keeps what it handed out from a given line on, so the
    rows of the chunk being parsed can be looked at again (their field counts), and refuses a NUL character
    (UTF-16 files are full of NUL bytes, so only their decoded text can be checked)."""

    def __init__(self, handle: io.TextIOBase, source: str) -> None:
        self.handle, self.source = handle, source
        self.pieces: deque[tuple[int, str]] = deque()  # (line the piece starts in, text)
        self.next_line = 1

    def read(self, size: int = -1) -> str:
        text = self.handle.read(size if size and size > 0 else _READ)
        if "\x00" in text:
            at = text.find("\x00")
            raise InputError(f"{self.source}: line {self.next_line + text.count(chr(10), 0, at)} holds a NUL "
                             "character: this is not a text CSV file (binary or damaged data)")
        if text:
            self.pieces.append((self.next_line, text))
            self.next_line += text.count("\n")
        return text

    def __iter__(self) -> Iterator[str]:  # pandas checks for it to accept a file-like object; reads go through read
        return iter(lambda: self.read(_READ), "")

    def from_line(self, line: int) -> tuple[int, str]:
        """The kept text from a piece starting before ``line`` (or the file's start), and that piece's line."""
        while len(self.pieces) > 1 and self.pieces[1][0] < line:
            self.pieces.popleft()
        if not self.pieces:
            return line, ""
        return self.pieces[0][0], "".join(text for _, text in self.pieces)


def iter_csv_chunks(path: str | os.PathLike[str], encoding: str, source: str,
                    chunk_cells: int = CHUNK_CELLS) -> Iterator[tuple[list[str], Chunk]]:
    """The column names (once per chunk, the same list) and each chunk of data rows, cleaned. Raises
    :class:`InputError` with lines for a NUL character, short rows (all of them counted, at the end) or a row
    with more fields than the header (at once)."""
    width = max(header_width(path, encoding), 1)
    with open(path, encoding=encoding, newline="") as handle:
        window = _TextWindow(handle, source)
        reader = pd.read_csv(window, header=None, dtype=str, na_filter=False, skip_blank_lines=False,
                             chunksize=max(chunk_cells // width, 1), engine="c")
        header: list[str] | None = None
        next_line, short_count = 1, 0
        short: list[tuple[int, int]] = []
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except pd.errors.ParserError as exc:
                raise _longer_row(window, next_line, width, source, exc) from None
            except UnicodeDecodeError:  # only a file starting with a UTF-16 BOM is decoded without a check first
                raise InputError(f"{source}: starts as UTF-16 text but is not valid UTF-16; re-save it as UTF-8"
                                 ) from None
            newlines = sum(cells[c].str.count("\n").to_numpy() for c in cells.columns)
            lines = next_line + np.arange(len(cells)) + np.concatenate(([0], np.cumsum(newlines)[:-1]))
            next_line = int(lines[-1] + newlines[-1] + 1)
            start, text = window.from_line(int(lines[0]))
            found = short_rows(text, cells, lines - start + 1, newlines)
            short_count += len(found)
            short.extend((line + start - 1, n) for line, n in found[: MAX_LISTED - len(short)])
            if header is None:
                header, cells, lines = [str(name) for name in cells.iloc[0]], cells.iloc[1:], lines[1:]
            if short_count:
                continue
            names, columns, kept = clean_columns(header, [cells[c] for c in cells.columns], lines, source)
            yield names, Chunk(columns, kept)
    if short_count:
        raise too_few_fields(short, short_count, width, source)
    if header is None:
        raise InputError(f"{source}: file is empty")


def _longer_row(window: _TextWindow, line: int, width: int, source: str, exc: Exception) -> InputError:
    """The record with too many fields, looked for in the kept text from the start of the chunk's first line
    (the kept text may start inside an earlier line)."""
    start, text = window.from_line(line)
    offset = 0
    for _ in range(line - start):
        offset = text.index("\n", offset) + 1
    found = longer_row(text[offset:], width, line)
    if found is None:
        return InputError(f"{source}: cannot parse CSV: {' '.join(str(exc).split())}")
    return too_many_fields(*found, width, source)


def iter_parquet_chunks(path: str | os.PathLike[str], source: str,
                        chunk_cells: int = CHUNK_CELLS) -> Iterator[tuple[list[str], Chunk]]:
    """A Parquet file's record batches under the cell contract, positions being 1-based rows."""
    try:
        parquet = pq.ParquetFile(path)
        width = max(len(parquet.schema_arrow), 1)
        first = 1
        for batch in parquet.iter_batches(batch_size=max(chunk_cells // width, 1)):
            strings = [arrow_to_strings(column) for column in batch.columns]
            positions = np.arange(first, first + batch.num_rows)
            first += batch.num_rows
            names, columns, kept = clean_columns([str(n) for n in batch.schema.names], strings, positions, source)
            yield names, Chunk(columns, kept)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{source}: cannot read Parquet file: {' '.join(str(exc).split())}") from None


def parquet_width(path: str | os.PathLike[str], source: str) -> int:
    try:
        return len(pq.ParquetFile(path).schema_arrow)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{source}: cannot read Parquet file: {' '.join(str(exc).split())}") from None
