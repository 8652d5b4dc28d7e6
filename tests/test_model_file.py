"""``matcher match --save-model`` / ``--model``: a saved model reloaded gives the fitting run's outputs byte for
byte, applies to a new file of the same columns, and a damaged, edited, foreign or incompatible one is refused."""

from __future__ import annotations

import hashlib
import io
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_support import assert_one_line_error, run, run_quietly
from conftest import FIXTURES, load_fixture, make_labels, score_output

from matcher.model_file import CHECKSUMS, MANIFEST
from matcher.pipeline import Matcher
from matcher.settings import Settings

OUTPUTS = ("out.csv", "pairs.csv", "stats.json")
ROOT_DIR = Path(__file__).resolve().parents[1]


def _labels_file(directory: Path, records: pd.DataFrame, truth: pd.DataFrame, source: str | None) -> Path:
    fitted = Matcher(Settings(primary_key="id", source_column=source)).fit(records)
    frame = make_labels(records, truth, fitted.candidates_.left, fitted.candidates_.right, n_sets=20, seed=0)
    path = directory / "labels.csv"
    frame.to_csv(path, index=False)
    return path


def _match(directory: Path, data: Path, *flags: str | Path) -> dict[str, bytes]:
    """One quiet ``matcher match`` run writing every output into ``directory``; returns their bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    code, _, err = run_quietly("match", data, "--primary-key", "id", "--quiet", "--output", directory / "out.csv",
                               "--pairs-output", directory / "pairs.csv", "--stats-output", directory / "stats.json",
                               *flags)
    assert code == 0, err
    return {name: (directory / name).read_bytes() for name in OUTPUTS}


@pytest.fixture(scope="module", params=["people", "linkage"])
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A labeled fit saved as a model (dedup: the classifier; linkage: its one-to-one second stage too)."""
    name = request.param
    directory = tmp_path_factory.mktemp(name)
    records, truth, source = load_fixture(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = _labels_file(directory, records, truth, source)
    data = FIXTURES / name / "records.csv"
    linkage = ["--source-column", source] if source else []
    model = directory / "model.zip"
    outputs = _match(directory / "fit", data, *linkage, "--labels", labels, "--save-model", model)
    return {"data": data, "flags": linkage, "labels": labels, "model": model, "outputs": outputs,
            "dir": directory}


@pytest.mark.parametrize("knobs", [[], ["--precision-recall", "0.2"], ["--precision-recall", "0.9"],
                                   ["--enforce-labels"]], ids=["default", "recall", "precision", "enforce"])
def test_a_reloaded_model_gives_the_fitting_runs_outputs_byte_for_byte(saved: dict, knobs: list[str]) -> None:
    fitting = saved["outputs"] if not knobs else \
        _match(saved["dir"] / f"fit{'-'.join(knobs)}", saved["data"], *saved["flags"], "--labels", saved["labels"],
               *knobs)
    reloaded = _match(saved["dir"] / f"load{'-'.join(knobs)}", saved["data"], *saved["flags"],
                      "--model", saved["model"], *knobs)
    assert reloaded == fitting
    stats = json.loads(reloaded["stats.json"])
    assert stats["model"] == "classifier"


def test_the_model_file_holds_json_and_arrays_only(saved: dict) -> None:
    with zipfile.ZipFile(saved["model"]) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read(MANIFEST))
        arrays = {n: np.load(io.BytesIO(archive.read(n)), allow_pickle=False) for n in names if n.endswith(".npy")}
        sums = archive.read(CHECKSUMS).decode()
    assert set(names) == {MANIFEST, CHECKSUMS, *arrays}
    assert manifest["schema_version"] == 1 and manifest["format"] == "matcher-model"
    assert manifest["classifier"]["folds"] and any("classifier.0.nodes.threshold" in n for n in names)
    assert (manifest["competition"] is not None) == bool(saved["flags"])  # linkage fixture: one-to-one stage
    assert len(sums.splitlines()) == len(names) - 1


def _rewritten(source: Path, target: Path, change: dict[str, bytes], fix_sums: bool) -> Path:
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members.update(change)
    if fix_sums:
        members[CHECKSUMS] = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                                     for name, data in sorted(members.items()) if name != CHECKSUMS).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def _manifest_with(model: Path, **fields: object) -> bytes:
    with zipfile.ZipFile(model) as archive:
        manifest = json.loads(archive.read(MANIFEST))
    manifest.update(fields)
    return json.dumps(manifest).encode()


