"""Labeling sets (``matcher labeling-set`` and :mod:`matcher.active`): Glue's labeling file, sets that are
worth a human's time (likely matches beside hard non-matches, spread over the data), rounds that never ask
the same record twice, and a simulated labeler whose answers keep or improve the matcher's accuracy."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_support import assert_one_line_error, run, run_quietly
from conftest import FIXTURES, entity_of, load_fixture, score_output

from matcher.active import choose_sets, labeling_file, uncertainty
from matcher.csv_safety import restore_frame
from matcher.labels import read_labels
from matcher.pipeline import Matcher
from matcher.settings import Settings

PEOPLE = FIXTURES / "people" / "records.csv"
PEOPLE_TRUTH = FIXTURES / "people" / "truth.csv"


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def label_from_truth(frame: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """A perfect labeler: each row's label is its true entity id (same entity in a set = same label)."""
    labeled = frame.copy()
    labeled["label"] = entity_of(labeled, truth)
    return labeled


def set_pairs(frame: pd.DataFrame, entity: dict[str, str]) -> tuple[int, int, int]:
    """(true matching pairs, non-matching pairs, sets holding at least one true match) over a labeling file."""
    matches = non_matches = sets_with_match = 0
    for _, rows in frame.groupby("labeling_set_id", sort=False):
        same = [entity[a] == entity[b] for a, b in itertools.combinations(rows["id"], 2)]
        matches += sum(same)
        non_matches += len(same) - sum(same)
        sets_with_match += any(same)
    return matches, non_matches, sets_with_match


@pytest.fixture(scope="module")
def entity(people) -> dict[str, str]:
    _, truth, _ = people
    return dict(zip(truth["id"], truth["entity_id"], strict=True))


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory, people) -> dict:
    """Two CLI rounds on the people fixture; round two gets round one's file answered by a perfect labeler."""
    _, truth, _ = people
    work = tmp_path_factory.mktemp("rounds")
    paths = {name: work / name for name in ("round1.csv", "reasons1.json", "labels1.csv", "round2.csv",
                                            "reasons2.json")}
    first = run_quietly("labeling-set", PEOPLE, "--primary-key", "id", "--output", paths["round1.csv"],
                        "--reasons-output", paths["reasons1.json"], "--quiet")
    label_from_truth(read_csv(paths["round1.csv"]), truth).to_csv(paths["labels1.csv"], index=False)
    second = run_quietly("labeling-set", PEOPLE, "--primary-key", "id", "--labels", paths["labels1.csv"],
                         "--output", paths["round2.csv"], "--reasons-output", paths["reasons2.json"], "--quiet")
    return {"first": first, "second": second, **paths}


# --- the labeling file ---------------------------------------------------------------------------


def test_labeling_file_has_glue_columns_blank_labels_and_input_values(rounds: dict) -> None:
    assert rounds["first"] == (0, "", "")
    records = read_csv(PEOPLE)
    raw = rounds["round1.csv"].read_bytes()
    raw.decode("utf-8")  # UTF-8
    sets = read_csv(rounds["round1.csv"])

    assert list(sets.columns) == ["labeling_set_id", "label", *records.columns]
    assert len(sets) > 0
    assert (sets["label"] == "").all()
    assert (sets["labeling_set_id"] != "").all()
    # every input column carries the record's own values, unchanged once the ' our CSVs put before formula-like
    # text (a phone "+44 ...": matcher.csv_safety) is taken off again, as the labels reader does
    by_id = records.set_index("id")
    assert not sets.map(lambda v: v[:1] in ("=", "+", "-", "@") and v != "").any().any()
    sets = restore_frame(sets)
    pd.testing.assert_frame_equal(sets.set_index("id")[list(by_id.columns)], by_id.loc[sets["id"]])


def test_each_record_at_most_once_and_set_sizes_within_bounds(rounds: dict) -> None:
    sets = read_csv(rounds["round1.csv"])
    assert sets["id"].is_unique
    sizes = sets.groupby("labeling_set_id").size()
    assert sizes.between(2, 12).all(), sizes  # default --set-size 12; Glue's hard cap is 50


def test_reasons_have_an_entry_per_set(rounds: dict) -> None:
    sets = read_csv(rounds["round1.csv"])
    reasons = json.loads(rounds["reasons1.json"].read_text(encoding="utf-8"))
    assert set(reasons) == set(sets["labeling_set_id"])
    sizes = sets.groupby("labeling_set_id").size()
    for set_id, reason in reasons.items():
        assert reason["records"] == sizes[set_id]
        assert 0.0 <= reason["seed_pair_probability"] <= 1.0


