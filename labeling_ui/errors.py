"""The one error handler: every failure leaves as RFC 9457 problem details (application/problem+json).

ServiceError -> its status; core MatcherError (bad data, labels, settings) -> 400; Werkzeug's HTTP errors keep
their code; anything else is a 500 whose detail never leaks internals (the traceback goes to the log).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from matcher.errors import MatcherError
from services.errors import ServiceError, Unauthorized

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
MAX_DETAIL = 2000  # a backstop: messages echo at most ~80 characters of any value (matcher.errors.shown)
MAX_FIELD = 120


def _slug(exc: BaseException) -> str:
    return "urn:matcher:problem:" + re.sub(r"(?<!^)(?=[A-Z])", "-", type(exc).__name__).lower()


def problem(status: int, title: str, detail: str, type_: str = "about:blank", **extra: Any) -> Response:
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 3] + "..."
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    if isinstance(body.get("field"), str) and len(body["field"]) > MAX_FIELD:
        body["field"] = body["field"][: MAX_FIELD - 3] + "..."
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    return response


def handle_error(exc: Exception) -> Response:
    if isinstance(exc, ServiceError):
        response = problem(exc.status, exc.title, exc.detail, _slug(exc), field=exc.field, row=exc.row,
                           line=exc.line)
        if isinstance(exc, Unauthorized):
            response.headers["WWW-Authenticate"] = 'Bearer realm="matcher"'
        return response
    if isinstance(exc, MatcherError):
        return problem(400, "Invalid data", str(exc), _slug(exc))
    if isinstance(exc, HTTPException):
        response = problem(exc.code or 500, exc.name, exc.description or exc.name)
        allow = dict(exc.get_headers()).get("Allow")
        if allow:
            response.headers["Allow"] = allow
        return response
    log.exception("unhandled error")
    return problem(500, "Internal server error", "an unexpected error occurred; the server log has the details")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(Exception, handle_error)
