"""imported_models: model files imported into a transform (``services.model_import``), one row per import.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imported_models",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("transform_id", sa.String(36), sa.ForeignKey("transforms.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("filename", sa.String(500), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("imported_by", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_imported_models_transform", "imported_models", ["transform_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_imported_models_transform", "imported_models")
    op.drop_table("imported_models")
