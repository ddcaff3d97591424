"""Promotions as data: what they apply to, what they give, when, to whom, who pays, how they stack.

A promotion is loaded from JSON (see :func:`core.promotions.load_promotions`) and never changes. Its parts:

``scope``
    which lines it looks at: the whole ``ticket``, an ``item``, a ``category``, a ``distributor`` or a
    ``brand`` (``ids`` lists one or more of them), minus ``exclude_item_ids``.
``effect``
    ``amount_off`` (a fixed amount off the scoped lines, or off each scoped unit), ``percent_off``,
    ``buy_get_free`` (buy N, get M free), ``buy_get_discount`` (buy N, get M at a percentage off),
    ``bonus_points`` (fixed points, per ticket or per unit) or ``points_multiplier``.
``conditions``
    minimum spend or quantity (on the scoped lines, before any discount), validity dates, days of week,
    hours, a birthday or enrolment-anniversary window, and the stores or retailers where it runs.
``audience``
    ``everyone`` (walk-ins included), ``members``, listed ``customers``, customers at given ``tiers``, or in
    given ``segments`` (the caller says which segments a customer belongs to).
``funding``
    who pays for it, in basis points: distributor, retailer or a split summing to 10000.
``stacking`` and ``priority``
    lower priority numbers are considered first (ties by id). ``exclusive`` means: if it applies, nothing
    else on the ticket does.
``limits``
    uses per customer and in total; the caller passes the uses so far.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from core.money import currency as lookup_currency
from core.promotions.base import (
    Identifier,
    Model,
    NonNegativeMinor,
    PositiveInt,
    Rate,
    WhenBound,
)

__all__ = [
    "AmountOff",
    "Audience",
    "AudienceKind",
    "BonusPoints",
    "BuyGetDiscount",
    "BuyGetFree",
    "Conditions",
    "Effect",
    "EventKind",
    "EventWindow",
    "Funding",
    "HourWindow",
    "Limits",
    "PercentOff",
    "PointsMultiplier",
    "Promotion",
    "Scope",
    "ScopeKind",
    "Stacking",
    "Weekday",
]

MAX_EVENT_WINDOW_DAYS = 90
BASIS_POINTS = 10_000


class ScopeKind(enum.StrEnum):
    """What a promotion's scope selects lines by."""

    TICKET = "ticket"
    ITEM = "item"
    CATEGORY = "category"
    DISTRIBUTOR = "distributor"
    BRAND = "brand"


