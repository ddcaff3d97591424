"""The sale-line fact and its rollups, on SQLite and PostgreSQL: every line loaded once, in the store's zone,
refunds netted out, late arrivals caught by the overlap, and (PostgreSQL) monthly partitions with nothing lost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from hub import db
from hub.analytics import facts
from tests.hub.analytics_data import (
    ANA,
    REFUND_AT,
    SALE_1_AT,
    TENANT,
    ingest,
    line,
    load_all,
    loaded_engine,
    message,
    sale,
)

MARCH_10, MARCH_12 = date(2026, 3, 10), date(2026, 3, 12)


def rows(engine: sa.Engine, table: sa.Table, *columns: str) -> list[tuple[Any, ...]]:
    keys = [c.name for c in table.primary_key.columns]
    with engine.connect() as conn:
        found = conn.execute(sa.select(*(table.c[c] for c in columns)).order_by(*(table.c[k] for k in keys)))
        return [tuple(r) for r in found]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """The fixed dataset, loaded once per backend for the tests that only read it."""
    server = None if request.param == "sqlite" else request.getfixturevalue("pg_server")
    with loaded_engine(server, tmp_path_factory) as engine:
        yield engine


@pytest.fixture
def engine(hub_engine: sa.Engine) -> sa.Engine:
    """The fixed dataset in a database of the test's own, for the tests that add sales."""
    load_all(hub_engine)
    return hub_engine


def test_every_line_becomes_one_fact_in_the_stores_zone_with_refunds_negative(loaded: sa.Engine) -> None:
    f = db.sale_line_fact
    with loaded.connect() as conn:
        found = conn.execute(
            sa.select(
                f.c.store,
                f.c.local_date,
                f.c.hour,
                f.c.weekday,
                f.c.retailer,
                f.c.dc,
                f.c.region,
                f.c.customer,
                f.c.sku,
                f.c.category,
                f.c.brand,
                f.c.manufacturer,
                f.c.qty,
                f.c.amount_minor,
                f.c.cost_minor,
                f.c.refund,
            ).order_by(f.c.sold_at, f.c.line_no)
        ).all()
    assert [tuple(r) for r in found] == [
        ("store-a", MARCH_10, 9, 2, "shop-a", "dc-norte", "Nuevo León", ANA, "arroz", "abarrotes", "verde", "granos",
         2, 4000, 3000, False),
        ("store-a", MARCH_10, 9, 2, "shop-a", "dc-norte", "Nuevo León", ANA, "soda", "bebidas", "fizz", "fizzco",
         1, 1500, None, False),
        # 03:30 UTC on the 11th is 21:30 on Tuesday the 10th in Mexico City.
        ("store-b", MARCH_10, 21, 2, "shop-b", None, "Jalisco", None, "arroz", "abarrotes", "verde", "granos",
         1, 2000, 1500, False),
        # The refund names no customer: it is the sale's.
        ("store-a", MARCH_12, 10, 4, "shop-a", "dc-norte", "Nuevo León", ANA, "soda", "bebidas", "fizz", "fizzco",
         -1, -1500, None, True),
    ]  # fmt: skip


def test_the_rollups_add_up_to_the_hand_computed_figures(loaded: sa.Engine) -> None:
    assert rows(
        loaded, db.analytics_day_store_item, "local_date", "store", "sku", "qty", "amount_minor", "cost_minor",
        "costed_amount_minor", "tickets",
    ) == [
        (MARCH_10, "store-a", "arroz", 2, 4000, 3000, 4000, 1),
        (MARCH_10, "store-a", "soda", 1, 1500, 0, 0, 1),
        (MARCH_10, "store-b", "arroz", 1, 2000, 1500, 2000, 1),
        (MARCH_12, "store-a", "soda", -1, -1500, 0, 0, 0),
    ]  # fmt: skip
    assert rows(
        loaded, db.analytics_day_store, "local_date", "store", "tickets", "identified_tickets", "refunds",
        "sales_minor", "refunds_minor", "amount_minor", "points_earned", "points_spent",
    ) == [
        (MARCH_10, "store-a", 1, 1, 0, 5500, 0, 5500, 8, 0),
        (MARCH_10, "store-b", 1, 0, 0, 2000, 0, 2000, 0, 0),
        (MARCH_12, "store-a", 0, 0, 1, 0, 1500, -1500, 0, 0),
    ]  # fmt: skip
    assert rows(
        loaded, db.analytics_day_store_hour, "local_date", "store", "hour", "weekday", "tickets", "amount_minor"
    ) == [
        (MARCH_10, "store-a", 9, 2, 1, 5500),
        (MARCH_10, "store-b", 21, 2, 1, 2000),
        (MARCH_12, "store-a", 10, 4, 0, -1500),
    ]
    assert rows(
        loaded, db.analytics_day_store_member, "local_date", "store", "customer", "tickets", "amount_minor"
    ) == [
        (MARCH_10, "store-a", ANA, 1, 5500),
        (MARCH_12, "store-a", ANA, 0, -1500),
    ]
    assert rows(loaded, db.analytics_member_month, "customer", "month", "tickets", "amount_minor", "points_earned") == [
        (ANA, date(2026, 3, 1), 1, 4000, 8)
    ]


