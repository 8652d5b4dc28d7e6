"""The OpenAPI 3.1 description of /api/v1, written by hand next to the handlers it describes."""

from __future__ import annotations

from typing import Any

from labeling_ui.openapi_columns import choices_field, column_paths, column_schemas
from labeling_ui.openapi_entities import entity_paths, entity_schemas
from labeling_ui.openapi_labeling import labeling_paths, labeling_schemas, labeling_set_fields, policy_schema
from labeling_ui.openapi_models import model_paths, model_schemas
from labeling_ui.openapi_parts import BOOL, INT, NSTR, STR
from labeling_ui.openapi_parts import obj as _obj
from labeling_ui.openapi_parts import ref as _ref
from labeling_ui.openapi_users import NOT_BLANK, TEXT, user_paths, user_schemas
from matcher.labels import MAX_LABEL_LENGTH
from services import run_types
from services.clusters import MAX_OFFSET, PAGE_MAX
from services.labels import MAX_ADHOC
from services.task_runs import TIMEOUT_RANGE
from services.transforms import INTEGERS
from services.users import ROLES
from storage.run_status import RunStatus

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
ERRORS = {"400": "Unreadable data or labels, malformed JSON",
          "401": "Missing, invalid, revoked or expired bearer token, or a disabled user",
          "403": "Labelers may only read and label (and not see users)", "404": "Not found",
          "409": "Conflicts with the current state",
          "413": "Upload over the size limit (MATCHER_MAX_UPLOAD_MB)",
          "415": "Not a CSV or Parquet file, or not JSON", "422": "Invalid field (named in `field`)",
          "503": "The task queue is unreachable",
          "504": "The source database did not answer within its timeout"}



def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _op(summary: str, ok: dict[str, dict[str, Any]], errors: str = "401 403 404", **extra: Any) -> dict[str, Any]:
    responses: dict[str, Any] = dict(ok)
    codes = set(errors.split())
    if IDEMPOTENCY in extra.get("parameters", ()):  # a key in use (409) or used for another path (422)
        codes |= {"409", "422"}
    for code in sorted(codes):
        responses[code] = {"description": ERRORS[code], "content": PROBLEM}
    return {"summary": summary, "responses": responses, **extra}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
               "description": "Retry-safe POST: the first 2xx answer is stored and replayed for the same key; 409 "
                              "while a request with the key is in progress, 422 for a key used on another path"}
NO_CONTENT = {"204": {"description": "Deleted"}}


def _body(name: str, media: str = "application/json") -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": _ref(name)}}}


def _paths() -> dict[str, Any]:
    return {**_dataset_paths(), **_transform_paths(), **_run_paths(),
            **model_paths(_op, _json, _path_param, IDEMPOTENCY),
            **entity_paths(_op, _json, _body, _path_param, _query),
            **labeling_paths(_op, _json, _body, _path_param, _query),
            **user_paths(_op, _json, _body, _path_param), **column_paths(_op, _json),
            "/me": {"get": _op("The signed-in user: name and role", {"200": _json("User", "The caller")}, "401")},
            "/openapi.json": {"get": _op("This document", {"200": {"description": "OpenAPI 3.1",
                                                                   "content": {"application/json": {}}}}, "401")}}


def _dataset_paths() -> dict[str, Any]:
    upload = {"required": True, "content": {"multipart/form-data": {"schema": _ref("DatasetUpload")},
                                            "application/json": {"schema": _ref("DatasetFromTable")}}}
    preview = _query("preview_rows", {"type": "integer", "minimum": 0, "maximum": 100}, "rows to preview")
    return {
        "/datasets": {
            "post": _op("Create a dataset from an uploaded CSV/Parquet file or a database table",
                        {"201": _json("Dataset", "Created, with a preview of the first rows")},
                        "400 401 403 413 415 422 504", requestBody=upload, parameters=[IDEMPOTENCY]),
            "get": _op("List datasets", {"200": _json("DatasetList", "Datasets")}, "401"),
        },
        "/datasets/{dataset_id}": {
            "parameters": [_path_param("dataset_id")],
            "get": _op("A dataset with a preview of its first rows", {"200": _json("Dataset", "The dataset")},
                       "401 404 422", parameters=[preview]),
            "delete": _op("Delete a dataset (409 while transforms use it)", NO_CONTENT, "401 403 404 409"),
        },
    }


