"""Labeling files with AWS Glue FindMatches semantics.

A labels file is a table ``labeling_set_id, label, <data columns including the primary key>``.
Inside one labeling set, rows with the *same* label are the same entity and rows with *different*
labels are different entities. Labels are case-sensitive strings that mean nothing outside their
set: ``A`` in set 1 and ``A`` in set 2 say nothing about each other. So a set of ``n`` labeled
rows yields ``n * (n - 1) / 2`` pair verdicts, and sets stay small (at most
:data:`MAX_SET_SIZE` labeled rows).

A row with an empty label is unlabeled: it is counted (a half-done labeling session is normal)
but otherwise ignored, and only labeled rows are validated. Optional ``labeled_by`` and
``labeled_at`` columns record provenance and are carried through unchanged.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matcher.csv_safety import restore_frame
from matcher.errors import InputError, LabelError, shown, shown_all
from matcher.io import MAX_LISTED, RawTable, raw_table_from_frame, read_raw_table

SET_COLUMN = "labeling_set_id"
LABEL_COLUMN = "label"
PROVENANCE_COLUMNS = ("labeled_by", "labeled_at")
MAX_SET_SIZE = 50
"""Largest labeling set accepted: bounds the pairs per set and the effort asked of a labeler."""
MAX_LABEL_LENGTH = 200
"""Longest label, from a file or the web UI alike (the service's ``labels.label`` column holds this many)."""
MAX_SET_ID_LENGTH = 200
"""Longest labeling set id (``labels.labeling_set_id``)."""

_ROW_COLUMNS = [SET_COLUMN, "key", LABEL_COLUMN, *PROVENANCE_COLUMNS]
_PAIR_COLUMNS = ["key_a", "key_b", "is_match", SET_COLUMN]
_CONTRADICTION_COLUMNS = ["key_a", "key_b", "match_set_ids", "nonmatch_set_ids"]


@dataclass(frozen=True, eq=False)
class Labels:
    """Validated labels: one row per labeled record in a set, plus how many rows were unlabeled.

    ``rows`` has columns ``labeling_set_id, key, label, labeled_by, labeled_at`` (object dtype,
    strings; provenance may be None). ``unlabeled_per_set`` lets :meth:`append` forget the
    unlabeled rows of a replaced set; rows without a set id are counted under ``""``.
    Treat instances as immutable: methods return new objects and never modify ``rows``.
    """

    rows: pd.DataFrame
    n_unlabeled: int = 0
    unlabeled_per_set: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", _normalise_rows(self.rows))

    @classmethod
    def empty(cls) -> Labels:
        """No labels yet: the neutral start for :meth:`append`."""
        return cls(pd.DataFrame({c: pd.Series(dtype=object) for c in _ROW_COLUMNS}))

    def pairs(self) -> pd.DataFrame:
        """Every within-set pair of labeled rows as ``key_a < key_b, is_match, labeling_set_id``.

        A self-merge on the set id is quadratic per set only, and sets hold at most 50 rows.
        """
        rows = self.rows[[SET_COLUMN, "key", LABEL_COLUMN]]
        both = rows.merge(rows, on=SET_COLUMN, suffixes=("_a", "_b"))
        both = both[(both["key_a"] < both["key_b"]).to_numpy(dtype=bool)]
        pairs = pd.DataFrame(
            {
                "key_a": both["key_a"].to_numpy(dtype=object),
                "key_b": both["key_b"].to_numpy(dtype=object),
                "is_match": (both["label_a"] == both["label_b"]).to_numpy(dtype=bool),
                SET_COLUMN: both[SET_COLUMN].to_numpy(dtype=object),
            }
        )
        return pairs.sort_values([SET_COLUMN, "key_a", "key_b"], ignore_index=True)

    def contradictions(self) -> pd.DataFrame:
        """Pairs labeled a match in one set and a non-match in another, with both sets' ids.

        Only direct contradictions are reported; conflicts implied by transitivity are not.
        """
        pairs = self.pairs()
        pair_columns = ["key_a", "key_b"]
        verdicts = pairs.groupby(pair_columns)["is_match"].agg(["any", "all"])
        conflicted = verdicts.index[verdicts["any"] & ~verdicts["all"]]
        if conflicted.empty:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in _CONTRADICTION_COLUMNS})
        involved = pairs[pd.MultiIndex.from_frame(pairs[pair_columns]).isin(conflicted)]
        set_ids = involved.groupby(pair_columns + ["is_match"])[SET_COLUMN].agg(list)
        result = pd.DataFrame(
            {
                "match_set_ids": set_ids.xs(True, level="is_match"),
                "nonmatch_set_ids": set_ids.xs(False, level="is_match"),
            }
        )
        return result.reset_index()[_CONTRADICTION_COLUMNS]

    def append(self, other: Labels) -> Labels:
        """Add newer labels; a set id present in ``other`` replaces that whole set here.

        Whole-set replacement matches how sets are relabeled: the newer file is the labeler's
        complete current opinion on the set, including rows they have since left unlabeled.
        """
        replaced = set(other.rows[SET_COLUMN]) | (set(other.unlabeled_per_set) - {""})
        kept = self.rows[~self.rows[SET_COLUMN].isin(replaced)]
        parts = [frame for frame in (kept, other.rows) if len(frame)]
        rows = pd.concat(parts, ignore_index=True) if parts else Labels.empty().rows
        forgotten = sum(n for s, n in self.unlabeled_per_set.items() if s in replaced)
        unlabeled = {s: n for s, n in self.unlabeled_per_set.items() if s not in replaced}
        for set_id, count in other.unlabeled_per_set.items():
            unlabeled[set_id] = unlabeled.get(set_id, 0) + count
        return Labels(rows, self.n_unlabeled - forgotten + other.n_unlabeled, unlabeled)

    def to_frame(self, records: pd.DataFrame, primary_key: str) -> pd.DataFrame:
        """Export as a labels file ``labeling_set_id, label, <every records column>`` for re-import.

        Provenance columns are appended at the end only when some label has provenance.
        """
        provenance = [c for c in PROVENANCE_COLUMNS if self.rows[c].notna().any()]
        if primary_key not in records.columns:
            raise LabelError(f"records have no primary key column {primary_key!r}")
        clashes = [c for c in (SET_COLUMN, LABEL_COLUMN, *provenance) if c in records.columns]
        if clashes:
            raise LabelError(f"records columns {clashes} clash with the labels file format")
        data = records.iloc[_record_positions(records, primary_key, self.rows["key"])]
        return pd.concat(
            [
                self.rows[[SET_COLUMN, LABEL_COLUMN]],
                data.reset_index(drop=True),
                self.rows[provenance],
            ],
            axis=1,
        )

    def key_set(self) -> set[str]:
        """Keys of every labeled record, e.g. to keep them in a sample or out of a test split."""
        return set(self.rows["key"])

    def summary(self) -> dict[str, int]:
        """Counts for a progress report: sets, labeled and unlabeled rows, pair verdicts."""
        pairs = self.pairs()
        n_match = int(pairs["is_match"].sum())
        return {
            "n_sets": int(self.rows[SET_COLUMN].nunique()),
            "n_labeled_rows": len(self.rows),
            "n_unlabeled": int(self.n_unlabeled),
            "n_match_pairs": n_match,
            "n_nonmatch_pairs": len(pairs) - n_match,
        }


