"""Importing a model into a transform through the REST API (services.model_import): a model saved by
``matcher match --save-model`` on one file, imported into a transform on another file of the same columns, makes
FIND_MATCHES (the engine called in-process on the run the API started, as a worker would) give what ``matcher
match FILE --model MODEL`` gives; a damaged, foreign or oversized file is refused with nothing kept; a label given
after the import brings back the transform's own fit; admins alone import and delete."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from api_support import Api, is_problem, sqlite_api
from cli_support import run_quietly
from conftest import FIXTURES, load_fixture, make_labels
from sqlalchemy import func, select

from matcher.model_file import CHECKSUMS, MANIFEST
from matcher.pipeline import Matcher
from matcher.settings import Settings
from services import engine
from storage.artifacts import ArtifactStore
from storage.models import ImportedModel

FIRST = 150  # the model is fitted on every record; the transforms match the records from this row on
TRADEOFF = 0.7  # the transforms' precision_recall_tradeoff, given to the CLI as --precision-recall


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A labeled fit of the people fixture saved as a model (a classifier), and a new file of the same columns."""
    directory = tmp_path_factory.mktemp("saved")
    records, truth, _ = load_fixture("people")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = Matcher(Settings(primary_key="id")).fit(records)
    labels = make_labels(records, truth, fitted.candidates_.left, fitted.candidates_.right, n_sets=20, seed=0)
    labels.to_csv(directory / "labels.csv", index=False)
    model = directory / "model.zip"
    code, _, err = run_quietly("match", FIXTURES / "people" / "records.csv", "--primary-key", "id", "--labels",
                               directory / "labels.csv", "--save-model", model, "--quiet",
                               "--output", directory / "fit.csv")
    assert code == 0, err
    new = directory / "new.csv"
    pd.read_csv(FIXTURES / "people" / "records.csv", dtype=str, keep_default_na=False).iloc[FIRST:].to_csv(
        new, index=False)
    return {"model": model, "new": new, "dir": directory}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    api = sqlite_api(tmp_path_factory.mktemp("import"))
    yield api
    api.db.engine.dispose()


