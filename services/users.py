"""API users: a name, a role (admin, reviewer or labeler), a time it was disabled (none: enabled) and its tokens
(``services.tokens``). Users are never deleted: their names stay on the labels and runs they made."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from matcher.errors import shown
from services.config import Config
from services.errors import Conflict, NotFound, ValidationError
from services.tokens import DEFAULT_NAME, add_token, status
from services.tokens import authenticate as authenticate  # re-exported: callers of the one-token era
from storage.db import Database
from storage.models import ApiToken, User, utcnow

ROLES = ("admin", "reviewer", "labeler")
ADMIN_NAME = "admin"
ADMIN_TOKEN_FILE = "admin-token"


@dataclass(frozen=True)
class UserInfo:
    user: User
    active_tokens: int


def check_name(name: object) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 200:
        raise ValidationError("user name must be 1 to 200 characters", field="name")
    return name


def check_role(role: object) -> str:
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}, got {shown(role)}", field="role")
    return str(role)


def create_user(db: Database, name: object, role: object, token_name: str = DEFAULT_NAME,
                expires_at: datetime | None = None) -> tuple[User, str]:
    """Create a user with its first token, in one transaction; returns the user and the token's secret, which is
    shown once and never stored in clear."""
    name, role = check_name(name), check_role(role)
    try:
        with db.session() as session:
            if session.scalar(select(User.id).where(User.name == name)) is not None:
                raise Conflict(f"a user named {shown(name)} already exists", field="name")
            user = User(name=name, role=role, created_at=utcnow())
            session.add(user)
            session.flush()
            issued = add_token(session, user.id, token_name, expires_at)
    except IntegrityError as exc:  # a concurrent create with the same name
        raise Conflict(f"a user named {shown(name)} already exists", field="name") from exc
    return user, issued.secret


def list_users(db: Database) -> list[UserInfo]:
    now = utcnow()
    with db.session() as session:
        users = list(session.scalars(select(User).order_by(User.created_at, User.name)))
        active: dict[str, int] = {}
        for token in session.scalars(select(ApiToken).where(ApiToken.revoked_at.is_(None))):
            if status(token, now) == "active":
                active[token.user_id] = active.get(token.user_id, 0) + 1
    return [UserInfo(u, active.get(u.id, 0)) for u in users]


def get_user(db: Database, user_id: str) -> User:
    with db.session() as session:
        user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {shown(user_id)} not found")
    return user


def find_user(db: Database, name_or_id: str) -> User:
    """By name (the CLI's way) or id."""
    with db.session() as session:
        user = session.scalar(select(User).where(User.name == name_or_id)) or session.get(User, name_or_id)
    if user is None:
        raise NotFound(f"no user named {shown(name_or_id)}")
    return user


def set_disabled(db: Database, user_id: str, disabled: bool) -> User:
    """Disable (every token refused, kept for the record) or enable a user. The last enabled admin stays enabled:
    nobody could manage users any more."""
    with db.session() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"user {shown(user_id)} not found")
        if not disabled:
            user.disabled_at = None
            return user
        if user.disabled_at is None and user.role == "admin":
            admins = session.scalar(select(func.count()).select_from(User)
                                    .where(User.role == "admin", User.disabled_at.is_(None)))
            if admins == 1:
                raise Conflict(f"{shown(user.name)} is the last enabled admin: enable or create another first")
        user.disabled_at = user.disabled_at or utcnow()
        return user


def ensure_admin(config: Config, db: Database) -> str | None:
    """On first start (no users at all) create the admin and save its token to DATA_DIR/admin-token (0600).

    Returns the token so the caller can print it once; None when users already exist.
    """
    with db.session() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return None
    admin, token = create_user(db, ADMIN_NAME, "admin")
    try:
        write_secret(config.data_dir / ADMIN_TOKEN_FILE, token)
    except OSError:
        with db.session() as session:  # nobody could ever learn this token: start over next time
            session.execute(delete(ApiToken).where(ApiToken.user_id == admin.id))
            session.execute(delete(User).where(User.id == admin.id))
        raise
    return token


def write_secret(path: os.PathLike[str] | str, secret: str) -> None:
    """Write a file readable by its owner only, created with that mode (never briefly world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # the file may have existed with a wider mode
        handle.write(secret + "\n")
