"""Tendering a total with cash, points, card and wallet codes, and refunding it onto the same tenders."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import CurrencyMismatch, InvalidInput
from core.money import currency
from core.points import PointsOverBalance, PointsProgram, load_program
from core.tenders import (
    MAX_TENDERS_PER_SALE,
    CardNumberRefused,
    CardTender,
    CashTender,
    PointsTender,
    Refund,
    Settlement,
    Tender,
    TenderContext,
    TenderKind,
    WalletOffline,
    WalletProvider,
    WalletTender,
    classify_wallet_code,
    full_refund,
    looks_like_card_number,
    plan_refund,
    settle,
)

WECHAT = "134567890123456789"  # 18 digits starting 13
ALIPAY = "2876543210987654"  # 16 digits starting 28
TEST_PAN = "4111 1111 1111 1111"  # the well-known Visa test number: passes Luhn


def program(code: str = "MXN", **fields: Any) -> PointsProgram:
    data: dict[str, Any] = {"id": "puntos-norte", "name": "Puntos Norte", "currency": code}
    data.update(fields)
    return load_program(data)


def online(code: str = "MXN", balance: int = 5_000) -> TenderContext:
    return TenderContext(online=True, program=program(code), balance_points=balance)


def offline(code: str = "MXN", balance: int = 900, held: int = 100) -> TenderContext:
    return TenderContext(online=False, program=program(code), balance_points=balance, offline_held_points=held)


def card(amount: int, code: str = "A1B2C3") -> CardTender:
    return CardTender(amount_minor=amount, approval_code=code)


def refused(total: int, code: str, tenders: list[Tender], context: TenderContext | None = None) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        settle(total, code, tenders, context or online(code))
    return caught.value


# --- cash -----------------------------------------------------------------------------------------------------


def test_cash_in_mxn_gives_exact_change() -> None:
    sale = settle(12_345, "MXN", [CashTender(20_000)], online())
    (line,) = sale.lines
    assert (line.amount_minor, line.tendered_minor, line.change_minor, line.cash_rounding_minor) == (
        12_345,
        20_000,
        7_655,
        0,
    )
    assert sale.complete and sale.change_minor == 7_655 and sale.due_minor == 0
    assert line.explanation == "cash: 200.00 MXN for 123.45 MXN; change 76.55 MXN"


@pytest.mark.parametrize(
    ("code", "total", "cash_due", "rounding"),
    [
        ("CAD", 1_001, 1_000, -1),
        ("CAD", 1_002, 1_000, -2),
        ("CAD", 1_003, 1_005, 2),
        ("CAD", 1_004, 1_005, 1),
        ("CAD", 1_007, 1_005, -2),
        ("CAD", 1_008, 1_010, 2),
        ("CHF", 1_002, 1_000, -2),
        ("CHF", 1_003, 1_005, 2),
    ],
)
def test_cash_that_settles_is_rounded_to_five_in_cad_and_chf(
    code: str, total: int, cash_due: int, rounding: int
) -> None:
    sale = settle(total, code, [CashTender(2_000)], online(code))
    (line,) = sale.lines
    assert line.amount_minor == total
    assert line.cash_rounding_minor == rounding == sale.cash_rounding_minor
    assert line.change_minor == 2_000 - cash_due
    assert line.tendered_minor - line.change_minor == line.amount_minor + line.cash_rounding_minor


def test_cash_must_come_in_the_currencys_increment() -> None:
    error = refused(1_002, "CAD", [CashTender(1_003)])
    assert error.field == "tenders[0].amount_minor"
    assert "steps of 0.05 CAD" in error.problem


def test_partial_cash_is_not_rounded_and_the_card_pays_the_exact_rest() -> None:
    sale = settle(1_002, "CAD", [CashTender(500), card(502)], online("CAD"))
    assert [line.amount_minor for line in sale.lines] == [500, 502]
    assert sale.cash_rounding_minor == 0 and sale.change_minor == 0


def test_cash_after_a_card_rounds_only_the_cash_part() -> None:
    sale = settle(1_002, "CAD", [card(500), CashTender(1_000)], online("CAD"))
    cash = sale.lines[1]
    assert (cash.amount_minor, cash.cash_rounding_minor, cash.change_minor) == (502, -2, 500)
    assert sale.paid_minor == 1_002


def test_a_remainder_that_rounds_to_nothing_is_settled_by_cash_of_zero() -> None:
    sale = settle(1_002, "CAD", [card(1_000), CashTender(0)], online("CAD"))
    assert sale.lines[1].cash_rounding_minor == -2 and sale.complete


def test_a_short_final_cash_tender_is_refused_naming_it() -> None:
    error = refused(12_345, "MXN", [card(2_345), CashTender(5_000)])
    assert error.field == "tenders[1].amount_minor"
    assert error.code == "tender_short"
    assert error.problem == "cash 50.00 MXN does not cover the 100.00 MXN left to pay (100.00 MXN in cash)"


def test_a_short_sale_shows_what_is_due_when_payment_is_not_yet_required() -> None:
    sale = settle(1_003, "CAD", [card(500)], online("CAD"), require_paid=False)
    assert not sale.complete
    assert (sale.paid_minor, sale.due_minor, sale.cash_due_minor) == (500, 503, 505)
    error = refused(1_003, "CAD", [card(500)])
    assert error.field == "tenders" and "0.05" not in error.problem and "5.03 CAD is still due" in error.problem


def test_cash_of_zero_towards_a_real_amount_is_refused() -> None:
    assert "pays nothing" in refused(1_000, "MXN", [CashTender(0)]).problem


# --- points ---------------------------------------------------------------------------------------------------


def test_points_within_the_balance_online_then_cash() -> None:
    sale = settle(12_345, "MXN", [PointsTender(500), CashTender(10_000)], online(balance=640))
    points, cash = sale.lines
    assert (points.points, points.amount_minor, points.offline_hold_points) == (500, 5_000, 0)
    assert (cash.amount_minor, cash.change_minor) == (7_345, 2_655)
    assert (sale.points_spent, sale.points_value_minor, sale.offline_hold_points) == (500, 5_000, 0)
    assert sale.authorisation_needed == ()


def test_points_over_the_balance_online_are_refused() -> None:
    error = refused(12_345, "MXN", [PointsTender(700), CashTender(10_000)], online(balance=640))
    assert error.field == "tenders[0].points" and error.code == "points_over_balance"
    assert "the customer has 640" in error.problem


def test_points_offline_within_the_known_balance_are_a_pending_hold() -> None:
    # Known balance 900, 100 already held offline: up to 800 points.
    sale = settle(10_000, "MXN", [PointsTender(800), card(2_000)], offline())
    line = sale.lines[0]
    assert (line.points, line.amount_minor, line.offline_hold_points, line.allowance_used_points) == (
        800,
        8_000,
        800,
        0,
    )
    assert sale.offline_hold_points == 800
    assert "held pending" in line.explanation


def test_points_offline_beyond_the_known_balance_are_refused() -> None:
    error = refused(10_000, "MXN", [PointsTender(900), card(1_000)], offline())
    assert isinstance(error, PointsOverBalance) and error.available_points == 800
    assert error.code == "points_over_balance"
    assert "the customer has 800 points available (offline: balance 900, 100 already held offline)" in error.problem


def test_a_negative_balance_offline_leaves_nothing_to_spend() -> None:
    error = refused(10_000, "MXN", [PointsTender(100), card(9_000)], offline(balance=-40, held=0))
    assert isinstance(error, PointsOverBalance) and error.available_points == 0


def test_points_follow_the_programs_steps_minimum_and_share() -> None:
    assert "steps of 100" in refused(10_000, "MXN", [PointsTender(150)]).problem
    strict = TenderContext(
        online=True,
        program=program(redemption={"min_points": 300, "max_share_bp": 5_000}),
        balance_points=5_000,
    )
    assert "at least 300" in refused(10_000, "MXN", [PointsTender(200), card(8_000)], strict).problem
    assert "payable in points" in refused(10_000, "MXN", [PointsTender(600), card(4_000)], strict).problem
    sale = settle(10_000, "MXN", [PointsTender(500), card(5_000)], strict)
    assert sale.points_value_minor == 5_000


def test_points_never_pay_more_than_is_left() -> None:
    error = refused(10_000, "MXN", [card(9_500), PointsTender(100)])
    assert "points give no change" in error.problem and error.field == "tenders[1].points"


def test_one_points_tender_per_sale_and_a_program_is_needed() -> None:
    assert "one points tender" in refused(10_000, "MXN", [PointsTender(100), PointsTender(100), card(8_000)]).problem
    no_program = TenderContext(online=True)
    assert "points program" in refused(10_000, "MXN", [PointsTender(100)], no_program).problem
    with pytest.raises(CurrencyMismatch):
        settle(10_000, "CAD", [PointsTender(100)], online("MXN"))


# --- card -----------------------------------------------------------------------------------------------------


def test_card_records_amount_and_approval_code_only() -> None:
    sale = settle(8_000, "MXN", [CardTender(8_000, "0A12BZ", terminal_reference="T-000123")], offline())
    line = sale.lines[0]
    assert (line.kind, line.amount_minor, line.approval_code, line.terminal_reference) == (
        TenderKind.CARD,
        8_000,
        "0A12BZ",
        "T-000123",
    )
    assert not line.needs_authorisation


@pytest.mark.parametrize("pan", [TEST_PAN, "4111111111111111", "5500-0000-0000-0004", "378282246310005"])
def test_a_card_number_is_refused_in_every_card_field(pan: str) -> None:
    with pytest.raises(CardNumberRefused, match="looks like a card number") as caught:
        CardTender(1_000, pan)
    assert caught.value.field == "approval_code" and caught.value.code == "card_number_refused"
    with pytest.raises(CardNumberRefused) as caught:
        CardTender(1_000, "123456", terminal_reference=pan)
    assert caught.value.field == "terminal_reference"
    with pytest.raises(CardNumberRefused):
        WalletTender(pan, 1_000)


def test_digit_runs_that_fail_luhn_or_have_the_wrong_length_are_not_card_numbers() -> None:
    assert looks_like_card_number("ref 4111 1111 1111 1111 ok")
    assert not looks_like_card_number("4111111111111112")
    assert not looks_like_card_number("411111111111")  # 12 digits
    assert not looks_like_card_number("41111111111111111111")  # 20 digits
    assert not looks_like_card_number("4111/1111/1111/1111")


@pytest.mark.parametrize("code", ["", "ABCDEFGHIJKLM", "AB-12", "ÄB12"])
def test_approval_codes_are_one_to_twelve_letters_and_digits(code: str) -> None:
    with pytest.raises(InvalidInput, match="1 to 12 letters and digits") as caught:
        CardTender(1_000, code)
    assert caught.value.field == "approval_code"


def test_a_card_never_pays_more_than_is_left() -> None:
    error = refused(1_000, "MXN", [card(1_001)])
    assert error.field == "tenders[0].amount_minor" and "only cash gives change" in error.problem


# --- wallet codes ---------------------------------------------------------------------------------------------


def test_wallet_codes_are_classified_by_their_published_formats() -> None:
    assert classify_wallet_code(WECHAT) == (WalletProvider.WECHAT_PAY, WECHAT)
    assert classify_wallet_code("154567890123456789\r\n") == (WalletProvider.WECHAT_PAY, "154567890123456789")
    assert classify_wallet_code(ALIPAY)[0] is WalletProvider.ALIPAY
    assert classify_wallet_code("30" + "1" * 22)[0] is WalletProvider.ALIPAY
    for code in (
        "164567890123456789",  # 16 is no WeChat prefix
        "13456789012345678",  # 17 digits
        "24" + "1" * 16,  # 24 is no Alipay prefix
        "25" + "1" * 13,  # 15 digits
        "25" + "1" * 23,  # 25 digits
        "13456789O123456789",
    ):
        with pytest.raises(InvalidInput, match="is not a WeChat Pay code") as caught:
            classify_wallet_code(code)
        assert caught.value.code == "wallet_code_unknown"
    with pytest.raises(InvalidInput, match="at most 24"):
        classify_wallet_code("2" * 40)


def test_wallet_codes_online_need_authorisation() -> None:
    sale = settle(30_000, "CNY", [WalletTender(WECHAT, 10_000), WalletTender(ALIPAY, 20_000)], online("CNY"))
    assert sale.authorisation_needed == (0, 1)
    assert [line.wallet_provider for line in sale.lines] == [WalletProvider.WECHAT_PAY, WalletProvider.ALIPAY]
    assert sale.lines[0].wallet_code == WECHAT


def test_wallet_codes_are_refused_offline_so_the_till_asks_for_another_tender() -> None:
    with pytest.raises(WalletOffline, match="ask for another tender") as caught:
        settle(10_000, "MXN", [card(5_000), WalletTender(ALIPAY, 5_000)], offline())
    assert caught.value.code == "wallet_offline" and caught.value.field == "tenders[1]"
    assert isinstance(caught.value, InvalidInput)


def test_a_wallet_never_pays_more_than_is_left() -> None:
    assert "only cash gives change" in refused(1_000, "MXN", [WalletTender(WECHAT, 2_000)]).problem


# --- every combination ----------------------------------------------------------------------------------------

KINDS = (TenderKind.POINTS, TenderKind.CARD, TenderKind.WALLET, TenderKind.CASH)


@pytest.mark.parametrize(
    "kinds",
    [combo for n in range(1, 5) for combo in itertools.combinations(KINDS, n)],
    ids="+".join,
)
@pytest.mark.parametrize("code", ["MXN", "CAD", "CHF"])
def test_every_combination_of_tenders_settles_exactly(kinds: tuple[TenderKind, ...], code: str) -> None:
    total = 40_003  # not a multiple of 5: cash rounding shows wherever cash settles in CAD and CHF
    tenders: list[Tender] = []
    for kind in kinds[:-1]:
        if kind is TenderKind.POINTS:
            tenders.append(PointsTender(1_000))  # 100.00
        elif kind is TenderKind.CARD:
            tenders.append(card(10_000))
        elif kind is TenderKind.WALLET:
            tenders.append(WalletTender(WECHAT, 10_000))
        else:
            tenders.append(CashTender(10_000))
    # Every tender but the last pays 100.00; the last pays the rest.
    left = total - 10_000 * (len(kinds) - 1)
    last = kinds[-1]
    if last is TenderKind.POINTS:
        left -= 3  # points pay whole steps: a card takes the odd cents first
        tenders.insert(0, card(3))
        tenders.append(PointsTender(left // 10))
    elif last is TenderKind.CARD:
        tenders.append(card(left))
    elif last is TenderKind.WALLET:
        tenders.append(WalletTender(ALIPAY, left))
    else:
        tenders.append(CashTender(50_000))
    sale = settle(total, code, tenders, online(code, balance=100_000))
    assert sale.complete
    assert sum(line.amount_minor for line in sale.lines) == total
    assert {line.kind for line in sale.lines} >= set(kinds)
    assert sale.authorisation_needed == tuple(i for i, line in enumerate(sale.lines) if line.kind is TenderKind.WALLET)
    if last is TenderKind.CASH:
        cash = sale.lines[-1]
        due = cash_round_of(cash.amount_minor, code)
        assert cash.change_minor == 50_000 - due
        assert cash.cash_rounding_minor == due - cash.amount_minor
        assert (cash.cash_rounding_minor != 0) == (code != "MXN")
    refund = full_refund(sale)
    assert refund.refund_minor == total
    assert refund.points_returned == sale.points_spent


def cash_round_of(amount: int, code: str) -> int:
    step = currency(code).cash_increment_minor
    return (amount + step // 2) // step * step


# --- bounds and odd input -------------------------------------------------------------------------------------


def test_tenders_after_the_sale_is_paid_are_refused() -> None:
    error = refused(1_000, "MXN", [card(1_000), CashTender(500)])
    assert error.field == "tenders[1]" and "already paid" in error.problem


def test_bounds_on_totals_tender_counts_and_types() -> None:
    assert refused(-1, "MXN", []).field == "total_minor"
    assert refused(1_000, "MXN", [card(1)] * (MAX_TENDERS_PER_SALE + 1)).field == "tenders"
    assert refused(1_000, "MXN", ["cash"]).field == "tenders[0]"  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="amount_minor"):
        CashTender(1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="points"):
        PointsTender(0)
    with pytest.raises(InvalidInput, match="offline_held_points"):
        TenderContext(online=False, offline_held_points=-1)
    assert settle(0, "MXN", [], online()).complete


# --- refunds --------------------------------------------------------------------------------------------------


def mixed_sale() -> Settlement:
    # 500.00: 100 points (100.00), card 200.00, WeChat 100.00, cash 100.00 from 200.00.
    return settle(
        50_000,
        "MXN",
        [PointsTender(1_000), card(20_000), WalletTender(WECHAT, 10_000), CashTender(20_000)],
        online(),
    )


def test_a_partial_refund_goes_to_points_first_then_card() -> None:
    refund = plan_refund(mixed_sale(), [12_000, 3_000])
    assert refund.refund_minor == 15_000
    assert [(line.kind, line.amount_minor, line.points) for line in refund.lines] == [
        (TenderKind.POINTS, 10_000, 1_000),
        (TenderKind.CARD, 5_000, 0),
    ]
    assert refund.points_returned == 1_000 and refund.cash_out_minor == 0
    assert refund.lines[1].approval_code == "A1B2C3"


def test_refunds_reach_wallet_and_cash_last_and_never_exceed_what_was_paid() -> None:
    sale = mixed_sale()
    first = plan_refund(sale, [35_000])
    assert [(line.kind, line.amount_minor) for line in first.lines] == [
        (TenderKind.POINTS, 10_000),
        (TenderKind.CARD, 20_000),
        (TenderKind.WALLET, 5_000),
    ]
    assert first.authorisation_needed == (2,)
    second = plan_refund(sale, [10_000], earlier=[first])
    assert [(line.kind, line.amount_minor) for line in second.lines] == [
        (TenderKind.WALLET, 5_000),
        (TenderKind.CASH, 5_000),
    ]
    assert second.cash_out_minor == 5_000
    with pytest.raises(InvalidInput, match="not yet refunded") as caught:
        plan_refund(sale, [5_001], earlier=[first, second])
    assert caught.value.code == "refund_over_paid"
    rest = full_refund(sale, earlier=[first, second])
    assert rest.refund_minor == 5_000 and rest.lines[0].kind is TenderKind.CASH
    with pytest.raises(InvalidInput, match="nothing left"):
        full_refund(sale, earlier=[first, second, rest])


def test_two_cards_share_a_refund_in_proportion() -> None:
    sale = settle(4_000, "MXN", [card(3_000), card(1_000, "XYZ9")], online())
    refund = plan_refund(sale, [2_001])
    assert [line.amount_minor for line in refund.lines] == [1_501, 500]


def test_a_cad_cash_refund_is_handed_back_rounded() -> None:
    sale = settle(1_002, "CAD", [CashTender(2_000)], online("CAD"))
    refund = full_refund(sale)
    assert (refund.refund_minor, refund.cash_out_minor, refund.cash_rounding_minor) == (1_002, 1_000, -2)


def test_partial_points_refunds_add_up_to_exactly_the_points_spent() -> None:
    sale = settle(1_000, "MXN", [PointsTender(100)], online())
    refunds: list[Refund] = []
    for amount in (333, 333, 334):
        refunds.append(plan_refund(sale, [amount], earlier=refunds))
    assert [r.points_returned for r in refunds] == [33, 33, 34]


def test_refund_input_is_checked() -> None:
    sale = mixed_sale()
    with pytest.raises(InvalidInput, match="at least one line"):
        plan_refund(sale, [])
    with pytest.raises(InvalidInput) as caught:
        plan_refund(sale, [100, 0])
    assert caught.value.field == "line_amounts_minor[1]"
    unpaid = settle(1_000, "MXN", [card(500)], online(), require_paid=False)
    with pytest.raises(InvalidInput, match="not fully paid"):
        full_refund(unpaid)
    other = full_refund(settle(1_000, "CAD", [card(1_000)], online("CAD")))
    with pytest.raises(InvalidInput, match="refund of this MXN sale"):
        plan_refund(sale, [100], earlier=[other])


# --- properties -----------------------------------------------------------------------------------------------

CURRENCIES = ("MXN", "CAD", "CHF", "JPY", "SEK")
steps = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(1, 100), st.integers(0, 5_000)),
    min_size=0,
    max_size=6,
)


def build_sale(code: str, total: int, plan: list[tuple[TenderKind, int, int]], pay_off: bool) -> Settlement:
    """Tenders chosen against what is still due after the ones before; optionally cash to finish."""
    context = online(code, balance=10**9)
    tenders: list[Tender] = []
    step = currency(code).cash_increment_minor
    used_points = False
    for kind, share, extra in plan:
        due = settle(total, code, tenders, context, require_paid=False).due_minor
        if due == 0:
            break
        part = max(1, due * share // 100)
        if kind is TenderKind.POINTS and not used_points and part >= 1_000:
            used_points = True
            tenders.append(PointsTender(part // 1_000 * 100))
        elif kind is TenderKind.CARD:
            tenders.append(card(part))
        elif kind is TenderKind.WALLET:
            tenders.append(WalletTender(ALIPAY, part))
        elif kind is TenderKind.CASH:
            tenders.append(CashTender(-(-(part + extra) // step) * step))
    if pay_off:
        so_far = settle(total, code, tenders, context, require_paid=False)
        if so_far.due_minor:
            tenders.append(CashTender(so_far.cash_due_minor + step * 3))
    return settle(total, code, tenders, context, require_paid=pay_off)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(CURRENCIES), st.integers(0, 2_000_000), steps, st.booleans())
def test_tenders_never_over_collect_and_always_add_up(
    code: str, total: int, plan: list[tuple[TenderKind, int, int]], pay_off: bool
) -> None:
    sale = build_sale(code, total, plan, pay_off)
    step = currency(code).cash_increment_minor
    assert sale.paid_minor + sale.due_minor == total
    assert sum(line.amount_minor for line in sale.lines) == sale.paid_minor
    assert sale.due_minor >= 0 and (sale.complete or not pay_off)
    for position, line in enumerate(sale.lines):
        assert line.amount_minor >= 0 and line.change_minor >= 0
        if line.kind is not TenderKind.CASH:
            assert line.tendered_minor == line.amount_minor and line.change_minor == line.cash_rounding_minor == 0
        else:
            assert line.tendered_minor - line.change_minor == line.amount_minor + line.cash_rounding_minor
            assert 2 * abs(line.cash_rounding_minor) <= step
            if line.change_minor or line.cash_rounding_minor:
                # Only the tender that settles the sale gives change or is rounded.
                assert position == len(sale.lines) - 1 and sale.complete
    collected = sum(line.tendered_minor - line.change_minor for line in sale.lines)
    assert collected == sale.paid_minor + sale.cash_rounding_minor
    assert sale.points_value_minor == sale.points_spent * 10


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(CURRENCIES),
    st.integers(1, 500_000),
    steps,
    st.lists(st.lists(st.integers(1, 200_000), min_size=1, max_size=3), max_size=5),
)
def test_refunds_never_exceed_what_each_tender_paid(
    code: str, total: int, plan: list[tuple[TenderKind, int, int]], asks: list[list[int]]
) -> None:
    sale = build_sale(code, total, plan, pay_off=True)
    refunds: list[Refund] = []
    for lines in asks:
        left = total - sum(r.refund_minor for r in refunds)
        if sum(lines) > left:
            with pytest.raises(InvalidInput, match="not yet refunded"):
                plan_refund(sale, lines, earlier=refunds)
            continue
        refunds.append(plan_refund(sale, lines, earlier=refunds))
    if sum(r.refund_minor for r in refunds) < total:
        refunds.append(full_refund(sale, earlier=refunds))
    back = [0] * len(sale.lines)
    for refund in refunds:
        assert sum(line.amount_minor for line in refund.lines) == refund.refund_minor
        assert refund.cash_out_minor - refund.cash_rounding_minor == sum(
            line.amount_minor for line in refund.lines if line.kind is TenderKind.CASH
        )
        for line in refund.lines:
            back[line.tender_index] += line.amount_minor
            assert all(b <= paid.amount_minor for b, paid in zip(back, sale.lines, strict=True))
    assert back == [line.amount_minor for line in sale.lines]
    assert sum(r.points_returned for r in refunds) == sale.points_spent
