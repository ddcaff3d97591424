"""Paying a priced total with cash, points, a card on an external terminal and wallet payment codes, and
reversing it in a refund.

:func:`settle` takes the total of a priced ticket (integer minor units and a currency), the tenders the
cashier entered in order, and a :class:`TenderContext` (online or not, the points program, the customer's
balance and offline allowance), and returns a :class:`Settlement`: one line per tender with what it pays,
the change, the cash rounding, the points spent and their money value, what is left to pay, and which
tenders still need an online authorisation. :func:`plan_refund` and :func:`full_refund` reverse a
settlement onto its own tenders. Nothing here reads a clock, talks to a terminal or calls a provider: the
box does that with the plan.

Tenders, in the order given
---------------------------
Each tender pays part of what is left. Only cash gives change; a card, a wallet code or points asking for
more than is left is refused, because change can only be handed over in cash.

* **Cash** (:class:`CashTender`, the amount handed over, a multiple of the currency's cash increment). When
  it covers what is left, the amount left is first rounded to the cash increment
  (:func:`core.money.cash_round`: CAD and CHF to 5, half up), the difference is the line's
  ``cash_rounding_minor`` and the rest of the cash is change. When it does not, it pays its full amount
  and nothing is rounded: only a cash payment that settles the ticket is rounded. A final cash tender that
  does not cover what is left is refused (``field`` names it).
* **Points** (:class:`PointsTender`), at most one per sale, in the program's whole steps, through
  :func:`core.points.redeem_points` (minimum redemption and largest share of the ticket). Online or
  offline they must be within the balance the box knows (:func:`core.points.known_balance`), less points
  already held offline and not yet settled, and never below zero: the offline allowance is not spendable
  (it bounds the hub's overdraft, see :func:`core.points.settle_offline_hold`). Every point spent offline
  is a pending hold (``offline_hold_points``) that the hub posts or voids when it sees the sale.
* **Card** (:class:`CardTender`): the amount and the approval code the external terminal printed (1 to 12
  letters or digits) and optionally its transaction reference. The card number is never taken: any field
  holding 13 to 19 digits (spaces and dashes between them ignored) that pass the Luhn check is refused
  with :class:`CardNumberRefused`.
* **Wallet payment codes** (:class:`WalletTender`): the code scanned from the customer's phone, classified
  by the providers' published formats (see :func:`classify_wallet_code`). They are single-use and live
  about a minute, so they are refused offline with :class:`WalletOffline` (the till asks for another
  tender), and every wallet line needs an online authorisation before the sale is final.

Refunds
-------
A refund is the sum of the amounts of the receipt lines given back. It goes back onto the sale's tenders in
this order, each kind up to what it paid less what earlier refunds already returned:

1. **points** first: points go back to the customer's account, and refunding them as money would turn
   points into cash;
2. **card**, then 3. **wallet**: money goes back to the instrument that paid it, which is what card schemes
   and the wallet providers expect and what stops "buy with someone else's card, return for cash";
4. **cash** last, and the cash handed back is rounded to the cash increment like any cash payment.

Within one kind (two cards, say) the amount is split in proportion to what each can still take back, with
:func:`core.money.allocate`, so no tender ever gets back more than it paid. Points returned are counted
cumulatively (``points * refunded so far // amount paid``), so successive partial refunds never return
more points than were spent and a full refund returns exactly all of them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict

from core.errors import CurrencyMismatch, InvalidInput
from core.money import Currency, allocate, cash_round, currency
from core.points import PointsProgram, check_spendable, points_value_minor, redeem_points
from core.promotions.base import MAX_AMOUNT_MINOR, MAX_POINTS

__all__ = [
    "MAX_APPROVAL_CODE_CHARS",
    "MAX_REFUNDS_PER_SALE",
    "MAX_REFUND_LINES",
    "MAX_TENDERS_PER_SALE",
    "MAX_TERMINAL_REFERENCE_CHARS",
    "MAX_WALLET_CODE_CHARS",
    "REFUND_ORDER",
    "CardNumberRefused",
    "CardTender",
    "CashTender",
    "PointsTender",
    "Refund",
    "RefundLine",
    "Settlement",
    "Tender",
    "TenderContext",
    "TenderKind",
    "TenderLine",
    "WalletOffline",
    "WalletProvider",
    "WalletTender",
    "classify_wallet_code",
    "full_refund",
    "looks_like_card_number",
    "plan_refund",
    "settle",
]

# --- bounds -------------------------------------------------------------------------------------------------

# A ticket split more than 16 ways is a mistake at the till, and the bound keeps a sale event small.
MAX_TENDERS_PER_SALE: Final = 16
# Receipt lines given back in one refund, and refunds recorded against one sale.
MAX_REFUND_LINES: Final = 1_000
MAX_REFUNDS_PER_SALE: Final = 100
# Card terminals print approval (authorisation) codes of up to 6 characters in ISO 8583 field 38; 12 leaves
# room for acquirers that print longer ones, and stays below the 13 digits where card numbers start.
MAX_APPROVAL_CODE_CHARS: Final = 12
MAX_TERMINAL_REFERENCE_CHARS: Final = 32
# Raw scanner text, before trimming; the longest payment code (Alipay) is 24 digits.
MAX_WALLET_CODE_CHARS: Final = 32
# Card numbers (PANs) are 13 to 19 digits under ISO/IEC 7812.
PAN_MIN_DIGITS: Final = 13
PAN_MAX_DIGITS: Final = 19

# WeChat Pay payment code (auth_code): 18 digits beginning 10 to 15 (10-14 mainland China, 15 Hong Kong),
# valid for one minute and single-use. WeChat Pay, "Important Parameters", auth_code:
# https://pay.weixin.qq.com/wiki/doc/api/wxpay/en/guide/pos/ImportantParameters.shtml and the Micropay API,
# https://pay.weixin.qq.com/wiki/doc/api/micropay.php?chapter=5_1
WECHAT_CODE_DIGITS: Final = 18
WECHAT_PREFIXES: Final = frozenset({"10", "11", "12", "13", "14", "15"})
# Alipay payment code (auth_code): 16 to 24 digits beginning 25 to 30, void once used. Alipay barcode
# payment (条码支付) developer guide: https://opendocs.alipay.com/open/194/106039/
ALIPAY_MIN_DIGITS: Final = 16
ALIPAY_MAX_DIGITS: Final = 24
ALIPAY_PREFIXES: Final = frozenset({"25", "26", "27", "28", "29", "30"})

_ALNUM: Final = re.compile(r"[A-Za-z0-9]+")
_REFERENCE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]*")
_DIGITS: Final = frozenset("0123456789")


# --- errors -------------------------------------------------------------------------------------------------


class CardNumberRefused(InvalidInput):
    """A field holds what looks like a card number. Card numbers are never taken, stored or sent."""

    code = "card_number_refused"


class WalletOffline(InvalidInput):
    """A wallet payment code scanned while the box is offline: the till asks for another tender."""

    code = "wallet_offline"


# --- helpers ------------------------------------------------------------------------------------------------


def _int(value: object, field: str, low: int, high: int) -> int:
    # bool is an int subclass; True as an amount is always a bug upstream.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidInput(field, f"must be between {low} and {high}, got {value}")
    return value


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if position % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def looks_like_card_number(text: str) -> bool:
    """Whether ``text`` holds a run of 13 to 19 digits passing Luhn; spaces and dashes between digits count
    as part of the run, as card numbers are printed in groups."""
    run: list[str] = []
    runs: list[str] = []
    for char in text:
        if char in _DIGITS:
            run.append(char)
        elif char in " -" and run:
            continue
        else:
            if run:
                runs.append("".join(run))
            run = []
    if run:
        runs.append("".join(run))
    return any(PAN_MIN_DIGITS <= len(r) <= PAN_MAX_DIGITS and _luhn_ok(r) for r in runs)


def _refuse_card_number(text: str, field: str) -> None:
    if looks_like_card_number(text):
        raise CardNumberRefused(
            field,
            "looks like a card number; never enter the card number, enter the approval code the card terminal printed",
        )


def _fmt(amount_minor: int, cur: Currency) -> str:
    """An amount for people: ``1234`` MXN is ``12.34 MXN``; JPY has no decimals."""
    sign = "-" if amount_minor < 0 else ""
    magnitude = abs(amount_minor)
    if cur.exponent == 0:
        return f"{sign}{magnitude} {cur.code}"
    major, minor = divmod(magnitude, 10**cur.exponent)
    return f"{sign}{major}.{minor:0{cur.exponent}d} {cur.code}"


# --- tenders ------------------------------------------------------------------------------------------------


class TenderKind(enum.StrEnum):
    """How a tender pays."""

    CASH = "cash"
    POINTS = "points"
    CARD = "card"
    WALLET = "wallet"


class WalletProvider(enum.StrEnum):
    """Whose payment code was scanned."""

    WECHAT_PAY = "wechat_pay"
    ALIPAY = "alipay"


# The documented refund order: see the module docstring.
REFUND_ORDER: Final = (TenderKind.POINTS, TenderKind.CARD, TenderKind.WALLET, TenderKind.CASH)


def classify_wallet_code(code: str, field: str = "code") -> tuple[WalletProvider, str]:
    """The provider of a scanned payment code and the code itself, trimmed of scanner whitespace.

    WeChat Pay: 18 digits beginning 10 to 15. Alipay: 16 to 24 digits beginning 25 to 30. Anything else is
    refused; a card number typed here is refused as one.
    """
    if not isinstance(code, str):
        raise InvalidInput(field, f"must be text, not {type(code).__name__}")
    if len(code) > MAX_WALLET_CODE_CHARS:
        raise InvalidInput(field, f"is {len(code)} characters long; payment codes are at most {ALIPAY_MAX_DIGITS}")
    digits = code.strip()
    if digits and set(digits) <= _DIGITS:
        head = digits[:2]
        if head in WECHAT_PREFIXES and len(digits) == WECHAT_CODE_DIGITS:
            return WalletProvider.WECHAT_PAY, digits
        if head in ALIPAY_PREFIXES and ALIPAY_MIN_DIGITS <= len(digits) <= ALIPAY_MAX_DIGITS:
            return WalletProvider.ALIPAY, digits
    # Only now: an Alipay code can pass Luhn by chance, a real payment code must not be called a card.
    _refuse_card_number(code, field)
    raise InvalidInput(
        field,
        "is not a WeChat Pay code (18 digits starting 10-15) or an Alipay code (16-24 digits starting "
        "25-30); scan the customer's payment code again",
        code="wallet_code_unknown",
    )


@dataclass(frozen=True)
class CashTender:
    """Cash handed over, in minor units; a multiple of the currency's cash increment (checked in settle)."""

    amount_minor: int

    def __post_init__(self) -> None:
        _int(self.amount_minor, "amount_minor", 0, MAX_AMOUNT_MINOR)


