"""Users hold several revocable, expiring API tokens (``api_tokens``) and may be disabled (``users.disabled_at``).

Each user's single ``users.token_hash`` becomes one token named "migrated" (no expiry), so every token that
worked before still works. The downgrade keeps, per user, the newest token that is neither revoked nor expired
(else an unusable placeholder hash: that user needs a new token from the older version), and forgets the rest.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MIGRATED_NAME = "migrated"


def upgrade() -> None:
    bind = op.get_bind()
    old = bind.execute(sa.text("SELECT id, token_hash, created_at FROM users")).all()
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_user", "api_tokens", ["user_id"])
    insert = sa.text("INSERT INTO api_tokens (id, user_id, token_hash, name, created_at) "
                     "VALUES (:id, :user_id, :token_hash, :name, :created_at)")
    for user_id, token_hash, created_at in old:
        bind.execute(insert, {"id": str(uuid.uuid4()), "user_id": user_id, "token_hash": token_hash,
                              "name": MIGRATED_NAME, "created_at": created_at})
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_token_hash", type_="unique")
        batch.drop_column("token_hash")
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    tokens = bind.execute(sa.text(
        "SELECT user_id, token_hash, expires_at FROM api_tokens WHERE revoked_at IS NULL "
        "ORDER BY created_at DESC")).all()
    kept: dict[str, str] = {}
    for user_id, token_hash, expires_at in tokens:
        if user_id not in kept and not _past(expires_at, now):
            kept[user_id] = token_hash
    users = bind.execute(sa.text("SELECT id, disabled_at FROM users")).all()
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_at")
        batch.add_column(sa.Column("token_hash", sa.String(128), nullable=True))
    update = sa.text("UPDATE users SET token_hash = :token_hash WHERE id = :id")
    for user_id, disabled_at in users:
        # a disabled user, or one without a usable token, gets a hash no token has (64 hex digits never match)
        usable = kept.get(user_id) if disabled_at is None else None
        bind.execute(update, {"id": user_id, "token_hash": usable or f"none:{uuid.uuid4()}"})
    with op.batch_alter_table("users") as batch:
        batch.alter_column("token_hash", existing_type=sa.String(128), nullable=False)
        batch.create_unique_constraint("uq_users_token_hash", ["token_hash"])
    op.drop_index("ix_api_tokens_user", table_name="api_tokens")
    op.drop_table("api_tokens")


def _past(moment: datetime | str | None, now: datetime) -> bool:
    if moment is None:
        return False
    if isinstance(moment, str):  # SQLite hands back text for raw SQL
        moment = datetime.fromisoformat(moment)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) <= now