def read_labels(
    source: str | os.PathLike[str] | pd.DataFrame,
    primary_key: str,
    known_keys: Iterable[str] | None = None,
) -> Labels:
    """Read and validate a labels file (CSV, Parquet) or DataFrame.

    ``known_keys`` are the primary keys of the data being matched; labels about other records
    would silently train on nothing, so they are rejected. Raises :class:`LabelError` naming the
    first problem found, before any :class:`Labels` is built.
    """
    raw = _load(source)
    _require_columns(raw, primary_key)
    frame = raw.frame
    labeled = frame[LABEL_COLUMN].notna().to_numpy()
    if not labeled.any():
        raise LabelError(f"{raw.source}: no labels at all (all {len(frame)} {raw.unit}s have an empty 'label')")
    provenance = [c for c in PROVENANCE_COLUMNS if c in frame.columns]
    rows = frame.loc[labeled, [SET_COLUMN, primary_key, LABEL_COLUMN, *provenance]]
    rows = rows.rename(columns={primary_key: "key"})  # index still points into raw for messages
    _check_complete(raw, rows, primary_key)
    _check_lengths(raw, rows)
    if known_keys is not None:
        _check_known(raw, rows, known_keys)
    _check_no_repeats(raw, rows)
    _check_set_sizes(raw, rows)
    unlabeled = frame.loc[~labeled, SET_COLUMN].fillna("").value_counts()
    per_set = {str(s): int(n) for s, n in unlabeled.items()}
    return Labels(rows.reset_index(drop=True), int((~labeled).sum()), per_set)


def _load(source: str | os.PathLike[str] | pd.DataFrame) -> RawTable:
    """Share the data reader's parsing and encoding rules; report its failures as label errors.

    A labels CSV is one of ours (``labeling-set`` output, an export) or made from one, so the ``'`` that
    neutralised formula-like cells on the way out is removed (``matcher.csv_safety.restore``)."""
    try:
        if isinstance(source, pd.DataFrame):
            return raw_table_from_frame(source, source="labels DataFrame")
        raw = read_raw_table(source)
    except InputError as exc:
        raise LabelError(str(exc)) from exc
    return dataclasses.replace(raw, frame=restore_frame(raw.frame)) if raw.unit == "line" else raw


