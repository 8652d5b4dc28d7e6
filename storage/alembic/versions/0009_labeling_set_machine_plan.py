"""labeling_sets.machine_plan: in a set the machine completes (labeling policy ``auto_label_mode`` "complete"), the
records it labels once humans answered (followers of an anchor, settled groups), JSON; NULL: humans label every
record of ``record_keys``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("labeling_sets") as batch:
        batch.add_column(sa.Column("machine_plan", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("labeling_sets") as batch:
        batch.drop_column("machine_plan")
