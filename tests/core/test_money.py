"""Tests for core.money: exact rounding, allocation, cash rounding, rates and the Money value type."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import CurrencyMismatch, InvalidInput, UnknownCurrency
from core.money import (
    Currency,
    Money,
    Rounding,
    allocate,
    apply_rate,
    cash_round,
    currency,
    format_rate,
    known_currency_codes,
    parse_rate,
    round_fraction,
)

fractions_st = st.fractions(max_denominator=10_000).filter(lambda f: abs(f) < 10**12)
modes = st.sampled_from(list(Rounding))


# --- currency table -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exponent", "increment"),
    [
        ("MXN", 2, 1),
        ("CNY", 2, 1),
        ("USD", 2, 1),
        ("EUR", 2, 1),
        ("JPY", 0, 1),
        ("CAD", 2, 5),
        ("CHF", 2, 5),
        ("GBP", 2, 1),
        ("KWD", 3, 1),
    ],
)
def test_currency_has_iso_4217_exponent_and_cash_increment(code: str, exponent: int, increment: int) -> None:
    assert currency(code) == Currency(code, exponent, increment)


def test_unknown_currency_code_raises_unknown_currency_listing_known_codes() -> None:
    with pytest.raises(UnknownCurrency) as info:
        currency("XXX")
    assert info.value.code == "unknown_currency"
    assert "MXN" in str(info.value)
    assert isinstance(info.value, KeyError)


def test_lowercase_currency_code_is_not_accepted() -> None:
    with pytest.raises(UnknownCurrency):
        currency("mxn")


def test_known_currency_codes_are_sorted_and_all_resolvable() -> None:
    codes = known_currency_codes()
    assert codes == sorted(codes)
    assert all(currency(c).code == c for c in codes)


# --- Money ----------------------------------------------------------------------------------------


def test_money_adds_subtracts_negates_and_scales_within_one_currency() -> None:
    a, b = Money(1050, "MXN"), Money(275, "MXN")
    assert a + b == Money(1325, "MXN")
    assert a - b == Money(775, "MXN")
    assert -a == Money(-1050, "MXN")
    assert a * 3 == Money(3150, "MXN")
    assert 3 * a == Money(3150, "MXN")
    assert abs(Money(-5, "MXN")) == Money(5, "MXN")
    assert Money.zero("JPY") == Money(0, "JPY")


def test_money_orders_within_one_currency() -> None:
    small, big = Money(1, "USD"), Money(2, "USD")
    assert small < big
    assert small <= big
    assert big > small
    assert big >= small
    assert sorted([big, small]) == [small, big]


@pytest.mark.parametrize(
    "op",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_money_across_currencies_raises_currency_mismatch(op: Callable[[Money, Money], object]) -> None:
    with pytest.raises(CurrencyMismatch):
        op(Money(1, "USD"), Money(1, "CAD"))


def test_money_in_different_currencies_is_unequal_without_raising() -> None:
    assert Money(1, "USD") != Money(1, "CAD")


def test_money_rejects_float_amount_and_unknown_currency() -> None:
    with pytest.raises(InvalidInput) as info:
        Money(1.5, "USD")  # type: ignore[arg-type]
    assert info.value.field == "amount_minor"
    with pytest.raises(InvalidInput):
        Money(True, "USD")
    with pytest.raises(UnknownCurrency):
        Money(1, "ZZZ")


def test_money_refuses_multiplication_by_float_or_fraction() -> None:
    with pytest.raises(TypeError):
        Money(100, "USD") * 1.16
    with pytest.raises(TypeError):
        Money(100, "USD") * Fraction(116, 100)


# --- round_fraction -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "half_up", "half_even", "down", "up"),
    [
        (Fraction(5, 2), 3, 2, 2, 3),
        (Fraction(7, 2), 4, 4, 3, 4),
        (Fraction(-5, 2), -3, -2, -2, -3),
        (Fraction(-7, 2), -4, -4, -3, -4),
        (Fraction(21, 10), 2, 2, 2, 3),
        (Fraction(-21, 10), -2, -2, -2, -3),
        (Fraction(29, 10), 3, 3, 2, 3),
        (Fraction(-29, 10), -3, -3, -2, -3),
        (Fraction(1, 2), 1, 0, 0, 1),
        (Fraction(-1, 2), -1, 0, 0, -1),
        (Fraction(1, 3), 0, 0, 0, 1),
        (Fraction(4), 4, 4, 4, 4),
        (Fraction(0), 0, 0, 0, 0),
    ],
)
def test_round_fraction_table_of_modes(value: Fraction, half_up: int, half_even: int, down: int, up: int) -> None:
    assert round_fraction(value) == half_up
    assert round_fraction(value, Rounding.HALF_UP) == half_up
    assert round_fraction(value, Rounding.HALF_EVEN) == half_even
    assert round_fraction(value, Rounding.DOWN) == down
    assert round_fraction(value, Rounding.UP) == up


def test_round_fraction_accepts_mode_by_its_data_file_name() -> None:
    assert round_fraction(Fraction(5, 2), "half_even") == 2  # type: ignore[arg-type]


def test_round_fraction_refuses_an_unknown_mode_naming_it() -> None:
    with pytest.raises(InvalidInput) as info:
        round_fraction(Fraction(5, 2), "bankers")  # type: ignore[arg-type]
    assert info.value.field == "mode"
    assert "half_even" in info.value.problem


def test_round_fraction_refuses_floats() -> None:
    with pytest.raises(InvalidInput) as info:
        round_fraction(2.5)  # type: ignore[arg-type]
    assert info.value.field == "value"


@settings(max_examples=300)
@given(fractions_st, modes)
def test_round_fraction_is_symmetric_around_zero(value: Fraction, mode: Rounding) -> None:
    assert round_fraction(-value, mode) == -round_fraction(value, mode)


@settings(max_examples=300)
@given(fractions_st, modes)
def test_round_fraction_lands_on_a_neighbouring_integer(value: Fraction, mode: Rounding) -> None:
    result = round_fraction(value, mode)
    assert math.floor(value) <= result <= math.ceil(value)
    if mode in (Rounding.HALF_UP, Rounding.HALF_EVEN):
        assert abs(result - value) <= Fraction(1, 2)


@settings(max_examples=300)
@given(fractions_st)
def test_round_fraction_half_even_agrees_with_python_round(value: Fraction) -> None:
    assert round_fraction(value, Rounding.HALF_EVEN) == round(value)


@settings(max_examples=200)
@given(st.integers(-(10**9), 10**9))
def test_exact_halves_follow_each_mode(whole: int) -> None:
    half = Fraction(2 * whole + 1, 2)
    away = whole + 1 if half > 0 else whole
    toward = whole if half > 0 else whole + 1
    even = whole if whole % 2 == 0 else whole + 1
    assert round_fraction(half, Rounding.HALF_UP) == away
    assert round_fraction(half, Rounding.UP) == away
    assert round_fraction(half, Rounding.DOWN) == toward
    assert round_fraction(half, Rounding.HALF_EVEN) == even


def test_apply_rate_rounds_the_exact_product_once() -> None:
    # 0.16 * 1234 = 197.44 ; 0.16 * 1235 = 197.6 ; a float product 0.16 * 1234 would be 197.44000000000003.
    assert apply_rate(1234, Fraction(16, 100)) == 197
    assert apply_rate(1235, Fraction(16, 100)) == 198
    assert apply_rate(-1235, Fraction(16, 100)) == -198
    assert apply_rate(25, Fraction(1, 10), Rounding.HALF_EVEN) == 2
    assert apply_rate(25, Fraction(1, 10), Rounding.HALF_UP) == 3


def test_apply_rate_refuses_float_rate_and_float_amount() -> None:
    with pytest.raises(InvalidInput) as info:
        apply_rate(100, 0.16)  # type: ignore[arg-type]
    assert info.value.field == "rate"
    with pytest.raises(InvalidInput) as info:
        apply_rate(100.0, Fraction(16, 100))  # type: ignore[arg-type]
    assert info.value.field == "amount_minor"


# --- allocate -------------------------------------------------------------------------------------

weights_st = st.lists(st.integers(0, 10_000), min_size=1, max_size=12)


@settings(max_examples=300)
@given(st.integers(-(10**9), 10**9), weights_st)
def test_allocate_sums_exactly_to_the_total(total: int, weights: list[int]) -> None:
    assert sum(allocate(total, weights)) == total


@settings(max_examples=300)
@given(st.integers(-(10**9), 10**9), weights_st.filter(lambda ws: sum(ws) > 0))
def test_allocate_is_proportional_within_one_minor_unit(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - Fraction(total * weight, weight_sum)) < 1
        if weight == 0:
            assert part == 0


@settings(max_examples=200)
@given(st.integers(0, 10**9), weights_st)
def test_allocate_of_a_negative_total_mirrors_the_positive_one(total: int, weights: list[int]) -> None:
    assert allocate(-total, weights) == [-p for p in allocate(total, weights)]


def test_allocate_gives_ties_to_the_earliest_index() -> None:
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(2, [1, 1, 1]) == [1, 1, 0]
    assert allocate(-100, [1, 1, 1]) == [-34, -33, -33]


def test_allocate_gives_leftovers_to_the_largest_remainders() -> None:
    # exact shares 1.4, 2.8, 5.8 ; floors 1, 2, 5 leave 2 units for remainders .8 and .8 (indices 1 and 2).
    assert allocate(10, [14, 28, 58]) == [1, 3, 6]


def test_allocate_with_all_zero_weights_splits_evenly_remainder_first() -> None:
    assert allocate(5, [0, 0]) == [3, 2]
    assert allocate(7, [0, 0, 0]) == [3, 2, 2]


def test_allocate_never_gives_to_zero_weights_when_some_weight_is_positive() -> None:
    assert allocate(10, [0, 3, 0]) == [0, 10, 0]
    assert allocate(1, [0, 1, 1]) == [0, 1, 0]


def test_allocate_rejects_negative_weights_naming_the_index() -> None:
    with pytest.raises(InvalidInput) as info:
        allocate(10, [1, -1])
    assert info.value.field == "weights[1]"


def test_allocate_over_no_parts() -> None:
    assert allocate(0, []) == []
    with pytest.raises(InvalidInput):
        allocate(1, [])


# --- cash_round -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "amount", "expected"),
    [
        # Canada: totals ending in 1, 2 round down to 0; 3, 4 up to 5; 6, 7 down to 5; 8, 9 up to 10.
        ("CAD", 1231, 1230),
        ("CAD", 1232, 1230),
        ("CAD", 1233, 1235),
        ("CAD", 1234, 1235),
        ("CAD", 1236, 1235),
        ("CAD", 1237, 1235),
        ("CAD", 1238, 1240),
        ("CAD", 1239, 1240),
        ("CHF", 1027, 1025),
        ("CHF", 1028, 1030),
        ("SEK", 4950, 5000),
        ("SEK", 4949, 4900),
        ("MXN", 1233, 1233),
        ("JPY", 1233, 1233),
    ],
)
def test_cash_round_to_the_currency_increment(code: str, amount: int, expected: int) -> None:
    assert cash_round(amount, currency(code)) == expected


@settings(max_examples=300)
@given(st.integers(-(10**9), 10**9), st.sampled_from(known_currency_codes()), modes)
def test_cash_round_lands_on_a_multiple_of_the_increment_within_one_step(
    amount: int, code: str, mode: Rounding
) -> None:
    cur = currency(code)
    rounded = cash_round(amount, cur, mode)
    assert rounded % cur.cash_increment_minor == 0
    assert abs(rounded - amount) < cur.cash_increment_minor or cur.cash_increment_minor == 1
    if cur.cash_increment_minor == 1:
        assert rounded == amount


def test_cash_round_half_increment_follows_the_mode() -> None:
    assert cash_round(1225, currency("CAD"), Rounding.UP) == 1225
    dkk = currency("DKK")  # increment 50: 25 is exactly half
    assert cash_round(1025, dkk, Rounding.HALF_UP) == 1050
    assert cash_round(1025, dkk, Rounding.HALF_EVEN) == 1000
    assert cash_round(1075, dkk, Rounding.HALF_EVEN) == 1100
    assert cash_round(1001, dkk, Rounding.UP) == 1050
    assert cash_round(1049, dkk, Rounding.DOWN) == 1000


# --- parse_rate / format_rate ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.16", Fraction(16, 100)),
        ("16%", Fraction(16, 100)),
        ("16 %", Fraction(16, 100)),
        (" 0.09975 ", Fraction(9975, 100000)),
        ("9.975%", Fraction(9975, 100000)),
        ("0", Fraction(0)),
        ("0%", Fraction(0)),
        ("160%", Fraction(8, 5)),
        ("1", Fraction(1)),
    ],
)
def test_parse_rate_reads_decimals_and_percentages_exactly(text: str, expected: Fraction) -> None:
    assert parse_rate(text, "taxes.iva.rate") == expected


@pytest.mark.parametrize(
    "text",
    ["", "abc", "-0.16", "+0.16", "1e-2", ".16", "16.", "1,5", "16%%", "0x10", "½", "\u0661\u0666%", "16\t%"],
)
def test_parse_rate_rejects_anything_but_a_plain_decimal(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_rate(text, "taxes.iva.rate")
    assert info.value.field == "taxes.iva.rate"


def test_parse_rate_rejects_a_float_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_rate(0.16, "taxes.iva.rate")  # type: ignore[arg-type]
    assert info.value.field == "taxes.iva.rate"
    assert "string" in info.value.problem


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (Fraction(16, 100), "0.16"),
        (Fraction(9975, 100000), "0.09975"),
        (Fraction(0), "0"),
        (Fraction(8, 5), "1.6"),
        (Fraction(3), "3"),
        (Fraction(-1, 8), "-0.125"),
        (Fraction(1, 3), "1/3"),
    ],
)
def test_format_rate_writes_plain_decimals(rate: Fraction, text: str) -> None:
    assert format_rate(rate) == text


@settings(max_examples=200)
@given(st.integers(0, 10**12 - 1), st.integers(0, 12))
def test_format_rate_round_trips_through_parse_rate(digits: int, places: int) -> None:
    rate = Fraction(digits, 10**places)
    assert parse_rate(format_rate(rate), "rate") == rate
