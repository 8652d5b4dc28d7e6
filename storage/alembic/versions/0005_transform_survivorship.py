"""transforms.survivorship: the golden-record rule per column (``matcher.survivorship``), JSON; NULL: each column
follows its type's default rule.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transforms") as batch:
        batch.add_column(sa.Column("survivorship", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transforms") as batch:
        batch.drop_column("survivorship")
