"""Incremental matching through the REST API with a real Celery worker: FIND_MATCHES writes the transform's
entity store, FIND_INCREMENTAL_MATCHES matches an uploaded batch into it, the entities API reads it, and
DELETE /transforms/ID/records erases records from it and from every file of the data directory.

One module-scoped service (data directory, SQLite database and broker, one ``celery worker`` subprocess) and one
app built on it whose runs are queued on that broker, as ``matcher serve`` does.
"""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from api_support import add_labeling_set, is_problem, make_api, people_frame, set_status, sqlite_api
from db_support import temporary_postgres_database
from flask.testing import FlaskClient
from worker_support import RUN_TIMEOUT, Service, make_service, matcher_worker_command

from labeling_ui import create_app
from matcher.entity_store import EntityStore
from services import engine, entity_stores, users
from services.config import Config
from storage.artifacts import ArtifactStore
from storage.models import TaskRun

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")  # kombu's

BASE_ROWS = 500
UNIQUE_EMAIL = "zq-erase-7f3a9c@example.invalid"  # in no fixture: its absence after erasure means something
UNIQUE_SURNAME = "Quixotlewaite"
COPIED = ["r0000004", "r0000010", "r0000020", "r0000033"]  # stored records sent again under new keys


@dataclass
class Client:
    client: FlaskClient
    token: str
    data_dir: Path

    def call(self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return self.client.open(f"/api/v1{path}", method=method,
                                headers={"Authorization": f"Bearer {self.token}", **(headers or {})}, **kwargs)

    def upload(self, frame: pd.DataFrame, name: str, headers: dict[str, str] | None = None) -> str:
        response = self.call("POST", "/datasets", data={"file": (io.BytesIO(frame.to_csv(index=False).encode()),
                                                                 f"{name}.csv")},
                             content_type="multipart/form-data", headers=headers)
        assert response.status_code == 201, response.get_json()
        return str(response.get_json()["id"])

    def transform(self, dataset_id: str, name: str) -> str:
        response = self.call("POST", "/transforms", json={"name": name, "dataset_id": dataset_id, "primary_key": "id"})
        assert response.status_code == 201, response.get_json()
        return str(response.get_json()["id"])

    def run(self, transform_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Start a run through the API and poll it until it ends; it must succeed."""
        response = self.call("POST", f"/transforms/{transform_id}/task-runs", json=body)
        assert response.status_code == 202, response.get_json()
        return self.run_until_done(response.get_json())

    def run_until_done(self, run: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + RUN_TIMEOUT
        while run["status"] not in ("SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT"):
            assert time.monotonic() < deadline, f"run {run['id']} still {run['status']}"
            time.sleep(0.2)
            run = self.call("GET", f"/task-runs/{run['id']}").get_json()
        assert run["status"] == "SUCCEEDED", run
        return run

    def output(self, run: dict[str, Any], query: str = "format=parquet") -> pd.DataFrame:
        response = self.call("GET", f"/task-runs/{run['id']}/output?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        if "parquet" in response.mimetype:
            return pd.read_parquet(io.BytesIO(response.get_data()))
        return pd.read_csv(io.BytesIO(response.get_data()), dtype=str, keep_default_na=False)


@dataclass
class Flow:
    api: Client
    transform_id: str
    base: pd.DataFrame
    batch: pd.DataFrame
    first: pd.DataFrame  # the first FIND_MATCHES run's matches
    incremental_run: dict[str, Any]
    incremental: pd.DataFrame  # the batch's rows with match ids
    changes: pd.DataFrame
    rerun: pd.DataFrame  # a second FIND_MATCHES run's matches


def base_records() -> pd.DataFrame:
    base = people_frame(600).head(BASE_ROWS).copy()
    marked = base["id"] == "r0000007"
    base.loc[marked, "email"] = UNIQUE_EMAIL
    base.loc[marked, "surname"] = UNIQUE_SURNAME
    return base


def batch_records(base: pd.DataFrame) -> pd.DataFrame:
    """Exact copies of stored records under new keys, and 20 records the store has not seen."""
    copies = base[base["id"].isin(COPIED)].assign(id=lambda f: "copy-" + f["id"])
    return pd.concat([copies, people_frame(600).iloc[BASE_ROWS:BASE_ROWS + 20]], ignore_index=True)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = make_service(tmp_path_factory.mktemp("incremental") / "data")
    service.start_worker()
    yield service
    service.close()


@pytest.fixture(scope="module")
def api(service: Service) -> Client:
    app = create_app(service.config)  # queues on the service's broker, like ``matcher serve``
    app.testing = True
    _, token = users.create_user(service.db, "root", "admin")
    return Client(app.test_client(), token, service.config.data_dir)


@pytest.fixture(scope="module")
def flow(api: Client) -> Flow:
    base = base_records()
    transform_id = api.transform(api.upload(base, "base"), "people")
    first = api.output(api.run(transform_id, {"type": "FIND_MATCHES"}))
    batch = batch_records(base)
    run = api.run(transform_id, {"type": "FIND_INCREMENTAL_MATCHES", "params": {"dataset_id": api.upload(batch, "b")}})
    incremental = api.output(run)
    changes = api.output(run, "file=changes")
    rerun = api.output(api.run(transform_id, {"type": "FIND_MATCHES"}))
    return Flow(api, transform_id, base, batch, first, run, incremental, changes, rerun)


def test_find_matches_publishes_the_store_s_integer_ids(flow: Flow) -> None:
    first = flow.first
    assert pd.api.types.is_integer_dtype(first["match_id"]) and first["id"].tolist() == flow.base["id"].tolist()
    assert first["match_id"].nunique() < len(first)  # the people fixture has duplicates
    page = flow.api.call("GET", f"/transforms/{flow.transform_id}/entities?limit=500").get_json()
    assert page["store_version"] >= 1 and page["columns"] == list(flow.base.columns)


def test_a_batch_of_copies_joins_their_entities_and_untouched_ids_stay(flow: Flow) -> None:
    out, changes, first = flow.incremental, flow.changes, flow.first
    assert out["id"].tolist() == flow.batch["id"].tolist()
    assert list(out.columns) == [*flow.base.columns, "match_id", "match_confidence_score"]
    id_of = first.set_index("id")["match_id"]
    copies = out[out["id"].str.startswith("copy-")]
    originals = copies["id"].str.removeprefix("copy-")
    assert copies["match_id"].astype(int).tolist() == id_of[originals].astype(int).tolist()
    grew = set(changes.loc[changes["change"] == "GREW", "match_id"].astype(int))
    assert set(id_of[originals].astype(int)) <= grew
    assert set(changes["change"]) <= {"NEW", "GREW", "MERGED", "SPLIT"}
    # every stored record outside the entities the changelog names keeps its id
    touched = set(changes["match_id"].astype(int))
    for related in changes["related_ids"]:
        touched |= {int(i) for i in str(related).split(";") if i}
    entities = stored_entities(flow)
    untouched = first[~first["match_id"].isin(touched)]
    assert len(untouched) > BASE_ROWS // 2
    assert (entities.loc[untouched["id"], "match_id"].to_numpy() == untouched["match_id"].to_numpy()).all()


def stored_entities(flow: Flow) -> pd.DataFrame:
    """Every stored record's match id, read through the entities API."""
    rows = []
    page = flow.api.call("GET", f"/transforms/{flow.transform_id}/entities?limit=500").get_json()
    for offset in range(0, page["total"], 500):
        listed = flow.api.call("GET", f"/transforms/{flow.transform_id}/entities?limit=500&offset={offset}")
        for entity in listed.get_json()["entities"]:
            detail = flow.api.call("GET", f"/transforms/{flow.transform_id}/entities/{entity['match_id']}")
            rows += [(r["id"], entity["match_id"]) for r in detail.get_json()["records"]]
    return pd.DataFrame(rows, columns=["id", "match_id"]).set_index("id")


def test_a_find_matches_re_run_keeps_the_ids_of_entities_it_does_not_change(flow: Flow) -> None:
    """The re-run matches the dataset and the records the incremental run added (they stay in the store); it
    fits again on them all, so a few clusters may change: every entity whose records are the same keeps its id."""
    rerun = flow.rerun
    assert rerun["id"].tolist() == [*flow.base["id"], *flow.batch["id"]]
    before = pd.concat([flow.first, flow.incremental])[["id", "match_id"]].astype({"match_id": int})
    old = before.groupby("match_id")["id"].apply(frozenset)
    new = rerun.astype({"match_id": int}).groupby("match_id")["id"].apply(frozenset)
    same = [(members, match_id) for match_id, members in old.items() if members in set(new)]
    assert len(same) >= 0.9 * len(old)
    id_now = {members: match_id for match_id, members in new.items()}
    assert all(id_now[members] == match_id for members, match_id in same)


def test_the_changelog_is_served_as_json_and_as_files(flow: Flow) -> None:
    run_id = flow.incremental_run["id"]
    body = flow.api.call("GET", f"/task-runs/{run_id}/changes?limit=5").get_json()
    assert body["total"] == len(flow.changes) and sum(body["counts"].values()) == len(flow.changes)
    assert body["store_version"] == 2  # FIND_MATCHES published version 1
    assert len(body["changes"]) == min(5, len(flow.changes))
    parquet = flow.api.output(flow.incremental_run, "file=changes&format=parquet")
    assert parquet["match_id"].astype(int).tolist() == flow.changes["match_id"].astype(int).tolist()
    is_problem(flow.api.call("GET", f"/task-runs/{run_id}/output?file=nope"), 422, "file")
    per_record = flow.api.output(flow.incremental_run, "file=record_changes")
    batch = per_record[per_record["id"].isin(flow.batch["id"])]
    assert sorted(batch["id"]) == sorted(flow.batch["id"]) and (batch["old_match_id"] == "").all()
    ids = flow.incremental.set_index("id")["match_id"].astype(str)
    assert (batch["new_match_id"] == ids[batch["id"]].to_numpy()).all()


def test_an_entity_lists_its_records_and_history(flow: Flow) -> None:
    grown = int(flow.changes.loc[flow.changes["change"] == "GREW", "match_id"].iloc[0])
    entity = flow.api.call("GET", f"/transforms/{flow.transform_id}/entities/{grown}").get_json()
    assert entity["status"] == "ACTIVE" and entity["merged_into"] is None
    assert any(r["id"].startswith("copy-") for r in entity["records"])
    assert [h["change"] for h in entity["history"]][:2] == ["NEW", "GREW"]
    golden, by_key = entity["golden"], {r["id"]: r for r in entity["records"]}
    assert set(golden["values"]) == set(entity["records"][0]) - {"id", "match_confidence_score"}
    for column, value in golden["values"].items():  # each surviving value is its source record's own
        assert value is None or by_key[golden["sources"][column]][column] == value
    found = flow.api.call("GET", f"/transforms/{flow.transform_id}/entities?q={UNIQUE_SURNAME.upper()}").get_json()
    assert found["total"] == 1 and found["entities"][0]["values"]["email"] == UNIQUE_EMAIL
    is_problem(flow.api.call("GET", f"/transforms/{flow.transform_id}/entities/999999"), 404)
    is_problem(flow.api.call("GET", f"/transforms/{flow.transform_id}/entities/abc"), 404)


def test_the_transform_sets_the_golden_record_rules(flow: Flow) -> None:
    grown = int(flow.changes.loc[flow.changes["change"] == "GREW", "match_id"].iloc[0])
    url = f"/transforms/{flow.transform_id}"
    bad = flow.api.call("PATCH", url, json={"survivorship": {"email": {"rule": "newest"}}})
    assert "'email'" in is_problem(bad, 422, "survivorship")["detail"]
    patched = flow.api.call("PATCH", url, json={"survivorship": {"surname": {"rule": "longest"}}})
    assert patched.status_code == 200 and patched.get_json()["survivorship"] == {"surname": {"rule": "longest"}}
    entity = flow.api.call("GET", f"{url}/entities/{grown}").get_json()
    longest = max((r["surname"] or "" for r in entity["records"]), key=len)
    assert entity["golden"]["values"]["surname"] == longest
    assert flow.api.call("PATCH", url, json={"survivorship": None}).get_json()["survivorship"] is None


def test_no_store_is_a_409_and_other_columns_a_422(flow: Flow) -> None:
    api = flow.api
    fresh = api.transform(api.upload(flow.base.tail(50), "fresh"), "no store yet")
    batch = api.upload(flow.batch, "batch again")
    body = {"type": "FIND_INCREMENTAL_MATCHES", "params": {"dataset_id": batch}}
    assert "no entity store" in is_problem(api.call("POST", f"/transforms/{fresh}/task-runs", json=body), 409)["detail"]
    is_problem(api.call("GET", f"/transforms/{fresh}/entities"), 404)
    renamed = api.upload(flow.batch.rename(columns={"email": "e_mail"}), "renamed")
    wrong = api.call("POST", f"/transforms/{flow.transform_id}/task-runs",
                     json={"type": "FIND_INCREMENTAL_MATCHES", "params": {"dataset_id": renamed}})
    detail = is_problem(wrong, 422, "params.dataset_id")["detail"]
    assert "'email'" in detail and "'e_mail'" in detail
    missing = api.call("POST", f"/transforms/{flow.transform_id}/task-runs", json={"type": "FIND_INCREMENTAL_MATCHES"})
    is_problem(missing, 422, "params.dataset_id")


def test_two_incremental_runs_on_one_transform_queue_on_the_store_lock(flow: Flow, service: Service) -> None:
    """Two workers take two batches at once; the second batch copies the first's records under new keys. Each
    copy joins its original's entity only if the run that came second matched against the version the first
    published (run concurrently on one version, each would make its own entities). The test holds the lock
    until both runs are waiting on it, so that they do run at once."""
    api = flow.api
    service.start_worker()
    tid = api.transform(api.upload(people_frame(600).tail(60), "lock base"), "lock")
    api.run(tid, {"type": "FIND_MATCHES"})
    first = people_frame(600).iloc[BASE_ROWS + 20:BASE_ROWS + 30]
    second = first.assign(id="b-" + first["id"])
    batches = [api.upload(batch, name) for batch, name in ((first, "first"), (second, "second"))]
    with EntityStore(service.store.entity_store_dir(tid)).writing():
        runs = [api.call("POST", f"/transforms/{tid}/task-runs", json={
            "type": "FIND_INCREMENTAL_MATCHES", "params": {"dataset_id": batch}}).get_json() for batch in batches]
        deadline = time.monotonic() + RUN_TIMEOUT
        while any(api.call("GET", f"/task-runs/{run['id']}").get_json()["stage"] != "reading the batch"
                  for run in runs):  # its last report before the lock
            assert time.monotonic() < deadline, "the two runs did not both start"
            time.sleep(0.1)
        time.sleep(0.5)
    outputs = [api.output(api.run_until_done(run)) for run in runs]
    ids = [out.set_index("id")["match_id"].astype(int) for out in outputs]
    assert (ids[0][first["id"]].to_numpy() == ids[1][second["id"]].to_numpy()).all()
    counts = [api.call("GET", f"/task-runs/{run['id']}/changes").get_json()["counts"] for run in runs]
    assert {"GREW": len(first)} in counts  # the run that came second: each copy joined its original's entity
    entities = api.call("GET", f"/transforms/{tid}/entities?limit=500").get_json()["entities"]
    assert sum(e["records"] for e in entities) == 60 + 2 * len(first)  # neither run's records were lost


def file_texts(path: Path) -> Iterator[bytes]:
    """A file's bytes, and what a compressed format holds: Parquet decoded, zip members inflated."""
    data = path.read_bytes()
    yield data
    if data.startswith(b"PAR1"):
        yield pq.read_table(path).to_pandas().to_csv(index=False).encode()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                member = archive.read(name)
                yield member
                if member.startswith(b"PAR1"):
                    yield pq.read_table(io.BytesIO(member)).to_pandas().to_csv(index=False).encode()


def holding(data_dir: Path, *values: str) -> list[str]:
    return sorted({str(path.relative_to(data_dir)) for path in data_dir.rglob("*") if path.is_file()
                   for text in file_texts(path) for value in values if value.encode() in text})


def test_erasure_leaves_no_trace_in_the_data_directory(flow: Flow, service: Service) -> None:
    """Runs last in this module (it changes the store and the files the other tests read). The erased key is
    labeled first, so the database held it too."""
    api, tid = flow.api, flow.transform_id
    add_labeling_set(service.db, tid, "set-erased", ["r0000007", "r0000008"])
    labeled = api.call("PUT", f"/transforms/{tid}/labeling-sets/set-erased", json={"labels": [
        {"record_key": "r0000007", "label": "A"}, {"record_key": "r0000008", "label": "B"}]})
    assert labeled.status_code == 200, labeled.get_json()
    # a dataset of no transform, uploaded with an Idempotency-Key: the database keeps the answer, whose preview
    # holds the erased record's values
    copy = api.upload(flow.base.head(10), "a copy of some records", headers={"Idempotency-Key": "copy-1"})
    assert holding(api.data_dir, UNIQUE_EMAIL, UNIQUE_SURNAME, "r0000007")  # the search finds them before
    erased = api.call("DELETE", f"/transforms/{tid}/records", json={"keys": ["r0000007", "copy-r0000010"]})
    assert erased.status_code == 200, erased.get_json()
    body = erased.get_json()
    assert body["erased"] == ["r0000007", "copy-r0000010"] and body["store_version"] >= 4
    assert {c["change"] for c in body["changes"]} <= {"REMOVED", "SHRANK", "SPLIT"} and body["changes"]
    assert any(p.startswith("datasets/") for p in body["files_rewritten"])
    assert any(p.startswith("outputs/") for p in body["files_rewritten"])
    assert copy in body["datasets_elsewhere"]  # reported, not rewritten (so are the uploads of refused batches)
    for other in body["datasets_elsewhere"]:  # their owner deletes them
        assert api.call("DELETE", f"/datasets/{other}").status_code == 204
    assert body["labels_deleted"] == 2  # the set's decided label and the answer that decided it
    assert holding(api.data_dir, UNIQUE_EMAIL, UNIQUE_SURNAME, "r0000007") == []
    assert api.call("GET", f"/transforms/{tid}/entities?q={UNIQUE_EMAIL}").get_json()["total"] == 0
    is_problem(api.call("DELETE", f"/transforms/{tid}/records", json={"keys": ["r0000007"]}), 422, "keys")
    after = api.output(api.run(tid, {"type": "FIND_MATCHES"}))  # the next run fits again on what is left
    assert "r0000007" not in set(after["id"]) and "copy-r0000010" not in set(after["id"])
    assert len(after) == BASE_ROWS + len(flow.batch) - 2


def test_a_run_re_delivered_after_publishing_its_store_version_rebuilds_the_same_outputs(tmp_path: Path) -> None:
    """Its worker died between publishing the store and committing SUCCEEDED: the re-delivered run finds its own
    version current and rebuilds its outputs from it, without matching the batch a second time (in-process
    engine, as the worker calls it)."""
    api = sqlite_api(tmp_path)
    art = ArtifactStore(api.config.data_dir)
    tid = api.transform(rows=300)["id"]

    def execute(body: dict[str, Any]) -> str:
        run_id = str(api.call("POST", f"/transforms/{tid}/task-runs", json=body).get_json()["id"])
        assert engine.execute(api.db, art, run_id) == "SUCCEEDED"
        return run_id

    execute({"type": "FIND_MATCHES"})
    batch = api.upload(people_frame(330).tail(30).to_csv(index=False).encode(), "batch.csv").get_json()["id"]
    run_id = execute({"type": "FIND_INCREMENTAL_MATCHES", "params": {"dataset_id": batch}})
    folder = art.output_dir(run_id)
    names = ("matches.csv", "changes.csv", "record_changes.csv")
    published = [(folder / name).read_bytes() for name in names]
    version = EntityStore(art.entity_store_dir(tid)).current_version()
    set_status(api, run_id, "RUNNING")
    refused = api.call("DELETE", f"/transforms/{tid}/records", json={"keys": [people_frame(1)["id"].iloc[0]]})
    assert "active" in is_problem(refused, 409)["detail"]  # erasure waits for the runs reading the files
    refused = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"})
    assert "FIND_INCREMENTAL_MATCHES run of this transform is active" in is_problem(refused, 409)["detail"]
    shutil.rmtree(folder)
    assert engine.execute(api.db, art, run_id) == "SUCCEEDED"
    assert EntityStore(art.entity_store_dir(tid)).current_version() == version
    assert [(folder / name).read_bytes() for name in names] == published
    assert api.call("DELETE", f"/transforms/{tid}").status_code == 204
    assert not art.entity_store_dir(tid).exists()  # the store goes with its transform


def test_a_find_matches_run_fails_when_an_incremental_run_added_records_while_it_fitted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API refuses to start the two at once; a FIND_MATCHES queued before an incremental run started (its row
    written directly here) still must not drop the records that run added: it fails and publishes nothing."""
    api = sqlite_api(tmp_path)
    art = ArtifactStore(api.config.data_dir)
    tid = api.transform(rows=300)["id"]
    first = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"}).get_json()["id"]
    assert engine.execute(api.db, art, first) == "SUCCEEDED"
    batch = api.upload(people_frame(330).tail(30).to_csv(index=False).encode(), "batch.csv").get_json()["id"]
    incremental = api.call("POST", f"/transforms/{tid}/task-runs", json={
        "type": "FIND_INCREMENTAL_MATCHES", "params": {"dataset_id": batch}}).get_json()["id"]
    with api.db.session() as session:
        rerun = TaskRun(transform_id=tid, type="FIND_MATCHES", params={})
        session.add(rerun)
        session.flush()
        rerun_id = rerun.id
    read_beyond = entity_stores.records_beyond

    def meanwhile(ctx: Any) -> Any:
        found = read_beyond(ctx)
        assert engine.execute(api.db, art, incremental) == "SUCCEEDED"  # publishes while the re-run fits
        return found

    monkeypatch.setattr(entity_stores, "records_beyond", meanwhile)
    store = EntityStore(art.entity_store_dir(tid))
    assert engine.execute(api.db, art, rerun_id) == "FAILED"
    assert "added 30 record(s)" in api.call("GET", f"/task-runs/{rerun_id}").get_json()["error_message"]
    assert len(store.read().records) == 330  # the batch stayed in the store


def test_an_incremental_run_and_an_erasure_on_postgres(tmp_path: Path) -> None:
    """The same service code on PostgreSQL (the production database): a batch matched in, a labeled record
    erased with its label, its values gone from the data directory's files."""
    with temporary_postgres_database("matcher_test_incremental") as url:
        api = make_api(Config.from_env(tmp_path, database_url=url))
        try:
            assert api.db.engine.dialect.name == "postgresql"
            art = ArtifactStore(api.config.data_dir)
            tid = api.transform(rows=300)["id"]
            first = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"}).get_json()["id"]
            assert engine.execute(api.db, art, first) == "SUCCEEDED"
            batch = api.upload(people_frame(330).tail(30).to_csv(index=False).encode(), "b.csv").get_json()["id"]
            run = api.call("POST", f"/transforms/{tid}/task-runs", json={
                "type": "FIND_INCREMENTAL_MATCHES", "params": {"dataset_id": batch}}).get_json()["id"]
            assert engine.execute(api.db, art, run) == "SUCCEEDED"
            gone = people_frame(330).iloc[310]  # a batch record
            add_labeling_set(api.db, tid, "s", [gone["id"], people_frame(1)["id"].iloc[0]])
            assert api.call("PUT", f"/transforms/{tid}/labeling-sets/s", json={"labels": [
                {"record_key": gone["id"], "label": "A"}]}).status_code == 200
            values = [v for v in (gone["email"], gone["phone"]) if v]
            assert values and holding(api.config.data_dir, *values)  # found before
            body = api.call("DELETE", f"/transforms/{tid}/records", json={"keys": [gone["id"]]}).get_json()
            assert body["labels_deleted"] == 2 and body["store_version"] == 3
            assert f"datasets/{batch}.parquet" in body["files_rewritten"]
            assert holding(api.config.data_dir, *values) == []
        finally:
            api.db.engine.dispose()
            api.app.extensions["matcher"].db.engine.dispose()


def test_a_worker_killed_mid_run_leaves_the_previous_version_serving(tmp_path: Path) -> None:
    """SIGKILL while the incremental run is under way (held at the store's lock by the test, with a version
    half written by an earlier crash lying beside): the store still serves its previous version; a new
    ``matcher worker`` re-queues the run, which succeeds and publishes the next version."""
    service = make_service(tmp_path / "data")
    try:
        app = create_app(service.config)
        app.testing = True
        api = Client(app.test_client(), users.create_user(service.db, "root", "admin")[1], service.config.data_dir)
        first = service.start_worker()
        tid = api.transform(api.upload(people_frame(300), "base"), "crash")
        api.run(tid, {"type": "FIND_MATCHES"})
        batch = api.upload(people_frame(330).tail(30), "batch")
        store = EntityStore(service.store.entity_store_dir(tid))
        with store.writing():
            (store.root / "versions" / ".tmp-crashed").mkdir()  # what a publish killed midway leaves
            run = api.call("POST", f"/transforms/{tid}/task-runs", json={
                "type": "FIND_INCREMENTAL_MATCHES", "params": {"dataset_id": batch}}).get_json()
            service.wait(run["id"], lambda r: r.stage == "reading the batch")  # its last report before the lock
            first.kill()
        assert service.run(run["id"]).status == "RUNNING"
        page = api.call("GET", f"/transforms/{tid}/entities?limit=1").get_json()
        assert page["store_version"] == 1 and store.current_version() == 1
        service.start_worker(matcher_worker_command(service.config.data_dir))  # re-queues the orphan at start
        done = api.run_until_done(run)
        assert done["attempts"] == 2
        assert store.current_version() == 2 and not list((store.root / "versions").glob(".tmp-*"))
        assert len(api.output(done)) == 30
    finally:
        service.close()


def test_erasure_reaches_a_transform_keyed_by_another_column_of_the_dataset(tmp_path: Path) -> None:
    """Two transforms on one dataset, keyed by ``id`` and by ``ref``: erasing by ``id`` through the first also
    erases the record from the second's store, labels and outputs, where it is named by its ``ref``."""
    api = sqlite_api(tmp_path)
    art = ArtifactStore(api.config.data_dir)
    frame = people_frame(300).assign(ref=lambda f: "ref-" + f["id"].str[1:])
    dataset = api.upload(frame.to_csv(index=False).encode(), "people.csv").get_json()["id"]
    by_id, by_ref = (api.call("POST", "/transforms", json={"name": pk, "dataset_id": dataset, "primary_key": pk})
                     .get_json()["id"] for pk in ("id", "ref"))
    for tid in (by_id, by_ref):
        run = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"}).get_json()["id"]
        assert engine.execute(api.db, art, run) == "SUCCEEDED"
    alone = (frame["email"] != "") & (frame["email"].map(frame["email"].value_counts()) == 1)
    gone = frame[alone].iloc[5]  # an e-mail no other record holds
    add_labeling_set(api.db, by_ref, "s", [gone["ref"], frame["ref"].iloc[0]])
    assert api.call("PUT", f"/transforms/{by_ref}/labeling-sets/s", json={"labels": [
        {"record_key": gone["ref"], "label": "A"}]}).status_code == 200
    assert holding(api.config.data_dir, gone["ref"], gone["email"])
    body = api.call("DELETE", f"/transforms/{by_id}/records", json={"keys": [gone["id"]]}).get_json()
    assert body["labels_deleted"] == 2  # the set's decided label and the answer that decided it
    assert holding(api.config.data_dir, gone["ref"], gone["email"]) == []
    assert len(EntityStore(art.entity_store_dir(by_ref)).read().records) == 299
