"""The segment rule language: saved, named rules over what members did and who they are.

A rule is a tree of conditions, written as JSON and parsed into the pydantic models of this module:

* combinators: ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}``;
* behaviour over a trailing window of ``window_days`` ending at the evaluation (net of refunds):
  ``recency`` (bought within / not within N days), ``frequency`` (tickets), ``spend`` (money),
  ``average_ticket`` (money per ticket), ``bought`` (a share of the member's tickets holding an sku,
  category or brand, optionally only at the stores of some regions);
* who they are: ``zone`` (the member's region), ``tier`` (the tier the hub decided), ``level`` (the level by
  transactions in the last complete month, :mod:`hub.segments.levels`);
* points: ``points_balance`` (available balance in the tenant's program) and ``redeemed`` (redemptions,
  ever or within a window).

Money is integer minor units of the tenant's currency. Every list, the depth of the tree and the number of
conditions in it are bounded (:data:`MAX_DEPTH`, :data:`MAX_CONDITIONS`, :data:`MAX_VALUES`). A rule that
does not parse raises :class:`core.errors.InvalidInput` naming the field (``rule.all.0.min_minor``);
references to what the tenant does not have (a tier, a region, an sku) are checked when the rule is saved
(:func:`hub.segments.saved.check_references`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import InvalidInput

__all__ = [
    "MAX_CONDITIONS",
    "MAX_DEPTH",
    "MAX_MINOR",
    "MAX_VALUES",
    "MAX_WINDOW_DAYS",
    "AllOf",
    "AnyOf",
    "AverageTicket",
    "Bought",
    "Condition",
    "Frequency",
    "Level",
    "Not",
    "PointsBalance",
    "Recency",
    "Redeemed",
    "Rule",
    "Spend",
    "Tier",
    "Zone",
    "leaves",
    "parse_rule",
]

MAX_DEPTH: Final = 6
"""Deepest nesting of all/any/not in one rule."""

MAX_CONDITIONS: Final = 64
"""Most conditions (leaves and combinators) in one rule: each becomes a sub-select of the evaluation."""

MAX_VALUES: Final = 100
"""Most values in one condition's list (skus, regions, tiers)."""

MAX_WINDOW_DAYS: Final = 1_096
"""Longest behaviour window: three years."""

MAX_MINOR: Final = 10**15
"""Largest money figure a rule may name (minor units)."""

MAX_POINTS: Final = 10**12
"""Largest points figure a rule may name."""

