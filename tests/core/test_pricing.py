"""The pricing API end to end: golden receipts, every shipped jurisdiction, points, tiers and bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.errors import InvalidInput
from core.points import PointsProgram, load_program
from core.pricing import Basket, Customer, PricedReceipt, price, price_request
from core.promotions import Promotion, PromotionSet, PromotionUsage, SkipReason
from core.tax import Pricing, TaxableLine, compute_taxes, shipped_jurisdiction, shipped_jurisdiction_ids
from tests.core.test_promotions_engine import promo

NOW = datetime(2026, 3, 14, 18, 30, tzinfo=UTC)  # Saturday 12:30 in Mexico City
MX = "mx-general"
STORE = {"store_id": "tienda-12", "retailer_id": "abarrotes-lupita", "timezone": "America/Mexico_City"}
COUNTRY_ZONES = {
    "MX": "America/Mexico_City",
    "CA": "America/Toronto",
    "CN": "Asia/Shanghai",
    "ES": "Europe/Madrid",
    "US": "America/Chicago",
}


def basket(*lines: dict[str, Any], currency: str = "MXN", store: dict[str, Any] | None = None) -> Basket:
    return Basket.model_validate({"currency": currency, "store": store or STORE, "lines": list(lines)})


def item(
    line_id: str, item_id: str, quantity: int, unit_price_minor: int, tax_category: str = "general", **more: Any
) -> dict[str, Any]:
    return {
        "line_id": line_id,
        "item_id": item_id,
        "category": more.pop("category", "abarrotes"),
        "tax_category": tax_category,
        "quantity": quantity,
        "unit_price_minor": unit_price_minor,
        **more,
    }


def program(**fields: Any) -> PointsProgram:
    data: dict[str, Any] = {"id": "puntos-norte", "name": "Puntos Norte", "currency": "MXN"}
    data.update(fields)
    return load_program(data)


def priced(
    b: Basket,
    promotions: list[Promotion] | None = None,
    *,
    customer: Customer | None = None,
    prog: PointsProgram | None = None,
    jurisdiction: str = MX,
    now: datetime = NOW,
    **options: Any,
) -> PricedReceipt:
    return price(b, customer, prog, promotions or [], shipped_jurisdiction(jurisdiction), now, **options)


def assert_consistent(receipt: PricedReceipt) -> None:
    """What every receipt must satisfy, whatever its inputs."""
    totals = receipt.totals
    assert totals.gross_minor - totals.discount_minor == totals.amount_minor
    assert totals.net_minor + totals.tax_minor == totals.total_minor
    assert totals.total_minor - totals.points_tender_minor == totals.due_minor
    assert sum(line.gross_minor for line in receipt.lines) == totals.gross_minor
    assert sum(line.discount_minor for line in receipt.lines) == totals.discount_minor
    assert sum(line.total_minor for line in receipt.lines) == totals.total_minor
    assert sum(d.amount_minor for d in receipt.discounts) == totals.discount_minor
    assert sum(t.amount_minor for t in receipt.taxes) == totals.tax_minor
    for line in receipt.lines:
        assert line.gross_minor == line.unit_price_minor * line.quantity
        assert 0 <= line.amount_minor == line.gross_minor - line.discount_minor
        assert sum(d.amount_minor for d in line.discounts) == line.discount_minor
        assert line.net_minor + line.tax_minor == line.total_minor
        assert sum(t.amount_minor for t in line.taxes) == line.tax_minor
    for discount in receipt.discounts:
        assert sum(f.amount_minor for f in discount.funders) == discount.amount_minor
        assert sum(part.amount_minor for part in discount.lines) == discount.amount_minor
    assert totals.total_minor >= 0
    assert totals.due_minor >= 0
    if receipt.points is not None:
        assert receipt.points.total == sum(e.points for e in receipt.points.entries) >= 0


# --- golden receipts ----------------------------------------------------------------------------------


def test_golden_receipt_three_for_two_with_mexican_iva() -> None:
    receipt = priced(
        basket(
            item("1", "refresco", 3, 1850, "bebida_azucarada", category="refrescos"),
            item("2", "frijol", 1, 3990, "alimentos"),
        ),
        [
            promo(
                "3x2", scope={"kind": "item", "ids": ["refresco"]}, effect={"type": "buy_get_free", "buy": 2, "get": 1}
            )
        ],
        customer=Customer(customer_id="c1"),
        prog=program(),
    )
    assert_consistent(receipt)
    soda, beans = receipt.lines
    assert (soda.discount_minor, soda.amount_minor, soda.net_minor, soda.tax_minor) == (1850, 3700, 3190, 510)
    assert (beans.discount_minor, beans.net_minor, beans.tax_minor) == (0, 3990, 0)
    assert beans.taxes[0].zero_rated
    totals = receipt.totals
    assert (totals.gross_minor, totals.discount_minor, totals.net_minor, totals.tax_minor, totals.total_minor) == (
        9540,
        1850,
        7180,
        510,
        7690,
    )
    assert receipt.points is not None
    assert receipt.points.total == 7  # 76.90 MXN at 1 point per 10 MXN, rounded down
    assert receipt.points_balance_after == 7
    assert receipt.tier is not None
    assert (receipt.tier.tier_id, receipt.tier.next_tier_id, receipt.tier.to_next) == (None, "bronze", 500)
    (discount,) = receipt.discounts
    assert [(f.funder, f.amount_minor) for f in discount.funders] == [("distributor", 1850), ("retailer", 0)]


CAFE = item("1", "cafe", 4, 2500, category="bebidas-calientes", brand="cafe-veracruz", distributor="dist-sur")


@pytest.mark.parametrize(
    ("effect", "scope", "discount", "tax", "points"),
    [
        ({"type": "percent_off", "percent": "10%"}, {"kind": "ticket"}, 1000, 1241, 9),
        ({"type": "amount_off", "amount_minor": 1500}, {"kind": "item", "ids": ["cafe"]}, 1500, 1172, 8),
        (
            {"type": "buy_get_free", "buy": 1, "get": 1},
            {"kind": "category", "ids": ["bebidas-calientes"]},
            5000,
            690,
            5,
        ),
        (
            {"type": "buy_get_discount", "buy": 1, "get": 1, "percent": "50%"},
            {"kind": "distributor", "ids": ["dist-sur"]},
            2500,
            1034,
            7,
        ),
        ({"type": "bonus_points", "points": 30}, {"kind": "brand", "ids": ["cafe-veracruz"]}, 0, 1379, 40),
        ({"type": "points_multiplier", "multiplier": "2"}, {"kind": "brand", "ids": ["cafe-veracruz"]}, 0, 1379, 20),
    ],
    ids=[
        "percent-ticket",
        "amount-item",
        "buy-get-free-category",
        "buy-get-discount-distributor",
        "bonus-brand",
        "multiplier-brand",
    ],
)
def test_every_effect_through_price(
    effect: dict[str, Any], scope: dict[str, Any], discount: int, tax: int, points: int
) -> None:
    promotion = promo(effect=effect, scope=scope, currency="MXN")
    receipt = priced(basket(CAFE), [promotion], customer=Customer(customer_id="c1"), prog=program())
    assert_consistent(receipt)
    assert receipt.totals.discount_minor == discount
    assert receipt.totals.total_minor == 10_000 - discount
    assert receipt.totals.tax_minor == tax
    assert receipt.points is not None
    assert receipt.points.total == points
    (explanation,) = receipt.promotions
    assert explanation.status == "applied"
    assert explanation.discount_minor == discount
    assert explanation.points == points - (10_000 - discount) // 1000


def test_tier_decides_the_audience_and_multiplies_points() -> None:
    prog = program(
        tiers={
            "basis": "points",
            "tiers": [
                {"id": "bronze", "name": "Bronze", "min_value": 500},
                {"id": "silver", "name": "Silver", "min_value": 1000, "earn_multiplier": "1.5"},
            ],
        }
    )
    silver_only = promo("plata", audience={"kind": "tiers", "ids": ["silver"]})
    receipt = priced(basket(CAFE), [silver_only], customer=Customer(customer_id="c1", tier_points=1200), prog=prog)
    assert receipt.tier is not None
    assert receipt.tier.tier_id == "silver"
    assert receipt.totals.discount_minor == 1000
    assert receipt.points is not None
    assert [(e.kind, e.points) for e in receipt.points.entries] == [("base", 9), ("tier_multiplier", 4)]
    bronze = priced(basket(CAFE), [silver_only], customer=Customer(customer_id="c1", tier_points=600), prog=prog)
    assert bronze.promotions[0].reason_code is SkipReason.AUDIENCE


def test_activity_tiers_use_transactions_this_month() -> None:
    prog = program(
        tiers={
            "basis": "activity",
            "tiers": [
                {"id": "level_1", "name": "Nivel 1", "min_value": 0},
                {"id": "level_2", "name": "Nivel 2", "min_value": 51},
                {"id": "level_3", "name": "Nivel 3", "min_value": 151},
            ],
        }
    )
    receipt = priced(basket(CAFE), customer=Customer(customer_id="c1", transactions_this_month=120), prog=prog)
    assert receipt.tier is not None
    assert (receipt.tier.tier_id, receipt.tier.to_next) == ("level_2", 31)


def test_paying_with_points_lowers_what_is_due_and_what_earns() -> None:
    customer = Customer(customer_id="c1", points_balance=500)
    receipt = priced(basket(CAFE), customer=customer, prog=program(), redeem_points=200)
    assert_consistent(receipt)
    assert (receipt.totals.points_redeemed, receipt.totals.points_tender_minor, receipt.totals.due_minor) == (
        200,
        2000,
        8000,
    )
    assert receipt.totals.tax_minor == 1379  # a tender is not a discount: tax is unchanged
    assert receipt.points is not None
    assert receipt.points.total == 8
    assert receipt.points_balance_after == 500 - 200 + 8


def test_a_walk_in_gets_prices_but_no_points_or_tier() -> None:
    receipt = priced(basket(CAFE), [promo()], prog=program())
    assert (receipt.customer_id, receipt.points, receipt.tier, receipt.points_balance_after) == (None, None, None, None)
    assert receipt.totals.discount_minor == 1000


def test_birthday_bonus_and_draw_entries_reach_the_receipt() -> None:
    prog = program(birthday_bonus={"points": 50, "days_before": 2}, lucky_draw={"spend_per_entry_minor": 2500})
    customer = Customer.model_validate({"customer_id": "c1", "birth_date": "1991-03-15"})
    receipt = priced(basket(CAFE), customer=customer, prog=prog)
    assert receipt.points is not None
    assert (receipt.points.total, receipt.points.birthday_bonus_year, receipt.points.draw_entries) == (60, 2026, 4)


def test_usage_caps_come_from_the_caller() -> None:
    capped = promo(limits={"max_uses_per_customer": 1})
    receipt = priced(
        basket(CAFE),
        [capped],
        customer=Customer(customer_id="c1"),
        usage={"p": PromotionUsage(customer_uses=1, total_uses=1)},
    )
    assert receipt.promotions[0].reason_code is SkipReason.CAP_REACHED
    assert receipt.totals.discount_minor == 0


def test_cash_is_rounded_to_the_nickel_in_canada() -> None:
    receipt = priced(
        basket(item("1", "coffee", 1, 1001), currency="CAD", store={"store_id": "s", "timezone": "America/Toronto"}),
        jurisdiction="ca-on",
    )
    assert receipt.totals.total_minor == 1131  # 10.01 + 13% HST = 11.3113 -> 11.31
    assert receipt.totals.cash_due_minor == 1130


def test_a_prebuilt_promotion_set_gives_the_same_receipt() -> None:
    promotions = [promo("a"), promo("b", priority=1, effect={"type": "percent_off", "percent": "5%"})]
    b = basket(CAFE)
    assert priced(b, promotions) == price(b, None, None, PromotionSet(promotions), shipped_jurisdiction(MX), NOW)


# --- every shipped jurisdiction ------------------------------------------------------------------------


@pytest.mark.parametrize("jurisdiction_id", shipped_jurisdiction_ids())
def test_every_shipped_jurisdiction_prices_every_category(jurisdiction_id: str) -> None:
    jurisdiction = shipped_jurisdiction(jurisdiction_id)
    zone = COUNTRY_ZONES.get(jurisdiction.country, "UTC")
    start = datetime.combine(jurisdiction.effective_from, datetime.min.time(), ZoneInfo(zone))
    now = start + timedelta(days=10, hours=12)
    lines = [
        item(str(n), f"item-{n}", 2, 1850 + 113 * n, category.category_id, measure_per_unit_milli=600)
        for n, category in enumerate(jurisdiction.categories)
    ]
    b = basket(*lines, currency=jurisdiction.currency, store={"store_id": "s", "timezone": zone})
    promotions = [
        promo("ticket-10", effect={"type": "percent_off", "percent": "10%"}),
        promo(
            "item-0",
            scope={"kind": "item", "ids": ["item-0"]},
            effect={"type": "amount_off", "amount_minor": 333},
            currency=jurisdiction.currency,
        ),
    ]
    receipt = price(b, None, None, promotions, jurisdiction, now)
    assert_consistent(receipt)
    assert receipt.jurisdiction_id == jurisdiction_id
    assert receipt.totals.discount_minor > 0
    # The receipt's taxes are the tax engine's for the discounted amounts, line by line.
    expected = compute_taxes(
        [TaxableLine(line.line_id, line.tax_category, line.quantity, line.amount_minor, 600) for line in receipt.lines],
        jurisdiction,
    )
    assert [(line.net_minor, line.tax_minor) for line in receipt.lines] == [
        (line.net_minor, line.tax_minor) for line in expected.lines
    ]
    assert receipt.totals.tax_minor == expected.tax_minor
    if jurisdiction.pricing is Pricing.INCLUSIVE:
        assert receipt.totals.total_minor == receipt.totals.amount_minor
    else:
        assert receipt.totals.net_minor == receipt.totals.amount_minor


# --- bad input ----------------------------------------------------------------------------------------


def test_a_basket_in_another_currency_than_the_jurisdiction_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        priced(basket(CAFE, currency="USD"))
    assert caught.value.field == "basket.currency"


def test_a_program_in_another_currency_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        priced(basket(CAFE), customer=Customer(customer_id="c1"), prog=program(currency="USD"))
    assert caught.value.field == "program.currency"


def test_an_unknown_tax_category_names_the_line() -> None:
    with pytest.raises(InvalidInput) as caught:
        priced(basket(CAFE, item("2", "x", 1, 100, "lujo")))
    assert caught.value.field == "basket.lines.1.tax_category"
    assert "general" in caught.value.problem


def test_a_missing_measure_for_a_per_litre_tax_names_the_basket_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        priced(basket(item("1", "refresco", 1, 1850, "bebida_azucarada_primera_venta")))
    assert caught.value.field == "basket.lines.0.measure_per_unit_milli"


def test_a_jurisdiction_not_in_force_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        priced(basket(CAFE), now=datetime(2025, 6, 1, tzinfo=UTC))
    assert caught.value.field == "jurisdiction"
    assert "not in force" in caught.value.problem


def test_paying_points_needs_a_customer_and_a_program() -> None:
    with pytest.raises(InvalidInput) as caught:
        priced(basket(CAFE), prog=program(), redeem_points=100)
    assert caught.value.field == "redeem_points"


def test_time_must_be_aware() -> None:
    with pytest.raises(InvalidInput) as caught:
        priced(basket(CAFE), now=datetime(2026, 3, 14, 12, 0))  # noqa: DTZ001 - naive on purpose
    assert caught.value.field == "now"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"store": {"store_id": "s", "timezone": "Mars/Base"}}, "basket.store.timezone"),
        ({"lines": []}, "basket.lines"),
        ({"lines": [CAFE, CAFE]}, "basket.lines"),
        ({"lines": [{**CAFE, "quantity": 0}]}, "basket.lines.0.quantity"),
        ({"lines": [{**CAFE, "quantity": 1.5}]}, "basket.lines.0.quantity"),
        ({"lines": [{**CAFE, "unit_price_minor": -1}]}, "basket.lines.0.unit_price_minor"),
        ({"lines": [{**CAFE, "unit_price_minor": 19.99}]}, "basket.lines.0.unit_price_minor"),
        ({"currency": "PESOS"}, "basket.currency"),
    ],
)
def test_bad_baskets_name_the_field_and_only_its_problem(change: dict[str, Any], field: str) -> None:
    request = {
        "basket": {"currency": "MXN", "store": STORE, "lines": [CAFE], **change},
        "jurisdiction": MX,
        "now": NOW.isoformat(),
    }
    with pytest.raises(InvalidInput) as caught:
        price_request(request)
    assert (caught.value.field, caught.value.code) == (field, "invalid_input")
    # One bad value is one problem: the list's "too short after validation" is its consequence, not another.
    assert "more problem" not in caught.value.problem


def test_two_problems_on_a_line_are_both_counted() -> None:
    request = request_document(
        basket={"currency": "MXN", "store": STORE, "lines": [{**CAFE, "quantity": 0, "unit_price_minor": -1}]}
    )
    with pytest.raises(InvalidInput) as caught:
        price_request(request)
    assert caught.value.field == "basket.lines.0.quantity"
    assert caught.value.problem.endswith("(and 1 more problem)")


def test_an_unknown_tax_category_has_its_own_code_and_lists_the_known_ones() -> None:
    request = request_document(basket={"currency": "MXN", "store": STORE, "lines": [{**CAFE, "tax_category": "lujo"}]})
    with pytest.raises(InvalidInput) as caught:
        price_request(request)
    assert (caught.value.field, caught.value.code) == ("basket.lines.0.tax_category", "unknown_tax_category")
    assert "'lujo'" in caught.value.problem and "alimentos" in caught.value.problem


# --- requests as documents ------------------------------------------------------------------------------


def request_document(**more: Any) -> dict[str, Any]:
    return {
        "basket": {"currency": "MXN", "store": STORE, "lines": [CAFE]},
        "jurisdiction": MX,
        "now": "2026-03-14T18:30:00Z",
        **more,
    }


def test_a_request_as_json_text_prices_like_the_api() -> None:
    document = request_document(
        promotions=[
            {
                "id": "p",
                "name": "p",
                "scope": {"kind": "ticket"},
                "effect": {"type": "percent_off", "percent": "10%"},
                "funding": {"distributor_bp": 10_000, "retailer_bp": 0},
            }
        ]
    )
    assert price_request(json.dumps(document)) == priced(basket(CAFE), [promo(name="p")])


def test_an_inline_jurisdiction_is_read_from_toml() -> None:
    toml = """
