"""What the customer reads: the printed receipt and the customer-side OLED screens, in the shop's language.

:func:`build_receipt` turns a priced ticket (``core.pricing.PricedReceipt``), its tenders
(``core.tenders.Settlement``) and the customer's points into the ``Receipt`` the counter prints (laid out
by ``edge_agent.receipt_layout``): items at shelf price, each promotion's discount, the taxes (included or
added, as the jurisdiction prices), the total, the tenders with change and cash rounding, and for a member
the points earned, the balance after the sale, the tier and a QR code of the loyalty sticker payload
(``MO1:`` + the id, see ``core.identity``), so the receipt itself identifies the customer at the next
visit. :func:`build_refund_receipt` does the same for a refund.

The screens (:func:`basket_screen`, :func:`paid_screen`, :func:`message_screen`) fit the 128x64 panel: the
amount to pay or the change in the large line, what the customer earns below.

A balance shown to the customer is the points they may spend (:func:`core.points.spendable_points`), never
below zero: an overdraft the hub recorded is the shop's and the network's business, not a debt on a receipt.

Words come from :data:`WORDS` for ``es``, ``en`` and ``zh``; amounts are integer minor units formatted by
``edge_agent.receipt_layout.NumberFormat`` with the currency's exponent and symbol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from core.money import currency as lookup_currency
from core.points import spendable_points
from core.pricing.model import PricedReceipt
from core.promotions.timing import to_local
from core.tax import Pricing
from core.tenders import Refund, Settlement, TenderKind, WalletProvider
from edge_agent.receipt_layout import (
    CHINESE,
    MAX_FREE_LINES,
    SPANISH,
    Charge,
    CodeKind,
    Item,
    Labels,
    Loyalty,
    Minor,
    NumberFormat,
    Receipt,
)
from hardware.display import Icon, Screen

__all__ = [
    "ENGLISH",
    "WORDS",
    "CustomerPoints",
    "Words",
    "basket_screen",
    "build_receipt",
    "build_refund_receipt",
    "message_screen",
    "number_format",
    "paid_screen",
]

ENGLISH = Labels(
    item="Item",
    qty="Qty",
    price="Price",
    amount="Amount",
    change="Change",
    points_earned="Points earned",
    balance="Points balance",
    tier="Tier",
    loyalty_id="Member",
)


@dataclass(frozen=True)
class Words:
    """Every word the receipt and the screens print around the data, in one language."""

    labels: Labels
    subtotal: str
    total: str
    tax_included: str
    cash: str
    card: str
    points: str
    wechat_pay: str
    alipay: str
    rounding: str
    ticket: str
    refund: str
    refunded: str
    points_reversed: str
    points_returned: str
    to_pay: str
    you_earn: str
    balance_short: str
    paid: str
    change_short: str


WORDS: Final[Mapping[str, Words]] = {
    "es": Words(
        labels=SPANISH,
        subtotal="Subtotal",
        total="TOTAL",
        tax_included="incluido",
        cash="Efectivo",
        card="Tarjeta",
        points="Puntos",
        wechat_pay="WeChat Pay",
        alipay="Alipay",
        rounding="Redondeo",
        ticket="Ticket",
        refund="DEVOLUCIÓN",
        refunded="Devuelto",
        points_reversed="Puntos retirados",
        points_returned="Puntos devueltos",
        to_pay="Total a pagar",
        you_earn="Gana",
        balance_short="Saldo",
        paid="Pagado",
        change_short="Cambio",
    ),
    "en": Words(
        labels=ENGLISH,
        subtotal="Subtotal",
        total="TOTAL",
        tax_included="included",
        cash="Cash",
        card="Card",
        points="Points",
        wechat_pay="WeChat Pay",
        alipay="Alipay",
        rounding="Rounding",
        ticket="Ticket",
        refund="REFUND",
        refunded="Refunded",
        points_reversed="Points taken back",
        points_returned="Points returned",
        to_pay="To pay",
        you_earn="You earn",
        balance_short="Balance",
        paid="Paid",
        change_short="Change",
    ),
    "zh": Words(
        labels=CHINESE,
        subtotal="小计",
        total="合计",
        tax_included="已含",
        cash="现金",
        card="银行卡",
        points="积分",
        wechat_pay="微信支付",
        alipay="支付宝",
        rounding="舍入",
        ticket="小票",
        refund="退货",
        refunded="退款",
        points_reversed="扣回积分",
        points_returned="退回积分",
        to_pay="应付",
        you_earn="可得积分",
        balance_short="余额",
        paid="已付",
        change_short="找零",
    ),
}

_SYMBOLS: Final[Mapping[str, tuple[str, bool]]] = {
    "MXN": ("$", False),
    "USD": ("$", False),
    "CAD": ("$", False),
    "CNY": ("¥", False),
    "EUR": ("€", True),
}


@dataclass(frozen=True)
class CustomerPoints:
    """A member's points on this ticket: earned, balance after it, tier name, and the sticker payload."""

    loyalty_id: str
    sticker: str
    points_earned: int
    balance_after: int
    tier_name: str | None = None


