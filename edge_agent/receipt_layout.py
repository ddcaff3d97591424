"""The shop's sale receipt and the loyalty sticker, laid out on the counter's printer.

``Receipt`` holds what a receipt says (shop header, items, discounts, taxes, totals, tenders and change,
points, the customer's loyalty code, footer); ``layout_receipt`` turns it into a printer ``Document`` for
a ``PrinterProfile``: 32 columns on 58 mm paper, 48 on 80 mm, with columns aligned and long names wrapped.
``LoyaltySticker`` and ``layout_sticker`` do the same for the label on a customer's loyalty card.
Amounts are either strings the application already formatted, or ``Minor`` (integer minor units and the
currency's exponent) formatted here with a ``NumberFormat``: there is no float anywhere.

What the words and numbers are is decided here; fitting them to the paper (wrapping, centring, code
sizes, the feed before the cut) is ``hardware.printer.compose``'s. Then ``hardware.printer.encode`` gives
the ESC/POS bytes and ``hardware.printer.preview`` the text and PNG views. ``edge_agent.receipts`` fills a
``Receipt`` in from a priced sale.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from PIL import Image

from hardware.printer import Document, PrinterProfile
from hardware.printer.compose import DocumentBuilder
from hardware.printer.document import pad, wrap

#: Most item lines on one receipt. A supermarket basket is under 100; more is a runaway loop.
MAX_ITEMS = 500

#: Most lines in each free-text section (header, footer).
MAX_FREE_LINES = 12

#: Narrowest item-name column in the 80 mm table layout; below it the two-line layout is used.
MIN_NAME_COLUMNS = 12


@dataclass(frozen=True, slots=True)
class Minor:
    """An amount in integer minor units: ``Minor(123450, 2)`` is 1,234.50."""

    amount_minor: int
    exponent: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.amount_minor, int) or not 0 <= self.exponent <= 4:
            raise ValueError("Minor takes an int amount_minor and an exponent of 0 to 4")


Amount = str | Minor


@dataclass(frozen=True, slots=True)
class NumberFormat:
    """How amounts and points are written: separators and the currency symbol."""

    decimal: str = "."
    thousands: str = ","
    symbol: str = "$"
    symbol_after: bool = False

    def group(self, value: int) -> str:
        digits = str(abs(value))
        groups: list[str] = []
        while len(digits) > 3:
            groups.insert(0, digits[-3:])
            digits = digits[:-3]
        groups.insert(0, digits)
        return ("-" if value < 0 else "") + self.thousands.join(groups)

    def amount(self, amount: Amount) -> str:
        if isinstance(amount, str):
            return amount
        sign = "-" if amount.amount_minor < 0 else ""
        units, fraction = divmod(abs(amount.amount_minor), 10**amount.exponent)
        number = self.group(units)
        if amount.exponent:
            number += self.decimal + str(fraction).rjust(amount.exponent, "0")
        if self.symbol_after:
            return f"{sign}{number} {self.symbol}".rstrip()
        return f"{sign}{self.symbol}{number}"


class CodeKind(enum.StrEnum):
    """Which symbol carries the customer's loyalty id."""

    QR = "qr"
    CODE128 = "code128"
    BOTH = "both"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Labels:
    """The words a receipt prints around the application's data (Spanish by default)."""

    item: str = "Artículo"
    qty: str = "Cant"
    price: str = "Precio"
    amount: str = "Importe"
    change: str = "Cambio"
    points_earned: str = "Puntos ganados"
    balance: str = "Saldo de puntos"
    tier: str = "Nivel"
    loyalty_id: str = "Socio"


SPANISH = Labels()
CHINESE = Labels(
    item="商品",
    qty="数量",
    price="单价",
    amount="金额",
    change="找零",
    points_earned="本次积分",
    balance="积分余额",
    tier="会员等级",
    loyalty_id="会员号",
)


@dataclass(frozen=True, slots=True)
class Item:
    """One sold line: ``qty`` as a count or an already-written quantity ("1.250 kg")."""

    name: str
    qty: int | str
    unit_price: Amount
    amount: Amount


@dataclass(frozen=True, slots=True)
class Charge:
    """A labelled amount: a discount, a tax, a total or a tender."""

    label: str
    amount: Amount


@dataclass(frozen=True, slots=True)
class Loyalty:
    """The customer's points after this sale and the code that identifies them."""

    loyalty_id: str
    points_earned: int
    balance: int
    tier: str = ""
    code: CodeKind = CodeKind.QR


@dataclass(frozen=True, slots=True, eq=False)
class Receipt:
    """What a receipt says. ``totals[-1]`` is the grand total, printed large."""

    header: tuple[str, ...] = ()
    logo: Image.Image | None = None
    items: tuple[Item, ...] = ()
    discounts: tuple[Charge, ...] = ()
    taxes: tuple[Charge, ...] = ()
    totals: tuple[Charge, ...] = ()
    tenders: tuple[Charge, ...] = ()
    change: Amount | None = None
    loyalty: Loyalty | None = None
    footer: tuple[str, ...] = ()
    cut: bool = True
    labels: Labels = field(default=SPANISH)
    number_format: NumberFormat = field(default_factory=NumberFormat)

    def __post_init__(self) -> None:
        if len(self.items) > MAX_ITEMS:
            raise ValueError(f"a receipt holds at most MAX_ITEMS ({MAX_ITEMS}) items")
        if len(self.header) > MAX_FREE_LINES or len(self.footer) > MAX_FREE_LINES:
            raise ValueError(f"header and footer hold at most MAX_FREE_LINES ({MAX_FREE_LINES}) lines each")


