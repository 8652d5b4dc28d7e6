"""Schemathesis fuzzes the REST API of a real ``matcher serve`` (gunicorn + its Celery worker) with real ids.

Before fuzzing, the fixture builds real state through the API: a dataset, a transform, a labeling set (a
LABELING_SET_GENERATION run), labels on it, a SUCCEEDED FIND_MATCHES run and one of its clusters, a labeler
with a token. Most generated cases then get those ids in their path and the admin's token (the others keep the
fuzzer's own values, which must get a clean 4xx), so that the handlers behind the 404s are exercised too; every
GET must have answered 2xx at least once. DELETEs get throwaway datasets and transforms made for the case (or
the fuzzed transform's dataset: a 409 naming it), so that the state the other operations need survives. Each
operation is fuzzed with schema-valid (positive) and schema-invalid (negative) requests; every response must be
no 5xx, a status code the document lists, a content type it lists, and (for documented answers) a body
matching its schema. All failures are collected and reported together.

Bounded: ``CASES_PER_MODE`` examples per operation and mode (about 500 requests in all, under a minute), no
shrinking, derandomized (the same cases every run); ``MATCHER_FUZZ_CASES=60`` hunts longer (~3600 requests).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from conftest import FIXTURES
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from serve_support import running_serve

CASES_PER_MODE = int(os.environ.get("MATCHER_FUZZ_CASES", "8"))  # more for a longer hunt
OWN_VALUES = 3  # of variants 0-3 (Hypothesis draws small values more often: most cases use the real ids)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PEOPLE_CSV = FIXTURES / "people" / "records.csv"
RUN_WAIT_S = 300.0  # the machine is shared: task runs may queue behind other tests' work


class Client:
    """The API of the served app with the admin token (for building state, not fuzzing)."""

    def __init__(self, base: str, token: str) -> None:
        self.api = f"{base}/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        response = self.session.request(method, self.api + path, timeout=60, **kwargs)
        assert response.status_code == expect, (method, path, response.status_code, response.text[:500])
        return response.json() if response.content else None

    def dataset(self, name: str) -> str:
        with open(PEOPLE_CSV, "rb") as handle:
            return self.call("POST", "/datasets", 201, files={"file": ("people.csv", handle)},
                             data={"name": name})["id"]

    def transform(self, dataset_id: str, name: str) -> str:
        body = {"name": name, "dataset_id": dataset_id, "primary_key": "id"}
        return self.call("POST", "/transforms", 201, json=body)["id"]

    def run(self, transform_id: str, body: dict[str, Any]) -> dict[str, Any]:
        run = self.call("POST", f"/transforms/{transform_id}/task-runs", 202, json=body)
        deadline = time.monotonic() + RUN_WAIT_S
        while run["status"] not in ("SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT"):
            assert time.monotonic() < deadline, f"run {run['id']} still {run['status']}"
            time.sleep(0.5)
            run = self.call("GET", f"/task-runs/{run['id']}", 200)
        assert run["status"] == "SUCCEEDED", run
        return run


def build_state(client: Client) -> dict[str, str]:
    """Real ids for every path parameter of the document."""
    dataset_id = client.dataset("fuzzed people")
    transform_id = client.transform(dataset_id, "fuzzed")
    client.run(transform_id, {"type": "LABELING_SET_GENERATION", "params": {"num_sets": 2, "set_size": 6}})
    set_id = client.call("GET", f"/transforms/{transform_id}/labeling-sets", 200)["labeling_sets"][0]["set_id"]
    records = client.call("GET", f"/transforms/{transform_id}/labeling-sets/{set_id}", 200)["record_keys"]
    labels = [{"record_key": key, "label": f"L{i % 2}"} for i, key in enumerate(records)]
    client.call("PUT", f"/transforms/{transform_id}/labeling-sets/{set_id}", 200, json={"labels": labels})
    run = client.run(transform_id, {"type": "FIND_MATCHES"})
    page = client.call("GET", f"/task-runs/{run['id']}/clusters?limit=1", 200)
    assert page["clusters"], "the FIND_MATCHES run found no cluster to fuzz"
    labeler = client.call("POST", "/users", 201, json={"name": "fuzzed labeler", "role": "labeler"})
    return {"dataset_id": dataset_id, "transform_id": transform_id, "set_id": set_id, "run_id": run["id"],
            "version": run["id"], "match_id": page["clusters"][0]["match_id"], "user_id": labeler["user"]["id"],
            "token_id": labeler["token"]["id"]}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Client, dict[str, str]]]:
    with running_serve(tmp_path_factory.mktemp("fuzz") / "data", "--no-demo") as (base, token):
        client = Client(base, token)
        yield base, token, client, build_state(client)


def test_the_served_openapi_document_validates(served: tuple[str, str, Client, dict[str, str]]) -> None:
    _, _, client, _ = served
    spec = client.call("GET", "/openapi.json", 200)
    validate(spec)  # raises on any violation of OpenAPI 3.1
    assert len(spec["paths"]) > 20


def throwaway_ids(client: Client, operation: Any, ids: dict[str, str], variant: int) -> dict[str, str]:
    """A DELETE gets a dataset or transform of its own, so that the state the other operations need survives;
    variant 1 of a dataset DELETE targets the fuzzed transform's dataset instead (a 409 naming the transform)."""
    if operation.method.upper() != "DELETE":
        return ids
    if operation.path == "/datasets/{dataset_id}":
        return ids if variant == 1 else {**ids, "dataset_id": client.dataset("throwaway")}
    return {**ids, "transform_id": client.transform(ids["dataset_id"], "throwaway")}


