"""Taxes for any jurisdiction, described by a data file a distributor edits.

A jurisdiction (currency, inclusive or exclusive pricing, rounding, taxes, item tax categories) is read from
TOML by :func:`load_jurisdiction`; a few are shipped and available through :func:`shipped_jurisdiction`.
:func:`compute_taxes` turns a document's lines into a :class:`TaxBreakdown`. The file format and the shipped
jurisdictions are described in ``docs/taxes.md``.
"""

from core.tax.compute import MAX_LINES, compute_taxes
from core.tax.loader import (
    FORMAT_VERSION,
    load_jurisdiction,
    shipped_jurisdiction,
    shipped_jurisdiction_ids,
)
from core.tax.model import (
    Category,
    InvalidJurisdiction,
    Jurisdiction,
    LineTax,
    Pricing,
    RoundingScope,
    Tax,
    TaxableLine,
    TaxAmount,
    TaxBreakdown,
    TaxKind,
    TaxTotal,
    UnknownTaxCategory,
)

__all__ = [
    "FORMAT_VERSION",
    "MAX_LINES",
    "Category",
    "InvalidJurisdiction",
    "Jurisdiction",
    "LineTax",
    "Pricing",
    "RoundingScope",
    "Tax",
    "TaxAmount",
    "TaxBreakdown",
    "TaxKind",
    "TaxTotal",
    "TaxableLine",
    "UnknownTaxCategory",
    "compute_taxes",
    "load_jurisdiction",
    "shipped_jurisdiction",
    "shipped_jurisdiction_ids",
]
