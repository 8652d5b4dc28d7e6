"""Memory at 1M records (issue 14's bound): the same results with fewer whole-table arrays alive at once.

Each test pins one restructuring: isolated records' partners read the rules' codes one rule at a time, the
Fellegi-Sunter fit and the cold start's symptoms copy no similarities, the completion's pairs are scored in
chunks, and membership in the sorted candidate ids is a binary search."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from conftest import compared_candidates, load_fixture

import matcher.pipeline as pipeline
from matcher.blocking import decode
from matcher.cluster import in_sorted
from matcher.features import compare
from matcher.fs import FellegiSunter
from matcher.isolated import partners_of_isolated
from matcher.pipeline import Matcher
from matcher.settings import Settings


def _rules(n: int, count: int, seed: int) -> list[np.ndarray]:
    """``count`` rules' codes: blocks of every size from pairs to larger than max_block, some rows missing."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        codes = rng.integers(0, max(2, n // (2 + 7 * i)), n)
        codes[rng.random(n) < 0.3] = -1
        out.append(codes)
    return out


def test_isolated_partners_take_the_rules_codes_one_at_a_time() -> None:
    """A generator of codes gives the pairs a list gives, and a rule's codes are let go before the next but one
    is built: 75 rules' codes held together were 600 MB at 1M records."""
    n = 3_000
    rules = _rules(n, 6, seed=1)
    paired = np.arange(0, n - 1, 3, dtype=np.int64) * n + np.arange(1, n, 3)  # a third of the rows isolated
    expected = partners_of_isolated(rules, paired, None, max_block=20, wanted=5)
    alive: list[weakref.ref] = []

    def one_at_a_time():
        for codes in rules:
            gc.collect()
            if len(alive) >= 2:
                assert alive[-2]() is None, "an earlier rule's codes are still held"
            fresh = codes.copy()
            alive.append(weakref.ref(fresh))
            yield fresh

    got = partners_of_isolated(one_at_a_time(), paired, None, max_block=20, wanted=5)
    assert len(expected) > 0
    np.testing.assert_array_equal(got, expected)


def test_isolated_partners_in_linkage_match_the_list_form() -> None:
    n = 2_000
    rules = _rules(n, 4, seed=2)
    source = np.arange(n) % 2
    paired = np.arange(0, n - 1, 4, dtype=np.int64) * n + np.arange(1, n, 4)
    got = partners_of_isolated(iter(rules), paired, source, max_block=15, wanted=3)
    np.testing.assert_array_equal(got, partners_of_isolated(rules, paired, source, max_block=15, wanted=3))
    left, right = decode(got, n)
    assert np.all(source[left] != source[right])


def test_in_sorted_is_isin_against_sorted_ids() -> None:
    rng = np.random.default_rng(0)
    ids = np.unique(rng.integers(0, 10_000, 3_000))
    values = rng.integers(-5, 10_050, 5_000)
    np.testing.assert_array_equal(in_sorted(values, ids), np.isin(values, ids))
    assert not in_sorted(values, ids[:0]).any()


@pytest.fixture(scope="module")
def people():
    return compared_candidates("people", 50_000)


def test_the_model_reads_no_similarity(people) -> None:
    """Fellegi-Sunter fits and scores from levels and term frequencies alone, so the copy of the rules' pairs
    it fits on (and the cold start's symptoms read) carries no similarities: the same model either way."""
    candidates, randoms = people
    flagged = candidates.subset(np.arange(len(candidates)))
    flagged.outside_rules = np.arange(len(candidates)) % 7 == 0
    bare = candidates.subset(np.arange(len(candidates)), sims=False)
    assert bare.sims == {} and set(bare.levels) == set(candidates.levels)
    bare.outside_rules = flagged.outside_rules
    full, light = FellegiSunter().fit(flagged, randoms), FellegiSunter().fit(bare, randoms)
    np.testing.assert_array_equal(full.predict_proba(flagged), light.predict_proba(bare))
    weights = full.column_weights(flagged)
    np.testing.assert_allclose(full.match_weight(flagged) - sum(weights.values()),
                               np.where(flagged.outside_rules, np.log2(full.prior_any_ / (1 - full.prior_any_)),
                                        np.log2(full.prior_ / (1 - full.prior_))), atol=1e-9)


def test_the_completions_pairs_score_alike_in_chunks(monkeypatch) -> None:
    """``score_pairs`` in chunks of 7 pairs gives the scores of one call on all of them, and the clusters of a
    fit are the same whatever the chunk."""
    records, _, _ = load_fixture("people")
    m = Matcher(Settings(primary_key="id")).fit(records)
    rng = np.random.default_rng(3)
    left, right = rng.integers(0, m.table_.n, 200), rng.integers(0, m.table_.n, 200)
    whole = m.score(compare(m.table_, left, right))
    before = m.predict().records["match_id"].to_numpy()
    monkeypatch.setattr(pipeline, "SCORE_CHUNK", 7)
    np.testing.assert_array_equal(m.score_pairs(left, right), whole)
    np.testing.assert_array_equal(m.predict().records["match_id"].to_numpy(), before)
