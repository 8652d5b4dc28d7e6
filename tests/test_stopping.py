"""When to stop labeling (:mod:`matcher.stopping`): the power law's fit, rounds in labeling order, the advice on
labels that no longer help, the honest fallback with too few rounds, and the sentence on the command line."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_support import run_quietly
from conftest import FIXTURES, make_labels

from matcher.labels import Labels, read_labels
from matcher.pipeline import Matcher
from matcher.stopping import MIN_ROUNDS, SMALL_GAIN, fit_power_law, group_rounds, labeling_order, stop_advice

PEOPLE = FIXTURES / "people" / "records.csv"


def test_the_power_law_recovers_a_rising_curves_next_gain() -> None:
    n = np.array([6.0, 13.0, 20.0, 26.0, 33.0])
    truth = 0.95 - 0.8 * n ** -0.6
    law = fit_power_law(n, truth)
    expected = 0.8 * (40 ** -0.6 - 50 ** -0.6)  # ~0.011: well above the "stop" line
    assert expected > 3 * SMALL_GAIN
    assert law.gain(40, 10) == pytest.approx(expected, abs=0.0005)
    assert law.rmse < 0.001 and law.a <= 1


@pytest.mark.parametrize("f1", [[0.97, 0.97, 0.97], [0.99, 0.98, 0.96, 0.95], [1.0, 1.0, 1.0, 1.0]])
def test_flat_or_falling_curves_predict_no_gain(f1: list[float]) -> None:
    law = fit_power_law(np.arange(1, len(f1) + 1) * 8.0, np.array(f1))
    assert law.b >= 0 and law.a <= 1
    assert law.gain(len(f1) * 10, 10) < SMALL_GAIN


def test_a_point_trained_on_no_set_keeps_the_fit_finite() -> None:
    law = fit_power_law(np.array([0.0, 7.0, 13.0]), np.array([0.5, 0.8, 0.85]))
    assert np.isfinite([law.a, law.b, law.c, law.rmse]).all() and law.gain(20, 10) > 0


def test_a_saturating_curve_caps_at_one() -> None:
    n = np.array([8.0, 16.0, 24.0])
    law = fit_power_law(n, np.array([0.9, 0.99, 1.0]))
    assert law.a <= 1 and law(1e6) <= 1


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


def labeled(people, people_matcher: Matcher, n_sets: int) -> Matcher:
    records, truth, _ = people
    c = people_matcher.candidates_
    frame = make_labels(records, truth, c.left, c.right, n_sets=n_sets, set_size=6, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return copy.copy(people_matcher).refit_labels(read_labels(frame, "id"))


@pytest.fixture(scope="module")
def saturated(people, people_matcher: Matcher) -> dict:
    """30 truthful sets on the easy people fixture: 3 rounds, and the first already trains a model that gets
    every labeled pair right (measured: F1 1.0 at 1, 2 and 3 rounds)."""
    matcher = labeled(people, people_matcher, 30)
    assert matcher.labeled_ is not None
    return stop_advice(matcher, matcher.labeled_)


def test_labels_that_stopped_helping_say_so(saturated: dict) -> None:
    assert saturated["status"] == "estimated" and saturated["rounds"] == MIN_ROUNDS
    assert [p["rounds"] for p in saturated["curve"]] == [1, 2, 3]
    assert [p["sets"] for p in saturated["curve"]] == [10, 20, 30]
    trained = [p["training_sets"] for p in saturated["curve"]]
    assert trained == sorted(trained) and trained[-1] < 30  # a fold trains on its training side only
    assert min(p["f1"] for p in saturated["curve"]) >= 0.95
    assert saturated["expected_gain"] < SMALL_GAIN
    assert saturated["sentence"].startswith(f"another round of 10 sets is expected to add less than {SMALL_GAIN}")
    assert "unlikely to help" in saturated["sentence"]
    assert saturated["fit"]["a"] <= 1 and saturated["rounds_from"] == "chunks of 10 sets in labeling order"


def test_too_few_rounds_fall_back_honestly(people, people_matcher: Matcher) -> None:
    matcher = labeled(people, people_matcher, 20)
    assert matcher.labeled_ is not None
    advice = stop_advice(matcher, matcher.labeled_)
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
