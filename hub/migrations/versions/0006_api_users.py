"""API users (argon2id password hashes, roles, scope, login lockout) and hashed bearer tokens

Revision ID: 0006
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_user",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("retailer", sa.String(length=64), nullable=True),
        sa.Column("devices", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "role IN ('distributor_admin', 'analyst', 'retailer', 'technician')", name=op.f("ck_api_user_role_known")
        ),
        sa.CheckConstraint("(role = 'retailer') = (retailer IS NOT NULL)", name=op.f("ck_api_user_retailer_iff_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_user")),
        sa.UniqueConstraint("tenant", "email", name="uq_api_user_tenant_email"),
    )
    op.create_table(
        "api_token",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["api_user.id"], name=op.f("fk_api_token_user_id_api_user")),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_api_token")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index("ix_api_token_user", ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index("ix_api_token_user")
    op.drop_table("api_token")
    op.drop_table("api_user")
