"""analytics: where stores are and who supplies them, manufacturers and brands, members' postal codes, the
sale-line fact (partitioned by month on PostgreSQL) and its rollups

Revision ID: 0011_analytics
Revises: 0004, 0005, 0008, 0010_points_voided
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_analytics"
down_revision = ("0004", "0005", "0008", "0010_points_voided")
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def _dimensions() -> None:
    op.create_table(
        "distribution_centre",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("dc", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["tenant"], ["tenant.tenant"], name=op.f("fk_distribution_centre_tenant_tenant")),
        sa.PrimaryKeyConstraint("tenant", "dc", name=op.f("pk_distribution_centre")),
    )
    op.create_table(
        "manufacturer",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("manufacturer", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["tenant"], ["tenant.tenant"], name=op.f("fk_manufacturer_tenant_tenant")),
        sa.PrimaryKeyConstraint("tenant", "manufacturer", name=op.f("pk_manufacturer")),
    )
    op.create_table(
        "brand",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("brand", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("manufacturer", sa.String(length=64), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["tenant"], ["tenant.tenant"], name=op.f("fk_brand_tenant_tenant")),
        sa.ForeignKeyConstraint(
            ["tenant", "manufacturer"],
            ["manufacturer.tenant", "manufacturer.manufacturer"],
            name=op.f("fk_brand_tenant_manufacturer"),
        ),
        sa.PrimaryKeyConstraint("tenant", "brand", name=op.f("pk_brand")),
    )
    op.create_index("ix_brand_manufacturer", "brand", ["tenant", "manufacturer"])
    op.create_table(
        "postal_area",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("postal_code", sa.String(length=16), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("municipality", sa.String(length=120), nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "postal_code", name=op.f("pk_postal_area")),
    )
    # Existing stores: country, place and distribution centre unknown, region empty, until the network says.
    with op.batch_alter_table("store") as batch:
        batch.add_column(sa.Column("country", sa.String(length=2), nullable=True))
        batch.add_column(sa.Column("region", sa.String(length=64), nullable=False, server_default=""))
        batch.add_column(sa.Column("municipality", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("postal_code", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        batch.add_column(sa.Column("dc", sa.String(length=64), nullable=True))
        batch.create_foreign_key(
            "fk_store_tenant_distribution_centre", "distribution_centre", ["tenant", "dc"], ["tenant", "dc"]
        )
        batch.create_check_constraint(
            "coordinates_in_range",
            "(latitude IS NULL OR latitude BETWEEN -90 AND 90) AND "
            "(longitude IS NULL OR longitude BETWEEN -180 AND 180)",
        )
    op.create_index("ix_store_region", "store", ["tenant", "region"])
    with op.batch_alter_table("catalogue_item") as batch:
        batch.add_column(sa.Column("manufacturer", sa.String(length=64), nullable=True))
    with op.batch_alter_table("customer") as batch:
        batch.add_column(sa.Column("postal_code", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("occupation", sa.String(length=64), nullable=True))


def _facts() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "sale_line_fact",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sold_at", Timestamp, nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("retailer", sa.String(length=64), nullable=False),
        sa.Column("dc", sa.String(length=64), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("customer", sa.String(length=12), nullable=True),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("brand", sa.String(length=64), nullable=True),
        sa.Column("manufacturer", sa.String(length=64), nullable=True),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("cost_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("refund", sa.Boolean(), nullable=False),
        sa.Column("loaded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "event_id", "line_no", "sold_at", name=op.f("pk_sale_line_fact")),
        postgresql_partition_by="RANGE (sold_at)",
    )
    if postgres:
        # A sale whose month has no partition yet (a box clock far off, a job that did not run) lands here and
        # is moved into its month's partition when ensure_partitions makes it.
        op.execute("CREATE TABLE sale_line_fact_default PARTITION OF sale_line_fact DEFAULT")
    op.create_index("ix_sale_line_fact_sold_at", "sale_line_fact", ["sold_at"], postgresql_using="brin")
    op.create_index("ix_sale_line_fact_event", "sale_line_fact", ["event_id"])
    op.create_index("ix_sale_line_fact_tenant_date", "sale_line_fact", ["tenant", "local_date"])
    op.create_table(
        "analytics_watermark",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("received_at", Timestamp, nullable=False),
        sa.Column("rows_loaded", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "source", name=op.f("pk_analytics_watermark")),
    )
    op.create_table(
        "analytics_day_store_item",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("retailer", sa.String(length=64), nullable=False),
        sa.Column("dc", sa.String(length=64), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("brand", sa.String(length=64), nullable=True),
        sa.Column("manufacturer", sa.String(length=64), nullable=True),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("cost_minor", sa.BigInteger(), nullable=False),
        sa.Column("costed_amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("tickets", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "local_date", "store", "sku", name=op.f("pk_analytics_day_store_item")),
    )
    op.create_index("ix_analytics_day_store_item_date", "analytics_day_store_item", ["tenant", "local_date"])
    op.create_table(
        "analytics_day_store",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("retailer", sa.String(length=64), nullable=False),
        sa.Column("dc", sa.String(length=64), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("tickets", sa.BigInteger(), nullable=False),
        sa.Column("identified_tickets", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.BigInteger(), nullable=False),
        sa.Column("sales_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunds_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("points_earned", sa.BigInteger(), nullable=False),
        sa.Column("points_spent", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "local_date", "store", name=op.f("pk_analytics_day_store")),
    )
    op.create_index("ix_analytics_day_store_date", "analytics_day_store", ["tenant", "local_date"])
    op.create_table(
        "analytics_day_store_hour",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("retailer", sa.String(length=64), nullable=False),
        sa.Column("tickets", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "local_date", "store", "hour", name=op.f("pk_analytics_day_store_hour")),
    )
    op.create_table(
        "analytics_day_store_member",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("customer", sa.String(length=12), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("retailer", sa.String(length=64), nullable=False),
        sa.Column("tickets", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("points_earned", sa.BigInteger(), nullable=False),
        sa.Column("points_spent", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant", "local_date", "store", "customer", name=op.f("pk_analytics_day_store_member")
        ),
    )
    op.create_index("ix_analytics_day_store_member_customer", "analytics_day_store_member", ["tenant", "customer"])
    op.create_table(
        "analytics_member_month",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("customer", sa.String(length=12), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tickets", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("points_earned", sa.BigInteger(), nullable=False),
        sa.Column("points_spent", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "customer", "month", "currency", name=op.f("pk_analytics_member_month")),
    )
    op.create_index("ix_analytics_member_month_month", "analytics_member_month", ["tenant", "month"])


def upgrade() -> None:
    _dimensions()
    _facts()


def downgrade() -> None:
    for table in (
        "analytics_member_month",
        "analytics_day_store_member",
        "analytics_day_store_hour",
        "analytics_day_store",
        "analytics_day_store_item",
        "analytics_watermark",
    ):
        op.drop_table(table)
    op.drop_table("sale_line_fact")  # its partitions go with it on PostgreSQL
    with op.batch_alter_table("customer") as batch:
        batch.drop_column("occupation")
        batch.drop_column("postal_code")
    with op.batch_alter_table("catalogue_item") as batch:
        batch.drop_column("manufacturer")
    op.drop_index("ix_store_region", table_name="store")
    with op.batch_alter_table("store") as batch:
        batch.drop_constraint("ck_store_coordinates_in_range", type_="check")
        batch.drop_constraint("fk_store_tenant_distribution_centre", type_="foreignkey")
        for column in ("dc", "longitude", "latitude", "postal_code", "municipality", "region", "country"):
            batch.drop_column(column)
    op.drop_table("postal_area")
    op.drop_index("ix_brand_manufacturer", table_name="brand")
    op.drop_table("brand")
    op.drop_table("manufacturer")
    op.drop_table("distribution_centre")
