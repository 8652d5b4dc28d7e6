"""API users: a name, a role (admin or labeler) and a bearer token of which only the sha256 is stored."""

from __future__ import annotations

import hashlib
import os
import secrets

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from matcher.errors import shown
from services.config import Config
from services.errors import Conflict, Unauthorized, ValidationError
from storage.db import Database
from storage.models import User

ROLES = ("admin", "labeler")
ADMIN_NAME = "admin"
ADMIN_TOKEN_FILE = "admin-token"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_user(db: Database, name: str, role: str) -> tuple[User, str]:
    """Create a user; returns it with its fresh token, which is shown once and never stored in clear."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError("user name must be 1 to 200 characters", field="name")
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}, got {shown(role)}", field="role")
    token = secrets.token_urlsafe(32)
    try:
        with db.session() as session:
            if session.scalar(select(User.id).where(User.name == name)) is not None:
                raise Conflict(f"a user named {shown(name)} already exists", field="name")
            user = User(name=name, role=role, token_hash=hash_token(token))
            session.add(user)
    except IntegrityError as exc:  # a concurrent create with the same name
        raise Conflict(f"a user named {shown(name)} already exists", field="name") from exc
    return user, token


def authenticate(db: Database, token: str | None) -> User:
    if not token:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    with db.session() as session:
        user = session.scalar(select(User).where(User.token_hash == hash_token(token)))
    if user is None:
        raise Unauthorized("invalid bearer token")
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
            session.execute(delete(User).where(User.id == admin.id))
        raise
    return token


def write_secret(path: os.PathLike[str] | str, secret: str) -> None:
    """Write a file readable by its owner only, created with that mode (never briefly world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # the file may have existed with a wider mode
        handle.write(secret + "\n")
