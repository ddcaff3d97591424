"""segments and their members, levels by transactions per month, manufacturer users and their brand grants

Revision ID: 0012_segments
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_segments"
down_revision = "0006"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)

_ROLES_BEFORE = "role IN ('distributor_admin', 'analyst', 'retailer', 'technician')"
_ROLES_AFTER = "role IN ('distributor_admin', 'analyst', 'retailer', 'technician', 'manufacturer')"


def upgrade() -> None:
    op.create_table(
        "segment",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("evaluated_version", sa.Integer()),
        sa.Column("evaluated_at", Timestamp),
        sa.Column("member_count", sa.BigInteger()),
        sa.Column("last_error", sa.String(length=240)),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "segment", name=op.f("pk_segment")),
    )
    op.create_table(
        "segment_member",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("loyalty_id", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant", "segment"],
            ["segment.tenant", "segment.segment"],
            name=op.f("fk_segment_member_tenant_segment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant", "segment", "loyalty_id", name=op.f("pk_segment_member")),
    )
    op.create_index("ix_segment_member_customer", "segment_member", ["tenant", "loyalty_id"])
    op.create_table(
        "level_scheme",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("level1_max", sa.Integer(), nullable=False),
        sa.Column("level2_max", sa.Integer(), nullable=False),
        sa.Column("level3_over", sa.Integer(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "0 <= level1_max AND level1_max < level2_max AND level2_max <= level3_over",
            name=op.f("ck_level_scheme_ordered"),
        ),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_level_scheme")),
    )
    op.create_table(
        "manufacturer_grant",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("manufacturer", sa.String(length=64), nullable=False),
        sa.Column("brand", sa.String(length=64), nullable=False),
        sa.Column("granted_at", Timestamp, nullable=False),
        sa.Column("granted_by", sa.String(length=254), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "manufacturer", "brand", name=op.f("pk_manufacturer_grant")),
    )
    with op.batch_alter_table("api_user") as batch:
        batch.add_column(sa.Column("manufacturer", sa.String(length=64)))
        batch.drop_constraint(op.f("ck_api_user_role_known"), type_="check")
        batch.create_check_constraint(op.f("ck_api_user_role_known"), _ROLES_AFTER)
        batch.create_check_constraint(
            op.f("ck_api_user_manufacturer_iff_role"), "(role = 'manufacturer') = (manufacturer IS NOT NULL)"
        )


def downgrade() -> None:
    with op.batch_alter_table("api_user") as batch:
        batch.drop_constraint(op.f("ck_api_user_manufacturer_iff_role"), type_="check")
        batch.drop_constraint(op.f("ck_api_user_role_known"), type_="check")
        batch.create_check_constraint(op.f("ck_api_user_role_known"), _ROLES_BEFORE)
        batch.drop_column("manufacturer")
    op.drop_table("manufacturer_grant")
    op.drop_table("level_scheme")
    op.drop_index("ix_segment_member_customer", table_name="segment_member")
    op.drop_table("segment_member")
    op.drop_table("segment")
