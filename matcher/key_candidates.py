"""Which columns could be the primary key: a value on every row, never the same value twice.

Found in the same chunked pass that reads a table (``matcher.csv_stream``), in bounded memory. A column leaves
the candidates at its first empty value or at a value repeated within a chunk; the surviving columns' values
are kept as 64-bit hashes in a file each (8 bytes a row on disk, nothing in memory), checked for repeats across
chunks at the end, in slices of at most ``memory_bytes`` (a hash belongs to slice ``hash % slices``: repeats
always meet in the same slice). Two different values sharing a 64-bit hash would make a unique column look
repeated: about 1 chance in 100,000 at 20M rows, and only ever in that direction.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

MEMORY_BYTES = 4 * 1024 * 1024  # a slice's hashes; checking one costs twice that (read, then joined)
_READ_HASHES = 256 * 1024  # 2 MB reads: larger transient arrays stay in the heap (glibc raises its mmap threshold)


class KeyCandidates:
    def __init__(self, names: list[str], folder: str | os.PathLike[str],
                 memory_bytes: int = MEMORY_BYTES) -> None:
        self.names = names
        self.memory_bytes = memory_bytes
        self.alive = list(range(len(names)))
        self.files: dict[int, Path] = {}  # made at a column's first write: most columns repeat in the first chunk
        self.rows = 0
        self.folder = Path(folder)

    def add(self, columns: list[pa.Array | pa.ChunkedArray]) -> None:
        """A chunk of rows, its columns in the order of ``names``."""
        self.rows += len(columns[0]) if columns else 0
        for index in list(self.alive):
            column = columns[index]
            if column.null_count:
                self._drop(index)
                continue
            hashes = pd.util.hash_array(column.to_numpy(zero_copy_only=False).astype(object))
            if len(np.unique(hashes)) < len(hashes):
                self._drop(index)
                continue
            if index not in self.files:
                fd, name = tempfile.mkstemp(dir=self.folder, prefix=".keys-", suffix=".u64")
                os.close(fd)
                self.files[index] = Path(name)
            with open(self.files[index], "ab") as handle:
                handle.write(hashes.tobytes())

    def result(self) -> list[str]:
        """The columns with a value on every row and no value twice (none of an empty table); removes the files."""
        try:
            return [self.names[i] for i in self.alive if self.rows and not self._repeats(self.files[i])]
        finally:
            self.close()

    def close(self) -> None:
        for index in list(self.alive):
            self._drop(index)

    def _drop(self, index: int) -> None:
        self.alive.remove(index)
        path = self.files.pop(index, None)
        if path is not None:
            path.unlink(missing_ok=True)

    def _repeats(self, path: Path) -> bool:
        count = path.stat().st_size // 8
        slices = max(1, -(-count * 8 // self.memory_bytes))
        for part in range(slices):
            kept = []
            with open(path, "rb") as handle:
                while len(hashes := np.fromfile(handle, dtype=np.uint64, count=_READ_HASHES)):
                    kept.append(hashes[hashes % np.uint64(slices) == part] if slices > 1 else hashes)
            values = np.concatenate(kept) if kept else np.empty(0, np.uint64)
            del kept
            values.sort()  # in place: no third copy
            if len(values) > 1 and bool((values[1:] == values[:-1]).any()):
                return True
        return False
