"""The task-run type registry (services.run_types) and the status enum (storage.run_status) agree with what the
API serves: the OpenAPI document at /api/v1/openapi.json and the answers of the endpoints it documents. A type
registered in the registry alone is startable, documented, executed and downloadable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from api_support import Api, is_problem, set_status, sqlite_api
from sqlalchemy import text

from services import engine, run_types, task_types
from services.run_context import Outcome, RunContext
from services.run_types import IntParam, RunType
from storage.artifacts import ArtifactStore
from storage.run_status import ACTIVE, TERMINAL, RunStatus


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return sqlite_api(tmp_path)


def _spec(api: Api) -> dict[str, Any]:
    spec: dict[str, Any] = api.call("GET", "/openapi.json", api.labeler).get_json()
    return spec


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in schema:
        return schema
    resolved: dict[str, Any] = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return resolved


def _create_bodies(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """TaskRunCreate's body per documented type (the ``type`` const of each alternative)."""
    create = spec["components"]["schemas"]["TaskRunCreate"]
    bodies = [_resolve(spec, option) for option in create["oneOf"]]
    by_type = {body["properties"]["type"]["const"]: body for body in bodies}
    assert len(by_type) == len(bodies), "two TaskRunCreate bodies for one type"
    return by_type


def _operation_param(spec: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    param: dict[str, Any] = next(p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == name)
    return param


def _start(api: Api, tid: str, body: dict[str, Any]) -> Any:
    return api.call("POST", f"/transforms/{tid}/task-runs", json=body)


def test_the_document_lists_exactly_the_registered_types_and_statuses(api: Api) -> None:
    spec = _spec(api)
    schemas = spec["components"]["schemas"]
    assert list(_create_bodies(spec)) == [name for name, t in run_types.REGISTRY.items() if t.startable]
    assert schemas["TaskRun"]["properties"]["type"]["enum"] == list(run_types.REGISTRY)
    statuses = [status.value for status in RunStatus]
    assert schemas["TaskRun"]["properties"]["status"]["enum"] == statuses
    listing = "/transforms/{transform_id}/task-runs"
    assert _operation_param(spec, listing, "type")["schema"]["enum"] == list(run_types.REGISTRY)
    assert _operation_param(spec, listing, "status")["schema"]["enum"] == statuses
    formats = _operation_param(spec, "/task-runs/{run_id}/output", "format")["schema"]["enum"]
    assert sorted(formats) == sorted({f for t in run_types.REGISTRY.values() for f in t.formats})


def test_the_active_and_terminal_statuses_split_every_status_once() -> None:
    assert set(ACTIVE).isdisjoint(TERMINAL) and set(ACTIVE) | set(TERMINAL) == set(RunStatus)
    assert {RunStatus.STARTING, RunStatus.RUNNING, RunStatus.STOPPING} == set(ACTIVE)


def test_the_api_accepts_what_the_document_says_and_refuses_the_rest(api: Api) -> None:
    """Each documented param's bounds are the API's: its maximum starts a run, one more is a 422 naming it."""
    tid = api.transform()["id"]
    bodies = _create_bodies(_spec(api))
    for name, body in bodies.items():
        params = body["properties"]["params"]["properties"]
        assert set(params) == {p.name for p in run_types.REGISTRY[name].params}, name
        is_problem(_start(api, tid, {"type": name, "params": {"undocumented": 1}}), 422, "params.undocumented")
        if run_types.REGISTRY[name].needs_labels:
            assert "needs labels" in is_problem(_start(api, tid, {"type": name}), 409)["detail"]
            continue
        if run_types.REGISTRY[name].needs_store:  # its params are checked once a store exists (test_api_incremental)
            assert "no entity store" in is_problem(_start(api, tid, {"type": name}), 409)["detail"]
            continue
        for param, schema in params.items():
            assert _start(api, tid, {"type": name, "params": {param: schema["maximum"]}}).status_code == 202
            is_problem(_start(api, tid, {"type": name, "params": {param: schema["maximum"] + 1}}), 422,
                       f"params.{param}")
    for name in set(run_types.REGISTRY) - set(bodies):  # registered, started by another endpoint only
        is_problem(_start(api, tid, {"type": name}), 422, "type")


def test_every_documented_status_filters_the_list_and_is_stored_as_its_name(api: Api) -> None:
    tid = api.transform()["id"]
    run = _start(api, tid, {"type": "FIND_MATCHES"}).get_json()
    for status in _operation_param(_spec(api), "/transforms/{transform_id}/task-runs", "status")["schema"]["enum"]:
        set_status(api, run["id"], status)
        listed = api.call("GET", f"/transforms/{tid}/task-runs?status={status}").get_json()["task_runs"]
        assert [r["status"] for r in listed] == [status]
        with api.db.session() as session:  # the column holds the plain name: no migration, old rows read alike
            stored = session.execute(text("SELECT status FROM task_runs WHERE id = :id"), {"id": run["id"]})
            assert stored.scalar_one() == status
    is_problem(api.call("GET", f"/transforms/{tid}/task-runs?status=PAUSED"), 422, "status")


def _row_count(ctx: RunContext) -> Outcome:
    """A handler written for a new type: reads its param through the registry, publishes one JSON file."""
    rounds = run_types.get(ctx.claimed.run.type).param("rounds").read(ctx.params)
    return Outcome({"row_count.json": {"rows": len(ctx.records()), "rounds": rounds}})


def test_a_type_registered_in_the_registry_alone_is_startable_documented_and_runs(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    new = RunType("ROW_COUNT", "Row count", "services.task_types:row_count", startable=True,
                  output="row_count.json", formats=(), params=(IntParam("rounds", 1, 5, 2, "how many times"),))
    monkeypatch.setitem(run_types.REGISTRY, new.name, new)
    monkeypatch.setattr(task_types, "row_count", _row_count, raising=False)  # its module, wherever it lives
    spec = _spec(api)
    body = _create_bodies(spec)["ROW_COUNT"]
    rounds_schema = body["properties"]["params"]["properties"]["rounds"]
    assert (rounds_schema["minimum"], rounds_schema["maximum"], rounds_schema["default"]) == (1, 5, 2)
    assert "ROW_COUNT" in spec["components"]["schemas"]["TaskRun"]["properties"]["type"]["enum"]

    tid = api.transform(rows=30)["id"]
    is_problem(_start(api, tid, {"type": "ROW_COUNT", "params": {"rounds": 6}}), 422, "params.rounds")
    store = ArtifactStore(api.config.data_dir)
    for params, rounds in (({"rounds": 3}, 3), ({}, 2)):
        run = _start(api, tid, {"type": "ROW_COUNT", "params": params}).get_json()
        assert run["status"] == "STARTING"
        assert engine.execute(api.db, store, run["id"]) == "SUCCEEDED"
        finished = api.call("GET", f"/task-runs/{run['id']}").get_json()
        assert finished["output_format"] == "json" and finished["has_output"]
        assert api.call("GET", f"/task-runs/{run['id']}/output").get_json() == {"rows": 30, "rounds": rounds}
    is_problem(api.call("GET", f"/task-runs/{run['id']}/output?format=csv"), 422, "format")
    page = api.client.get(f"/transforms/{tid}/runs").get_data(as_text=True)
    assert '"ROW_COUNT": "Row count"' in page  # the runs page names it
    assert _start_buttons(page)[-1] == ("ROW_COUNT", "Row count")  # and starts it


def _start_buttons(page: str) -> list[tuple[str, str]]:
    """(data-type, text) of the runs page's start buttons."""
    found = re.findall(r'<button type="button" class="start" data-type="([^"]+)">([^<]+)</button>', page)
    return [(kind, text.strip()) for kind, text in found]


def test_the_runs_page_has_a_start_button_per_startable_type_without_a_required_param(api: Api) -> None:
    page = api.client.get(f"/transforms/{api.transform()['id']}/runs").get_data(as_text=True)
    buttons = _start_buttons(page)
    assert buttons == [(name, run_types.get(name).label) for name in run_types.startable()
                       if not run_types.get(name).required()]
    assert {"LABELING_SET_GENERATION", "EVALUATION", "FIND_MATCHES"} <= {kind for kind, _ in buttons}
    assert "FIND_INCREMENTAL_MATCHES" not in dict(buttons)  # its batch is chosen in a form of its own


def test_a_handler_outside_the_services_layer_is_refused(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Naming a handler must not become a way round the layer rule (services never import workers)."""
    upward = RunType("UPWARD", "Upward", "workers.tasks:execute_task_run", startable=True, output="x.json",
                     formats=())
    monkeypatch.setitem(run_types.REGISTRY, upward.name, upward)
    run = _start(api, api.transform()["id"], {"type": "UPWARD"}).get_json()
    with pytest.raises(ValueError, match="services.<module>:<function>"):
        engine.execute(api.db, ArtifactStore(api.config.data_dir), run["id"])
