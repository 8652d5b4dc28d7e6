"""Automated labeling (:mod:`matcher.auto_label`): thresholds validated on held-out human labels, the sets the
machine may label and the accuracy of its labels against the people fixture's truth, the check sample."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import entity_of

from matcher.active import LabelingSet, choose_sets, labeling_file
from matcher.auto_label import (
    MACHINE,
    MACHINE_PART,
    AutoLabelError,
    Side,
    Thresholds,
    _set_labels,
    achieved_accuracy,
    auto_label,
    check_sample,
    choose_thresholds,
    lower_bound,
    split_sure_records,
    validated_thresholds,
)
from matcher.errors import MatcherError
from matcher.evaluate import out_of_fold
from matcher.labels import Labels, read_labels
from matcher.pipeline import Matcher


def perfect_answer(matcher: Matcher, sets: list[LabelingSet], truth: pd.DataFrame) -> Labels:
    """A perfect labeler's answer: each record labeled with its true entity."""
    file = labeling_file(matcher, sets)
    file["label"] = entity_of(file, truth)
    return read_labels(file, "id")


def labeled_rounds(matcher: Matcher, truth: pd.DataFrame, rounds: int) -> Matcher:
    labels = Labels.empty()
    for r in range(rounds):
        sets = choose_sets(matcher, 10, 10, labels.key_set(), seed=r)
        labels = labels.append(perfect_answer(matcher, sets, truth))
        matcher = matcher.refit_labels(labels)
    return matcher


@pytest.fixture(scope="module")
def trained(people, people_matcher) -> tuple[Matcher, list[LabelingSet]]:
    """The people matcher after three rounds of a perfect labeler, and the fourth round's proposed sets."""
    _, truth, _ = people
    matcher = labeled_rounds(people_matcher, truth, 3)
    assert matcher.labels_ is not None
    return matcher, choose_sets(matcher, 10, 10, matcher.labels_.key_set(), seed=3)


@pytest.mark.parametrize("target", [1.0, 0.5, 1.2, -0.1, "0.95", True, float("nan")])
def test_bad_targets_raise_a_matcher_error(target) -> None:
    with pytest.raises(AutoLabelError, match="target strictly between 0.5 and 1"):
        choose_thresholds(np.array([0.1, 0.9]), np.array([False, True]), target)
    assert issubclass(AutoLabelError, MatcherError)


def test_bad_confidence_count_and_share_raise() -> None:
    prob, y = np.array([0.1, 0.9]), np.array([False, True])
    with pytest.raises(AutoLabelError, match="confidence"):
        choose_thresholds(prob, y, 0.95, confidence=1.0)
    with pytest.raises(AutoLabelError, match="min_count"):
        choose_thresholds(prob, y, 0.95, min_count=0)
    with pytest.raises(AutoLabelError, match="share"):
        check_sample(["a"], 1.5)


def test_the_bound_needs_enough_pairs_not_just_a_perfect_share() -> None:
    """30 pairs all right: the raw share is 1 but the 95% Clopper-Pearson bound is 0.905, so nothing qualifies
    at 0.95; 59 pairs all right (0.05 ** (1/59) = 0.9505) qualify."""
    assert lower_bound(np.array([30]), np.array([30]), 0.95)[0] == pytest.approx(0.05 ** (1 / 30))
    few = choose_thresholds(np.r_[np.full(30, 0.01), np.full(30, 0.99)], np.r_[np.zeros(30), np.ones(30)], 0.95)
    assert few.high is None and few.low is None and not few.usable
    assert "no threshold reaches accuracy >= 0.95" in few.reason
    enough = choose_thresholds(np.r_[np.full(59, 0.01), np.full(59, 0.99)], np.r_[np.zeros(59), np.ones(59)], 0.95)
    assert enough.high is not None and enough.low is not None
    assert (enough.low.threshold, enough.high.threshold) == (0.01, 0.99)
    assert enough.high.bound >= 0.95 and enough.high.n == 59


def test_thresholds_move_outwards_as_the_target_rises(trained) -> None:
    matcher, _ = trained
    assert matcher.labeled_ is not None
    lab = matcher.scored_kind(matcher.labeled_)
    prob = out_of_fold(matcher, lab).prob
    chosen = [choose_thresholds(prob, lab.is_match, t, cut=matcher.threshold) for t in (0.9, 0.95, 0.98)]
    highs = [c.high.threshold if c.high else np.inf for c in chosen]
    lows = [c.low.threshold if c.low else -np.inf for c in chosen]
    assert highs == sorted(highs) and lows == sorted(lows, reverse=True)
    assert highs[0] < highs[-1] or lows[0] > lows[-1]  # the target changes something on this fixture
    for c in chosen:  # each side's validated pairs really are right at >= its bound >= the target
        if c.high is not None:
            above = prob >= c.high.threshold
            assert lab.is_match[above].mean() >= c.high.bound >= c.target
        if c.low is not None:
            below = prob <= c.low.threshold
            assert (~lab.is_match[below]).mean() >= c.low.bound >= c.target


