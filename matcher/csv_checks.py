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
    the line breaks inside its quoted cells. Only a row whose last cell is empty can have been padded: those
    few have their fields counted again in the text (a blank line is skipped, as every all-empty row)."""
    width = cells.shape[1]
    if width < 2:
        return
    padded = np.flatnonzero(cells.iloc[:, -1].to_numpy(dtype=object) == "")
    if not len(padded):
        return
    spans = {int(lines[i]): int(newlines[i]) + 1 for i in padded}
    short = [(line, n) for line, record in _records(text, spans) if record.strip()
             for n in [_fields(record)] if n < width]
    if short:
        listed = ", ".join(f"line {line} has {n}" for line, n in short[:MAX_LISTED])
        more = f" and {len(short) - MAX_LISTED} more" if len(short) > MAX_LISTED else ""
        raise InputError(f"{source}: {len(short)} line(s) have fewer fields than the header's {width}: {listed}"
                         f"{more} (an empty value still needs its comma)")


def _fields(record: str) -> int:
    if '"' not in record:
        return record.count(",") + 1
    return len(next(csv.reader(io.StringIO(record)), []))


def _records(text: str, spans: dict[int, int]) -> Iterator[tuple[int, str]]:
    """The text of the records starting at the given physical lines, each ``spans[line]`` lines long, read
    line by line (``\\n`` only, as the parser counts them) and stopping after the last one."""
    wanted = iter(sorted(spans.items()))
    target = next(wanted, None)
    start, remaining, collected = 0, 0, list[str]()
    for number, line in enumerate(io.StringIO(text), start=1):
        if not remaining:
            if target is None:
                return
            if number != target[0]:
                continue
            (start, remaining), collected = target, []
            target = next(wanted, None)
        collected.append(line)
        remaining -= 1
        if not remaining:
            yield start, "".join(collected).rstrip("\r\n")
