"""REST API v1: thin handlers that parse the request, call one service and shape the answer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request, send_file, url_for

from labeling_ui import schemas
from labeling_ui.auth import authenticate_request
from labeling_ui.extensions import matcher_services as ms
from labeling_ui.idempotency import idempotent
from labeling_ui.openapi import build_spec
from services import clusters, datasets, entities, erasure, labels, model_import, models, outputs, task_runs, transforms
from services.answers import Caller
from services.errors import ValidationError
from services.validation import only_fields

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(authenticate_request)
MAX_PREVIEW = 100
UI_CLIENT = "web-ui"


def request_caller() -> Caller:
    """Who asks, with the audit trail's source: the web UI says so in a header (``X-Matcher-Client: web-ui``)."""
    source = "ui" if request.headers.get("X-Matcher-Client") == UI_CLIENT else "api"
    return Caller(g.user.name, g.user.role, source)


def _json_body() -> Any:
    return request.get_json()  # a malformed or non-JSON body is Werkzeug's 400/415, as problem JSON


def _created(body: dict[str, Any], status: int, endpoint: str, **values: Any) -> Any:
    response = jsonify(body)
    response.status_code = status
    response.headers["Location"] = url_for(endpoint, **values)
    return response


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(build_spec())


@bp.get("/me")
def me() -> Any:
    """The caller (the web UI's header and sign-in check)."""
    return jsonify({"id": g.user.id, "name": g.user.name, "role": g.user.role})


# -- datasets ---------------------------------------------------------------------------------------------


@bp.post("/datasets")
@idempotent
def create_dataset() -> Any:
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise ValidationError("send the table as a multipart file field named 'file'", field="file")
        dataset = datasets.create_from_upload(ms.config, ms.db, upload.filename, upload.stream,
                                              request.form.get("name"), g.user.id)
    else:
        body = _json_body()
        if not isinstance(body, dict):
            raise ValidationError("send a multipart 'file' or a JSON object {database_url, table}")
        only_fields(body, ("database_url", "table", "schema", "name"))
        dataset = datasets.create_from_table(ms.config, ms.db, body.get("database_url"), body.get("table"),
                                             body.get("schema"), body.get("name"), g.user.id)
    preview = datasets.preview(ms.config, dataset.id)
    keys = datasets.key_candidates(ms.config, dataset.id)
    return _created(schemas.dataset_detail_json(dataset, preview, keys), 201, "api.get_dataset", dataset_id=dataset.id)


@bp.get("/datasets")
def list_datasets() -> Any:
    return jsonify({"datasets": [schemas.dataset_json(d) for d in datasets.list_datasets(ms.db)]})


@bp.get("/datasets/<dataset_id>")
def get_dataset(dataset_id: str) -> Any:
    rows = schemas.parse_int(request.args.get("preview_rows"), "preview_rows", datasets.PREVIEW_ROWS)
    if not 0 <= rows <= MAX_PREVIEW:
        raise ValidationError(f"preview_rows must be in [0, {MAX_PREVIEW}]", field="preview_rows")
    dataset = datasets.get_dataset(ms.db, dataset_id)
    keys = datasets.key_candidates(ms.config, dataset.id)
    return jsonify(schemas.dataset_detail_json(dataset, datasets.preview(ms.config, dataset.id, rows), keys))


@bp.delete("/datasets/<dataset_id>")
def delete_dataset(dataset_id: str) -> Any:
    datasets.delete_dataset(ms.config, ms.db, dataset_id)
    return "", 204


@bp.get("/column-types")
def list_column_types() -> Any:
    """The column-type registry: what a transform's ``column_types`` may say."""
    return jsonify(schemas.column_types_json())


# -- transforms -------------------------------------------------------------------------------------------


@bp.post("/transforms")
@idempotent
def create_transform() -> Any:
    info = transforms.create_transform(ms.config, ms.db, _json_body(), g.user.id)
    return _created(schemas.transform_json(info), 201, "api.get_transform", transform_id=info.transform.id)


@bp.get("/transforms")
def list_transforms() -> Any:
    return jsonify({"transforms": [schemas.transform_json(t) for t in transforms.list_transforms(ms.db)]})


@bp.get("/transforms/<transform_id>")
def get_transform(transform_id: str) -> Any:
    return jsonify(schemas.transform_json(transforms.get_transform(ms.db, transform_id)))


