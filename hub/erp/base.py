"""The hub's narrow view of an ERP: products with prices, stock levels, and purchase orders from reorders.

A connector (:class:`ERPConnector`) does three things and nothing else:

* :meth:`~ERPConnector.products_changed_since` returns the products whose data changed since an opaque
  cursor, with prices already in integer minor units, plus the next cursor. The caller stores the cursor
  string wherever it keeps state and passes it back on the next poll; ``None`` asks for everything.
* :meth:`~ERPConnector.stock_levels` returns on-hand and forecast quantities per warehouse.
* :meth:`~ERPConnector.create_purchase_order` turns a :class:`PurchaseRequest` (a supplier and sku/qty lines,
  usually made from a box's ``reorder_request`` event) into a draft purchase order and returns the ERP's
  reference. The request's ``reference`` is an idempotency key: asking twice returns the same order.

Errors
------
Every error a connector raises is mapped once, where the vendor's error enters, with ``raise ... from exc``::

    ERPError                          root; has a stable ``code``
     +-- ERPUnavailable (OSError)     the ERP did not answer (down, unreachable, timeout, 5xx) after retries
     +-- ERPAuthFailed (PermissionError)  the ERP refused the credentials or the user lacks a right
     +-- ERPRejected (ValueError)     the ERP refused the request (unknown supplier or sku, validation error)
     +-- ERPDataError (ValueError)    the ERP sent data the hub cannot use as is (an inexact price, ...)
     +-- ERPProtocolError             the answer is not what the protocol promises (wrong URL or database)

Each message says what went wrong and what to do about it.

Money
-----
ERPs hand out prices as decimals (Tryton: :class:`decimal.Decimal` with four places). :func:`to_minor`
converts one exactly into integer minor units of an ISO 4217 currency and refuses a value that would need
rounding (``1.2345`` pesos is not a price a till can charge): the product is reported, never rounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final, Protocol, runtime_checkable

from core.errors import UnknownCurrency
from core.money import currency as iso_currency
from core.wire import ReorderRequestData
from hub.errors import HubError

__all__ = [
    "MAX_PURCHASE_LINES",
    "ERPAuthFailed",
    "ERPConnector",
    "ERPDataError",
    "ERPError",
    "ERPProduct",
    "ERPProtocolError",
    "ERPRejected",
    "ERPUnavailable",
    "OrderLine",
    "ProductChanges",
    "ProductProblem",
    "PurchaseOrderRef",
    "PurchaseRequest",
    "StockLevel",
    "purchase_requests_from_reorder",
    "to_minor",
]

MAX_PURCHASE_LINES: Final = 500
"""Lines in one purchase request; a reorder event carries far fewer."""


class ERPError(HubError):
    """Root of every error an ERP connector raises; ``code`` is stable and safe to match on."""

    code: str = "erp_error"


class ERPUnavailable(ERPError, OSError):
    """The ERP could not be reached or did not answer in time, even after the bounded retries."""

    code = "erp_unavailable"


class ERPAuthFailed(ERPError, PermissionError):
    """The ERP refused the login, or the connector's user lacks a right it needs."""

    code = "erp_auth_failed"


class ERPRejected(ERPError, ValueError):
    """The ERP refused the request itself: fix the request (or the ERP's data) before retrying."""

    code = "erp_rejected"


class ERPDataError(ERPError, ValueError):
    """The ERP answered with data the hub cannot use as is (for example a price finer than the currency)."""

    code = "erp_data_error"


class ERPProtocolError(ERPError):
    """The answer does not follow the ERP's protocol: usually a wrong URL, database name or server version."""

    code = "erp_protocol_error"


def to_minor(value: Decimal | str, currency_code: str, *, what: str = "amount") -> int:
    """``value`` (a decimal in major units) as integer minor units of ``currency_code``, exactly.

    Raises :class:`ERPDataError` when the value is not a finite decimal, or has more decimal places than the
    currency's minor unit allows once trailing zeros are dropped (``12.5000`` MXN is 1250; ``1.2345`` is refused).
    """
    try:
        exponent = iso_currency(currency_code).exponent
    except UnknownCurrency as exc:
        raise ERPDataError(f"{what}: unknown currency {currency_code!r}; use an ISO 4217 code such as MXN") from exc
    try:
        number = value if isinstance(value, Decimal) else Decimal(value.strip())
    except InvalidOperation as exc:
        raise ERPDataError(f"{what}: {value!r} is not a decimal number; write it like 18.50") from exc
    if not number.is_finite():
        raise ERPDataError(f"{what}: {value!r} is not a finite amount")
    scaled = number.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ERPDataError(
            f"{what}: {number} {currency_code} has more than {exponent} decimal places; "
            f"round it in the source to a whole {currency_code} minor unit"
        )
    return int(scaled)


