"""What pandas' CSV parser lets through silently, refused with the line to fix (1-based, the header is line 1).

* A row with fewer fields than the header is padded with empty cells by the parser: a line cut short or a
  value with a stray quote would be read as data with silently empty columns.
* A NUL character is no text at all: a binary file, or one damaged in transit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import numpy as np
import pandas as pd

from matcher.errors import InputError

MAX_LISTED = 5


def check_no_nul(text: str, source: str) -> None:
    at = text.find("\x00")
    if at >= 0:
        line = text.count("\n", 0, at) + 1
        raise InputError(f"{source}: line {line} holds a NUL character: this is not a text CSV file (binary or "
                         "damaged data)")


def check_row_widths(text: str, cells: pd.DataFrame, lines: np.ndarray, newlines: np.ndarray, source: str) -> None:
    """``cells``: the parsed rows, header included; ``lines``/``newlines``: each row's first physical line and
    the line breaks inside its quoted cells."""
    short = short_rows(text, cells, lines, newlines)
    if short:
        raise too_few_fields(short, len(short), cells.shape[1], source)


def short_rows(text: str, cells: pd.DataFrame, lines: np.ndarray, newlines: np.ndarray) -> list[tuple[int, int]]:
    """(line, fields) of the rows with fewer fields than the header. Only a row whose last cell is empty can have
    been padded: those have their fields counted again in the text (a blank line is skipped, as every all-empty
    row). ``lines`` count from ``text``'s first line (a chunk's text: ``matcher.csv_stream``)."""
    width = cells.shape[1]
    if width < 2:
        return []
    padded = np.flatnonzero(cells.iloc[:, -1].to_numpy(dtype=object) == "")
    if not len(padded):
        return []
    first = np.asarray(lines)[padded]
    return [(line, n) for line, record in _records(text, first, first + np.asarray(newlines)[padded])
            if record.strip() for n in [_fields(record)] if n < width]


def too_few_fields(short: list[tuple[int, int]], count: int, width: int, source: str) -> InputError:
    """The error for ``count`` short rows, the first of them (line, fields) in ``short``."""
    listed = ", ".join(f"line {line} has {n}" for line, n in short[:MAX_LISTED])
    more = f" and {count - MAX_LISTED} more" if count > MAX_LISTED else ""
    return InputError(f"{source}: {count} line(s) have fewer fields than the header's {width}: {listed}"
                      f"{more} (an empty value still needs its comma)")


def longer_row(text: str, width: int, first_line: int = 1) -> tuple[int, int] | None:
    """(line, fields) of the first record with more fields than ``width`` in ``text``, which starts at the start
    of line ``first_line``. pandas' own error counts records, not lines: wrong after a quoted line break."""
    reader = csv.reader(io.StringIO(text))
    while True:
        before = reader.line_num
        record = next(reader, None)
        if record is None:
            return None
        if len(record) > width:
            return first_line + before, len(record)


def too_many_fields(line: int, fields: int, width: int, source: str) -> InputError:
    return InputError(f"{source}: line {line} has {fields} fields, more than the header's {width} (a value "
                      "holding a comma needs double quotes around it)")


def _fields(record: bytes) -> int:
    if b'"' not in record:
        return record.count(b",") + 1
    return len(next(csv.reader(io.StringIO(record.decode("utf-8", "surrogatepass"))), []))


def _records(text: str, first: np.ndarray, last: np.ndarray) -> Iterator[tuple[int, bytes]]:
    """The UTF-8 bytes of the records spanning physical lines ``first``..``last`` (1-based; lines end at
    ``\\n``, as the parser counts them). Offsets are computed with numpy: walking 1M lines in Python took
    0.4 s."""
    data = text.encode("utf-8", "surrogatepass")
    breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    starts, ends = np.concatenate(([0], breaks + 1)), np.concatenate((breaks, [len(data)]))
    known = last <= len(ends)  # always, unless lines end in a lone \\r (the parser's count differs then)
    for line, begin, end in zip(first[known].tolist(), starts[first[known] - 1].tolist(),
                                ends[last[known] - 1].tolist(), strict=True):
        yield line, data[begin:end].rstrip(b"\r")
