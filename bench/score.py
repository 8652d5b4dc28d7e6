"""Pairwise precision / recall / F1 of a clustering against ground truth, by counting.

A clustering (``id, match_id``: records sharing ``match_id`` are predicted to be one entity)
is scored against ``truth.csv`` (``id, entity_id``) on record *pairs*, but no pair is ever
enumerated, so 10M records score in seconds:

* predicted pairs = sum over predicted clusters of C(n, 2)
* true pairs      = sum over true entities of C(n, 2)
* true positives  = sum over (cluster, entity) intersections of C(n, 2)

For linkage (a ``source`` per record) only pairs whose two records come from different
sources count: a group of N records with n_s records from source s holds
(N^2 - sum_s n_s^2) / 2 such pairs.

Records of the truth that are missing from the predictions, or have an empty ``match_id``,
are singletons; predicted ids that are not in the truth are ignored. Precision (recall) is
0.0 when no pair is predicted (true).

Usage::

    python bench/score.py PRED.csv BENCH_DIR      # prints JSON

    from score import pairwise_scores
    pairwise_scores(pred_df, truth_df, source_series_or_None)

``BENCH_DIR`` holds ``truth.csv``, ``meta.json`` and (for linkage, ``source_column`` set in
meta.json) ``records.csv``. ``source`` is a Series indexed by record id (or, if its index
is a RangeIndex, aligned position by position with ``truth``). Columns are hashed with
pyarrow, once each; groups are counted with bincount or a sort.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _arrow(values) -> pa.Array:
    """A column (Series, array, list) as one pyarrow array, without copying where possible."""
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(np.asarray(values).astype(str))
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _codes(values) -> np.ndarray:
    """Dense int64 codes of a column (one hash pass); nulls each get a code of their own."""
    indices = pc.dictionary_encode(_arrow(values)).indices
    codes = pc.fill_null(indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    missing = codes < 0
    if missing.any():
        codes[missing] = codes.max(initial=-1) + 1 + np.arange(int(missing.sum()))
    return codes


def _group_sizes(key: np.ndarray) -> np.ndarray:
    """Sizes of the groups of equal non-negative int64 keys (bincount if dense, else sort)."""
    if len(key) == 0:
        return np.zeros(0, np.int64)
    if int(key.max()) < 4 * len(key) + 1024:
        sizes = np.bincount(key)
        return sizes[sizes > 0].astype(np.int64)
    ordered = np.sort(key)
    edges = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    return np.diff(np.concatenate([[0], edges, [len(key)]])).astype(np.int64)


def count_pairs(groups: np.ndarray, source: np.ndarray | None = None) -> int:
    """Pairs within groups (all pairs, or only cross-source pairs if ``source`` is given).

    ``groups`` and ``source`` are non-negative int64 codes, one per record.
    """
    n = _group_sizes(groups)
    if source is None:
        return int((n * (n - 1) // 2).sum())
    width = int(source.max(initial=0)) + 1
    if int(groups.max(initial=0)) >= np.iinfo(np.int64).max // width:
        groups = np.unique(groups, return_inverse=True)[1].astype(np.int64)  # avoid overflow
    per_source = _group_sizes(groups * width + source)
    return int(((n * n).sum() - (per_source * per_source).sum()) // 2)


def _positions(ids: pa.Array, other_ids: pa.Array, what: str) -> np.ndarray | None:
    """Row of each of ``ids`` in ``other_ids`` (-1 if absent); None if in the same order."""
    if ids.equals(other_ids):
        return None
    both = _codes(pa.concat_arrays([ids.cast(pa.string()), other_ids.cast(pa.string())]))
    mine, theirs = both[: len(ids)], both[len(ids) :]
    if len(theirs) and np.bincount(theirs).max() > 1:
        raise ValueError(f"{what} lists some id more than once")
    where = np.full(int(both.max(initial=-1)) + 1, -1, dtype=np.int64)
    where[theirs] = np.arange(len(theirs))
    return where[mine]


def _take(codes: np.ndarray, positions: np.ndarray | None) -> np.ndarray:
    """``codes`` reordered by ``positions``; absent rows (-1) get codes of their own."""
    if positions is None:
        return codes
    out = codes[np.maximum(positions, 0)] if len(codes) else np.zeros(len(positions), np.int64)
    absent = positions < 0
    out[absent] = codes.max(initial=-1) + 1 + np.arange(int(absent.sum()))
    return out


def _align(pred: pd.DataFrame, truth: pd.DataFrame, source) -> tuple:
    """Cluster codes, entity codes and source codes, one row per truth record."""
    ids = _arrow(truth["id"])
    pos = _positions(ids, _arrow(pred["id"]), "predictions")
    clusters = _take(_codes(pred["match_id"]), pos)  # ids missing from pred -> singletons
    entities = _codes(truth["entity_id"])
    if source is None:
        return clusters, entities, None
    src = pd.Series(source)
    if isinstance(src.index, pd.RangeIndex) and len(src) == len(ids):
        return clusters, entities, _codes(src)  # positional, aligned with truth rows
    src_pos = _positions(ids, _arrow(src.index.to_series()), "source")
    if src_pos is not None and (src_pos < 0).any():
        raise ValueError("source lacks some record id of the truth")
    return clusters, entities, _take(_codes(src), src_pos)


def pairwise_scores(pred: pd.DataFrame, truth: pd.DataFrame, source: pd.Series | None = None) -> dict:
    """Pairwise precision, recall, F1 and counts; see the module docstring."""
    clusters, entities, src = _align(pred, truth, source)
    predicted = count_pairs(clusters, src)
    true = count_pairs(entities, src)
    tp = count_pairs(clusters * (int(entities.max(initial=0)) + 1) + entities, src)
    precision = tp / predicted if predicted else 0.0
    recall = tp / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "tp": tp,
        "fp": predicted - tp,
        "fn": true - tp,
        "predicted_pairs": predicted,
        "true_pairs": true,
    }


def read_csv(path: str | Path) -> pd.DataFrame:
    """A CSV as text columns; only empty fields are missing (so "NA" stays a value)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], engine="pyarrow")


