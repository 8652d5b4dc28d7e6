"""REST routes of the labeling workforce (on the ``api`` blueprint): a labeler's queue, reviews, gold sets, the
labelers' accuracy and the audit trail. Roles are checked in ``labeling_ui.auth`` (deny unless allowed)."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from labeling_ui import schemas
from labeling_ui.api import bp, request_caller
from labeling_ui.extensions import matcher_services as ms
from services import consolidating, label_history, labels, queues
from services.answers import set_gold
from services.errors import Forbidden, ValidationError
from services.validation import only_fields


@bp.get("/transforms/<transform_id>/labeling-queue/next")
def next_labeling_set(transform_id: str) -> Any:
    """The next set for the caller to answer (null when none is left, with a message saying why)."""
    found = queues.next_set(ms.db, transform_id, g.user.name)
    return jsonify({"set_id": found.set_id, "remaining": found.remaining, "message": found.message})


@bp.get("/transforms/<transform_id>/review-queue")
def review_queue(transform_id: str) -> Any:
    items = queues.review_queue(ms.db, transform_id)
    return jsonify({"sets": [{"set_id": i.set_id, "size": i.size, "answers": i.answers,
                              "uncertain_pairs": i.uncertain_pairs, "method": i.method} for i in items]})


@bp.put("/transforms/<transform_id>/labeling-sets/<set_id>/review")
def review_labeling_set(transform_id: str, set_id: str) -> Any:
    view = labels.review_set(ms.config, ms.db, transform_id, set_id, request.get_json(), request_caller())
    return jsonify(schemas.labeling_set_json(view))


@bp.put("/transforms/<transform_id>/labeling-sets/<set_id>/gold")
def gold_labeling_set(transform_id: str, set_id: str) -> Any:
    """Admins mark a set whose labels are decided as gold ({gold: true}), or unmark it ({gold: false})."""
    if g.user.role != "admin":  # auth lets reviewers write only reviews; said again here for the reader
        raise Forbidden("only admins mark gold sets")
    body = request.get_json()
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object {gold: true|false}")
    only_fields(body, ("gold",))
    if not isinstance(body.get("gold"), bool):
        raise ValidationError("gold must be true or false", field="gold")
    set_gold(ms.db, transform_id, set_id, body["gold"], request_caller())
    return jsonify(schemas.labeling_set_json(labels.get_set(ms.config, ms.db, transform_id, set_id, request_caller())))


@bp.get("/transforms/<transform_id>/labelers")
def labeler_stats(transform_id: str) -> Any:
    return jsonify(consolidating.stats_json(consolidating.labeler_report(ms.db, transform_id)))


def _page_args() -> tuple[int, int]:
    return (schemas.parse_int(request.args.get("offset"), "offset", 0),
            schemas.parse_int(request.args.get("limit"), "limit", 100))


@bp.get("/transforms/<transform_id>/label-history")
def label_history_page(transform_id: str) -> Any:
    """The transform's label changes, oldest first; ``?format=csv`` downloads all of them."""
    if request.args.get("format") == "csv":
        body = label_history.history_csv(ms.db, transform_id)
        return Response(body, mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="label-history-{transform_id}.csv"'})
    offset, limit = _page_args()
    return jsonify(schemas.history_json(label_history.history(ms.db, transform_id, None, offset, limit)))


@bp.get("/transforms/<transform_id>/labeling-sets/<set_id>/history")
def set_history(transform_id: str, set_id: str) -> Any:
    offset, limit = _page_args()
    return jsonify(schemas.history_json(label_history.history(ms.db, transform_id, set_id, offset, limit)))
