"""REST API v1 for admins: users and their tokens. A token's secret is in the answer that makes it, never again
(so these POSTs take no Idempotency-Key: a stored answer would keep the secret in the database)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request, url_for

from labeling_ui import schemas
from labeling_ui.auth import authenticate_admin
from labeling_ui.extensions import matcher_services as ms
from services import tokens, users
from services.validation import flag, only_fields, require_object

bp = Blueprint("users_api", __name__, url_prefix="/api/v1")
bp.before_request(authenticate_admin)
EXPIRY_FIELDS = ("expires_in_days", "expires_at")


def _body(allowed: tuple[str, ...], required: bool = True) -> dict[str, Any]:
    """The JSON object sent (an empty body is ``{}`` where nothing is required); unknown fields are a 422."""
    if not required and not request.get_data():
        return {}
    body = require_object(request.get_json())  # not JSON: Werkzeug's 415, malformed: its 400
    only_fields(body, allowed)
    return body


@bp.get("/users")
def list_users() -> Any:
    return jsonify({"users": [schemas.user_json(u.user, u.active_tokens) for u in users.list_users(ms.db)]})


@bp.post("/users")
def create_user() -> Any:
    """{name, role, token_name?, expires_in_days? | expires_at?}: the user with its first token (shown once)."""
    body = _body(("name", "role", "token_name", *EXPIRY_FIELDS))
    name, role = users.check_name(body.get("name")), users.check_role(body.get("role"))
    token_name = tokens.token_name(body.get("token_name"), field="token_name")
    user, secret = users.create_user(ms.db, name, role, token_name, tokens.parse_expiry(body))
    (token,) = tokens.list_tokens(ms.db, user.id)
    response = jsonify({"user": schemas.user_json(user, 1), "token": schemas.token_json(token, secret)})
    response.status_code = 201
    response.headers["Location"] = url_for("users_api.get_user", user_id=user.id)
    return response


@bp.get("/users/<user_id>")
def get_user(user_id: str) -> Any:
    return jsonify(_user_json(user_id))


@bp.post("/users/<user_id>/disable")
def disable_user(user_id: str) -> Any:
    users.set_disabled(ms.db, user_id, True)
    return jsonify(_user_json(user_id))


@bp.post("/users/<user_id>/enable")
def enable_user(user_id: str) -> Any:
    users.set_disabled(ms.db, user_id, False)
    return jsonify(_user_json(user_id))


@bp.get("/users/<user_id>/tokens")
def list_tokens(user_id: str) -> Any:
    return jsonify({"tokens": [schemas.token_json(t) for t in tokens.list_tokens(ms.db, user_id)]})


@bp.post("/users/<user_id>/tokens")
def create_token(user_id: str) -> Any:
    """{name?, expires_in_days? | expires_at?, revoke_others?}: a new token (shown once); ``revoke_others``
    rotates (the user's other tokens are revoked in the same transaction)."""
    body = _body(("name", "revoke_others", *EXPIRY_FIELDS), required=False)
    rotate = flag(body, "revoke_others") if "revoke_others" in body else False
    issued = tokens.issue(ms.db, user_id, tokens.token_name(body.get("name")), tokens.parse_expiry(body), rotate)
    response = jsonify({"token": schemas.token_json(issued.token, issued.secret)})
    response.status_code = 201
    response.headers["Location"] = url_for("users_api.list_tokens", user_id=user_id)
    return response


@bp.post("/users/<user_id>/tokens/<token_id>/revoke")
def revoke_token(user_id: str, token_id: str) -> Any:
    return jsonify(schemas.token_json(tokens.revoke(ms.db, user_id, token_id)))


def _user_json(user_id: str) -> dict[str, Any]:
    user = users.get_user(ms.db, user_id)
    active = sum(tokens.status(t) == "active" for t in tokens.list_tokens(ms.db, user_id))
    return schemas.user_json(user, active)
