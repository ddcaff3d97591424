"""The box's services the counter UI calls, gathered in one object built on the UI's service thread.

The edge agent builds a :class:`WebServices` inside the factory it gives
:func:`edge_agent.web.create_app` (see :mod:`edge_agent.web.gate` for why it must be built there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from edge_agent import stock
from edge_agent.catalogue import Catalogue
from edge_agent.checkout import Checkout
from edge_agent.context import BadConfig, ContextProvider, ShopContext
from edge_agent.customers import CustomerBook
from edge_agent.identify import Identifier
from edge_agent.payments import PaymentProvider, SimulatedAcquirer
from edge_agent.stock import StockBook
from edge_agent.store import Store
from hardware.camera import Camera
from hardware.display import Display
from hardware.printer import PAPER_58MM, Printer, PrinterProfile

FINGER_WAIT_S: Final = 10.0
"""How long a fingerprint page waits for the finger (identify, verify, enrolment capture) before saying so."""


@dataclass
class WebServices:
    """What the pages use: the store (cashiers, receipts), the shop context and the business services.

    ``identifier`` is the box's fingerprint sensor (None when the box has none: the pages then offer no
    fingerprint buttons); ``finger_wait_s`` bounds each wait for a finger on it.
    """

    store: Store
    context: ContextProvider
    catalogue: Catalogue
    customers: CustomerBook
    checkout: Checkout
    stock: StockBook
    identifier: Identifier | None = None
    finger_wait_s: float = FINGER_WAIT_S
    camera: Camera | None = None
    """The counter camera, for the customer's photo at enrolment (None: no photo is offered)."""

    def shop(self) -> ShopContext:
        return self.context.current()

    def shop_language(self) -> str | None:
        """The language the shop's settings name, or None when the box has no usable settings yet."""
        try:
            return self.context.current().settings.language
        except BadConfig:
            return None


def build_services(
    store: Store,
    *,
    clock: Callable[[], datetime],
    online: Callable[[], bool],
    printer: Printer | None,
    display: Display | None,
    box_key: bytes | None = None,
    tenant_key: bytes | None = None,
    payments: PaymentProvider | None = None,
    profile: PrinterProfile = PAPER_58MM,
) -> WebServices:
    """The box's business services around ``store``, wired as the running agent wires them.

    The shop context, catalogue, customer book (``box_key`` seals biometrics at rest; None reads the box's
    key file beside the database), stock book and the checkout that ties them together, with the given
    printer and display and ``payments`` (the simulated acquirer when None). The agent, the simulated box and
    the benchmarks all sell through what this returns, so every sale is priced, earns and spends points and
    moves stock the same way.
    """
    context = ContextProvider(store)
    catalogue = Catalogue(store, tax_categories=context.tax_categories)
    customers = CustomerBook(store, box_key=box_key, tenant_key=tenant_key, clock=clock)
    checkout = Checkout(
        store,
        context,
        stock,
        customers,
        payments if payments is not None else SimulatedAcquirer(),
        printer,
        display,
        clock,
        online=online,
        catalogue=catalogue,
        profile=profile,
    )
    return WebServices(
        store=store,
        context=context,
        catalogue=catalogue,
        customers=customers,
        checkout=checkout,
        stock=StockBook(store),
    )
