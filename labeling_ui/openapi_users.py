"""The OpenAPI description of the admin-only routes: users and their tokens (labeling_ui.users_api)."""

from __future__ import annotations

from typing import Any

from labeling_ui.openapi_parts import BOOL, INT, STR
from labeling_ui.openapi_parts import obj as _obj
from labeling_ui.openapi_parts import ref as _ref
from services.tokens import MAX_EXPIRY_DAYS
from services.users import ROLES

ADMIN = "Admins only (labelers get 403). "
TIME, NTIME = {"type": "string", "format": "date-time"}, {"type": ["string", "null"], "format": "date-time"}
NOT_BLANK = "\\S"  # the service strips names and refuses blank ones
TEXT = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NOT_BLANK}  # names of things
EXPIRY = {"expires_in_days": {"type": "integer", "minimum": 1, "maximum": MAX_EXPIRY_DAYS,
                              "description": "the token expires this many days from now"},
          "expires_at": {"type": "string", "format": "date-time",
                         "description": "or at this ISO 8601 time (UTC without an offset); neither: never"}}




def user_paths(op: Any, json: Any, body: Any, path_param: Any) -> dict[str, Any]:
    """``op``, ``json``, ``body`` and ``path_param`` are labeling_ui.openapi's helpers (one error table)."""
    user, token = path_param("user_id"), path_param("token_id")
    return {
        "/users": {
            "get": op(ADMIN + "List users with their number of active tokens", {"200": json("UserList", "Users")},
                      "401 403"),
            "post": op(ADMIN + "Create a user with its first token; the secret is in this answer only",
                       {"201": json("UserCreated", "Created")}, "400 401 403 409 415 422",
                       requestBody=body("UserCreate")),
        },
        "/users/{user_id}": {
            "parameters": [user],
            "get": op(ADMIN + "A user", {"200": json("UserAdmin", "The user")}, "401 403 404"),
        },
        "/users/{user_id}/disable": {
            "parameters": [user],
            "post": op(ADMIN + "Disable a user: every token of it is refused (409 for the last enabled admin)",
                       {"200": json("UserAdmin", "Disabled")}, "401 403 404 409"),
        },
        "/users/{user_id}/enable": {
            "parameters": [user],
            "post": op(ADMIN + "Enable a disabled user", {"200": json("UserAdmin", "Enabled")}, "401 403 404"),
        },
        "/users/{user_id}/tokens": {
            "parameters": [user],
            "get": op(ADMIN + "A user's tokens, without secrets", {"200": json("TokenList", "Tokens")},
                      "401 403 404"),
            "post": op(ADMIN + "A new token for the user (the secret is in this answer only); revoke_others: "
                       "true rotates (every other token of the user is revoked)",
                       {"201": json("TokenCreated", "Created")}, "400 401 403 404 409 415 422",
                       requestBody={"required": False, "content": {"application/json": {
                           "schema": _ref("TokenCreate")}}}),
        },
        "/users/{user_id}/tokens/{token_id}/revoke": {
            "parameters": [user, token],
            "post": op(ADMIN + "Revoke a token (at once; revoking twice changes nothing)",
                       {"200": json("Token", "Revoked")}, "401 403 404"),
        },
    }


def user_schemas() -> dict[str, Any]:
    token = {"id": STR, "user_id": STR, "name": STR,
             "status": {"type": "string", "enum": ["active", "revoked", "expired"]}, "created_at": TIME,
             "expires_at": NTIME, "last_used_at": NTIME, "revoked_at": NTIME}
    secret = {"type": "string", "description": "the bearer token: shown in this answer only, never again"}
    return {
        "UserAdmin": _obj({"id": STR, "name": STR, "role": {"type": "string", "enum": list(ROLES)},
                           "created_at": TIME, "disabled_at": NTIME, "active_tokens": INT},
                          ("id", "name", "role", "disabled_at")),
        "UserList": _obj({"users": {"type": "array", "items": _ref("UserAdmin")}}, ("users",)),
        "UserCreate": _obj({"name": TEXT, "role": {"type": "string", "enum": list(ROLES)},
                            "token_name": TEXT, **EXPIRY},
                           ("name", "role"), additionalProperties=False),
        "UserCreated": _obj({"user": _ref("UserAdmin"), "token": _ref("TokenCreatedBody")}, ("user", "token")),
        "Token": _obj(token, ("id", "name", "status")),
        "TokenList": _obj({"tokens": {"type": "array", "items": _ref("Token")}}, ("tokens",)),
        "TokenCreate": _obj({"name": TEXT, "revoke_others": BOOL, **EXPIRY},
                            additionalProperties=False),
        "TokenCreatedBody": _obj({**token, "secret": secret}, ("id", "name", "status", "secret")),
        "TokenCreated": _obj({"token": _ref("TokenCreatedBody")}, ("token",)),
    }
