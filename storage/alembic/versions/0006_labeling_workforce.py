"""A labeling workforce: several labelers' answers per set (label_answers), queue leases (label_leases), the audit
trail (label_events), gold sets and review state on labeling_sets, and the transform's labeling policy.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transforms") as batch:
        batch.add_column(sa.Column("labeling_policy", sa.JSON(), nullable=True))
    with op.batch_alter_table("labeling_sets") as batch:
        batch.add_column(sa.Column("gold_labels", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("review_state", sa.String(20), nullable=True))
        batch.add_column(sa.Column("consolidation", sa.JSON(), nullable=True))
    op.create_table(
        "label_answers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("transform_id", sa.String(36), sa.ForeignKey("transforms.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("labeling_set_id", sa.String(200), nullable=False),
        sa.Column("labeler", sa.String(200), nullable=False),
        sa.Column("record_key", sa.String(500), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("transform_id", "labeling_set_id", "labeler", "record_key"),
    )
    op.create_index("ix_label_answers_set", "label_answers", ["transform_id", "labeling_set_id"])
    op.create_table(
        "label_leases",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("transform_id", sa.String(36), sa.ForeignKey("transforms.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("labeling_set_id", sa.String(200), nullable=False),
        sa.Column("labeler", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("transform_id", "labeling_set_id", "labeler"),
    )
    op.create_table(
        "label_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("transform_id", sa.String(36), sa.ForeignKey("transforms.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("labeling_set_id", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_index("ix_label_events_set", "label_events", ["transform_id", "labeling_set_id"])


def downgrade() -> None:
    op.drop_index("ix_label_events_set", "label_events")
    op.drop_table("label_events")
    op.drop_table("label_leases")
    op.drop_index("ix_label_answers_set", "label_answers")
    op.drop_table("label_answers")
    with op.batch_alter_table("labeling_sets") as batch:
        batch.drop_column("consolidation")
        batch.drop_column("review_state")
        batch.drop_column("gold_labels")
    with op.batch_alter_table("transforms") as batch:
        batch.drop_column("labeling_policy")