def fuzz_operation(operation: Any, mode: GenerationMode, base: str, token: str, client: Client,
                   ids: dict[str, str], statuses: Counter[str]) -> list[str]:
    """Runs the cases of one operation and mode; returns the failures, counts the answers in ``statuses``."""
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode), variant=st.integers(0, 3))
    @settings(max_examples=CASES_PER_MODE, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def one_case(case: Any, variant: int) -> None:
        if variant != OWN_VALUES:  # the real ids and the admin's token, else the fuzzer's own values
            real = throwaway_ids(client, operation, ids, variant) if case.path_parameters else ids
            case.path_parameters = {name: real.get(name, value) for name, value in (case.path_parameters or {}).items()}
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
        try:
            response = case.call_and_validate(base_url=f"{base}/api/v1", checks=CHECKS, timeout=60)
            statuses[f"{operation.method.upper()} {operation.path} {response.status_code}"] += 1
        except FailureGroup as exc:  # keep going: report every finding at the end
            failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}")

    one_case()
    return failures


def test_fuzzing_the_api_finds_no_server_error_and_no_undocumented_answer(
        served: tuple[str, str, Client, dict[str, str]]) -> None:
    base, token, client, ids = served
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json", headers={"Authorization": f"Bearer {token}"})
    failures: list[str] = []
    statuses: Counter[str] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 25
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += fuzz_operation(operation, mode, base, token, client, ids, statuses)
    print("\n".join(f"{key}: {count}" for key, count in sorted(statuses.items())))
    answered = {key.rsplit(" ", 1)[0] for key in statuses if key.endswith((" 200", " 201", " 202", " 204"))}
    gets = {f"GET {operation.path}" for operation in operations if operation.method.upper() == "GET"}
    assert not failures, f"{len(failures)} failure(s):\n\n" + "\n\n".join(failures)
    assert gets <= answered, f"never reached with real ids: {sorted(gets - answered)}"
    assert client.call("GET", f"/transforms/{ids['transform_id']}", 200)["id"] == ids["transform_id"]


def test_fuzzed_state_is_still_consistent(served: tuple[str, str, Client, dict[str, str]]) -> None:
    """After the fuzzing, the real objects still read back (no half-written rows)."""
    _, _, client, ids = served
    assert client.call("GET", f"/datasets/{ids['dataset_id']}", 200)["id"] == ids["dataset_id"]
    runs = client.call("GET", f"/transforms/{ids['transform_id']}/task-runs", 200)["task_runs"]
    assert ids["run_id"] in [r["id"] for r in runs]
    output = client.session.get(f"{client.api}/task-runs/{ids['run_id']}/output", timeout=60)
    assert output.status_code == 200 and output.content.startswith(b"id,")