Days = Annotated[int, Field(strict=True, ge=1, le=MAX_WINDOW_DAYS)]
Minor = Annotated[int, Field(strict=True, ge=0, le=MAX_MINOR)]
Count = Annotated[int, Field(strict=True, ge=0, le=1_000_000)]
PointsFigure = Annotated[int, Field(strict=True, ge=-MAX_POINTS, le=MAX_POINTS)]
Name = Annotated[str, Field(min_length=1, max_length=64)]
Names = Annotated[list[Name], Field(min_length=1, max_length=MAX_VALUES)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _range(low: int | None, high: int | None, what: str) -> None:
    if low is None and high is None:
        raise ValueError(f"give a lower bound, an upper bound or both for the {what}")
    if low is not None and high is not None and low > high:
        raise ValueError(f"the lower bound of the {what} is above its upper bound")


class Recency(_Model):
    """Bought (a ticket, net of nothing) within ``within_days``, or not within ``not_within_days`` but before."""

    kind: Literal["recency"]
    within_days: Days | None = None
    not_within_days: Days | None = None

    @model_validator(mode="after")
    def _one(self) -> Recency:
        if (self.within_days is None) == (self.not_within_days is None):
            raise ValueError("give exactly one of within_days and not_within_days")
        return self


class Frequency(_Model):
    """Tickets (sales, not refunds) in the window: at least ``min``, at most ``max``."""

    kind: Literal["frequency"]
    window_days: Days
    min: Count | None = None
    max: Count | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Frequency:
        _range(self.min, self.max, "ticket count")
        return self


class Spend(_Model):
    """Money spent in the window, net of refunds: at least ``min_minor``, at most ``max_minor``."""

    kind: Literal["spend"]
    window_days: Days
    min_minor: Minor | None = None
    max_minor: Minor | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Spend:
        _range(self.min_minor, self.max_minor, "spend")
        return self


class AverageTicket(_Model):
    """Money per ticket in the window (net spend over tickets); a member with no ticket has none and never
    matches."""

    kind: Literal["average_ticket"]
    window_days: Days
    min_minor: Minor | None = None
    max_minor: Minor | None = None

    @model_validator(mode="after")
    def _bounds(self) -> AverageTicket:
        _range(self.min_minor, self.max_minor, "average ticket")
        return self


class Bought(_Model):
    """Tickets holding one of ``skus``, ``categories`` or ``brands`` (exactly one list), in the window, at the
    stores of ``in_regions`` when given. ``min_tickets`` such tickets at least, and they make at least
    ``min_share_bp`` of the member's tickets there (10000: every one, "always buys")."""

    kind: Literal["bought"]
    window_days: Days
    skus: Names | None = None
    categories: Names | None = None
    brands: Names | None = None
    in_regions: Names | None = None
    min_tickets: Annotated[int, Field(strict=True, ge=1, le=1_000_000)] = 1
    min_share_bp: Annotated[int, Field(strict=True, ge=0, le=10_000)] = 0

    @model_validator(mode="after")
    def _one_list(self) -> Bought:
        given = [n for n in ("skus", "categories", "brands") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of skus, categories and brands")
        return self

    @property
    def dimension(self) -> tuple[str, list[str]]:
        for column, values in (("sku", self.skus), ("category", self.categories), ("brand", self.brands)):
            if values is not None:
                return column, values
        raise AssertionError("validated: one list is set")


class Zone(_Model):
    """The member's zone is one of ``regions`` (their postal code's region, else their enrolment store's)."""

    kind: Literal["zone"]
    regions: Names


class Tier(_Model):
    """The member holds one of ``tiers`` (tier ids of the tenant's program)."""

    kind: Literal["tier"]
    tiers: Names


class Level(_Model):
    """The member's level by transactions in the last complete month is one of ``levels``."""

    kind: Literal["level"]
    levels: Annotated[list[Annotated[int, Field(strict=True, ge=1, le=3)]], Field(min_length=1, max_length=3)]


class PointsBalance(_Model):
    """Available points (posted credits minus posted and pending debits) between ``min`` and ``max``."""

    kind: Literal["points_balance"]
    min: PointsFigure | None = None
    max: PointsFigure | None = None

    @model_validator(mode="after")
    def _bounds(self) -> PointsBalance:
        _range(self.min, self.max, "points balance")
        return self


class Redeemed(_Model):
    """Redeemed points at least ``min_count`` times, ever or within ``window_days`` (voided holds do not
    count). ``{"not": {"kind": "redeemed"}}`` is "never redeemed"."""

    kind: Literal["redeemed"]
    window_days: Days | None = None
    min_count: Annotated[int, Field(strict=True, ge=1, le=1_000_000)] = 1


Leaf = Recency | Frequency | Spend | AverageTicket | Bought | Zone | Tier | Level | PointsBalance | Redeemed

_LEAVES: Final[dict[str, type[BaseModel]]] = {
    "recency": Recency,
    "frequency": Frequency,
    "spend": Spend,
    "average_ticket": AverageTicket,
    "bought": Bought,
    "zone": Zone,
    "tier": Tier,
    "level": Level,
    "points_balance": PointsBalance,
    "redeemed": Redeemed,
}


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every condition holds."""

    all: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one condition holds."""

    any: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The condition does not hold."""

    not_: Condition


Condition = Leaf | AllOf | AnyOf | Not


@dataclass(frozen=True, slots=True)
class Rule:
    """A whole rule: its root condition, and the JSON it was parsed from (what is stored and shown)."""

    root: Condition
    source: dict[str, Any]


def leaves(cond: Condition) -> list[Leaf]:
    """Every leaf condition of ``cond``, in order."""
    if isinstance(cond, AllOf):
        return [leaf for c in cond.all for leaf in leaves(c)]
    if isinstance(cond, AnyOf):
        return [leaf for c in cond.any for leaf in leaves(c)]
    if isinstance(cond, Not):
        return leaves(cond.not_)
    return [cond]


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def add(self, path: str) -> None:
        self.n += 1
        if self.n > MAX_CONDITIONS:
            raise InvalidInput(path, f"the rule has more than {MAX_CONDITIONS} conditions", code=_CODE)


_CODE: Final = "segment_rule_invalid"


def _parse(value: object, path: str, depth: int, counter: _Counter) -> Condition:
    counter.add(path)
    if not isinstance(value, dict):
        raise InvalidInput(path, "must be an object: a condition with a kind, or all / any / not", code=_CODE)
    if depth > MAX_DEPTH:
        raise InvalidInput(path, f"nests deeper than {MAX_DEPTH} levels of all / any / not", code=_CODE)
    combinators = [k for k in ("all", "any", "not") if k in value]
    if combinators:
        key = combinators[0]
        if len(value) != 1:
            raise InvalidInput(path, f"a {key!r} condition takes no other keys", code=_CODE)
        inner = value[key]
        if key == "not":
            return Not(_parse(inner, f"{path}.not", depth + 1, counter))
        if not isinstance(inner, list) or not 1 <= len(inner) <= MAX_CONDITIONS:
            raise InvalidInput(f"{path}.{key}", f"must be a list of 1 to {MAX_CONDITIONS} conditions", code=_CODE)
        children = tuple(_parse(c, f"{path}.{key}.{i}", depth + 1, counter) for i, c in enumerate(inner))
        return AllOf(children) if key == "all" else AnyOf(children)
    kind = value.get("kind")
    model = _LEAVES.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(sorted(_LEAVES))
        raise InvalidInput(f"{path}.kind", f"must be one of {known} (or use all / any / not)", code=_CODE)
    try:
        leaf: Leaf = model.model_validate(value)  # type: ignore[assignment]
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{path}.{loc}" if loc else path, first["msg"], code=_CODE) from exc
    return leaf


def parse_rule(value: object) -> Rule:
    """The rule ``value`` (JSON-like) describes; :class:`InvalidInput` naming the field (``rule.all.0.kind``)
    when it cannot be evaluated."""
    if isinstance(value, Rule):
        return value
    root = _parse(value, "rule", 1, _Counter())
    assert isinstance(value, dict)
    return Rule(root, value)
