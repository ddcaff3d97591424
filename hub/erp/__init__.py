"""ERP connectors of the hub: products, prices and stock in; purchase orders out; file import without an ERP.

:mod:`hub.erp.base` holds the connector interface, the records and the error hierarchy;
:mod:`hub.erp.tryton` the live Tryton connector; :mod:`hub.erp.importer` the CSV/JSON import for
distributors with no ERP. ``python -m hub.erp import FILE`` runs the import from the command line.
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