def test_loading_again_changes_nothing(loaded: sa.Engine) -> None:
    before = {t.name: rows(loaded, t, *(c.name for c in t.columns)) for t in facts.ROLLUPS}
    with db.writing(loaded) as conn:
        again = facts.load_facts(conn, TENANT, now=REFUND_AT + timedelta(minutes=1))
    assert (again.sales, again.refunds, again.lines) == (0, 0, 0)
    assert {t.name: rows(loaded, t, *(c.name for c in t.columns)) for t in facts.ROLLUPS} == before


def test_sales_arriving_later_are_loaded_once_each_within_the_load_limit(engine: sa.Engine) -> None:
    # Received before the newest loaded event (the refund) but committed only now: inside the overlap.
    late = message("box-a", sale("s-late", "store-a", [line("arroz", 1, 2000)]), at=SALE_1_AT + timedelta(hours=1),
                   received_at=REFUND_AT - timedelta(minutes=5))  # fmt: skip
    # A member identified at the counter who earns no points is the sale's customer all the same.
    bare = message("box-b", sale("s-bare", "store-b", [line("arroz", 1, 2000)], customer=ANA), at=SALE_1_AT,
                   received_at=REFUND_AT)  # fmt: skip
    third = message("box-b", sale("s-3", "store-b", [line("arroz", 1, 2000)]), at=SALE_1_AT + timedelta(hours=2),
                    received_at=REFUND_AT)  # fmt: skip
    ingest(engine, late, bare, third)
    with db.writing(engine) as conn:
        first = facts.load_facts(conn, TENANT, now=REFUND_AT, limit=2)
    with db.writing(engine) as conn:
        second = facts.load_facts(conn, TENANT, now=REFUND_AT, limit=2)
    with db.writing(engine) as conn:
        third_load = facts.load_facts(conn, TENANT, now=REFUND_AT, limit=2)
    assert (first.sales, first.more, second.sales, second.more, third_load.sales) == (2, True, 1, False, 0)
    assert rows(engine, db.analytics_day_store, "local_date", "store", "tickets", "identified_tickets", "amount_minor")[
        :2
    ] == [(MARCH_10, "store-a", 2, 1, 7500), (MARCH_10, "store-b", 3, 1, 6000)]
    s, f = db.sale, db.sale_line_fact
    with engine.connect() as conn:
        stored = conn.execute(sa.select(s.c.customer).where(s.c.sale_id == "s-bare")).scalar_one()
        loaded = conn.execute(
            sa.select(f.c.customer).where(f.c.store == "store-b", f.c.customer.is_not(None))
        ).scalar_one()
    assert stored == loaded == ANA


@pytest.mark.parametrize("hub_db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_partitions_are_made_ahead_and_rows_in_the_default_partition_move_into_them(engine: sa.Engine) -> None:
    far = datetime(2031, 1, 5, 12, 0, tzinfo=UTC)
    ingest(engine, message("box-a", sale("s-far", "store-a", [line("arroz", 1, 2000)]), at=far, received_at=REFUND_AT))
    with db.writing(engine) as conn:
        facts.load_facts(conn, TENANT, now=REFUND_AT)
    with db.writing(engine) as conn:
        made = facts.ensure_partitions(conn, now=datetime(2026, 3, 15, tzinfo=UTC))
    assert made.created == [facts.partition_name(date(2026, m, 1)) for m in (3, 4, 5, 6)]
    assert (made.moved_rows, made.left_in_default) == (4, 1)
    with engine.connect() as conn:
        per_table: dict[str, int] = dict(
            conn.execute(sa.text("SELECT tableoid::regclass::text, count(*) FROM sale_line_fact GROUP BY 1")).all()
        )
    assert per_table == {"sale_line_fact_p202603": 4, "sale_line_fact_default": 1}
    with db.writing(engine) as conn:
        assert facts.ensure_partitions(conn, now=datetime(2026, 3, 15, tzinfo=UTC)).created == []
    # A sale of a month that has its partition goes straight into it.
    ingest(engine, message("box-a", sale("s-apr", "store-a", [line("arroz", 1, 2000)]),
                           at=datetime(2026, 4, 2, tzinfo=UTC), received_at=REFUND_AT))  # fmt: skip
    with db.writing(engine) as conn:
        facts.load_facts(conn, TENANT, now=REFUND_AT)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sale_line_fact_p202604")).scalar() == 1


def test_the_analytics_migration_goes_down_and_up_again(hub_engine: sa.Engine) -> None:
    from alembic import command

    cfg = db.alembic_config(hub_engine.url.render_as_string(hide_password=False))
    with hub_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010_points_voided")
    assert "sale_line_fact" not in sa.inspect(hub_engine).get_table_names()
    assert "region" not in {c["name"] for c in sa.inspect(hub_engine).get_columns("store")}
    db.migrate(hub_engine)
    load_all(hub_engine)
    assert rows(hub_engine, db.analytics_day_store, "tickets") == [(1,), (1,), (0,)]
