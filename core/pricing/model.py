"""The pricing API's inputs (basket, customer, request) and output (the priced receipt).

Every model is pydantic, frozen, refuses unknown keys and has a JSON schema (``python -m core.pricing
--schema``). Amounts are integer minor units of the basket's currency; rates are decimal strings.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator

from core.money import currency as lookup_currency
from core.points import PointsEarned, PointsProgram
from core.promotions.base import Identifier, Model, NonNegativeMinor, Points
from core.promotions.engine import Funder, PromotionUsage, SkipReason
from core.promotions.model import Promotion
from core.promotions.timing import store_zone
from core.tiers import TierBasis

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
]

# A counter ticket longer than this is a scanning loop, not a sale.
MAX_BASKET_LINES: Final = 500
MAX_QUANTITY: Final = 1_000_000


def _check_currency(value: str) -> str:
    try:
        lookup_currency(value)
    except KeyError as exc:
        raise ValueError(f"{value!r} is not a known ISO 4217 currency") from exc
    return value


class Store(Model):
    """Where the sale happens: the store, its retailer and its IANA time zone."""

    store_id: Identifier
    retailer_id: Identifier | None = None
    timezone: str = Field(min_length=1, max_length=64, examples=["America/Mexico_City"])

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            store_zone(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IANA time zone such as 'America/Mexico_City'") from exc
        return value


class BasketLine(Model):
    """One line of the basket.

    ``unit_price_minor`` is the shelf price of one unit: tax included when the jurisdiction's prices
    include tax, before tax otherwise. ``category`` is the merchandise category promotions and points
    look at; ``tax_category`` the jurisdiction's tax category. An item sold by weight is one unit whose
    price is the weighed price. ``measure_per_unit_milli`` is needed for per-unit taxes (a 600 ml bottle
    taxed per litre: 600).
    """

    line_id: Identifier
    item_id: Identifier
    description: str = Field(default="", max_length=200)
    category: Identifier
    tax_category: Annotated[str, Field(min_length=1, max_length=64)]
    distributor: Identifier | None = None
    brand: Identifier | None = None
    quantity: Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)]
    unit_price_minor: NonNegativeMinor
    measure_per_unit_milli: Annotated[int, Field(strict=True, ge=0, le=10**9)] = 0


class Basket(Model):
    """What is being bought, where, in which currency."""

    currency: str = Field(min_length=3, max_length=3)
    store: Store
    lines: tuple[BasketLine, ...] = Field(min_length=1, max_length=MAX_BASKET_LINES)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        return _check_currency(value)

    @field_validator("lines")
    @classmethod
    def _unique_line_ids(cls, lines: tuple[BasketLine, ...]) -> tuple[BasketLine, ...]:
        seen: set[str] = set()
        for position, line in enumerate(lines):
            if line.line_id in seen:
                raise ValueError(f"line {position} repeats line_id {line.line_id!r}")
            seen.add(line.line_id)
        return lines


class Customer(Model):
    """An identified customer, as far as pricing needs to know them; every fact comes from the caller.

    ``tier_points`` and ``transactions_this_month`` feed the program's tier scheme (points or activity
    basis). ``points_balance`` is the balance the caller knows; it may be negative (an overdraft the hub
    recorded, within ``offline_allowance_points``), and nothing beyond it is spendable. The ``last_*_bonus_year``
    fields record the occurrence years whose birthday or anniversary bonus was already given.
    """

    customer_id: Identifier
    tier_points: Points = 0
    transactions_this_month: Annotated[int, Field(strict=True, ge=0, le=10**9)] = 0
    points_balance: Annotated[int, Field(strict=True, ge=-(10**12), le=10**12)] = 0
    offline_allowance_points: Points = 0
    segment_ids: tuple[Identifier, ...] = Field(default=(), max_length=1000)
    birth_date: date | None = None
    enrolled_on: date | None = None
    last_birthday_bonus_year: Annotated[int, Field(strict=True, ge=1, le=9999)] | None = None
    last_anniversary_bonus_year: Annotated[int, Field(strict=True, ge=1, le=9999)] | None = None


class InlineJurisdiction(Model):
    """A jurisdiction given in the request itself, as the TOML text of a jurisdiction file."""

    toml: str = Field(min_length=1, max_length=256_000)


class PricingRequest(Model):
    """One request to ``python -m core.pricing``: everything :func:`core.pricing.price` needs.

    ``jurisdiction`` is the id of a shipped jurisdiction (``"mx"``) or an inline TOML file. ``usage`` gives,
    per promotion id, how often it was used so far. ``redeem_points`` asks to pay that many points.
    """

    basket: Basket
    customer: Customer | None = None
    program: PointsProgram | None = None
    promotions: tuple[Promotion, ...] = Field(default=(), max_length=100_000)
    jurisdiction: Annotated[str, Field(min_length=1, max_length=64)] | InlineJurisdiction
    now: AwareDatetime
    usage: dict[Identifier, PromotionUsage] = Field(default_factory=dict, max_length=100_000)
    redeem_points: Points = 0
    explain_unmatched: bool = False

    @field_validator("redeem_points")
    @classmethod
    def _needs_customer(cls, value: int, info: ValidationInfo) -> int:
        if value and (info.data.get("customer") is None or info.data.get("program") is None):
            raise ValueError("paying with points needs a customer and a program")
        return value


# --- the receipt --------------------------------------------------------------------------------------


class LineAmount(Model):
    """An amount on one line."""

    line_id: str
    amount_minor: int


class PromotionAmount(Model):
    """The part of a line's discount that one promotion gave."""

    promotion_id: str
    amount_minor: int


