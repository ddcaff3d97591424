"""Loyalty ids: the Damm check digit catches every single-digit error and adjacent swap; parsing and stickers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.identity import (
    ID_DIGITS,
    MAX_NUMBER,
    MAX_PREFIX,
    MIN_NUMBER,
    MIN_PREFIX,
    LoyaltyId,
    check_digit,
    is_valid,
    make,
    parse,
    parse_sticker,
    sticker_payload,
)

prefixes = st.integers(MIN_PREFIX, MAX_PREFIX)
numbers = st.integers(MIN_NUMBER, MAX_NUMBER)


def code_of(text: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse(text)
    return caught.value.code


# --- golden cases ---------------------------------------------------------------------------------------------


def test_the_documented_example_id() -> None:
    loyalty = LoyaltyId(481, 42)
    assert make(481, 42) == "481000000426" == loyalty.digits == str(loyalty)
    assert loyalty.printed == "481-0000-0042-6"
    assert loyalty.sticker == sticker_payload(481, 42) == "MO1:481000000426"


def test_damm_check_digits_match_the_published_example() -> None:
    # Damm's worked example: 572 has check digit 4.
    assert check_digit("572") == "4"


def test_printed_forms_with_spaces_and_dashes_parse() -> None:
    for text in ("481-0000-0042-6", "481 0000 0042 6", " 481000000426 ", "481--0000 - 00426"):
        assert parse(text) == LoyaltyId(481, 42)


def test_wrong_length_is_named() -> None:
    assert code_of("48100000042") == "loyalty_id_length"
    assert code_of("4810000004260") == "loyalty_id_length"
    assert code_of("4" * 65) == "loyalty_id_length"
    with pytest.raises(InvalidInput, match="has 11 digits; a loyalty id has 12"):
        parse("481-0000-0042")


def test_bad_characters_are_named_with_their_position() -> None:
    with pytest.raises(InvalidInput, match="character 'O' at position 5") as caught:
        parse("481-O000-0042-6")
    assert caught.value.code == "loyalty_id_characters"
    assert caught.value.field == "loyalty_id"
    # Other scripts' digits are not digits here.
    assert code_of("\uff1481000000426") == "loyalty_id_characters"


def test_a_mistyped_digit_says_so() -> None:
    with pytest.raises(InvalidInput, match="probably a mistyped digit") as caught:
        parse("481000000436")
    assert caught.value.code == "loyalty_id_check_digit"


def test_prefix_and_number_bounds() -> None:
    body = "099" + "00000042"
    assert code_of(body + check_digit(body)) == "loyalty_id_prefix"
    body = "481" + "00000000"
    assert code_of(body + check_digit(body)) == "loyalty_id_prefix"
    for prefix, number in ((99, 1), (1000, 1), (481, 0), (481, MAX_NUMBER + 1)):
        with pytest.raises(InvalidInput):
            make(prefix, number)
    with pytest.raises(InvalidInput, match="prefix"):
        LoyaltyId(True, 1)


def test_another_networks_id_is_refused_when_the_prefix_is_given() -> None:
    assert parse("481000000426", prefix=481) == LoyaltyId(481, 42)
    with pytest.raises(InvalidInput, match="another network") as caught:
        parse("481000000426", prefix=482)
    assert caught.value.code == "loyalty_id_network"
    assert not is_valid("481000000426", prefix=482)
    assert is_valid("481000000426")


def test_sticker_payloads() -> None:
    assert parse_sticker("MO1:481000000426") == LoyaltyId(481, 42)
    # A keyboard-wedge scanner's Enter, and Caps Lock flipping the case.
    assert parse_sticker("mo1:481000000426\r\n") == LoyaltyId(481, 42)
    for payload, problem in (
        ("481000000426", "not a Mostrador loyalty sticker"),
        ("XY1:481000000426", "not a Mostrador loyalty sticker"),
        ("MO2:481000000426", "not known here"),
        ("MO1:481000000436", "probably a mistyped digit"),
        ("MO1:" + "4" * 70, "characters long"),
    ):
        with pytest.raises(InvalidInput, match=problem) as caught:
            parse_sticker(payload)
        assert caught.value.field == "sticker"
    with pytest.raises(InvalidInput, match="another network"):
        parse_sticker("MO1:481000000426", prefix=100)


def test_non_text_is_refused() -> None:
    with pytest.raises(InvalidInput):
        parse(481000000426)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        parse_sticker(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        check_digit("12a")


def test_the_damm_table_catches_every_adjacent_swap_of_every_digit_pair() -> None:
    # Exhaustive over all digit pairs at every interim state (row 0 maps the lead digit onto all ten):
    # swapped neighbours always leave a different interim, which is why Damm catches every swap.
    for lead in range(10):
        for x in range(10):
            for y in range(10):
                if x != y:
                    a = f"{lead}{x}{y}"
                    b = f"{lead}{y}{x}"
                    assert check_digit(a) != check_digit(b)


# --- properties -----------------------------------------------------------------------------------------------


@given(prefixes, numbers)
def test_make_and_parse_round_trip(prefix: int, number: int) -> None:
    loyalty = LoyaltyId(prefix, number)
    assert len(loyalty.digits) == ID_DIGITS
    assert parse(loyalty.digits) == loyalty
    assert parse(loyalty.printed) == loyalty
    assert parse_sticker(loyalty.sticker) == loyalty


@given(prefixes, numbers, st.integers(0, ID_DIGITS - 1), st.integers(1, 9))
def test_every_single_digit_substitution_is_detected(prefix: int, number: int, position: int, shift: int) -> None:
    digits = make(prefix, number)
    wrong = str((int(digits[position]) + shift) % 10)
    typo = digits[:position] + wrong + digits[position + 1 :]
    assert not is_valid(typo)


@given(prefixes, numbers, st.integers(0, ID_DIGITS - 2))
def test_every_adjacent_transposition_is_detected(prefix: int, number: int, position: int) -> None:
    digits = make(prefix, number)
    a, b = digits[position], digits[position + 1]
    swapped = digits[:position] + b + a + digits[position + 2 :]
    assert (swapped == digits) == (a == b)
    if a != b:
        assert not is_valid(swapped)


@given(prefixes, numbers)
def test_every_substitution_and_swap_of_one_id_exhaustively(prefix: int, number: int) -> None:
    digits = make(prefix, number)
    for position in range(ID_DIGITS):
        for d in "0123456789":
            if d != digits[position]:
                assert not is_valid(digits[:position] + d + digits[position + 1 :])
        if position < ID_DIGITS - 1 and digits[position] != digits[position + 1]:
            swapped = digits[:position] + digits[position + 1] + digits[position] + digits[position + 2 :]
            assert not is_valid(swapped)