def test_round_one_yields_the_requested_number_of_sets(rounds: dict) -> None:
    """600 records, 8,086 candidate pairs, nothing labeled: the data allows the default 10 sets.

    BUG (matcher/active.py, _seed_order): seeds are drawn only from pairs with uncertainty > 0.05, i.e.
    0.025 < p < 0.975. The cold-start Fellegi-Sunter model is confident on clean data: only 6 of the
    8,086 people pairs qualify, so 3 sets are written instead of 10 (measured).
    """
    sets = read_csv(rounds["round1.csv"])
    assert sets["labeling_set_id"].nunique() == 10


def test_num_sets_is_honoured_on_linkage_too() -> None:
    """Same root cause on the FEBRL linkage fixture (350 records, 1,607 candidate pairs, 2 of them in the
    seed pool): measured 2 sets of the 4 asked."""
    records, _, source = load_fixture("linkage")
    matcher = Matcher(Settings(primary_key="id", source_column=source)).fit(records)
    sets = choose_sets(matcher, num_sets=4, set_size=10)
    assert len(sets) == 4
    assert len(np.unique(np.concatenate([s.rows for s in sets]))) == sum(len(s.rows) for s in sets)


def test_second_round_asks_only_new_records_under_new_set_ids(rounds: dict) -> None:
    assert rounds["second"] == (0, "", "")
    first, second = read_csv(rounds["round1.csv"]), read_csv(rounds["round2.csv"])
    labeled = read_csv(rounds["labels1.csv"])

    assert list(second.columns) == list(first.columns)
    assert len(second) > 0  # measured 4 sets of 12
    assert (second["label"] == "").all()
    assert second["id"].is_unique
    assert second.groupby("labeling_set_id").size().between(2, 12).all()
    assert not set(second["id"]) & set(labeled.loc[labeled["label"] != "", "id"])
    assert not set(second["labeling_set_id"]) & set(first["labeling_set_id"])
    reasons = json.loads(rounds["reasons2.json"].read_text(encoding="utf-8"))
    assert set(reasons) == set(second["labeling_set_id"])


def test_utf8_output_from_cp1252_input(people, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = read_csv(PEOPLE).head(150)
    records["city"] = records["city"] + " Sainte-Thérèse"
    data = tmp_path / "cp1252.csv"
    data.write_bytes(records.to_csv(index=False).encode("cp1252"))
    output = tmp_path / "sets.csv"

    code, out, err = run(capsys, "labeling-set", data, "--primary-key", "id", "--output", output, "--quiet")

    assert code == 0, err
    text = output.read_bytes().decode("utf-8")
    assert "Sainte-Thérèse" in text
    sets = read_csv(output)
    assert list(sets.columns) == ["labeling_set_id", "label", *records.columns]
    assert sets["id"].is_unique and len(sets) >= 2


@pytest.mark.parametrize("args, fragment", [
    (["--set-size", "1"], "--set-size must be between 2 and 20"),
    (["--set-size", "30"], "--set-size must be between 2 and 20"),
    (["--num-sets", "0"], "--num-sets must be between 1 and 1000"),
])
def test_bad_arguments_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           args: list[str], fragment: str) -> None:
    output = tmp_path / "sets.csv"
    result = run(capsys, "labeling-set", PEOPLE, "--primary-key", "id", "--output", output, *args)
    assert_one_line_error(*result, fragment)
    assert not output.exists()


# --- are the sets worth labeling? ----------------------------------------------------------------


def test_round_one_sets_hold_matches_beside_non_matches(rounds: dict, entity: dict[str, str]) -> None:
    sets = read_csv(rounds["round1.csv"])
    matches, non_matches, with_match = set_pairs(sets, entity)
    # measured (3 sets, see the bug above): 24 true matching pairs, 174 non-matching, 3 of 3 sets
    assert matches >= 10
    assert non_matches >= 50
    assert with_match >= 0.5 * sets["labeling_set_id"].nunique()


def test_round_one_sets_are_spread_over_the_data(people, people_matcher: Matcher) -> None:
    """Fails with the seed-pool bug: measured 3 sets (seeded on Price, Shaw, Martin), too few to show a
    spread over 600 records. The next test checks the spread rule itself."""
    records, _, _ = people
    sets = choose_sets(people_matcher, num_sets=10, set_size=12)
    assert len(sets) >= 5, f"only {len(sets)} sets for 10 asked"
    seed_surnames = [records["surname"].iloc[s.rows[0]] for s in sets]
    assert len(set(seed_surnames)) >= 0.8 * len(sets), seed_surnames