class FunderAmount(Model):
    """The part of a benefit one funder pays."""

    funder: Funder
    amount_minor: int


class ReceiptTaxLine(Model):
    """One tax on one line; a percentage tax has ``rate``, a per-unit tax ``per_unit_minor``."""

    tax_id: str
    name: str
    base_minor: int
    amount_minor: int
    rate: str | None = None
    per_unit_minor: str | None = None
    measure_unit: str | None = None
    measure_milli: int = 0
    zero_rated: bool = False


class PricedLine(Model):
    """A priced line.

    ``gross_minor`` is ``unit_price_minor * quantity``; ``amount_minor`` is that after ``discount_minor``
    (the sum of ``discounts``), as priced. ``net_minor`` excludes tax, ``tax_minor`` is the line's tax and
    ``total_minor = net_minor + tax_minor`` what the customer pays for the line.
    """

    line_id: str
    item_id: str
    description: str
    category: str
    tax_category: str
    quantity: int
    unit_price_minor: int
    gross_minor: int
    discount_minor: int
    discounts: tuple[PromotionAmount, ...]
    amount_minor: int
    net_minor: int
    tax_minor: int
    total_minor: int
    taxes: tuple[ReceiptTaxLine, ...]
    exempt_from: tuple[str, ...] = ()


class ReceiptDiscount(Model):
    """An applied promotion's discount: the amount, who funds it, and how it was spread over the lines."""

    promotion_id: str
    name: str
    effect: str
    amount_minor: int
    funders: tuple[FunderAmount, ...]
    lines: tuple[LineAmount, ...]


class ReceiptTax(Model):
    """One tax over the whole ticket."""

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


class Totals(Model):
    """Ticket totals.

    ``gross_minor`` (shelf prices) minus ``discount_minor`` is ``amount_minor``; ``net_minor + tax_minor =
    total_minor`` is what the ticket costs. ``points_tender_minor`` of it is paid with ``points_redeemed``
    points; ``due_minor`` is the rest, ``cash_due_minor`` that rounded to the currency's cash increment
    for a cash payment (equal to ``due_minor`` where there is no cash rounding).
    """

    gross_minor: int
    discount_minor: int
    amount_minor: int
    net_minor: int
    tax_minor: int
    total_minor: int
    points_redeemed: int
    points_tender_minor: int
    due_minor: int
    cash_due_minor: int


class PromotionExplanation(Model):
    """What happened to one promotion: applied (amount, lines, points) or skipped (a code and why)."""

    promotion_id: str
    name: str
    status: Literal["applied", "skipped"]
    reason_code: SkipReason | None = None
    reason: str
    discount_minor: int = 0
    points: int = 0
    lines: tuple[str, ...] = ()


class TierInfo(Model):
    """The customer's tier under the program's scheme and the way to the next one."""

    basis: TierBasis
    value: int
    tier_id: str | None
    tier_name: str | None
    next_tier_id: str | None
    to_next: int | None


class PricedReceipt(Model):
    """The outcome of pricing a basket: lines, discounts, taxes, totals, points, tier and explanations.

    ``promotions`` explains every promotion some line could reach (every promotion when
    ``explain_unmatched`` was asked); ``not_considered`` counts those no line could reach.
    """

    currency: str
    jurisdiction_id: str
    priced_at: datetime
    store_id: str
    customer_id: str | None
    lines: tuple[PricedLine, ...]
    discounts: tuple[ReceiptDiscount, ...]
    taxes: tuple[ReceiptTax, ...]
    totals: Totals
    points: PointsEarned | None
    points_balance_after: int | None
    tier: TierInfo | None
    promotions: tuple[PromotionExplanation, ...]
    not_considered: int
