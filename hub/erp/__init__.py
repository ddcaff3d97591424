"""ERP connectors of the hub: products, prices and stock in; purchase orders out; file import without an ERP.

:mod:`hub.erp.base` holds the connector interface, the records and the error hierarchy (re-exported here);
:mod:`hub.erp.tryton` the live Tryton connector; :mod:`hub.erp.importer` the CSV/JSON import for
distributors with no ERP; :mod:`hub.erp.sync` the polling loop that brings an ERP's changes into the
catalogue and sends reorders to it. ``python -m hub erp-import FILE`` and ``python -m hub erp-sync`` run
them (:mod:`hub.cli.erp`).

:mod:`.base` and :mod:`.importer` import :mod:`core` only; :mod:`.sync` also the catalogue, the network and
:mod:`hub.publishing`.
"""

from hub.erp.base import (
    ERPAuthFailed,
    ERPConnector,
    ERPDataError,
    ERPError,
    ERPProduct,
    ERPProtocolError,
    ERPRejected,
    ERPUnavailable,
    OrderLine,
    ProductChanges,
    ProductProblem,
    PurchaseOrderRef,
    PurchaseRequest,
    StockLevel,
    purchase_requests_from_reorder,
    to_minor,
)

__all__ = [
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