@dataclass(frozen=True)
class PointsTender:
    """Points the customer spends, in whole steps of the program's redemption rate."""

    points: int

    def __post_init__(self) -> None:
        _int(self.points, "points", 1, MAX_POINTS)


@dataclass(frozen=True)
class CardTender:
    """A payment approved on the external card terminal: amount, approval code, the terminal's reference."""

    amount_minor: int
    approval_code: str
    terminal_reference: str | None = None

    def __post_init__(self) -> None:
        _int(self.amount_minor, "amount_minor", 1, MAX_AMOUNT_MINOR)
        for field, value, limit, pattern in (
            ("approval_code", self.approval_code, MAX_APPROVAL_CODE_CHARS, _ALNUM),
            ("terminal_reference", self.terminal_reference, MAX_TERMINAL_REFERENCE_CHARS, _REFERENCE),
        ):
            if value is None and field == "terminal_reference":
                continue
            if not isinstance(value, str):
                raise InvalidInput(field, f"must be text, not {type(value).__name__}")
            # The card-number check comes first: its message is the one that matters when it applies.
            _refuse_card_number(value, field)
            if not 1 <= len(value) <= limit or pattern.fullmatch(value) is None:
                what = "letters and digits" if pattern is _ALNUM else "letters, digits and . _ / : -"
                raise InvalidInput(field, f"must be 1 to {limit} {what}, got {value!r}")


