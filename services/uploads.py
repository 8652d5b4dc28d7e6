"""Uploaded files: saved under DATA_DIR/uploads, sniffed, and read with the core's cell contract.

Error messages name the file the user sent, never the server-side path it was saved to.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import IO

from matcher.errors import MatcherError
from services.config import Config
from services.errors import UnsupportedMediaType, ValidationError

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
_SNIFF_BYTES = 8192
_CHUNK = 1024 * 1024
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def upload_suffix(filename: str) -> str:
    suffix = Path(filename or "").suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise UnsupportedMediaType(
            f"{filename or 'the upload'}: expected a CSV (.csv) or Parquet (.parquet, .pq) file", field="file")
    return suffix


def save_upload(config: Config, filename: str, stream: IO[bytes], prefix: str) -> Path:
    """Copy the upload to DATA_DIR/uploads under a fresh name and check it looks like what it claims to be."""
    suffix = upload_suffix(filename)
    folder = config.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{prefix}-{uuid.uuid4().hex}{suffix}"
    try:
        with open(path, "wb") as handle:
            _copy(stream, handle, filename, text=suffix in CSV_SUFFIXES)
        _sniff(path, filename)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _copy(stream: IO[bytes], handle: IO[bytes], filename: str, text: bool) -> None:
    """Copy in 1 MB chunks; a CSV's chunks are searched for a NUL byte (memchr) on the way, counting lines, so
    a binary tail past the first kilobytes is refused with its line before anything reads the file. UTF-16
    (with its BOM) is full of NUL bytes: the reader checks its decoded text instead."""
    lines, first = 0, True
    while chunk := stream.read(_CHUNK):
        if first:
            text, first = text and not chunk.startswith(_UTF16_BOMS), False
        if text:
            at = chunk.find(b"\x00")
            if at >= 0:
                line = lines + chunk.count(b"\n", 0, at) + 1
                raise UnsupportedMediaType(f"{filename}: not a CSV file: line {line} holds a NUL byte (binary or "
                                           "damaged data)", field="file")
            lines += chunk.count(b"\n")
        handle.write(chunk)


def _sniff(path: Path, filename: str) -> None:
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head:
        raise ValidationError(f"{filename}: file is empty", field="file")
    if path.suffix in PARQUET_SUFFIXES and not head.startswith(b"PAR1"):
        raise UnsupportedMediaType(f"{filename}: not a Parquet file", field="file")


def user_message(exc: MatcherError, path: Path, filename: str) -> MatcherError:
    """The same core error with the saved path replaced by the name the user knows."""
    return type(exc)(str(exc).replace(str(path), filename))
