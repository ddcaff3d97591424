"""business events: refunds, enrolments, customer updates, stock movements, alerts and reorders from boxes

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "business_event",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("box_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["inbox.event_id"], name=op.f("fk_business_event_event_id_inbox")),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_business_event")),
    )
    op.create_index("ix_business_event_pending", "business_event", ["tenant", "type", "applied_at"])


def downgrade() -> None:
    op.drop_index("ix_business_event_pending", table_name="business_event")
    op.drop_table("business_event")
