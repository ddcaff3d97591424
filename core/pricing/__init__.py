"""The one pricing API shared by the counter box and the hub.

:func:`price` takes a basket, the customer (or None), the points program, the promotions, the tax
jurisdiction and the time, and returns a :class:`PricedReceipt`: lines with their discounts and taxes, the
discounts with their funders, the taxes, the totals, the points earned with their breakdown, the tier, and an
explanation for every promotion. :func:`price_request` does the same for a :class:`PricingRequest` (the JSON
document ``python -m core.pricing`` reads). The request and receipt formats are in ``docs/pricing.md``.
"""

from core.pricing.engine import price
from core.pricing.model import (
    MAX_BASKET_LINES,
    Basket,
    BasketLine,
    Customer,
    FunderAmount,
    InlineJurisdiction,
    LineAmount,
    PricedLine,
    PricedReceipt,
    PricingRequest,
    PromotionAmount,
    PromotionExplanation,
    ReceiptDiscount,
    ReceiptTax,
    ReceiptTaxLine,
    Store,
    TierInfo,
    Totals,
)
from core.pricing.request import price_request, resolve_jurisdiction, schemas

__all__ = [
    "MAX_BASKET_LINES",
    "Basket",
    "BasketLine",
    "Customer",
    "FunderAmount",
    "InlineJurisdiction",
    "LineAmount",
    "PricedLine",
    "PricedReceipt",
    "PricingRequest",
    "PromotionAmount",
    "PromotionExplanation",
    "ReceiptDiscount",
    "ReceiptTax",
    "ReceiptTaxLine",
    "Store",
    "TierInfo",
    "Totals",
    "price",
    "price_request",
    "resolve_jurisdiction",
    "schemas",
]
