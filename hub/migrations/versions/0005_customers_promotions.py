"""customers (consents, templates, aliases, duplicates, merges, erasures) and promotions with published sets

Revision ID: 0005
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("loyalty_id", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=True),
        sa.Column("phone_e164", sa.String(length=16), nullable=True),
        sa.Column("sticker", sa.String(length=64), nullable=True),
        sa.Column("gender", sa.String(length=12), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("wechat_id", sa.String(length=64), nullable=True),
        sa.Column("whatsapp_e164", sa.String(length=16), nullable=True),
        sa.Column("has_face", sa.Boolean(), nullable=False),
        sa.Column("has_signature", sa.Boolean(), nullable=False),
        sa.Column("field_times", sa.JSON(), nullable=False),
        sa.Column("enrolled_on", sa.Date(), nullable=True),
        sa.Column("enrolled_store", sa.String(length=64), nullable=True),
        sa.Column("enrolled_device", sa.String(length=64), nullable=True),
        sa.Column("marketing_consent", sa.Boolean(), nullable=True),
        sa.Column("marketing_consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fingerprint_consent", sa.Boolean(), nullable=True),
        sa.Column("fingerprint_consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_birthday_bonus_year", sa.Integer(), nullable=True),
        sa.Column("last_anniversary_bonus_year", sa.Integer(), nullable=True),
        sa.Column("tier_id", sa.String(length=64), nullable=True),
        sa.Column("tier_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tier_value", sa.BigInteger(), nullable=False),
        sa.Column("tier_grace_used", sa.Integer(), nullable=False),
        sa.Column("tier_reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merged_into", sa.String(length=12), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('active', 'merged', 'erased')", name=op.f("ck_customer_state_known")),
        sa.PrimaryKeyConstraint("tenant", "loyalty_id", name=op.f("pk_customer")),
    )
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.create_index("ix_customer_phone", ["tenant", "phone_e164"], unique=False)

    op.create_table(
        "customer_alias",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("alias", sa.String(length=12), nullable=False),
        sa.Column("loyalty_id", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "alias", name=op.f("pk_customer_alias")),
    )
    with op.batch_alter_table("customer_alias", schema=None) as batch_op:
        batch_op.create_index("ix_customer_alias_target", ["tenant", "loyalty_id"], unique=False)

    op.create_table(
        "customer_consent",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("loyalty_id", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=True),
        sa.Column("device", sa.String(length=64), nullable=True),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('marketing', 'fingerprint')", name=op.f("ck_customer_consent_kind_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_consent")),
    )
    with op.batch_alter_table("customer_consent", schema=None) as batch_op:
        batch_op.create_index("ix_customer_consent_customer", ["tenant", "loyalty_id"], unique=False)

    op.create_table(
        "customer_duplicate",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("loyalty_id", sa.String(length=12), nullable=False),
        sa.Column("other_id", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "loyalty_id", "other_id", name=op.f("pk_customer_duplicate")),
    )
    op.create_table(
        "customer_erased",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("loyalty_id", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=8), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "loyalty_id", name=op.f("pk_customer_erased")),
    )
    with op.batch_alter_table("customer_erased", schema=None) as batch_op:
        batch_op.create_index("ix_customer_erased_at", ["tenant", "erased_at"], unique=False)

    op.create_table(
        "customer_event",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("loyalty_id", sa.String(length=12), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("box_ts", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_customer_event")),
    )
    with op.batch_alter_table("customer_event", schema=None) as batch_op:
        batch_op.create_index("ix_customer_event_customer", ["tenant", "loyalty_id"], unique=False)
        batch_op.create_index("ix_customer_event_store", ["tenant", "store", "box_ts"], unique=False)

    op.create_table(
        "customer_merge",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("merged", sa.String(length=12), nullable=False),
        sa.Column("survivor", sa.String(length=12), nullable=False),
        sa.Column("transfers", sa.JSON(), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "merged", name=op.f("pk_customer_merge")),
    )
    op.create_table(
        "customer_template",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("loyalty_id", sa.String(length=12), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "loyalty_id", name=op.f("pk_customer_template")),
    )
    op.create_table(
        "promotion",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("promotion_id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stores", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "promotion_id", name=op.f("pk_promotion")),
    )
    op.create_table(
        "promotion_set",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_promotion_set_version_positive")),
        sa.PrimaryKeyConstraint("tenant", "store", "version", name=op.f("pk_promotion_set")),
    )


def downgrade() -> None:
    op.drop_table("promotion_set")
    op.drop_table("promotion")
    op.drop_table("customer_template")
    op.drop_table("customer_merge")
    with op.batch_alter_table("customer_event", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_event_store")
        batch_op.drop_index("ix_customer_event_customer")

    op.drop_table("customer_event")
    with op.batch_alter_table("customer_erased", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_erased_at")

    op.drop_table("customer_erased")
    op.drop_table("customer_duplicate")
    with op.batch_alter_table("customer_consent", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_consent_customer")

    op.drop_table("customer_consent")
    with op.batch_alter_table("customer_alias", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_alias_target")

    op.drop_table("customer_alias")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_phone")

    op.drop_table("customer")
