"""Properties of promotion evaluation over random baskets and random promotion sets."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.money import Rounding, round_fraction
from core.promotions import (
    Applied,
    Evaluation,
    EvaluationContext,
    PromoLine,
    Promotion,
    PromotionSet,
    Shopper,
    evaluate,
    load_promotion,
)
from core.promotions.engine import _half_up
from tests.core.test_promotions_engine import NOW, TZ

ITEMS = ["i0", "i1", "i2", "i3", "i4"]
CATEGORIES = ["c0", "c1", "c2"]
DISTRIBUTORS = ["d0", "d1"]
BRANDS = ["b0", "b1", "b2"]
PERCENTS = ["1%", "5%", "10%", "12.5%", "33.3%", "50%", "99.99%", "100%"]

SETTINGS = settings(max_examples=150, deadline=None)


@st.composite
def lines(draw: st.DrawFn) -> list[PromoLine]:
    count = draw(st.integers(1, 8))
    return [
        PromoLine(
            line_id=f"L{n}",
            item_id=draw(st.sampled_from(ITEMS)),
            category=draw(st.sampled_from(CATEGORIES)),
            quantity=draw(st.integers(1, 12)),
            unit_price_minor=draw(st.integers(0, 50_000)),
            distributor=draw(st.sampled_from(DISTRIBUTORS)),
            brand=draw(st.sampled_from(BRANDS)),
        )
        for n in range(count)
    ]


@st.composite
def scopes(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["ticket", "item", "category", "distributor", "brand"]))
    pool = {"item": ITEMS, "category": CATEGORIES, "distributor": DISTRIBUTORS, "brand": BRANDS}.get(kind)
    scope: dict[str, Any] = {"kind": kind}
    if pool is not None:
        scope["ids"] = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True))
    if draw(st.booleans()):
        scope["exclude_item_ids"] = draw(st.lists(st.sampled_from(ITEMS), max_size=1))
    return scope


@st.composite
def effects(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["percent_off", "amount_off", "buy_get_free", "buy_get_discount", "bonus_points"]))
    if kind == "percent_off":
        effect: dict[str, Any] = {"type": kind, "percent": draw(st.sampled_from(PERCENTS))}
        if draw(st.booleans()):
            effect["max_discount_minor"] = draw(st.integers(0, 20_000))
        return effect
    if kind == "amount_off":
        return {"type": kind, "amount_minor": draw(st.integers(1, 80_000)), "per_unit": draw(st.booleans())}
    if kind == "bonus_points":
        return {"type": kind, "points": draw(st.integers(1, 500)), "per_unit": draw(st.booleans())}
    effect = {"type": kind, "buy": draw(st.integers(1, 3)), "get": draw(st.integers(1, 2))}
    if kind == "buy_get_discount":
        effect["percent"] = draw(st.sampled_from(PERCENTS))
    if draw(st.booleans()):
        effect["max_applications"] = draw(st.integers(1, 3))
    return effect


@st.composite
def promotion_sets(draw: st.DrawFn) -> list[Promotion]:
    count = draw(st.integers(0, 8))
    promotions = []
    for n in range(count):
        distributor_bp = draw(st.integers(0, 10_000))
        data: dict[str, Any] = {
            "id": f"p{n}",
            "name": f"promotion {n}",
            "currency": "MXN",
            # A narrow range of priorities forces ties, which the id must break.
            "priority": draw(st.integers(0, 3)),
            "stacking": draw(st.sampled_from(["combinable", "combinable", "exclusive"])),
            "scope": draw(scopes()),
            "effect": draw(effects()),
            "funding": {"distributor_bp": distributor_bp, "retailer_bp": 10_000 - distributor_bp},
        }
        if draw(st.booleans()):
            data["conditions"] = {"min_spend_minor": draw(st.integers(0, 100_000))}
        promotions.append(load_promotion(data))
    return promotions


def evaluate_all(promotions: list[Promotion], basket: list[PromoLine]) -> Evaluation:
    context = EvaluationContext(now=NOW, timezone=TZ, currency="MXN", customer=Shopper("c1"))
    return evaluate(PromotionSet(promotions), basket, context)


def fingerprint(evaluation: Evaluation) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for r in evaluation.results:
        if isinstance(r, Applied):
            out.append((r.promotion.id, r.discount_minor, r.line_discounts, r.funders, r.bonus_points))
        else:
            out.append((r.promotion.id, r.reason, r.text))
    return out


@SETTINGS
@given(promotion_sets(), lines())
def test_no_line_and_no_ticket_ever_goes_negative(promotions: list[Promotion], basket: list[PromoLine]) -> None:
    outcome = evaluate_all(promotions, basket)
    for item in basket:
        discount = outcome.line_discount_minor[item.line_id]
        assert 0 <= discount <= item.gross_minor
    assert 0 <= outcome.discount_minor <= sum(item.gross_minor for item in basket)


@SETTINGS
@given(promotion_sets(), lines())
def test_allocations_add_up_exactly(promotions: list[Promotion], basket: list[PromoLine]) -> None:
    outcome = evaluate_all(promotions, basket)
    per_line = dict.fromkeys(outcome.line_discount_minor, 0)
    for r in outcome.applied:
        assert sum(amount for _, amount in r.line_discounts) == r.discount_minor
        assert sum(amount for _, amount in r.funders) == r.discount_minor
        assert all(amount > 0 for _, amount in r.line_discounts)
        assert all(amount >= 0 for _, amount in r.funders)
        for line_id, amount in r.line_discounts:
            per_line[line_id] += amount
    assert per_line == dict(outcome.line_discount_minor)
    assert sum(r.discount_minor for r in outcome.applied) == outcome.discount_minor


@SETTINGS
@given(promotion_sets(), lines(), st.randoms(use_true_random=False))
def test_evaluation_does_not_depend_on_the_order_promotions_arrive_in(
    promotions: list[Promotion], basket: list[PromoLine], rnd: Any
) -> None:
    shuffled = list(promotions)
    rnd.shuffle(shuffled)
    assert fingerprint(evaluate_all(shuffled, basket)) == fingerprint(evaluate_all(promotions, basket))


@SETTINGS
@given(lines(), st.sampled_from(PERCENTS))
def test_a_lone_percentage_is_the_exact_share_rounded_half_up_once(basket: list[PromoLine], percent: str) -> None:
    promotion = load_promotion(
        {
            "id": "p",
            "name": "p",
            "scope": {"kind": "ticket"},
            "effect": {"type": "percent_off", "percent": percent},
            "funding": {"distributor_bp": 10_000, "retailer_bp": 0},
        }
    )
    outcome = evaluate_all([promotion], basket)
    gross = sum(item.gross_minor for item in basket)
    rate = Fraction(percent.rstrip("%")) / 100
    assert outcome.discount_minor == round_fraction(gross * rate, Rounding.HALF_UP)
    # Largest remainder: no line is more than one minor unit away from its exact share.
    for item in basket:
        exact = Fraction(item.gross_minor * outcome.discount_minor, gross) if gross else Fraction(0)
        assert abs(outcome.line_discount_minor[item.line_id] - exact) < 1


@SETTINGS
@given(st.integers(0, 10**15), st.integers(1, 10**9))
def test_the_integer_half_up_used_for_buy_get_matches_the_money_rounding(numerator: int, denominator: int) -> None:
    assert _half_up(numerator, denominator) == round_fraction(Fraction(numerator, denominator), Rounding.HALF_UP)