@dataclass(frozen=True)
class WalletTender:
    """A WeChat Pay or Alipay payment code scanned from the customer's phone, for ``amount_minor``."""

    code: str
    amount_minor: int

    def __post_init__(self) -> None:
        _int(self.amount_minor, "amount_minor", 1, MAX_AMOUNT_MINOR)
        _, digits = classify_wallet_code(self.code)
        # Keep the trimmed code: the scanner's CR/LF is not part of it.
        object.__setattr__(self, "code", digits)

    @property
    def provider(self) -> WalletProvider:
        return classify_wallet_code(self.code)[0]


Tender = CashTender | PointsTender | CardTender | WalletTender


@dataclass(frozen=True)
class TenderContext:
    """What the till knows when tendering.

    ``balance_points`` is the customer's balance as the till knows it: live when ``online``, the box's known
    balance (:func:`core.points.known_balance`) when not. ``offline_held_points`` are points already spent
    offline and not yet counted in ``balance_points``. Points beyond what is left are refused either way.
    """

    online: bool
    program: PointsProgram | None = None
    balance_points: int = 0
    offline_held_points: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.online, bool):
            raise InvalidInput("online", "must be true or false")
        if self.program is not None and not isinstance(self.program, PointsProgram):
            raise InvalidInput("program", f"must be a PointsProgram, not {type(self.program).__name__}")
        _int(self.balance_points, "balance_points", -MAX_POINTS, MAX_POINTS)
        _int(self.offline_held_points, "offline_held_points", 0, MAX_POINTS)