def _transform_paths() -> dict[str, Any]:
    tf = _path_param("transform_id")
    return {
        "/transforms": {
            "post": _op("Create a transform", {"201": _json("Transform", "Created (NOT_READY until labeled)")},
                        "400 401 403 415 422", requestBody=_body("TransformCreate"), parameters=[IDEMPOTENCY]),
            "get": _op("List transforms", {"200": _json("TransformList", "Transforms")}, "401"),
        },
        "/transforms/{transform_id}": {
            "parameters": [tf],
            "get": _op("A transform", {"200": _json("Transform", "The transform")}, "401 404"),
            "patch": _op("Change the name, knobs, flags or column types", {"200": _json("Transform", "Updated")},
                         "400 401 403 404 415 422", requestBody=_body("TransformPatch")),
            "delete": _op("Delete a transform with its labels and runs (409 while a run is active)", NO_CONTENT,
                          "401 403 404 409"),
        },
        "/transforms/{transform_id}/labels": {
            "parameters": [tf],
            "post": _op("Import a labels file (validated now, written by an IMPORT_LABELS run)",
                        {"202": _json("TaskRun", "Accepted: the IMPORT_LABELS run")},
                        "400 401 403 404 415 422 503", requestBody=_body("LabelsUpload", "multipart/form-data"),
                        parameters=[IDEMPOTENCY]),
        },
        "/transforms/{transform_id}/labeling-sets": {
            "parameters": [tf],
            "get": _op("Labeling sets (proposed or labeled)", {"200": _json("LabelingSetList", "Sets")}, "401 404"),
            "post": _op("Label an ad-hoc set of records (labelers allowed); its id is the uuid5 of the sorted keys, "
                        "so posting the same records again replaces their labels",
                        {"201": _json("LabelingSet", "Created"), "200": _json("LabelingSet", "Labels replaced")},
                        "400 401 404 409 415 422", requestBody=_body("LabelingSetCreate")),
        },
        "/transforms/{transform_id}/labeling-sets/{set_id}": {
            "parameters": [tf, _path_param("set_id")],
            "get": _op("A set's records, labels and reason", {"200": _json("LabelingSet", "The set")}, "401 404"),
            "put": _op("Replace the set's labels (labelers allowed)", {"200": _json("LabelingSet", "Saved")},
                       "400 401 404 415 422", requestBody=_body("LabelsPut")),
        },
    }