class Scope(Model):
    """The lines a promotion looks at: all of them, or those of the listed items, categories, etc."""

    kind: ScopeKind
    ids: tuple[Identifier, ...] = Field(default=(), max_length=1000, validate_default=True)
    exclude_item_ids: tuple[Identifier, ...] = Field(default=(), max_length=1000)

    @field_validator("ids")
    @classmethod
    def _ids_match_kind(cls, ids: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        kind = info.data.get("kind")
        if kind is ScopeKind.TICKET and ids:
            raise ValueError("a ticket scope takes no ids")
        if kind is not None and kind is not ScopeKind.TICKET and not ids:
            raise ValueError(f"a {kind.value} scope needs at least one id")
        if len(set(ids)) != len(ids):
            raise ValueError("ids must not repeat")
        return ids


class AmountOff(Model):
    """A fixed amount off the scoped lines together, or off each scoped unit when ``per_unit``."""

    type: Literal["amount_off"]
    amount_minor: Annotated[int, Field(strict=True, ge=1, le=10**15)]
    per_unit: bool = False


class PercentOff(Model):
    """A percentage off the scoped lines (the whole ticket for a ticket scope), optionally capped."""

    type: Literal["percent_off"]
    percent: Rate
    max_discount_minor: NonNegativeMinor | None = None

    @field_validator("percent")
    @classmethod
    def _percent_in_range(cls, value: Fraction) -> Fraction:
        return _check_percent(value)


class BuyGetFree(Model):
    """Buy ``buy`` units, get ``get`` more free, among the scoped units.

    Units are ranked by unit price, dearest first, and cut into groups of ``buy + get``; in each complete
    group the last ``get`` units (the cheapest of the group) are free. ``max_applications`` caps the number
    of groups per ticket. ``buy`` may be 0 ("one unit free") only with ``max_applications``.
    """

    type: Literal["buy_get_free"]
    buy: Annotated[int, Field(strict=True, ge=0, le=1000)]
    get: Annotated[int, Field(strict=True, ge=1, le=1000)]
    max_applications: PositiveInt | None = Field(default=None, validate_default=True)

    @field_validator("max_applications")
    @classmethod
    def _zero_buy_needs_cap(cls, value: int | None, info: ValidationInfo) -> int | None:
        return _check_zero_buy(value, info)


class BuyGetDiscount(Model):
    """Buy ``buy`` units, get ``get`` more at ``percent`` off; grouped as in :class:`BuyGetFree`."""

    type: Literal["buy_get_discount"]
    buy: Annotated[int, Field(strict=True, ge=0, le=1000)]
    get: Annotated[int, Field(strict=True, ge=1, le=1000)]
    percent: Rate
    max_applications: PositiveInt | None = Field(default=None, validate_default=True)

    @field_validator("percent")
    @classmethod
    def _percent_in_range(cls, value: Fraction) -> Fraction:
        return _check_percent(value)

    @field_validator("max_applications")
    @classmethod
    def _zero_buy_needs_cap(cls, value: int | None, info: ValidationInfo) -> int | None:
        return _check_zero_buy(value, info)


class BonusPoints(Model):
    """Extra points: ``points`` once per ticket, or per scoped unit when ``per_unit``."""

    type: Literal["bonus_points"]
    points: Annotated[int, Field(strict=True, ge=1, le=10**9)]
    per_unit: bool = False


class PointsMultiplier(Model):
    """The scoped lines earn ``multiplier`` times their base points (e.g. "2" for double points)."""

    type: Literal["points_multiplier"]
    multiplier: Rate

    @field_validator("multiplier")
    @classmethod
    def _more_than_one(cls, value: Fraction) -> Fraction:
        if not 1 < value <= 100:
            raise ValueError("must be more than 1 and at most 100")
        return value


Effect = Annotated[
    AmountOff | PercentOff | BuyGetFree | BuyGetDiscount | BonusPoints | PointsMultiplier,
    Field(discriminator="type"),
]


def _check_percent(value: Fraction) -> Fraction:
    if not 0 < value <= 1:
        raise ValueError('must be more than 0% and at most 100% ("15%" or "0.15")')
    return value


def _check_zero_buy(value: int | None, info: ValidationInfo) -> int | None:
    if info.data.get("buy") == 0 and value is None:
        raise ValueError("buy 0 (a free unit) needs max_applications")
    return value


class Weekday(enum.StrEnum):
    """A day of the week, as written in JSON."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def iso(self) -> int:
        """ISO weekday number: Monday 1 ... Sunday 7."""
        return list(Weekday).index(self) + 1


class HourWindow(Model):
    """Local wall-clock hours, ``start`` inclusive, ``end`` exclusive; may wrap past midnight."""

    start: time
    end: time

    @field_validator("start", "end")
    @classmethod
    def _naive(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("hours are local store time; write them without an offset")
        return value

    @field_validator("end")
    @classmethod
    def _not_empty(cls, value: time, info: ValidationInfo) -> time:
        if info.data.get("start") == value:
            raise ValueError("must differ from start")
        return value

    def contains(self, moment: time) -> bool:
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


class EventKind(enum.StrEnum):
    """The yearly events a promotion can be tied to."""

    BIRTHDAY = "birthday"
    ENROLMENT_ANNIVERSARY = "enrolment_anniversary"


class EventWindow(Model):
    """A birthday or enrolment anniversary, with a window of days around it (inclusive)."""

    kind: EventKind
    days_before: Annotated[int, Field(strict=True, ge=0, le=MAX_EVENT_WINDOW_DAYS)] = 0
    days_after: Annotated[int, Field(strict=True, ge=0, le=MAX_EVENT_WINDOW_DAYS)] = 0


class Conditions(Model):
    """When a promotion may apply. Every condition given must hold; absent ones always hold.

    ``valid_from`` is inclusive and ``valid_until`` exclusive when they are date-times; a plain date is a
    local date in the store's zone, and ``valid_until`` as a date includes that whole day.
    """

    min_spend_minor: NonNegativeMinor | None = None
    min_quantity: PositiveInt | None = None
    valid_from: WhenBound | None = None
    valid_until: WhenBound | None = None
    days_of_week: tuple[Weekday, ...] = Field(default=(), max_length=7)
    hours: tuple[HourWindow, ...] = Field(default=(), max_length=24)
    event: EventWindow | None = None
    store_ids: tuple[Identifier, ...] = Field(default=(), max_length=10_000)
    retailer_ids: tuple[Identifier, ...] = Field(default=(), max_length=10_000)

    @field_validator("valid_until")
    @classmethod
    def _after_start(cls, value: datetime | date | None, info: ValidationInfo) -> datetime | date | None:
        start = info.data.get("valid_from")
        if value is None or start is None:
            return value
        if isinstance(start, datetime) and isinstance(value, datetime):
            if value <= start:
                raise ValueError("must be after valid_from")
        elif not isinstance(start, datetime) and not isinstance(value, datetime):
            if value < start:
                raise ValueError("must not be before valid_from")
        else:
            raise ValueError("write valid_from and valid_until the same way: both dates or both date-times")  # noqa: TRY004 (pydantic reports only ValueError as a field error)
        return value

    @field_validator("days_of_week")
    @classmethod
    def _distinct_days(cls, value: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        if len(set(value)) != len(value):
            raise ValueError("days must not repeat")
        return value


class AudienceKind(enum.StrEnum):
    """Who a promotion is offered to."""

    EVERYONE = "everyone"
    MEMBERS = "members"
    CUSTOMERS = "customers"
    TIERS = "tiers"
    SEGMENTS = "segments"


class Audience(Model):
    """``everyone`` includes walk-ins; ``members`` any identified customer; the rest list ``ids``."""

    kind: AudienceKind = AudienceKind.EVERYONE
    ids: tuple[Identifier, ...] = Field(default=(), max_length=100_000, validate_default=True)

    @field_validator("ids")
    @classmethod
    def _ids_match_kind(cls, ids: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        kind = info.data.get("kind")
        listed = (AudienceKind.CUSTOMERS, AudienceKind.TIERS, AudienceKind.SEGMENTS)
        if kind in listed and not ids:
            raise ValueError(f"audience {kind} needs at least one id")
        if kind is not None and kind not in listed and ids:
            raise ValueError(f"audience {kind} takes no ids")
        return ids


class Funding(Model):
    """Who pays, in basis points of the benefit (10000 = all of it). Both shares must sum to 10000."""

    distributor_bp: Annotated[int, Field(strict=True, ge=0, le=BASIS_POINTS)]
    retailer_bp: Annotated[int, Field(strict=True, ge=0, le=BASIS_POINTS)]

    @field_validator("retailer_bp")
    @classmethod
    def _sums_to_whole(cls, value: int, info: ValidationInfo) -> int:
        distributor = info.data.get("distributor_bp")
        if distributor is not None and distributor + value != BASIS_POINTS:
            raise ValueError(f"distributor_bp + retailer_bp must be {BASIS_POINTS}, got {distributor + value}")
        return value

    @property
    def weights(self) -> tuple[int, int]:
        """Allocation weights, distributor first (the order funders are reported in)."""
        return (self.distributor_bp, self.retailer_bp)


class Limits(Model):
    """Usage caps; a use is one ticket the promotion applied to."""

    max_uses_per_customer: PositiveInt | None = None
    max_uses_total: PositiveInt | None = None


class Stacking(enum.StrEnum):
    """``combinable`` promotions add up; an applied ``exclusive`` one is the only one on the ticket."""

    COMBINABLE = "combinable"
    EXCLUSIVE = "exclusive"


class Promotion(Model):
    """One promotion. ``currency`` is required when an amount is given (amount off, minimum spend)."""

    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    active: bool = True
    priority: Annotated[int, Field(strict=True, ge=0, le=1_000_000)] = 100
    stacking: Stacking = Stacking.COMBINABLE
    scope: Scope
    effect: Effect
    conditions: Conditions = Conditions()
    audience: Audience = Audience()
    funding: Funding
    limits: Limits = Limits()
    # Declared after effect and conditions: its validator checks them.
    currency: str | None = Field(default=None, min_length=3, max_length=3, validate_default=True)

    @field_validator("currency")
    @classmethod
    def _currency_when_amounts(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            try:
                lookup_currency(value)
            except KeyError as exc:
                raise ValueError(f"{value!r} is not a known ISO 4217 currency") from exc
        effect = info.data.get("effect")
        conditions = info.data.get("conditions")
        has_amount = isinstance(effect, AmountOff) or (
            isinstance(effect, PercentOff) and effect.max_discount_minor is not None
        )
        has_amount = has_amount or (isinstance(conditions, Conditions) and conditions.min_spend_minor is not None)
        if value is None and has_amount:
            raise ValueError("is required when the promotion states an amount (amount off, cap or minimum spend)")
        return value

    @property
    def gives_points(self) -> bool:
        return isinstance(self.effect, BonusPoints | PointsMultiplier)
