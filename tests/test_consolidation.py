"""Consolidating several labelers' answers: simulated labelers answering a known truth with known error rates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from matcher.consolidation import (
    ANSWER_COLUMNS,
    answers_from,
    consolidate,
    dawid_skene,
    group_labels,
    labels_from,
    majority_vote,
    uncertain_pairs,
)
from matcher.errors import LabelError
from matcher.labels import Labels


def truth_pairs(n_pairs: int, seed: int, match_share: float = 0.3) -> pd.DataFrame:
    """``n_pairs`` pairs in sets of 10, a share of them matches."""
    rng = np.random.default_rng(seed)
    index = np.arange(n_pairs)
    return pd.DataFrame({
        "labeling_set_id": [f"set-{i // 10:03d}" for i in index],
        "key_a": [f"a{i:04d}" for i in index],
        "key_b": [f"b{i:04d}" for i in index],
        "is_match": rng.random(n_pairs) < match_share,
    })


def simulate(truth: pd.DataFrame, flip_rates: dict[str, float], seed: int, spammers: tuple[str, ...] = ()
             ) -> pd.DataFrame:
    """Every labeler answers every pair: the truth flipped at their rate, or a fair coin for a spammer."""
    rng = np.random.default_rng(seed)
    frames = []
    for name, rate in flip_rates.items():
        if name in spammers:
            said = rng.random(len(truth)) < 0.5
        else:
            said = truth["is_match"].to_numpy() ^ (rng.random(len(truth)) < rate)
        frames.append(truth.assign(labeler=name, is_match=said)[ANSWER_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def accuracy(consolidated, truth: pd.DataFrame) -> float:
    merged = consolidated.pairs.merge(truth, on=["labeling_set_id", "key_a", "key_b"], suffixes=("", "_true"))
    assert len(merged) == len(truth)
    return float((merged["is_match"] == merged["is_match_true"]).mean())


def true_accuracy(answers: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    merged = answers.merge(truth, on=["labeling_set_id", "key_a", "key_b"], suffixes=("", "_true"))
    return (merged["is_match"] == merged["is_match_true"]).groupby(merged["labeler"]).mean()


RATES = {"ann": 0.10, "bob": 0.20, "cat": 0.30}


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_dawid_skene_estimates_each_labelers_accuracy(seed):
    truth = truth_pairs(400, seed)
    answers = simulate(truth, RATES, seed + 100)
    ds = dawid_skene(answers)
    assert ds.converged and ds.method == "dawid_skene"
    estimated = ds.labelers.set_index("labeler")["accuracy"]
    realised = true_accuracy(answers, truth)  # the truth: the share each labeler actually got right
    for name in RATES:
        assert abs(estimated[name] - realised[name]) <= 0.05, (name, estimated[name], realised[name])
    assert list(ds.labelers["n_answers"]) == [400, 400, 400]
    assert abs(ds.match_prior - truth["is_match"].mean()) < 0.07


def test_dawid_skene_at_least_as_accurate_as_majority():
    """Over ten simulations Dawid-Skene wins on average (it weighs ann over bob and cat together when matches
    are rare); on one simulation of 400 pairs its estimates are noisy enough to lose a few pairs."""
    gains = []
    for seed in range(10):
        truth = truth_pairs(400, seed)
        answers = simulate(truth, RATES, seed + 100)
        ds, majority = dawid_skene(answers), majority_vote(answers)
        assert accuracy(ds, truth) > 0.85
        gains.append(accuracy(ds, truth) - accuracy(majority, truth))
    assert np.mean(gains) >= 0.005, gains
    assert min(gains) >= -0.025, gains


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_spammer_is_recognised_and_ignored(seed):
    truth = truth_pairs(400, seed)
    answers = simulate(truth, {**RATES, "spam": 0.5}, seed + 10, spammers=("spam",))
    ds, majority = dawid_skene(answers), majority_vote(answers)
    without_spam = dawid_skene(answers[answers["labeler"] != "spam"])
    spam = ds.labelers.set_index("labeler").loc["spam"]
    assert abs(spam["accuracy"] - 0.5) < 0.06
    assert abs(spam["sensitivity"] + spam["specificity"] - 1.0) < 0.15  # at chance: answers carry no evidence
    assert accuracy(ds, truth) >= accuracy(without_spam, truth) - 0.01
    assert accuracy(ds, truth) > accuracy(majority, truth) + 0.01  # the majority counts the coin as a vote


@pytest.mark.parametrize("method", ["auto", "majority_vote", "dawid_skene"])
def test_single_labeler_passes_through_unchanged(method):
    truth = truth_pairs(120, 3)
    answers = simulate(truth, {"solo": 0.2}, 4)
    result = consolidate(answers, method)
    merged = result.pairs.merge(answers, on=["labeling_set_id", "key_a", "key_b"], suffixes=("", "_said"))
    assert (merged["is_match"] == merged["is_match_said"]).all()
    assert (result.pairs["n_answers"] == 1).all()
    if method == "auto":
        assert result.method == "majority_vote"
        assert "have 1" in result.reason


def test_ties_are_non_matches_and_uncertain():
    answers = pd.DataFrame({
        "labeler": ["ann", "bob", "ann", "bob"],
        "labeling_set_id": ["s1"] * 4,
        "key_a": ["1", "1", "1", "1"],
        "key_b": ["2", "2", "3", "3"],
        "is_match": [True, False, True, True],
    })
    result = majority_vote(answers)
    tie = result.pairs.set_index("key_b").loc["2"]
    assert tie["posterior"] == 0.5 and not tie["is_match"] and tie["agreement"] == 0.5
    agreed = result.pairs.set_index("key_b").loc["3"]
    assert agreed["posterior"] == 1.0 and agreed["is_match"] and agreed["agreement"] == 1.0
    queue = uncertain_pairs(result)
    assert list(queue["key_b"]) == ["2"]
    assert queue["why"].iloc[0] == "posterior in band; labelers split"


def test_auto_uses_dawid_skene_only_with_enough_answers():
    truth = truth_pairs(200, 5)
    answers = simulate(truth, RATES, 6)
    assert consolidate(answers).method == "dawid_skene"
    few = answers[answers["key_a"] < "a0019"]  # 19 pairs each: under the 20 needed
    small = consolidate(few)
    assert small.method == "majority_vote" and "have 0" in small.reason


def test_deterministic_and_independent_of_row_order():
    truth = truth_pairs(300, 11)
    answers = simulate(truth, RATES, 12)
    first = dawid_skene(answers)
    shuffled = dawid_skene(answers.sample(frac=1.0, random_state=3))
    pd.testing.assert_frame_equal(first.pairs, shuffled.pairs)
    pd.testing.assert_frame_equal(first.labelers, shuffled.labelers)
    assert first.iterations == shuffled.iterations


def test_few_answers_are_not_estimated_perfect():
    answers = pd.DataFrame({
        "labeler": ["ann"] * 3 + ["bob"] * 3,
        "labeling_set_id": ["s"] * 6,
        "key_a": ["1", "1", "2"] * 2,
        "key_b": ["2", "3", "3"] * 2,
        "is_match": [True, False, False] * 2,
    })
    labelers = dawid_skene(answers).labelers
    assert (labelers["accuracy"] < 0.9).all() and (labelers["sensitivity"] < 0.9).all()
    assert (labelers["accuracy"] > 0.6).all()


def test_uncertain_pairs_band_and_splits():
    truth = truth_pairs(300, 21)
    answers = simulate(truth, RATES, 22)
    ds = dawid_skene(answers)
    queue = uncertain_pairs(ds, band=(0.2, 0.8))
    split = (ds.pairs["n_match_votes"] > 0) & (ds.pairs["n_match_votes"] < ds.pairs["n_answers"])
    in_band = ds.pairs["posterior"].between(0.2, 0.8)
    assert len(queue) == int((split | in_band).sum()) > 0
    only_band = uncertain_pairs(ds, band=(0.2, 0.8), include_splits=False)
    assert len(only_band) == int(in_band.sum())
    distance = (queue["posterior"] - 0.5).abs().to_numpy()
    assert (np.diff(distance) >= 0).all()
    with pytest.raises(LabelError, match="band"):
        uncertain_pairs(ds, band=(0.9, 0.1))


def test_labels_from_weights_by_confidence():
    truth = truth_pairs(100, 31)
    ds = dawid_skene(simulate(truth, RATES, 32))
    frame = labels_from(ds)
    assert list(frame.columns) == ["key_a", "key_b", "is_match", "labeling_set_id", "weight"]
    assert frame["weight"].between(0.5, 1.0).all()
    expected = np.maximum(ds.pairs["posterior"], 1 - ds.pairs["posterior"]).to_numpy()
    np.testing.assert_allclose(frame["weight"].to_numpy(), expected)


def labels_of(groups: dict[str, dict[str, str]]) -> Labels:
    rows = [(s, k, lab) for s, members in groups.items() for k, lab in members.items()]
    return Labels(pd.DataFrame(rows, columns=["labeling_set_id", "key", "label"]))


def test_answers_from_labels_and_back_to_groups():
    ann = labels_of({"s1": {"r1": "A", "r2": "A", "r3": "B"}, "s2": {"r4": "X", "r5": "Y"}})
    bob = labels_of({"s1": {"r1": "P", "r2": "P", "r3": "P"}, "s2": {"r4": "X", "r5": "Y"}})
    cat = labels_of({"s1": {"r1": "1", "r2": "1", "r3": "2"}, "s2": {"r4": "1", "r5": "1"}})
    answers = answers_from({"ann": ann, "bob": bob, "cat": cat})
    assert len(answers) == 3 * 4 and set(answers["labeler"]) == {"ann", "bob", "cat"}
    result = majority_vote(answers)
    verdict = result.pairs.set_index(["key_a", "key_b"])["is_match"]
    assert verdict[("r1", "r2")] and not verdict[("r1", "r3")] and not verdict[("r4", "r5")]
    grouped = group_labels(result).pairs()
    pd.testing.assert_frame_equal(grouped, ann.pairs())


def test_answers_from_labeling_files():
    file = pd.DataFrame({"labeling_set_id": ["s1"] * 3, "label": ["A", "A", "B"], "id": ["r1", "r2", "r3"]})
    answers = answers_from({"ann": file}, primary_key="id")
    assert sorted(answers["is_match"]) == [False, False, True]


def valid_answers() -> pd.DataFrame:
    return pd.DataFrame({"labeler": ["ann"], "labeling_set_id": ["s"], "key_a": ["1"], "key_b": ["2"],
                         "is_match": [True]})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["labeler"]), "missing 'labeler'"),
        (lambda f: f.assign(key_a="3"), "key_a < key_b"),
        (lambda f: f.assign(key_a="2"), "key_a < key_b"),
        (lambda f: f.assign(is_match=[1]), "is_match must be bool"),
        (lambda f: f.assign(is_match=["yes"]), "is_match must be bool"),
        (lambda f: f.assign(labeler=[None]), "empty values in column"),
        (lambda f: pd.concat([f, f]), "more than once"),
        (lambda f: f.iloc[:0], "no answers"),
    ],
)
def test_invalid_answers_are_label_errors(change, message):
    bad = change(valid_answers())
    for run in (majority_vote, dawid_skene, consolidate):
        with pytest.raises(LabelError, match=message):
            run(bad)


def test_bools_in_an_object_column_are_accepted():
    answers = valid_answers().assign(is_match=pd.Series([True], dtype=object))
    assert bool(majority_vote(answers).pairs["is_match"].iloc[0])


def test_unknown_method_is_a_label_error():
    with pytest.raises(LabelError, match="unknown consolidation method"):
        consolidate(valid_answers(), "average")


def consolidated_of(posteriors: dict[tuple[str, str], float]):
    answers = pd.DataFrame([("ann", "s", a, b, p > 0.5) for (a, b), p in posteriors.items()], columns=ANSWER_COLUMNS)
    result = majority_vote(answers)
    pairs = result.pairs.assign(posterior=[posteriors[(a, b)] for a, b in zip(result.pairs["key_a"],
                                                                                 result.pairs["key_b"], strict=True)])
    return dataclasses.replace(result, pairs=pairs)


def test_group_labels_do_not_chain_matches_across_a_strong_non_match():
    weak_link = group_labels(consolidated_of({("a", "b"): 0.9, ("b", "c"): 0.9, ("a", "c"): 0.1}))
    groups = weak_link.rows.set_index("key")["label"]
    assert groups["a"] == groups["b"] != groups["c"]  # {a, b} to c averages 0.5: not above, so not merged
    doubtful = group_labels(consolidated_of({("a", "b"): 0.9, ("b", "c"): 0.9, ("a", "c"): 0.4}))
    assert doubtful.rows["label"].nunique() == 1  # 0.65 on average: one entity
    apart = group_labels(consolidated_of({("a", "b"): 0.2, ("b", "c"): 0.3, ("a", "c"): 0.5}))
    assert apart.rows["label"].nunique() == 3