def _run_paths() -> dict[str, Any]:
    run = _path_param("run_id")
    files = {"text/csv": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "object"}},
             "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}}
    filters = [_query("type", {"type": "string", "enum": list(run_types.names())}, "only this type"),
               _query("status", STATUS, "only this status"),
               _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "at most this many")]
    offers = "; ".join(f"{fmt} for {', '.join(run_types.offering(fmt))}" for fmt in run_types.download_formats())
    fmt = _query("format", {"type": "string", "enum": list(run_types.download_formats())},
                 f"convert: {offers} (default: the file as published)")
    stems = list(run_types.file_stems())
    file = _query("file", {"type": "string", "enum": stems},
                  "another file of the run instead of its main output: "
                  + "; ".join(f"{stem} for {', '.join(n for n, t in run_types.REGISTRY.items() if t.file(stem))}"
                              for stem in stems))
    return {
        "/transforms/{transform_id}/task-runs": {
            "parameters": [_path_param("transform_id")],
            "post": _op("Start a task run", {"202": _json("TaskRun", "Accepted: the run is STARTING")},
                        "400 401 403 404 409 415 422 503", requestBody=_body("TaskRunCreate"),
                        parameters=[IDEMPOTENCY]),
            "get": _op("The transform's task runs, newest first", {"200": _json("TaskRunList", "Task runs")},
                       "401 404 422", parameters=filters),
        },
        "/task-runs/{run_id}": {
            "parameters": [run],
            "get": _op("A task run", {"200": _json("TaskRun", "The run")}, "401 404"),
        },
        "/task-runs/{run_id}/cancel": {
            "parameters": [run],
            "post": _op("Cancel: STARTING/RUNNING -> STOPPING", {"202": _json("TaskRun", "Stopping")},
                        "401 403 404 409", parameters=[IDEMPOTENCY]),
        },
        "/task-runs/{run_id}/output": {
            "parameters": [run],
            "get": _op("Download the output of a SUCCEEDED run", {"200": {"description": "The file",
                                                                          "content": files}},
                       "401 404 409 422", parameters=[fmt, file]),
        },
        "/task-runs/{run_id}/changes": {
            "parameters": [run],
            "get": _op("A page of the entity changelog of a SUCCEEDED FIND_MATCHES or FIND_INCREMENTAL_MATCHES "
                       "run (one row per entity touched), with the count of each change",
                       {"200": _json("ChangePage", "One page of changes")}, "401 404 422",
                       parameters=[_query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                                          "rows to skip"),
                                   _query("limit", {"type": "integer", "minimum": 1, "maximum": PAGE_MAX},
                                          "rows per page (default 100)")]),
        },
        "/task-runs/{run_id}/clusters": {
            "parameters": [run],
            "get": _op("A page of a SUCCEEDED FIND_MATCHES run's clusters of two or more records, largest first, "
                       "then least confident (mean match_confidence_score), then match_id; each with its records",
                       {"200": _json("ClusterPage", "One page of clusters")}, "401 404 422",
                       parameters=[_query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                                          "clusters to skip"),
                                   _query("limit", {"type": "integer", "minimum": 1, "maximum": PAGE_MAX},
                                          "clusters per page (default 100)")]),
        },
        "/task-runs/{run_id}/clusters/{match_id}/pairs": {
            "parameters": [run, _path_param("match_id")],
            "get": _op("A cluster of a SUCCEEDED FIND_MATCHES run: its scored pairs (match probability at least "
                       "min_probability), strongest first, with each column's contribution in log2 odds; 404 names "
                       "the unknown run or cluster, or a run that is not a SUCCEEDED FIND_MATCHES",
                       {"200": _json("ClusterPairs", "The cluster's pairs")}, "401 404"),
        },
    }



TIME, NTIME = {"type": "string", "format": "date-time"}, {"type": ["string", "null"], "format": "date-time"}
UNIT = {"type": "number", "minimum": 0, "maximum": 1}
LABEL = {"type": "string", "minLength": 1, "maxLength": MAX_LABEL_LENGTH}


def _transform_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {"name": TEXT, "precision_recall_tradeoff": UNIT, "accuracy_cost_tradeoff": UNIT,
                              "enforce_provided_labels": BOOL,
                              "one_to_one": {"type": ["boolean", "null"],
                                             "description": "linkage: null decides from the data and labels"},
                              "survivorship": {"type": ["object", "null"], "description":
                                               "golden records: column -> {rule: most_frequent | most_recent | "
                                               "longest | source_order | most_complete, date_column, "
                                               "source_column, source_order}; null: each column's type default",
                                               "additionalProperties": {"type": "object"}},
                              "labeling_policy": policy_schema(), "column_types": choices_field()}
    fields.update({k: {"type": "integer", "minimum": lo, "maximum": hi} for k, (lo, hi) in INTEGERS.items()})
    return fields


STATUS = {"type": "string", "enum": [s.value for s in RunStatus]}


