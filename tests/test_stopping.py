"""When to stop labeling (:mod:`matcher.stopping`): the change between two clusterings and its extrapolation, rounds
in labeling order, the advice on labels that no longer help and on a round that still moves the matches, the honest
fallback with too few rounds, and the sentence on the command line."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cli_support import run_quietly
from conftest import FIXTURES, make_labels

from matcher.labels import Labels, read_labels
from matcher.pipeline import Matcher
from matcher.stopping import (
    SMALL_GAIN,
    clustering_change,
    group_rounds,
    labeling_order,
    next_change,
    stop_advice,
)

PEOPLE = FIXTURES / "people" / "records.csv"


def test_the_change_is_one_minus_the_pairwise_f1_of_two_clusterings() -> None:
    a, b = np.array([0, 0, 0, 1, 1]), np.array([0, 0, 1, 1, 1])
    assert clustering_change(a, a) == 0.0
    assert clustering_change(a, b) == pytest.approx(0.5)  # 4 pairs each, 2 shared: F1 0.5
    assert clustering_change(np.arange(4), np.arange(4)[::-1]) == 0.0  # no pair in either: nothing moved


def test_in_linkage_only_pairs_across_sources_count() -> None:
    source = np.array([0, 1, 0, 1])
    one, halves = np.zeros(4, dtype=int), np.array([0, 0, 1, 1])
    # one cluster: 4 cross-source pairs (the 2 same-source pairs do not count); halves: 2, both in the first
    assert clustering_change(one, halves, source) == pytest.approx(1 - 2 * 2 / (4 + 2))
    same_source_only = np.array([0, 1, 0, 2])
    assert clustering_change(np.arange(4), same_source_only, source) == 0.0


@pytest.mark.parametrize(("changes", "expected"), [([0.01, 0.005], 0.0025), ([0.005, 0.01], 0.01),
                                                   ([0.0, 0.0], 0.0), ([0.0, 0.003], 0.003)])
def test_a_shrinking_change_keeps_shrinking_and_a_growing_one_stays(changes: list[float], expected: float) -> None:
    assert next_change(changes) == pytest.approx(expected)


def labels_frame(rows: list[tuple[str, str, str, str | None]]) -> Labels:
    return Labels(pd.DataFrame(rows, columns=["labeling_set_id", "key", "label", "labeled_at"]))


def test_sets_are_ordered_by_when_they_were_labeled() -> None:
    labels = labels_frame([("b", "1", "A", "2026-01-02T10:00:00+00:00"), ("b", "2", "A", "2026-01-02T10:00:00+00:00"),
                           ("a", "3", "A", "2026-01-03T09:00:00+00:00"), ("c", "4", "A", "2026-01-01T00:00:00+00:00")])
    assert labeling_order(labels) == ["c", "b", "a"]
    unknown = labels_frame([("b", "1", "A", None), ("a", "3", "A", "2026-01-03T09:00:00+00:00")])
    assert labeling_order(unknown) == ["b", "a"]  # one set without a time: the order the labels arrived in


def test_rounds_are_generations_and_imported_sets_come_in_chunks() -> None:
    order = ["g1a", "imp1", "g1b", "g2a", "imp2", "imp3", "g2b"]
    rounds = group_rounds(order, {"g1a": "run1", "g1b": "run1", "g2a": "run2", "g2b": "run2"}, round_sets=2)
    assert rounds.groups == [["g1a", "g1b"], ["imp1", "imp2"], ["g2a", "g2b"], ["imp3"]]
    assert "imported" in rounds.source and rounds.round_sets == 2
    half_labeled = group_rounds(["g1a", "g2a"], {"g1a": "run1", "g1b": "run1", "g1c": "run1", "g2a": "run2",
                                                 "g2b": "run2", "g2c": "run2"})
    assert half_labeled.groups == [["g1a"], ["g2a"]] and half_labeled.source == "labeling-set generations"
    assert half_labeled.round_sets == 3  # what a generation proposed, not the few sets labeled from it
    chunks = group_rounds([f"s{i}" for i in range(25)], None)
    assert [len(g) for g in chunks.groups] == [10, 10, 5] and chunks.source.startswith("chunks of 10")


def labeled(people, people_matcher: Matcher, n_sets: int, wrong_from: int | None = None) -> Matcher:
    """``n_sets`` truthful sets; from set ``wrong_from`` on, every set labeled one entity, truth or not."""
    records, truth, _ = people
    c = people_matcher.candidates_
    frame = make_labels(records, truth, c.left, c.right, n_sets=n_sets, set_size=6, seed=0)
    if wrong_from is not None:
        wrong = frame["labeling_set_id"] >= f"set{wrong_from:02d}"
        frame.loc[wrong, "label"] = "together"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return copy.copy(people_matcher).refit_labels(read_labels(frame, "id"))


@pytest.fixture(scope="module")
def saturated(people, people_matcher: Matcher) -> dict:
    """70 truthful sets on the easy people fixture: 7 rounds, and the last two leave the clusters as they were
    (measured: the table's F1 0.9984 from 40 sets on; with 30 sets it still moved 0.005 a round, and the
    advice said so)."""
    return stop_advice(labeled(people, people_matcher, 70))


def test_labels_that_stopped_helping_say_so(saturated: dict) -> None:
    assert saturated["status"] == "estimated" and saturated["rounds"] == 7
    assert [p["rounds"] for p in saturated["curve"]] == [5, 6, 7]  # the models without the last 2, 1, 0 rounds
    assert [p["sets"] for p in saturated["curve"]] == [50, 60, 70]
    assert saturated["curve"][0]["change"] is None and saturated["fit"]["changes"] == [
        p["change"] for p in saturated["curve"][1:]]
    assert min(p["linked_pairs"] for p in saturated["curve"]) > 0
    assert saturated["expected_gain"] < SMALL_GAIN
    assert saturated["sentence"].startswith(f"another round of 10 sets is expected to add less than {SMALL_GAIN}")
    assert "unlikely to help" in saturated["sentence"]
    assert saturated["rounds_from"] == "chunks of 10 sets in labeling order"


@pytest.fixture(scope="module")
def moved(people, people_matcher: Matcher) -> Matcher:
    """30 sets on the people fixture, the last 10 each labeled one entity, truth or not: the third round
    links pairs the first two left apart."""
    return labeled(people, people_matcher, 30, wrong_from=20)


def test_a_round_that_moved_the_matches_says_labeling_still_moves_them(moved: Matcher) -> None:
    advice = stop_advice(moved)
    before, last = advice["fit"]["changes"]
    assert last > max(before, SMALL_GAIN)  # a change that grew is expected to stay as large
    assert advice["expected_gain"] == pytest.approx(last, abs=1e-4)
    assert advice["sentence"].startswith("another round of 10 sets is expected to change the matches by about")


def test_a_half_labeled_last_round_counts_as_half_a_round(people, people_matcher: Matcher) -> None:
    matcher = labeled(people, people_matcher, 25, wrong_from=20)  # rounds of 10, 10 and 5 sets
    advice = stop_advice(matcher)
    assert [p["sets"] for p in advice["curve"]] == [10, 20, 25]
    raw, scaled = advice["fit"]["changes"], advice["fit"]["changes_per_round"]
    assert scaled[0] == raw[0] and scaled[1] == pytest.approx(2 * raw[1], abs=2e-4)


def test_weighted_labels_are_refitted_with_their_weights(people, people_matcher: Matcher,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    matcher = labeled(people, people_matcher, 30)
    assert matcher.labels_ is not None
    pairs = matcher.labels_.pairs()
    weights = pairs[["labeling_set_id", "key_a", "key_b"]].assign(weight=np.linspace(0.5, 1.0, len(pairs)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weighted = matcher.refit_labels(matcher.labels_, weights=weights)
    refit, seen = Matcher.refit_labels, []

    def spy(self: Matcher, labels: Labels | None, score_candidates: Any = None, weights: Any = None) -> Matcher:
        seen.append(weights)
        return refit(self, labels, score_candidates, weights)

    monkeypatch.setattr(Matcher, "refit_labels", spy)
    assert stop_advice(weighted)["status"] == "estimated"
    key = ["labeling_set_id", "key_a", "key_b"]
    assert len(seen) == 2  # without the last round, without the last two
    for given in seen:  # the kept pairs only, each with the weight it had
        assert given is not None and len(given) < len(weights)
        both = given.merge(weights, on=key, suffixes=("", "_had"))
        assert len(both) == len(given) and (both["weight"] == both["weight_had"]).all()


def test_the_last_change_compares_the_full_model_with_a_refit_without_the_last_round(moved: Matcher) -> None:
    assert moved.labels_ is not None
    rows = moved.labels_.rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        earlier = moved.refit_labels(Labels(rows[rows["labeling_set_id"] < "set20"]))

    def clusters(m: Matcher) -> np.ndarray:
        return m.predict().records["match_id"].to_numpy()

    expected = clustering_change(clusters(moved), clusters(earlier))
    assert stop_advice(moved)["fit"]["changes"][1] == pytest.approx(expected, abs=1e-4)
    assert moved.labels_.rows is rows  # the advice refits copies: the evaluated matcher keeps its labels


def test_too_few_rounds_fall_back_honestly(people, people_matcher: Matcher) -> None:
    matcher = labeled(people, people_matcher, 20)
    assert matcher.labeled_ is not None
    advice = stop_advice(matcher)
    assert advice["status"] == "not_enough_rounds" and advice["expected_gain"] is None and advice["curve"] == []
    assert advice["sentence"].startswith("not enough labeled rounds to estimate: label at least 10 more set(s)")


def test_the_command_line_prints_the_advice(people, people_matcher: Matcher, tmp_path: Path) -> None:
    records, truth, _ = people
    c = people_matcher.candidates_
    path = tmp_path / "labels.csv"
    make_labels(records, truth, c.left, c.right, n_sets=12, set_size=6, seed=0).to_csv(path, index=False)
    code, out, err = run_quietly("evaluate", PEOPLE, "--primary-key", "id", "--labels", path, "--quiet")
    assert code == 0, err
    assert ("when to stop labeling: not enough labeled rounds to estimate: label at least 18 more set(s)"
            in out)
