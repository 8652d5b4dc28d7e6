"""Shared helpers: the committed fixtures with known truth, pairwise scoring and Glue-style labels.

Fixtures:

* ``fixtures/people``: 600 synthetic dirty person records (``bench/synth.py --rows 600 --seed 3``),
  399 entities, 304 true pairs.
* ``fixtures/linkage``: 350 FEBRL4 records in two sources ``a``/``b``: 150 cross-source matched pairs
  plus 25 unmatched records per source.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# One OpenMP thread for scikit-learn's gradient boosting: on a busy 2-core machine its spinning worker
# threads made a 1.5 s fit take 20 s. Set before numpy/sklearn load; CLI subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import pytest

from matcher.io import read_table
from matcher.pipeline import Matcher
from matcher.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
BENCH = Path(__file__).resolve().parent.parent / "bench"

if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from score import pairwise_scores  # noqa: E402  (bench/score.py, the benchmark's own scorer)


def load_fixture(name: str) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """Records (as the CLI reads them), truth ``id, entity_id`` and the source column (None for dedup)."""
    source = "source" if name == "linkage" else None
    records = read_table(FIXTURES / name / "records.csv", "id", source)
    truth = pd.read_csv(FIXTURES / name / "truth.csv", dtype=str, keep_default_na=False)
    return records, truth, source


def compared_candidates(name: str, n_random: int) -> tuple[Any, Any]:
    """A fixture's candidate pairs (default blocking) and ``n_random`` random pairs, compared (PairFeatures)."""
    from matcher.blocking import Blocker, decode
    from matcher.features import compare
    from matcher.prepare import prepare
    from matcher.profile import infer_settings
    from matcher.sampling import random_pairs

    records, _, _ = load_fixture(name)
    table = prepare(records, infer_settings(records, "id"))
    left, right = decode(Blocker(0.5).fit(table).pair_ids_, table.n)
    return compare(table, left, right), compare(table, *random_pairs(table.n, n_random, None, 0))


def entity_of(records: pd.DataFrame, truth: pd.DataFrame, key: str = "id") -> np.ndarray:
    """True entity id per records row (position-aligned with ``records``)."""
    entity = truth.set_index("id")["entity_id"]
    return entity.reindex(records[key].astype(str).to_numpy()).to_numpy(dtype=object)


def score_output(output: pd.DataFrame, truth: pd.DataFrame, source: str | None = None,
                 key: str = "id") -> dict:
    """Pairwise precision / recall / F1 of a matcher output table against the truth."""
    pred = pd.DataFrame({"id": output[key].astype(str), "match_id": output["match_id"].astype(str)})
    src = None
    if source is not None:
        src = pd.Series(output[source].to_numpy(), index=output[key].astype(str).to_numpy())
    return pairwise_scores(pred, truth, src)


def true_pairs(records: pd.DataFrame, truth: pd.DataFrame, source: str | None = None) -> np.ndarray:
    """Pair ids ``i * n + j`` (row positions, i < j) of every true match, cross-source only for linkage."""
    n = len(records)
    entity = entity_of(records, truth)
    i, j = np.triu_indices(n, 1)
    same = entity[i] == entity[j]
    if source is not None:
        src = records[source].to_numpy(dtype=object)
        same &= src[i] != src[j]
    return i[same].astype(np.int64) * n + j[same]


def make_labels(records: pd.DataFrame, truth: pd.DataFrame, left: np.ndarray, right: np.ndarray,
                n_sets: int = 20, set_size: int = 6, seed: int = 0, key: str = "id") -> pd.DataFrame:
    """A Glue FindMatches labels table ``labeling_set_id, label, <record columns>`` drawn from the truth.

    Each set grows around one candidate pair (left[k], right[k]): its two records plus other candidates of
    those records, up to ``set_size`` records. Half of the seed pairs are true matches so that both
    classes are well represented. Labels are per-set strings: the same entity gets the same label.
    """
    rng = np.random.default_rng(seed)
    entity = entity_of(records, truth, key)
    is_match = entity[left] == entity[right]
    matches, others = np.flatnonzero(is_match), np.flatnonzero(~is_match)
    seeds = np.r_[rng.choice(matches, n_sets // 2, replace=False),
                  rng.choice(others, n_sets - n_sets // 2, replace=False)]
    frames = []
    for set_no, k in enumerate(seeds):
        a, b = int(left[k]), int(right[k])
        members = [a, b]
        near = np.r_[right[(left == a) | (left == b)], left[(right == a) | (right == b)]]
        for r in rng.permutation(np.unique(near)):
            if len(members) >= set_size:
                break
            if int(r) not in members:
                members.append(int(r))
        rows = records.iloc[members].reset_index(drop=True)
        codes = pd.factorize(pd.Series(entity[members]))[0]
        labels = pd.DataFrame({"labeling_set_id": f"set{set_no:02d}",
                               "label": [f"L{c}" for c in codes]})
        frames.append(pd.concat([labels, rows], axis=1))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def people() -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """The synthetic people fixture: records, truth, no source column."""
    return load_fixture("people")


@pytest.fixture(scope="module")
def people_matcher(people) -> Matcher:
    """Fitted without labels; tests that add labels work on a ``copy.copy`` (refit_labels rebinds attributes)."""
    records, _, _ = people
    return Matcher(Settings(primary_key="id")).fit(records)


@pytest.fixture(scope="module")
def linkage() -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """Two-table Febrl4 sample: records, truth, source column."""
    return load_fixture("linkage")


@pytest.fixture(scope="module")
def linkage_matcher(linkage) -> Matcher:
    records, _, source = linkage
    return Matcher(Settings(primary_key="id", source_column=source)).fit(records)


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Debian's Chromium for one browser test module (test_ui_browser.chromium: no skip, screenshots)."""
    from test_ui_browser import chromium

    with chromium(request) as launched:
        yield launched