def _schemas() -> dict[str, Any]:
    patch = _transform_fields()
    create = {"dataset_id": {**TEXT, "maxLength": 36}, "primary_key": TEXT,
              "source_column": {**TEXT, "type": ["string", "null"]}, **patch}
    given = {"type": "string", "pattern": NOT_BLANK}
    return {
        "Problem": _obj({"type": STR, "title": STR, "status": INT, "detail": STR, "field": STR, "row": INT,
                         "line": INT},
                        ("type", "title", "status", "detail")),
        "User": _obj({"id": STR, "name": STR, "role": {"type": "string", "enum": list(ROLES)}},
                     ("id", "name", "role")),
        "Column": _obj({"name": STR, "type": STR, "unique_non_empty": {
            "type": ["boolean", "null"], "description": "a value on every row, never twice: a possible primary key "
            "(one dataset: null when uploaded before this was looked for; absent from the list)"}}, ("name", "type")),
        "Dataset": _obj({"id": STR, "name": STR, "source": STR, "columns": {"type": "array", "items": _ref("Column")},
                         "row_count": INT, "created_by": NSTR, "created_at": TIME,
                         "preview": {"type": "array", "items": {"type": "object"}}},
                        ("id", "name", "columns", "row_count")),
        "DatasetList": _obj({"datasets": {"type": "array", "items": _ref("Dataset")}}, ("datasets",)),
        "DatasetUpload": _obj({"file": {"type": "string", "format": "binary"}, "name": TEXT}, ("file",)),
        "DatasetFromTable": _obj({"database_url": given, "table": given,
                                  "schema": {**given, "type": ["string", "null"]}, "name": TEXT},
                                 ("database_url", "table"), additionalProperties=False),
        "TransformCreate": _obj(create, ("name", "dataset_id", "primary_key"), additionalProperties=False),
        "TransformPatch": _obj(patch, additionalProperties=False),
        "Transform": _obj({"id": STR, **create, "status": {"type": "string", "enum": ["NOT_READY", "READY"]},
                           "label_count": INT, "evaluation_metrics": {"type": ["object", "null"]},
                           "columns": {"type": "array", "items": _ref("ColumnInUse"),
                                       "description": "each column besides the keys, with the type it is matched as"},
                           "created_by": NSTR, "created_at": TIME, "updated_at": TIME}, ("id", "status")),
        "TransformList": _obj({"transforms": {"type": "array", "items": _ref("Transform")}}, ("transforms",)),
        **_run_create_schemas(),
        "TaskRun": _obj({"id": STR, "transform_id": STR, "type": {"type": "string", "enum": list(run_types.names())},
                         "status": STATUS, "progress": {"type": "number"},
                         "stage": NSTR, "error_message": NSTR, "params": {"type": "object"}, "has_output": BOOL,
                         "output_format": NSTR, "timeout_minutes": INT, "attempts": INT, "created_by": NSTR,
                         "created_at": TIME, "started_on": NTIME, "completed_on": NTIME,
                         "execution_seconds": {"type": ["number", "null"]}}, ("id", "type", "status")),
        "TaskRunList": _obj({"task_runs": {"type": "array", "items": _ref("TaskRun")}}, ("task_runs",)),
        "ClusterPair": _obj({"key_a": STR, "key_b": STR, "probability": {"type": ["number", "null"]},
                             "contributions": {"type": "object", "additionalProperties": {"type": ["number", "null"]},
                                               "description": "column -> log2 odds it adds to the pair's score"}},
                            ("key_a", "key_b", "probability", "contributions")),
        "Cluster": _obj({"match_id": STR, "size": INT, "mean_confidence": {"type": ["number", "null"]},
                         "records": {"type": "array", "items": {"type": "object", "additionalProperties": NSTR}}},
                        ("match_id", "size", "records")),
        "ClusterPage": _obj({"run_id": STR, "offset": INT, "limit": INT, "total_clusters": INT,
                             "records_in_clusters": INT, "columns": {"type": "array", "items": STR},
                             "clusters": {"type": "array", "items": _ref("Cluster")},
                             "warning": {"type": ["string", "null"],
                                         "description": "why the unsupervised model's matches are not to be "
                                                        "trusted yet (null when nothing shows)"}},
                            ("run_id", "total_clusters", "clusters")),
        "ClusterPairs": _obj({"run_id": STR, "match_id": STR, "min_probability": UNIT,
                              "pairs": {"type": "array", "items": _ref("ClusterPair")}},
                             ("run_id", "match_id", "pairs")),
        "LabelsUpload": _obj({"file": {"type": "string", "format": "binary"}, "replace": BOOL,
                              "gold": {**BOOL, "description": "the file's sets become gold sets (answer keys)"}},
                             ("file",)),
        "Label": _obj({"record_key": STR, "label": STR, "labeled_by": NSTR, "labeled_at": TIME},
                      ("record_key", "label")),
        "LabelingSet": _obj({"set_id": STR, "task_run_id": NSTR, "reason": {"type": "object"},
                             "record_keys": {"type": "array", "items": STR},
                             "records": {"type": "array", "items": {"type": "object"}},
                             "labels": {"type": "array", "items": _ref("Label")}, "created_at": NTIME,
                             "suggested_groups": {
                                 "type": ["array", "null"], "items": {"type": "array", "items": STR},
                                 "description": "the model's guess at the set's entities when the set was generated: "
                                                "record keys linked by a pair at or above the model's threshold, "
                                                "every record in exactly one group; null when the set has none"},
                             **labeling_set_fields()},
                            ("set_id", "record_keys", "records", "labels")),
        "LabelingSetSummary": _obj({"set_id": STR, "task_run_id": NSTR, "size": INT, "labeled": INT,
                                    "created_at": NTIME, "answers": INT, "review_state": NSTR,
                                    "gold": {"type": ["boolean", "null"]}}, ("set_id", "size", "labeled")),
        "LabelingSetList": _obj({"labeling_sets": {"type": "array", "items": _ref("LabelingSetSummary")}},
                                ("labeling_sets",)),
        "LabelingSetCreate": _obj({"records": {"type": "array", "items": {"type": "string", "minLength": 1},
                                               "minItems": 2, "maxItems": MAX_ADHOC, "uniqueItems": True},
                                   "labels": {"type": "array", "items": LABEL}}, ("records", "labels"),
                                  additionalProperties=False),
        "LabelPut": _obj({"record_key": STR, "label": {**NSTR, "maxLength": MAX_LABEL_LENGTH}}, ("record_key",),
                         additionalProperties=False),
        "LabelsPut": _obj({"labels": {"type": "array", "items": _ref("LabelPut")}}, ("labels",),
                          additionalProperties=False),
    }


