"""Products bought together, the KPI scorecard, levels and the manufacturer's view, on SQLite and PostgreSQL,
against the figures worked out by hand from tests/hub/segments_data.py; and their API answers (JSON and CSV,
roles), including a manufacturer user who sees its brands' sell-out and never a consumer."""

from __future__ import annotations

import csv
import io
import uuid
import warnings
from collections.abc import Iterator
from datetime import date
from typing import Any, TypedDict

import pytest
import sqlalchemy as sa
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 fork for its test client; httpx (a project dependency) still works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from core import wire
from hub import db
from hub.analytics import facts
from hub.api import ApiSettings, create_app
from hub.api.accounts import Role, create_user, issue_token
from hub.segments import baskets, levels, scorecard
from hub.segments import manufacturers as mf
from hub.segments import saved as sg
from tests.hub import analytics_data as ad
from tests.hub import segments_data as sd
from tests.hub.segments_data import ANA, BEA, CARLOS, DORA, NOW, TENANT


class Period(TypedDict):
    date_from: date
    date_to: date


MARCH: Period = {"date_from": date(2026, 3, 1), "date_to": date(2026, 3, 31)}
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    server = None if request.param == "sqlite" else request.getfixturevalue("pg_server")
    yield from sd.loaded_database(server, tmp_path_factory)


def pairs(report: baskets.CombinationReport) -> list[tuple[tuple[str, ...], int, float, tuple[float, ...], float]]:
    return [(c.items, c.tickets, c.support, c.confidence, c.lift) for c in report.combinations]


# --- combinations -------------------------------------------------------------------------------------------


def test_pairs_and_triples_with_support_confidence_and_lift(engine: sa.Engine) -> None:
    with sd.rolled_back(engine) as conn:
        two = baskets.combinations(conn, TENANT, **MARCH, min_tickets=1)
        three = baskets.combinations(conn, TENANT, **MARCH, size=3, min_tickets=1)
        jalisco = baskets.combinations(conn, TENANT, **MARCH, regions=["Jalisco"], min_tickets=2)
    # 9 March tickets; arroz in 7, soda in 5, chips in 3.
    assert (two.tickets, two.excluded_tickets) == (9, 0)
    assert pairs(two) == [
        (("arroz", "soda"), 3, 0.333333, (0.428571, 0.6), 0.771429),
        (("arroz", "chips"), 2, 0.222222, (0.285714, 0.666667), 0.857143),
        (("chips", "soda"), 2, 0.222222, (0.666667, 0.4), 1.2),
    ]
    assert [c.item_tickets for c in two.combinations] == [(7, 5), (7, 3), (3, 5)]
    assert pairs(three) == [(("arroz", "chips", "soda"), 1, 0.111111, (0.5, 0.333333, 0.5), 0.771429)]
    # Jalisco: C1, W1, W2; chips and soda together in two of three.
    assert jalisco.tickets == 3
    assert pairs(jalisco) == [(("chips", "soda"), 2, 0.666667, (1.0, 1.0), 1.5)]


