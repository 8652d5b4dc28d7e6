"""transforms.one_to_one may be NULL: one-to-one linkage decided from the data and the labels.

True and False stay the user's choice; NULL (the new default) lets the engine decide (``matcher.link_mode``).
Existing False values were the old default, which a new user never chose, so they become NULL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transforms") as batch:
        batch.alter_column("one_to_one", existing_type=sa.Boolean(), nullable=True)
    op.execute(sa.text("UPDATE transforms SET one_to_one = NULL WHERE one_to_one = :off").bindparams(off=False))


def downgrade() -> None:
    op.execute(sa.text("UPDATE transforms SET one_to_one = :off WHERE one_to_one IS NULL").bindparams(off=False))
    with op.batch_alter_table("transforms") as batch:
        batch.alter_column("one_to_one", existing_type=sa.Boolean(), nullable=False)
