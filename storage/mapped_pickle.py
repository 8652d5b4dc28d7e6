"""Pickles whose large arrays are read back memory-mapped: a cached fit reloads in a fraction of the time.

A fitted matcher at 1M records is ~580 MB, nearly all of it numpy arrays (codes, features, candidate pairs).
A plain pickle copies every byte into new arrays on load (~1 s warm, 2.5 s once the page cache has dropped the
file); here pickle protocol 5 keeps those arrays' buffers out of band, after the pickle stream in the same
file, and ``load`` hands pickle views of a private (copy-on-write) mapping of the file instead: only the pages
a run touches are read, the arrays stay writable, and writes never reach the file.

Layout: ``MAGIC``, the pickle stream's length and the number of buffers (little-endian u64), one (offset,
length) pair per buffer, the pickle stream, then each buffer at a 64-byte aligned offset.
"""

from __future__ import annotations

import mmap
import pickle
import struct
from pathlib import Path
from typing import IO, Any

MAGIC = b"MATCHER-MAPPED-PICKLE-1\n"
ALIGN = 64
_PAIR = struct.Struct("<QQ")


def dump(obj: Any, handle: IO[bytes]) -> None:
    """Write ``obj`` to a binary file opened for writing at its start (any seekable file)."""
    buffers: list[pickle.PickleBuffer] = []
    stream = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    views = [buffer.raw() for buffer in buffers]
    position = len(MAGIC) + _PAIR.size * (1 + len(views)) + len(stream)
    extents = []
    for view in views:
        position = -(-position // ALIGN) * ALIGN
        extents.append((position, view.nbytes))
        position += view.nbytes
    handle.write(MAGIC + _PAIR.pack(len(stream), len(views)))
    handle.write(b"".join(_PAIR.pack(*extent) for extent in extents))
    handle.write(stream)
    for (offset, _), view in zip(extents, views, strict=True):
        handle.write(b"\0" * (offset - handle.tell()))
        handle.write(view)


def load(path: Path) -> Any:
    """The object ``dump`` wrote to ``path`` (trusted: a pickle runs code). ValueError if it is not such a file
    or is cut short."""
    with path.open("rb") as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise ValueError(f"{path} is not a mapped pickle")
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    view = memoryview(mapped)
    try:
        stream_length, count = _PAIR.unpack_from(view, len(MAGIC))
        start = len(MAGIC) + _PAIR.size * (1 + count)
        extents = [_PAIR.unpack_from(view, len(MAGIC) + _PAIR.size * (1 + i)) for i in range(count)]
    except struct.error as exc:
        raise ValueError(f"{path} is cut short") from exc
    if start + stream_length > len(view) or any(offset + length > len(view) for offset, length in extents):
        raise ValueError(f"{path} is cut short")
    buffers = [view[offset:offset + length] for offset, length in extents]
    return pickle.loads(view[start:start + stream_length], buffers=buffers)  # noqa: S301 (see docstring)
