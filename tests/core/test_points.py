"""Earning points, lucky draws, paying with points and taking rewards."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.points import (
    EarnLine,
    Member,
    PointsEarned,
    PointsKind,
    PointsOverBalance,
    PointsProgram,
    PromotionPoints,
    draw_winners,
    earn_points,
    known_balance,
    load_program,
    max_redeemable,
    points_value_minor,
    redeem_points,
    redeem_reward,
    settle_offline_hold,
    spendable_points,
)
from core.promotions import BuyGetFree, Funding, PercentOff, Shopper, SkipReason
from core.tiers import DEFAULT_POINTS_TIERS, Tier
from tests.core.test_promotions_engine import applied, line, run, skip_reason

TODAY = date(2026, 3, 14)
NOW = datetime(2026, 3, 14, 18, 30, tzinfo=UTC)
RETAILER_FUNDED = Funding(distributor_bp=0, retailer_bp=10_000)


def program(**fields: Any) -> PointsProgram:
    data: dict[str, Any] = {"id": "puntos-norte", "name": "Puntos Norte", "currency": "MXN"}
    data.update(fields)
    return load_program(data)


def earn(
    prog: PointsProgram,
    lines: list[EarnLine],
    *,
    member: Member | None = None,
    today: date = TODAY,
    **options: Any,
) -> PointsEarned:
    return earn_points(prog, lines, member=member or Member("c1"), local_date=today, **options)


def by_kind(earned: PointsEarned) -> dict[tuple[PointsKind, str], int]:
    return {(e.kind, e.source): e.points for e in earned.entries}


def spend(
    line_id: str, amount_minor: int, *, item: str = "arroz", category: str = "abarrotes", quantity: int = 1
) -> EarnLine:
    return EarnLine(line_id, item, category, quantity, amount_minor)


# --- earning ------------------------------------------------------------------------------------------


def test_one_point_per_ten_pesos_rounds_down_once_per_ticket() -> None:
    prog = program()
    assert earn(prog, [spend("1", 1999)]).total == 1
    # Two lines of 5.00 make 10.00 together: the fraction is summed before rounding.
    assert earn(prog, [spend("1", 500), spend("2", 500)]).total == 1
    assert earn(prog, [spend("1", 999)]).total == 0


def test_earn_rate_is_configurable() -> None:
    prog = program(earn={"points": 3, "per_spend_minor": 2500})
    assert earn(prog, [spend("1", 10_000)]).total == 12


def test_item_multiplier_wins_over_category_multiplier_on_the_same_line() -> None:
    prog = program(item_multipliers={"cafe": "3"}, category_multipliers={"abarrotes": "2"})
    earned = earn(prog, [spend("1", 10_000, item="cafe"), spend("2", 10_000, item="arroz")])
    assert by_kind(earned) == {
        (PointsKind.BASE, "puntos-norte"): 20,
        (PointsKind.ITEM_MULTIPLIER, "cafe"): 20,
        (PointsKind.CATEGORY_MULTIPLIER, "abarrotes"): 10,
    }
    assert earned.total == 50


def test_tier_and_promotion_multipliers_add_up_they_do_not_compound() -> None:
    prog = program()
    gold = Tier(id="gold", name="Gold", min_value=2000, earn_multiplier=Fraction(2))
    promo = PromotionPoints("doble-cafe", 0, Fraction(2), ("1",), RETAILER_FUNDED)
    earned = earn(prog, [spend("1", 10_000), spend("2", 5_000)], tier=gold, promotions=[promo])
    assert by_kind(earned) == {
        (PointsKind.BASE, "puntos-norte"): 15,
        (PointsKind.TIER_MULTIPLIER, "gold"): 15,
        (PointsKind.PROMOTION_MULTIPLIER, "doble-cafe"): 10,
    }
    promotion_entry = next(e for e in earned.entries if e.kind is PointsKind.PROMOTION_MULTIPLIER)
    assert (promotion_entry.distributor_points, promotion_entry.retailer_points) == (0, 10)


def test_fixed_bonuses_per_unit_per_visit_and_from_promotions() -> None:
    prog = program(item_bonus_points={"cafe": 5}, visit_bonus_points=2)
    earned = earn(
        prog,
        [spend("1", 10_000, item="cafe", quantity=3), spend("2", 0, item="cafe", quantity=1)],
        promotions=[PromotionPoints("bienvenida", 25, None, (), RETAILER_FUNDED)],
    )
    # The free unit (amount 0) earns no item bonus.
    assert by_kind(earned)[(PointsKind.ITEM_BONUS, "cafe")] == 15
    assert by_kind(earned)[(PointsKind.VISIT_BONUS, "puntos-norte")] == 2
    assert by_kind(earned)[(PointsKind.PROMOTION_BONUS, "bienvenida")] == 25


def test_birthday_bonus_once_per_occurrence() -> None:
    prog = program(birthday_bonus={"points": 100, "days_before": 3, "days_after": 3})
    birthday = Member("c1", birth_date=date(1990, 3, 16))
    earned = earn(prog, [spend("1", 1000)], member=birthday)
    assert by_kind(earned)[(PointsKind.BIRTHDAY, "puntos-norte")] == 100
    assert earned.birthday_bonus_year == 2026
    already = Member("c1", birth_date=date(1990, 3, 16), last_birthday_bonus_year=2026)
    again = earn(prog, [spend("1", 1000)], member=already)
    assert (PointsKind.BIRTHDAY, "puntos-norte") not in by_kind(again)
    assert again.birthday_bonus_year is None


def test_anniversary_bonus_and_leap_day_enrolment() -> None:
    prog = program(anniversary_bonus={"points": 200})
    leapling = Member("c1", enrolled_on=date(2024, 2, 29))
    earned = earn(prog, [spend("1", 1000)], member=leapling, today=date(2026, 2, 28))
    assert by_kind(earned)[(PointsKind.ANNIVERSARY, "puntos-norte")] == 200
    assert earned.anniversary_bonus_year == 2026
    assert earn(prog, [spend("1", 1000)], member=leapling, today=date(2026, 3, 1)).anniversary_bonus_year is None


def test_the_part_paid_with_points_earns_nothing_unless_the_program_says_so() -> None:
    lines = [spend("1", 10_000)]
    half = Fraction(1, 2)
    assert earn(program(), lines, money_share=half).total == 5
    assert earn(program(), lines, money_share=half).eligible_spend_minor == 5000
    assert earn(program(earn_on_points_tender=True), lines, money_share=half).total == 10


def test_lucky_draw_entries_per_spend_with_a_cap() -> None:
    prog = program(lucky_draw={"spend_per_entry_minor": 5000, "max_entries_per_ticket": 3})
    assert earn(prog, [spend("1", 14_999)]).draw_entries == 2
    assert earn(prog, [spend("1", 100_000)]).draw_entries == 3
    assert earn(program(), [spend("1", 100_000)]).draw_entries == 0


def test_program_points_are_funded_as_the_program_says() -> None:
    prog = program(funding={"distributor_bp": 7000, "retailer_bp": 3000})
    (entry,) = earn(prog, [spend("1", 1110)]).entries
    assert (entry.points, entry.distributor_points, entry.retailer_points) == (1, 1, 0)
    (entry,) = earn(prog, [spend("1", 100_000)]).entries
    assert (entry.distributor_points, entry.retailer_points) == (70, 30)


def test_negative_amounts_and_bad_shares_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        earn(program(), [spend("1", -1)])
    assert caught.value.field == "lines.0"
    with pytest.raises(InvalidInput) as caught:
        earn(program(), [spend("1", 1)], money_share=Fraction(3, 2))
    assert caught.value.field == "money_share"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y"]), st.integers(1, 20), st.integers(0, 10**7)
        ),
        min_size=1,
        max_size=10,
    ),
    st.fractions(min_value=0, max_value=1),
    st.sampled_from(["1", "1.5", "2", "3.25"]),
    st.integers(1, 10),
    st.integers(1, 10_000),
)
def test_points_are_never_negative_and_the_breakdown_adds_up(
    rows: list[tuple[str, str, int, int]], share: Fraction, multiplier: str, points: int, per_spend: int
) -> None:
    prog = program(
        earn={"points": points, "per_spend_minor": per_spend},
        item_multipliers={"a": multiplier},
        category_multipliers={"y": multiplier},
        item_bonus_points={"b": 3},
        visit_bonus_points=1,
        lucky_draw={"spend_per_entry_minor": 1000},
    )
    lines = [EarnLine(str(n), item, category, qty, amount) for n, (item, category, qty, amount) in enumerate(rows)]
    earned = earn(prog, lines, tier=DEFAULT_POINTS_TIERS.tiers[0], money_share=share)
    assert earned.total >= 0
    assert earned.total == sum(e.points for e in earned.entries)
    assert all(e.points > 0 and e.distributor_points + e.retailer_points == e.points for e in earned.entries)
    spent = sum(amount for *_, amount in rows)
    base = next((e.points for e in earned.entries if e.kind is PointsKind.BASE), 0)
    assert base == spent * share * points // per_spend
    assert 0 <= earned.eligible_spend_minor <= spent


# --- lucky draws --------------------------------------------------------------------------------------


def test_a_draw_is_reproducible_for_a_seed_and_ignores_input_order() -> None:
    entries = {"ana": 3, "beto": 1, "caro": 5, "dani": 2}
    first = draw_winners(entries, 2, b"closing-lottery-2026-03")
    assert first == draw_winners(dict(reversed(list(entries.items()))), 2, b"closing-lottery-2026-03")
    assert len(set(first)) == 2
    assert set(first) <= set(entries)


def test_a_draw_is_pinned_so_box_and_hub_agree_across_versions() -> None:
    # Recorded once; the draw must never change for the same entries and seed (SHA-256 is fixed).
    entries = {f"c{n:02d}": n % 4 + 1 for n in range(12)}
    assert draw_winners(entries, 4, b"sorteo-2026-03") == ["c10", "c02", "c03", "c11"]


def test_int_and_bytes_seeds_are_distinct_streams() -> None:
    entrants = {f"c{n}": 1 for n in range(50)}
    assert draw_winners(entrants, 5, 1) != draw_winners(entrants, 5, b"\x01")


def test_entrants_without_entries_never_win() -> None:
    for seed in range(200):
        assert draw_winners({"zero": 0, "one": 1}, 1, seed) == ["one"]


def test_winning_odds_follow_the_entries() -> None:
    # 6000 fixed seeds: the counts are deterministic, and must sit near 1:2:3 (within about 4 sigma).
    wins = Counter(draw_winners({"a": 1, "b": 2, "c": 3}, 1, seed)[0] for seed in range(6000))
    assert abs(wins["a"] - 1000) < 120
    assert abs(wins["b"] - 2000) < 150
    assert abs(wins["c"] - 3000) < 160


@pytest.mark.parametrize(
    ("entries", "winners", "seed", "field"),
    [
        ({"a": 1}, 2, 1, "winners"),
        ({"a": -1}, 1, 1, "entries.a"),
        ({"a": 1}, -1, 1, "winners"),
        ({"a": 1}, 1, -5, "seed"),
        ({"a": 1}, 1, b"", "seed"),
        ({"a": 1}, 1, 1.5, "seed"),
    ],
)
def test_bad_draws_are_refused(entries: dict[str, int], winners: int, seed: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        draw_winners(entries, winners, seed)
    assert caught.value.field == field


# --- paying with points -------------------------------------------------------------------------------


def test_points_convert_to_money_exactly_in_whole_steps() -> None:
    prog = program()  # 100 points = 10.00 MXN
    assert points_value_minor(prog, 300) == 3000
    with pytest.raises(InvalidInput) as caught:
        points_value_minor(prog, 150)
    assert "steps of 100" in caught.value.problem


def test_the_most_redeemable_is_bounded_by_balance_amount_and_share() -> None:
    prog = program(redemption={"points_per_step": 100, "value_minor_per_step": 1000, "max_share_bp": 5000})
    tender = max_redeemable(prog, amount_due_minor=9990, balance_points=10_000)
    assert (tender.points, tender.amount_minor) == (400, 4000)
    tender = max_redeemable(prog, amount_due_minor=100_000, balance_points=250)
    assert (tender.points, tender.amount_minor) == (200, 2000)


def test_a_redemption_below_the_minimum_is_not_offered() -> None:
    prog = program(redemption={"min_points": 500})
    assert max_redeemable(prog, amount_due_minor=100_000, balance_points=400).points == 0


@pytest.mark.parametrize(
    ("points", "balance", "fragment"),
    [
        (150, 1000, "steps of 100"),
        (600, 500, "the customer has 500"),
        (300, 100, "the customer has 100"),
        (1100, 2000, "more than the"),
        (100, 0, "the customer has 0"),
        (100, -50, "the customer has 0"),
    ],
)
def test_bad_points_tenders_are_refused(points: int, balance: int, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        redeem_points(program(), points, amount_due_minor=10_000, balance_points=balance)
    assert caught.value.field == "redeem_points"
    assert fragment in caught.value.problem


def test_points_beyond_the_balance_are_refused_saying_how_many_are_available() -> None:
    with pytest.raises(PointsOverBalance) as caught:
        redeem_points(program(), 300, amount_due_minor=10_000, balance_points=100)
    assert caught.value.available_points == 100 and caught.value.code == "points_over_balance"


def test_a_known_balance_is_the_snapshot_less_redeemed_plus_earned_and_never_spent_below_zero() -> None:
    assert known_balance(100, 30, 5) == 75
    assert known_balance(0, 50, 17) == -33
    assert spendable_points(-33) == 0 and spendable_points(75) == 75


@pytest.mark.parametrize(
    ("available", "hold", "allowance", "posted"),
    [(500, 200, 100, 200), (50, 200, 100, 150), (-100, 50, 100, 0), (-30, 50, 100, 50), (-200, 10, 100, 0)],
)
def test_an_offline_hold_is_posted_down_to_minus_the_allowance_and_the_rest_voided(
    available: int, hold: int, allowance: int, posted: int
) -> None:
    settled = settle_offline_hold(available, hold, allowance)
    assert (settled.posted_points, settled.voided_points) == (posted, hold - posted)
    with pytest.raises(InvalidInput):
        settle_offline_hold(available, -1, allowance)


# --- rewards ------------------------------------------------------------------------------------------

CATALOGUE = [
    {"id": "cafe-gratis", "name": "Café gratis", "kind": "free_product", "points_cost": 300, "item_id": "cafe"},
    {
        "id": "20-off",
        "name": "20% en tu próxima compra",
        "kind": "percent_off_next_purchase",
        "points_cost": 800,
        "percent": "20%",
    },
    {"id": "termo", "name": "Termo", "kind": "showcase_item", "points_cost": 1500},
    {"id": "laptop", "name": "Laptop", "kind": "online_item", "points_cost": 90_000},
]


def test_a_free_product_reward_becomes_a_single_use_promotion_for_that_customer() -> None:
    prog = program(rewards=CATALOGUE)
    taken = redeem_reward(prog, "cafe-gratis", customer_id="c1", balance_points=1000, redemption_id="r-1", now=NOW)
    assert (taken.points, taken.balance_after, taken.fulfilment) == (300, 700, "next_purchase")
    assert taken.promotion is not None
    assert isinstance(taken.promotion.effect, BuyGetFree)
    basket = [line("1", "cafe", 2, 4500)]
    assert applied(run([taken.promotion], basket, customer=Shopper("c1")), "reward:r-1").discount_minor == 4500
    assert skip_reason(run([taken.promotion], basket, customer=Shopper("c2")), "reward:r-1") is SkipReason.AUDIENCE


def test_a_percent_off_reward_applies_to_the_next_ticket() -> None:
    prog = program(rewards=CATALOGUE)
    taken = redeem_reward(prog, "20-off", customer_id="c1", balance_points=800, redemption_id="r-2", now=NOW)
    assert taken.promotion is not None
    assert isinstance(taken.promotion.effect, PercentOff)
    assert taken.promotion.limits.max_uses_total == 1
    assert (
        applied(
            run([taken.promotion], [line("1", "x", 1, 10_000)], customer=Shopper("c1")), "reward:r-2"
        ).discount_minor
        == 2000
    )


def test_showcase_and_online_rewards_are_handed_over_or_delivered() -> None:
    prog = program(rewards=CATALOGUE)
    assert (
        redeem_reward(prog, "termo", customer_id="c1", balance_points=1500, redemption_id="r-3", now=NOW).fulfilment
        == "counter"
    )
    online = redeem_reward(
        prog, "laptop", customer_id="c1", balance_points=100_000, redemption_id="r-4", now=NOW, delivery="pickup"
    )
    assert (online.fulfilment, online.promotion) == ("pickup", None)


@pytest.mark.parametrize(
    ("reward_id", "balance", "options", "field"),
    [
        ("termo", 1499, {}, "reward_id"),
        ("nada", 10_000, {}, "reward_id"),
        ("laptop", 100_000, {}, "delivery"),
        ("termo", 10_000, {"delivery": "home_delivery"}, "delivery"),
        ("termo", 10_000, {"redemption_id": "x" * 60}, "redemption_id"),
    ],
)
def test_bad_reward_redemptions_are_refused(reward_id: str, balance: int, options: dict[str, Any], field: str) -> None:
    arguments: dict[str, Any] = {"customer_id": "c1", "balance_points": balance, "redemption_id": "r-9", "now": NOW}
    arguments.update(options)
    with pytest.raises(InvalidInput) as caught:
        redeem_reward(program(rewards=CATALOGUE), reward_id, **arguments)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"currency": "ZZZ"}, "program.currency", "ISO 4217"),
        ({"item_multipliers": {"cafe": "0.5"}}, "program.item_multipliers", "at least 1"),
        ({"item_multipliers": {"cafe": 2.0}}, "program.item_multipliers.cafe", "decimal string"),
        ({"earn": {"points": 1, "per_spend_minor": 0}}, "program.earn.per_spend_minor", "greater than or equal"),
        (
            {"rewards": [{"id": "r", "name": "R", "kind": "free_product", "points_cost": 10}]},
            "program.rewards.0.item_id",
            "needs the item_id",
        ),
        (
            {"rewards": [{"id": "r", "name": "R", "kind": "showcase_item", "points_cost": 10, "percent": "5%"}]},
            "program.rewards.0.percent",
            "only a percent_off_next_purchase",
        ),
        ({"rewards": [CATALOGUE[2], CATALOGUE[2]]}, "program.rewards", "unique"),
        ({"tiers": {"basis": "visits", "tiers": []}}, "program.tiers.basis", "Input should be"),
    ],
)
def test_bad_programs_name_the_field(fields: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        program(**fields)
    assert caught.value.field == field
    assert fragment in caught.value.problem