# --- results ------------------------------------------------------------------------------------------------


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TenderLine(_Result):
    """One tender as applied.

    ``amount_minor`` is what it pays towards the total. For cash, ``tendered_minor`` was handed over,
    ``change_minor`` handed back, and ``tendered - change == amount + cash_rounding``. For other tenders
    ``tendered_minor == amount_minor``. ``allowance_used_points`` is always 0: no tender spends the offline
    allowance; the field stays so settlements stored by earlier versions are still read.
    """

    index: int
    kind: TenderKind
    amount_minor: int
    tendered_minor: int
    change_minor: int = 0
    cash_rounding_minor: int = 0
    points: int = 0
    offline_hold_points: int = 0
    allowance_used_points: int = 0
    approval_code: str | None = None
    terminal_reference: str | None = None
    wallet_provider: WalletProvider | None = None
    wallet_code: str | None = None
    needs_authorisation: bool = False
    explanation: str


class Settlement(_Result):
    """The tenders of one sale.

    ``paid_minor + due_minor == total_minor``; ``paid_minor`` is the sum of the lines' ``amount_minor``.
    ``cash_due_minor`` is what cash would settle the rest with now (``due_minor`` cash-rounded).
    ``authorisation_needed`` lists the indexes of lines that need an online authorisation (wallet codes)
    before the sale is final; if one is declined, drop that tender and settle again.
    """

    currency: str
    total_minor: int
    paid_minor: int
    due_minor: int
    cash_due_minor: int
    change_minor: int
    cash_rounding_minor: int
    points_spent: int
    points_value_minor: int
    offline_hold_points: int
    authorisation_needed: tuple[int, ...]
    lines: tuple[TenderLine, ...]

    @property
    def complete(self) -> bool:
        return self.due_minor == 0


def settle(
    total_minor: int,
    currency_code: str,
    tenders: Sequence[Tender],
    context: TenderContext,
    *,
    require_paid: bool = True,
) -> Settlement:
    """Apply ``tenders`` in order to ``total_minor`` and say what each pays; see the module docstring.

    With ``require_paid`` (the default) the tenders must pay the whole total; without it the settlement
    says what is still due, for a till that shows progress as tenders are added.
    """
    cur = currency(currency_code)
    _int(total_minor, "total_minor", 0, MAX_AMOUNT_MINOR)
    if not isinstance(context, TenderContext):
        raise InvalidInput("context", f"must be a TenderContext, not {type(context).__name__}")
    if isinstance(tenders, str | bytes) or not isinstance(tenders, Sequence):
        raise InvalidInput("tenders", "must be a list of tenders")
    if len(tenders) > MAX_TENDERS_PER_SALE:
        raise InvalidInput("tenders", f"at most {MAX_TENDERS_PER_SALE} tenders per sale, got {len(tenders)}")

    remaining = total_minor
    lines: list[TenderLine] = []
    points_line: TenderLine | None = None
    for index, tender in enumerate(tenders):
        field = f"tenders[{index}]"
        if not isinstance(tender, CashTender | PointsTender | CardTender | WalletTender):
            raise InvalidInput(field, f"is not a tender ({type(tender).__name__})")
        if remaining == 0:
            raise InvalidInput(field, "the sale is already paid; this tender is not needed")
        if isinstance(tender, CashTender):
            line = _cash(tender, index, remaining, cur, field)
        elif isinstance(tender, PointsTender):
            if points_line is not None:
                raise InvalidInput(field, "one points tender per sale; change the first one instead")
            line = _points(tender, index, remaining, total_minor, cur, context, field)
            points_line = line
        elif isinstance(tender, CardTender):
            line = _card(tender, index, remaining, cur, field)
        else:
            line = _wallet(tender, index, remaining, cur, context, field)
        remaining -= line.amount_minor
        lines.append(line)

    paid = total_minor - remaining
    if require_paid and remaining:
        if lines and lines[-1].kind is TenderKind.CASH:
            last = lines[-1]
            left = remaining + last.amount_minor
            raise InvalidInput(
                f"tenders[{last.index}].amount_minor",
                f"cash {_fmt(last.tendered_minor, cur)} does not cover the {_fmt(left, cur)} left to pay "
                f"({_fmt(cash_round(left, cur), cur)} in cash)",
                code="tender_short",
            )
        raise InvalidInput(
            "tenders",
            f"the tenders pay {_fmt(paid, cur)} of {_fmt(total_minor, cur)}; {_fmt(remaining, cur)} is still due",
            code="tender_short",
        )
    return Settlement(
        currency=cur.code,
        total_minor=total_minor,
        paid_minor=paid,
        due_minor=remaining,
        cash_due_minor=cash_round(remaining, cur),
        change_minor=sum(line.change_minor for line in lines),
        cash_rounding_minor=sum(line.cash_rounding_minor for line in lines),
        points_spent=points_line.points if points_line else 0,
        points_value_minor=points_line.amount_minor if points_line else 0,
        offline_hold_points=points_line.offline_hold_points if points_line else 0,
        authorisation_needed=tuple(line.index for line in lines if line.needs_authorisation),
        lines=tuple(lines),
    )


