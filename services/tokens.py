"""API tokens: a user holds several, each stored as its sha256 only, with a name, an optional expiry, the time it
was last used and the time it was revoked. A revoked or expired token, or any token of a disabled user, is a 401
that says which of these it is. The secret is returned once, when the token is made, and never again."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from matcher.errors import shown
from services.errors import Conflict, NotFound, Unauthorized, ValidationError
from services.validation import integer
from storage.db import Database
from storage.models import ApiToken, User, as_utc, iso_utc, utcnow

MAX_EXPIRY_DAYS = 3650
DEFAULT_NAME = "default"
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per token (not on every GET)


@dataclass(frozen=True)
class Issued:
    """A token just made: the row (no secret) and the secret, shown once."""

    token: ApiToken
    secret: str


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes (always UTC here)."""
    return None if moment is None else as_utc(moment)


def status(token: ApiToken, now: datetime | None = None) -> str:
    """active | revoked | expired."""
    now = now or utcnow()
    if token.revoked_at is not None:
        return "revoked"
    expires = aware(token.expires_at)
    return "expired" if expires is not None and expires <= now else "active"


def parse_expiry(body: dict[str, Any], now: datetime | None = None) -> datetime | None:
    """``expires_in_days`` (1..3650) or an ISO 8601 ``expires_at`` in the future (UTC when no offset); neither:
    the token does not expire."""
    now = now or utcnow()
    days, at = body.get("expires_in_days"), body.get("expires_at")
    if days is not None and at is not None:
        raise ValidationError("give expires_in_days or expires_at, not both", field="expires_at")
    if days is not None:
        return now + timedelta(days=integer(body, "expires_in_days", 1, MAX_EXPIRY_DAYS))
    if at is None:
        return None
    try:
        moment = datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise ValidationError(f"expires_at must be an ISO 8601 date-time such as 2027-01-31T00:00:00Z, got "
                              f"{shown(at)}", field="expires_at")
    moment = as_utc(moment)
    if moment <= now:
        raise ValidationError(f"expires_at must be in the future, got {shown(at)}", field="expires_at")
    if moment > now + timedelta(days=MAX_EXPIRY_DAYS):
        raise ValidationError(f"expires_at must be within {MAX_EXPIRY_DAYS} days", field="expires_at")
    return moment.astimezone(UTC)


def token_name(value: Any, field: str = "name") -> str:
    if value is None:
        return DEFAULT_NAME
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 200:
        raise ValidationError(f"{field} (the token's name) must be 1 to 200 characters", field=field)
    return value.strip()


def add_token(session: Session, user_id: str, name: str, expires_at: datetime | None) -> Issued:
    """Inside the caller's unit of work (a new user and its first token are written together or not at all)."""
    secret = secrets.token_urlsafe(32)
    token = ApiToken(user_id=user_id, token_hash=hash_token(secret), name=name, expires_at=expires_at,
                     created_at=utcnow())
    session.add(token)
    session.flush()
    return Issued(token, secret)


def issue(db: Database, user_id: str, name: str = DEFAULT_NAME, expires_at: datetime | None = None,
          revoke_others: bool = False) -> Issued:
    """A new token for the user; ``revoke_others`` makes it a rotation (every other live token is revoked in the
    same transaction). A disabled user gets none: enable it first."""
    with db.session() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"user {shown(user_id)} not found")
        if user.disabled_at is not None:
            raise Conflict(f"user {shown(user.name)} is disabled: enable it before giving it a token")
        if revoke_others:
            session.execute(update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                            .values(revoked_at=utcnow()))
        return add_token(session, user_id, name, expires_at)


def list_tokens(db: Database, user_id: str) -> list[ApiToken]:
    with db.session() as session:
        if session.get(User, user_id) is None:
            raise NotFound(f"user {shown(user_id)} not found")
        return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)
                                    .order_by(ApiToken.created_at, ApiToken.id)))


def revoke(db: Database, user_id: str, token_id: str) -> ApiToken:
    """Revoke one of the user's tokens (revoking a revoked token changes nothing)."""
    with db.session() as session:
        token = session.get(ApiToken, token_id)
        if token is None or token.user_id != user_id:
            raise NotFound(f"token {shown(token_id)} of user {shown(user_id)} not found")
        if token.revoked_at is None:
            token.revoked_at = utcnow()
        return token


def authenticate(db: Database, secret: str | None) -> User:
    """The user a bearer token belongs to, or a 401 saying why not (missing, unknown, revoked, expired, disabled)."""
    if not secret:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    now = utcnow()
    with db.session() as session:
        found = session.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                                .where(ApiToken.token_hash == hash_token(secret))).first()
        if found is None:
            raise Unauthorized("invalid bearer token")
        token, user = found
        state = status(token, now)
        if state == "revoked":
            raise Unauthorized(f"this token ({shown(token.name)}) was revoked: ask an admin for a new one")
        if state == "expired":
            raise Unauthorized(f"this token ({shown(token.name)}) expired at {_iso(token.expires_at)}: "
                               "ask an admin for a new one")
        if user.disabled_at is not None:
            raise Unauthorized(f"user {shown(user.name)} is disabled: ask an admin to enable it")
        last = aware(token.last_used_at)
        if last is None or now - last >= TOUCH_EVERY:
            token.last_used_at = now
        return user


def _iso(moment: datetime | None) -> str:
    return iso_utc(moment) or "?"