def test_machine_labels_agree_with_truth_at_the_target(people, trained) -> None:
    _, truth, _ = people
    matcher, sets = trained
    result = auto_label(matcher, sets, 0.95)
    assert result.machine_sets, result.reason
    assert sorted(result.machine_sets + result.human_sets) == sorted(s.set_id for s in sets)
    machine = [s for s in sets if s.set_id in result.machine_sets]
    achieved = achieved_accuracy(result.labels, perfect_answer(matcher, machine, truth))
    assert achieved["pairs"] == sum(len(s.rows) * (len(s.rows) - 1) // 2 for s in machine)
    accuracy = achieved["accuracy"]
    assert accuracy is not None and accuracy >= 0.95
    assert result.expected_accuracy is not None and result.accuracy_bound is not None
    assert result.accuracy_bound >= 0.95
    assert set(result.labels.rows["labeled_by"]) == {MACHINE}
    assert len(result.labels.rows) == sum(len(s.rows) for s in machine)
    refitted = matcher.refit_labels(matcher.labels_.append(result.labels))  # machine labels train as human ones do
    assert refitted.labeled_ is not None and len(refitted.labeled_.left) > len(matcher.labeled_.left)


def test_sets_given_as_keys_label_as_labeling_sets_do(trained) -> None:
    matcher, sets = trained
    keys = matcher.records_["id"].to_numpy(dtype=object)
    by_keys = {s.set_id: [str(keys[r]) for r in s.rows] for s in sets}
    limits = validated_thresholds(matcher, 0.95)
    a, b = auto_label(matcher, sets, 0.95, thresholds=limits), auto_label(matcher, by_keys, 0.95, thresholds=limits)
    assert a.machine_sets == b.machine_sets
    pd.testing.assert_frame_equal(a.labels.rows, b.labels.rows)
    with pytest.raises(AutoLabelError, match="keys not in the data"):
        auto_label(matcher, {"s": ["no-such-key"]}, 0.95, thresholds=limits)


def test_nothing_is_labeled_when_the_target_is_unreachable(people_matcher, trained) -> None:
    matcher, sets = trained
    unlabeled = auto_label(people_matcher, sets, 0.95)
    assert unlabeled.machine_sets == [] and len(unlabeled.human_sets) == len(sets)
    assert "no human labels" in unlabeled.reason and unlabeled.expected_accuracy is None
    strict = auto_label(matcher, sets, 0.95, min_count=100_000)
    assert strict.machine_sets == [] and strict.labels.rows.empty
    assert "no threshold reaches" in strict.reason
    assert all("no threshold reaches" in why for why in strict.set_reasons.values())


def test_a_set_whose_sure_matches_chain_a_sure_non_match_goes_to_humans() -> None:
    pairs = pd.DataFrame({"a": [0, 1, 0], "b": [1, 2, 2], "prob": [0.99, 0.99, 0.01]})
    label, why = _set_labels([0, 1, 2], pairs, 0.1, 0.9)
    assert label is None and "inconsistent" in why
    consistent = pairs.assign(prob=[0.99, 0.02, 0.01])
    label, _ = _set_labels([0, 1, 2], consistent, 0.1, 0.9)
    assert label is not None and label[0] == label[1] != label[2]
    label, why = _set_labels([0, 1, 2], consistent.assign(prob=[0.99, 0.5, 0.01]), 0.1, 0.9)
    assert label is None and "1 of 3 pairs between the thresholds" in why


def test_linkage_labels_never_group_two_records_of_one_source(linkage, linkage_matcher) -> None:
    """Given thresholds that leave no pair unsure (a property of the grouping, not of the validation)."""
    records, truth, source = linkage
    matcher = labeled_rounds(linkage_matcher, truth, 3)
    assert matcher.labels_ is not None
    sets = choose_sets(matcher, 10, 10, matcher.labels_.key_set(), seed=3)
    only_low = Thresholds(None, Side(1.0, 100, 1.0, 0.97), 0.95, 0.95, 100, "low side only")
    sure = Thresholds(Side(0.5, 100, 1.0, 0.97), Side(0.4999, 100, 1.0, 0.97), 0.95, 0.95, 100, "both sides")
    src = records.set_index("id")[source]
    for limits in (only_low, sure):
        result = auto_label(matcher, sets, 0.95, thresholds=limits)
        assert len(result.machine_sets) == len(sets) if limits is only_low else result.machine_sets
        rows = result.labels.rows.assign(source=src.reindex(result.labels.rows["key"]).to_numpy())
        assert not rows.duplicated(["labeling_set_id", "label", "source"]).any()
        if limits is only_low:  # no side for matches: every machine-labeled record is alone in its group
            assert not rows.duplicated(["labeling_set_id", "label"]).any()


def test_check_sample_is_seeded_and_sized_by_the_share() -> None:
    ids = [f"set{i}" for i in range(20)]
    sample = check_sample(ids, 0.12, seed=4)
    assert len(sample) == 3 and set(sample) <= set(ids)  # ceil(0.12 * 20)
    assert check_sample(list(reversed(ids)), 0.12, seed=4) == sample
    assert len({tuple(check_sample(ids, 0.12, seed=s)) for s in range(10)}) > 1
    assert check_sample(ids, 0.0) == [] and check_sample([], 0.5) == []
    assert check_sample(ids[:3], 0.01) == [check_sample(ids[:3], 0.01)[0]]  # at least one set once share > 0


def test_achieved_accuracy_counts_the_pairs_both_labeled() -> None:
    machine = Labels(pd.DataFrame({"labeling_set_id": "m", "key": ["a", "b", "c", "d"], "label": ["1", "1", "2", "3"]}))
    human = Labels(pd.DataFrame({"labeling_set_id": "h", "key": ["a", "b", "c"], "label": ["x", "y", "x"]}))
    got = achieved_accuracy(machine, human)
    # pairs both labeled: ab (machine match, human not), ac (machine not, human match), bc (both not)
    assert got == {"accuracy": pytest.approx(1 / 3, abs=1e-4), "pairs": 3, "false_matches": 1, "missed_matches": 1}
    assert achieved_accuracy(machine, Labels.empty())["accuracy"] is None


@pytest.fixture(scope="module")
def one_round(people, people_matcher) -> tuple[Matcher, list[LabelingSet]]:
    """After one round of labels."""
    _, truth, _ = people
    matcher = labeled_rounds(people_matcher, truth, 1)
    assert matcher.labels_ is not None
    return matcher, choose_sets(matcher, 10, 10, matcher.labels_.key_set(), seed=1)


def test_sure_records_inside_sets_are_machine_labeled_and_agree_with_truth(people, one_round) -> None:
    """More records are machine-labeled than whole sets allow, humans get the rest of each set, and the machine's
    groups agree with the truth at the target."""
    _, truth, _ = people
    matcher, sets = one_round
    # 0.9: after one round the 58 held-out matches cannot validate a non-match side at 0.95 (58/58 is bounded
    # at 0.9497, see test_auto_complete)
    validated = validated_thresholds(matcher, 0.9)
    assert validated.high is not None and validated.low is not None
    # each side made stricter than validated (its claim still holds beyond it), so that some records of the
    # sets are unsure: one round of labels leaves only ~1 of this fixture's 8,000 candidate pairs between the
    # validated thresholds themselves
    limits = replace(validated, high=replace(validated.high, threshold=max(validated.high.threshold, 0.99)),
                     low=replace(validated.low, threshold=min(validated.low.threshold, 0.01)))
    whole, split = auto_label(matcher, sets, thresholds=limits), split_sure_records(matcher, sets, thresholds=limits)
    assert len(split.labels.rows) > len(whole.labels.rows), split.reason
    given = {s.set_id: set(s.rows.tolist()) for s in sets}
    positions = pd.Index(matcher.records_["id"].astype(str))
    machine_rows = split.labels.rows.assign(row=positions.get_indexer(split.labels.rows["key"]))
    for s in split.human_sets:  # humans get what the machine did not take, never a lone record
        taken = set(machine_rows.loc[machine_rows["labeling_set_id"] == s.set_id + MACHINE_PART, "row"])
        assert set(s.rows.tolist()) == given[s.set_id] - taken and len(s.rows) >= 2
    assert sum(map(len, [s.rows for s in split.human_sets])) + len(split.labels.rows) == sum(map(len, given.values()))
    human_ids = {s.set_id for s in split.human_sets}
    for set_id in whole.machine_sets:  # a wholly sure set is labeled whole, under its own id, as auto_label does
        assert split.machine_records[set_id] == len(given[set_id]) and set_id not in human_ids
    true = Labels(split.labels.rows.assign(label=entity_of(split.labels.rows.rename(columns={"key": "id"}), truth)))
    achieved = achieved_accuracy(split.labels, true)
    assert achieved["pairs"] == len(split.labels.pairs()) > 0
    assert achieved["accuracy"] is not None and achieved["accuracy"] >= 0.9
    assert split.accuracy_bound is not None and split.accuracy_bound >= 0.9


def test_split_records_label_nothing_without_thresholds_and_every_record_with_all_pairs_sure(trained) -> None:
    matcher, sets = trained
    strict = split_sure_records(matcher, sets, min_count=100_000)
    assert strict.labels.rows.empty and [s.set_id for s in strict.human_sets] == [s.set_id for s in sets]
    assert all("no threshold reaches" in why for why in strict.set_reasons.values())
    # thresholds that leave no pair unsure (0.5 splits every probability): every set is machine-labeled whole
    sure = Thresholds(Side(0.5, 100, 1.0, 0.97), Side(0.4999, 100, 1.0, 0.97), 0.95, 0.95, 100, "both sides")
    everything = split_sure_records(matcher, sets, thresholds=sure)
    consistent = auto_label(matcher, sets, thresholds=sure)
    assert [s.set_id for s in everything.human_sets] == consistent.human_sets
    assert set(everything.labels.rows["labeling_set_id"]) == set(consistent.machine_sets)