def _cash(tender: CashTender, index: int, remaining: int, cur: Currency, field: str) -> TenderLine:
    handed = tender.amount_minor
    step = cur.cash_increment_minor
    if handed % step:
        raise InvalidInput(
            f"{field}.amount_minor",
            f"cash in {cur.code} comes in steps of {_fmt(step, cur)}; {_fmt(handed, cur)} cannot be handed over",
        )
    cash_due = cash_round(remaining, cur)
    if handed >= cash_due:
        change = handed - cash_due
        rounding = cash_due - remaining
        note = f"cash: {_fmt(handed, cur)} for {_fmt(remaining, cur)}"
        if rounding:
            note += f", rounded to {_fmt(cash_due, cur)} for cash"
        note += f"; change {_fmt(change, cur)}"
        return TenderLine(
            index=index,
            kind=TenderKind.CASH,
            amount_minor=remaining,
            tendered_minor=handed,
            change_minor=change,
            cash_rounding_minor=rounding,
            explanation=note,
        )
    if handed == 0:
        raise InvalidInput(f"{field}.amount_minor", "a cash tender of 0 pays nothing")
    # handed is a multiple of the increment below the rounded remainder, so it is below the remainder too.
    return TenderLine(
        index=index,
        kind=TenderKind.CASH,
        amount_minor=handed,
        tendered_minor=handed,
        explanation=f"cash: {_fmt(handed, cur)} towards {_fmt(remaining, cur)}; no change, no rounding",
    )


def _not_over(amount: int, remaining: int, cur: Currency, field: str, what: str) -> None:
    if amount > remaining:
        raise InvalidInput(
            f"{field}.amount_minor",
            f"{what} for {_fmt(amount, cur)} but only {_fmt(remaining, cur)} is left to pay; only cash gives change",
        )


def _points(
    tender: PointsTender,
    index: int,
    remaining: int,
    total_minor: int,
    cur: Currency,
    context: TenderContext,
    field: str,
) -> TenderLine:
    program = context.program
    if program is None:
        raise InvalidInput(field, "paying with points needs the customer's points program")
    if program.currency != cur.code:
        raise CurrencyMismatch(f"the points program pays {program.currency}; the sale is in {cur.code}")
    points = tender.points
    value = points_value_minor(program, points, f"{field}.points")
    known = context.balance_points - context.offline_held_points
    why = "" if context.online else f"offline: balance {context.balance_points}"
    if not context.online and context.offline_held_points:
        why += f", {context.offline_held_points} already held offline"
    available = check_spendable(points, known, f"{field}.points", why=why)
    # redeem_points applies the program's minimum redemption and largest share of the ticket.
    redeem_points(program, points, amount_due_minor=total_minor, balance_points=available, field=f"{field}.points")
    if value > remaining:
        raise InvalidInput(
            f"{field}.points",
            f"{points} points pay {_fmt(value, cur)} but only {_fmt(remaining, cur)} is left to pay; points give "
            "no change",
        )
    hold = 0 if context.online else points
    note = f"points: {points} pay {_fmt(value, cur)}"
    if hold:
        note += "; offline, held pending until the hub settles it"
    return TenderLine(
        index=index,
        kind=TenderKind.POINTS,
        amount_minor=value,
        tendered_minor=value,
        points=points,
        offline_hold_points=hold,
        explanation=note,
    )