def test_a_tampered_model_is_refused(saved: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stricter = _rewritten(saved["model"], tmp_path / "threshold.zip",
                          {MANIFEST: _manifest_with(saved["model"], balanced_threshold=0.99)}, fix_sums=False)
    with zipfile.ZipFile(saved["model"]) as archive:
        weights = bytearray(archive.read("arrays/fs.m.0.npy"))
    weights[-1] ^= 0xFF
    edited = _rewritten(saved["model"], tmp_path / "weights.zip", {"arrays/fs.m.0.npy": bytes(weights)}, False)
    for model, member in ((stricter, MANIFEST), (edited, "arrays/fs.m.0.npy")):
        result = run(capsys, "match", saved["data"], "--primary-key", "id", *saved["flags"], "--model", model,
                     "--output", tmp_path / "out.csv")
        assert_one_line_error(*result, "fails its SHA-256 checksum")
        assert member in result[2]
    assert not (tmp_path / "out.csv").exists()


def test_a_model_of_another_schema_version_is_refused(saved: dict, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    future = _rewritten(saved["model"], tmp_path / "v2.zip", {MANIFEST: _manifest_with(saved["model"],
                                                                                        schema_version=2)}, True)
    result = run(capsys, "match", saved["data"], "--primary-key", "id", *saved["flags"], "--model", future,
                 "--output", tmp_path / "out.csv")
    assert_one_line_error(*result, "has schema version 2, which this matcher")


def test_a_model_whose_comparison_levels_changed_since_is_refused_in_words(saved: dict, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A model saved before a comparison gained a level (e.g. swapped names) is refused with what to do."""
    with zipfile.ZipFile(saved["model"]) as archive:
        values = json.loads(archive.read(MANIFEST))["fellegi_sunter"]
    column = values["columns"][0]
    older = {**values, "n_levels": [values["n_levels"][0] - 1, *values["n_levels"][1:]]}
    model = _rewritten(saved["model"], tmp_path / "older.zip",
                       {MANIFEST: _manifest_with(saved["model"], fellegi_sunter=older, matcher_version="0.0.9")}, True)
    result = run(capsys, "match", saved["data"], "--primary-key", "id", *saved["flags"], "--model", model,
                 "--quiet", "--output", tmp_path / "out.csv")
    assert_one_line_error(*result, f"the model compares {column!r} on other levels than this matcher")
    assert "saved by matcher 0.0.9" in result[2] and "fit the model again" in result[2]
    assert not (tmp_path / "out.csv").exists()


def test_an_unlisted_member_or_a_file_that_is_no_model_is_refused(saved: dict, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    extra = _rewritten(saved["model"], tmp_path / "extra.zip", {"arrays/more.npy": b"x"}, fix_sums=False)
    result = run(capsys, "match", saved["data"], "--primary-key", "id", *saved["flags"], "--model", extra,
                 "--output", tmp_path / "out.csv")
    assert_one_line_error(*result, "unlisted: ['arrays/more.npy']")
    result = run(capsys, "match", saved["data"], "--primary-key", "id", *saved["flags"], "--model", saved["data"],
                 "--output", tmp_path / "out.csv")
    assert_one_line_error(*result, "cannot be read as a model file")


def test_data_missing_a_column_of_the_model_is_refused(saved: dict, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    records = pd.read_csv(saved["data"], dtype=str, keep_default_na=False)
    column = records.columns[-1]
    records.drop(columns=[column]).to_csv(tmp_path / "fewer.csv", index=False)
    result = run(capsys, "match", tmp_path / "fewer.csv", "--primary-key", "id", *saved["flags"],
                 "--model", saved["model"], "--output", tmp_path / "out.csv")
    assert_one_line_error(*result, f"the model needs column(s) '{column}' which the data lacks")


@pytest.mark.parametrize("flag", [["--labels", "labels.csv"], ["--accuracy-cost", "0.9"],
                                  ["--primary-key", "other"]])
def test_what_a_model_fixes_cannot_be_given_again(saved: dict, tmp_path: Path, flag: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    args = ["match", saved["data"], "--primary-key", "id", *saved["flags"], "--model", saved["model"],
            "--output", tmp_path / "out.csv", *flag]
    result = run(capsys, *args)
    assert_one_line_error(*result, "--primary-key 'id', not 'other'" if flag[0] == "--primary-key" else
                          f"{flag[0]} cannot be used with --model")


def test_a_model_applies_to_a_new_file_with_the_same_columns(tmp_path: Path) -> None:
    """examples/people split by entity: a model fitted (with labels) on one half matches the other half about
    as well as an unlabeled fit on that half itself (measured: F1 0.990 applied, 0.996 fitted on it)."""
    records = pd.read_csv(ROOT_DIR / "examples" / "people" / "records.csv", dtype=str, keep_default_na=False)
    truth = pd.read_csv(ROOT_DIR / "examples" / "people" / "truth.csv", dtype=str, keep_default_na=False)
    entities = sorted(truth["entity_id"].unique())
    half = truth["entity_id"].map({e: i % 2 for i, e in enumerate(entities)})
    paths = []
    for side in (0, 1):
        path = tmp_path / f"half{side}.csv"
        records[records["id"].isin(truth.loc[half == side, "id"])].to_csv(path, index=False)
        paths.append(path)
    first = pd.read_csv(paths[0], dtype=str, keep_default_na=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = _labels_file(tmp_path, first, truth, None)
    model = tmp_path / "model.zip"
    _match(tmp_path / "fit0", paths[0], "--labels", labels, "--save-model", model)
    applied = _match(tmp_path / "apply1", paths[1], "--model", model)
    fitted = _match(tmp_path / "fit1", paths[1])
    f1 = {name: score_output(pd.read_csv(io.BytesIO(out["out.csv"]), dtype=str, keep_default_na=False),
                             truth[half == 1])["f1"] for name, out in (("applied", applied), ("fitted", fitted))}
    assert f1["applied"] >= 0.98
    assert f1["applied"] >= f1["fitted"] - 0.05
    stats = json.loads(applied["stats.json"])
    assert stats["records"] == 1000 and stats["model"] == "classifier" and stats["candidate_pairs"] > 1000


def test_a_model_saved_before_names_were_compared_crosswise_is_applied_as_it_was_fitted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A model file of matcher aa1b717 (no swapped level): today's matcher gives the clusters and scores that
    matcher gave (it used to refuse such a file)."""
    folder = Path(__file__).parent / "fixtures" / "models"
    result = run(capsys, "match", Path(__file__).parent / "fixtures" / "people" / "records.csv", "--primary-key",
                 "id", "--model", folder / "people_aa1b717.zip", "--quiet", "--output", tmp_path / "out.csv")
    assert result[0] == 0, result
    got = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    expected = pd.read_csv(folder / "people_aa1b717.matches.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(got[list(expected.columns)], expected)
