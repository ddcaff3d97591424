"""The checkout: ring up a sale, price it, take the tenders, commit it, print it; and refund it later.

A :class:`Checkout` is made once per box and opens a :class:`Sale` per customer at the counter::

    sale = checkout.start(cashier="ana")
    sale.add_barcode("7501234000017")          # UnknownBarcode -> the till offers "add item"
    sale.identify("MO1:481000000426")          # phone, sticker payload or typed loyalty id
    sale.use_points(100)                        # optional: pay part with points
    receipt = sale.price()                      # promotions, taxes, points, explanations for the screen
    sale.add_cash(20000)
    done = sale.complete()                      # one transaction, then the receipt and the OLED screen

Pricing is :func:`core.pricing.price` with the shop's context (:mod:`edge_agent.context`); tenders are
:func:`core.tenders.settle` with a ``TenderContext`` built from the customer's balance as this box knows it
(:func:`core.points.known_balance`: the hub's snapshot less points redeemed plus points earned in this box's
sales and refunds that the snapshot does not include, acked or not: see :mod:`edge_agent.customers`, "Points").
Points beyond that are refused online and offline alike
(:class:`core.points.PointsOverBalance`, which says how many are available); the offline allowance is the
hub's bound on concurrent spending at several stores, never points this box spends. A points tender always
goes first.

:meth:`Sale.complete` authorises wallet payment codes with the :class:`~edge_agent.payments.PaymentProvider`
(online only; the reference is derived from the sale, the code and the amount, so a retry after a timeout
never charges twice), then writes in **one** ``store.transaction()``: the ``sale`` row (customer, cashier,
tax added, points, and a JSON ``detail`` with the priced receipt, the settlement and what a refund needs),
its ``sale_line`` rows, the stock movements (``edge_agent.stock.apply_sale``), the ``sale`` event and the
customer's points journal row (:func:`edge_agent.customers.record_points`). An
exception anywhere before the commit leaves no row, no stock movement and no event, and gives back any
wallet payment already approved. Printing comes after the commit: a printer fault never undoes a sale; it
is reported in :attr:`CompletedSale.print_error` and :meth:`Checkout.reprint` prints it again.

:meth:`Checkout.refund` gives back whole or partial lines of a committed sale: the money goes back onto the
sale's tenders in ``core.tenders``' order (points first, then card, wallet, cash), the points the sale
earned are taken back in proportion to the money refunded, stock goes back (``edge_agent.stock.apply_refund``)
and a ``refund`` event is emitted, all in one transaction. Giving back more units than were sold (counting
earlier refunds) is refused.

Errors are ``core.errors.InvalidInput`` with a stable ``code`` (``PaymentDeclined``, ``SaleClosed``,
``core.tenders.WalletOffline``, ``core.tenders.CardNumberRefused``, ``edge_agent.catalogue.UnknownBarcode``)
or :class:`edge_agent.payments.PaymentError` for an acquirer that did not answer.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Concatenate, Final, ParamSpec, Protocol, TypeVar

from core import identity, wire
from core.errors import InvalidInput
from core.money import allocate
from core.pricing import MAX_BASKET_LINES, PricedReceipt, price
from core.pricing.from_sale import SoldLine, sale_basket
from core.pricing.model import Customer
from core.promotions.engine import PromotionUsage
from core.tax import Pricing
from core.tenders import (
    CardTender,
    CashTender,
    PointsTender,
    Refund,
    Settlement,
    Tender,
    TenderContext,
    TenderKind,
    WalletTender,
    looks_like_card_number,
    plan_refund,
    settle,
)
from edge_agent.catalogue import Catalogue, CatalogueItem
from edge_agent.context import ContextProvider, ShopContext
from edge_agent.customers import CachedCustomer, CustomerBook, record_points
from edge_agent.errors import EdgeError
from edge_agent.payments import Approval, PaymentProvider, PaymentRefused
from edge_agent.receipt_layout import Receipt, layout_receipt
from edge_agent.receipts import (
    CustomerPoints,
    basket_screen,
    build_receipt,
    build_refund_receipt,
    message_screen,
    paid_screen,
)
from edge_agent.store import Store, Transaction, drop_open_sale, load_open_sale, save_open_sale
from hardware.display import Display, Screen
from hardware.errors import HardwareError
from hardware.printer import PAPER_58MM, Printer, PrinterProfile, encode

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

__all__ = [
    "MAX_LINE_QTY",
    "MAX_SALE_LINES",
    "MAX_SALE_TENDERS",
    "Checkout",
    "CompletedRefund",
    "CompletedSale",
    "PaymentDeclined",
    "Sale",
    "SaleClosed",
    "SaleState",
    "StockLedger",
]

MAX_SALE_LINES: Final = min(MAX_BASKET_LINES, wire.MAX_SALE_LINES)
"""Lines one sale holds (core's basket bound and the sale event's)."""
MAX_SALE_TENDERS: Final = wire.MAX_TENDERS
"""Tenders one sale takes, the points tender included."""
MAX_LINE_QTY: Final = wire.MAX_QUANTITY
MAX_REASON_CHARS: Final = 200
MAX_CASHIER_CHARS: Final = 64
MAX_LIMITED_PROMOTIONS: Final = 1_000
"""Promotions with usage limits counted per pricing; more than this many limited promotions is a config error."""
OPEN_SALE_VERSION: Final = 1
"""Version of the JSON an open sale is kept in (``open_sale.state``)."""


class SaleClosed(InvalidInput, EdgeError):
    """The sale was already completed or cancelled: start a new one."""

    code = "sale_closed"


class PaymentDeclined(InvalidInput, EdgeError):
    """The wallet acquirer declined a payment code; the tender was removed, ask for another one."""

    code = "payment_declined"

    def __init__(self, field: str, problem: str, *, reason: str) -> None:
        super().__init__(field, problem)
        self.reason = reason


class StockLedger(Protocol):
    """What the checkout needs of the stock book (the ``edge_agent.stock`` module satisfies it)."""

    def apply_sale(self, tx: Transaction, sale_id: str, lines: Sequence[tuple[str, int]]) -> None: ...

    def apply_refund(self, tx: Transaction, refund_id: str, lines: Sequence[tuple[str, int]]) -> None: ...


class SaleState(enum.StrEnum):
    """Where a sale session is."""

    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass
class _Line:
    line_id: str
    item: CatalogueItem
    qty: int


@dataclass(frozen=True)
class CompletedSale:
    """A committed sale: what was priced and paid, and whether its receipt printed."""

    sale_id: str
    event_id: str
    seq: int
    priced: PricedReceipt
    settlement: Settlement
    customer: CustomerPoints | None
    offline: bool
    receipt: Receipt
    print_error: str | None = None
    """None when the receipt printed; otherwise what the printer said. The sale stands either way."""

    @property
    def printed(self) -> bool:
        return self.print_error is None


@dataclass(frozen=True)
class CompletedRefund:
    """A committed refund: where the money went and the points taken back."""

    refund_id: str
    sale_id: str
    event_id: str
    refund: Refund
    points_reversed: int
    lines: tuple[wire.RefundLine, ...]
    print_error: str | None = None


def _cashier(cashier: str | None) -> str | None:
    if cashier is None:
        return None
    if not isinstance(cashier, str) or not 1 <= len(cashier) <= MAX_CASHIER_CHARS:
        raise InvalidInput("cashier", f"give the cashier's id, 1 to {MAX_CASHIER_CHARS} characters")
    _no_card_number(cashier, "cashier")
    return cashier


def _no_card_number(text: str | None, field: str) -> None:
    from core.tenders import CardNumberRefused

    if text and looks_like_card_number(text):
        raise CardNumberRefused(field, "looks like a card number; card numbers are never written down here")


def _int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be a whole number, not {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidInput(field, f"must be between {low} and {high}, got {value}")
    return value


def _kept(method: Callable[Concatenate[Sale, P], R]) -> Callable[Concatenate[Sale, P], R]:
    """After ``method`` changed an owned open sale, write the sale down so it survives a restart."""

    def changed(sale: Sale, /, *args: P.args, **kwargs: P.kwargs) -> R:
        result = method(sale, *args, **kwargs)
        sale.keep()
        return result

    functools.update_wrapper(changed, method)
    return changed


class Sale:
    """One customer's sale at the counter; made by :meth:`Checkout.start`. Not thread-safe.

    A sale with an ``owner`` (the web session ringing it up) is written down after every change (basket,
    customer, points, tenders) and :meth:`Checkout.open_for` gives it back after a restart; wallet payment
    codes are single-use secrets and are not kept, so a wallet tender entered before a restart is asked
    for again.
    """

    def __init__(self, checkout: Checkout, sale_id: str, cashier: str | None, owner: str | None = None) -> None:
        self._checkout = checkout
        self.sale_id = sale_id
        self.cashier = cashier
        self.owner = owner
        self.state = SaleState.OPEN
        self.lines: list[_Line] = []
        self.customer: CachedCustomer | None = None
        self.points_to_redeem = 0
        self.tenders: list[Tender] = []
        self._next_line = 1
        self._approvals: dict[str, Approval] = {}

    # -- kept across restarts ----------------------------------------------------------------------------

    def state_json(self) -> str:
        """The sale as it is kept: lines (sku, quantity), customer, points and tenders, wallet codes left out."""
        tenders: list[dict[str, Any]] = []
        for tender in self.tenders:
            if isinstance(tender, CashTender):
                tenders.append({"kind": "cash", "amount_minor": tender.amount_minor})
            elif isinstance(tender, CardTender):
                tenders.append(
                    {
                        "kind": "card",
                        "amount_minor": tender.amount_minor,
                        "approval_code": tender.approval_code,
                        "terminal_reference": tender.terminal_reference,
                    }
                )
        state = {
            "version": OPEN_SALE_VERSION,
            "lines": [{"line_id": line.line_id, "sku": line.item.sku, "qty": line.qty} for line in self.lines],
            "next_line": self._next_line,
            "customer": self.customer.loyalty_id if self.customer is not None else None,
            "points": self.points_to_redeem,
            "tenders": tenders,
        }
        return json.dumps(state, ensure_ascii=False, separators=(",", ":"))

    def keep(self) -> None:
        """Write the open sale down for its owner (nothing for a sale without one, or once it is closed)."""
        if self.owner is None or self.state is not SaleState.OPEN:
            return
        if not save_open_sale(self._checkout.store, self.sale_id, self.owner, self.cashier, self.state_json()):
            log.info("sale %s is not kept: its session has ended", self.sale_id)

    def _restore(self, state: dict[str, Any]) -> None:
        """Fill a fresh sale from what :meth:`state_json` kept; what no longer applies is left out and logged."""
        checkout = self._checkout
        for kept in state.get("lines", [])[:MAX_SALE_LINES]:
            try:
                item = checkout.catalogue.by_sku(str(kept["sku"]))
                self.lines.append(_Line(str(kept["line_id"]), item, _int(kept["qty"], "qty", 1, MAX_LINE_QTY)))
            except (InvalidInput, KeyError, TypeError) as exc:
                log.warning("sale %s: a kept line is left out: %s", self.sale_id, exc)
        next_line = state.get("next_line")
        self._next_line = next_line if isinstance(next_line, int) and next_line > len(self.lines) else 1
        self._next_line = max(self._next_line, len(self.lines) + 1)
        loyalty_id = state.get("customer")
        if isinstance(loyalty_id, str):
            self.customer = checkout.customers.get(loyalty_id)
        points = state.get("points")
        if self.customer is not None and isinstance(points, int) and 0 < points <= wire.MAX_POINTS:
            self.points_to_redeem = points
        for kept in state.get("tenders", [])[:MAX_SALE_TENDERS]:
            try:
                if kept["kind"] == "cash":
                    self.tenders.append(CashTender(kept["amount_minor"]))
                elif kept["kind"] == "card":
                    self.tenders.append(
                        CardTender(kept["amount_minor"], kept["approval_code"], kept.get("terminal_reference"))
                    )
            except (InvalidInput, KeyError, TypeError) as exc:
                log.warning("sale %s: a kept tender is left out: %s", self.sale_id, exc)

    # -- basket ------------------------------------------------------------------------------------------

    def _open(self) -> None:
        if self.state is not SaleState.OPEN:
            raise SaleClosed("sale", f"sale {self.sale_id} is {self.state.value}; start a new sale")

    @_kept
    def _add(self, item: CatalogueItem, qty: int) -> _Line:
        self._open()
        _int(qty, "qty", 1, MAX_LINE_QTY)
        for line in self.lines:
            if line.item.sku == item.sku:
                line.qty = _int(line.qty + qty, "qty", 1, MAX_LINE_QTY)
                return line
        if len(self.lines) >= MAX_SALE_LINES:
            raise InvalidInput("lines", f"a sale holds at most {MAX_SALE_LINES} lines; complete this one first")
        line = _Line(f"L{self._next_line}", item, qty)
        self._next_line += 1
        self.lines.append(line)
        return line

    def add_barcode(self, barcode: str, qty: int = 1) -> _Line:
        """Add the item carrying ``barcode`` (scanning it again adds to its line). Unknown -> UnknownBarcode."""
        return self._add(self._checkout.catalogue.by_barcode(barcode), qty)

    def add_sku(self, sku: str, qty: int = 1) -> _Line:
        """Add the item with ``sku`` (from a search result)."""
        return self._add(self._checkout.catalogue.by_sku(sku), qty)

    def _line(self, line_id: str) -> _Line:
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise InvalidInput("line_id", f"{line_id!r} is not a line of this sale")

    @_kept
    def set_qty(self, line_id: str, qty: int) -> None:
        """Change a line's quantity (at least 1; void the line to remove it)."""
        self._open()
        self._line(line_id).qty = _int(qty, "qty", 1, MAX_LINE_QTY)

    @_kept
    def void_line(self, line_id: str) -> None:
        """Remove a line from the sale."""
        self._open()
        self.lines.remove(self._line(line_id))

    # -- customer and points -----------------------------------------------------------------------------

    @_kept
    def identify(self, text: str) -> CachedCustomer:
        """Attach the customer a phone, sticker payload or loyalty id names; InvalidInput if none matches."""
        self._open()
        found = self._checkout.customers.find(text)
        if found is None:
            raise InvalidInput(
                "customer", "no customer matches; check the number, scan the sticker again, or enrol them"
            )
        self.customer = found
        return found

    @_kept
    def set_customer(self, customer: CachedCustomer | None) -> None:
        """Attach a customer already found (by fingerprint, say), or detach with None."""
        self._open()
        self.customer = customer
        if customer is None:
            self.points_to_redeem = 0

    @_kept
    def use_points(self, points: int) -> None:
        """Pay ``points`` of the customer's points (0 to stop paying with points); checked when priced."""
        self._open()
        _int(points, "points", 0, wire.MAX_POINTS)
        if points and self.customer is None:
            raise InvalidInput("points", "identify the customer before paying with points")
        self.points_to_redeem = points

    # -- pricing -----------------------------------------------------------------------------------------

    def _pricing_customer(self) -> Customer | None:
        if self.customer is None:
            return None
        return self._checkout.customers.pricing_customer(self.customer)

    def _priced(self, context: ShopContext) -> PricedReceipt:
        if not self.lines:
            raise InvalidInput("lines", "the sale has no items yet; scan an item first")
        basket = sale_basket(
            context.currency,
            context.store,
            [
                SoldLine(
                    line_id=line.line_id,
                    sku=line.item.sku,
                    name=line.item.name,
                    category=line.item.category,
                    tax_category=line.item.tax_category,
                    distributor=line.item.distributor,
                    brand=line.item.brand,
                    qty=line.qty,
                    unit_price_minor=line.item.unit_price_minor,
                    measure_per_unit_milli=line.item.measure_per_unit_milli,
                )
                for line in self.lines
            ],
        )
        customer = self._pricing_customer()
        if self.points_to_redeem and context.program is None:
            raise InvalidInput("points", "this store has no points program to pay with")
        return price(
            basket,
            customer,
            context.program,
            context.promotions,
            context.jurisdiction,
            self._checkout.clock(),
            usage=self._checkout.promotion_usage(context, self.customer),
            redeem_points=self.points_to_redeem,
        )

    def price(self) -> PricedReceipt:
        """Price the sale as it stands (promotions with their explanations, taxes, points) and show the total
        on the customer's screen."""
        self._open()
        context = self._checkout.context_provider.current()
        priced = self._priced(context)
        self._checkout.show(basket_screen(priced, context.settings.language))
        return priced

    # -- tenders -----------------------------------------------------------------------------------------

    @_kept
    def _add_tender(self, tender: Tender) -> int:
        self._open()
        used = len(self.tenders) + (1 if self.points_to_redeem else 0)
        if used >= MAX_SALE_TENDERS:
            raise InvalidInput("tenders", f"a sale takes at most {MAX_SALE_TENDERS} tenders")
        self.tenders.append(tender)
        return len(self.tenders) - 1

    def add_cash(self, amount_minor: int) -> int:
        """Cash handed over; returns the tender's index."""
        return self._add_tender(CashTender(amount_minor))

    def add_card(self, amount_minor: int, approval_code: str, terminal_reference: str | None = None) -> int:
        """A payment approved on the external card terminal: the approval code, never the card number."""
        return self._add_tender(CardTender(amount_minor, approval_code, terminal_reference))

    def add_wallet(self, code: str, amount_minor: int | None = None) -> int:
        """A WeChat Pay or Alipay payment code for ``amount_minor`` (default: what is left to pay).

        Refused at once while the box is offline (``WalletOffline``): the codes expire within a minute.
        """
        self._open()
        context = self._checkout.context_provider.current()
        if not context.settings.wallets_enabled:
            raise InvalidInput("tenders", "wallet payments are not enabled at this store; ask for another tender")
        online = self._checkout.online()
        if amount_minor is None:
            amount_minor = self.settlement().due_minor
        tender = WalletTender(code, amount_minor)
        # settle() refuses a wallet offline; checking now tells the cashier before the code expires.
        settle(amount_minor, context.currency, [tender], TenderContext(online=online))
        return self._add_tender(tender)

    @_kept
    def remove_tender(self, index: int) -> None:
        """Take a tender back off the sale (the cashier entered it wrongly)."""
        self._open()
        if not 0 <= index < len(self.tenders):
            raise InvalidInput("index", f"there is no tender {index}")
        del self.tenders[index]

    def _tender_context(self, context: ShopContext, online: bool) -> TenderContext:
        if self.customer is None:
            return TenderContext(online=online, program=context.program)
        balance = self._checkout.customers.balance(self.customer)
        return TenderContext(online=online, program=context.program, balance_points=balance)

    def _all_tenders(self) -> list[Tender]:
        points: list[Tender] = [PointsTender(self.points_to_redeem)] if self.points_to_redeem else []
        return points + list(self.tenders)

    def settlement(self, *, require_paid: bool = False) -> Settlement:
        """The tenders applied to the priced total so far: what is paid, what is still due, the change."""
        self._open()
        context = self._checkout.context_provider.current()
        online = self._checkout.online()
        priced = self._priced(context)
        return settle(
            priced.totals.total_minor,
            context.currency,
            self._all_tenders(),
            self._tender_context(context, online),
            require_paid=require_paid,
        )

    # -- the end -----------------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Abandon the sale: nothing is written; wallet payments already approved for it are given back."""
        self._open()
        self._checkout.give_back(self._approvals.values(), f"{self.sale_id} cancelled")
        self._approvals.clear()
        self.state = SaleState.CANCELLED
        if self.owner is not None:
            with self._checkout.store.transaction() as tx:
                drop_open_sale(tx.conn, self.sale_id)

    def _authorise(self, settlement: Settlement, currency: str) -> dict[int, Approval]:
        approved: dict[int, Approval] = {}
        for index in settlement.authorisation_needed:
            line = settlement.lines[index]
            assert line.wallet_provider is not None and line.wallet_code is not None
            digest = hashlib.sha256(f"{line.wallet_code}:{line.amount_minor}".encode()).hexdigest()[:12]
            reference = f"{self.sale_id}.{digest}"
            known = self._approvals.get(reference)
            if known is None:
                answer = self._checkout.payments.authorise(
                    line.wallet_provider, line.wallet_code, line.amount_minor, currency, reference
                )
                if not isinstance(answer, Approval):
                    # Drop the declined tender (index counts the points tender first).
                    del self.tenders[index - (1 if self.points_to_redeem else 0)]
                    self.keep()
                    self._checkout.show(message_screen(answer.message))
                    raise PaymentDeclined(
                        f"tenders[{index}]",
                        f"{answer.message}; the tender was removed, ask for another one",
                        reason=answer.reason,
                    )
                self._approvals[reference] = answer
                known = answer
            approved[index] = known
        return approved

    def complete(self) -> CompletedSale:
        """Commit the sale (one transaction), then print the receipt and show the customer's screen."""
        self._open()
        checkout = self._checkout
        context = checkout.context_provider.current()
        online = checkout.online()
        priced = self._priced(context)
        settlement = settle(
            priced.totals.total_minor, context.currency, self._all_tenders(), self._tender_context(context, online)
        )
        if settlement.authorisation_needed and not context.settings.wallets_enabled:
            raise InvalidInput("tenders", "wallet payments are not enabled at this store; ask for another tender")
        approvals = self._authorise(settlement, context.currency)
        points = self._customer_points(priced)
        try:
            event_id, seq = checkout.commit_sale(self, context, priced, settlement, approvals, points, online)
        except BaseException:
            checkout.give_back(approvals.values(), f"{self.sale_id} not recorded")
            self._approvals.clear()
            raise
        self.state = SaleState.COMPLETED
        self._approvals.clear()
        receipt = checkout.sale_receipt(context, priced, settlement, self.sale_id, points)
        error = checkout.print_receipt(receipt)
        checkout.show(paid_screen(settlement, context.settings.language, points))
        return CompletedSale(
            sale_id=self.sale_id,
            event_id=str(event_id),
            seq=seq,
            priced=priced,
            settlement=settlement,
            customer=points,
            offline=not online,
            receipt=receipt,
            print_error=error,
        )

    def _customer_points(self, priced: PricedReceipt) -> CustomerPoints | None:
        if self.customer is None or priced.points_balance_after is None:
            return None
        lid = identity.parse(self.customer.loyalty_id)
        return CustomerPoints(
            loyalty_id=lid.digits,
            sticker=lid.sticker,
            points_earned=priced.points.total if priced.points is not None else 0,
            balance_after=priced.points_balance_after,
            tier_name=priced.tier.tier_name if priced.tier is not None else None,
        )