def _card(tender: CardTender, index: int, remaining: int, cur: Currency, field: str) -> TenderLine:
    _not_over(tender.amount_minor, remaining, cur, field, "card")
    return TenderLine(
        index=index,
        kind=TenderKind.CARD,
        amount_minor=tender.amount_minor,
        tendered_minor=tender.amount_minor,
        approval_code=tender.approval_code,
        terminal_reference=tender.terminal_reference,
        explanation=f"card: {_fmt(tender.amount_minor, cur)} approved on the terminal, code {tender.approval_code}",
    )


def _wallet(
    tender: WalletTender, index: int, remaining: int, cur: Currency, context: TenderContext, field: str
) -> TenderLine:
    provider = tender.provider
    name = "WeChat Pay" if provider is WalletProvider.WECHAT_PAY else "Alipay"
    if not context.online:
        raise WalletOffline(
            field,
            f"{name} codes are single-use and expire within minutes, and the box is offline; ask for another tender",
        )
    _not_over(tender.amount_minor, remaining, cur, field, name)
    return TenderLine(
        index=index,
        kind=TenderKind.WALLET,
        amount_minor=tender.amount_minor,
        tendered_minor=tender.amount_minor,
        wallet_provider=provider,
        wallet_code=tender.code,
        needs_authorisation=True,
        explanation=f"{name}: {_fmt(tender.amount_minor, cur)}, to be authorised online with the scanned code",
    )


# --- refunds ------------------------------------------------------------------------------------------------


class RefundLine(_Result):
    """What goes back onto one tender of the sale (``tender_index`` is its index in the sale's lines)."""

    tender_index: int
    kind: TenderKind
    amount_minor: int
    points: int = 0
    approval_code: str | None = None
    wallet_provider: WalletProvider | None = None
    needs_authorisation: bool = False
    explanation: str


class Refund(_Result):
    """A refund reversed onto the sale's tenders.

    ``refund_minor`` is the sum of the lines' ``amount_minor``. Cash is handed back as ``cash_out_minor``:
    the cash lines' total rounded to the cash increment, the difference in ``cash_rounding_minor``.
    """

    currency: str
    refund_minor: int
    points_returned: int
    cash_out_minor: int
    cash_rounding_minor: int
    authorisation_needed: tuple[int, ...]
    lines: tuple[RefundLine, ...]


def _refundable(sale: Settlement, earlier: Sequence[Refund]) -> tuple[list[int], list[int]]:
    """Per sale line: money not yet refunded, and money refunded so far."""
    if not isinstance(sale, Settlement):
        raise InvalidInput("sale", f"must be a Settlement, not {type(sale).__name__}")
    if not sale.complete:
        raise InvalidInput("sale", "is not fully paid; only a paid sale is refunded")
    if isinstance(earlier, str | bytes) or not isinstance(earlier, Sequence):
        raise InvalidInput("earlier", "must be a list of refunds")
    if len(earlier) > MAX_REFUNDS_PER_SALE:
        raise InvalidInput("earlier", f"at most {MAX_REFUNDS_PER_SALE} refunds per sale, got {len(earlier)}")
    done = [0] * len(sale.lines)
    for r, refund in enumerate(earlier):
        if not isinstance(refund, Refund) or refund.currency != sale.currency:
            raise InvalidInput(f"earlier[{r}]", f"must be a refund of this {sale.currency} sale")
        for line in refund.lines:
            i = line.tender_index
            if not 0 <= i < len(sale.lines) or sale.lines[i].kind is not line.kind:
                raise InvalidInput(f"earlier[{r}]", "refers to a tender this sale does not have")
            done[i] += line.amount_minor
    left = [line.amount_minor - d for line, d in zip(sale.lines, done, strict=True)]
    for i, value in enumerate(left):
        if value < 0:
            raise InvalidInput("earlier", f"refund more than tender {i} paid; the refund records are wrong")
    return left, done