@dataclass(frozen=True, slots=True)
class LoyaltySticker:
    """A small label for a customer's loyalty card: name, loyalty id as CODE128 and/or QR."""

    name: str
    loyalty_id: str
    code: CodeKind = CodeKind.BOTH
    caption: str = ""


def _codes(b: DocumentBuilder, loyalty_id: str, kind: CodeKind) -> None:
    """The customer's loyalty id as the symbol(s) ``kind`` asks for, QR first."""
    if kind in (CodeKind.QR, CodeKind.BOTH):
        b.qr(loyalty_id)
    if kind in (CodeKind.CODE128, CodeKind.BOTH):
        b.code128(loyalty_id)


def _items(b: DocumentBuilder, receipt: Receipt) -> None:
    fmt, labels, profile = receipt.number_format, receipt.labels, b.profile
    rows = [
        (
            item.name,
            *(profile.printable(x) for x in (str(item.qty), fmt.amount(item.unit_price), fmt.amount(item.amount))),
        )
        for item in receipt.items
    ]
    qty_w = max([profile.cells(profile.printable(labels.qty))] + [profile.cells(r[1]) for r in rows])
    price_w = max([profile.cells(profile.printable(labels.price))] + [profile.cells(r[2]) for r in rows])
    amount_w = max([profile.cells(profile.printable(labels.amount))] + [profile.cells(r[3]) for r in rows])
    name_w = b.width - qty_w - price_w - amount_w - 3
    if name_w >= MIN_NAME_COLUMNS:
        # Table layout: name | qty | unit price | amount, the name wrapped inside its column.
        def row(name: str, qty: str, price: str, amount: str) -> str:
            return " ".join(
                [
                    pad(profile, name, name_w),
                    pad(profile, qty, qty_w, "right"),
                    pad(profile, price, price_w, "right"),
                    pad(profile, amount, amount_w, "right"),
                ]
            )

        b.line(row(labels.item, labels.qty, labels.price, labels.amount), bold=True)
        b.rule()
        for name, qty, price, amount in rows:
            parts = wrap(profile, name, name_w)
            b.line(row(parts[0], qty, price, amount))
            for part in parts[1:]:
                b.line(part)
        return
    # Narrow paper: the name on its own (wrapped) lines, then "qty x price" and the amount.
    for name, qty, price, amount in rows:
        for part in wrap(profile, name, b.width):
            b.line(part)
        b.pair(f"  {qty} x {price}", amount)


def layout_receipt(receipt: Receipt, profile: PrinterProfile) -> Document:
    """Lay ``receipt`` out for ``profile``'s paper."""
    b = DocumentBuilder(profile)
    fmt, labels = receipt.number_format, receipt.labels
    if receipt.logo is not None:
        b.image(receipt.logo)
    for i, text in enumerate(receipt.header):
        b.centred(text, bold=i == 0, tall=i == 0)
    if receipt.header or receipt.logo is not None:
        b.line("")
    if receipt.items:
        _items(b, receipt)
        b.rule()
    for charge in (*receipt.discounts, *receipt.taxes):
        b.pair(charge.label, fmt.amount(charge.amount))
    for i, charge in enumerate(receipt.totals):
        grand = i == len(receipt.totals) - 1
        b.pair(charge.label, fmt.amount(charge.amount), bold=grand, tall=grand)
    if receipt.tenders or receipt.change is not None:
        b.line("")
    for charge in receipt.tenders:
        b.pair(charge.label, fmt.amount(charge.amount))
    if receipt.change is not None:
        b.pair(labels.change, fmt.amount(receipt.change))
    if receipt.loyalty is not None:
        loyalty = receipt.loyalty
        b.rule()
        b.pair(labels.points_earned, f"+{fmt.group(loyalty.points_earned)}")
        b.pair(labels.balance, fmt.group(loyalty.balance))
        if loyalty.tier:
            b.pair(labels.tier, loyalty.tier)
        _codes(b, loyalty.loyalty_id, loyalty.code)
        b.centred(f"{labels.loyalty_id} {loyalty.loyalty_id}")
    if receipt.footer:
        b.line("")
        for text in receipt.footer:
            b.centred(text)
    return b.build(cut=receipt.cut)


def layout_sticker(sticker: LoyaltySticker, profile: PrinterProfile) -> Document:
    """Lay a loyalty-id sticker out: the name large, the code(s), the id in clear, an optional caption."""
    b = DocumentBuilder(profile)
    b.centred(sticker.name, bold=True, tall=True)
    _codes(b, sticker.loyalty_id, sticker.code)
    b.centred(sticker.loyalty_id, bold=True)
    if sticker.caption:
        b.centred(sticker.caption)
    return b.build(cut=True)
