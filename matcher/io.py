"""Read and write record tables (CSV or Parquet) with one predictable cell contract.

Every table handed to the rest of the package follows the same rules, whatever the file format:

* every column has dtype ``object`` and every cell is a Python ``str`` or ``None``;
* surrounding whitespace is stripped from cells and column names;
* except a formula guarded by a leading tab or carriage return (``"\\t=1+1"``), kept as is: stripping
  would arm it (see ``matcher.csv_safety``);
* only empty or whitespace-only cells are missing (``None``). Strings such as ``"NA"`` or ``"null"``
  stay literal, because they are legitimate values in name and address data (think of the ISO code
  of Namibia) and guessing would silently drop them;
* rows whose cells are all empty are skipped (trailing ``,,,`` lines written by spreadsheets);
* Parquet values are formatted the way a person would type them: ``1`` not ``1.0``, ``true``, dates
  as ``2020-01-31``.

Reading everything as text keeps identifiers such as zip codes (``"02139"``) intact; comparison
functions decide later how to interpret a column.

Error messages are one line and point at the data: CSV positions are *lines* with the header as
line 1 (quoted fields spanning several lines are accounted for), Parquet and DataFrame positions
are 1-based data *rows*.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import os
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from matcher.csv_checks import check_no_nul, check_row_widths, longer_row, too_many_fields
from matcher.csv_safety import neutralise_frame, starts_with_any
from matcher.errors import InputError, MatcherError, shown, shown_all
from matcher.plain_csv import write_plain_csv

PARQUET_SUFFIXES = (".parquet", ".pq")
MAX_LISTED = 5
"""How many offending values or positions an error message names before saying "and N more"."""

_UTF8_BOM = b"\xef\xbb\xbf"
_GUARDED_FORMULA = r"^[\t\r]\s*[=+\-@]"  # kept as is by _clean
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class RawTable:
    """A table of cleaned strings plus where each row came from, so errors can point at the file.

    ``frame`` already follows the module's cell contract and has index ``0..n-1``; ``positions[i]``
    is the line (CSV) or 1-based row (Parquet, DataFrame) of ``frame`` row ``i``.
    """

    frame: pd.DataFrame
    positions: np.ndarray
    unit: str
    source: str

    def where(self, rows: Sequence[int] | np.ndarray, limit: int = MAX_LISTED) -> str:
        """Describe frame rows as ``"line 4, line 9 and 3 more"`` for an error message."""
        rows = list(rows)
        shown = ", ".join(f"{self.unit} {self.positions[i]}" for i in rows[:limit])
        return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")

    def require_column(self, name: str, role: str, error: type[MatcherError] = InputError) -> None:
        """Fail with the list of available columns, which is usually enough to spot the typo."""
        if name in self.frame.columns:
            return
        available = shown_all(list(self.frame.columns))
        hint = _separator_hint(list(self.frame.columns))
        raise error(f"{self.source}: {role} {shown(name)} not found; available columns: {available}{hint}")


Strings: TypeAlias = np.ndarray | pa.Array | pa.ChunkedArray  # a column of strings (None when missing)

def read_table(
    path: str | os.PathLike[str], primary_key: str, source_column: str | None = None
) -> pd.DataFrame:
    """Read a CSV or Parquet table of records as strings and check the primary-key contract.

    The primary key must be present and unique on every row because everything downstream (pairs,
    clusters, labels) refers to records by key; a silent duplicate would merge two people.
    Returns the columns in file order with index ``0..n-1``; raises :class:`InputError` otherwise.
    """
    raw = read_raw_table(path)
    if len(raw.frame) == 0:
        raise InputError(f"{raw.source}: no data rows (the file has only a header)")
    raw.require_column(primary_key, "primary key column")
    if source_column is not None:
        raw.require_column(source_column, "source column")
    _check_keys_present(raw, primary_key)
    _check_keys_unique(raw, primary_key)
    return raw.frame


def read_raw_table(path: str | os.PathLike[str]) -> RawTable:
    """Read a CSV or Parquet file into the cell contract without any key checks.

    This is the shared low level of :func:`read_table` and the labels reader, where keys repeat
    legitimately (a record may appear in several labeling sets).
    """
    source = os.fspath(path)
    if not os.path.exists(source):
        raise InputError(f"{source}: file not found")
    if os.path.isdir(source):
        raise InputError(f"{source}: is a directory, expected a CSV or Parquet file")
    if os.path.getsize(source) == 0:
        raise InputError(f"{source}: file is empty")
    return _read_parquet(source) if _is_parquet(source) else _read_csv(source)


def raw_table_from_frame(frame: pd.DataFrame, source: str = "DataFrame") -> RawTable:
    """Bring an in-memory DataFrame to the same cell contract as a file (ints as ``"1"``, NaN as None)."""
    names = [str(c) for c in frame.columns]
    columns = [_series_to_strings(frame.iloc[:, i]) for i in range(frame.shape[1])]
    return _assemble(names, columns, np.arange(1, len(frame) + 1), "row", source)


def write_table(df: pd.DataFrame | pa.Table, path: str | os.PathLike[str]) -> None:
    """Write CSV (UTF-8, no index) or Parquet by extension, atomically.

    The data goes to a temporary file in the target directory, is fsynced and then renamed over
    the target, so a crash or an exception never leaves a half-written table that a later run
    would read as complete. An Arrow table (``to_arrow``) is written as its DataFrame would be:
    converting once serves several files of the same rows. In CSV, text cells a spreadsheet would run as a
    formula get a ``'`` in front (``matcher.csv_safety``); Parquet is written raw.
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    temporary = os.path.join(directory, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(temporary, flags, 0o666)  # 0o666 lets the umask decide, like open()
    except OSError as exc:
        raise InputError(f"{target}: cannot write ({exc.strerror})") from exc
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if _is_parquet(target):
                _write_parquet(df, handle)
            elif not write_plain_csv(df, handle):
                frame = neutralise_frame(df.to_pandas() if isinstance(df, pa.Table) else df)
                frame.to_csv(handle, index=False, encoding="utf-8", lineterminator="\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def to_arrow(df: pd.DataFrame) -> pa.Table | None:
    """The frame as Arrow (what ``to_parquet`` converts it to), or None when a column does not convert."""
    try:
        return pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _write_parquet(data: pd.DataFrame | pa.Table, handle: IO[bytes]) -> None:
    if isinstance(data, pa.Table):
        pq.write_table(data, handle)
    else:
        data.to_parquet(handle, index=False)


def _is_parquet(path: str) -> bool:
    return path.lower().endswith(PARQUET_SUFFIXES)


def _read_csv(source: str) -> RawTable:
    """Parse every cell as text; a header row is parsed like data so its names can be checked."""
    try:
        with open(source, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise InputError(f"{source}: cannot read file ({exc.strerror})") from exc
    text = _decode(data, source)
    if not text.strip():
        raise InputError(f"{source}: file is empty")
    check_no_nul(text, source)
    try:
        cells = pd.read_csv(
            io.StringIO(text), header=None, dtype=str, na_filter=False, skip_blank_lines=False
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        width = len(next(csv.reader(io.StringIO(text)), []))
        longer = longer_row(text, width) if isinstance(exc, pd.errors.ParserError) else None
        if longer is not None:
            raise too_many_fields(*longer, width, source) from None
        raise InputError(f"{source}: cannot parse CSV: {' '.join(str(exc).split())}") from exc
    # A quoted cell containing newlines shifts the physical line of every later row.
    newlines = sum(cells[c].str.count("\n").to_numpy() for c in cells.columns)
    lines = 1 + np.arange(len(cells)) + np.concatenate(([0], np.cumsum(newlines)[:-1]))
    check_row_widths(text, cells, lines, newlines, source)
    names = [str(name) for name in cells.iloc[0]]
    columns = [cells[c].iloc[1:] for c in cells.columns]
    return _assemble(names, columns, lines[1:], "line", source)


def _decode(data: bytes, source: str) -> str:
    """Decode UTF-8 (with or without BOM); otherwise assume a Windows Western-European export.

    The fallback is deliberate rather than statistical: non-UTF-8 CSVs in practice come from
    Excel on Windows (cp1252), and detectors are unstable on short, mostly-ASCII files. The
    warning names the assumption so a user with another legacy encoding knows to re-save as UTF-8.
    """
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    elif data.startswith(_UTF16_BOMS):  # Excel's "Unicode text"; cp1252 text rarely starts with "ÿþ"
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text, assumed = data.decode("cp1252"), "cp1252 (Windows-1252)"
    except UnicodeDecodeError:  # bytes 0x81, 0x8D, 0x8F, 0x90, 0x9D are undefined in cp1252
        text, assumed = data.decode("latin-1"), "latin-1 (ISO-8859-1)"
    warnings.warn(
        f"{source} is not valid UTF-8; read it as {assumed}. "
        "If accented characters look wrong, re-save the file as UTF-8.",
        UserWarning,
        stacklevel=2,
    )
    return text


def _read_parquet(source: str) -> RawTable:
    try:
        table = pq.read_table(source)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{source}: cannot read Parquet file: {' '.join(str(exc).split())}") from exc
    names = [str(name) for name in table.column_names]
    columns = [arrow_to_strings(table.column(i)) for i in range(table.num_columns)]
    return _assemble(names, columns, np.arange(1, table.num_rows + 1), "row", source)


def arrow_to_strings(column: pa.Array | pa.ChunkedArray) -> Strings:
    """Let Arrow format values: it writes ``1`` for both int 1 and float 1.0, as a person would. Stays in Arrow
    (``_clean`` goes on there): a round trip through Python strings cost ~8 s per 1M rows x 9 columns."""
    if pa.types.is_floating(column.type):
        column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
    if pa.types.is_string(column.type):
        return column
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # nested types, non-UTF-8 binary
        return np.array([None if v is None else str(v) for v in column.to_pylist()], dtype=object)


def _series_to_strings(series: pd.Series) -> Strings:
    """Format a pandas column like a Parquet one; mixed-type object columns fall back to ``str``."""
    try:
        return arrow_to_strings(pa.array(series, from_pandas=True))
    except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = series.to_numpy(dtype=object)
        return np.array([None if _is_missing(v) else _format_scalar(v) for v in values], dtype=object)


def _is_missing(value: object) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _format_scalar(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _assemble(
    names: list[str], columns: Sequence[pd.Series | Strings], positions: np.ndarray, unit: str, source: str
) -> RawTable:
    """Apply the cell contract (strip, empty -> None, drop all-empty rows) and check column names."""
    names, cleaned, kept = clean_columns(names, columns, positions, source)
    # copy=False keeps one block per column: consolidating 1M x 9 object cells into one block costs ~0.7 s
    frame = pd.DataFrame({name: col.to_numpy(zero_copy_only=False) for name, col in zip(names, cleaned, strict=True)},
                         dtype=object, copy=False)
    return RawTable(frame, kept, unit, source)


def clean_columns(
    names: list[str], columns: Sequence[pd.Series | Strings], positions: np.ndarray, source: str
) -> tuple[list[str], list[pa.Array | pa.ChunkedArray], np.ndarray]:
    """The cell contract in Arrow, for a whole table or one chunk of it (``matcher.csv_stream``): the names
    checked, the cleaned columns without their all-empty rows, and the positions of the rows kept."""
    if not names:
        raise InputError(f"{source}: the table has no columns")
    names = [name.strip() or f"Unnamed: {i}" for i, name in enumerate(names)]
    _check_unique_names(names, source)
    cleaned = [_clean(col) for col in columns]
    keep = np.asarray(functools.reduce(pc.or_, [pc.is_valid(col) for col in cleaned]))
    if not keep.all():
        cleaned = [col.filter(pa.array(keep)) for col in cleaned]
    return names, cleaned, np.asarray(positions)[keep]


def _clean(values: pd.Series | Strings) -> pa.Array | pa.ChunkedArray:
    """Strip and blank out in Arrow: same whitespace rules as ``str.strip``, several times faster.

    Except a cell whose leading tab or carriage return guards a formula (``"\t=1+1"``, how some tools defuse
    one): stripping it would arm the formula again, so only its end is stripped."""
    if not isinstance(values, pa.Array | pa.ChunkedArray):
        values = pa.array(values, type=pa.string(), from_pandas=True)
    stripped = pc.utf8_trim_whitespace(values)
    if starts_with_any(values, "\t\r").any():
        guarded = pc.match_substring_regex(values, _GUARDED_FORMULA)
        stripped = pc.if_else(guarded, pc.utf8_rtrim_whitespace(values), stripped)
    return pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), stripped)


def _check_unique_names(names: list[str], source: str) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name in seen:
            raise InputError(
                f"{source}: duplicated column name {shown(name)} (columns {seen[name]} and {position})"
            )
        seen[name] = position


def _separator_hint(columns: list[str]) -> str:
    """A one-column table whose name contains ';' or a tab was almost surely not comma-separated."""
    if len(columns) == 1:
        for separator, label in ((";", "';'"), ("\t", "tab")):
            if separator in columns[0]:
                return f" (the file looks {label}-separated; only comma-separated CSV is supported)"
    return ""


def _check_keys_present(raw: RawTable, primary_key: str) -> None:
    empty = np.flatnonzero(raw.frame[primary_key].isna().to_numpy())
    if len(empty):
        raise InputError(
            f"{raw.source}: primary key {primary_key!r} is empty on {len(empty)} {raw.unit}(s): {raw.where(empty)}"
        )


def _check_keys_unique(raw: RawTable, primary_key: str) -> None:
    keys = raw.frame[primary_key]
    repeated = keys[keys.duplicated(keep=False)]
    if repeated.empty:
        return
    groups = list(repeated.groupby(repeated, sort=False).indices.items())
    named = "; ".join(f"{shown(key)} ({raw.where(repeated.index[rows])})" for key, rows in groups[:MAX_LISTED])
    more = f"; and {len(groups) - MAX_LISTED} more" if len(groups) > MAX_LISTED else ""
    raise InputError(
        f"{raw.source}: primary key {primary_key!r} has {len(groups)} duplicated value(s): {named}{more}"
    )
