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
"""

from __future__ import annotations

import enum
from fractions import Fraction
from itertools import pairwise
from typing import Annotated

from pydantic import Field, field_validator

from core.errors import InvalidInput
from core.promotions.base import Identifier, Model, Rate, validate_json, validate_model

__all__ = [
    "DEFAULT_ACTIVITY_TIERS",
    "DEFAULT_POINTS_TIERS",
    "Tier",
    "TierBasis",
    "TierScheme",
    "TierStanding",
    "classify",
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