def test_combinations_leave_out_refunds_and_baskets_over_the_bound(
    hub_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = hub_engine
    sd.load(engine)
    refund = wire.RefundData(
        refund_id="r-w2",
        sale_id="W2",
        store="store-b",
        currency="MXN",
        lines=[wire.RefundLine(line_no=3, sku="chips", qty=1, amount_minor=1000)],
        total_minor=1000,
        tenders=[wire.TenderRecord(kind="cash", amount_minor=1000)],
    )
    ad.ingest(engine, ad.message("box-b", refund, at=sd.local(date(2026, 3, 28))))
    with db.writing(engine) as conn:
        assert facts.load_facts(conn, TENANT, now=NOW).lines == 1
        # The refund is no basket: still 9 tickets and the same pairs.
        again = baskets.combinations(conn, TENANT, **MARCH, min_tickets=1)
        assert again.tickets == 9
        assert [c.tickets for c in again.combinations] == [3, 2, 2]
        monkeypatch.setattr(baskets, "MAX_BASKET_ITEMS", 1)
        capped = baskets.combinations(conn, TENANT, **MARCH, min_tickets=1)
    # Only A2, A4, B1 and C1 hold a single item.
    assert (capped.tickets, capped.excluded_tickets, capped.combinations) == (4, 5, [])


def test_combinations_refuse_a_bad_request(engine: sa.Engine) -> None:
    with sd.rolled_back(engine) as conn:
        for kwargs, field in (
            ({"size": 4}, "size"),
            ({"date_from": date(2026, 4, 1), "date_to": date(2026, 3, 1)}, "date_to"),
            ({"limit": baskets.MAX_COMBINATIONS + 1}, "limit"),
        ):
            args: dict[str, Any] = {**MARCH, **kwargs}
            with pytest.raises(ValueError, match=field):
                baskets.combinations(conn, TENANT, **args)


# --- the scorecard --------------------------------------------------------------------------------------------


def test_returns_for_members_and_retailers(engine: sa.Engine) -> None:
    with sd.rolled_back(engine) as conn:
        members = scorecard.returns(conn, TENANT, **MARCH)
        for n, (store, day) in enumerate((("store-a", 3), ("store-a", 20), ("store-b", 9), ("store-b", 10))):
            conn.execute(
                sa.insert(db.purchase_order).values(
                    tenant=TENANT,
                    reference=f"po-{n}",
                    event_id=uuid.uuid4(),
                    store=store,
                    supplier="acme",
                    lines=[],
                    state="rejected" if n == 3 else "draft",
                    detail="",
                    created_at=sd.local(date(2026, 3, day)),
                )
            )
        retailers = scorecard.returns(conn, TENANT, party="retailer", **MARCH)
    # 5 enrolled; ANA 4 tickets, BEA 2, CARLOS 1.
    assert (members.enrolled, members.came, members.shares) == (5, (3, 2, 1, 1), (0.6, 0.4, 0.2, 0.2))
    # shop-a placed 2 orders, shop-b 1 (its other one was rejected by the ERP).
    assert (retailers.enrolled, retailers.came, retailers.shares) == (2, (2, 1, 0, 0), (1.0, 0.5, 0.0, 0.0))


def test_the_loyal_members_profile_and_their_lapsed_lookalikes(engine: sa.Engine) -> None:
    with sd.rolled_back(engine) as conn:
        profile = scorecard.loyal_profile(conn, TENANT, **MARCH, loyal_min_tickets=2)
        wanted, lapsed = scorecard.lapsed_lookalikes(conn, TENANT, **MARCH, loyal_min_tickets=2, lapsed_days=60)

    def rows(dimension: str) -> list[tuple[str, int, int]]:
        return [(r.value, r.loyal, r.everyone) for r in profile[dimension]]

    # Loyal (2 tickets or more in March): ANA and BEA.
    assert rows("gender") == [("female", 2, 4), ("male", 0, 1)]
    assert rows("age_band") == [("35-44", 1, 3), ("25-34", 1, 1), ("65+", 0, 1)]
    assert rows("zone") == [("Nuevo León", 2, 4), ("Jalisco", 0, 1)]
    assert rows("category") == [("abarrotes", 2, 3), ("bebidas", 2, 2), ("botanas", 1, 1)]
    assert [(r.loyal_share, r.everyone_share) for r in profile["gender"]] == [(1.0, 0.8), (0.0, 0.2)]
    assert wanted == {"gender": "female", "age_band": "35-44", "zone": "Nuevo León"}
    # DORA last bought on 10 January; EVA never bought, so she has not lapsed.
    assert [(m.loyalty_id, m.last_visit, m.marketing_consent) for m in lapsed] == [(DORA, date(2026, 1, 10), False)]


def test_the_season_of_most_returns_and_cross_selling_per_store(engine: sa.Engine) -> None:
    with sd.rolled_back(engine) as conn:
        season = scorecard.seasons(conn, TENANT, date_from=date(2026, 1, 1), date_to=date(2026, 6, 30))
        stores = scorecard.cross_selling(conn, TENANT, **MARCH)
    # ANA: first in February, 4 returns in March; BEA 1 return in March; CARLOS and DORA none.
    assert season["months"] == [
        {"month": "2026-01", "returns": 0},
        {"month": "2026-02", "returns": 0},
        {"month": "2026-03", "returns": 5},
    ]
    assert season["best"] == "Q1"
    assert [(s.store, s.tickets, s.ticket_categories, s.categories_per_ticket) for s in stores] == [
        ("store-b", 3, 6, 2.0),
        ("store-a", 6, 9, 1.5),
    ]


def test_the_state_with_the_lowest_average_monthly_purchase(engine: sa.Engine) -> None:
    with sd.rolled_back(engine) as conn:
        zones = scorecard.zone_monthly_purchase(conn, TENANT, date_from=date(2026, 1, 1), date_to=date(2026, 3, 31))
        lowest = zones[0].zone
        # ... and a segment aimed at its members.
        members = set(conn.execute(sg.matching(conn, TENANT, {"kind": "zone", "regions": [lowest]}, now=NOW)).scalars())
    # Nuevo León: ANA 20.00 (Feb) and 165.00 (Mar), BEA 65.00 (Mar), DORA 15.00 (Jan): 265.00 over 4 member-months.
    assert [(z.zone, z.members, z.member_months, z.amount_minor, z.average_minor) for z in zones] == [
        ("Nuevo León", 3, 4, 26_500, 6_625),
        ("Jalisco", 1, 1, 120_000, 120_000),
    ]
    assert members == {ANA, BEA, DORA, sd.EVA}


# --- levels ---------------------------------------------------------------------------------------------------


def test_levels_follow_the_seed_and_keep_101_to_150_at_level_2() -> None:
    scheme = levels.DEFAULT_SCHEME
    assert [scheme.level(n) for n in (0, 50, 51, 100, 101, 150, 151)] == [1, 1, 2, 2, 2, 2, 3]
    with pytest.raises(ValueError, match="level2_max"):
        levels.LevelScheme(100, 50, 150)


def test_counts_per_level_and_moves_for_members_and_retailers(engine: sa.Engine) -> None:
    with sd.rolled_back(engine) as conn:
        default = levels.level_report(conn, TENANT, "member", date(2026, 3, 15))
        levels.set_scheme(conn, TENANT, levels.LevelScheme(1, 2, 3), now=NOW)
        members = levels.level_report(conn, TENANT, "member", date(2026, 3, 1))
        retailers = levels.level_report(conn, TENANT, "retailer", date(2026, 3, 1))
    assert [(c.level, c.count) for c in default.counts] == [(1, 3), (2, 0), (3, 0)]
    # March against February: ANA 1 -> 4 tickets (level 1 -> 3), BEA 0 -> 2 (1 -> 2), CARLOS 0 -> 1 (1 -> 1).
    assert [(c.level, c.count) for c in members.counts] == [(1, 1), (2, 1), (3, 1)]
    assert [(m.from_level, m.to_level, m.count) for m in members.moves] == [(1, 1, 1), (1, 2, 1), (1, 3, 1)]
    # shop-a: 1 -> 6 tickets (level 3); shop-b: 0 -> 3, inside the 3-to-3 band: level 2.
    assert [(m.from_level, m.to_level, m.count) for m in retailers.moves] == [(1, 2, 1), (1, 3, 1)]


# --- the manufacturer's view ----------------------------------------------------------------------------------


def test_a_manufacturer_sees_the_sell_out_of_its_granted_brands_only(engine: sa.Engine) -> None:
    with sd.rolled_back(engine) as conn:
        assert mf.sell_out(conn, TENANT, "fizzco", **MARCH) == []
        mf.grant(conn, TENANT, "fizzco", "fizz", by="admin@acme.example.com", now=NOW)
        by_region = mf.sell_out(conn, TENANT, "fizzco", **MARCH, group_by=("region",))
        by_sku = mf.sell_out(conn, TENANT, "fizzco", **MARCH, group_by=("sku", "month"))
        with pytest.raises(mf.BrandNotFound):
            mf.grant(conn, TENANT, "fizzco", "nope", by="a", now=NOW)
        assert mf.revoke(conn, TENANT, "fizzco", "fizz")
        assert mf.sell_out(conn, TENANT, "fizzco", **MARCH) == []
    # Soda: 4 units at store-a (Nuevo León), 2 at store-b (Jalisco); chips 1 and 2.
    assert [(r.key, r.units, r.revenue_minor) for r in by_region] == [
        ({"region": "Nuevo León"}, 5, 7_000),
        ({"region": "Jalisco"}, 4, 5_000),
    ]
    assert [(r.key, r.units, r.revenue_minor) for r in by_sku] == [
        ({"sku": "soda", "month": "2026-03"}, 6, 9_000),
        ({"sku": "chips", "month": "2026-03"}, 3, 3_000),
    ]


# --- the API ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(engine: sa.Engine) -> Iterator[tuple[TestClient, dict[Role, dict[str, str]]]]:
    settings = ApiSettings(argon2_time_cost=1, argon2_memory_kib=8, argon2_parallelism=1, clock=lambda: NOW)
    headers: dict[Role, dict[str, str]] = {}
    with engine.begin() as conn:
        for role in (Role.DISTRIBUTOR_ADMIN, Role.ANALYST, Role.MANUFACTURER, Role.RETAILER):
            user = create_user(
                conn,
                settings,
                tenant=TENANT,
                email=f"{role.value}@acme.example.com",
                password=PASSWORD,
                role=role,
                retailer="shop-b" if role is Role.RETAILER else None,
                manufacturer="fizzco" if role is Role.MANUFACTURER else None,
            )
            token, _ = issue_token(conn, settings, user.id)
            headers[role] = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(engine, settings)) as client:
        yield client, headers


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_segments_over_the_api_as_json_and_csv(api: tuple[TestClient, dict[Role, dict[str, str]]]) -> None:
    client, headers = api
    admin, analyst = headers[Role.DISTRIBUTOR_ADMIN], headers[Role.ANALYST]
    bad = client.post(
        "/segments",
        json={"segment": "regulars", "name": "Regulars", "rule": {"kind": "frequency", "window_days": 30}},
        headers=admin,
    )
    assert bad.status_code == 400
    assert bad.json()["field"] == "rule"
    rule = {"kind": "frequency", "window_days": 30, "min": 2}
    made = client.post("/segments", json={"segment": "regulars", "name": "Regulars", "rule": rule}, headers=admin)
    assert made.status_code == 201, made.text
    assert (
        client.post("/segments", json={"segment": "x", "name": "x", "rule": rule}, headers=analyst).status_code == 403
    )
    evaluated = client.post("/segments/regulars/evaluate", headers=admin).json()
    assert evaluated["members"] == 2
    page = client.get("/segments/regulars/members", headers=analyst).json()
    assert page["members"] == sorted([ANA, BEA]) and page["member_count"] == 2
    exported = client.get("/segments/regulars/members", params={"format": "csv"}, headers=analyst)
    assert exported.headers["content-type"].startswith("text/csv")
    assert [r["loyalty_id"] for r in read_csv(exported.text)] == sorted([ANA, BEA])
    changed = client.patch("/segments/regulars", json={"rule": {**rule, "min": 1}}, headers=admin).json()
    assert changed["version"] == 2 and changed["evaluated_version"] == 1
    assert client.post("/segments/regulars/evaluate", headers=admin).json()["members"] == 3
    assert client.delete("/segments/regulars", headers=admin).status_code == 204
    assert client.get("/segments/regulars", headers=analyst).json()["code"] == "segment_not_found"


