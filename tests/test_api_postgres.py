"""The API's core flow on PostgreSQL (one fresh database per module, dropped afterwards).

Set MATCHER_TEST_POSTGRES_URL to an admin URL to use another server; the tests skip, saying why, only when
the server cannot be reached.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api, add_labeling_set, is_problem, make_api, people_frame, run_core_flow, set_status
from db_support import temporary_postgres_database
from sqlalchemy import create_engine, func, select, text

from matcher.model_file import model_bytes
from matcher.pipeline import Matcher
from matcher.settings import Settings
from services.config import Config
from storage.models import Base, Label, LabelingSet, TaskRun


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with temporary_postgres_database("matcher_test_api") as url:
        yield url


@pytest.fixture
def api(postgres_url: str, tmp_path: Path) -> Iterator[Api]:
    api = make_api(Config.from_env(tmp_path, database_url=postgres_url))
    yield api
    api.db.engine.dispose()
    api.app.extensions["matcher"].db.engine.dispose()
    engine = create_engine(postgres_url)
    with engine.begin() as connection:  # next test starts empty (same schema)
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    engine.dispose()


def test_core_flow_on_postgres(api: Api) -> None:
    assert api.db.engine.dialect.name == "postgresql"
    run_core_flow(api)


def test_user_errors_write_nothing_on_postgres(api: Api) -> None:
    frame = people_frame(8)
    frame.loc[3, "id"] = frame.loc[0, "id"]
    dataset_id = api.upload(frame.to_csv(index=False).encode()).get_json()["id"]
    body = is_problem(api.call("POST", "/transforms", json={"name": "t", "dataset_id": dataset_id,
                                                            "primary_key": "id"}), 422, "primary_key")
    assert "'r0000000' (line 2, line 5)" in body["detail"]  # lines of the uploaded CSV, header = line 1
    tid = api.transform()["id"]
    keys = people_frame()["id"].tolist()
    add_labeling_set(api.db, tid, "s", keys[:2])
    is_problem(api.call("PUT", f"/transforms/{tid}/labeling-sets/s", json={"labels": [
        {"record_key": keys[0], "label": "A"}, {"record_key": "ghost", "label": "A"}]}), 422, "labels[1].record_key")
    assert api.call("GET", f"/transforms/{tid}").get_json()["label_count"] == 0
    assert api.call("DELETE", f"/datasets/{dataset_id}").status_code == 204


def test_deleting_a_transform_cascades_on_postgres(api: Api) -> None:
    transform = api.transform()
    tid = transform["id"]
    keys = people_frame()["id"].tolist()
    add_labeling_set(api.db, tid, "s", keys[:2])
    api.call("PUT", f"/transforms/{tid}/labeling-sets/s", json={"labels": [{"record_key": keys[0], "label": "A"}]})
    run = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "EXPORT_LABELS"}).get_json()
    is_problem(api.call("DELETE", f"/transforms/{tid}"), 409)  # the run is still active
    set_status(api, run["id"], "SUCCEEDED")
    assert api.call("DELETE", f"/transforms/{tid}").status_code == 204
    with api.db.session() as session:
        left = [session.scalar(select(func.count()).select_from(model)) for model in (Label, LabelingSet, TaskRun)]
    assert left == [0, 0, 0]
    assert api.call("DELETE", f"/datasets/{transform['dataset_id']}").status_code == 204


def test_concurrent_answers_to_one_transform_all_land_on_postgres(api: Api) -> None:
    """Twelve answers at once (two labelers, six sets, two answers wanted): each completing answer re-decides
    every complete set, so unserialised writers would collide on the decided labels and lose answers."""
    from concurrent.futures import ThreadPoolExecutor

    from services import users

    tid = api.transform(labeling_policy={"answers_per_set": 2})["id"]
    keys = people_frame()["id"].tolist()
    tokens = [users.create_user(api.db, name, "labeler")[1] for name in ("ana", "ben")]
    for n in range(6):
        add_labeling_set(api.db, tid, f"s{n}", keys[3 * n:3 * n + 3])

    def answer(job: tuple[str, int]) -> int:
        token, n = job
        body = {"labels": [{"record_key": k, "label": "A" if i < 2 else "B"}
                           for i, k in enumerate(keys[3 * n:3 * n + 3])]}
        client = api.app.test_client()
        return client.put(f"/api/v1/transforms/{tid}/labeling-sets/s{n}", json=body,
                          headers={"Authorization": f"Bearer {token}"}).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(answer, [(t, n) for n in range(6) for t in tokens]))
    assert codes == [200] * 12
    history = api.call("GET", f"/transforms/{tid}/label-history?limit=1000").get_json()["events"]
    assert sum(e["action"] == "answer" for e in history) == 12
    assert api.call("GET", f"/transforms/{tid}").get_json()["label_count"] == 18  # every set decided


def test_an_imported_model_is_recorded_and_yields_to_newer_labels_on_postgres(api: Api) -> None:
    data = model_bytes(Matcher(Settings(primary_key="id")).fit(people_frame(30)))
    tid = api.transform()["id"]
    response = api.call("POST", f"/transforms/{tid}/models", data={"file": (io.BytesIO(data), "m.zip")},
                        content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    version = response.get_json()["version"]
    assert api.call("GET", f"/transforms/{tid}/models/{version}").get_data() == data
    (listed,) = api.call("GET", f"/transforms/{tid}/models").get_json()["models"]
    assert listed["imported"] and listed["in_effect"] and listed["filename"] == "m.zip"
    labeled = api.call("POST", f"/transforms/{tid}/labeling-sets", json={"records": ["r0000001", "r0000002"],
                                                                         "labels": ["a", "a"]})
    assert labeled.status_code == 201, labeled.get_json()
    (listed,) = api.call("GET", f"/transforms/{tid}/models").get_json()["models"]
    assert listed["in_effect"] is False
    assert api.call("DELETE", f"/transforms/{tid}/models/{version}").status_code == 204
    assert api.call("GET", f"/transforms/{tid}/models").get_json() == {"models": []}
