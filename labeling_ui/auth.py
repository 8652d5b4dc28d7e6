"""Bearer-token authentication for every /api/v1 call; labelers may read and label, nothing else."""

from __future__ import annotations

from flask import g, request

from labeling_ui.extensions import matcher_services
from services.errors import Forbidden
from services.tokens import authenticate

READ_METHODS = ("GET", "HEAD", "OPTIONS")
LABELER_WRITES = frozenset({"api.put_labeling_set", "api.create_labeling_set"})


def bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def authenticate_request() -> None:
    """Blueprint ``before_request``: sets ``g.user`` or raises 401/403 (deny unless allowed)."""
    user = authenticate(matcher_services.db, bearer_token())
    g.user = user
    if user.role == "admin" or request.method in READ_METHODS or request.endpoint in LABELER_WRITES:
        return
    raise Forbidden(f"user {user.name!r} is a labeler: labelers may read and label, not {request.method} "
                    f"{request.path}")


def authenticate_admin() -> None:
    """``before_request`` of admin-only routes (users and tokens): labelers may not even read them."""
    user = authenticate(matcher_services.db, bearer_token())
    g.user = user
    if user.role != "admin":
        raise Forbidden(f"user {user.name!r} is a labeler: only admins manage users and tokens")