def test_analytics_answers_as_json_and_csv(api: tuple[TestClient, dict[Role, dict[str, str]]]) -> None:
    client, headers = api
    analyst, retailer = headers[Role.ANALYST], headers[Role.RETAILER]
    march = {"date_from": "2026-03-01", "date_to": "2026-03-31", "min_tickets": 1}
    body = client.get("/analytics/combinations", params=march, headers=analyst).json()
    assert body["tickets"] == 9 and body["rows"][0]["items"] == "arroz + soda"
    exported = read_csv(client.get("/analytics/combinations", params={**march, "format": "csv"}, headers=analyst).text)
    assert exported[0] == {
        "items": "arroz + soda",
        "tickets": "3",
        "support": "0.333333",
        "confidence": "0.428571 / 0.6",
        "lift": "0.771429",
    }
    # A retailer's baskets are its own stores' (shop-b: C1, W1, W2).
    assert client.get("/analytics/combinations", params=march, headers=retailer).json()["tickets"] == 3
    own = client.get("/analytics/scorecard/cross-selling", params=march, headers=retailer).json()["stores"]
    assert [s["store"] for s in own] == ["store-b"]
    returns = read_csv(
        client.get("/analytics/scorecard/returns", params={**march, "format": "csv"}, headers=analyst).text
    )
    assert [(r["visits_at_least"], r["count"], r["share"]) for r in returns][:2] == [
        ("1", "3", "0.6"),
        ("2", "2", "0.4"),
    ]
    lookalikes = client.get(
        "/analytics/scorecard/lapsed-lookalikes", params={**march, "loyal_min_tickets": 2}, headers=analyst
    ).json()
    assert [m["loyalty_id"] for m in lookalikes["members"]] == [DORA]
    levels_now = client.get("/analytics/levels", params={"month": "2026-03-01"}, headers=analyst).json()
    assert levels_now["counts"] == [{"level": 1, "count": 3}, {"level": 2, "count": 0}, {"level": 3, "count": 0}]
    assert client.get("/analytics/scorecard/returns", headers=retailer).status_code == 403