@dataclass(frozen=True)
class ERPProduct:
    """A product as the ERP describes it, prices in integer minor units of ``currency``."""

    sku: str
    name: str
    category: str | None
    price_minor: int
    currency: str
    cost_minor: int | None
    barcodes: tuple[str, ...]
    active: bool
    erp_id: str
    """The ERP's own identifier (Tryton: the product.product id), for messages and links."""
    manufacturer: str | None = None
    """The manufacturer's id when the ERP records one. Tryton's product, stock and purchase modules have no
    manufacturer field, so its connector leaves this None and the hub keeps what the file import or
    ``network add-brand`` says (docs/erp.md)."""


@dataclass(frozen=True)
class ProductProblem:
    """A product the connector could not turn into an :class:`ERPProduct`, and why."""

    erp_id: str
    sku: str | None
    field: str
    problem: str


@dataclass(frozen=True)
class ProductChanges:
    """One poll's result: the changed products, those that could not be used, and the cursor to poll from next.

    ``complete`` is False when a bound stopped the poll early: poll again at once with ``cursor``.
    A product can appear in two successive polls (the cursor overlaps to miss nothing); apply them as upserts.
    """

    products: tuple[ERPProduct, ...]
    problems: tuple[ProductProblem, ...]
    cursor: str
    complete: bool = True


@dataclass(frozen=True)
class StockLevel:
    """Quantities of one sku in one warehouse, in the product's stock unit."""

    sku: str
    warehouse: str
    """The warehouse's code in the ERP."""
    on_hand: int
    forecast: int
    """On hand plus what is expected in, minus what is promised out."""


@dataclass(frozen=True)
class OrderLine:
    """One line of a purchase request."""

    sku: str
    qty: int

    def __post_init__(self) -> None:
        if not self.sku.strip():
            raise ERPRejected("purchase line: the sku is empty; give the item's sku as the ERP knows it")
        if isinstance(self.qty, bool) or not isinstance(self.qty, int) or self.qty < 1:
            raise ERPRejected(f"purchase line {self.sku}: quantity {self.qty!r} must be a whole number of at least 1")


@dataclass(frozen=True)
class PurchaseRequest:
    """A purchase order to place with ``supplier`` (its code or exact name in the ERP).

    ``reference`` is the idempotency key stored on the order (a box's reorder request id, for instance).
    ``warehouse`` is the receiving warehouse's code; None lets the connector use its configured default.
    """

    reference: str
    supplier: str
    lines: tuple[OrderLine, ...]
    warehouse: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if not self.reference.strip():
            raise ERPRejected("purchase request: the reference is empty; it is what makes a retry safe")
        if not self.supplier.strip():
            raise ERPRejected("purchase request: no supplier; name the distributor's party in the ERP")
        if not self.lines:
            raise ERPRejected(f"purchase request {self.reference}: no lines to order")
        if len(self.lines) > MAX_PURCHASE_LINES:
            raise ERPRejected(
                f"purchase request {self.reference}: {len(self.lines)} lines, more than {MAX_PURCHASE_LINES}; "
                "split it into several requests"
            )


def purchase_requests_from_reorder(data: ReorderRequestData, default_supplier: str) -> list[PurchaseRequest]:
    """The purchase requests a box's ``reorder_request`` event asks for: one per distributor named on its lines.

    Lines naming no distributor go to ``default_supplier``. Quantities of a sku repeated for one supplier are
    added. Each request's reference is ``{request_id}`` when there is one supplier, else
    ``{request_id}/{supplier}``, so re-applying the same event places no second order.
    """
    by_supplier: dict[str, dict[str, int]] = {}
    for line in data.lines:
        supplier = line.distributor or default_supplier
        skus = by_supplier.setdefault(supplier, {})
        skus[line.sku] = skus.get(line.sku, 0) + line.qty
    several = len(by_supplier) > 1
    return [
        PurchaseRequest(
            reference=f"{data.request_id}/{supplier}" if several else data.request_id,
            supplier=supplier,
            lines=tuple(OrderLine(sku, qty) for sku, qty in skus.items()),
            note=f"Reorder {data.request_id} from store {data.store} ({data.origin})",
        )
        for supplier, skus in by_supplier.items()
    ]


@dataclass(frozen=True)
class PurchaseOrderRef:
    """The ERP's reference to a purchase order it holds."""

    erp_id: str
    reference: str
    state: str
    number: str | None = None
    """The ERP's document number; Tryton gives one only once the order is quoted."""
    created: bool = True
    """False when an order with this reference already existed and was returned instead."""


@runtime_checkable
class ERPConnector(Protocol):
    """What the hub asks of an ERP. Implementations: :class:`hub.erp.tryton.TrytonConnector`."""

    def products_changed_since(self, cursor: str | None) -> ProductChanges:
        """Products changed since ``cursor`` (every product when None), and the cursor for the next poll."""
        ...

    def stock_levels(
        self, *, skus: Sequence[str] | None = None, warehouses: Sequence[str] | None = None
    ) -> list[StockLevel]:
        """Stock per warehouse, optionally only for some skus or warehouse codes."""
        ...

    def create_purchase_order(self, request: PurchaseRequest) -> PurchaseOrderRef:
        """Place ``request`` as a draft purchase order, or return the one already placed with its reference."""
        ...

    def close(self) -> None:
        """End the ERP session and release connections."""
        ...