def load_bench(bench_dir: str | Path) -> tuple[pd.DataFrame, pd.Series | None, dict]:
    """Truth, source Series (None for dedup) and meta of a bench folder."""
    bench = Path(bench_dir)
    meta = json.loads((bench / "meta.json").read_text())
    truth = read_csv(bench / "truth.csv")
    source = None
    if meta.get("source_column"):
        key, col = meta.get("primary_key", "id"), meta["source_column"]
        records = pd.read_csv(bench / "records.csv", dtype=str, usecols=[key, col], keep_default_na=False)
        source = pd.Series(records[col].to_numpy(), index=records[key].to_numpy())
    return truth, source, meta


def score_files(pred_csv: str | Path, bench_dir: str | Path) -> dict:
    """Score a predictions CSV (``id,match_id``) against a bench folder."""
    truth, source, _ = load_bench(bench_dir)
    pred = read_csv(pred_csv)
    if not {"id", "match_id"} <= set(pred.columns):
        raise SystemExit(f"{pred_csv}: needs columns id,match_id (has {','.join(pred.columns)})")
    for column in ("id", "match_id"):  # our CSVs prefix ' to formula-like text (matcher.csv_safety): undo it
        if pred[column].str.startswith("'").any():
            pred[column] = pred[column].str.replace(r"^'(?='*[=+\-@\t\r])", "", regex=True)
    return pairwise_scores(pred, truth, source)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pred_csv", help="predictions CSV with columns id,match_id")
    parser.add_argument("bench_dir", help="folder with truth.csv, meta.json (and records.csv)")
    args = parser.parse_args(argv)
    json.dump(score_files(args.pred_csv, args.bench_dir), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
