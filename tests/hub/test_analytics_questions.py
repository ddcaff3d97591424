"""The analytics questions against figures worked out by hand from the fixed network of
``tests/hub/analytics_data.py``, on SQLite and PostgreSQL; and the filter's validation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from core.errors import InvalidInput
from hub import db
from hub.analytics import facts, filters, questions
from hub.analytics.filters import Filter
from hub.ingest.worker import Incoming
from tests.hub.analytics_data import ANA, SALE_1_AT, TENANT, ingest, line, loaded_engine, message, sale

MARCH: dict[str, Any] = {"preset": "custom", "date_from": date(2026, 3, 1), "date_to": date(2026, 3, 31)}
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
A_YEAR_BEFORE = datetime(2025, 3, 15, 18, 0, tzinfo=UTC)  # Saturday of ISO week 11 of 2025
LAST_TUESDAY = datetime(2026, 4, 7, 15, 0, tzinfo=UTC)
TUESDAY = datetime(2026, 4, 14, 15, 30, tzinfo=UTC)  # 09:30 in Mexico City
EXTRA = [
    # Beside the module's three events, outside March 2026: a sale a year before, and two in April, a week apart.
    message("box-a", sale("s-2025", "store-a", [line("arroz", 1, 2000)]), at=A_YEAR_BEFORE, received_at=NOW),
    message("box-a", sale("s-0407", "store-a", [line("arroz", 2, 2000)], customer=ANA), at=LAST_TUESDAY,
            received_at=NOW),
    message("box-b", sale("s-0414", "store-b", [line("arroz", 3, 2000)], customer=ANA), at=TUESDAY, received_at=NOW),
]  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """The fixed dataset, loaded once per backend for the tests that only read it."""
    server = None if request.param == "sqlite" else request.getfixturevalue("pg_server")
    with loaded_engine(server, tmp_path_factory) as engine:
        load(engine, *EXTRA)
        yield engine


def flt(conn: sa.Connection, now: datetime = NOW, **kwargs: Any) -> Filter:
    return filters.make_filter(conn, TENANT, now=now, **{**MARCH, **kwargs})


def load(engine: sa.Engine, *items: Incoming) -> None:
    for item in items:
        ingest(engine, item)
    with db.writing(engine) as conn:
        facts.load_facts(conn, TENANT, now=NOW)


def test_best_sellers_by_item_region_dc_and_manufacturer_with_their_margins(loaded: sa.Engine) -> None:
    ranked = questions.Ranked
    with loaded.connect() as conn:
        assert questions.best_sellers(conn, flt(conn)) == [
            ranked("arroz", "MXN", 3, 6000, 4500, 6000, 1500, 2500, 2),
            ranked("soda", "MXN", 0, 0, 0, 0, 0, None, 1),  # sold and refunded; its cost is not known
        ]
        by_region = questions.best_sellers(conn, flt(conn), by="region")
        assert [(r.key, r.qty, r.amount_minor, r.margin_minor, r.tickets) for r in by_region] == [
            ("Nuevo León", 2, 4000, 1000, 2),
            ("Jalisco", 1, 2000, 500, 1),
        ]
        assert [(r.key, r.amount_minor) for r in questions.best_sellers(conn, flt(conn), by="dc")] == [
            ("dc-norte", 4000),
            (None, 2000),
        ]
        by_maker = questions.best_sellers(conn, flt(conn), by="manufacturer", order="qty")
        assert [(r.key, r.qty) for r in by_maker] == [("granos", 3), ("fizzco", 0)]
        fizz = questions.best_sellers(conn, flt(conn, brand="fizz"), by="category")
        assert [(r.key, r.qty, r.amount_minor, r.tickets) for r in fizz] == [("bebidas", 0, 0, 1)]
        jalisco = questions.best_sellers(conn, flt(conn, region="Jalisco"), order="margin_rate")
        assert [(r.key, r.amount_minor, r.margin_bp) for r in jalisco] == [("arroz", 2000, 2500)]


def test_seasons_put_last_years_same_season_beside(loaded: sa.Engine) -> None:
    with loaded.connect() as conn:
        assert questions.seasons(conn, flt(conn), by="month") == [
            questions.SeasonRow("2026-03", "MXN", 3, 6000, 1500, 3, 2000)
        ]
        weeks = questions.seasons(conn, flt(conn), by="week")
        assert [(w.label, w.amount_minor, w.last_year_amount_minor) for w in weeks] == [("2026-W11", 6000, 2000)]
        assert [(q.label, q.amount_minor) for q in questions.seasons(conn, flt(conn), by="quarter")] == [
            ("2026-Q1", 6000)
        ]


def test_top_retailers_and_members_and_the_trend_of_the_top_against_the_rest(loaded: sa.Engine) -> None:
    with loaded.connect() as conn:
        assert questions.top_retailers(conn, flt(conn)) == [
            questions.TopRetailer("shop-a", "MXN", 4000, 1, 1),
            questions.TopRetailer("shop-b", "MXN", 2000, 1, 1),
        ]
        assert questions.top_retailers(conn, flt(conn, brand="verde"))[0] == questions.TopRetailer(
            "shop-a", "MXN", 4000, None, 1
        )
        assert questions.top_members(conn, flt(conn)) == [questions.TopMember(ANA, "MXN", 4000, 1, 1, 8, 0)]
        days = flt(conn, date_from=date(2026, 3, 9), date_to=date(2026, 3, 12))
        trend = questions.top_trend(conn, days, of="retailer", n=1)
    assert (trend.bucket, trend.currency) == ("day", "MXN")
    assert trend.labels == ["2026-03-09", "2026-03-10", "2026-03-11", "2026-03-12"]
    assert trend.series == [questions.Series("shop-a", [0, 5500, 0, -1500])]
    assert trend.rest == [0, 2000, 0, 0]


def test_the_heatmap_counts_tickets_by_local_weekday_and_hour(loaded: sa.Engine) -> None:
    with loaded.connect() as conn:
        heat = questions.heatmap(conn, flt(conn))
    expected = [[0] * 24 for _ in range(7)]
    expected[1][9] = expected[1][21] = 1  # Tuesday 09:00 at store-a, 21:30 at store-b; the refund is no ticket
    assert heat == questions.Heatmap(expected, 2, 9)


def test_live_activity_compares_today_with_the_same_weekday_last_week(loaded: sa.Engine) -> None:
    with loaded.connect() as conn:
        today = flt(conn, now=TUESDAY, preset="today", date_from=None, date_to=None)
        live = questions.live_activity(conn, today, now=TUESDAY)
    fig = questions.Figures
    assert (live.today, live.last_week, live.zone) == (date(2026, 4, 14), date(2026, 4, 7), "America/Mexico_City")
    assert [(r.level, r.key, r.today, r.last_week) for r in live.rows] == [
        ("retailer", "shop-b", fig(1, 6000, 1, 0, 0), fig()),
        ("retailer", "shop-a", fig(), fig(1, 4000, 1, 0, 0)),
        ("store", "store-b", fig(1, 6000, 1, 0, 0), fig()),
        ("store", "store-a", fig(), fig(1, 4000, 1, 0, 0)),
    ]


def test_the_live_feed_lists_the_latest_tickets_newest_first(loaded: sa.Engine) -> None:
    now = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)  # before the refund; the day before holds both sales
    with loaded.connect() as conn:
        feed = questions.live_feed(conn, flt(conn, now=now), now=now)
        assert [(e.store, e.amount_minor, e.qty, e.lines, e.customer, e.refund) for e in feed] == [
            ("store-b", 2000, 1, 1, None, False),
            ("store-a", 5500, 3, 2, ANA, False),
        ]
        assert feed[1].sold_at == SALE_1_AT
        assert len(questions.live_feed(conn, flt(conn, now=now), now=now, limit=1)) == 1
        with pytest.raises(InvalidInput) as err:
            questions.live_feed(conn, flt(conn, now=now), now=now, limit=questions.FEED_MAX + 1)
    assert err.value.field == "limit"


def test_a_retailer_sees_only_its_own_stores(loaded: sa.Engine) -> None:
    with loaded.connect() as conn:
        own = flt(conn, scope_retailer="shop-b")
        assert [r.retailer for r in questions.top_retailers(conn, own)] == ["shop-b"]
        assert [(r.key, r.amount_minor) for r in questions.best_sellers(conn, own)] == [("arroz", 2000)]
        others: list[tuple[str, dict[str, Any]]] = [
            ("store", {"store": "store-a"}),
            ("retailer", {"retailer": "shop-a"}),
        ]
        for field, kwargs in others:
            with pytest.raises(InvalidInput) as err:
                flt(conn, scope_retailer="shop-b", **kwargs)
            assert err.value.field == field


BAD_FILTERS: list[tuple[dict[str, Any], str]] = [
    ({"region": "Atlantis"}, "region"),
    ({"dc": "dc-sur"}, "dc"),
    ({"brand": "nada"}, "brand"),
    ({"category": "juguetes"}, "category"),
    ({"store": "store-z"}, "store"),
    ({"date_from": date(2026, 3, 31), "date_to": date(2026, 3, 1)}, "to"),
    ({"date_to": None}, "to"),
    ({"preset": "fortnight", "date_from": None, "date_to": None}, "preset"),
    ({"preset": "7d"}, "preset"),
    ({"date_from": date(2020, 1, 1)}, "to"),
]


def test_a_bad_filter_names_its_field(loaded: sa.Engine) -> None:
    named = []
    with loaded.connect() as conn:
        for kwargs, _field in BAD_FILTERS:
            with pytest.raises(InvalidInput) as err:
                flt(conn, **kwargs)
            named.append(err.value.field)
    assert named == [f for _k, f in BAD_FILTERS]


def test_presets_take_today_in_the_tenants_zone(loaded: sa.Engine) -> None:
    late = datetime(2026, 3, 12, 5, 0, tzinfo=UTC)  # still the 11th in Mexico City
    with loaded.connect() as conn:
        periods = {p: flt(conn, now=late, preset=p, date_from=None, date_to=None).period for p in filters.PRESETS[:-1]}
        with pytest.raises(InvalidInput) as err:
            questions.heatmap(conn, flt(conn, brand="verde"))
    assert err.value.field == "brand"
    assert {p: (v.start, v.end) for p, v in periods.items()} == {
        "today": (date(2026, 3, 11), date(2026, 3, 11)),
        "7d": (date(2026, 3, 5), date(2026, 3, 11)),
        "30d": (date(2026, 2, 10), date(2026, 3, 11)),
        "90d": (date(2025, 12, 12), date(2026, 3, 11)),
        "month": (date(2026, 3, 1), date(2026, 3, 11)),
        "quarter": (date(2026, 1, 1), date(2026, 3, 11)),
        "year": (date(2026, 1, 1), date(2026, 3, 11)),
    }
