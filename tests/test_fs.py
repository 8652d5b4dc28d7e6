"""The unsupervised Fellegi-Sunter model, fitted by EM on the people fixture's candidate pairs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import entity_of, load_fixture

from matcher.blocking import Blocker, decode
from matcher.features import PairFeatures, compare
from matcher.fs import FellegiSunter
from matcher.prepare import prepare
from matcher.profile import infer_settings
from matcher.sampling import random_pairs


@pytest.fixture(scope="module")
def data():
    records, truth, _ = load_fixture("people")
    table = prepare(records, infer_settings(records, "id"))
    left, right = decode(Blocker(0.5).fit(table).pair_ids_, table.n)
    candidates = compare(table, left, right)
    randoms = compare(table, *random_pairs(table.n, 200_000, None, 0))
    entity = entity_of(records, truth)
    return candidates, randoms, entity[left] == entity[right]


@pytest.fixture(scope="module")
def fitted(data) -> FellegiSunter:
    candidates, randoms, _ = data
    return FellegiSunter().fit(candidates, randoms)


def test_probabilities_separate_matches_from_non_matches(data, fitted: FellegiSunter) -> None:
    candidates, _, is_match = data
    p = fitted.predict_proba(candidates)

    assert p.shape == (len(candidates),)
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    # measured: 0.986 vs 0.0018; 301/304 true pairs above 0.5 and no non-match above 0.01
    assert p[is_match].mean() > 0.95
    assert p[~is_match].mean() < 0.02
    assert ((p >= 0.5) == is_match).mean() > 0.99


def test_em_learns_the_match_share_and_proper_distributions(data, fitted: FellegiSunter) -> None:
    _, _, is_match = data
    assert 1 <= fitted.n_iter_ <= 50
    assert fitted.lambda_ == pytest.approx(is_match.mean(), abs=0.01)  # measured 0.0371 vs 0.0376
    for column, k in fitted.n_levels_.items():
        for dist in (fitted.m_[column], fitted.u_[column], fitted.u_random_[column]):
            assert dist.shape == (k,)
            assert dist.sum() == pytest.approx(1.0)
            assert np.all(dist > 0)
        # exact agreement is far more likely among matches than among random pairs (measured >= 36x,
        # street_address 0.54 vs 0.0009) and still more likely than among blocked non-matches
        assert fitted.m_[column][-1] > 10 * fitted.u_random_[column][-1], column
        assert fitted.m_[column][-1] > fitted.u_[column][-1], column


def test_column_weights_plus_prior_are_the_match_weight(data, fitted: FellegiSunter) -> None:
    candidates, _, _ = data
    weights = fitted.column_weights(candidates)
    prior = np.log2(fitted.lambda_ / (1 - fitted.lambda_))

    assert set(weights) == set(candidates.levels)
    total = prior + np.sum(list(weights.values()), axis=0)
    np.testing.assert_allclose(total, fitted.match_weight(candidates), rtol=0, atol=1e-9)
    p = fitted.predict_proba(candidates)
    np.testing.assert_allclose(p, 1 / (1 + np.exp2(-np.clip(total, -60, 60))), rtol=1e-12)
    for column, w in weights.items():
        assert np.all(w[candidates.levels[column] < 0] == 0.0), "a missing value is no evidence"


def test_rare_agreement_weighs_more_than_common_agreement(data, fitted: FellegiSunter) -> None:
    candidates, _, _ = data
    weights = fitted.column_weights(candidates)
    column = "surname"
    k = candidates.n_levels[column]
    exact = np.flatnonzero(candidates.levels[column] == k - 1)
    tf = candidates.tf[column][exact]
    order = np.argsort(tf, kind="stable")

    assert len(np.unique(tf)) > 3
    assert np.all(np.diff(weights[column][exact][order]) <= 1e-9)  # more common value, less weight
    assert weights[column][exact].max() > weights[column][exact].min() + 1

    plain = FellegiSunter(tf_adjust=False).fit(candidates, data[1]).column_weights(candidates)[column]
    assert np.ptp(plain[exact]) == pytest.approx(0.0)


def test_fit_is_deterministic(data, fitted: FellegiSunter) -> None:
    candidates, randoms, _ = data
    again = FellegiSunter().fit(candidates, randoms)
    np.testing.assert_array_equal(again.predict_proba(candidates), fitted.predict_proba(candidates))


def test_a_typo_never_weighs_more_than_exact_agreement_on_its_value(data) -> None:
    candidates, randoms, _ = data
    fitted = FellegiSunter(cap_near=True).fit(candidates, randoms)
    checked = 0
    for column in fitted.row_tf_:
        k = candidates.n_levels[column]
        levels = candidates.levels[column]
        weights = fitted.column_weights(candidates)[column]
        exact_weight = {}  # row -> weight of exact agreement on its value
        for i in np.flatnonzero(levels == k - 1):
            exact_weight[candidates.left[i]] = exact_weight[candidates.right[i]] = weights[i]
        lower = np.flatnonzero((levels >= 0) & (levels < k - 1))
        for i in lower:
            for row in (candidates.left[i], candidates.right[i]):
                if row in exact_weight:
                    assert weights[i] <= exact_weight[row] + 1e-9, (column, i)
                    checked += 1
    assert checked > 0


def _pairs(left, right, level, tf) -> PairFeatures:
    return PairFeatures(np.array(left), np.array(right), {}, {"name": np.array(level, dtype=np.int8)},
                        {"name": np.array(tf, dtype=np.float64)}, {"name": 3})


def test_near_agreement_on_a_common_value_is_capped_at_its_exact_weight() -> None:
    """'julie' (common) vs 'juolie' must not outweigh 'julie' vs 'julie' (it did: +3.70 vs +2.32)."""
    nan = np.nan
    # rows 0-2 hold 'julie' (tf 0.05), row 3 'juolie', rows 4-5 other names
    cand = _pairs([0, 0, 1, 4, 0], [1, 2, 2, 5, 3], [2, 2, 2, 0, 1], [0.05, 0.05, 0.05, nan, nan])
    fs = FellegiSunter(max_iter=1, cap_near=True).fit(cand, cand)
    # parameters as EM learns them when blocking makes a name common among candidates
    fs.m_ = {"name": np.array([0.05, 0.25, 0.70])}
    fs.u_ = {"name": np.array([0.90, 0.02, 0.08])}
    fs.u_random_ = {"name": np.array([0.98, 0.01, 0.01])}
    exact, typo, other = fs.column_weights(_pairs([0, 0, 4], [1, 3, 3], [2, 1, 1], [0.05, nan, nan]))["name"]
    uncapped = np.log2(0.25 / 0.02)

    assert exact == pytest.approx(np.log2(0.70 / (0.05 * 0.08 / 0.01)))
    assert uncapped > exact  # without the cap the typo would weigh more
    assert typo == pytest.approx(exact)
    # a near agreement between values never seen agreeing exactly keeps its level weight
    assert other == pytest.approx(uncapped)
    assert np.isnan(fs.row_tf_["name"][[3, 4, 5]]).all()


def test_random_prior_keeps_u_from_random_pairs_and_scores_over_all_pairs(data) -> None:
    candidates, randoms, is_match = data
    fs = FellegiSunter(prior="random").fit(candidates, randoms)
    for column in fs.n_levels_:
        np.testing.assert_array_equal(fs.u_[column], fs.u_random_[column])
    n = max(int(candidates.left.max()), int(candidates.right.max()), int(randoms.right.max())) + 1
    assert fs.prior_ == pytest.approx(fs.lambda_ * len(candidates) / (n * (n - 1) / 2), rel=0.01)
    p = fs.predict_proba(candidates)
    assert ((p >= 0.5) == is_match).mean() > 0.99
    with pytest.raises(ValueError, match="prior"):
        FellegiSunter(prior="bogus").fit(candidates, randoms)
