"""Segments on SQLite and PostgreSQL: rules validated when saved, evaluated by SQL over the analytics rollups
into member lists, the seed's examples against hand-computed members, memberships in the boxes' customers
snapshot, and a segment-targeted promotion priced for a member inside and outside the segment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.errors import InvalidInput
from core.pricing import Basket, price
from core.pricing.from_sale import sale_customer
from core.promotions import Promotion
from core.tax import shipped_jurisdiction
from hub import customers as cu
from hub import db
from hub.segments import rules
from hub.segments import saved as sg
from tests.hub import segments_data as sd
from tests.hub.analytics_data import ZONE
from tests.hub.segments_data import ANA, BEA, CARLOS, DORA, EVA, NOW, TENANT


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    server = None if request.param == "sqlite" else request.getfixturevalue("pg_server")
    yield from sd.loaded_database(server, tmp_path_factory)


def match(engine: sa.Engine, rule: object) -> set[str]:
    with sd.rolled_back(engine) as conn:
        return set(conn.execute(sg.matching(conn, TENANT, rule, now=NOW)).scalars())


# --- the rule language ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"kind": "spend", "window_days": 30}, "rule"),
        ({"all": [{"kind": "spend", "window_days": 0, "min_minor": 1}]}, "rule.all.0.window_days"),
        ({"all": [{"kind": "spend", "window_days": 30, "min_minor": 1.5}]}, "rule.all.0.min_minor"),
        ({"any": [{"not": {"kind": "zone", "regions": []}}]}, "rule.any.0.not.regions"),
        ({"kind": "bought", "window_days": 30, "skus": ["a"], "brands": ["b"]}, "rule"),
        ({"kind": "wealth"}, "rule.kind"),
        ({"all": []}, "rule.all"),
        ({"all": [{"kind": "tier", "tiers": ["oro"]}], "any": []}, "rule"),
        ({"kind": "frequency", "window_days": 30, "min": 5, "max": 2}, "rule"),
        ({"kind": "redeemed", "colour": "red"}, "rule.colour"),
        ([{"kind": "tier"}], "rule"),
    ],
)
def test_a_rule_that_cannot_be_evaluated_is_refused_naming_the_field(rule: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        rules.parse_rule(rule)
    assert caught.value.field == field
    assert caught.value.code == "segment_rule_invalid"


def test_rules_are_bounded_in_depth_and_size() -> None:
    deep: dict[str, object] = {"kind": "tier", "tiers": ["oro"]}
    for _ in range(rules.MAX_DEPTH):
        deep = {"not": deep}
    with pytest.raises(InvalidInput, match="deeper"):
        rules.parse_rule(deep)
    wide = {"any": [{"kind": "tier", "tiers": ["oro"]}] * rules.MAX_CONDITIONS}
    with pytest.raises(InvalidInput, match="more than"):
        rules.parse_rule(wide)
    assert isinstance(rules.parse_rule({"any": wide["any"][:-1]}).root, rules.AnyOf)


def test_saving_refuses_what_the_tenant_does_not_have(engine: sa.Engine) -> None:
    cases = [
        ({"kind": "tier", "tiers": ["platinum"]}, "tiers", "platinum"),
        ({"kind": "zone", "regions": ["Atlantis"]}, "regions", "Atlantis"),
        ({"kind": "bought", "window_days": 30, "skus": ["caviar"]}, "skus", "caviar"),
        ({"kind": "bought", "window_days": 30, "categories": ["joyas"]}, "categories", "joyas"),
        ({"kind": "bought", "window_days": 30, "brands": ["nope"]}, "brands", "nope"),
    ]
    with sd.rolled_back(engine) as conn:
        for rule, field, name in cases:
            with pytest.raises(InvalidInput) as caught:
                sg.create(conn, TENANT, "bad", "Bad", rule, now=NOW)
            assert caught.value.field.endswith(field), caught.value.field
            assert name in caught.value.problem
        with pytest.raises(InvalidInput) as bad_id:
            sg.create(conn, TENANT, "No Spaces", "x", {"kind": "tier", "tiers": ["oro"]}, now=NOW)
        assert bad_id.value.field == "segment"
        assert sg.list_segments(conn, TENANT) == []


# --- the seed's examples, evaluated ---------------------------------------------------------------------------


def test_members_who_always_buy_a_product_in_a_zone(engine: sa.Engine) -> None:
    always = {
        "kind": "bought",
        "window_days": 30,
        "skus": ["arroz"],
        "in_regions": ["Nuevo León"],
        "min_share_bp": 10_000,
    }
    # ANA: 4 of her 4 March tickets at store-a hold arroz. BEA: 1 of 2. CARLOS buys arroz in Jalisco only.
    assert match(engine, always) == {ANA}
    # At least half of the tickets: BEA joins; in any region CARLOS too (1 of 1).
    assert match(engine, {**always, "min_share_bp": 5_000}) == {ANA, BEA}
    assert match(engine, {**always, "in_regions": None}) == {ANA, CARLOS}
    # The February ticket is outside a 30-day window but inside 60 days: still every ticket.
    assert match(engine, {**always, "window_days": 60}) == {ANA}


def test_members_with_average_spend_above_1000_pesos(engine: sa.Engine) -> None:
    # CARLOS: one ticket of 1,200.00. ANA averages 41.25, BEA 32.50, DORA 15.00 (January).
    rule = {"kind": "average_ticket", "window_days": 90, "min_minor": 100_001}
    assert match(engine, rule) == {CARLOS}
    # Exactly at the bound: ANA's 30-day average is 16,500 / 4 = 4,125 minor.
    assert ANA in match(engine, {"kind": "average_ticket", "window_days": 30, "min_minor": 4_125})
    assert ANA not in match(engine, {"kind": "average_ticket", "window_days": 30, "min_minor": 4_126})
    # EVA has no ticket: no average, never a match even for an upper bound.
    assert EVA not in match(engine, {"kind": "average_ticket", "window_days": 30, "max_minor": 10**9})


def test_members_over_2000_points_who_never_redeemed(engine: sa.Engine) -> None:
    rule = {"all": [{"kind": "points_balance", "min": 2_001}, {"not": {"kind": "redeemed"}}]}
    # ANA has 2,500 too, but redeemed 500; BEA has 500; EVA 2,500 and no redemption.
    assert match(engine, rule) == {EVA}
    assert match(engine, {"kind": "points_balance", "min": 2_500}) == {ANA, EVA}
    # An upper bound includes the members without an account (balance 0).
    assert match(engine, {"kind": "points_balance", "max": 500}) == {BEA, CARLOS, DORA}
    assert match(engine, {"kind": "redeemed"}) == {ANA}


def test_behaviour_tier_zone_and_combinators(engine: sa.Engine) -> None:
    assert match(engine, {"kind": "frequency", "window_days": 30, "min": 2}) == {ANA, BEA}
    # A maximum includes the members who did not buy at all.
    assert match(engine, {"kind": "frequency", "window_days": 30, "max": 1}) == {CARLOS, DORA, EVA}
    assert match(engine, {"kind": "spend", "window_days": 30, "min_minor": 6_500, "max_minor": 16_500}) == {ANA, BEA}
    assert match(engine, {"kind": "recency", "within_days": 7}) == {CARLOS}
    assert match(engine, {"kind": "recency", "not_within_days": 60}) == {DORA}
    assert match(engine, {"kind": "tier", "tiers": ["oro"]}) == {ANA}
    assert match(engine, {"kind": "zone", "regions": ["Jalisco"]}) == {CARLOS}
    either = {"any": [{"kind": "tier", "tiers": ["oro"]}, {"kind": "zone", "regions": ["Jalisco"]}]}
    assert match(engine, either) == {ANA, CARLOS}
    assert match(engine, {"not": either}) == {BEA, DORA, EVA}
    # Levels by last month's (February's) transactions: ANA 1 ticket, everyone else 0: all at level 1.
    assert match(engine, {"kind": "level", "levels": [1]}) == {ANA, BEA, CARLOS, DORA, EVA}
    assert match(engine, {"kind": "level", "levels": [2, 3]}) == set()


# --- evaluation, storage, the jobs' due list -------------------------------------------------------------------


def test_evaluation_stores_the_members_and_an_edit_makes_it_due_again(engine: sa.Engine) -> None:
    with sd.rolled_back(engine) as conn:
        sg.create(
            conn,
            TENANT,
            "big-spenders",
            "Big spenders",
            {"kind": "spend", "window_days": 30, "min_minor": 100_000},
            now=NOW,
        )
        sg.create(conn, TENANT, "oro", "Oro", {"kind": "tier", "tiers": ["oro"]}, now=NOW)
        done = sg.evaluate_due(conn, TENANT, now=NOW)
        assert sorted((e.segment, e.members) for e in done) == [("big-spenders", 1), ("oro", 1)]
        assert sg.members(conn, TENANT, "big-spenders") == [CARLOS]
        assert sg.get(conn, TENANT, "big-spenders").evaluated_at == NOW
        # Nothing is due until the rule changes or the list ages.
        assert sg.evaluate_due(conn, TENANT, now=NOW + timedelta(minutes=5)) == []
        sg.update(conn, TENANT, "big-spenders", rule={"kind": "spend", "window_days": 30, "min_minor": 6_500}, now=NOW)
        again = sg.evaluate_due(conn, TENANT, now=NOW + timedelta(minutes=6))
        assert [(e.segment, e.members) for e in again] == [("big-spenders", 3)]
        assert sg.members(conn, TENANT, "big-spenders") == sorted([ANA, BEA, CARLOS])
        assert sg.members(conn, TENANT, "big-spenders", after=ANA, limit=1) == [sorted([BEA, CARLOS])[0]]
        later = sg.evaluate_due(conn, TENANT, now=NOW + sg.EVALUATE_EVERY + timedelta(minutes=7))
        assert {e.segment for e in later} == {"big-spenders", "oro"}
        sg.delete(conn, TENANT, "oro")
        with pytest.raises(sg.SegmentNotFound):
            sg.members(conn, TENANT, "oro")
        left = conn.execute(sa.select(sa.func.count()).select_from(db.segment_member)).scalar_one()
        assert left == 3


# --- to the boxes and the counter -----------------------------------------------------------------------------


def test_a_segment_promotion_applies_at_the_counter_only_to_its_members(engine: sa.Engine) -> None:
    with sd.rolled_back(engine) as conn:
        sg.create(
            conn,
            TENANT,
            "big-spenders",
            "Big spenders",
            {"kind": "average_ticket", "window_days": 90, "min_minor": 100_001},
            now=NOW,
        )
        sg.evaluate(conn, TENANT, "big-spenders", now=NOW)
        body = cu.customers_body(conn, TENANT, "store-b", program=None, now=NOW)
    records = {c["loyalty_id"]: c for c in body["customers"]}
    assert records[CARLOS]["segment_ids"] == ["big-spenders"]
    assert records[ANA]["segment_ids"] == []
    promotion = Promotion.model_validate(
        {
            "id": "big-10",
            "name": "10% for big spenders",
            "scope": {"kind": "ticket"},
            "effect": {"type": "percent_off", "percent": "10%"},
            "audience": {"kind": "segments", "ids": ["big-spenders"]},
            "funding": {"distributor_bp": 10000, "retailer_bp": 0},
        }
    )
    basket = Basket.model_validate(
        {
            "currency": "MXN",
            "store": {"store_id": "store-b", "retailer_id": "shop-b", "timezone": ZONE},
            "lines": [
                {
                    "line_id": "1",
                    "item_id": "arroz",
                    "category": "abarrotes",
                    "tax_category": "general",
                    "quantity": 5,
                    "unit_price_minor": 2000,
                }
            ],
        }
    )

    def total(lid: str) -> int:
        record = records[lid]
        shopper = sale_customer(
            lid, tier_points=0, transactions_this_month=0, points_balance=0, segment_ids=record["segment_ids"]
        )
        receipt = price(basket, shopper, None, [promotion], shipped_jurisdiction("mx-general"), NOW)
        return receipt.totals.total_minor

    assert total(CARLOS) == 9_000
    assert total(ANA) == 10_000
