"""Automated labeling that completes the humans' answers (:mod:`matcher.auto_complete`), each side of the
thresholds validated on its own class, and validation on human labels only (:mod:`matcher.auto_label`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import entity_of
from test_auto_label import labeled_rounds, perfect_answer

from matcher.active import LabelingSet, choose_sets
from matcher.auto_complete import Completion, SetPlan, complete, machine_verdicts, plan_completion, plan_round
from matcher.auto_label import MACHINE, Side, Thresholds, choose_thresholds, lower_bound, validated_thresholds
from matcher.labels import Labels
from matcher.pipeline import Matcher


@pytest.fixture(scope="module")
def trained(people, people_matcher) -> tuple[Matcher, list[LabelingSet]]:
    """The people matcher after four rounds of a perfect labeler, and the fifth round's proposed sets. (After
    three, since the cold start's group guard, the held-out pairs hold six non-matches the folds score 1.0: no
    match side qualifies on this fixture.)"""
    _, truth, _ = people
    matcher = labeled_rounds(people_matcher, truth, 4)
    assert matcher.labels_ is not None
    return matcher, choose_sets(matcher, 10, 10, matcher.labels_.key_set(), seed=4)


def true_labels(labels: Labels, truth: pd.DataFrame) -> Labels:
    return Labels(labels.rows.assign(label=entity_of(labels.rows.rename(columns={"key": "id"}), truth)))


def test_a_non_match_side_that_would_mislabel_the_matches_stops_before_them() -> None:
    """1000 non-matches and 100 matches, 8 of the matches scored as low as the non-matches: the pairs under 0.3
    are 99% non-matches, but calling them non-matches would get 8% of the matches wrong."""
    rng = np.random.default_rng(0)
    prob = np.r_[rng.uniform(0.0, 0.3, 1000), rng.uniform(0.1, 0.3, 8), rng.uniform(0.9, 1.0, 92)]
    y = np.r_[np.zeros(1000, dtype=bool), np.ones(100, dtype=bool)]
    chosen = choose_thresholds(prob, y, 0.95, cut=0.5)
    assert chosen.low is not None and chosen.low.class_bound is not None and chosen.low.class_bound >= 0.95
    taken = int((y & (prob <= chosen.low.threshold)).sum())  # 1 of 100 matches is within a 95% bound, 2 are not
    assert taken <= 1 and lower_bound(np.array([100 - taken]), np.array([100]), 0.95)[0] >= 0.95
    # the pair accuracy alone would have taken them: the share of non-matches right stays above 0.99 there
    below = prob <= prob[1000:1008].max()
    assert (~y[below]).mean() > 0.99 and (y & below).sum() == 8
    assert "matches left alone" in chosen.reason


def test_fewer_matches_than_the_bound_needs_validate_no_non_match_side() -> None:
    """With all 58 matches kept the 95% bound of 58/58 is 0.9497: no non-match threshold can be validated."""
    prob = np.r_[np.linspace(0.0, 0.2, 500), np.linspace(0.9, 1.0, 58)]
    y = np.r_[np.zeros(500, dtype=bool), np.ones(58, dtype=bool)]
    assert choose_thresholds(prob, y, 0.95, cut=0.5).low is None
    assert choose_thresholds(np.r_[prob, 0.95], np.r_[y, True], 0.95, cut=0.5).low is not None


def test_validation_uses_human_labels_only(people, trained) -> None:
    """Machine-labeled rows (here: a whole round labeled wrongly, every record its own entity) neither count as
    validation pairs nor change them, while the folds still train on them."""
    _, truth, _ = people
    matcher, sets = trained
    human = validated_thresholds(matcher, 0.95)
    answer = perfect_answer(matcher, sets, truth)
    wrong = Labels(answer.rows.assign(label=answer.rows["key"], labeled_by=MACHINE))
    assert matcher.labels_ is not None
    with_machine = matcher.refit_labels(matcher.labels_.append(wrong))
    mixed = validated_thresholds(with_machine, 0.95)
    assert mixed.validation_pairs == human.validation_pairs
    as_human = matcher.refit_labels(matcher.labels_.append(Labels(wrong.rows.assign(labeled_by=None))))
    assert validated_thresholds(as_human, 0.95).validation_pairs == human.validation_pairs + len(wrong.pairs())


def test_match_side_alone_completes_the_humans_answer(people, trained) -> None:
    """Without a non-match threshold (cora's case) records that are sure matches of each other follow one anchor
    that humans label; the completed sets label every record, and the machine's verdicts agree with the truth."""
    _, truth, _ = people
    matcher, sets = trained
    limits = validated_thresholds(matcher, 0.95)
    plan = plan_completion(matcher, sets, thresholds=replace(limits, low=None))
    followers = {k: a for p in plan.plans.values() for k, a in p.followers.items()}
    assert followers and not any(p.settled for p in plan.plans.values())
    human_keys = {k for s in plan.human_sets for k in matcher.records_["id"].astype(str).iloc[s.rows]}
    assert set(followers.values()) <= human_keys and not set(followers) & human_keys
    answer = perfect_answer(matcher, plan.human_sets, truth)
    done = complete(plan, answer)
    assert len(answer.rows) + plan.machine_records == sum(len(s.rows) for s in sets) == len(done.rows)
    rows = done.rows.set_index(["labeling_set_id", "key"])["label"]
    for set_id, p in plan.plans.items():
        for key, anchor in p.followers.items():
            assert rows[(set_id, key)] == rows[(set_id, anchor)]
    verdicts = machine_verdicts(done, true_labels(done, truth))
    assert verdicts["pairs"] > 0 and verdicts["match_accuracy"] is not None
    assert verdicts["match_accuracy"] >= 0.95 and verdicts["accuracy"] >= 0.95


def test_sets_with_nothing_unsure_are_labeled_whole_and_settled_records_get_labels_of_their_own(trained) -> None:
    matcher, sets = trained
    everything = Thresholds(Side(0.5, 100, 1.0, 0.97), Side(0.4999, 100, 1.0, 0.97), 0.95, 0.95, 100, "both")
    plan = plan_completion(matcher, sets, thresholds=everything)
    consistent = [p for p in plan.plans.values() if not p.human]
    assert consistent and len(plan.human_sets) == len(sets) - len(consistent)
    done = complete(plan, Labels.empty())  # nobody answered: only the wholly machine-labeled sets are labeled
    assert set(done.rows["labeling_set_id"]) == {p.set_id for p in consistent}
    assert (done.rows["labeled_by"] == MACHINE).all()
    low_only = plan_completion(matcher, sets, thresholds=replace(everything, high=None))  # settled records only
    assert not any(p.followers for p in low_only.plans.values()) and any(p.settled for p in low_only.plans.values())
    assert all(len(g) == len(set(g.values())) for g in (p.settled for p in low_only.plans.values()))
    nothing = plan_completion(matcher, sets, min_count=100_000)
    assert nothing.machine_records == 0 and [s.set_id for s in nothing.human_sets] == [s.set_id for s in sets]


def test_a_follower_joined_to_a_record_it_surely_differs_from_is_left_out() -> None:
    """Humans put the anchor a with x; b follows a but the machine is sure b is not x: b gets no label, c (which
    follows a too) does; the settled record s gets a label no human used."""
    plan = SetPlan("s1", ["a", "x", "y"], followers={"b": "a", "c": "a"}, settled={"s": 0},
                   never={"b": {"x"}, "c": {"y"}})
    limits = Thresholds(None, None, 0.95, 0.95, 0, "given")
    answer = Labels(pd.DataFrame({"labeling_set_id": "s1", "key": ["a", "x", "y"], "label": ["L", "L", "machine-0"]}))
    done = complete(Completion([], {"s1": plan}, limits, "given"), answer)
    labels = dict(zip(done.rows["key"], done.rows["label"], strict=True))
    assert "b" not in labels and labels["c"] == "L"
    assert labels["s"] not in {"L", "machine-0"} and (done.rows.set_index("key").loc[["c", "s"], "labeled_by"]
                                                        == MACHINE).all()


def test_a_round_tops_up_the_sets_the_machine_labels_whole(trained) -> None:
    """plan_round keeps choose_sets' own sets first and adds more until humans have their 3 sets (or the
    proposals run out): the sets the machine labels whole do not count."""
    matcher, _ = trained
    assert matcher.labels_ is not None
    exclude = matcher.labels_.key_set()
    kept, plan = plan_round(matcher, 3, 10, exclude, seed=3, target=0.95)
    first = [s.set_id for s in choose_sets(matcher, 3, 10, exclude, seed=3)]
    assert [s.set_id for s in kept][:3] == first and set(plan.plans) == {s.set_id for s in kept}
    with_humans = [s.set_id for s in kept if plan.plans[s.set_id].human]
    assert [s.set_id for s in plan.human_sets] == with_humans
    assert len(with_humans) == 3 or len(kept) == len(choose_sets(matcher, 9, 10, exclude, seed=3))
    assert len(kept) > 3  # the people fixture's model is sure of whole sets after four rounds
