"""sale.customer: the loyalty id a sale was made for, so history and activity need no ledger lookup

Revision ID: 0008
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sale") as batch:
        batch.add_column(sa.Column("customer", sa.String(length=12), nullable=True))
    op.create_index("ix_sale_tenant_customer", "sale", ["tenant", "customer"])


def downgrade() -> None:
    op.drop_index("ix_sale_tenant_customer", table_name="sale")
    with op.batch_alter_table("sale") as batch:
        batch.drop_column("customer")