def _normalise_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Give every Labels the same schema: string set ids, keys and labels; provenance or None."""
    missing = [c for c in _ROW_COLUMNS[:3] if c not in rows.columns]
    if missing:
        raise ValueError(f"Labels.rows needs columns {_ROW_COLUMNS[:3]}; missing {missing}")
    if rows[_ROW_COLUMNS[:3]].isna().any().any():
        raise ValueError("Labels.rows must not have missing labeling_set_id, key or label")
    normal = {c: rows[c].astype(str).astype(object) for c in _ROW_COLUMNS[:3]}
    for column in PROVENANCE_COLUMNS:
        values = rows[column] if column in rows.columns else pd.Series(None, index=rows.index)
        normal[column] = values.astype(object).where(values.notna(), None)
    return pd.DataFrame(normal, dtype=object).reset_index(drop=True)


def _require_columns(raw: RawTable, primary_key: str) -> None:
    missing = [c for c in (SET_COLUMN, LABEL_COLUMN) if c not in raw.frame.columns]
    if missing:
        available = shown_all(list(raw.frame.columns))
        names = " and ".join(repr(c) for c in missing)
        raise LabelError(f"{raw.source}: labels need column {names}; available columns: {available}")
    raw.require_column(primary_key, "primary key column", error=LabelError)


def _check_complete(raw: RawTable, rows: pd.DataFrame, primary_key: str) -> None:
    """A label is meaningless without the set it belongs to and the record it is about."""
    for column, role in ((SET_COLUMN, "labeling_set_id"), ("key", f"primary key {primary_key!r}")):
        empty = rows.index[rows[column].isna().to_numpy()]
        if len(empty):
            raise LabelError(
                f"{raw.source}: {role} is empty on {len(empty)} labeled {raw.unit}(s): {raw.where(empty)}"
            )


def _check_lengths(raw: RawTable, rows: pd.DataFrame) -> None:
    """Labels are short group names; a 1 MB cell is a mistake (and would not fit the service's database)."""
    for column, limit in ((LABEL_COLUMN, MAX_LABEL_LENGTH), (SET_COLUMN, MAX_SET_ID_LENGTH)):
        long = rows.index[rows[column].str.len().to_numpy() > limit]
        if len(long):
            raise LabelError(f"{raw.source}: {column} longer than {limit} characters on {len(long)} {raw.unit}(s): "
                             f"{raw.where(long)}, e.g. {shown(rows.at[long[0], column])}")


def _check_known(raw: RawTable, rows: pd.DataFrame, known_keys: Iterable[str]) -> None:
    # the data's keys are looked up in the (few) labeled keys, not the other way round: a set of 1M keys took
    # 1.5 s per run at 1M records, for a few hundred labels
    keys = known_keys if isinstance(known_keys, pd.Series) else pd.Series(list(known_keys), dtype=object)
    keys = keys.astype(str)
    known = set(keys[keys.isin(rows["key"].astype(str).unique())])
    unknown = rows[~rows["key"].isin(known).to_numpy()]
    if unknown.empty:
        return
    named = ", ".join(
        f"{shown(key)} ({raw.where([position])})" for position, key in unknown["key"].iloc[:MAX_LISTED].items()
    )
    more = f" and {len(unknown) - MAX_LISTED} more" if len(unknown) > MAX_LISTED else ""
    raise LabelError(
        f"{raw.source}: {len(unknown)} labeled {raw.unit}(s) have primary keys not in the data: {named}{more}"
    )


def _check_no_repeats(raw: RawTable, rows: pd.DataFrame) -> None:
    """One record twice in a set would label a record against itself."""
    repeated = rows[rows.duplicated([SET_COLUMN, "key"], keep=False).to_numpy()]
    if repeated.empty:
        return
    set_id, key = repeated.iloc[0][SET_COLUMN], repeated.iloc[0]["key"]
    same = repeated.index[((repeated[SET_COLUMN] == set_id) & (repeated["key"] == key)).to_numpy()]
    n_other = repeated.groupby([SET_COLUMN, "key"]).ngroups - 1
    more = f" (and {n_other} more repeated record(s))" if n_other else ""
    raise LabelError(
        f"{raw.source}: record {shown(key)} appears {len(same)} times in labeling set {shown(set_id)} "
        f"({raw.where(same)}){more}"
    )


def _check_set_sizes(raw: RawTable, rows: pd.DataFrame) -> None:
    sizes = rows.groupby(SET_COLUMN, sort=False).size()
    too_big = sizes[sizes.to_numpy() > MAX_SET_SIZE]
    if too_big.empty:
        return
    named = ", ".join(f"{shown(set_id)} has {int(size)}" for set_id, size in too_big.iloc[:MAX_LISTED].items())
    raise LabelError(
        f"{raw.source}: labeling set(s) too large: {named} labeled records; at most {MAX_SET_SIZE} are allowed"
    )


def _record_positions(records: pd.DataFrame, primary_key: str, keys: pd.Series) -> np.ndarray:
    """Row position in ``records`` of each labeled key; every key must exist exactly once."""
    index = pd.Index(records[primary_key].astype(str).to_numpy(dtype=object))
    if not index.is_unique:
        repeated = list(index[index.duplicated()].unique()[:MAX_LISTED])
        raise LabelError(f"records have duplicated primary keys, e.g. {repeated}")
    positions = index.get_indexer(keys.to_numpy(dtype=object))
    missing = keys[positions < 0].unique()
    if len(missing):
        named = ", ".join(repr(k) for k in missing[:MAX_LISTED])
        raise LabelError(f"{len(missing)} labeled key(s) are not in the records: {named}")
    return positions