def test_a_manufacturer_user_gets_its_sell_out_and_no_personal_data(
    api: tuple[TestClient, dict[Role, dict[str, str]]],
) -> None:
    client, headers = api
    maker, admin = headers[Role.MANUFACTURER], headers[Role.DISTRIBUTOR_ADMIN]
    march = {"date_from": "2026-03-01", "date_to": "2026-03-31"}
    assert client.get("/manufacturers/me/sell-out", params=march, headers=maker).json()["rows"] == []
    granted = client.put("/manufacturers/fizzco/grants/fizz", headers=admin)
    assert granted.status_code == 200 and granted.json()["granted_by"] == "distributor_admin@acme.example.com"
    try:
        check_sell_out(client, maker, march)
    finally:
        assert client.delete("/manufacturers/fizzco/grants/fizz", headers=admin).status_code == 204
    assert client.get("/manufacturers/me/sell-out", params=march, headers=maker).json()["rows"] == []


def check_sell_out(client: TestClient, maker: dict[str, str], march: dict[str, str]) -> None:
    answer = client.get("/manufacturers/me/sell-out", params={**march, "group_by": ["store", "sku"]}, headers=maker)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["brands"] == ["fizz"]
    assert [(r["store"], r["sku"], r["units"], r["revenue_minor"]) for r in body["rows"]] == [
        ("store-a", "soda", 4, 6_000),
        ("store-b", "soda", 2, 3_000),
        ("store-b", "chips", 2, 2_000),
        ("store-a", "chips", 1, 1_000),
    ]
    text = answer.text + client.get("/manufacturers/me/sell-out", params={**march, "format": "csv"}, headers=maker).text
    for name, _gender, _born, _store, _tier in sd.MEMBERS.values():
        assert name not in text
    for lid in (*sd.MEMBERS, CARLOS):
        assert lid not in text
    assert "arroz" not in text  # granos' brand, not granted
    for path in (
        "/customers",
        f"/customers/{ANA}",
        "/sales",
        "/segments",
        "/stores",
        "/analytics/combinations",
        "/manufacturers/fizzco/sell-out",
        "/manufacturers/granos/sell-out",
    ):
        assert client.get(path, headers=maker).status_code == 403, path
