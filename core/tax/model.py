"""The value types of the tax engine: a jurisdiction's taxes and categories, and a computed breakdown.

Everything here is an immutable dataclass. A :class:`Jurisdiction` is built by
:func:`core.tax.loader.load_jurisdiction` from a distributor's TOML file and is never edited afterwards; a
:class:`TaxBreakdown` is what :func:`core.tax.compute.compute_taxes` returns for a document.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from fractions import Fraction

from core.errors import InvalidInput
from core.money import Rounding


class InvalidJurisdiction(InvalidInput):
    """A jurisdiction file that cannot be used: names the file, the dotted field and the problem."""

    code = "invalid_jurisdiction"

    def __init__(self, source: str, field: str, problem: str) -> None:
        super().__init__(field, problem, code=self.code)
        self.source = source
        where = f"{source}: {field}" if field else source
        self.args = (f"{where}: {problem}",)


class UnknownTaxCategory(InvalidInput):
    """A line whose tax category the jurisdiction does not define; the message lists the known ones."""

    code = "unknown_tax_category"


class Pricing(enum.StrEnum):
    """Whether line amounts already include the taxes (VAT style) or exclude them (sales-tax style)."""

    INCLUSIVE = "inclusive"
    EXCLUSIVE = "exclusive"


class RoundingScope(enum.StrEnum):
    """Where tax is rounded to minor units: on every line, or once per tax on the document total."""

    PER_LINE = "per_line"
    PER_DOCUMENT = "per_document"


class TaxKind(enum.StrEnum):
    """A percentage of a base, or a fixed amount per unit of measure (per litre, per kilogram...)."""

    PERCENTAGE = "percentage"
    PER_UNIT = "per_unit"


@dataclass(frozen=True)
class Tax:
    """One tax of a jurisdiction.

    A percentage tax has ``rate``; a per-unit tax has ``per_unit_minor`` (minor units per ``measure_unit``,
    possibly a fraction of a minor unit). A ``compound`` tax is charged on the line's net amount plus every
    tax listed before it for the line's category. Taxes sharing a ``group`` are rounded as one combined rate
    and the rounded amount is then split among them (a US state, county and city sales tax computed at the
    combined rate).
    """

    tax_id: str
    name: str
    kind: TaxKind
    rate: Fraction | None = None
    per_unit_minor: Fraction | None = None
    measure_unit: str | None = None
    compound: bool = False
    note: str = ""
    group: str = ""

    @property
    def rounding_unit(self) -> str:
        """What this tax is rounded with: its group, or itself alone."""
        return f"group:{self.group}" if self.group else f"tax:{self.tax_id}"

    @property
    def zero_rated(self) -> bool:
        """A percentage tax at 0%: the supply is taxable, at a rate of zero."""
        return self.kind is TaxKind.PERCENTAGE and self.rate == 0


@dataclass(frozen=True)
class Category:
    """An item tax category: the taxes it bears, in order, and the taxes it is exempt from."""

    category_id: str
    taxes: tuple[str, ...]
    exempt_from: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Jurisdiction:
    """A validated tax jurisdiction: currency, pricing style, rounding, taxes and categories."""

    jurisdiction_id: str
    name: str
    country: str
    region: str
    currency: str
    pricing: Pricing
    rounding: RoundingScope
    rounding_mode: Rounding
    effective_from: dt.date
    taxes: tuple[Tax, ...]
    categories: tuple[Category, ...]
    sources: tuple[str, ...] = ()
    effective_until: dt.date | None = None

    def in_force(self, day: dt.date) -> bool:
        """Whether the jurisdiction's rates apply on ``day`` (the caller supplies the date)."""
        return self.effective_from <= day and (self.effective_until is None or day <= self.effective_until)

    def tax(self, tax_id: str) -> Tax:
        for tax in self.taxes:
            if tax.tax_id == tax_id:
                return tax
        raise InvalidInput("tax_id", f"jurisdiction {self.jurisdiction_id!r} has no tax {tax_id!r}")

    def category_ids(self) -> list[str]:
        return [c.category_id for c in self.categories]

    def category(self, category_id: str) -> Category:
        for category in self.categories:
            if category.category_id == category_id:
                return category
        known = ", ".join(self.category_ids())
        raise UnknownTaxCategory(
            "category",
            f"unknown tax category {category_id!r} in jurisdiction {self.jurisdiction_id!r}; known categories: {known}",
        )


@dataclass(frozen=True)
class TaxableLine:
    """One line of a document as the tax engine sees it.

    ``amount_minor`` is the line amount after discounts, as priced: gross (tax included) when the
    jurisdiction's pricing is inclusive, net otherwise. ``measure_per_unit_milli`` is the quantity of the
    per-unit taxes' measure in one unit of the item, in thousandths (a 600 ml bottle taxed per litre: 600);
    it is required when the category bears a per-unit tax.
    """

    line_id: str
    category: str
    quantity: int
    amount_minor: int
    measure_per_unit_milli: int = 0


@dataclass(frozen=True)
class TaxAmount:
    """One tax on one line.

    ``base_minor`` is what the tax was charged on: the line's net amount, plus earlier taxes for a compound
    tax. ``rate`` is the decimal rate of a percentage tax (``"0.16"``); a per-unit tax instead has
    ``per_unit_minor`` (decimal minor units per ``measure_unit``) and ``measure_milli``, the line's total
    measure in thousandths of that unit.
    """

    tax_id: str
    name: str
    base_minor: int
    amount_minor: int
    rate: str | None = None
    per_unit_minor: str | None = None
    measure_unit: str | None = None
    measure_milli: int = 0
    zero_rated: bool = False


@dataclass(frozen=True)
class LineTax:
    """The taxes of one line: ``net_minor + tax_minor == gross_minor`` always."""

    line_id: str
    category: str
    net_minor: int
    tax_minor: int
    gross_minor: int
    taxes: tuple[TaxAmount, ...]
    exempt_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaxTotal:
    """One tax over the whole document.

    ``base_minor`` and ``amount_minor`` add up the lines that bear the tax; ``exempt_base_minor`` adds up the
    net amounts of lines whose category is exempt from it.
    """

    tax_id: str
    name: str
    base_minor: int
    amount_minor: int
    exempt_base_minor: int = 0
    rate: str | None = None
    per_unit_minor: str | None = None
    measure_unit: str | None = None
    measure_milli: int = 0
    zero_rated: bool = False


@dataclass(frozen=True)
class TaxBreakdown:
    """The taxes of a document, per line and per tax, with document totals.

    ``net_minor + tax_minor == gross_minor``; each total is the sum of the lines. ``exempt_base_minor`` is
    the net amount of lines exempt from at least one tax (outside the tax); ``zero_rated_base_minor`` is the
    net amount of lines bearing at least one zero-rated tax (taxable, at 0%). Tax returns ask for the two
    separately; per-tax bases, such as a 0% tax charged on a base that includes an excise, are in ``taxes``.
    """

    jurisdiction_id: str
    currency: str
    pricing: Pricing
    rounding: RoundingScope
    lines: tuple[LineTax, ...]
    taxes: tuple[TaxTotal, ...]
    net_minor: int
    tax_minor: int
    gross_minor: int
    exempt_base_minor: int
    zero_rated_base_minor: int

    def line(self, line_id: str) -> LineTax:
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise InvalidInput("line_id", f"no line {line_id!r} in this breakdown")

    def total(self, tax_id: str) -> TaxTotal:
        for total in self.taxes:
            if total.tax_id == tax_id:
                return total
        raise InvalidInput("tax_id", f"no tax {tax_id!r} in this breakdown")
