"""Candidates for records no blocking rule reached (``matcher.isolated``), and the prior they are scored from."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import compared_candidates

from matcher.fs import FellegiSunter
from matcher.isolated import isolated_rows, partners_of_isolated


def pair_set(ids: np.ndarray, n: int) -> set[tuple[int, int]]:
    return {(int(i // n), int(i % n)) for i in ids}


def test_an_isolated_record_meets_its_smallest_block_and_no_one_else() -> None:
    """Rows 0-3 are paired already; row 4 is in no pair: it meets the one record sharing its rare key
    (rule 1, a block of 2), not the four sharing its common key (rule 0), since one partner is enough."""
    n = 6
    common = np.array([0, 0, 0, 0, 0, -1])
    rare = np.array([-1, -1, -1, -1, 7, 7])
    paired = np.array([0 * n + 1, 2 * n + 3])
    got = partners_of_isolated([common, rare], paired, None, max_block=10, wanted=1)
    assert pair_set(got, n) == {(4, 5)}
    assert isolated_rows(n, paired).tolist() == [4, 5]


def test_an_isolated_record_takes_further_blocks_until_it_has_enough_partners() -> None:
    n = 6
    common = np.array([0, 0, 0, 0, 0, -1])
    rare = np.array([-1, -1, -1, -1, 7, 7])
    got = partners_of_isolated([common, rare], np.array([0 * n + 1]), None, max_block=10, wanted=3)
    # row 4: its block of 2 (row 5), then its block of 5 (rows 0-3); rows 2-3 too get the block of 5
    assert {(4, 5), (0, 4), (1, 4), (3, 4), (2, 4)} <= pair_set(got, n)
    assert all(a < b for a, b in pair_set(got, n))


def test_a_block_too_large_gives_random_partners_and_linkage_keeps_cross_source_pairs() -> None:
    n = 200
    codes = np.zeros(n, dtype=np.int64)  # one block of 200 > max_block
    source = np.arange(n) % 2
    paired = np.array([i * n + i + 1 for i in range(1, n - 1)], dtype=np.int64)  # all but row 0 are paired
    got = partners_of_isolated([codes], paired, source, max_block=50, wanted=5)
    pairs = pair_set(got, n)
    assert 1 <= len(pairs) <= 5
    assert all(a == 0 and b % 2 == 1 for a, b in pairs)


def test_no_isolated_record_no_pair() -> None:
    n = 3
    got = partners_of_isolated([np.array([0, 0, 0])], np.array([0 * n + 1, 1 * n + 2]), None, 10, 5)
    assert len(got) == 0


@pytest.fixture(scope="module")
def people():
    return compared_candidates("people", 200_000)


def test_a_pair_no_rule_proposed_starts_from_the_odds_of_any_two_records(people) -> None:
    """The same pairs, flagged as found outside the rules, score from the prior over all record pairs: far
    lower than from the share of matches among the rules' candidates, and the flag leaves that share alone."""
    candidates, randoms = people
    plain = FellegiSunter().fit(candidates, randoms)
    flagged = candidates.subset(np.arange(len(candidates)))
    flagged.outside_rules = np.arange(len(candidates)) % 10 == 0  # every tenth pair
    model = FellegiSunter().fit(flagged, randoms)
    assert model.prior_any_ < model.prior_ / 10  # measured 0.0017 vs 0.036 (2,000 records)
    p = model.predict_proba(flagged)
    same = model.predict_proba(candidates)  # unflagged: the rules' prior
    outside = flagged.outside_rules
    assert np.all(p[outside] <= same[outside] + 1e-12)
    assert np.allclose(p[~outside], same[~outside])
    assert model.lambda_ == pytest.approx(plain.lambda_, abs=0.01)
    assert flagged.subset(np.array([0, 1])).outside_rules.tolist() == [True, False]
