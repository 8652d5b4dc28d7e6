"""Spreadsheet formula injection: what every CSV we write does to text cells, and how our own files are read back.

A spreadsheet opening a CSV runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (and some
treat a leading tab or carriage return the same way), so a record value or a label such as
``=HYPERLINK("http://evil.example", "click")`` would act in the admin's Excel. OWASP's rule: prefix such a cell
with ``'``, which spreadsheets show as text. Here:

* only **text** cells are neutralised (object and string columns, and only the ``str`` cells of an object
  column); numeric columns (a negative contribution ``-3.5`` in pairs.csv) are data, never formulas;
* a text cell that is exactly a number (``-3.5``, ``+44``, ``1e-3``) is left alone too: a spreadsheet reads it
  as that number, never as a formula, and every input column is text here, so a negative amount in the user's
  data stays a number;
* a cell already starting with ``'`` before one of those characters gets one more ``'``, so that
  :func:`restore` can undo the prefix exactly: ``restore(neutralise(v)) == v`` for every string ``v``.

Parquet files are written raw. Labels files (ours: ``labeling_set.csv``, exported ``labels.csv``) are restored
on import, so a label ``=1+1`` comes back unchanged from an export and its re-import.
"""

from __future__ import annotations

import re
from typing import TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TRIGGERS = "=+-@\t\r"
_TRIGGER_CLASS = r"[=+\-@\t\r]"
NEEDS_PREFIX = f"^'*{_TRIGGER_CLASS}"  # RE2 and Python agree on this syntax
PREFIXED = f"^'+{_TRIGGER_CLASS}"
_NUMBER_BODY = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
NUMBER = f"^{_NUMBER_BODY}$"  # RE2: $ is the end of the text (Python's would allow a final newline)
_NEEDS_PREFIX, _PREFIXED = re.compile(NEEDS_PREFIX), re.compile(PREFIXED)
_NUMBER = re.compile(rf"{_NUMBER_BODY}\Z")

Column: TypeAlias = pa.Array | pa.ChunkedArray


def neutralise(value: str) -> str:
    """One cell as it goes into a CSV."""
    return "'" + value if _NEEDS_PREFIX.match(value) and not _NUMBER.match(value) else value


def restore(value: str) -> str:
    """One cell of our own CSV as it was before :func:`neutralise`."""
    return value[1:] if _PREFIXED.match(value) else value


def neutralise_arrow(column: Column) -> Column:
    """A string column with its formula-like cells prefixed, returned as is when none is (the usual case).

    The first byte of every cell is read straight from the Arrow buffers (a numpy gather: ~7 ms per 1M cells);
    only cells starting with a trigger or ``'`` go through the regexes, and only they are rebuilt
    (``replace_with_mask``), so a column of 1M phone numbers of which 1% start with ``+`` costs milliseconds.
    """
    if isinstance(column, pa.ChunkedArray):
        whole = column.combine_chunks()  # one copy beats a numpy pass per chunk (a CSV read gives ~100 chunks)
        neutral = _neutralise_chunk(whole, np.flatnonzero(_leading_candidates(whole)))
        return column if neutral is whole else pa.chunked_array([neutral], type=column.type)
    return _neutralise_chunk(column, np.flatnonzero(_leading_candidates(column)))


def _neutralise_chunk(chunk: pa.Array, candidates: np.ndarray) -> pa.Array:
    if not len(candidates):
        return chunk
    suspects = chunk.take(pa.array(candidates))
    exact = pc.and_kleene(pc.match_substring_regex(suspects, NEEDS_PREFIX),
                          pc.invert(pc.match_substring_regex(suspects, NUMBER)))
    exact_np = np.asarray(exact.fill_null(False))
    if not exact_np.any():
        return chunk
    mask = np.zeros(len(chunk), dtype=bool)
    mask[candidates[exact_np]] = True
    quote, empty = pa.scalar("'", chunk.type), pa.scalar("", chunk.type)  # string or large_string
    prefixed = pc.binary_join_element_wise(quote, suspects.filter(exact), empty)
    return pc.replace_with_mask(chunk, pa.array(mask), prefixed)


def _byte_table(chars: str) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[[ord(c) for c in chars]] = True
    return table


_LEADING = _byte_table(TRIGGERS + "'")


def starts_with_any(column: Column, chars: str) -> np.ndarray:
    """Per cell of a string column: whether it starts with one of ``chars`` (ASCII), from the Arrow buffers."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return _leading_candidates(column, _byte_table(chars))


def _leading_candidates(chunk: pa.Array, table: np.ndarray = _LEADING) -> np.ndarray:
    """Per cell: non-null, non-empty and its first byte in ``table`` (default: a trigger or ``'``; all ASCII, so
    a UTF-8 byte test)."""
    none = np.zeros(len(chunk), dtype=bool)
    if len(chunk) == 0 or chunk.null_count == len(chunk):
        return none
    offsets_buffer, data_buffer = chunk.buffers()[1:3]
    if data_buffer is None or data_buffer.size == 0:
        return none
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets: np.ndarray = np.frombuffer(offsets_buffer, dtype=width)[chunk.offset: chunk.offset + len(chunk) + 1]
    starts, nonempty = offsets[:-1], offsets[1:] > offsets[:-1]
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    found = nonempty & table[data[np.where(nonempty, starts, 0)]]
    if chunk.null_count:
        found &= np.asarray(pc.is_valid(chunk))
    return found


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its text cells and column names neutralised (a shallow copy when anything changes;
    numeric columns and non-string cells of object columns untouched)."""
    changed: dict[int, pd.Series] = {}
    for position in range(frame.shape[1]):
        series = frame.iloc[:, position]
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        if not (pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype)):
            continue
        mask = _text_mask(series, _NEEDS_PREFIX) & ~_text_mask(series, _NUMBER)
        if mask.any():
            series = series.astype(object).copy()
            series[mask] = "'" + series[mask].astype(str)
            changed[position] = series
    names = [neutralise(name) if isinstance(name, str) else name for name in frame.columns]
    if not changed and names == list(frame.columns):
        return frame
    out = frame.copy(deep=False)
    for position, series in changed.items():
        out.isetitem(position, series)
    out.columns = pd.Index(names, dtype=object)
    return out


def restore_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell and column name of a frame read from one of our CSVs restored (cell contract: str or
    None)."""
    out = frame.copy(deep=False)
    names = [restore(name) if isinstance(name, str) else name for name in frame.columns]
    if names != list(frame.columns):
        out.columns = pd.Index(names, dtype=object)
    for position in range(frame.shape[1]):
        series = frame.iloc[:, position]
        mask = _text_mask(series, _PREFIXED)
        if mask.any():
            series = series.copy()  # same dtype: object stays object, str stays str
            series[mask] = series[mask].str.slice(1)
            out.isetitem(position, series)
    return out


def _text_mask(series: pd.Series, pattern: re.Pattern[str]) -> np.ndarray:
    """True where the cell is a ``str`` matching ``pattern`` (other objects and missing cells: False)."""
    values = series.to_numpy(dtype=object)
    return np.fromiter((isinstance(v, str) and pattern.match(v) is not None for v in values), dtype=bool,
                       count=len(values))