def transform_on(api: Api, data: bytes, primary_key: str = "id") -> str:
    dataset = api.upload(data, "people.csv").get_json()
    body = {"name": "imported", "dataset_id": dataset["id"], "primary_key": primary_key,
            "precision_recall_tradeoff": TRADEOFF}
    response = api.call("POST", "/transforms", json=body)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def send_model(api: Api, transform_id: str, data: bytes, token: str | None = None, name: str = "model.zip") -> Any:
    return api.call("POST", f"/transforms/{transform_id}/models", token,
                    data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def find_matches(api: Api, transform_id: str) -> tuple[str, dict[str, Any]]:
    run = api.call("POST", f"/transforms/{transform_id}/task-runs", json={"type": "FIND_MATCHES"}).get_json()
    assert engine.execute(api.db, ArtifactStore(api.config.data_dir), run["id"]) == "SUCCEEDED", \
        api.call("GET", f"/task-runs/{run['id']}").get_json()
    stats = json.loads((api.config.data_dir / "outputs" / run["id"] / "stats.json").read_text())
    return run["id"], stats


def nothing_kept(api: Api) -> bool:
    with api.db.session() as session:
        rows = session.scalar(select(func.count()).select_from(ImportedModel))
    folder = api.config.data_dir / "models"
    kept = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    uploads = [p for p in (api.config.data_dir / "uploads").iterdir() if p.name.startswith("model-")]
    return rows == 0 and kept == [] and uploads == []


@pytest.fixture(scope="module")
def imported(api: Api, saved: dict[str, Any]) -> dict[str, Any]:
    tid = transform_on(api, saved["new"].read_bytes())
    response = send_model(api, tid, saved["model"].read_bytes(), name="people-model.zip")
    assert response.status_code == 201, response.get_json()
    return {"transform": tid, "model": response.get_json(), "location": response.headers["Location"]}


def test_an_imported_model_is_listed_in_effect_and_downloads_byte_identical(api: Api, saved: dict[str, Any],
                                                                           imported: dict[str, Any]) -> None:
    tid, model = imported["transform"], imported["model"]
    assert model["imported"] is True and model["in_effect"] is True and model["filename"] == "people-model.zip"
    assert model["imported_by"] == "alice" and model["labels"] > 0 and model["metrics"] == {"records": 600}
    assert imported["location"].endswith(f"/transforms/{tid}/models/{model['version']}")
    (listed,) = api.call("GET", f"/transforms/{tid}/models", api.labeler).get_json()["models"]
    assert listed == model
    download = api.call("GET", f"/transforms/{tid}/models/{model['version']}", api.labeler)
    assert download.status_code == 200 and download.get_data() == saved["model"].read_bytes()


def test_find_matches_applies_the_import_as_the_cli_does(api: Api, saved: dict[str, Any],
                                                        imported: dict[str, Any]) -> None:
    tid, version = imported["transform"], imported["model"]["version"]
    run_id, stats = find_matches(api, tid)
    assert stats["imported_model"] == version and stats["model"] == "classifier"
    assert not (api.config.data_dir / "artifacts" / tid).exists()  # nothing fitted, so nothing cached
    out = saved["dir"] / "cli.csv"
    code, _, err = run_quietly("match", saved["new"], "--primary-key", "id", "--model", saved["model"],
                               "--precision-recall", str(TRADEOFF), "--quiet", "--output", out)
    assert code == 0, err
    applied = pd.read_csv(out, dtype={"id": str, "match_id": str}, keep_default_na=False)
    served = pd.read_parquet(api.config.data_dir / "outputs" / run_id / "matches.parquet")
    assert applied["id"].tolist() == served["id"].tolist()
    assert np.array_equal(applied["match_confidence_score"].to_numpy(), served["match_confidence_score"].to_numpy())
    # the same clusters: the served ids are the transform's entity store's, the CLI's the smallest keys
    assert (pd.factorize(applied["match_id"])[0] == pd.factorize(served["match_id"])[0]).all()
    assert applied["match_id"].nunique() < len(applied)
    # the run's model is the imported file itself, listed as that run's version beside the import
    assert (api.config.data_dir / "outputs" / run_id / "model.zip").read_bytes() == saved["model"].read_bytes()
    versions = api.call("GET", f"/transforms/{tid}/models").get_json()["models"]
    assert [(m["version"], m["imported"]) for m in versions] == [(run_id, False), (version, True)]
    assert versions[0]["metrics"]["imported_model"] == version


def test_incremental_matches_follow_a_run_that_applied_an_import(api: Api, imported: dict[str, Any]) -> None:
    """The entity store written by that run keeps the model it applied, and matches batches with it."""
    tid = imported["transform"]
    find_matches(api, tid)
    batch = pd.read_csv(FIXTURES / "people" / "records.csv", dtype=str, keep_default_na=False).head(40)
    dataset = api.upload(batch.to_csv(index=False).encode(), "batch.csv").get_json()
    run = api.call("POST", f"/transforms/{tid}/task-runs",
                   json={"type": "FIND_INCREMENTAL_MATCHES", "params": {"dataset_id": dataset["id"]}}).get_json()
    assert engine.execute(api.db, ArtifactStore(api.config.data_dir), run["id"]) == "SUCCEEDED", \
        api.call("GET", f"/task-runs/{run['id']}").get_json()
    matched = pd.read_parquet(api.config.data_dir / "outputs" / run["id"] / "matches.parquet")
    assert matched["id"].tolist() == batch["id"].tolist() and matched["match_id"].notna().all()


def test_a_label_after_the_import_brings_back_the_transforms_own_fit(api: Api, saved: dict[str, Any],
                                                                    imported: dict[str, Any]) -> None:
    tid = transform_on(api, saved["new"].read_bytes())
    copied = api.call("POST", f"/transforms/{tid}/models",
                      json={"transform_id": imported["transform"], "version": imported["model"]["version"]})
    assert copied.status_code == 201, copied.get_json()
    version = copied.get_json()["version"]
    assert copied.get_json()["in_effect"] and copied.get_json()["filename"].startswith("transform ")
    assert api.call("GET", f"/transforms/{tid}/models/{version}").get_data() == saved["model"].read_bytes()
    keys = pd.read_csv(saved["new"], dtype=str)["id"].head(2).tolist()
    labeled = api.call("POST", f"/transforms/{tid}/labeling-sets", api.labeler,
                       json={"records": keys, "labels": ["a", "b"]})
    assert labeled.status_code == 201, labeled.get_json()
    (listed,) = api.call("GET", f"/transforms/{tid}/models").get_json()["models"]
    assert listed["version"] == version and listed["imported"] and listed["in_effect"] is False
    run_id, stats = find_matches(api, tid)
    assert "imported_model" not in stats and (api.config.data_dir / "artifacts" / tid).is_dir()  # fitted
    is_problem(api.call("DELETE", f"/transforms/{tid}/models/{run_id}"), 409)  # a run's version stays
    is_problem(api.call("DELETE", f"/transforms/{tid}/models/{version}", api.labeler), 403)
    assert api.call("DELETE", f"/transforms/{tid}/models/{version}").status_code == 204
    assert [m["version"] for m in api.call("GET", f"/transforms/{tid}/models").get_json()["models"]] == [run_id]
    assert not ArtifactStore(api.config.data_dir).imported_model_path(tid, version).exists()
    is_problem(api.call("DELETE", f"/transforms/{tid}/models/{version}"), 404)


def members_of(model: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(model) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return buffer.getvalue()


def flipped(model: Path) -> bytes:
    """The model with one byte of an array member changed, the zip itself intact."""
    members = members_of(model)
    name = next(n for n in members if n.startswith("arrays/"))
    data = bytearray(members[name])
    data[-1] ^= 0x01
    return zipped({**members, name: bytes(data)})


def test_refused_models_leave_nothing_behind(tmp_path: Path, saved: dict[str, Any]) -> None:
    api = sqlite_api(tmp_path, max_model_mb=1)
    try:
        tid = transform_on(api, saved["new"].read_bytes())
        body = is_problem(send_model(api, tid, flipped(saved["model"]), name="edited.zip"), 422, "file")
        assert "edited.zip fails its SHA-256 checksum for arrays/" in body["detail"]
        body = is_problem(send_model(api, tid, b"id,name\n1,x\n", name="table.csv"), 422, "file")
        assert "table.csv is not a model file" in body["detail"]
        body = is_problem(send_model(api, tid, bytes(1024 * 1024 + 1), name="huge.zip"), 413, "file")
        assert "larger than the model limit of 1 MB" in body["detail"]
        with zipfile.ZipFile(saved["model"]) as archive:
            manifest = json.loads(archive.read(MANIFEST))
        future = _with_manifest(saved["model"], {**manifest, "schema_version": 2})
        body = is_problem(send_model(api, tid, future), 422, "file")
        assert "schema version 2" in body["detail"]
        is_problem(send_model(api, tid, saved["model"].read_bytes(), api.labeler), 403)
        is_problem(send_model(api, "nope", saved["model"].read_bytes()), 404)
        is_problem(api.call("POST", f"/transforms/{tid}/models", json={"transform_id": tid, "version": "nope"}),
                   422, "version")
        is_problem(api.call("POST", f"/transforms/{tid}/models", json={"transform_id": "nope", "version": "nope"}),
                   422, "transform_id")
        assert nothing_kept(api)
        assert api.call("GET", f"/transforms/{tid}/models").get_json() == {"models": []}
    finally:
        api.db.engine.dispose()


def _with_manifest(model: Path, manifest: dict[str, Any]) -> bytes:
    return zipped({**members_of(model), MANIFEST: json.dumps(manifest).encode()})


def test_a_model_must_fit_the_transforms_dataset(tmp_path: Path, saved: dict[str, Any]) -> None:
    api = sqlite_api(tmp_path)
    try:
        frame = pd.read_csv(saved["new"], dtype=str, keep_default_na=False)
        lacking = transform_on(api, frame.drop(columns=["email"]).to_csv(index=False).encode())
        body = is_problem(send_model(api, lacking, saved["model"].read_bytes()), 422, "file")
        assert "the model needs column(s) 'email' which the data lacks" in body["detail"]
        renamed = transform_on(api, frame.rename(columns={"id": "key"}).to_csv(index=False).encode(), "key")
        body = is_problem(send_model(api, renamed, saved["model"].read_bytes()), 422, "file")
        assert "fitted with primary key 'id', this transform has 'key'" in body["detail"]
        assert nothing_kept(api)
    finally:
        api.db.engine.dispose()


def _resealed(model: Path, settings: dict[str, Any]) -> bytes:
    """The model with other settings and checksums made again: a well-formed file a user could have written."""
    members = {name: data for name, data in members_of(model).items() if name != CHECKSUMS}
    members[MANIFEST] = json.dumps({**json.loads(members[MANIFEST]), "settings": settings}).encode()
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(members.items()))
    return zipped({**members, CHECKSUMS: sums.encode()})


@pytest.mark.skipif(importlib.util.find_spec("recordlinkage") is not None,
                    reason="the refusal is for a service without recordlinkage")
def test_a_model_with_recordlinkage_features_is_refused_where_recordlinkage_is_missing(
        tmp_path: Path, saved: dict[str, Any]) -> None:
    api = sqlite_api(tmp_path)
    try:
        with zipfile.ZipFile(saved["model"]) as archive:
            settings = json.loads(archive.read(MANIFEST))["settings"]
        extra = {"name": "surname_rl", "feature": "recordlinkage.compare.String", "kwargs": {"left_on": "surname"}}
        tid = transform_on(api, saved["new"].read_bytes())
        body = is_problem(send_model(api, tid, _resealed(saved["model"], {**settings, "extra_comparators": [extra]}),
                                     name="rl.zip"), 422, "file")
        assert "rl.zip cannot be applied by this service" in body["detail"]
        assert "pip install recordlinkage" in body["detail"]
        assert nothing_kept(api)
    finally:
        api.db.engine.dispose()


def test_erasing_records_deletes_the_transforms_imported_models(api: Api, saved: dict[str, Any]) -> None:
    """A model fitted on data holding the records keeps their values' term frequencies: it cannot stay."""
    tid = transform_on(api, saved["new"].read_bytes())
    version = send_model(api, tid, saved["model"].read_bytes()).get_json()["version"]
    key = pd.read_csv(saved["new"], dtype=str)["id"].iloc[0]
    erased = api.call("DELETE", f"/transforms/{tid}/records", json={"keys": [key]})
    assert erased.status_code == 200, erased.get_json()
    assert f"models/{tid}/{version}.zip" in erased.get_json()["files_deleted"]
    assert api.call("GET", f"/transforms/{tid}/models").get_json() == {"models": []}
    assert not ArtifactStore(api.config.data_dir).imported_model_path(tid, version).exists()
