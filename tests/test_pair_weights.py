"""Labeled pairs weighted by the confidence of their consolidated verdict, from the answers to the classifier."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from conftest import make_labels

from matcher.classifier import PairClassifier
from matcher.consolidation import ANSWER_COLUMNS, group_labels, majority_vote
from matcher.errors import LabelError
from matcher.labels import Labels, read_labels
from matcher.pair_weights import WEIGHT_COLUMNS, aligned_weights, confidence_weights
from matcher.pipeline import Matcher


def answers(votes: dict[tuple[str, str], list[bool]], set_id: str = "s1") -> pd.DataFrame:
    rows = [(f"L{i}", set_id, a, b, said) for (a, b), said_by in votes.items() for i, said in enumerate(said_by)]
    return pd.DataFrame(rows, columns=ANSWER_COLUMNS)


def test_weight_is_the_posterior_of_the_side_trained_on() -> None:
    # a ~ b and b ~ c unanimously, a ~ c by one of three: the groups put a, b, c together, so a ~ c trains as a
    # match against two of three answers; d answered 2-1 as no match with anyone
    votes = {("a", "b"): [True] * 3, ("b", "c"): [True] * 3, ("a", "c"): [True, False, False],
             ("a", "d"): [False] * 3, ("b", "d"): [False, False, True], ("c", "d"): [False] * 3}
    consolidated = majority_vote(answers(votes))
    labels = group_labels(consolidated)
    weights = confidence_weights(consolidated.pairs, labels).set_index(["key_a", "key_b"])["weight"]
    assert weights[("a", "b")] == weights[("b", "c")] == weights[("a", "d")] == 1.0
    assert weights[("b", "d")] == pytest.approx(2 / 3)  # decided 2-1
    assert weights[("a", "c")] == pytest.approx(1 / 3)  # the grouping reversed the 2-1 verdict


def test_pairs_the_consolidation_did_not_see_weigh_one() -> None:
    consolidated = majority_vote(answers({("a", "b"): [True, True, False]}))
    imported = Labels(pd.DataFrame({"labeling_set_id": ["s1", "s1", "s9", "s9"], "key": ["a", "b", "x", "y"],
                                    "label": ["1", "1", "1", "2"]}))
    weights = confidence_weights(consolidated.pairs, imported)
    assert list(weights.columns) == WEIGHT_COLUMNS
    assert weights.set_index("labeling_set_id")["weight"].to_dict() == {"s1": pytest.approx(2 / 3), "s9": 1.0}


PAIRS = pd.DataFrame({"labeling_set_id": ["s1", "s1", "s2"], "key_a": ["a", "a", "c"], "key_b": ["b", "c", "d"],
                      "is_match": [True, False, False]})


def test_aligned_weights_follow_the_pairs_and_default_to_one() -> None:
    weights = pd.DataFrame({"labeling_set_id": ["s2", "s1"], "key_a": ["c", "a"], "key_b": ["d", "b"],
                            "weight": [0.25, 0.5]})
    np.testing.assert_array_equal(aligned_weights(PAIRS, weights), [0.5, 1.0, 0.25])
    assert aligned_weights(PAIRS, None) is None


@pytest.mark.parametrize(("frame", "message"), [
    ({"labeling_set_id": ["s1"], "key_a": ["a"], "key_b": ["b"]}, "missing \\['weight'\\]"),
    ({"labeling_set_id": ["s1"], "key_a": ["a"], "key_b": ["b"], "weight": [-0.1]}, "finite number >= 0; row 0"),
    ({"labeling_set_id": ["s1"], "key_a": ["a"], "key_b": ["b"], "weight": [np.nan]}, "finite number"),
    ({"labeling_set_id": ["s1"], "key_a": ["a"], "key_b": ["b"], "weight": ["heavy"]}, "'heavy'"),
    ({"labeling_set_id": ["s1", "s1"], "key_a": ["a", "a"], "key_b": ["b", "b"], "weight": [1, 1]},
     "more than once"),
    ({"labeling_set_id": ["s2"], "key_a": ["a"], "key_b": ["b"], "weight": [1]}, "'a'-'b' in set 's2'"),
])
def test_aligned_weights_refuse_bad_frames_naming_the_problem(frame: dict, message: str) -> None:
    with pytest.raises(LabelError, match=message):
        aligned_weights(PAIRS, pd.DataFrame(frame))


def test_classifier_weights_are_checked_once() -> None:
    X, y = np.random.default_rng(0).random((40, 3)), np.arange(40) % 2 == 0
    for bad in (np.ones(39), -np.ones(40), np.zeros(40), np.full(40, np.inf)):
        with pytest.raises(ValueError, match="sample_weight"):
            PairClassifier().fit(X, y, sample_weight=bad)


# --- weights reach the fit ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def people_labels(people, people_matcher: Matcher) -> tuple[Labels, Labels]:
    """Truthful labels, and the same labels with the first 6 sets' groups scrambled (every record its own
    group but one pair per set wrongly joined)."""
    records, truth, _ = people
    frame = make_labels(records, truth, people_matcher.candidates_.left, people_matcher.candidates_.right,
                        n_sets=30, seed=3)
    clean = read_labels(frame, "id", known_keys=records["id"])
    rows = clean.rows.copy()
    noisy_sets = sorted(rows["labeling_set_id"].unique())[:6]
    for set_id in noisy_sets:
        where = np.flatnonzero(rows["labeling_set_id"] == set_id)
        rows.loc[where, "label"] = [f"x{i}" for i in range(len(where))]
        rows.loc[where[1], "label"] = rows.loc[where[-1], "label"] = "joined"
    return clean, Labels(rows)


def test_unit_weights_fit_as_no_weights(people_matcher: Matcher, people_labels) -> None:
    """Unanimous answers everywhere (every weight 1) train exactly the unweighted model."""
    clean, _ = people_labels
    ones = clean.pairs()[["labeling_set_id", "key_a", "key_b"]].assign(weight=1.0)
    plain = copy.copy(people_matcher).refit_labels(clean)
    weighted = copy.copy(people_matcher).refit_labels(clean, weights=ones)
    assert plain.labeled_.weight is None and (weighted.labeled_.weight == 1.0).all()
    np.testing.assert_array_equal(plain.prob_, weighted.prob_)


def test_downweighted_wrong_sets_pull_the_fit_back_towards_the_clean_one(people_matcher: Matcher,
                                                                          people_labels) -> None:
    clean, noisy = people_labels
    bad_sets = set(noisy.rows["labeling_set_id"][noisy.rows["label"] == "joined"])
    pairs = noisy.pairs()
    weights = pairs[["labeling_set_id", "key_a", "key_b"]].assign(
        weight=np.where(pairs["labeling_set_id"].isin(bad_sets), 0.05, 1.0))
    base = copy.copy(people_matcher)
    truthful = base.refit_labels(clean).classifier_
    unweighted = base.refit_labels(noisy)
    weighted = base.refit_labels(noisy, weights=weights)
    np.testing.assert_array_equal(weighted.labeled_.weight, weights["weight"].to_numpy())
    X = base.candidate_design()
    target = truthful.predict_proba(X)
    gap_unweighted = np.abs(unweighted.classifier_.predict_proba(X) - target).mean()
    gap_weighted = np.abs(weighted.classifier_.predict_proba(X) - target).mean()
    assert gap_weighted < gap_unweighted, (gap_weighted, gap_unweighted)


def test_weights_without_labels_or_for_other_pairs_are_refused(people_matcher: Matcher, people_labels) -> None:
    clean, _ = people_labels
    stray = pd.DataFrame({"labeling_set_id": ["nope"], "key_a": ["1"], "key_b": ["2"], "weight": [0.5]})
    with pytest.raises(LabelError, match="without labels"):
        copy.copy(people_matcher).refit_labels(None, weights=stray)
    with pytest.raises(LabelError, match="do not hold"):
        copy.copy(people_matcher).refit_labels(clean, weights=stray)
