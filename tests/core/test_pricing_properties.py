"""Properties of whole pricings over random baskets, customers and promotion sets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.points import max_redeemable
from core.pricing import Basket, Customer, price
from core.promotions import Promotion
from core.tax import shipped_jurisdiction
from tests.core.test_pricing import assert_consistent, program
from tests.core.test_promotions_properties import BRANDS, CATEGORIES, DISTRIBUTORS, ITEMS, promotion_sets

# Two pricing styles: Mexico (tax included, per line) and Quebec (tax added, per document).
SETUPS = {
    "mx-general": ("MXN", "America/Mexico_City", ["general", "alimentos", "alta_densidad", "bebida_azucarada"]),
    "ca-qc": ("CAD", "America/Toronto", ["general", "basic_groceries"]),
}
NOW = datetime(2026, 3, 14, 18, 30, tzinfo=UTC)
SETTINGS = settings(max_examples=80, deadline=None)


@st.composite
def baskets(draw: st.DrawFn, jurisdiction_id: str) -> Basket:
    code, zone, tax_categories = SETUPS[jurisdiction_id]
    count = draw(st.integers(1, 6))
    lines = [
        {
            "line_id": f"L{n}",
            "item_id": draw(st.sampled_from(ITEMS)),
            "category": draw(st.sampled_from(CATEGORIES)),
            "distributor": draw(st.sampled_from(DISTRIBUTORS)),
            "brand": draw(st.sampled_from(BRANDS)),
            "tax_category": draw(st.sampled_from(tax_categories)),
            "quantity": draw(st.integers(1, 9)),
            "unit_price_minor": draw(st.integers(0, 40_000)),
        }
        for n in range(count)
    ]
    return Basket.model_validate({"currency": code, "store": {"store_id": "s", "timezone": zone}, "lines": lines})


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[str, Basket, list[Promotion], Customer | None, int]:
    jurisdiction_id = draw(st.sampled_from(sorted(SETUPS)))
    basket = draw(baskets(jurisdiction_id))
    code = SETUPS[jurisdiction_id][0]
    promotions = [p.model_copy(update={"currency": code}) for p in draw(promotion_sets())]
    customer = None
    redeem = 0
    if draw(st.booleans()):
        customer = Customer(
            customer_id="c1", tier_points=draw(st.integers(0, 3000)), points_balance=draw(st.integers(0, 2000))
        )
        redeem = draw(st.sampled_from([0, 0, 1, 2, 100]))
    return jurisdiction_id, basket, promotions, customer, redeem


def run(
    jurisdiction_id: str, basket: Basket, promotions: list[Promotion], customer: Customer | None, redeem: int
) -> Any:
    """Price the scenario; ``redeem`` asks for that fraction (1/redeem) of the most payable in points."""
    code = SETUPS[jurisdiction_id][0]
    prog = program(currency=code, redemption={"points_per_step": 100, "value_minor_per_step": 7})
    jurisdiction = shipped_jurisdiction(jurisdiction_id)
    points = 0
    if redeem and customer is not None:
        before = price(basket, customer, prog, promotions, jurisdiction, NOW)
        most = max_redeemable(prog, before.totals.total_minor, customer.points_balance).points
        points = most // redeem // 100 * 100
    return price(basket, customer, prog, promotions, jurisdiction, NOW, redeem_points=points)


@SETTINGS
@given(scenarios())
def test_receipts_always_add_up_and_never_go_negative(
    scenario: tuple[str, Basket, list[Promotion], Customer | None, int],
) -> None:
    jurisdiction_id, basket, promotions, customer, redeem = scenario
    receipt = run(jurisdiction_id, basket, promotions, customer, redeem)
    assert_consistent(receipt)
    assert receipt.totals.cash_due_minor >= 0
    if receipt.points is not None:
        assert receipt.points.total >= 0
        assert all(entry.points > 0 for entry in receipt.points.entries)


@SETTINGS
@given(scenarios(), st.randoms(use_true_random=False))
def test_pricing_is_deterministic_whatever_the_promotion_order(
    scenario: tuple[str, Basket, list[Promotion], Customer | None, int], rnd: Any
) -> None:
    jurisdiction_id, basket, promotions, customer, redeem = scenario
    shuffled = list(promotions)
    rnd.shuffle(shuffled)
    first = run(jurisdiction_id, basket, promotions, customer, redeem)
    second = run(jurisdiction_id, basket, shuffled, customer, redeem)
    assert first.model_dump_json() == second.model_dump_json()
