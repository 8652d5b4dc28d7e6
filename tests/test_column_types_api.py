"""The column-type registry (matcher.column_types) reaches the API: ``GET /column-types`` lists it, a transform's
``column_types`` choices are checked against it and the dataset's columns, the OpenAPI document's enum is built from
it, and a choice changes what a run compares. A type registered in the registry alone is documented and accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from api_support import Api, is_problem, sqlite_api
from rapidfuzz.distance import Levenshtein

from matcher import column_types, normalize
from matcher.column_types import ColumnType
from services import engine
from services.clusters import CONTRIBUTION
from storage.artifacts import ArtifactStore


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return sqlite_api(tmp_path)


def _schemas(api: Api) -> dict[str, Any]:
    schemas: dict[str, Any] = api.call("GET", "/openapi.json", api.labeler).get_json()["components"]["schemas"]
    return schemas


def _documented_types(schemas: dict[str, Any]) -> list[list[str]]:
    """Every place the document enumerates the type names."""
    fields = [schemas[name]["properties"]["column_types"]["additionalProperties"]["enum"]
              for name in ("TransformCreate", "TransformPatch", "Transform")]
    return [*fields, schemas["ColumnType"]["properties"]["name"]["enum"],
            schemas["ColumnInUse"]["properties"]["type"]["enum"]]


def _listed(api: Api) -> dict[str, dict[str, str]]:
    body = api.call("GET", "/column-types", api.labeler).get_json()
    return {entry["name"]: entry for entry in body["column_types"]}


def _patch(api: Api, tid: str, choices: Any) -> Any:
    return api.call("PATCH", f"/transforms/{tid}", json={"column_types": choices})


def _columns(api: Api, tid: str) -> dict[str, tuple[str, bool]]:
    body = api.call("GET", f"/transforms/{tid}").get_json()
    return {c["name"]: (c["type"], c["chosen"]) for c in body["columns"]}


def test_the_document_and_the_listing_are_the_registry(api: Api) -> None:
    assert all(enum == list(column_types.names()) for enum in _documented_types(_schemas(api)))
    listed = _listed(api)
    assert list(listed) == list(column_types.names())
    for name, entry in listed.items():
        assert entry["label"] and entry["label"] == column_types.label(name)
        assert entry["description"] and entry["description"] == column_types.description(name)
    assert len({entry["label"] for entry in listed.values()}) == len(listed)  # a select tells them apart


def test_a_transform_shows_each_column_with_its_guessed_or_chosen_type(api: Api) -> None:
    transform = api.transform(column_types={"city": "categorical"})
    dataset = api.call("GET", f"/datasets/{transform['dataset_id']}").get_json()
    guessed = {c["name"]: c["type"] for c in dataset["columns"]}
    assert transform["column_types"] == {"city": "categorical"}
    shown = _columns(api, transform["id"])
    assert list(shown) == [c for c in guessed if c != "id"]  # the dataset's order, the primary key left out
    assert shown["city"] == ("categorical", True)
    assert all(shown[c] == (guessed[c], False) for c in shown if c != "city")

    assert _patch(api, transform["id"], {"email": "ignore"}).status_code == 200  # replaces the whole object
    shown = _columns(api, transform["id"])
    assert shown["email"] == ("ignore", True) and shown["city"] == (guessed["city"], False)
    assert _patch(api, transform["id"], None).get_json()["column_types"] is None
    assert not any(chosen for _, chosen in _columns(api, transform["id"]).values())


def test_a_bad_choice_is_refused_naming_it_and_nothing_is_written(api: Api) -> None:
    tid = api.transform(column_types={"city": "categorical"})["id"]
    refused = is_problem(_patch(api, tid, {"city": "town"}), 422, "column_types.city")
    assert all(name in refused["detail"] for name in column_types.names())
    assert "phone" in is_problem(_patch(api, tid, {"fax": "phone"}), 422, "column_types.fax")["detail"]
    is_problem(_patch(api, tid, {"id": "short_code"}), 422, "column_types.id")
    is_problem(_patch(api, tid, {"city": 3}), 422, "column_types.city")
    is_problem(_patch(api, tid, ["city", "categorical"]), 422, "column_types")
    is_problem(_patch(api, tid, dict.fromkeys(_columns(api, tid), "ignore")), 422, "column_types")
    assert api.call("GET", f"/transforms/{tid}").get_json()["column_types"] == {"city": "categorical"}
    dataset_id = api.dataset()["id"]
    is_problem(api.call("POST", "/transforms", json={"name": "x", "dataset_id": dataset_id, "primary_key": "id",
                                                     "column_types": {"city": "town"}}), 422, "column_types.city")
    assert len(api.call("GET", "/transforms").get_json()["transforms"]) == 1
    is_problem(api.call("PATCH", f"/transforms/{tid}", api.labeler, json={"column_types": None}), 403)


def _find_matches(api: Api, tid: str) -> pd.DataFrame:
    """A FIND_MATCHES run's explained pairs (pairs.parquet: a ``<column>_contribution`` per compared column)."""
    run = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"}).get_json()
    store = ArtifactStore(api.config.data_dir)
    assert engine.execute(api.db, store, run["id"]) == "SUCCEEDED"
    return pd.read_parquet(store.output_path(run["id"], "pairs.parquet"))


def _compared(pairs: pd.DataFrame) -> set[str]:
    return {c.removesuffix(CONTRIBUTION) for c in pairs.columns if c.endswith(CONTRIBUTION)}


def test_a_column_chosen_as_ignore_is_no_longer_compared(api: Api) -> None:
    tid = api.transform(rows=60)["id"]
    before = _find_matches(api, tid)
    assert "email" in _compared(before) and len(before)
    assert _patch(api, tid, {"email": "ignore"}).status_code == 200
    after = _find_matches(api, tid)  # a new fit: the choice is part of the cached fit's version
    assert _compared(after) == _compared(before) - {"email"}
    assert _patch(api, tid, None).status_code == 200
    assert _compared(_find_matches(api, tid)) == _compared(before)


def _initial(series: pd.Series) -> pd.Series:
    return normalize.basic(series).str[:1]


def test_a_type_registered_in_the_registry_alone_is_documented_accepted_and_matched(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    initial = ColumnType("initial", _initial, (("first", Levenshtein.normalized_similarity),), (1.0,),
                         label="Initial", description="the first letter only")
    monkeypatch.setitem(column_types.REGISTRY, initial.name, initial)
    assert all("initial" in enum for enum in _documented_types(_schemas(api)))
    assert _listed(api)["initial"]["label"] == "Initial"

    tid = api.transform(rows=60)["id"]
    assert _patch(api, tid, {"given_name": "initial"}).status_code == 200
    assert _columns(api, tid)["given_name"] == ("initial", True)
    assert "given_name" in _compared(_find_matches(api, tid))
