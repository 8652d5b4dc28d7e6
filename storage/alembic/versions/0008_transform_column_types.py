"""transforms.column_types: the column types a user chose (column -> a ``matcher.column_types`` name), JSON; NULL:
every column typed by the automatic profile.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transforms") as batch:
        batch.add_column(sa.Column("column_types", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transforms") as batch:
        batch.drop_column("column_types")
