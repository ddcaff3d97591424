"""Customer tiers: by points (Bronze, Silver, Gold) or by activity (transactions a month), and their benefits.

A :class:`TierScheme` lists tiers by the *minimum* value that reaches each one, in ascending order. A
customer belongs to the highest tier whose minimum they reach, or to no tier below the first minimum.
Thresholds written as minimums leave no gaps and no overlaps, so every value has exactly one answer.

The basis is what the caller measures and passes in: ``points`` (the customer's qualifying points, as the
program defines them: usually points earned, not the spendable balance) or ``activity`` (transactions in
the current month). Nothing here reads a ledger or a clock.

Defaults
--------
:data:`DEFAULT_POINTS_TIERS`: Bronze from 500 points, Silver from 1000, Gold from 2000.

:data:`DEFAULT_ACTIVITY_TIERS` follows the distributor levels of the Spanish source: Level 1 "at most 50
transactions a month", Level 2 "at most 100", Level 3 "more than 150". The source says nothing of 101 to 150.
The default keeps such a customer at Level 2: they have passed Level 2's range but not yet reached Level 3's
stated bar, and a tier is only ever reached by meeting its stated minimum. So the minimums are Level 1 from
0, Level 2 from 51, Level 3 from 151. A program that wants 101-150 to count as Level 3 sets Level 3's
``min_value`` to 101; nothing else changes.

Benefits
--------
Each tier carries an ``earn_multiplier`` (applied to the base points of a purchase, see
:mod:`core.points`) and a list of benefits described for people (free delivery, early access...).
Tier-only prices are promotions whose audience lists the tier (see :mod:`core.promotions`).

Moving between tiers
--------------------
:func:`classify` says where a value falls today. :func:`decide_tier` says which tier a customer *holds*
after a review, under :class:`TierRules`: upgrades at once, downgrades at a period's end (after any grace
periods) or at once. The hub reviews tiers with it; the box classifies with the held tier's values the hub
sends it (see :func:`core.pricing.from_sale.held_tier_values`), so both name the same tier.
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from itertools import pairwise
from typing import Annotated, Final, Literal

from pydantic import Field, field_validator

from core.errors import InvalidInput
from core.promotions.base import Identifier, Model, Rate, validate_json, validate_model

__all__ = [
    "DEFAULT_ACTIVITY_TIERS",
    "DEFAULT_POINTS_TIERS",
    "MAX_GRACE_PERIODS",
    "MAX_POINTS_WINDOW_MONTHS",
    "Tier",
    "TierBasis",
    "TierDecision",
    "TierRules",
    "TierScheme",
    "TierStanding",
    "TierState",
    "classify",
    "decide_tier",
    "load_tier_scheme",
]


class TierBasis(enum.StrEnum):
    """What a tier scheme measures."""

    POINTS = "points"
    ACTIVITY = "activity"


class Tier(Model):
    """One tier: reached at ``min_value`` of the scheme's basis."""

    id: Identifier
    name: str = Field(min_length=1, max_length=100)
    min_value: Annotated[int, Field(strict=True, ge=0, le=10**12)]
    earn_multiplier: Rate = Fraction(1)
    benefits: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = Field(default=(), max_length=50)

    @field_validator("earn_multiplier")
    @classmethod
    def _sensible_multiplier(cls, value: Fraction) -> Fraction:
        if not 1 <= value <= 100:
            raise ValueError("must be at least 1 and at most 100")
        return value