def words(language: str) -> Words:
    """The words for ``language`` (Spanish when it is not one the box knows)."""
    return WORDS.get(language, WORDS["es"])


def number_format(currency_code: str) -> NumberFormat:
    """How amounts of ``currency_code`` are written: its symbol, and the code itself when it has none here."""
    symbol, after = _SYMBOLS.get(currency_code, (currency_code, True))
    if after:
        return NumberFormat(decimal=",", thousands=".", symbol=symbol, symbol_after=True)
    return NumberFormat(symbol=symbol)


def _money(amount_minor: int, currency_code: str) -> Minor:
    return Minor(amount_minor, lookup_currency(currency_code).exponent)


def _tender_label(w: Words, kind: TenderKind, provider: WalletProvider | None, points: int) -> str:
    if kind is TenderKind.CASH:
        return w.cash
    if kind is TenderKind.CARD:
        return w.card
    if kind is TenderKind.POINTS:
        return f"{w.points} ({points})"
    return w.wechat_pay if provider is WalletProvider.WECHAT_PAY else w.alipay


def _header(
    header: tuple[str, ...], w: Words, sale_id: str, when: datetime, timezone: str, room: int = 2
) -> tuple[str, ...]:
    """The shop's lines (as many as fit), the local date and time, and the ticket number."""
    local = to_local(when, timezone)
    stamp = (local.strftime("%Y-%m-%d %H:%M"), f"{w.ticket} {sale_id[-12:]}")
    return (*header[: MAX_FREE_LINES - room], *stamp)


def build_receipt(
    priced: PricedReceipt,
    settlement: Settlement,
    *,
    language: str,
    header: tuple[str, ...],
    footer: tuple[str, ...],
    pricing: Pricing,
    sale_id: str,
    timezone: str,
    customer: CustomerPoints | None = None,
) -> Receipt:
    """The printed receipt of a completed sale (see the module docstring)."""
    w = words(language)
    code = priced.currency

    def money(amount_minor: int) -> Minor:
        return _money(amount_minor, code)

    items = tuple(
        Item(line.description or line.item_id, line.quantity, money(line.unit_price_minor), money(line.gross_minor))
        for line in priced.lines
    )
    discounts = tuple(Charge(d.name, money(-d.amount_minor)) for d in priced.discounts if d.amount_minor)
    suffix = f" ({w.tax_included})" if pricing is Pricing.INCLUSIVE else ""
    taxes = tuple(Charge(f"{t.name}{suffix}", money(t.amount_minor)) for t in priced.taxes if t.amount_minor)
    totals = (Charge(w.subtotal, money(priced.totals.gross_minor)), Charge(w.total, money(priced.totals.total_minor)))
    tenders: list[Charge] = [
        Charge(
            _tender_label(w, line.kind, line.wallet_provider, line.points),
            money(line.tendered_minor),
        )
        for line in settlement.lines
    ]
    if settlement.cash_rounding_minor:
        tenders.append(Charge(w.rounding, money(settlement.cash_rounding_minor)))
    has_cash = any(line.kind is TenderKind.CASH for line in settlement.lines)
    loyalty = None
    if customer is not None:
        loyalty = Loyalty(
            loyalty_id=customer.sticker,
            points_earned=customer.points_earned,
            balance=spendable_points(customer.balance_after),
            tier=customer.tier_name or "",
            code=CodeKind.QR,
        )
    return Receipt(
        header=_header(header, w, sale_id, priced.priced_at, timezone),
        items=items,
        discounts=discounts,
        taxes=taxes,
        totals=totals,
        tenders=tuple(tenders),
        change=money(settlement.change_minor) if has_cash else None,
        loyalty=loyalty,
        footer=footer[:MAX_FREE_LINES],
        labels=w.labels,
        number_format=number_format(code),
    )


