"""The OpenAPI description of the entity store's routes: entities, erasure (services.entity_stores,
services.erasure)."""

from __future__ import annotations

from typing import Any

from labeling_ui.openapi_parts import INT, NSTR, STR
from labeling_ui.openapi_parts import obj as _obj
from labeling_ui.openapi_parts import ref as _ref
from matcher.stable_ids import GREW, MERGED, NEW, REMOVED, SHRANK, SPLIT
from services import entities, erasure

CHANGES = (NEW, GREW, MERGED, SPLIT, SHRANK, REMOVED)  # matcher.stable_ids


def _change_fields() -> dict[str, Any]:
    return {"match_id": INT, "change": {"type": "string", "enum": list(CHANGES)}, "related_ids": NSTR,
            "records_before": INT, "records_after": INT}


def entity_paths(op: Any, json: Any, body: Any, path_param: Any, query: Any) -> dict[str, Any]:
    """``op``, ``json``, ``body``, ``path_param`` and ``query`` are labeling_ui.openapi's helpers."""
    tf = path_param("transform_id")
    page = [query("q", {"type": "string"}, "only entities with a record holding this text in some value "
                                            "(case-insensitive)"),
            query("offset", {"type": "integer", "minimum": 0, "maximum": entities.MAX_OFFSET},
                  "entities to skip"),
            query("limit", {"type": "integer", "minimum": 1, "maximum": entities.PAGE_MAX},
                  "entities per page (default 50)")]
    return {
        "/transforms/{transform_id}/entities": {
            "parameters": [tf],
            "get": op("A page of the transform's entities (its entity store, written by FIND_MATCHES and "
                       "FIND_INCREMENTAL_MATCHES runs) by match_id, each with its record count, first keys and "
                       "its first record's values; 404 when the transform has no store yet",
                       {"200": json("EntityPage", "One page of entities")}, "401 404 422", parameters=page),
        },
        "/transforms/{transform_id}/entities/{match_id}": {
            "parameters": [tf, path_param("match_id")],
            "get": op("An entity: its records and its history (every change of every run); an id merged into "
                       "another answers status MERGED with the surviving id in merged_into, an erased one "
                       "REMOVED; 404 for an id never used",
                       {"200": json("Entity", "The entity")}, "401 404"),
        },
        "/transforms/{transform_id}/records": {
            "parameters": [tf],
            "delete": op("Erase records by key, synchronously (no task run): they leave the entity store (their "
                          "entities re-clustered: REMOVED, SPLIT, SHRANK; earlier store versions deleted) and "
                          "every file of the service that held them: the dataset and batch files are rewritten, "
                          "the fitted-model caches deleted, earlier run outputs rewritten without the rows (their "
                          "model files deleted); the answer lists the files. 409 while a run of a transform on "
                          "the same dataset is active; 422 names keys found nowhere",
                          {"200": json("Erasure", "Erased")}, "400 401 403 404 409 415 422",
                          requestBody=body("ErasureRequest")),
        },
    }


def entity_schemas() -> dict[str, Any]:
    return {
        "Change": _obj(_change_fields(), ("match_id", "change")),
        "ChangePage": _obj({"run_id": STR, "store_version": {"type": ["integer", "null"], "description":
                            "the entity store version the run published"},
                            "counts": {"type": "object", "additionalProperties": INT},
                            "total": INT, "offset": INT, "limit": INT,
                            "changes": {"type": "array", "items": _ref("Change")}},
                           ("run_id", "counts", "total", "changes")),
        "EntitySummary": _obj({"match_id": INT, "records": INT, "keys": {"type": "array", "items": STR},
                               "values": {"type": "object", "additionalProperties": NSTR}},
                              ("match_id", "records", "keys", "values")),
        "EntityPage": _obj({"transform_id": STR, "store_version": INT, "offset": INT, "limit": INT, "total": INT,
                            "columns": {"type": "array", "items": STR},
                            "entities": {"type": "array", "items": _ref("EntitySummary")}},
                           ("transform_id", "store_version", "total", "entities")),
        "Entity": _obj({"transform_id": STR, "match_id": INT,
                        "status": {"type": "string", "enum": ["ACTIVE", "MERGED", "REMOVED"]},
                        "merged_into": {"type": ["integer", "null"]},
                        "records": {"type": "array", "items": {"type": "object"}},
                        "history": {"type": "array", "items": _obj({"version": INT, **_change_fields()})},
                        "golden": {"type": ["object", "null"], "description":
                                   "the entity's golden record: per column the surviving value (values) and the key "
                                   "of the record it came from (sources); null unless ACTIVE",
                                   "properties": {"values": {"type": "object", "additionalProperties": NSTR},
                                                  "sources": {"type": "object", "additionalProperties": NSTR}}}},
                       ("transform_id", "match_id", "status", "records", "history", "golden")),
        "ErasureRequest": _obj({"keys": {"type": "array", "items": {"type": "string", "minLength": 1},
                                         "minItems": 1, "maxItems": erasure.MAX_KEYS}}, ("keys",),
                               additionalProperties=False),
        "Erasure": _obj({"transform_id": STR, "erased": {"type": "array", "items": STR},
                         "store_version": {"type": ["integer", "null"],
                                           "description": "the store version without them (null: no store held "
                                                          "them)"},
                         "changes": {"type": "array", "items": _ref("Change")},
                         "files_rewritten": {"type": "array", "items": STR,
                                             "description": "paths under the data directory rewritten without "
                                                            "the records"},
                         "files_deleted": {"type": "array", "items": STR}, "labels_deleted": INT,
                         "datasets_elsewhere": {"type": "array", "items": STR,
                                                "description": "ids of other datasets (of no transform on this "
                                                               "dataset) whose primary-key column holds some of the "
                                                               "keys: not rewritten (a key there may name another "
                                                               "record); delete them if they are copies"}},
                        ("transform_id", "erased", "changes", "files_rewritten", "files_deleted")),
    }
