"""postings: the tenant's points program body, the merchant program's rules, and each box event posted

Revision ID: 0007
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0003"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "points_program",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_points_program")),
    )
    op.create_table(
        "merchant_rules",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_merchant_rules")),
    )
    op.create_table(
        "posting",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("retailer", sa.String(length=64), nullable=False),
        sa.Column("customer", sa.String(length=12), nullable=True),
        sa.Column("program", sa.String(length=64), nullable=True),
        sa.Column("sale_id", sa.String(length=64), nullable=True),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("box_points", sa.BigInteger(), nullable=False),
        sa.Column("hub_points", sa.BigInteger(), nullable=False),
        sa.Column("distributor_points", sa.BigInteger(), nullable=False),
        sa.Column("retailer_points", sa.BigInteger(), nullable=False),
        sa.Column("redeemed_points", sa.BigInteger(), nullable=False),
        sa.Column("hold_points", sa.BigInteger(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("box_ts", Timestamp, nullable=False),
        sa.Column("posted_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_posting")),
    )
    with op.batch_alter_table("posting", schema=None) as batch_op:
        batch_op.create_index("ix_posting_sale", ["tenant", "device", "sale_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("posting", schema=None) as batch_op:
        batch_op.drop_index("ix_posting_sale")
    op.drop_table("posting")
    op.drop_table("merchant_rules")
    op.drop_table("points_program")
