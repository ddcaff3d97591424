"""network, catalogue, ERP sync state, purchase orders and published config versions

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenant",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("loyalty_prefix", sa.Integer(), nullable=False),
        sa.Column("erp_supplier", sa.String(length=64), nullable=True),
        sa.Column("default_tax_category", sa.String(length=64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint("loyalty_prefix BETWEEN 100 AND 999", name=op.f("ck_tenant_prefix_in_range")),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_tenant")),
        sa.UniqueConstraint("loyalty_prefix", name=op.f("uq_tenant_loyalty_prefix")),
    )
    op.create_table(
        "retailer",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("retailer", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["tenant"], ["tenant.tenant"], name=op.f("fk_retailer_tenant_tenant")),
        sa.PrimaryKeyConstraint("tenant", "retailer", name=op.f("pk_retailer")),
    )
    op.create_table(
        "store",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("retailer", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("jurisdiction", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("receipt", sa.JSON(), nullable=False),
        sa.Column("offline_allowance_points", sa.BigInteger(), nullable=False),
        sa.Column("wallets_enabled", sa.Boolean(), nullable=False),
        sa.Column("warehouse", sa.String(length=64), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint("offline_allowance_points >= 0", name=op.f("ck_store_allowance_not_negative")),
        sa.ForeignKeyConstraint(
            ["tenant", "retailer"], ["retailer.tenant", "retailer.retailer"], name=op.f("fk_store_tenant_retailer")
        ),
        sa.PrimaryKeyConstraint("tenant", "store", name=op.f("pk_store")),
    )
    op.create_table(
        "store_device",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("loyalty_first", sa.BigInteger(), nullable=False),
        sa.Column("loyalty_last", sa.BigInteger(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "loyalty_first >= 1 AND loyalty_first <= loyalty_last", name=op.f("ck_store_device_range_ordered")
        ),
        sa.ForeignKeyConstraint(
            ["tenant", "store"], ["store.tenant", "store.store"], name=op.f("fk_store_device_tenant_store")
        ),
        sa.PrimaryKeyConstraint("tenant", "device", name=op.f("pk_store_device")),
    )
    op.create_index("ix_store_device_store", "store_device", ["tenant", "store"])
    op.create_table(
        "catalogue_item",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("tax_category", sa.String(length=64), nullable=False),
        sa.Column("brand", sa.String(length=64), nullable=True),
        sa.Column("distributor", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("cost_minor", sa.BigInteger(), nullable=True),
        sa.Column("measure_per_unit_milli", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("erp_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "unit_price_minor >= 0 AND (cost_minor IS NULL OR cost_minor >= 0)",
            name=op.f("ck_catalogue_item_money_positive"),
        ),
        sa.ForeignKeyConstraint(["tenant"], ["tenant.tenant"], name=op.f("fk_catalogue_item_tenant_tenant")),
        sa.PrimaryKeyConstraint("tenant", "sku", name=op.f("pk_catalogue_item")),
    )
    op.create_table(
        "catalogue_barcode",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("barcode", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant", "sku"],
            ["catalogue_item.tenant", "catalogue_item.sku"],
            name=op.f("fk_catalogue_barcode_tenant_catalogue_item"),
        ),
        sa.PrimaryKeyConstraint("tenant", "barcode", name=op.f("pk_catalogue_barcode")),
    )
    op.create_index("ix_catalogue_barcode_sku", "catalogue_barcode", ["tenant", "sku"])
    op.create_table(
        "catalogue_carrier",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("distributor", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant", "sku"],
            ["catalogue_item.tenant", "catalogue_item.sku"],
            name=op.f("fk_catalogue_carrier_tenant_catalogue_item"),
        ),
        sa.PrimaryKeyConstraint("tenant", "sku", "distributor", name=op.f("pk_catalogue_carrier")),
    )
    op.create_table(
        "catalogue_stock",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location_kind", sa.String(length=9), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("on_hand", sa.BigInteger(), nullable=False),
        sa.Column("forecast", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "location_kind IN ('warehouse', 'store')", name=op.f("ck_catalogue_stock_location_kind_known")
        ),
        sa.PrimaryKeyConstraint("tenant", "sku", "location_kind", "location", name=op.f("pk_catalogue_stock")),
    )
    op.create_table(
        "stock_rule",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("low_at", sa.BigInteger(), nullable=True),
        sa.Column("reorder_point", sa.BigInteger(), nullable=True),
        sa.Column("order_up_to", sa.BigInteger(), nullable=True),
        sa.Column("preferred_distributor", sa.String(length=64), nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "store", "sku", name=op.f("pk_stock_rule")),
    )
    op.create_table(
        "erp_cursor",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("full_read_at", Timestamp, nullable=True),
        sa.Column("stock_read_at", Timestamp, nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "source", name=op.f("pk_erp_cursor")),
    )
    op.create_table(
        "purchase_order",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=160), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("supplier", sa.String(length=64), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("erp_id", sa.String(length=64), nullable=True),
        sa.Column("erp_number", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "reference", name=op.f("pk_purchase_order")),
    )
    op.create_index("ix_purchase_order_event", "purchase_order", ["event_id"])
    op.create_table(
        "config_version",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("published_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "device", "kind", name=op.f("pk_config_version")),
    )


def downgrade() -> None:
    op.drop_table("config_version")
    op.drop_index("ix_purchase_order_event", table_name="purchase_order")
    op.drop_table("purchase_order")
    op.drop_table("erp_cursor")
    op.drop_table("stock_rule")
    op.drop_table("catalogue_stock")
    op.drop_table("catalogue_carrier")
    op.drop_index("ix_catalogue_barcode_sku", table_name="catalogue_barcode")
    op.drop_table("catalogue_barcode")
    op.drop_table("catalogue_item")
    op.drop_index("ix_store_device_store", table_name="store_device")
    op.drop_table("store_device")
    op.drop_table("store")
    op.drop_table("retailer")
    op.drop_table("tenant")