def _settlement_json(settlement: Settlement) -> dict[str, Any]:
    """The settlement as stored: wallet payment codes are single-use secrets and are not kept."""
    data = settlement.model_dump(mode="json")
    for line in data["lines"]:
        line["wallet_code"] = None
    return data


class Checkout:
    """The box's checkout service: sale sessions, refunds and reprints (see the module docstring).

    ``stock`` is the stock book (``edge_agent.stock``); ``customers`` the customer book; ``payments`` the
    wallet acquirer; ``printer`` and ``display`` may be None on a box without them. ``online`` says whether
    the box reaches the hub now (the relay's connection state); ``clock`` gives aware UTC times.
    """

    def __init__(
        self,
        store: Store,
        context_provider: ContextProvider,
        stock: StockLedger,
        customers: CustomerBook,
        payments: PaymentProvider,
        printer: Printer | None,
        display: Display | None,
        clock: Callable[[], datetime],
        *,
        online: Callable[[], bool] = lambda: False,
        profile: PrinterProfile = PAPER_58MM,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.store = store
        self.context_provider = context_provider
        self.stock = stock
        self.customers = customers
        self.payments = payments
        self.printer = printer
        self.display = display
        self.clock = clock
        self.online = online
        self.profile = profile
        self.catalogue = catalogue or Catalogue(store, tax_categories=context_provider.tax_categories)

    def start(self, cashier: str | None = None, *, owner: str | None = None) -> Sale:
        """Open a new sale session; one with an ``owner`` (a web session's key) is kept across restarts."""
        return Sale(self, str(self.store.new_event_id()), _cashier(cashier), owner)

    def open_for(self, owner: str, cashier: str | None = None) -> Sale:
        """The open sale kept for ``owner``, as it was before a restart; a new one when none is kept."""
        kept = load_open_sale(self.store, owner)
        if kept is not None:
            sale_id, kept_cashier, state_text = kept
            resumed = self._resume(owner, sale_id, kept_cashier, state_text)
            if resumed is not None:
                return resumed
        return self.start(cashier, owner=owner)

    def _resume(self, owner: str, sale_id: str, cashier: str | None, state_text: str) -> Sale | None:
        committed = self.store.conn.execute("SELECT 1 FROM sale WHERE sale_id = ?", (sale_id,)).fetchone()
        try:
            state = json.loads(state_text)
            if committed is not None or not isinstance(state, dict) or state.get("version") != OPEN_SALE_VERSION:
                raise ValueError("already completed" if committed is not None else "not a kept sale this box reads")
        except ValueError as exc:
            log.warning("open sale %s is not resumed: %s", sale_id, exc)
            with self.store.transaction() as tx:
                drop_open_sale(tx.conn, sale_id)
            return None
        sale = Sale(self, sale_id, cashier, owner)
        sale._restore(state)
        return sale

    def promotion_usage(self, context: ShopContext, customer: CachedCustomer | None) -> dict[str, PromotionUsage]:
        """How often each promotion with a usage limit was applied in this box's sales (refunds included:
        a use is a ticket, as core counts it). Other boxes' uses reach the box through the hub's snapshots."""
        limited = [p.id for p in context.promotions if p.limits.max_uses_total or p.limits.max_uses_per_customer]
        usage: dict[str, PromotionUsage] = {}
        for promotion_id in limited[:MAX_LIMITED_PROMOTIONS]:
            total, mine = self.store.conn.execute(
                "SELECT count(*), coalesce(sum(s.customer IS ? AND s.customer IS NOT NULL), 0) "
                "FROM sale s, json_each(s.detail, '$.priced.promotions') p "
                "WHERE json_extract(p.value, '$.promotion_id') = ? AND json_extract(p.value, '$.status') = 'applied'",
                (customer.loyalty_id if customer is not None else None, promotion_id),
            ).fetchone()
            usage[promotion_id] = PromotionUsage(total_uses=int(total), customer_uses=int(mine))
        return usage

    # -- devices -----------------------------------------------------------------------------------------

    def show(self, screen: Screen) -> None:
        """Show ``screen`` to the customer; a display fault is logged, never raised into a sale."""
        if self.display is None:
            return
        try:
            self.display.show(screen)
        except (HardwareError, OSError, ValueError) as exc:
            log.warning("customer display: %s", exc)

    def print_receipt(self, receipt: Receipt) -> str | None:
        """Print ``receipt``; returns None when printed, else what went wrong (the caller reports it)."""
        if self.printer is None:
            return "no receipt printer is configured"
        try:
            self.printer.print_job(encode(layout_receipt(receipt, self.profile)))
        except (HardwareError, OSError, ValueError) as exc:
            log.warning("receipt not printed: %s", exc)
            return str(exc)
        return None

    def give_back(self, approvals: Any, why: str) -> None:
        """Refund wallet approvals that no recorded sale uses (a failed commit, a cancelled sale)."""
        for approval in list(approvals):
            try:
                self.payments.refund(
                    approval.transaction_id, approval.amount_minor, reference=f"{approval.reference}.void"
                )
            except Exception:  # the sale's own error matters more; this one is logged for the shopkeeper
                log.exception("could not give back wallet payment %s (%s)", approval.transaction_id, why)

    # -- commit ------------------------------------------------------------------------------------------

    def commit_sale(
        self,
        sale: Sale,
        context: ShopContext,
        priced: PricedReceipt,
        settlement: Settlement,
        approvals: dict[int, Approval],
        points: CustomerPoints | None,
        online: bool,
    ) -> tuple[str, int]:
        """Write the sale, its lines, its stock movements and its event in one transaction."""
        inclusive = context.jurisdiction.pricing is Pricing.INCLUSIVE
        totals = priced.totals
        tax_added = totals.total_minor - totals.amount_minor
        if tax_added < 0:
            raise InvalidInput("sale", f"taxes came to {tax_added}; the jurisdiction file looks wrong")
        items = {line.line_id: line.item for line in sale.lines}
        weights = [line.total_minor for line in priced.lines]
        paid = allocate(totals.total_minor, weights) if sum(weights) else [0] * len(weights)
        tenders = []
        for line in settlement.lines:
            reference = line.approval_code
            if line.kind is TenderKind.WALLET:
                reference = approvals[line.index].transaction_id
            tenders.append(
                wire.TenderRecord(
                    kind=line.kind.value,
                    amount_minor=line.amount_minor,
                    points=line.points,
                    reference=reference,
                    provider=line.wallet_provider.value if line.wallet_provider is not None else None,
                )
            )
        data = wire.SaleData(
            sale_id=sale.sale_id,
            store=context.store.store_id,
            currency=context.currency,
            lines=[
                wire.SaleLine(
                    sku=line.item_id,
                    name=line.description[:120],
                    qty=line.quantity,
                    unit_price_minor=line.unit_price_minor,
                    discount_minor=line.discount_minor,
                    amount_minor=line.amount_minor,
                    category=line.category,
                    tax_category=line.tax_category,
                    brand=items[line.line_id].brand,
                    distributor=items[line.line_id].distributor,
                )
                for line in priced.lines
            ],
            total_minor=totals.total_minor,
            tax_added_minor=tax_added,
            tax_included_minor=totals.tax_minor if inclusive else 0,
            customer=sale.customer.loyalty_id if sale.customer is not None else None,
            cashier=sale.cashier,
            tenders=tenders,
            points_earned=points.points_earned if points is not None else 0,
            points_redeemed=settlement.points_spent,
            offline_hold_points=settlement.offline_hold_points,
            promotion_set_version=context.promotion_set_version,
            promotions=[
                wire.AppliedPromotion(promotion_id=p.promotion_id, discount_minor=p.discount_minor, points=p.points)
                for p in priced.promotions
                if p.status == "applied"
            ][: wire.MAX_PROMOTIONS_PER_SALE],
            offline=not online,
        )
        detail = {
            "priced": priced.model_dump(mode="json"),
            "settlement": _settlement_json(settlement),
            "line_paid_minor": paid,
            "wallet_transactions": {str(i): a.transaction_id for i, a in approvals.items()},
            "terminal_references": {
                str(t.index): t.terminal_reference for t in settlement.lines if t.terminal_reference
            },
            "customer": None if points is None else asdict(points),
            "language": context.settings.language,
            "jurisdiction_pricing": context.jurisdiction.pricing.value,
        }
        event_id = self.store.new_event_id()
        with self.store.transaction() as tx:
            cur = tx.conn.execute(
                "INSERT INTO sale (sale_id, event_id, store, currency, total_minor, created_at, customer, cashier, "
                "tax_added_minor, points_earned, points_redeemed, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    data.sale_id,
                    str(event_id),
                    data.store,
                    data.currency,
                    data.total_minor,
                    tx.now.isoformat(),
                    data.customer,
                    data.cashier,
                    data.tax_added_minor,
                    data.points_earned,
                    data.points_redeemed,
                    json.dumps(detail, ensure_ascii=False, separators=(",", ":")),
                ),
            )
            tx.conn.executemany(
                "INSERT INTO sale_line (sale_pk, line_no, sku, name, qty, unit_price_minor, discount_minor, "
                "amount_minor, category, cost_minor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        cur.lastrowid,
                        no,
                        line.sku,
                        line.name,
                        line.qty,
                        line.unit_price_minor,
                        line.discount_minor,
                        line.amount_minor,
                        line.category,
                        items[priced.lines[no - 1].line_id].cost_minor,
                    )
                    for no, line in enumerate(data.lines, start=1)
                ],
            )
            self.stock.apply_sale(tx, data.sale_id, [(line.sku, line.qty) for line in data.lines])
            # With the sale itself: a restart after this commit never offers the same basket again.
            drop_open_sale(tx.conn, data.sale_id)
            _, seq = tx.emit(data, event_id=event_id)
            if data.customer is not None:
                record_points(tx, data.customer, seq, redeemed=data.points_redeemed, earned=data.points_earned)
        return str(event_id), seq

    def sale_receipt(
        self,
        context: ShopContext,
        priced: PricedReceipt,
        settlement: Settlement,
        sale_id: str,
        points: CustomerPoints | None,
    ) -> Receipt:
        return build_receipt(
            priced,
            settlement,
            language=context.settings.language,
            header=context.settings.receipt.header,
            footer=context.settings.receipt.footer,
            pricing=context.jurisdiction.pricing,
            sale_id=sale_id,
            timezone=context.store.timezone,
            customer=points,
        )

    # -- after the sale ----------------------------------------------------------------------------------

    def _sale_row(self, sale_id: str) -> tuple[int, dict[str, Any], str | None, int, int]:
        row = self.store.conn.execute(
            "SELECT id, detail, customer, total_minor, points_earned FROM sale WHERE sale_id = ?", (sale_id,)
        ).fetchone()
        if row is None or row[1] is None:
            raise InvalidInput("sale_id", f"{sale_id!r} is not a sale of this box with its receipt")
        return int(row[0]), json.loads(row[1]), row[2], int(row[3]), int(row[4])

    def reprint(self, sale_id: str) -> str | None:
        """Print a committed sale's receipt again; returns None when printed, else the printer's problem."""
        _, detail, _, _, _ = self._sale_row(sale_id)
        context = self.context_provider.current()
        priced = PricedReceipt.model_validate(detail["priced"])
        settlement = Settlement.model_validate(detail["settlement"])
        points = CustomerPoints(**detail["customer"]) if detail["customer"] else None
        receipt = build_receipt(
            priced,
            settlement,
            language=detail.get("language", context.settings.language),
            header=context.settings.receipt.header,
            footer=context.settings.receipt.footer,
            pricing=Pricing(detail.get("jurisdiction_pricing", context.jurisdiction.pricing.value)),
            sale_id=sale_id,
            timezone=context.store.timezone,
            customer=points,
        )
        return self.print_receipt(receipt)

    def refund(
        self,
        sale_id: str,
        lines: Sequence[tuple[int, int]] | None = None,
        *,
        cashier: str | None = None,
        reason: str = "",
    ) -> CompletedRefund:
        """Give back ``lines`` (``(line_no, qty)`` pairs, line numbers from 1) of a sale, or all that is left.

        Money goes back onto the sale's tenders, points paid go back, points earned are taken back in
        proportion, stock is put back, and a ``refund`` event is emitted, in one transaction.
        """
        _no_card_number(reason, "reason")
        _cashier(cashier)
        if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
            raise InvalidInput("reason", f"at most {MAX_REASON_CHARS} characters")
        sale_pk, detail, customer, total_minor, earned = self._sale_row(sale_id)
        settlement = Settlement.model_validate(detail["settlement"])
        paid: list[int] = detail["line_paid_minor"]
        sold = self.store.conn.execute(
            "SELECT line_no, sku, name, qty, refunded_qty FROM sale_line WHERE sale_pk = ? ORDER BY line_no",
            (sale_pk,),
        ).fetchall()
        earlier_rows = self.store.conn.execute(
            "SELECT detail FROM refund WHERE sale_id = ? ORDER BY created_at, refund_id", (sale_id,)
        ).fetchall()
        earlier = [Refund.model_validate(json.loads(d)["refund"]) for (d,) in earlier_rows]
        if lines is None:
            lines = [(no, qty - done) for no, _, _, qty, done in sold if qty > done]
            if not lines:
                raise InvalidInput("lines", f"sale {sale_id} was already refunded in full")
        if not lines or len(lines) > wire.MAX_SALE_LINES:
            raise InvalidInput("lines", f"name 1 to {wire.MAX_SALE_LINES} lines to give back")
        wanted: dict[int, int] = {}
        for position, pair in enumerate(lines):
            no, qty = pair
            _int(no, f"lines[{position}].line_no", 1, len(sold))
            wanted[no] = wanted.get(no, 0) + _int(qty, f"lines[{position}].qty", 1, MAX_LINE_QTY)
        refund_lines: list[wire.RefundLine] = []
        stock_lines: list[tuple[str, int]] = []
        slip: list[tuple[str, int, int]] = []
        for no, qty in sorted(wanted.items()):
            _, sku, name, sold_qty, done = sold[no - 1]
            if qty > sold_qty - done:
                raise InvalidInput(
                    f"lines.{no}",
                    f"{qty} of {name} asked back but {sold_qty - done} of the {sold_qty} sold are left to refund",
                    code="refund_over_sold",
                )
            line_paid = paid[no - 1]
            # Cumulative, so the parts of successive partial refunds add up to exactly what the line paid.
            amount = line_paid * (done + qty) // sold_qty - line_paid * done // sold_qty
            refund_lines.append(wire.RefundLine(line_no=no, sku=sku, qty=qty, amount_minor=amount))
            stock_lines.append((sku, qty))
            slip.append((name, qty, amount))
        money = [line.amount_minor for line in refund_lines if line.amount_minor]
        if money:
            plan = plan_refund(settlement, money, earlier=earlier)
        else:
            plan = Refund(
                currency=settlement.currency,
                refund_minor=0,
                points_returned=0,
                cash_out_minor=0,
                cash_rounding_minor=0,
                authorisation_needed=(),
                lines=(),
            )
        refunded_before = sum(r.refund_minor for r in earlier)
        reversed_points = 0
        if earned and total_minor:
            # Cumulative like the money: a full refund, in one go or in parts, takes back every point earned.
            after = refunded_before + plan.refund_minor
            reversed_points = earned * after // total_minor - earned * refunded_before // total_minor
        refund_id = str(self.store.new_event_id())
        if any(line.kind is TenderKind.WALLET for line in plan.lines) and not self.online():
            raise InvalidInput(
                "refund", "this refund goes back to a wallet payment and the box is offline; try again when online"
            )
        tenders: list[wire.TenderRecord] = []
        wallet = detail.get("wallet_transactions", {})
        for position, line in enumerate(plan.lines):
            reference = line.approval_code
            if line.kind is TenderKind.WALLET:
                transaction_id = wallet[str(line.tender_index)]
                try:
                    receipt = self.payments.refund(
                        transaction_id, line.amount_minor, reference=f"{refund_id}.{position}"
                    )
                except PaymentRefused as exc:
                    raise InvalidInput("refund", f"the wallet acquirer refused the refund: {exc}") from exc
                reference = receipt.refund_id
            tenders.append(
                wire.TenderRecord(
                    kind=line.kind.value,
                    amount_minor=line.amount_minor,
                    points=line.points,
                    reference=reference,
                    provider=line.wallet_provider.value if line.wallet_provider is not None else None,
                )
            )
        if not tenders:
            tenders.append(wire.TenderRecord(kind="cash", amount_minor=0))
        context = self.context_provider.current()
        data = wire.RefundData(
            refund_id=refund_id,
            sale_id=sale_id,
            store=context.store.store_id,
            currency=settlement.currency,
            lines=refund_lines,
            total_minor=plan.refund_minor,
            tenders=tenders,
            points_reversed=reversed_points,
            customer=customer,
            cashier=cashier,
            reason=reason,
        )
        event_id = self.store.new_event_id()
        record = {"refund": plan.model_dump(mode="json"), "lines": [line.model_dump() for line in refund_lines]}
        with self.store.transaction() as tx:
            tx.conn.execute(
                "INSERT INTO refund (refund_id, sale_id, event_id, total_minor, points_reversed, created_at, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    refund_id,
                    sale_id,
                    str(event_id),
                    plan.refund_minor,
                    reversed_points,
                    tx.now.isoformat(),
                    json.dumps(record, separators=(",", ":")),
                ),
            )
            tx.conn.execute(
                "UPDATE sale SET refunded_minor = refunded_minor + ? WHERE id = ?", (plan.refund_minor, sale_pk)
            )
            tx.conn.executemany(
                "UPDATE sale_line SET refunded_qty = refunded_qty + ? WHERE sale_pk = ? AND line_no = ?",
                [(line.qty, sale_pk, line.line_no) for line in refund_lines],
            )
            self.stock.apply_refund(tx, refund_id, stock_lines)
            _, seq = tx.emit(data, event_id=event_id)
            if customer is not None:
                returned = sum(t.points for t in tenders if t.kind == TenderKind.POINTS.value)
                record_points(tx, customer, seq, redeemed=-returned, earned=-reversed_points)
            when = tx.now
        slip_receipt = build_refund_receipt(
            plan,
            tuple(slip),
            language=context.settings.language,
            header=context.settings.receipt.header,
            refund_id=refund_id,
            sale_id=sale_id,
            when=when,
            timezone=context.store.timezone,
            points_reversed=reversed_points,
        )
        error = self.print_receipt(slip_receipt)
        return CompletedRefund(
            refund_id=refund_id,
            sale_id=sale_id,
            event_id=str(event_id),
            refund=plan,
            points_reversed=reversed_points,
            lines=tuple(refund_lines),
            print_error=error,
        )