def _run_create_schemas() -> dict[str, Any]:
    """TaskRunCreate is one of a body per startable type (``services.run_types``), each with that type's params;
    the ``type`` field tells which."""
    low, high = TIMEOUT_RANGE
    timeout = {"type": "integer", "minimum": low, "maximum": high,
               "description": "this run's timeout in minutes (default: the transform's)"}
    bodies = {f"TaskRunCreate{_camel(name)}": _obj(
        {"type": {"type": "string", "const": name},
         "params": _obj({p.name: p.schema() for p in run_types.get(name).params}, run_types.get(name).required(),
                        additionalProperties=False),
         "timeout_minutes": timeout}, ("type", "params") if run_types.get(name).required() else ("type",),
        description=_run_description(run_types.get(name)))
        for name in run_types.startable()}
    mapping = {name: f"#/components/schemas/TaskRunCreate{_camel(name)}" for name in run_types.startable()}
    return {"TaskRunCreate": {"oneOf": [_ref(schema) for schema in bodies],
                              "discriminator": {"propertyName": "type", "mapping": mapping}}, **bodies}


def _camel(name: str) -> str:
    return "".join(word.capitalize() for word in name.split("_"))


def _run_description(run_type: run_types.RunType) -> str:
    needs = "; needs labels" if run_type.needs_labels else ""
    needs += "; needs the transform's entity store (409 before its first FIND_MATCHES)" if run_type.needs_store \
        else ""
    return f"{run_type.label}: publishes {run_type.output}{needs}"


def build_spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "matcher entity-matching service", "version": "1.0.0",
                 "description": "Datasets, transforms, labels and task runs (Glue FindMatches resource model). "
                                "Errors are RFC 9457 problem details."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": _paths(),
        "components": {"schemas": {**_schemas(), **user_schemas(), **entity_schemas(), **labeling_schemas(),
                                   **model_schemas(), **column_schemas()},
                       "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    }
