"""``Idempotency-Key`` on POST: the first 2xx JSON response is stored and replayed for retries.

The key is reserved (status 0) before the handler runs, so two concurrent retries cannot both create a
resource: the second one gets 409 until the first has finished. A reservation whose request died is taken
over after ``STALE_AFTER``. Keys are per user; reusing one for another method/path is a 422.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from flask import Response, g, jsonify, make_response, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from labeling_ui.extensions import matcher_services
from matcher.errors import shown
from services.errors import Conflict, ValidationError
from storage.models import IdempotencyKey, as_utc, utcnow

HEADER = "Idempotency-Key"
STALE_AFTER = timedelta(minutes=10)
IN_PROGRESS = 0


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if not key:
            return view(*args, **kwargs)
        if len(key) > 200:
            raise ValidationError(f"{HEADER} must be at most 200 characters", field=HEADER)
        stored = _reserve(key)
        if stored is not None:
            return _replay(stored)
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            _release(key)
            raise
        if 200 <= response.status_code < 300 and response.is_json:
            _complete(key, response)
        else:
            _release(key)
        return response

    return wrapper


def _aware(moment: datetime) -> datetime:
    return as_utc(moment)


def _reserve(key: str) -> IdempotencyKey | None:
    """The stored response to replay, or None when this request now owns the key."""
    method_path = f"{request.method} {request.path}"
    try:
        with matcher_services.db.session() as session:
            row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == g.user.id,
                                                              IdempotencyKey.key == key))
            if row is None:
                session.add(IdempotencyKey(user_id=g.user.id, key=key, method_path=method_path,
                                           status_code=IN_PROGRESS, body={}))
                return None
            if row.method_path != method_path:
                raise ValidationError(f"{HEADER} {shown(key)} was already used for {row.method_path}", field=HEADER)
            if row.status_code != IN_PROGRESS:
                return row
            if utcnow() - _aware(row.created_at) < STALE_AFTER:
                raise Conflict(f"a request with {HEADER} {shown(key)} is still in progress; retry later")
            row.created_at = utcnow()  # the earlier request died: take the reservation over
            return None
    except IntegrityError as exc:  # a concurrent request reserved it first
        raise Conflict(f"a request with {HEADER} {shown(key)} is still in progress; retry later") from exc


def _replay(row: IdempotencyKey) -> Response:
    response = jsonify(row.body)
    response.status_code = row.status_code
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _complete(key: str, response: Response) -> None:
    with matcher_services.db.session() as session:
        row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == g.user.id,
                                                          IdempotencyKey.key == key))
        if row is not None:
            row.status_code = response.status_code
            row.body = response.get_json()


def _release(key: str) -> None:
    with matcher_services.db.session() as session:
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == g.user.id,
                                                     IdempotencyKey.key == key,
                                                     IdempotencyKey.status_code == IN_PROGRESS))
