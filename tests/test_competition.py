"""Labels on linkage: the one-to-one second stage (``matcher.competition``), pseudo-labels checked against the
human labels, out-of-fold classifier probabilities, and linkage labeling sets built from several seed pairs."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from conftest import entity_of, make_labels, score_output

from matcher.active import choose_sets, labeling_file
from matcher.classifier import PairClassifier
from matcher.competition import Competition, top_two
from matcher.labels import read_labels
from matcher.pipeline import LabeledPairs, Matcher
from matcher.pseudo_labels import pseudo_labels
from matcher.pseudo_labels import trusted as _trusted
from matcher.pseudo_labels import uncontradicted as _uncontradicted
from matcher.settings import Settings


def test_top_two_gives_each_records_best_partner_and_runner_up() -> None:
    left, right = np.array([0, 0, 1, 2]), np.array([3, 4, 3, 4])
    prob = np.array([0.9, 0.2, 0.6, 0.5])
    best, partner, runner_up = top_two(5, left, right, prob)
    assert best.tolist() == [0.9, 0.6, 0.5, 0.9, 0.5]
    assert partner.tolist() == [3, 3, 4, 0, 2]
    assert runner_up.tolist() == [0.2, 0.0, 0.0, 0.6, 0.2]


def _competing_pairs(rng: np.random.Generator, n_pairs: int = 400) -> tuple[np.ndarray, ...]:
    """Record 2k (source a) has candidates 2k+1 and, for odd k, a rival 2k+3 that scores about as well;
    truth: only uncontested best pairs are matches."""
    left = np.arange(0, 2 * n_pairs, 2)
    right = left + 1
    prob = rng.uniform(0.3, 0.7, n_pairs)
    contested = np.arange(n_pairs) % 2 == 1
    rival_l, rival_r = left[contested], np.minimum(right[contested] + 2, 2 * n_pairs - 1)
    rival_p = prob[contested] + 0.05
    y = ~contested
    return (np.r_[left, rival_l], np.r_[right, rival_r], np.r_[prob, rival_p],
            np.r_[y, np.zeros(len(rival_l), bool)])


def test_competition_learns_that_a_strong_rival_makes_a_match_unlikely() -> None:
    left, right, prob, y = _competing_pairs(np.random.default_rng(0))
    stage = Competition().fit(prob, left, right, y, (left.max() + 2, left, right, prob))
    out = stage.predict_proba(prob, left, right)
    assert out[y].min() > 0.5 > out[~y].max()  # the first stage alone cannot separate them (0.3-0.75)


def test_trusted_rejects_verdicts_the_humans_contradict() -> None:
    assert _trusted(np.zeros(0, bool))  # nothing labeled: no evidence against the verdicts
    assert _trusted(np.r_[np.ones(19, bool), False])  # 95% confirmed
    assert not _trusted(np.r_[np.ones(3, bool), np.zeros(5, bool)])  # products: under half confirmed


def test_contradicted_pseudo_matches_are_dropped(people, people_matcher: Matcher) -> None:
    matcher = people_matcher

    def pseudo(lab: LabeledPairs, lab_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = pseudo_labels(matcher.fs_prob_, matcher.candidates_.left, matcher.candidates_.right,
                              matcher.table_.n, lab, lab_prob, matcher.settings_.seed)
        assert found is not None
        return found

    left, right = matcher.candidates_.left[:40], matcher.candidates_.right[:40]
    lab = LabeledPairs(left, right, np.zeros(40, bool), np.repeat(np.arange(4), 10).astype(str))
    idx, is_match = pseudo(lab, np.full(40, 1.0))  # humans: none of the 'sure' pairs match
    assert not is_match.any() and len(idx) > 0
    # contradicted at 0.99: only candidates the model is surer of than that may still be pseudo-matches
    idx, is_match = pseudo(lab, np.full(40, 0.99))
    assert (matcher.fs_.predict_proba(matcher.candidates_.subset(idx[is_match])) > 0.99).all()
    idx, is_match = pseudo(lab, np.full(40, 0.5))  # no labeled verdict to check
    assert is_match.sum() > 0 and (~is_match).sum() > 0


def test_uncontradicted_keeps_the_upper_strata_the_humans_do_not_reject() -> None:
    pool, score = np.arange(20), np.linspace(0.951, 1.0, 20)
    lab_score = np.array([0.96, 0.97, 0.99, 0.5])
    confirmed = np.array([False, False, True, False])  # the two lower strata asked wrong, the 0.99 one right
    kept = _uncontradicted(pool, score, lab_score, confirmed, 0.95)
    assert kept.tolist() == pool[score >= np.quantile(score, 0.4)].tolist()
    # trusted verdicts keep the whole pool; a contradicted verdict at the top leaves none to use
    assert len(_uncontradicted(pool, score, lab_score, np.ones(4, bool), 0.95)) == 20
    assert len(_uncontradicted(pool, score, np.array([0.998, 0.999]), np.zeros(2, bool), 0.95)) == 0
    # negatives use the same rule on negated scores: surer = lower probability
    neg = _uncontradicted(pool, -(1 - score), -np.array([0.03, 0.04]), np.zeros(2, bool), -0.05)
    assert ((1 - score[neg]) < 0.03).all() and len(neg) > 0


def test_uncontradicted_weighs_each_stratum_by_its_share_of_the_pool_not_by_how_often_it_was_asked() -> None:
    """kin_100k: active learning asks the least sure fifth of the pool far more often, where households (one
    surname, address and phone) look like matches; counted as drawn the answers reject the verdicts and only
    those above every contradicted one remain. Weighted by stratum the upper four fifths pass."""
    pool, score = np.arange(1000), np.linspace(0.95, 1.0, 1000)
    lowest = np.linspace(0.951, 0.959, 40)  # 40 answers in the least sure fifth, half of them right
    upper = np.linspace(0.961, 0.9995, 40)  # 10 in each other fifth, one wrong near the top
    lab_score = np.r_[lowest, upper]
    confirmed = np.r_[np.arange(40) % 2 == 0, np.ones(40, bool)]
    confirmed[40 + 35] = False
    assert not _trusted(confirmed)  # 59 of 80 as asked
    kept = _uncontradicted(pool, score, lab_score, confirmed, 0.95)
    assert kept.tolist() == pool[score >= np.quantile(score, 0.2)].tolist()
    # products: wrong in every stratum, none kept; a stratum nobody asked about is no evidence against it
    wrong = np.r_[np.arange(40) % 3 == 0, np.arange(40) % 3 == 0]
    assert len(_uncontradicted(pool, score, lab_score, wrong, 0.95)) == 0
    kept = _uncontradicted(pool, score, np.r_[lowest, upper[:30]], wrong[:70], 0.95)
    assert kept.tolist() == pool[score >= np.quantile(score, 0.8)].tolist()


def test_trusted_weighs_the_answers() -> None:
    confirmed = np.r_[np.zeros(5, bool), np.ones(10, bool)]
    assert not _trusted(confirmed)  # 10 of 15
    assert _trusted(confirmed, np.r_[np.full(5, 0.1), np.ones(10)])  # the wrong ones stand for few pairs


def test_classifier_keeps_out_of_fold_probabilities() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = X[:, 0] + 0.5 * rng.normal(size=300) > 0
    clf = PairClassifier().fit(X, y, groups=np.arange(300) % 7)
    assert clf.oof_.shape == (300,) and np.all((clf.oof_ >= 0) & (clf.oof_ <= 1))
    assert np.corrcoef(clf.oof_, X[:, 0])[0, 1] > 0.7
    assert not np.allclose(clf.oof_, clf.predict_proba(X))  # each row scored by a fold that never saw it


@pytest.fixture(scope="module")
def one_to_one_matcher(linkage) -> Matcher:
    records, _, source = linkage
    return Matcher(Settings(primary_key="id", source_column=source, one_to_one=True)).fit(records)


def test_one_to_one_labels_fit_the_competition_stage(linkage, one_to_one_matcher: Matcher) -> None:
    records, truth, source = linkage
    matcher = copy.copy(one_to_one_matcher)
    frame = make_labels(records, truth, matcher.candidates_.left, matcher.candidates_.right, n_sets=20, seed=1)
    matcher = matcher.refit_labels(read_labels(frame, "id", known_keys=records["id"]))
    assert matcher.competition_ is not None
    assert np.all((matcher.prob_ >= 0) & (matcher.prob_ <= 1))
    assert score_output(matcher.predict().records, truth, source)["f1"] >= 0.97
    plain = Matcher(Settings(primary_key="id", source_column=source, one_to_one=False)).fit(
        records, read_labels(frame, "id", known_keys=records["id"]))
    assert plain.classifier_ is not None and plain.competition_ is None  # only for one-to-one links
    decided = Matcher(Settings(primary_key="id", source_column=source)).fit(  # duplicate-free: on by itself
        records, read_labels(frame, "id", known_keys=records["id"]))
    assert decided.links_one_to_one and decided.competition_ is not None


def test_linkage_sets_hold_several_seed_pairs(linkage, one_to_one_matcher: Matcher) -> None:
    records, truth, source = linkage
    sets = choose_sets(one_to_one_matcher, num_sets=5, set_size=10)
    assert len(sets) == 5
    assert all(len(s.rows) <= 10 and s.reason["seed_pairs"] >= 2 for s in sets)
    members = np.concatenate([s.rows for s in sets])
    assert len(np.unique(members)) == len(members)
    frame = labeling_file(one_to_one_matcher, sets)
    entity = pd.Series(entity_of(frame, truth), index=frame.index)
    src = frame[source]
    # each set offers several cross-source matches to confirm, not one
    matches = [sum(entity[i] == entity[j] and src[i] != src[j] for i in rows.index for j in rows.index if i < j)
               for _, rows in frame.groupby("labeling_set_id")]
    assert sum(matches) >= 2 * len(sets), matches


def test_deduplication_sets_keep_one_seed_pair(people_matcher: Matcher) -> None:
    sets = choose_sets(people_matcher, num_sets=5, set_size=12)
    assert all(s.reason["seed_pairs"] == 1 for s in sets)
