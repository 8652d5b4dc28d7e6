"""Bearer-token authentication for every /api/v1 call, and what each role may do (deny unless allowed).

admin: everything. reviewer: read, label, decide sets (review), see every answer, labelers' accuracy and the audit
trail. labeler: read and label; not the others' answers, the labelers' accuracy nor the audit trail."""

from __future__ import annotations

from flask import g, request

from labeling_ui.extensions import matcher_services
from services.errors import Forbidden
from services.tokens import authenticate

READ_METHODS = ("GET", "HEAD", "OPTIONS")
LABELER_WRITES = frozenset({"api.put_labeling_set", "api.create_labeling_set"})
REVIEWER_WRITES = LABELER_WRITES | {"api.review_labeling_set"}
DECIDER_READS = frozenset({"api.review_queue", "api.labeler_stats", "api.label_history_page", "api.set_history"})


def bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def authenticate_request() -> None:
    """Blueprint ``before_request``: sets ``g.user`` or raises 401/403 (deny unless allowed)."""
    user = authenticate(matcher_services.db, bearer_token())
    g.user = user
    if user.role == "admin":
        return
    if request.endpoint in DECIDER_READS:
        if user.role == "reviewer":
            return
        raise Forbidden(f"user {user.name!r} is a labeler: only reviewers and admins see {request.path}")
    writes = REVIEWER_WRITES if user.role == "reviewer" else LABELER_WRITES
    if request.method in READ_METHODS or request.endpoint in writes:
        return
    what = "read, label and review" if user.role == "reviewer" else "read and label"
    raise Forbidden(f"user {user.name!r} is a {user.role}: {user.role}s may {what}, not {request.method} "
                    f"{request.path}")


def authenticate_admin() -> None:
    """``before_request`` of admin-only routes (users and tokens): labelers may not even read them."""
    user = authenticate(matcher_services.db, bearer_token())
    g.user = user
    if user.role != "admin":
        raise Forbidden(f"user {user.name!r} is a {user.role}: only admins manage users and tokens")