@bp.patch("/transforms/<transform_id>")
def patch_transform(transform_id: str) -> Any:
    return jsonify(schemas.transform_json(transforms.patch_transform(ms.db, transform_id, _json_body())))


@bp.delete("/transforms/<transform_id>")
def delete_transform(transform_id: str) -> Any:
    transforms.delete_transform(ms.config, ms.db, transform_id)
    return "", 204


# -- model versions ---------------------------------------------------------------------------------------


@bp.get("/transforms/<transform_id>/models")
def list_models(transform_id: str) -> Any:
    """The model of each succeeded FIND_MATCHES run and each imported model, newest first (docs/model-format.md)."""
    found = models.list_models(ms.config, ms.db, transform_id)
    return jsonify({"models": [schemas.model_json(m) for m in found]})


@bp.post("/transforms/<transform_id>/models")
@idempotent
def import_model(transform_id: str) -> Any:
    """Import a model file (multipart ``file``) or another transform's version (JSON ``{transform_id, version}``):
    FIND_MATCHES applies it until the transform has labels newer than it (services.model_import)."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise ValidationError("send the model as a multipart file field named 'file'", field="file")
        found = model_import.import_model(ms.config, ms.db, transform_id, upload.filename, upload.stream,
                                          g.user.name)
    else:
        found = model_import.copy_model(ms.config, ms.db, transform_id, _json_body(), g.user.name)
    return _created(schemas.model_json(found), 201, "api.download_model", transform_id=transform_id,
                    version=found.version)


@bp.delete("/transforms/<transform_id>/models/<version>")
def delete_model(transform_id: str, version: str) -> Any:
    """Remove an imported model version (409 for a run's version)."""
    model_import.delete_import(ms.config, ms.db, transform_id, version)
    return "", 204


@bp.get("/transforms/<transform_id>/models/<version>")
def download_model(transform_id: str, version: str) -> Any:
    """One model version as its file, for ``matcher match --model``."""
    found = models.get_model(ms.config, ms.db, transform_id, version)
    return send_file(found.path, mimetype="application/zip", as_attachment=True,
                     download_name=f"model-{transform_id}-{version}.zip")


# -- task runs --------------------------------------------------------------------------------------------


def _accepted(run: Any) -> Any:
    return _created(schemas.task_run_json(run), 202, "api.get_task_run", run_id=run.id)


@bp.post("/transforms/<transform_id>/task-runs")
@idempotent
def start_task_run(transform_id: str) -> Any:
    body = _json_body()
    if not isinstance(body, dict):
        raise ValidationError("request body must be a JSON object {type, params, timeout_minutes}")
    params = task_runs.check_params(body.get("type"), body.get("params"))
    timeout = task_runs.check_timeout(body.get("timeout_minutes"))
    run = task_runs.start_run(ms.config, ms.db, transform_id, body["type"], params, g.user.id,
                              ms.state.dispatch, timeout_minutes=timeout)
    return _accepted(run)


@bp.post("/transforms/<transform_id>/labels")
@idempotent
def import_labels(transform_id: str) -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError("send the labels as a multipart file field named 'file'", field="file")
    replace = schemas.parse_bool(request.form.get("replace"), "replace")
    gold = schemas.parse_bool(request.form.get("gold"), "gold")
    run = labels.start_import(ms.config, ms.db, transform_id, upload.filename, upload.stream, replace,
                              g.user.id, ms.state.dispatch, gold=gold)
    return _accepted(run)


@bp.get("/transforms/<transform_id>/task-runs")
def list_task_runs(transform_id: str) -> Any:
    limit = schemas.parse_int(request.args.get("limit"), "limit", 100)
    runs = task_runs.list_runs(ms.db, transform_id, request.args.get("type") or None,
                               request.args.get("status") or None, limit)
    return jsonify({"task_runs": [schemas.task_run_json(r) for r in runs]})


@bp.get("/task-runs/<run_id>")
def get_task_run(run_id: str) -> Any:
    return jsonify(schemas.task_run_json(task_runs.get_run(ms.db, run_id)))


@bp.post("/task-runs/<run_id>/cancel")
@idempotent
def cancel_task_run(run_id: str) -> Any:
    run = task_runs.cancel_run(ms.config, ms.db, run_id, ms.state.revoke)
    return jsonify(schemas.task_run_json(run)), 202


@bp.get("/task-runs/<run_id>/output")
def task_run_output(run_id: str) -> Any:
    found = outputs.output_file(ms.config, ms.db, run_id, request.args.get("format") or None,
                                request.args.get("file") or None)
    return send_file(found.path, mimetype=found.media_type, as_attachment=True,
                     download_name=found.download_name)


@bp.get("/task-runs/<run_id>/clusters")
def list_clusters(run_id: str) -> Any:
    """A page of a FIND_MATCHES run's clusters (largest, then least confident, first) with their records."""
    offset = schemas.parse_int(request.args.get("offset"), "offset", 0)
    limit = schemas.parse_int(request.args.get("limit"), "limit", 100)
    return jsonify(schemas.cluster_page_json(clusters.list_clusters(ms.config, ms.db, run_id, offset, limit)))


@bp.get("/task-runs/<run_id>/clusters/<match_id>/pairs")
def cluster_pairs(run_id: str, match_id: str) -> Any:
    """A FIND_MATCHES cluster's scored pairs with per-column contributions (the Matches page's explanation)."""
    return jsonify(schemas.cluster_pairs_json(clusters.cluster_pairs(ms.config, ms.db, run_id, match_id)))


@bp.get("/task-runs/<run_id>/changes")
def run_changes(run_id: str) -> Any:
    """A page of the entity changelog of a FIND_MATCHES or FIND_INCREMENTAL_MATCHES run, with counts per change."""
    run = task_runs.get_run(ms.db, run_id)
    offset = schemas.parse_int(request.args.get("offset"), "offset", 0)
    limit = schemas.parse_int(request.args.get("limit"), "limit", 100)
    page = entities.run_changes(ms.config, run.id, run.type, run.status, run.output, offset, limit)
    return jsonify(schemas.change_page_json(page))


# -- entities (the transform's entity store) -------------------------------------------------------------------


@bp.get("/transforms/<transform_id>/entities")
def list_entities(transform_id: str) -> Any:
    """A page of the entity store's entities by match_id; ``q`` searches the values of their records."""
    offset = schemas.parse_int(request.args.get("offset"), "offset", 0)
    limit = schemas.parse_int(request.args.get("limit"), "limit", 50)
    page = entities.list_entities(ms.config, ms.db, transform_id, request.args.get("q") or None, offset, limit)
    return jsonify(schemas.entity_page_json(page))


@bp.get("/transforms/<transform_id>/entities/<match_id>")
def get_entity(transform_id: str, match_id: str) -> Any:
    number = schemas.parse_match_id(match_id, transform_id)
    return jsonify(schemas.entity_json(entities.get_entity(ms.config, ms.db, transform_id, number)))


@bp.delete("/transforms/<transform_id>/records")
def erase_records(transform_id: str) -> Any:
    """Erasure, synchronous: the records leave the store and every file the service holds (services.erasure)."""
    return jsonify(schemas.erasure_json(erasure.erase_records(ms.config, ms.db, transform_id, _json_body())))


# -- labeling sets ----------------------------------------------------------------------------------------


@bp.get("/transforms/<transform_id>/labeling-sets")
def list_labeling_sets(transform_id: str) -> Any:
    sets = labels.list_sets(ms.db, transform_id, request_caller())
    return jsonify({"labeling_sets": [schemas.set_summary_json(s) for s in sets]})


@bp.post("/transforms/<transform_id>/labeling-sets")
def create_labeling_set(transform_id: str) -> Any:
    """An ad-hoc set with its labels (labelers allowed): {records: [keys], labels: [one per record]}."""
    view, created = labels.create_adhoc_set(ms.config, ms.db, transform_id, _json_body(), request_caller())
    return _created(schemas.labeling_set_json(view), 201 if created else 200, "api.get_labeling_set",
                    transform_id=transform_id, set_id=view.set_id)


@bp.get("/transforms/<transform_id>/labeling-sets/<set_id>")
def get_labeling_set(transform_id: str, set_id: str) -> Any:
    return jsonify(schemas.labeling_set_json(labels.get_set(ms.config, ms.db, transform_id, set_id, request_caller())))


@bp.put("/transforms/<transform_id>/labeling-sets/<set_id>")
def put_labeling_set(transform_id: str, set_id: str) -> Any:
    """The caller's answer to the set (labelers allowed): decides it as the transform's labeling policy says."""
    view = labels.put_set_labels(ms.config, ms.db, transform_id, set_id, _json_body(), request_caller())
    return jsonify(schemas.labeling_set_json(view))