format_version = 1
id = "isla"
name = "Isla"
country = "MX"
currency = "MXN"
pricing = "exclusive"
rounding = "per_line"
rounding_mode = "half_up"
effective_from = 2020-01-01

[taxes.local]
name = "Local 5 %"
kind = "percentage"
rate = "5%"

[categories.general]
taxes = ["local"]
"""
    receipt = price_request(request_document(jurisdiction={"toml": toml}))
    assert (receipt.jurisdiction_id, receipt.totals.tax_minor, receipt.totals.total_minor) == ("isla", 500, 10_500)


@pytest.mark.parametrize(
    ("jurisdiction", "field", "code"),
    [
        ("atlantida", "jurisdiction", "unknown_jurisdiction"),
        ({"toml": "format_version = 1"}, "jurisdiction.toml.id", "invalid_jurisdiction"),
    ],
)
def test_bad_jurisdictions_name_the_field(jurisdiction: object, field: str, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        price_request(request_document(jurisdiction=jurisdiction))
    assert (caught.value.field, caught.value.code) == (field, code)


def test_request_errors_name_the_request_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        price_request(request_document(promotions=[{"id": "p"}]))
    assert caught.value.field == "promotions.0.name"
    with pytest.raises(InvalidInput) as caught:
        price_request(request_document(now="2026-03-14T18:30:00"))
    assert caught.value.field == "now"
    with pytest.raises(InvalidInput) as caught:
        price_request(request_document(redeem_points=100))
    assert caught.value.field == "redeem_points"
