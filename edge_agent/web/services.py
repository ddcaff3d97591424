"""The box's services the counter UI calls, gathered in one object built on the UI's service thread.

The edge agent builds a :class:`WebServices` inside the factory it gives
:func:`edge_agent.web.create_app` (see :mod:`edge_agent.web.gate` for why it must be built there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from edge_agent.catalogue import Catalogue
from edge_agent.checkout import Checkout
from edge_agent.context import BadConfig, ContextProvider, ShopContext
from edge_agent.customers import CustomerBook
from edge_agent.identify import Identifier
from edge_agent.stock import StockBook
from edge_agent.store import Store
from hardware.camera import Camera

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