def build_refund_receipt(
    refund: Refund,
    lines: tuple[tuple[str, int, int], ...],
    *,
    language: str,
    header: tuple[str, ...],
    refund_id: str,
    sale_id: str,
    when: datetime,
    timezone: str,
    points_reversed: int,
) -> Receipt:
    """The slip of a refund: the lines given back (name, qty, amount), where the money went, points moved."""
    w = words(language)
    code = refund.currency

    def money(amount_minor: int) -> Minor:
        return _money(amount_minor, code)

    tenders = [
        Charge(_tender_label(w, line.kind, line.wallet_provider, line.points), money(line.amount_minor))
        for line in refund.lines
    ]
    if refund.cash_rounding_minor:
        tenders.append(Charge(w.rounding, money(refund.cash_rounding_minor)))
    extra: list[Charge] = []
    if refund.points_returned:
        extra.append(Charge(w.points_returned, f"+{refund.points_returned}"))
    if points_reversed:
        extra.append(Charge(w.points_reversed, f"-{points_reversed}"))
    return Receipt(
        header=(*_header(header, w, refund_id, when, timezone, room=4), w.refund, f"{w.ticket} {sale_id[-12:]}"),
        items=tuple(Item(name, qty, money(amount // qty if qty else 0), money(amount)) for name, qty, amount in lines),
        totals=(Charge(w.refunded, money(refund.refund_minor)),),
        tenders=(*tenders, *extra),
        labels=w.labels,
        number_format=number_format(code),
    )


def basket_screen(priced: PricedReceipt, language: str) -> Screen:
    """The customer's screen while the cashier rings up: what to pay, what they earn, their tier."""
    w = words(language)
    fmt = number_format(priced.currency)
    lines = [f"{w.to_pay}"]
    if priced.points is not None:
        lines.append(f"{w.you_earn} {fmt.group(priced.points.total)} {w.points.lower()}")
    if priced.points_balance_after is not None:
        lines.append(f"{w.balance_short} {fmt.group(spendable_points(priced.points_balance_after))}")
    return Screen(large=fmt.amount(_money(priced.totals.due_minor, priced.currency)), lines=tuple(lines[:3]))


def paid_screen(settlement: Settlement, language: str, customer: CustomerPoints | None = None) -> Screen:
    """After payment: the change (or "paid"), the points earned and the balance, with the sticker QR."""
    w = words(language)
    fmt = number_format(settlement.currency)
    has_cash = any(line.kind is TenderKind.CASH for line in settlement.lines)
    if has_cash:
        large = f"{w.change_short} {fmt.amount(_money(settlement.change_minor, settlement.currency))}"
    else:
        large = w.paid
    lines: list[str] = []
    if customer is not None:
        lines.append(f"+{fmt.group(customer.points_earned)} {w.points.lower()}")
        lines.append(f"{w.balance_short} {fmt.group(spendable_points(customer.balance_after))}")
        if customer.tier_name:
            lines.append(customer.tier_name)
    return Screen(
        large=large, lines=tuple(lines), icon=Icon.CHECK, qr=customer.sticker if customer is not None else None
    )


def message_screen(text: str, *, problem: bool = True) -> Screen:
    """A short message for the customer (a declined payment, a printer to check)."""
    words_in = text.split()
    large = words_in[0] if words_in else ""
    rest = " ".join(words_in[1:])
    chunks = [rest[i : i + 22] for i in range(0, min(len(rest), 66), 22)]
    return Screen(large=large, lines=tuple(chunks), icon=Icon.WARNING if problem else Icon.CHECK)
