"""Golden cases for promotion evaluation: every effect, scope, condition, audience, cap and stacking rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest

from core.errors import InvalidInput
from core.promotions import (
    Applied,
    Evaluation,
    EvaluationContext,
    Funder,
    PromoLine,
    Promotion,
    PromotionSet,
    PromotionUsage,
    Shopper,
    Skipped,
    SkipReason,
    evaluate,
    load_promotion,
)

# Saturday 14 March 2026, 12:30 in Mexico City (UTC-6 all year since 2022).
NOW = datetime(2026, 3, 14, 18, 30, tzinfo=UTC)
TZ = "America/Mexico_City"
DISTRIBUTOR_FUNDED = {"distributor_bp": 10_000, "retailer_bp": 0}


def promo(promotion_id: str = "p", **fields: Any) -> Promotion:
    """A promotion: 10% off the ticket, distributor-funded, unless ``fields`` say otherwise."""
    data: dict[str, Any] = {
        "id": promotion_id,
        "name": f"promotion {promotion_id}",
        "scope": {"kind": "ticket"},
        "effect": {"type": "percent_off", "percent": "10%"},
        "funding": DISTRIBUTOR_FUNDED,
    }
    data.update(fields)
    return load_promotion(data)


def line(
    line_id: str,
    item_id: str,
    quantity: int,
    unit_price_minor: int,
    *,
    category: str = "abarrotes",
    distributor: str | None = "dist-norte",
    brand: str | None = "marca",
) -> PromoLine:
    return PromoLine(line_id, item_id, category, quantity, unit_price_minor, distributor, brand)


def member(customer_id: str = "c1", **facts: Any) -> Shopper:
    return Shopper(customer_id=customer_id, **facts)


def run(
    promotions: Sequence[Promotion],
    lines: Sequence[PromoLine],
    *,
    customer: Shopper | None = None,
    now: datetime = NOW,
    usage: Mapping[str, PromotionUsage] | None = None,
    store_id: str = "tienda-1",
    retailer_id: str = "abarrotes-lupita",
    currency: str = "MXN",
    explain_unmatched: bool = False,
) -> Evaluation:
    context = EvaluationContext(
        now=now,
        timezone=TZ,
        currency=currency,
        store_id=store_id,
        retailer_id=retailer_id,
        customer=customer,
        usage=usage or {},
    )
    return evaluate(PromotionSet(promotions), lines, context, explain_unmatched=explain_unmatched)


def result(evaluation: Evaluation, promotion_id: str) -> Applied | Skipped:
    return next(r for r in evaluation.results if r.promotion.id == promotion_id)


def applied(evaluation: Evaluation, promotion_id: str = "p") -> Applied:
    found = result(evaluation, promotion_id)
    assert isinstance(found, Applied), found
    return found


def skip_reason(evaluation: Evaluation, promotion_id: str = "p") -> SkipReason:
    found = result(evaluation, promotion_id)
    assert isinstance(found, Skipped), found
    return found.reason


TWO_LINES = [line("1", "arroz", 1, 1000), line("2", "frijol", 1, 3000)]


# --- effects on each scope ---------------------------------------------------------------------------


def test_percent_off_ticket_is_split_over_lines_in_proportion() -> None:
    outcome = run([promo()], TWO_LINES)
    got = applied(outcome)
    assert got.discount_minor == 400
    assert got.line_discounts == (("1", 100), ("2", 300))
    assert outcome.line_discount_minor == {"1": 100, "2": 300}


def test_percent_off_rounds_the_ticket_discount_half_up_once() -> None:
    # 10% of 10.05 is 1.005 -> 1.01; three lines of 3.35 each would round to 0.34 * 3 = 1.02 line by line.
    lines = [line(str(i), f"item-{i}", 1, 335) for i in range(3)]
    got = applied(run([promo()], lines))
    assert got.discount_minor == 101
    assert sorted(amount for _, amount in got.line_discounts) == [33, 34, 34]


@pytest.mark.parametrize(
    ("scope", "expected_lines"),
    [
        ({"kind": "item", "ids": ["frijol"]}, {"2": 300}),
        ({"kind": "category", "ids": ["bebidas"]}, {"3": 200}),
        ({"kind": "distributor", "ids": ["dist-sur"]}, {"3": 200}),
        ({"kind": "brand", "ids": ["marca-x"]}, {"1": 100, "3": 200}),
        ({"kind": "category", "ids": ["abarrotes"], "exclude_item_ids": ["arroz"]}, {"2": 300}),
    ],
    ids=["item", "category", "distributor", "brand", "category-minus-excluded-item"],
)
def test_percent_off_reaches_only_the_lines_in_scope(scope: dict[str, Any], expected_lines: dict[str, int]) -> None:
    lines = [
        line("1", "arroz", 1, 1000, brand="marca-x"),
        line("2", "frijol", 1, 3000),
        line("3", "refresco", 1, 2000, category="bebidas", distributor="dist-sur", brand="marca-x"),
    ]
    got = applied(run([promo(scope=scope)], lines))
    assert dict(got.line_discounts) == expected_lines


def test_percent_off_respects_its_cap() -> None:
    got = applied(
        run(
            [promo(effect={"type": "percent_off", "percent": "50%", "max_discount_minor": 700}, currency="MXN")],
            TWO_LINES,
        )
    )
    assert got.discount_minor == 700
    assert sum(amount for _, amount in got.line_discounts) == 700


def test_amount_off_ticket_spreads_the_leftover_minor_units_by_largest_remainder() -> None:
    lines = [line(str(i), f"item-{i}", 1, 1000) for i in range(3)]
    got = applied(run([promo(effect={"type": "amount_off", "amount_minor": 100}, currency="MXN")], lines))
    # 100 / 3 = 33.33 each; the one leftover unit goes to the earliest line.
    assert got.line_discounts == (("0", 34), ("1", 33), ("2", 33))


def test_amount_off_larger_than_the_ticket_stops_at_zero() -> None:
    outcome = run([promo(effect={"type": "amount_off", "amount_minor": 999_999}, currency="MXN")], TWO_LINES)
    assert applied(outcome).discount_minor == 4000
    assert outcome.line_discount_minor == {"1": 1000, "2": 3000}


def test_amount_off_per_unit_discounts_each_unit_and_never_below_zero() -> None:
    lines = [line("1", "refresco", 3, 1850), line("2", "chicle", 4, 150)]
    got = applied(
        run(
            [
                promo(
                    scope={"kind": "item", "ids": ["refresco", "chicle"]},
                    effect={"type": "amount_off", "amount_minor": 200, "per_unit": True},
                    currency="MXN",
                )
            ],
            lines,
        )
    )
    assert got.line_discounts == (("1", 600), ("2", 600))


def test_amount_off_on_an_item_scope_only_touches_that_item() -> None:
    got = applied(
        run(
            [
                promo(
                    scope={"kind": "item", "ids": ["arroz"]},
                    effect={"type": "amount_off", "amount_minor": 250},
                    currency="MXN",
                )
            ],
            TWO_LINES,
        )
    )
    assert got.line_discounts == (("1", 250),)


def test_buy_two_get_one_free_on_one_item() -> None:
    got = applied(
        run(
            [promo(scope={"kind": "item", "ids": ["refresco"]}, effect={"type": "buy_get_free", "buy": 2, "get": 1})],
            [line("1", "refresco", 7, 1850)],
        )
    )
    assert got.discount_minor == 2 * 1850
    assert "2 units free" in got.detail


def test_buy_get_free_across_a_category_frees_the_cheapest_unit_of_each_group() -> None:
    lines = [
        line("1", "cafe", 2, 3000),
        line("2", "te", 1, 1000),
        line("3", "chocolate", 1, 2000),
    ]
    got = applied(
        run(
            [
                promo(
                    scope={"kind": "category", "ids": ["abarrotes"]},
                    effect={"type": "buy_get_free", "buy": 2, "get": 1},
                )
            ],
            lines,
        )
    )
    # Units dearest first: 3000 3000 2000 | 1000. One complete group; its cheapest unit (2000) is free.
    assert got.line_discounts == (("3", 2000),)


def test_buy_get_free_caps_the_number_of_groups() -> None:
    got = applied(
        run(
            [
                promo(
                    scope={"kind": "item", "ids": ["refresco"]},
                    effect={"type": "buy_get_free", "buy": 1, "get": 1, "max_applications": 2},
                )
            ],
            [line("1", "refresco", 10, 1000)],
        )
    )
    assert got.discount_minor == 2000


def test_buy_zero_get_one_gives_a_single_free_unit() -> None:
    got = applied(
        run(
            [
                promo(
                    scope={"kind": "item", "ids": ["termo"]},
                    effect={"type": "buy_get_free", "buy": 0, "get": 1, "max_applications": 1},
                )
            ],
            [line("1", "termo", 3, 25_000)],
        )
    )
    assert got.discount_minor == 25_000


def test_buy_get_free_with_too_few_units_is_skipped() -> None:
    outcome = run(
        [promo(scope={"kind": "item", "ids": ["refresco"]}, effect={"type": "buy_get_free", "buy": 2, "get": 1})],
        [line("1", "refresco", 2, 1850)],
    )
    assert skip_reason(outcome) is SkipReason.NOT_ENOUGH_UNITS


def test_buy_one_get_one_at_half_price_on_a_brand() -> None:
    got = applied(
        run(
            [
                promo(
                    scope={"kind": "brand", "ids": ["marca"]},
                    effect={"type": "buy_get_discount", "buy": 1, "get": 1, "percent": "50%"},
                )
            ],
            [line("1", "galletas", 4, 1500)],
        )
    )
    assert got.discount_minor == 1500


def test_buy_get_discount_rounds_each_line_half_up() -> None:
    got = applied(
        run(
            [
                promo(
                    scope={"kind": "distributor", "ids": ["dist-norte"]},
                    effect={"type": "buy_get_discount", "buy": 1, "get": 1, "percent": "50%"},
                )
            ],
            [line("1", "galletas", 2, 999)],
        )
    )
    assert got.discount_minor == 500  # 9.99 * 50% = 4.995 -> 5.00


def test_bonus_points_once_per_ticket_and_per_unit() -> None:
    lines = [line("1", "cafe", 3, 5000), line("2", "pan", 1, 800)]
    outcome = run(
        [
            promo("once", scope={"kind": "ticket"}, effect={"type": "bonus_points", "points": 50}),
            promo(
                "per-unit",
                scope={"kind": "item", "ids": ["cafe"]},
                effect={"type": "bonus_points", "points": 10, "per_unit": True},
            ),
        ],
        lines,
        customer=member(),
    )
    assert applied(outcome, "once").bonus_points == 50
    assert applied(outcome, "per-unit").bonus_points == 30
    assert applied(outcome, "per-unit").points_line_ids == ("1",)
    assert outcome.discount_minor == 0


def test_points_multiplier_names_its_lines_and_discounts_nothing() -> None:
    outcome = run(
        [
            promo(
                scope={"kind": "category", "ids": ["bebidas"]}, effect={"type": "points_multiplier", "multiplier": "3"}
            )
        ],
        [line("1", "refresco", 1, 1850, category="bebidas"), line("2", "pan", 1, 800)],
        customer=member(),
    )
    got = applied(outcome)
    assert got.multiplier == 3
    assert got.points_line_ids == ("1",)
    assert got.discount_minor == 0


# --- conditions ---------------------------------------------------------------------------------------


def test_minimum_spend_is_judged_on_the_scoped_gross() -> None:
    conditions = {"min_spend_minor": 4000}
    assert applied(run([promo(conditions=conditions, currency="MXN")], TWO_LINES)).discount_minor == 400
    narrow = promo(scope={"kind": "item", "ids": ["frijol"]}, conditions=conditions, currency="MXN")
    assert skip_reason(run([narrow], TWO_LINES)) is SkipReason.MIN_SPEND


def test_minimum_quantity_counts_units_in_scope() -> None:
    lines = [line("1", "refresco", 2, 1000), line("2", "pan", 5, 100)]
    scope = {"kind": "item", "ids": ["refresco"]}
    assert skip_reason(run([promo(scope=scope, conditions={"min_quantity": 3})], lines)) is SkipReason.MIN_QUANTITY
    assert applied(run([promo(scope=scope, conditions={"min_quantity": 2})], lines)).discount_minor == 200


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ({"valid_from": "2026-03-14T18:30:00Z"}, None),
        ({"valid_from": "2026-03-14T18:30:01Z"}, SkipReason.NOT_STARTED),
        ({"valid_until": "2026-03-14T18:30:01Z"}, None),
        ({"valid_until": "2026-03-14T18:30:00Z"}, SkipReason.EXPIRED),
        ({"valid_from": "2026-03-14", "valid_until": "2026-03-14"}, None),
        ({"valid_from": "2026-03-15"}, SkipReason.NOT_STARTED),
        ({"valid_until": "2026-03-13"}, SkipReason.EXPIRED),
    ],
    ids=[
        "from-is-inclusive",
        "before-from",
        "before-until",
        "until-is-exclusive",
        "date-range-of-one-day",
        "date-from-tomorrow",
        "date-until-yesterday",
    ],
)
def test_validity_dates(conditions: dict[str, str], expected: SkipReason | None) -> None:
    outcome = run([promo(conditions=conditions)], TWO_LINES)
    if expected is None:
        applied(outcome)
    else:
        assert skip_reason(outcome) is expected


def test_a_plain_until_date_runs_to_the_end_of_that_local_day() -> None:
    conditions = {"valid_until": "2026-03-14"}
    # 05:59 UTC on the 15th is still 23:59 on the 14th in Mexico City.
    applied(run([promo(conditions=conditions)], TWO_LINES, now=datetime(2026, 3, 15, 5, 59, tzinfo=UTC)))
    late = run([promo(conditions=conditions)], TWO_LINES, now=datetime(2026, 3, 15, 6, 0, tzinfo=UTC))
    assert skip_reason(late) is SkipReason.EXPIRED


def test_days_of_week_use_the_store_local_date() -> None:
    # 03:00 UTC on Sunday the 15th is 21:00 on Saturday in Mexico City.
    saturday_night = datetime(2026, 3, 15, 3, 0, tzinfo=UTC)
    applied(run([promo(conditions={"days_of_week": ["sat"]})], TWO_LINES, now=saturday_night))
    outcome = run([promo(conditions={"days_of_week": ["sun", "mon"]})], TWO_LINES, now=saturday_night)
    assert skip_reason(outcome) is SkipReason.WRONG_DAY


@pytest.mark.parametrize(
    ("hours", "now", "applies"),
    [
        ([{"start": "09:00", "end": "13:00"}], NOW, True),
        ([{"start": "09:00", "end": "12:30"}], NOW, False),
        ([{"start": "12:30", "end": "13:00"}], NOW, True),
        ([{"start": "07:00", "end": "09:00"}, {"start": "12:00", "end": "14:00"}], NOW, True),
        ([{"start": "22:00", "end": "02:00"}], datetime(2026, 3, 15, 7, 0, tzinfo=UTC), True),
        ([{"start": "22:00", "end": "02:00"}], NOW, False),
    ],
    ids=["inside", "end-is-exclusive", "start-is-inclusive", "second-window", "past-midnight", "outside-overnight"],
)
def test_happy_hours_in_store_time(hours: list[dict[str, str]], now: datetime, applies: bool) -> None:
    outcome = run([promo(conditions={"hours": hours})], TWO_LINES, now=now)
    if applies:
        applied(outcome)
    else:
        assert skip_reason(outcome) is SkipReason.WRONG_HOUR


BIRTHDAY_WINDOW = {"event": {"kind": "birthday", "days_before": 3, "days_after": 1}}


@pytest.mark.parametrize(
    ("birth_date", "applies"),
    [
        (date(1990, 3, 17), True),
        (date(1990, 3, 13), True),
        (date(1990, 3, 18), False),
        (date(1990, 3, 12), False),
    ],
    ids=["three-days-before", "one-day-after", "four-days-before", "two-days-after"],
)
def test_birthday_window(birth_date: date, applies: bool) -> None:
    outcome = run([promo(conditions=BIRTHDAY_WINDOW)], TWO_LINES, customer=member(birth_date=birth_date))
    if applies:
        applied(outcome)
    else:
        assert skip_reason(outcome) is SkipReason.NOT_EVENT_DAY


def test_birthday_on_29_february_is_kept_on_28_february_in_common_years() -> None:
    leapling = member(birth_date=date(2000, 2, 29))
    exact_day = {"event": {"kind": "birthday"}}
    applied(run([promo(conditions=exact_day)], TWO_LINES, customer=leapling, now=datetime(2026, 2, 28, 18, tzinfo=UTC)))
    march_first = run(
        [promo(conditions=exact_day)], TWO_LINES, customer=leapling, now=datetime(2026, 3, 1, 18, tzinfo=UTC)
    )
    assert skip_reason(march_first) is SkipReason.NOT_EVENT_DAY
    applied(run([promo(conditions=exact_day)], TWO_LINES, customer=leapling, now=datetime(2028, 2, 29, 18, tzinfo=UTC)))


def test_a_birthday_window_reaches_across_new_year() -> None:
    conditions = {"event": {"kind": "birthday", "days_before": 5}}
    new_years_baby = member(birth_date=date(1985, 1, 2))
    applied(
        run(
            [promo(conditions=conditions)],
            TWO_LINES,
            customer=new_years_baby,
            now=datetime(2026, 12, 29, 18, tzinfo=UTC),
        )
    )


def test_enrolment_anniversary_needs_a_full_year() -> None:
    conditions = {"event": {"kind": "enrolment_anniversary"}}
    enrolled_today = member(enrolled_on=date(2026, 3, 14))
    assert (
        skip_reason(run([promo(conditions=conditions)], TWO_LINES, customer=enrolled_today)) is SkipReason.NOT_EVENT_DAY
    )
    applied(run([promo(conditions=conditions)], TWO_LINES, customer=member(enrolled_on=date(2025, 3, 14))))


def test_an_event_promotion_needs_a_known_date_and_a_member() -> None:
    conditions = {"event": {"kind": "birthday"}}
    assert skip_reason(run([promo(conditions=conditions)], TWO_LINES, customer=member())) is SkipReason.NOT_EVENT_DAY
    assert skip_reason(run([promo(conditions=conditions)], TWO_LINES)) is SkipReason.NOT_A_MEMBER


def test_store_and_retailer_restrictions() -> None:
    only_here = promo(conditions={"store_ids": ["tienda-1"]})
    applied(run([only_here], TWO_LINES))
    assert skip_reason(run([only_here], TWO_LINES, store_id="tienda-2")) is SkipReason.WRONG_STORE
    other_retailer = promo(conditions={"retailer_ids": ["otro"]})
    assert skip_reason(run([other_retailer], TWO_LINES)) is SkipReason.WRONG_STORE


def test_a_promotion_in_another_currency_is_skipped_not_converted() -> None:
    usd = promo(effect={"type": "amount_off", "amount_minor": 500}, currency="USD")
    assert skip_reason(run([usd], TWO_LINES)) is SkipReason.CURRENCY_MISMATCH


def test_a_switched_off_promotion_is_skipped() -> None:
    assert skip_reason(run([promo(active=False)], TWO_LINES)) is SkipReason.INACTIVE


# --- audience -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audience", "customer", "expected"),
    [
        ({"kind": "everyone"}, None, None),
        ({"kind": "members"}, None, SkipReason.NOT_A_MEMBER),
        ({"kind": "members"}, Shopper("c1"), None),
        ({"kind": "customers", "ids": ["c1", "c9"]}, Shopper("c1"), None),
        ({"kind": "customers", "ids": ["c9"]}, Shopper("c1"), SkipReason.AUDIENCE),
        ({"kind": "tiers", "ids": ["gold", "silver"]}, Shopper("c1", tier="silver"), None),
        ({"kind": "tiers", "ids": ["gold"]}, Shopper("c1", tier="silver"), SkipReason.AUDIENCE),
        ({"kind": "tiers", "ids": ["gold"]}, Shopper("c1"), SkipReason.AUDIENCE),
        ({"kind": "segments", "ids": ["big-spenders"]}, Shopper("c1", segment_ids=frozenset({"big-spenders"})), None),
        (
            {"kind": "segments", "ids": ["big-spenders"]},
            Shopper("c1", segment_ids=frozenset({"x"})),
            SkipReason.AUDIENCE,
        ),
    ],
    ids=[
        "everyone-walk-in",
        "members-walk-in",
        "members-member",
        "listed",
        "not-listed",
        "tier-in",
        "tier-out",
        "no-tier",
        "segment-in",
        "segment-out",
    ],
)
def test_audiences(audience: dict[str, Any], customer: Shopper | None, expected: SkipReason | None) -> None:
    outcome = run([promo(audience=audience)], TWO_LINES, customer=customer)
    if expected is None:
        applied(outcome)
    else:
        assert skip_reason(outcome) is expected


def test_points_promotions_need_a_member() -> None:
    points = promo(effect={"type": "bonus_points", "points": 10})
    assert skip_reason(run([points], TWO_LINES)) is SkipReason.NOT_A_MEMBER


# --- caps ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "usage", "applies"),
    [
        ({"max_uses_per_customer": 2}, PromotionUsage(customer_uses=1, total_uses=50), True),
        ({"max_uses_per_customer": 2}, PromotionUsage(customer_uses=2, total_uses=50), False),
        ({"max_uses_total": 100}, PromotionUsage(customer_uses=0, total_uses=99), True),
        ({"max_uses_total": 100}, PromotionUsage(customer_uses=0, total_uses=100), False),
    ],
    ids=["customer-below", "customer-reached", "total-below", "total-reached"],
)
def test_usage_caps(limits: dict[str, int], usage: PromotionUsage, applies: bool) -> None:
    outcome = run([promo(limits=limits)], TWO_LINES, customer=member(), usage={"p": usage})
    if applies:
        applied(outcome)
    else:
        assert skip_reason(outcome) is SkipReason.CAP_REACHED


def test_a_per_customer_cap_cannot_be_counted_for_a_walk_in() -> None:
    outcome = run([promo(limits={"max_uses_per_customer": 1})], TWO_LINES)
    assert skip_reason(outcome) is SkipReason.NOT_A_MEMBER


# --- stacking -----------------------------------------------------------------------------------------


def test_combinable_promotions_apply_in_priority_order_on_what_is_left() -> None:
    outcome = run(
        [
            promo("b-fixed", priority=20, effect={"type": "amount_off", "amount_minor": 1000}, currency="MXN"),
            promo("a-percent", priority=10, effect={"type": "percent_off", "percent": "50%"}),
        ],
        TWO_LINES,
    )
    assert [r.promotion.id for r in outcome.results] == ["a-percent", "b-fixed"]
    assert applied(outcome, "a-percent").discount_minor == 2000
    assert applied(outcome, "b-fixed").discount_minor == 1000
    assert outcome.discount_minor == 3000


def test_equal_priorities_are_ordered_by_id() -> None:
    outcome = run([promo("zeta"), promo("alfa"), promo("mid")], TWO_LINES)
    assert [r.promotion.id for r in outcome.results] == ["alfa", "mid", "zeta"]


def test_an_exclusive_promotion_that_applies_excludes_every_other() -> None:
    outcome = run(
        [
            promo("first", priority=1),
            promo("solo", priority=50, stacking="exclusive", effect={"type": "percent_off", "percent": "20%"}),
            promo("points", priority=60, effect={"type": "bonus_points", "points": 5}),
        ],
        TWO_LINES,
        customer=member(),
    )
    assert applied(outcome, "solo").discount_minor == 800
    assert skip_reason(outcome, "first") is SkipReason.EXCLUDED_BY_EXCLUSIVE
    assert skip_reason(outcome, "points") is SkipReason.EXCLUDED_BY_EXCLUSIVE
    assert outcome.discount_minor == 800


def test_an_exclusive_promotion_that_does_not_qualify_blocks_nothing() -> None:
    outcome = run(
        [promo("solo", stacking="exclusive", conditions={"min_quantity": 99}), promo("other")],
        TWO_LINES,
    )
    assert skip_reason(outcome, "solo") is SkipReason.MIN_QUANTITY
    assert applied(outcome, "other").discount_minor == 400


def test_of_two_exclusive_promotions_the_first_in_order_wins() -> None:
    outcome = run(
        [
            promo("big", priority=20, stacking="exclusive", effect={"type": "percent_off", "percent": "50%"}),
            promo("small", priority=10, stacking="exclusive"),
        ],
        TWO_LINES,
    )
    assert applied(outcome, "small").discount_minor == 400
    assert skip_reason(outcome, "big") is SkipReason.EXCLUDED_BY_EXCLUSIVE


def test_a_promotion_finding_nothing_left_is_skipped() -> None:
    outcome = run(
        [promo("all", priority=1, effect={"type": "percent_off", "percent": "100%"}), promo("more", priority=2)],
        TWO_LINES,
    )
    assert applied(outcome, "all").discount_minor == 4000
    assert skip_reason(outcome, "more") is SkipReason.NOTHING_LEFT_TO_DISCOUNT


# --- funding ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("funding", "expected"),
    [
        ({"distributor_bp": 10_000, "retailer_bp": 0}, (1165, 0)),
        ({"distributor_bp": 0, "retailer_bp": 10_000}, (0, 1165)),
        ({"distributor_bp": 6000, "retailer_bp": 4000}, (699, 466)),
        ({"distributor_bp": 5000, "retailer_bp": 5000}, (583, 582)),
    ],
    ids=["distributor", "retailer", "split-60-40", "split-halves-odd-amount"],
)
def test_funders_share_the_discount_without_losing_a_cent(funding: dict[str, int], expected: tuple[int, int]) -> None:
    got = applied(run([promo(funding=funding)], [line("1", "x", 1, 11650)]))
    assert got.funders == ((Funder.DISTRIBUTOR, expected[0]), (Funder.RETAILER, expected[1]))
    assert sum(amount for _, amount in got.funders) == got.discount_minor


# --- the index ------------------------------------------------------------------------------------------


def test_promotions_no_line_can_reach_are_counted_not_explained() -> None:
    promotions = [
        promo("hit", scope={"kind": "item", "ids": ["arroz"]}),
        promo("miss-item", scope={"kind": "item", "ids": ["caviar"]}),
        promo("miss-category", scope={"kind": "category", "ids": ["joyeria"]}),
    ]
    outcome = run(promotions, TWO_LINES)
    assert [r.promotion.id for r in outcome.results] == ["hit"]
    assert outcome.not_considered == 2
    everything = run(promotions, TWO_LINES, explain_unmatched=True)
    assert {r.promotion.id: getattr(r, "reason", None) for r in everything.results} == {
        "hit": None,
        "miss-category": SkipReason.NO_MATCHING_LINES,
        "miss-item": SkipReason.NO_MATCHING_LINES,
    }
    assert everything.not_considered == 0


def test_a_scope_whose_lines_are_all_excluded_matches_nothing() -> None:
    outcome = run([promo(scope={"kind": "item", "ids": ["arroz"], "exclude_item_ids": ["arroz"]})], TWO_LINES)
    assert skip_reason(outcome) is SkipReason.NO_MATCHING_LINES


def test_every_skip_explains_itself_in_words() -> None:
    outcome = run([promo(conditions={"days_of_week": ["mon"]})], TWO_LINES)
    skipped = result(outcome, "p")
    assert isinstance(skipped, Skipped)
    assert skipped.text == "runs on mon; today is sat"


# --- bad input ----------------------------------------------------------------------------------------


def test_line_ids_must_be_unique() -> None:
    with pytest.raises(InvalidInput) as caught:
        run([promo()], [line("1", "a", 1, 100), line("1", "b", 1, 100)])
    assert caught.value.field == "lines"


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(InvalidInput) as caught:
        run([promo()], TWO_LINES, now=datetime(2026, 3, 14, 12, 30))  # noqa: DTZ001 - naive on purpose
    assert caught.value.field == "now"


def test_an_unknown_time_zone_is_refused() -> None:
    context = EvaluationContext(now=NOW, timezone="Mars/Olympus_Mons", currency="MXN")
    with pytest.raises(InvalidInput) as caught:
        evaluate(PromotionSet([promo()]), TWO_LINES, context)
    assert caught.value.field == "timezone"


def test_duplicate_promotion_ids_are_refused_naming_the_second() -> None:
    with pytest.raises(InvalidInput) as caught:
        PromotionSet([promo("same"), promo("other"), promo("same")])
    assert caught.value.field == "promotions.2.id"


# --- every effect on every scope ------------------------------------------------------------------------

# Lines A and B share a category, distributor and brand; C shares none of them. Every non-ticket scope below
# selects exactly A and B; the ticket selects all three.
GRID = [
    line("A", "a", 3, 1000, category="c1", distributor="d1", brand="b1"),
    line("B", "b", 1, 2000, category="c1", distributor="d1", brand="b1"),
    line("C", "c", 2, 500, category="c2", distributor="d2", brand="b2"),
]
GRID_SCOPES = {
    "ticket": {"kind": "ticket"},
    "item": {"kind": "item", "ids": ["a", "b"]},
    "category": {"kind": "category", "ids": ["c1"]},
    "distributor": {"kind": "distributor", "ids": ["d1"]},
    "brand": {"kind": "brand", "ids": ["b1"]},
}
# effect -> (per-line discounts or points when A and B are in scope, the same for the whole ticket)
GRID_EFFECTS: dict[str, tuple[dict[str, Any], Any, Any]] = {
    "percent_off": ({"type": "percent_off", "percent": "10%"}, {"A": 300, "B": 200}, {"A": 300, "B": 200, "C": 100}),
    # 700 over 3000/2000/1000 is 350, 233.33, 116.67: the leftover unit goes to the largest fraction (C).
    "amount_off": ({"type": "amount_off", "amount_minor": 700}, {"A": 420, "B": 280}, {"A": 350, "B": 233, "C": 117}),
    # Units dearest first: 2000 1000 1000 | 1000 (+ 500 500 on the ticket): one A free; on the ticket one C too.
    "buy_get_free": ({"type": "buy_get_free", "buy": 2, "get": 1}, {"A": 1000}, {"A": 1000, "C": 500}),
    # Pairs 2000 1000 | 1000 1000 (| 500 500): the second of each pair at half price.
    "buy_get_discount": (
        {"type": "buy_get_discount", "buy": 1, "get": 1, "percent": "50%"},
        {"A": 1000},
        {"A": 1000, "C": 250},
    ),
    "bonus_points": ({"type": "bonus_points", "points": 5, "per_unit": True}, 20, 30),
    "points_multiplier": ({"type": "points_multiplier", "multiplier": "2"}, ("A", "B"), ("A", "B", "C")),
}


@pytest.mark.parametrize("scope_name", list(GRID_SCOPES))
@pytest.mark.parametrize("effect_name", list(GRID_EFFECTS))
def test_every_effect_on_every_scope(effect_name: str, scope_name: str) -> None:
    effect, in_scope, whole_ticket = GRID_EFFECTS[effect_name]
    expected = whole_ticket if scope_name == "ticket" else in_scope
    promotion = promo(scope=GRID_SCOPES[scope_name], effect=effect, currency="MXN")
    got = applied(run([promotion], GRID, customer=member()))
    if effect_name == "bonus_points":
        assert (got.bonus_points, got.discount_minor) == (expected, 0)
    elif effect_name == "points_multiplier":
        assert (got.points_line_ids, got.discount_minor) == (expected, 0)
    else:
        assert dict(got.line_discounts) == expected
        assert got.discount_minor == sum(expected.values())
