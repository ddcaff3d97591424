"""posting waits: customers' sales posted before their enrolment reached the hub, refunds before their sale

Revision ID: 0009_posting_waits
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_posting_waits"
down_revision = "0007"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "posting_unverified",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("customer", sa.String(length=12), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("box_ts", Timestamp, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_posting_unverified")),
    )
    op.create_index("ix_posting_unverified_customer", "posting_unverified", ["tenant", "customer"])
    op.create_table(
        "refund_waiting",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("sale_id", sa.String(length=64), nullable=False),
        sa.Column("box_ts", Timestamp, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("alerted_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_refund_waiting")),
    )
    op.create_index("ix_refund_waiting_sale", "refund_waiting", ["tenant", "device", "sale_id"])


def downgrade() -> None:
    op.drop_index("ix_refund_waiting_sale", table_name="refund_waiting")
    op.drop_table("refund_waiting")
    op.drop_index("ix_posting_unverified_customer", table_name="posting_unverified")
    op.drop_table("posting_unverified")