def plan_refund(sale: Settlement, line_amounts_minor: Sequence[int], *, earlier: Sequence[Refund] = ()) -> Refund:
    """Refund the receipt lines whose amounts are ``line_amounts_minor`` onto the sale's tenders.

    ``earlier`` are the refunds already made against this sale; together they never take back more than a
    tender paid. The order is :data:`REFUND_ORDER` (see the module docstring).
    """
    if isinstance(line_amounts_minor, str | bytes) or not isinstance(line_amounts_minor, Sequence):
        raise InvalidInput("line_amounts_minor", "must be a list of amounts")
    if not line_amounts_minor:
        raise InvalidInput("line_amounts_minor", "name at least one line to refund")
    if len(line_amounts_minor) > MAX_REFUND_LINES:
        raise InvalidInput(
            "line_amounts_minor", f"at most {MAX_REFUND_LINES} lines per refund, got {len(line_amounts_minor)}"
        )
    total = sum(
        _int(amount, f"line_amounts_minor[{i}]", 1, MAX_AMOUNT_MINOR) for i, amount in enumerate(line_amounts_minor)
    )
    left, done = _refundable(sale, earlier)
    return _reverse(sale, total, left, done)


def full_refund(sale: Settlement, *, earlier: Sequence[Refund] = ()) -> Refund:
    """Refund everything of ``sale`` that earlier refunds have not already returned."""
    left, done = _refundable(sale, earlier)
    if sum(left) == 0:
        raise InvalidInput("sale", "has nothing left to refund")
    return _reverse(sale, sum(left), left, done)


def _reverse(sale: Settlement, total: int, left: list[int], done: list[int]) -> Refund:
    cur = currency(sale.currency)
    available = sum(left)
    if total > available:
        raise InvalidInput(
            "line_amounts_minor",
            f"refund of {_fmt(total, cur)} is more than the {_fmt(available, cur)} not yet refunded on this sale",
            code="refund_over_paid",
        )
    to_go = total
    lines: list[RefundLine] = []
    cash_total = 0
    for kind in REFUND_ORDER:
        members = [i for i, line in enumerate(sale.lines) if line.kind is kind and left[i] > 0]
        if not members or to_go == 0:
            continue
        take = min(to_go, sum(left[i] for i in members))
        # Weights are what each can still take back, so largest remainder never gives one more than that.
        parts = allocate(take, [left[i] for i in members])
        to_go -= take
        for i, part in zip(members, parts, strict=True):
            if part:
                lines.append(_refund_line(sale, i, part, done[i], cur))
                if kind is TenderKind.CASH:
                    cash_total += part
    cash_out = cash_round(cash_total, cur)
    return Refund(
        currency=cur.code,
        refund_minor=total,
        points_returned=sum(line.points for line in lines),
        cash_out_minor=cash_out,
        cash_rounding_minor=cash_out - cash_total,
        authorisation_needed=tuple(line.tender_index for line in lines if line.needs_authorisation),
        lines=tuple(lines),
    )


def _refund_line(sale: Settlement, index: int, part: int, done_before: int, cur: Currency) -> RefundLine:
    paid = sale.lines[index]
    amount = _fmt(part, cur)
    if paid.kind is TenderKind.POINTS:
        # Cumulative, so partial refunds add up to exactly the points spent once everything is back.
        after = paid.points * (done_before + part) // paid.amount_minor
        points = after - paid.points * done_before // paid.amount_minor
        return RefundLine(
            tender_index=index,
            kind=paid.kind,
            amount_minor=part,
            points=points,
            explanation=f"points: {points} points back to the customer for {amount}",
        )
    if paid.kind is TenderKind.CARD:
        return RefundLine(
            tender_index=index,
            kind=paid.kind,
            amount_minor=part,
            approval_code=paid.approval_code,
            explanation=f"card: refund {amount} on the card terminal against approval code {paid.approval_code}",
        )
    if paid.kind is TenderKind.WALLET:
        return RefundLine(
            tender_index=index,
            kind=paid.kind,
            amount_minor=part,
            wallet_provider=paid.wallet_provider,
            needs_authorisation=True,
            explanation=f"wallet: {amount} back through {paid.wallet_provider}, sent when the box is online",
        )
    return RefundLine(
        tender_index=index,
        kind=paid.kind,
        amount_minor=part,
        explanation=f"cash: {amount} back in cash",
    )
