"""A simulated cashier driving the real counter application: the demo's shops and the checkout benchmark.

:class:`SimulatedCashier` rings up plausible tickets through :class:`edge_agent.checkout.Checkout` exactly as
the mPOS does: items scanned by barcode from the box's catalogue, a customer enrolled or found by phone on
some tickets, points spent now and then, cash (with change) or a card on the external terminal, and once in
a while a refund of an earlier ticket. Everything a real sale does happens: pricing with promotions and
taxes, the points, the stock movements and alerts, the receipt bytes on the (simulated) printer and the
events in the outbox. Randomness comes from the ``random.Random`` it is given, so a seed replays a day.

:func:`simulated_counter` builds that application's services around a box's store without the web UI, with
a simulated printer and display: the simulated box (``python -m edge_agent.simulate``), the benchmarks and
the tests that need sales in a box's outbox sell through it, since the checkout is the only way a sale is
written.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from core.errors import CoreError
from edge_agent.checkout import CompletedSale, Sale, SaleState
from edge_agent.context import load_defaults
from edge_agent.customers import CachedCustomer, CustomerError, EnrolmentForm
from edge_agent.payments import PaymentError
from edge_agent.store import Store, StoreError
from edge_agent.web.services import WebServices, build_services
from hardware.display import SimulatedDisplay
from hardware.printer import SimulatedPrinter

MAX_LINES: Final = 6
ENROL_SHARE: Final = 0.08
"""Share of tickets on which a new customer joins."""
MEMBER_SHARE: Final = 0.35
"""Share of tickets on which a known customer gives their phone."""
POINTS_SHARE: Final = 0.3
"""Share of member tickets paid partly with points (when the balance allows)."""
CARD_SHARE: Final = 0.3
REFUND_EVERY: Final = 40
"""About one ticket in this many is followed by a refund of an earlier ticket."""
MAX_REMEMBERED: Final = 500
"""Recent sales the cashier remembers for refunds (bounded: the simulation may run for days)."""

REFUSALS: Final = (CoreError, CustomerError, PaymentError, StoreError)
"""What a till refuses a ticket with (bad input, a declined payment, a full outbox): counted, never fatal."""

_FIRST = ("María", "José", "Guadalupe", "Juan", "Rosa", "Luis", "Ana", "Carlos", "Lucía", "Miguel")
_LAST = ("López", "García", "Hernández", "Martínez", "Pérez", "Sánchez", "Ramírez", "Flores", "Cruz")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def simulated_counter(
    store: Store,
    *,
    clock: Callable[[], datetime] = _utc_now,
    online: Callable[[], bool] = lambda: True,
    box_key: bytes | None = None,
) -> WebServices:
    """The box's real services around ``store`` (checkout, catalogue, pricing, points, stock, customers) with a
    simulated printer and display; a box with no configuration gets the embedded demo one first.

    ``online`` says whether the box reaches the hub (wallet payments need it); ``box_key`` seals biometrics
    at rest (None: the key file beside the database, made on first use).
    """
    load_defaults(store)
    return build_services(
        store,
        clock=clock,
        online=online,
        printer=SimulatedPrinter(),
        display=SimulatedDisplay(),
        box_key=box_key,
    )


@dataclass
class CashierStats:
    """What the simulated cashier did."""

    sales: int = 0
    refunds: int = 0
    enrolments: int = 0
    points_tenders: int = 0
    refused: int = 0
    print_errors: int = 0
    last_problem: str = ""
    by_reason: dict[str, int] = field(default_factory=dict)


class SimulatedCashier:
    """Rings up one ticket per :meth:`ring_up` call; call it on the box's service thread."""

    def __init__(
        self,
        rng: random.Random,
        *,
        cashier: str = "sim",
        phone_prefix: str = "+5255",
        refund_every: int = REFUND_EVERY,
    ) -> None:
        if refund_every < 1:
            raise ValueError(f"refund_every must be at least 1 (one ticket in that many), got {refund_every}")
        self.rng = rng
        self.refund_every = refund_every
        self.cashier = cashier
        self.phone_prefix = phone_prefix
        self.stats = CashierStats()
        self._barcodes: list[str] = []
        self._sales: list[str] = []

    def _catalogue(self, services: WebServices) -> list[str]:
        if not self._barcodes:
            rows = services.store.conn.execute(
                "SELECT b.barcode FROM item_barcode b JOIN item i ON i.sku = b.sku WHERE i.active = 1 "
                "ORDER BY b.barcode"
            ).fetchall()
            self._barcodes = [row[0] for row in rows]
        return self._barcodes

    def _remember(self, bucket: list[str], value: str) -> None:
        bucket.append(value)
        if len(bucket) > MAX_REMEMBERED:
            del bucket[0]

    def _customer(self, services: WebServices) -> CachedCustomer | None:
        rng = self.rng
        roll = rng.random()
        if roll < ENROL_SHARE:
            phone = f"{self.phone_prefix}{rng.randrange(10**7, 10**8)}"
            form = EnrolmentForm(
                name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                phone=phone,
                marketing_consent=rng.random() < 0.6,
            )
            enrolment = services.customers.enrol(form, cashier=self.cashier)
            if not enrolment.existing:
                self.stats.enrolments += 1
            return enrolment.customer
        if roll < ENROL_SHARE + MEMBER_SHARE:
            # Anyone in the box's customer cache: members enrolled here and, from the hub's snapshots, at the
            # network's other stores (their points are good here too).
            conn = services.store.conn
            known = int(conn.execute("SELECT count(*) FROM customer WHERE phone_e164 IS NOT NULL").fetchone()[0])
            if not known:
                return None
            row = conn.execute(
                "SELECT phone_e164 FROM customer WHERE phone_e164 IS NOT NULL ORDER BY loyalty_id LIMIT 1 OFFSET ?",
                (rng.randrange(known),),
            ).fetchone()
            return services.customers.find(row[0]) if row is not None else None
        return None

    def _fill(self, sale: Sale, services: WebServices) -> None:
        rng = self.rng
        barcodes = self._catalogue(services)
        for code in rng.sample(barcodes, min(len(barcodes), rng.randint(1, MAX_LINES))):
            sale.add_barcode(code, rng.choice((1, 1, 1, 2, 3)))

    def ring_up(self, services: WebServices, *, lines: int | None = None) -> CompletedSale | None:
        """One ticket, start to receipt; returns the completed sale, or None when it was refused."""
        rng = self.rng
        sale = services.checkout.start(cashier=self.cashier)
        try:
            if lines is None:
                self._fill(sale, services)
            else:
                barcodes = self._catalogue(services)
                for code in rng.sample(barcodes, min(lines, len(barcodes))):
                    sale.add_barcode(code)
            customer = self._customer(services)
            if customer is not None:
                sale.set_customer(customer)
                self._pay_with_points(sale, services, customer)
            self._tender(sale)
            done = sale.complete()
        except REFUSALS as exc:
            if sale.state is SaleState.OPEN:
                sale.cancel()
            self.stats.refused += 1
            self.stats.last_problem = str(exc)
            code = getattr(exc, "code", type(exc).__name__)
            self.stats.by_reason[code] = self.stats.by_reason.get(code, 0) + 1
            return None
        self.stats.sales += 1
        if done.print_error:
            self.stats.print_errors += 1
        self._remember(self._sales, done.sale_id)
        if rng.randrange(self.refund_every) == 0 and len(self._sales) > 1:
            self._refund(services)
        return done

    def _pay_with_points(self, sale: Sale, services: WebServices, customer: CachedCustomer) -> None:
        if self.rng.random() >= POINTS_SHARE:
            return
        balance = services.customers.balance(customer)
        if balance <= 0:
            return
        sale.use_points(min(balance, 100 * self.rng.randint(1, 5)))
        try:
            sale.price()
        except CoreError:
            sale.use_points(0)  # under the minimum, or over the share points may pay: pay it all in money
            return
        self.stats.points_tenders += 1

    def _tender(self, sale: Sale) -> None:
        settlement = sale.settlement()
        due = settlement.due_minor
        if due == 0:
            return
        if self.rng.random() < CARD_SHARE:
            sale.add_card(due, f"{self.rng.randrange(10**6):06d}")
            return
        cash_due = settlement.cash_due_minor
        note = 5_000 if cash_due <= 5_000 else 10_000 if cash_due <= 10_000 else 50_000
        sale.add_cash(max(cash_due, note) if self.rng.random() < 0.7 else cash_due)

    def _refund(self, services: WebServices) -> None:
        sale_id = self.rng.choice(self._sales[:-1])
        try:
            services.checkout.refund(sale_id, None, cashier=self.cashier, reason="customer changed their mind")
        except CoreError as exc:  # already refunded in full, or a wallet refund while offline
            self.stats.last_problem = str(exc)
            return
        self.stats.refunds += 1
