"""The whole loop through a real ``matcher serve`` (API + Celery worker on the embedded broker) on Febrl3:
upload, transform, three labeling rounds answered from the truth and imported as CSV, evaluation, find
matches, download; F1 of the downloaded matches must be at least 0.98."""

from __future__ import annotations

import io
import os
import sys
import time

import pandas as pd
import pytest
import requests
from serve_support import running_serve
from test_serve import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from score import pairwise_scores  # noqa: E402

FEBRL3 = ROOT.parent / "shared" / "datasets" / "febrl3" / "bench"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    if not FEBRL3.exists():
        message = f"benchmark data missing: {FEBRL3}"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    with running_serve(tmp_path_factory.mktemp("serve") / "data", "--no-demo") as (base, token):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        yield base + "/api/v1", session


def wait_for(api: str, session: requests.Session, run: dict, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = session.get(f"{api}/task-runs/{run['id']}").json()
        if run["status"] in ("SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT"):
            assert run["status"] == "SUCCEEDED", run
            return run
        time.sleep(0.5)
    pytest.fail(f"task run {run['type']} did not finish: {run}")


def start(api: str, session: requests.Session, transform_id: str, kind: str, **params: object) -> dict:
    response = session.post(f"{api}/transforms/{transform_id}/task-runs", json={"type": kind, "params": params})
    assert response.status_code == 202, response.text
    return wait_for(api, session, response.json())


def test_whole_loop_on_febrl3(service) -> None:
    api, session = service
    truth = pd.read_csv(FEBRL3 / "truth.csv", dtype=str).set_index("id")["entity_id"]
    with open(FEBRL3 / "records.csv", "rb") as handle:
        dataset = session.post(f"{api}/datasets", files={"file": ("febrl3.csv", handle)}, data={"name": "febrl3"})
    assert dataset.status_code == 201, dataset.text
    assert dataset.json()["row_count"] == 5000
    transform = session.post(f"{api}/transforms", json={"name": "febrl3", "dataset_id": dataset.json()["id"],
                                                        "primary_key": "id"})
    assert transform.status_code == 201, transform.text
    tid = transform.json()["id"]
    for round_number in range(3):
        run = start(api, session, tid, "LABELING_SET_GENERATION", num_sets=10, set_size=10, seed=round_number)
        sets = pd.read_csv(io.BytesIO(session.get(f"{api}/task-runs/{run['id']}/output").content), dtype=str)
        sets["label"] = truth.reindex(sets["id"]).to_numpy()  # the simulated labeler: label = true entity
        upload = session.post(f"{api}/transforms/{tid}/labels", data={"replace": "false"},
                              files={"file": ("labels.csv", sets.to_csv(index=False).encode())})
        assert upload.status_code == 202, upload.text
        wait_for(api, session, upload.json())
    details = session.get(f"{api}/transforms/{tid}").json()
    assert details["status"] == "READY" and 200 <= details["label_count"] <= 300
    start(api, session, tid, "EVALUATION")
    metrics = session.get(f"{api}/transforms/{tid}").json()["evaluation_metrics"]
    assert metrics["f1"] >= 0.95 and metrics["blocking_recall"] >= 0.95
    run = start(api, session, tid, "FIND_MATCHES")
    matches = pd.read_csv(io.BytesIO(session.get(f"{api}/task-runs/{run['id']}/output").content), dtype=str)
    assert len(matches) == 5000 and matches["id"].is_unique
    score = pairwise_scores(matches[["id", "match_id"]], truth.reset_index(), None)
    assert score["f1"] >= 0.98, score
    parquet = session.get(f"{api}/task-runs/{run['id']}/output", params={"format": "parquet"})
    assert parquet.status_code == 200
    assert len(pd.read_parquet(io.BytesIO(parquet.content))) == 5000