def test_spread_rule_with_a_less_confident_model(people, people_matcher: Matcher,
                                                 entity: dict[str, str]) -> None:
    """The same matcher with its log odds divided by 8, so that every candidate pair counts as uncertain
    (sidesteps the seed-pool bug): the selection logic itself then gives 10 spread sets, each seeded
    outside the candidate neighbourhood of earlier sets, mixing likely matches and non-matches."""
    records, _, _ = people
    matcher = copy.copy(people_matcher)
    p = np.clip(people_matcher.prob_, 1e-12, 1 - 1e-12)
    matcher.prob_ = 1.0 / (1.0 + np.exp(-np.log(p / (1 - p)) / 8))
    assert (uncertainty(matcher.prob_) > 0.05).mean() > 0.9  # measured: all 8,086 pairs

    sets = choose_sets(matcher, num_sets=10, set_size=12)

    assert len(sets) == 10
    assert all(2 <= len(s.rows) <= 12 for s in sets)  # measured nine of 12, one of 6
    members = np.concatenate([s.rows for s in sets])
    assert len(np.unique(members)) == len(members)
    assert len({s.set_id for s in sets}) == 10
    # spread: seeds name different people and no seed is a candidate neighbour of an earlier set
    surnames = {records["surname"].iloc[s.rows[0]] for s in sets}
    assert len(surnames) >= 9  # measured 10 distinct
    left, right = matcher.candidates_.left, matcher.candidates_.right
    taken: set[int] = set()
    for s in sets:
        seed = set(s.rows[:2].tolist())
        neighbours = set(right[np.isin(left, list(taken))].tolist()) | set(left[np.isin(right, list(taken))].tolist())
        assert not seed & (taken | neighbours)
        taken |= set(s.rows.tolist())
    frame = labeling_file(matcher, sets)
    matches, non_matches, with_match = set_pairs(frame, entity)
    assert with_match >= 8  # measured 10 of 10 (60 matching and 549 non-matching pairs)
    assert matches >= 30 and non_matches >= 300


# --- a simulated labeler -------------------------------------------------------------------------


def test_simulated_labeler_keeps_or_improves_f1(people, people_matcher: Matcher, rounds: dict) -> None:
    """Both CLI rounds answered by a perfect labeler (measured: 3 sets of 12, then 4), then refit."""
    records, truth, _ = people
    answered = [read_csv(rounds["labels1.csv"]), label_from_truth(read_csv(rounds["round2.csv"]), truth)]
    labels = read_labels(answered[0], "id", known_keys=records["id"]).append(
        read_labels(answered[1], "id", known_keys=records["id"]))
    assert labels.summary()["n_sets"] == sum(frame["labeling_set_id"].nunique() for frame in answered)
    matcher = copy.copy(people_matcher)
    before = score_output(matcher.predict().records, truth)["f1"]

    matcher = matcher.refit_labels(labels)
    after = score_output(matcher.predict().records, truth)["f1"]

    # measured: F1 0.9934 unlabeled (cold start), 1.0 after the two rounds (classifier)
    assert matcher.classifier_ is not None
    assert before >= 0.97
    assert after >= before - 0.003
    assert after >= 0.99


def test_round_two_yields_the_requested_number_of_sets(rounds: dict) -> None:
    """Over 560 records are still unlabeled after round one, so round two can fill its 10 sets.

    BUG (same root cause, matcher/active.py _seed_order): measured 4 sets. Library rounds with a perfect
    labeler give 3, 4, 5, then 10 sets: how many sets a round gets depends on how many pairs the current
    model happens to leave in the 0.025 < p < 0.975 pool, not on --num-sets or on the data left to label.
    """
    assert read_csv(rounds["round2.csv"])["labeling_set_id"].nunique() == 10


# --- contradicting labels across sets -----------------------------------------------------------


def test_contradicting_sets_are_named_in_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "people.csv"
    read_csv(PEOPLE).head(200).to_csv(data, index=False)
    labels = tmp_path / "labels.csv"
    labels.write_text("labeling_set_id,label,id\n"
                      "set-alpha,A,r0000000\nset-alpha,A,r0000001\n"
                      "set-beta,X,r0000000\nset-beta,Y,r0000001\n", encoding="utf-8")

    code, out, err = run(capsys, "match", data, "--primary-key", "id", "--labels", labels,
                         "--output", tmp_path / "out.csv", "--quiet")

    assert code == 0, err
    assert out == ""
    warning = [line for line in err.splitlines() if line.startswith("matcher: warning:") and "contradict" in line]
    assert len(warning) == 1, err
    assert "set-alpha" in warning[0] and "set-beta" in warning[0]
    assert "r0000000" in warning[0] and "r0000001" in warning[0]
    assert "Traceback" not in err


