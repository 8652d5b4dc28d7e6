"""The OpenAPI description of a transform's model versions: list, download, import, delete (services.models,
services.model_import; docs/model-format.md)."""

from __future__ import annotations

from typing import Any

from labeling_ui.openapi_parts import BOOL, INT, NSTR
from labeling_ui.openapi_parts import obj as _obj
from labeling_ui.openapi_parts import ref as _ref

ID = {"type": "string", "minLength": 1, "maxLength": 36}
IN_EFFECT = ("While the newest imported model has no label of the transform newer than it, FIND_MATCHES applies "
             "it instead of fitting (nothing learnt; the transform's precision_recall_tradeoff, "
             "enforce_provided_labels and one_to_one still decide), giving the clusters and scores of `matcher "
             "match DATA --model MODEL` with those flags. Labeling set generation and evaluation use the "
             "transform's own fit; once a label is given after the import, FIND_MATCHES fits again and the import "
             "stays listed (in_effect false) until deleted.")


def model_paths(op: Any, json: Any, path_param: Any, idempotency: dict[str, Any]) -> dict[str, Any]:
    """``op``, ``json`` and ``path_param`` are labeling_ui.openapi's helpers, ``idempotency`` its header."""
    tf = path_param("transform_id")
    upload = {"required": True, "content": {"multipart/form-data": {"schema": _ref("ModelUpload")},
                                            "application/json": {"schema": _ref("ModelCopy")}}}
    return {
        "/transforms/{transform_id}/models": {
            "parameters": [tf],
            "get": op("The model of each succeeded FIND_MATCHES run and each imported model, newest first",
                      {"200": json("ModelList", "Model versions")}, "401 404"),
            "post": op("Import a model file (multipart `file`: a model saved by `matcher match --save-model` or "
                       "downloaded from a transform) or another transform's version (JSON {transform_id, "
                       "version}). Checked in full first: a zip (422), within MATCHER_MAX_MODEL_MB (413), every "
                       "checksum and the schema version (422), the transform's primary key and source column "
                       "(422), every column the model reads in the transform's dataset (422 naming it); nothing "
                       "is kept on failure. " + IN_EFFECT,
                       {"201": json("Model", "Imported: the new version, in effect")},
                       "400 401 403 404 413 415 422", requestBody=upload, parameters=[idempotency]),
        },
        "/transforms/{transform_id}/models/{version}": {
            "parameters": [tf, path_param("version")],
            "get": op("Download a model version (docs/model-format.md), for `matcher match --model` or an import; "
                      "an imported version byte for byte as it was imported",
                      {"200": {"description": "The model file",
                               "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}},
                      "401 404"),
            "delete": op("Delete an imported model version (409 for a FIND_MATCHES run's version); the previous "
                         "import, if any, is then the newest", {"204": {"description": "Deleted"}},
                         "401 403 404 409"),
        },
    }


def model_schemas() -> dict[str, Any]:
    time, ntime = {"type": "string", "format": "date-time"}, {"type": ["string", "null"], "format": "date-time"}
    return {
        "Model": _obj({"version": {"type": "string", "description": "the id of the FIND_MATCHES run that wrote it, "
                                                                   "or of the import"},
                       "created_at": time, "labels": {"type": "integer", "description": "labeled pairs it learnt from"},
                       "schema_version": INT,
                       "metrics": {"type": "object", "description": "a run's statistics: records, candidate_pairs, "
                                                                    "clusters, records_in_clusters, model, threshold, "
                                                                    "one_to_one, blocking_recall, imported_model (the "
                                                                    "import it applied); an import's: records (of "
                                                                    "the data it was fitted on)"},
                       "imported": {**BOOL, "description": "imported (POST .../models), not written by a run"},
                       "filename": {**NSTR, "description": "an import's file name as uploaded"},
                       "imported_at": ntime, "imported_by": NSTR,
                       "in_effect": {**BOOL, "description": "FIND_MATCHES applies this import now"}},
                      ("version", "created_at", "labels", "schema_version", "metrics", "imported", "in_effect")),
        "ModelList": _obj({"models": {"type": "array", "items": _ref("Model")}}, ("models",)),
        "ModelUpload": _obj({"file": {"type": "string", "format": "binary"}}, ("file",)),
        "ModelCopy": _obj({"transform_id": ID, "version": ID}, ("transform_id", "version"),
                          additionalProperties=False),
    }
