"""points voided: the part of an offline redemption beyond the customer's offline allowance, kept for follow-up

Revision ID: 0010_points_voided
Revises: 0009_posting_waits
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_points_voided"
down_revision = "0009_posting_waits"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "points_voided",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("retailer", sa.String(length=64), nullable=False),
        sa.Column("customer", sa.String(length=12), nullable=False),
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("sale_id", sa.String(length=64), nullable=False),
        sa.Column("hold_points", sa.BigInteger(), nullable=False),
        sa.Column("posted_points", sa.BigInteger(), nullable=False),
        sa.Column("voided_points", sa.BigInteger(), nullable=False),
        sa.Column("available_points", sa.BigInteger(), nullable=False),
        sa.Column("allowance_points", sa.BigInteger(), nullable=False),
        sa.Column("box_ts", Timestamp, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "voided_points > 0 AND posted_points >= 0 AND hold_points = posted_points + voided_points",
            name=op.f("ck_points_voided_voided_adds_up"),
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_points_voided")),
    )
    op.create_index("ix_points_voided_tenant", "points_voided", ["tenant", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_points_voided_tenant", table_name="points_voided")
    op.drop_table("points_voided")