def _left_apart_strong_pair(matcher: Matcher) -> int:
    """Make one candidate pair strong (p = 0.97) between a record of a cluster of 3+ and a record outside it
    whose pairs with that cluster are weak: average linkage keeps them apart. Returns the pair's position."""
    clusters, _ = matcher.cluster_labels(matcher.default_decision, False)
    sizes = np.bincount(clusters)
    left, right, prob = matcher.candidates_.left, matcher.candidates_.right, matcher.prob_
    for i in np.flatnonzero((prob < 0.05) & (clusters[left] != clusters[right])):
        big, other = (left[i], right[i]) if sizes[clusters[left[i]]] >= 3 else (right[i], left[i])
        if sizes[clusters[big]] >= 3 and sizes[clusters[other]] == 1:
            matcher.prob_ = prob.copy()
            matcher.prob_[i] = 0.97
            moved, _ = matcher.cluster_labels(matcher.default_decision, False)
            if moved[big] != moved[other]:
                return int(i)
    raise AssertionError("no weak pair between a cluster of 3+ and a singleton in the fixture")


def test_a_strong_pair_the_clustering_leaves_apart_is_asked_first(people_matcher: Matcher) -> None:
    """Uncertainty sampling never asks about a pair at p = 0.97 (uncertainty 0.06); but the output is 97% likely
    wrong about it when the clustering keeps its records apart (Febrl3: a corrupted duplicate at 0.996 from its
    original stayed a singleton for two labeling rounds)."""
    matcher = copy.copy(people_matcher)
    i = _left_apart_strong_pair(matcher)
    assert uncertainty(matcher.prob_[i : i + 1])[0] < 0.1
    first = choose_sets(matcher, num_sets=1, set_size=10)[0]
    assert {int(matcher.candidates_.left[i]), int(matcher.candidates_.right[i])} <= set(first.rows.tolist())


def test_random_seeds_favour_uncertain_pairs() -> None:
    """The diversity half of the seeds is drawn in proportion to uncertainty, not uniformly over the pool."""
    from matcher.active import _weighted_permutation

    weight = np.r_[np.full(10, 0.9), np.full(990, 0.001)]
    rng = np.random.default_rng(0)
    first_ten = [set(_weighted_permutation(weight, rng)[:10].tolist()) for _ in range(50)]
    overlap = np.mean([len(s & set(range(10))) for s in first_ten])
    assert overlap >= 5  # uniform draws: 0.1 of the ten on average
    assert sorted(_weighted_permutation(weight, rng).tolist()) == list(range(1000))  # a permutation


def test_each_set_carries_the_models_suggested_groups(people_matcher: Matcher) -> None:
    """Every record of a set in exactly one suggested group; records in one group are joined by pairs at or above
    the model's threshold, records of different groups never (the labeling screen puts a group's rows together)."""
    matcher = copy.copy(people_matcher)
    keys = matcher.records_["id"].to_numpy(dtype=object)
    prob = {(int(a), int(b)): float(p) for a, b, p in
            zip(matcher.candidates_.left, matcher.candidates_.right, matcher.prob_, strict=True)}
    position = {str(k): i for i, k in enumerate(keys)}
    sets = choose_sets(matcher, num_sets=6, set_size=10)
    assert any(len(g) >= 2 for s in sets for g in s.reason["suggested_groups"])  # the fixture has duplicates
    for s in sets:
        groups = [[position[k] for k in g] for g in s.reason["suggested_groups"]]
        assert sorted(m for g in groups for m in g) == sorted(s.rows.tolist())
        first = {m: min(s.rows.tolist().index(x) for x in g) for g in groups for m in g}
        assert [min(s.rows.tolist().index(x) for x in g) for g in groups] == sorted(set(first.values()))
        group_of = {m: i for i, g in enumerate(groups) for m in g}
        for (a, b), p in prob.items():
            if a in group_of and b in group_of and p >= matcher.threshold:
                assert group_of[a] == group_of[b], (keys[a], keys[b], p)
        for g in (g for g in groups if len(g) > 1):  # a group is connected by strong pairs
            reached, todo = {g[0]}, [g[0]]
            while todo:
                x = todo.pop()
                for y in g:
                    if y not in reached and prob.get((min(x, y), max(x, y)), 0.0) >= matcher.threshold:
                        reached.add(y)
                        todo.append(y)
            assert reached == set(g)