class TierScheme(Model):
    """Tiers in ascending order of ``min_value`` (strictly), ids unique."""

    basis: TierBasis
    tiers: tuple[Tier, ...] = Field(min_length=1, max_length=50)

    @field_validator("tiers")
    @classmethod
    def _ascending(cls, tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
        ids = [t.id for t in tiers]
        if len(set(ids)) != len(ids):
            raise ValueError("tier ids must be unique")
        for lower, higher in pairwise(tiers):
            if higher.min_value <= lower.min_value:
                raise ValueError(
                    f"min_value must rise strictly: {higher.id!r} ({higher.min_value}) after "
                    f"{lower.id!r} ({lower.min_value})"
                )
        return tiers

    def tier(self, tier_id: str) -> Tier | None:
        return next((t for t in self.tiers if t.id == tier_id), None)


class TierStanding(Model):
    """Where a customer stands: their tier (if any), the next one and how far it is."""

    basis: TierBasis
    value: int
    tier: Tier | None
    next_tier: Tier | None
    to_next: int | None


def classify(scheme: TierScheme, value: int, *, field: str = "value") -> TierStanding:
    """The highest tier of ``scheme`` whose minimum ``value`` reaches, and the distance to the next."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be an integer, not {type(value).__name__}")
    if value < 0:
        raise InvalidInput(field, f"must not be negative, got {value}")
    reached: Tier | None = None
    following: Tier | None = None
    for tier in scheme.tiers:
        if value >= tier.min_value:
            reached = tier
        else:
            following = tier
            break
    return TierStanding(
        basis=scheme.basis,
        value=value,
        tier=reached,
        next_tier=following,
        to_next=None if following is None else following.min_value - value,
    )


def load_tier_scheme(source: str | bytes | object, field: str = "tiers") -> TierScheme:
    """A scheme from JSON text or parsed data; problems raise InvalidInput naming the field."""
    if isinstance(source, str | bytes):
        return validate_json(TierScheme, source, field)
    return validate_model(TierScheme, source, field)


DEFAULT_POINTS_TIERS = TierScheme(
    basis=TierBasis.POINTS,
    tiers=(
        Tier(id="bronze", name="Bronze", min_value=500),
        Tier(id="silver", name="Silver", min_value=1000),
        Tier(id="gold", name="Gold", min_value=2000),
    ),
)

DEFAULT_ACTIVITY_TIERS = TierScheme(
    basis=TierBasis.ACTIVITY,
    tiers=(
        Tier(id="level_1", name="Level 1", min_value=0),
        # 51-150 is Level 2: the source's "at most 100" plus its undefined 101-150 (see the module docstring).
        Tier(id="level_2", name="Level 2", min_value=51),
        Tier(id="level_3", name="Level 3", min_value=151),
    ),
)


# --- how tiers move over time -------------------------------------------------------------------------------

MAX_GRACE_PERIODS: Final = 24
"""Most closed periods below a tier's minimum that :class:`TierRules` may forgive before a downgrade."""
MAX_POINTS_WINDOW_MONTHS: Final = 120
"""Longest rolling window of earned points a points-basis tier may look at (0 means ever)."""
_PERIOD_MONTHS: Final = {"month": 1, "quarter": 3, "year": 12}


@dataclass(frozen=True, slots=True)
class TierRules:
    """How tiers move. Upgrades happen as soon as the value reaches a higher tier.

    ``downgrade``: ``period_end`` (only when a ``period`` closes with the value below the tier's minimum,
    after ``grace_periods`` such periods in a row are forgiven) or ``immediate`` (the tier always follows
    the value). Periods are calendar months, quarters or years in UTC. On the points basis the value is the
    points earned in the last ``points_window_months`` months (0: ever); on the activity basis, the
    transactions in the calendar month.
    """

    period: Literal["month", "quarter", "year"] = "month"
    downgrade: Literal["period_end", "immediate"] = "period_end"
    grace_periods: int = 0
    points_window_months: int = 12

    def __post_init__(self) -> None:
        if self.period not in ("month", "quarter", "year"):
            raise InvalidInput("period", "must be month, quarter or year")
        if self.downgrade not in ("period_end", "immediate"):
            raise InvalidInput("downgrade", "must be period_end or immediate")
        if isinstance(self.grace_periods, bool) or not 0 <= self.grace_periods <= MAX_GRACE_PERIODS:
            raise InvalidInput("grace_periods", f"must be 0 to {MAX_GRACE_PERIODS} periods")
        if (
            isinstance(self.points_window_months, bool)
            or not 0 <= self.points_window_months <= MAX_POINTS_WINDOW_MONTHS
        ):
            raise InvalidInput("points_window_months", f"must be 0 (ever) to {MAX_POINTS_WINDOW_MONTHS} months")

    def period_start(self, moment: datetime) -> datetime:
        """The start of the period containing ``moment``."""
        month = {"month": moment.month, "quarter": (moment.month - 1) // 3 * 3 + 1, "year": 1}[self.period]
        return datetime(moment.year, month, 1, tzinfo=UTC)

    def previous_start(self, start: datetime) -> datetime:
        """The start of the period before the one starting at ``start``."""
        total = start.year * 12 + start.month - 1 - _PERIOD_MONTHS[self.period]
        year, month = total // 12, total % 12 + 1
        return start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class TierState:
    """A customer's tier as decided: which, since when, grace periods used, when last reviewed."""

    tier_id: str | None = None
    since: datetime | None = None
    grace_used: int = 0
    reviewed_at: datetime | None = None
    value: int = 0


@dataclass(frozen=True, slots=True)
class TierDecision:
    """The outcome of a review: the new state and what changed (``upgrade``, ``downgrade``, ``kept``)."""

    state: TierState
    change: Literal["upgrade", "downgrade", "kept"]
    previous: str | None


def decide_tier(
    scheme: TierScheme,
    rules: TierRules,
    state: TierState,
    *,
    value_now: int,
    closed_value: int | None,
    now: datetime,
) -> TierDecision:
    """Apply ``rules`` to a customer in ``state``. ``value_now`` is the basis measured now; ``closed_value``
    the value of the period that closed since the last review (None: no period closed)."""
    rank = {t.id: i for i, t in enumerate(scheme.tiers)}
    held = state.tier_id if state.tier_id in rank else None

    def rank_of(tier_id: str | None) -> int:
        return -1 if tier_id is None else rank[tier_id]

    reached = classify(scheme, value_now).tier
    reached_id = reached.id if reached is not None else None
    grace = state.grace_used
    if rules.downgrade == "immediate":
        new, grace = reached_id, 0
    else:
        new = held
        if closed_value is not None and held is not None:
            closed = classify(scheme, closed_value).tier
            closed_id = closed.id if closed is not None else None
            if rank_of(closed_id) < rank_of(held):
                grace += 1
                if grace > rules.grace_periods:
                    new, grace = closed_id, 0
            else:
                grace = 0
        if rank_of(reached_id) > rank_of(new):
            new, grace = reached_id, 0
    change: Literal["upgrade", "downgrade", "kept"] = "kept"
    if rank_of(new) > rank_of(held):
        change = "upgrade"
    elif rank_of(new) < rank_of(held):
        change = "downgrade"
    since = now if new != held else state.since
    return TierDecision(TierState(new, since, grace, now, value_now), change, held)
