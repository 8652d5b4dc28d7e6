"""A transform's model versions through the REST API: a real FIND_MATCHES run (the engine called in-process on the
run the API started, as a worker would) saves the model it matched with; GET /transforms/ID/models lists it and
GET /transforms/ID/models/VERSION downloads a file that ``matcher match --model`` applies to the dataset, giving
the run's own clusters."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from api_support import Api, is_problem, people_frame, set_status, sqlite_api
from cli_support import run_quietly

from services import engine
from storage.artifacts import ArtifactStore

ROWS = 600


@pytest.fixture(scope="module")
def matched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, str, str]]:
    api = sqlite_api(tmp_path_factory.mktemp("models"))
    tid = api.transform(rows=ROWS)["id"]
    run = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"}).get_json()
    assert engine.execute(api.db, ArtifactStore(api.config.data_dir), run["id"]) == "SUCCEEDED"
    yield api, tid, run["id"]
    api.db.engine.dispose()


def test_a_find_matches_run_is_a_model_version(matched: tuple[Api, str, str]) -> None:
    api, tid, run_id = matched
    response = api.call("GET", f"/transforms/{tid}/models", api.labeler)
    assert response.status_code == 200
    (model,) = response.get_json()["models"]
    assert model["version"] == run_id and model["schema_version"] == 1 and model["labels"] == 0
    assert model["metrics"]["records"] == ROWS and model["metrics"]["model"] == "fellegi_sunter"
    assert model["created_at"].startswith("20")


def test_a_downloaded_model_gives_the_runs_clusters(matched: tuple[Api, str, str], tmp_path: Path) -> None:
    api, tid, run_id = matched
    response = api.call("GET", f"/transforms/{tid}/models/{run_id}", api.labeler)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    model = tmp_path / "model.zip"
    model.write_bytes(response.get_data())
    assert "model.json" in zipfile.ZipFile(io.BytesIO(model.read_bytes())).namelist()
    data = tmp_path / "people.csv"
    people_frame(ROWS).to_csv(data, index=False)
    code, _, err = run_quietly("match", data, "--primary-key", "id", "--model", model, "--quiet",
                               "--output", tmp_path / "out.csv")
    assert code == 0, err
    applied = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    served = pd.read_parquet(api.config.data_dir / "outputs" / run_id / "matches.parquet")
    assert applied["id"].tolist() == served["id"].astype(str).tolist()
    # the same clusters; the served ids are the transform's entity store's (services.entity_stores), the CLI's
    # without a store the smallest keys
    assert (pd.factorize(applied["match_id"])[0] == pd.factorize(served["match_id"])[0]).all()
    assert applied["match_id"].nunique() < ROWS


def test_unknown_transforms_versions_and_runs_without_a_model_are_not_found(matched: tuple[Api, str, str]) -> None:
    api, tid, run_id = matched
    is_problem(api.call("GET", "/transforms/nope/models"), 404)
    is_problem(api.call("GET", f"/transforms/{tid}/models/nope"), 404)
    other = api.transform(rows=30)["id"]
    is_problem(api.call("GET", f"/transforms/{other}/models/{run_id}"), 404)  # another transform's run
    assert api.call("GET", f"/transforms/{other}/models").get_json() == {"models": []}
    export = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "EXPORT_LABELS"}).get_json()
    set_status(api, export["id"], "SUCCEEDED")
    is_problem(api.call("GET", f"/transforms/{tid}/models/{export['id']}"), 404)
