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

Records of the truth that are missing from the predictions are singletons; predicted ids
that are not in the truth are ignored. Precision (recall) is 0.0 when no pair is predicted
(true).

Usage::

    python bench/score.py PRED.csv BENCH_DIR      # prints JSON

    from score import pairwise_scores
    pairwise_scores(pred_df, truth_df, source_series_or_None)

``BENCH_DIR`` holds ``truth.csv``, ``meta.json`` and (for linkage, ``source_column`` set in
meta.json) ``records.csv``. ``source`` is a Series indexed by record id (or, if its index
is not made of ids, aligned position by position with ``truth``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def _codes(values) -> np.ndarray:
    """Dense int64 codes for any column; missing values each get a code of their own."""
    codes, _ = pd.factorize(pd.Series(values), use_na_sentinel=True)
    codes = codes.astype(np.int64)
    missing = codes < 0
    if missing.any():
        codes[missing] = codes.max(initial=-1) + 1 + np.arange(int(missing.sum()))
    return codes


def _group_counts(*code_arrays: np.ndarray) -> np.ndarray:
    """Sizes of the groups formed by equal tuples of codes."""
    key = np.zeros(len(code_arrays[0]), dtype=np.int64)
    for codes in code_arrays:
        width = int(codes.max(initial=0)) + 1
        key = _codes(key * width + codes) if width > 1 else key
    return np.bincount(key).astype(np.int64) if len(key) else np.zeros(0, np.int64)


def count_pairs(groups: np.ndarray, source: np.ndarray | None = None) -> int:
    """Pairs within groups (all pairs, or only cross-source pairs if ``source`` is given)."""
    n = _group_counts(groups)
    if source is None:
        return int((n * (n - 1) // 2).sum())
    per_source = _group_counts(groups, source)
    return int(((n * n).sum() - (per_source * per_source).sum()) // 2)


def _align(pred: pd.DataFrame, truth: pd.DataFrame, source) -> tuple:
    """Cluster codes, entity codes and source codes, one row per truth record."""
    if pred["id"].duplicated().any():
        raise ValueError("predictions list some id more than once")
    ids = truth["id"].astype(str)
    cluster = pd.Series(pred["match_id"].to_numpy(), index=pred["id"].astype(str).to_numpy())
    clusters = _codes(cluster.reindex(ids.to_numpy()).to_numpy())  # missing -> singleton
    entities = _codes(truth["entity_id"].to_numpy())
    if source is None:
        return clusters, entities, None
    src = pd.Series(source)
    src.index = src.index.astype(str)
    if ids.isin(src.index).all():
        src_values = src.reindex(ids.to_numpy()).to_numpy()
    elif len(src) == len(ids):
        src_values = src.to_numpy()  # positional, aligned with truth rows
    else:
        raise ValueError("source is neither indexed by record id nor aligned with truth")
    return clusters, entities, _codes(src_values)


def pairwise_scores(pred: pd.DataFrame, truth: pd.DataFrame, source: pd.Series | None = None) -> dict:
    """Pairwise precision, recall, F1 and counts; see the module docstring."""
    clusters, entities, src = _align(pred, truth, source)
    predicted = count_pairs(clusters, src)
    true = count_pairs(entities, src)
    both = _codes(clusters * (int(entities.max(initial=0)) + 1) + entities)
    tp = count_pairs(both, src)
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


def load_bench(bench_dir: str | Path) -> tuple[pd.DataFrame, pd.Series | None, dict]:
    """Truth, source Series (None for dedup) and meta of a bench folder."""
    bench = Path(bench_dir)
    meta = json.loads((bench / "meta.json").read_text())
    truth = pd.read_csv(bench / "truth.csv", dtype=str, keep_default_na=False, engine="pyarrow")
    source = None
    if meta.get("source_column"):
        key, col = meta.get("primary_key", "id"), meta["source_column"]
        records = pd.read_csv(bench / "records.csv", dtype=str, usecols=[key, col], keep_default_na=False)
        source = pd.Series(records[col].to_numpy(), index=records[key].to_numpy())
    return truth, source, meta


def score_files(pred_csv: str | Path, bench_dir: str | Path) -> dict:
    """Score a predictions CSV (``id,match_id``) against a bench folder."""
    truth, source, _ = load_bench(bench_dir)
    pred = pd.read_csv(pred_csv, dtype=str, keep_default_na=False, engine="pyarrow")
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
