"""Evaluating promotions against a basket: the index, the rules of stacking, and the explanations.

Index
-----
:class:`PromotionSet` files every promotion under the keys its scope names (item ids, categories,
distributors, brands; ticket-wide promotions in a list of their own). Evaluating a basket looks up each
line's keys, so the cost grows with the promotions that *can* match the basket, not with the catalogue.
Promotions no line can reach are counted (``Evaluation.not_considered``) and, only when asked, explained
as ``no_matching_lines``.

Order and stacking
------------------
Candidates are considered in a stable order: ``priority`` (lower first), then ``id``. Each one's conditions
are checked in a fixed order, and the first that fails is its skip reason. Of the promotions that qualify:

* if any ``exclusive`` one gives a benefit, the first such (in that order) is applied alone and every other
  qualifying promotion is skipped with ``excluded_by_exclusive``;
* otherwise all qualifying promotions apply, one after another. Each discount works on what earlier
  discounts left of each line, so a line never goes below zero and neither does the ticket; a promotion
  that finds nothing left is skipped with ``nothing_left_to_discount``.

Minimum spend and quantity are judged on the scoped lines' gross amounts (before any discount), so whether
a promotion qualifies never depends on the others.

Amounts and rounding
--------------------
A percentage is applied once to the scoped lines' remaining total and rounded half up to a minor unit; a
fixed amount is capped at that total. The promotion's discount is then split over its lines in proportion
to what each line has left, by the largest remainder method (:func:`core.money.allocate`): the parts sum
exactly to the discount and no line gets more than it has. Buy-N-get-M rounds each line's share half up.
The funders' shares are the discount split by :func:`core.money.allocate` over their basis points.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction
from functools import lru_cache
from typing import Final, assert_never

from pydantic import Field

from core.errors import InvalidInput
from core.money import allocate, apply_rate, currency, format_rate
from core.promotions.base import Model
from core.promotions.model import (
    AmountOff,
    AudienceKind,
    BonusPoints,
    BuyGetDiscount,
    BuyGetFree,
    EventKind,
    PercentOff,
    PointsMultiplier,
    Promotion,
    ScopeKind,
    Stacking,
)
from core.promotions.timing import event_occurrence_in_window, to_local

__all__ = [
    "Applied",
    "Evaluation",
    "EvaluationContext",
    "Funder",
    "PromoLine",
    "PromotionSet",
    "PromotionUsage",
    "Shopper",
    "SkipReason",
    "Skipped",
    "evaluate",
]


class Funder(enum.StrEnum):
    """Who pays for a benefit."""

    DISTRIBUTOR = "distributor"
    RETAILER = "retailer"


class SkipReason(enum.StrEnum):
    """Why a promotion did not apply; stable codes, in the order the checks run."""

    INACTIVE = "inactive"
    WRONG_STORE = "wrong_store"
    CURRENCY_MISMATCH = "currency_mismatch"
    NOT_STARTED = "not_started"
    EXPIRED = "expired"
    WRONG_DAY = "wrong_day"
    WRONG_HOUR = "wrong_hour"
    NOT_A_MEMBER = "not_a_member"
    AUDIENCE = "audience"
    NOT_EVENT_DAY = "not_event_day"
    CAP_REACHED = "cap_reached"
    NO_MATCHING_LINES = "no_matching_lines"
    MIN_QUANTITY = "min_quantity"
    MIN_SPEND = "min_spend"
    NOT_ENOUGH_UNITS = "not_enough_units"
    EXCLUDED_BY_EXCLUSIVE = "excluded_by_exclusive"
    NOTHING_LEFT_TO_DISCOUNT = "nothing_left_to_discount"


@dataclass(frozen=True, slots=True)
class PromoLine:
    """A basket line as promotions see it. ``quantity`` is a count of units."""

    line_id: str
    item_id: str
    category: str
    quantity: int
    unit_price_minor: int
    distributor: str | None = None
    brand: str | None = None

    @property
    def gross_minor(self) -> int:
        return self.unit_price_minor * self.quantity


@dataclass(frozen=True, slots=True)
class Shopper:
    """What promotions may know of an identified customer; every fact comes from the caller."""

    customer_id: str
    tier: str | None = None
    segment_ids: frozenset[str] = frozenset()
    birth_date: date | None = None
    enrolled_on: date | None = None


class PromotionUsage(Model):
    """How often a promotion has been used so far: by this customer, and by everyone."""

    customer_uses: int = Field(default=0, ge=0, strict=True)
    total_uses: int = Field(default=0, ge=0, strict=True)


@dataclass(frozen=True)
class EvaluationContext:
    """Everything besides the lines that promotions depend on. ``now`` must be timezone-aware."""

    now: datetime
    timezone: str
    currency: str
    store_id: str | None = None
    retailer_id: str | None = None
    customer: Shopper | None = None
    usage: Mapping[str, PromotionUsage] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Applied:
    """A promotion that applied: its discount, per line and per funder, and the points it grants."""

    promotion: Promotion
    discount_minor: int
    line_discounts: tuple[tuple[str, int], ...]
    funders: tuple[tuple[Funder, int], ...]
    bonus_points: int
    multiplier: Fraction | None
    points_line_ids: tuple[str, ...]
    detail: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A promotion that did not apply, with a stable reason code and a sentence for people."""

    promotion: Promotion
    reason: SkipReason
    text: str


@dataclass(frozen=True)
class Evaluation:
    """The outcome for one basket: results in evaluation order and each line's total discount."""

    results: tuple[Applied | Skipped, ...]
    line_discount_minor: Mapping[str, int]
    discount_minor: int
    not_considered: int

    @property
    def applied(self) -> tuple[Applied, ...]:
        return tuple(r for r in self.results if isinstance(r, Applied))

    @property
    def skipped(self) -> tuple[Skipped, ...]:
        return tuple(r for r in self.results if isinstance(r, Skipped))


_DISCOUNT_EFFECTS: Final = (AmountOff, PercentOff, BuyGetFree, BuyGetDiscount)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A promotion with its lookups precomputed for the hot path."""

    rank: int
    promotion: Promotion
    scope_kind: ScopeKind
    scope_ids: frozenset[str]
    excluded_items: frozenset[str]
    weekdays: frozenset[int]
    audience_ids: frozenset[str]
    store_ids: frozenset[str]
    retailer_ids: frozenset[str]


# Most promotions leave most of these lookups empty; sharing one empty set keeps a large catalogue small,
# which keeps full garbage collections short.
_NONE: Final[frozenset[str]] = frozenset()
_NO_DAYS: Final[frozenset[int]] = frozenset()


def _frozen(values: Iterable[str]) -> frozenset[str]:
    found = frozenset(values)
    return found if found else _NONE


def _compile(rank: int, promotion: Promotion) -> _Compiled:
    conditions = promotion.conditions
    weekdays = frozenset(day.iso for day in conditions.days_of_week)
    return _Compiled(
        rank=rank,
        promotion=promotion,
        scope_kind=promotion.scope.kind,
        scope_ids=_frozen(promotion.scope.ids),
        excluded_items=_frozen(promotion.scope.exclude_item_ids),
        weekdays=weekdays if weekdays else _NO_DAYS,
        audience_ids=_frozen(promotion.audience.ids),
        store_ids=_frozen(conditions.store_ids),
        retailer_ids=_frozen(conditions.retailer_ids),
    )


class PromotionSet:
    """An immutable, indexed set of promotions; build it once per promotion-set version and reuse it."""

    def __init__(self, promotions: Iterable[Promotion], *, field_name: str = "promotions") -> None:
        listed = list(promotions)
        seen: dict[str, int] = {}
        for position, promotion in enumerate(listed):
            if not isinstance(promotion, Promotion):
                raise InvalidInput(f"{field_name}.{position}", "must be a Promotion")
            if promotion.id in seen:
                raise InvalidInput(
                    f"{field_name}.{position}.id",
                    f"{promotion.id!r} repeats the id of {field_name}.{seen[promotion.id]}",
                )
            seen[promotion.id] = position
        ordered = sorted(listed, key=lambda p: (p.priority, p.id))
        self._compiled: tuple[_Compiled, ...] = tuple(_compile(rank, p) for rank, p in enumerate(ordered))
        self._ticket: list[int] = []
        self._keyed: dict[ScopeKind, dict[str, list[int]]] = {
            ScopeKind.ITEM: {},
            ScopeKind.CATEGORY: {},
            ScopeKind.DISTRIBUTOR: {},
            ScopeKind.BRAND: {},
        }
        for compiled in self._compiled:
            if compiled.scope_kind is ScopeKind.TICKET:
                self._ticket.append(compiled.rank)
                continue
            index = self._keyed[compiled.scope_kind]
            for key in compiled.scope_ids:
                index.setdefault(key, []).append(compiled.rank)
        self._by_id = {c.promotion.id: c.promotion for c in self._compiled}

    def __len__(self) -> int:
        return len(self._compiled)

    def __iter__(self) -> Iterator[Promotion]:
        return iter(c.promotion for c in self._compiled)

    def __contains__(self, promotion_id: object) -> bool:
        return promotion_id in self._by_id

    def get(self, promotion_id: str) -> Promotion | None:
        return self._by_id.get(promotion_id)

    @property
    def promotions(self) -> tuple[Promotion, ...]:
        """Every promotion, in evaluation order (priority, then id)."""
        return tuple(c.promotion for c in self._compiled)

    def _candidates(self, lines: Sequence[PromoLine]) -> list[tuple[_Compiled, list[int]]]:
        """The promotions some line can reach, in evaluation order, each with the lines in its scope."""
        reach: dict[int, list[int]] = {}
        everything = list(range(len(lines)))
        for rank in self._ticket:
            reach[rank] = everything
        items = self._keyed[ScopeKind.ITEM]
        categories = self._keyed[ScopeKind.CATEGORY]
        distributors = self._keyed[ScopeKind.DISTRIBUTOR]
        brands = self._keyed[ScopeKind.BRAND]
        for position, line in enumerate(lines):
            # A promotion has one scope kind and a line one key per kind, so no line is listed twice.
            for index, key in (
                (items, line.item_id),
                (categories, line.category),
                (distributors, line.distributor),
                (brands, line.brand),
            ):
                if key is None:
                    continue
                found = index.get(key)
                if found:
                    for rank in found:
                        reach.setdefault(rank, []).append(position)
        result: list[tuple[_Compiled, list[int]]] = []
        for rank in sorted(reach):
            compiled = self._compiled[rank]
            scoped = reach[rank]
            if compiled.excluded_items:
                scoped = [i for i in scoped if lines[i].item_id not in compiled.excluded_items]
            result.append((compiled, scoped))
        return result


def _money(amount_minor: int, code: str) -> str:
    """An amount for people: ``1,234.50 MXN`` (explanations only; amounts themselves stay integers)."""
    exponent = currency(code).exponent
    sign = "-" if amount_minor < 0 else ""
    if exponent == 0:
        return f"{sign}{abs(amount_minor):,} {code}"
    whole, part = divmod(abs(amount_minor), 10**exponent)
    return f"{sign}{whole:,}.{part:0{exponent}d} {code}"


class _Judge:
    """Checks one basket's conditions; holds what every promotion's check shares (local time, totals)."""

    def __init__(self, lines: Sequence[PromoLine], context: EvaluationContext) -> None:
        self.lines = lines
        self.context = context
        self.local = to_local(context.now, context.timezone)
        self.local_date = self.local.date()
        self.local_time = self.local.time().replace(tzinfo=None)
        self.weekday = self.local.isoweekday()

    def check(self, c: _Compiled, scoped: list[int]) -> tuple[SkipReason, str] | None:
        p = c.promotion
        ctx = self.context
        cond = p.conditions
        if not p.active:
            return SkipReason.INACTIVE, "the promotion is switched off"
        if c.store_ids and ctx.store_id not in c.store_ids:
            return SkipReason.WRONG_STORE, "not offered at this store"
        if c.retailer_ids and ctx.retailer_id not in c.retailer_ids:
            return SkipReason.WRONG_STORE, "not offered by this retailer"
        if p.currency is not None and p.currency != ctx.currency:
            return SkipReason.CURRENCY_MISMATCH, f"stated in {p.currency}, the ticket is in {ctx.currency}"
        timing = self._timing(c)
        if timing is not None:
            return timing
        audience = self._audience(c)
        if audience is not None:
            return audience
        usage = ctx.usage.get(p.id)
        if usage is not None:
            limits = p.limits
            if limits.max_uses_total is not None and usage.total_uses >= limits.max_uses_total:
                return (
                    SkipReason.CAP_REACHED,
                    f"used {usage.total_uses} times of {limits.max_uses_total} in total",
                )
            if limits.max_uses_per_customer is not None and usage.customer_uses >= limits.max_uses_per_customer:
                return (
                    SkipReason.CAP_REACHED,
                    f"this customer used it {usage.customer_uses} of {limits.max_uses_per_customer} times",
                )
        if not scoped:
            return SkipReason.NO_MATCHING_LINES, "no line of the ticket is in its scope"
        lines = self.lines
        if cond.min_quantity is not None:
            units = sum(lines[i].quantity for i in scoped)
            if units < cond.min_quantity:
                return (
                    SkipReason.MIN_QUANTITY,
                    f"needs {cond.min_quantity} units in scope, the ticket has {units}",
                )
        if cond.min_spend_minor is not None:
            spent = sum(lines[i].gross_minor for i in scoped)
            if spent < cond.min_spend_minor:
                return (
                    SkipReason.MIN_SPEND,
                    f"needs {_money(cond.min_spend_minor, ctx.currency)} in scope, "
                    f"the ticket has {_money(spent, ctx.currency)}",
                )
        effect = p.effect
        if isinstance(effect, BuyGetFree | BuyGetDiscount):
            units = sum(lines[i].quantity for i in scoped)
            if units < effect.buy + effect.get:
                return (
                    SkipReason.NOT_ENOUGH_UNITS,
                    f"buy {effect.buy} get {effect.get} needs {effect.buy + effect.get} units in scope, "
                    f"the ticket has {units}",
                )
        return None

    def _timing(self, c: _Compiled) -> tuple[SkipReason, str] | None:
        cond = c.promotion.conditions
        now = self.context.now
        start = cond.valid_from
        if start is not None:
            started = now >= start if isinstance(start, datetime) else self.local_date >= start
            if not started:
                return SkipReason.NOT_STARTED, f"starts {start.isoformat()}"
        end = cond.valid_until
        if end is not None:
            running = now < end if isinstance(end, datetime) else self.local_date <= end
            if not running:
                return SkipReason.EXPIRED, f"ended {end.isoformat()}"
        if c.weekdays and self.weekday not in c.weekdays:
            days = ", ".join(d.value for d in cond.days_of_week)
            return SkipReason.WRONG_DAY, f"runs on {days}; today is {self.local.strftime('%a').lower()}"
        if cond.hours and not any(w.contains(self.local_time) for w in cond.hours):
            hours = ", ".join(f"{w.start:%H:%M}-{w.end:%H:%M}" for w in cond.hours)
            return SkipReason.WRONG_HOUR, f"runs {hours} store time; it is {self.local_time:%H:%M}"
        return None

    def _audience(self, c: _Compiled) -> tuple[SkipReason, str] | None:
        p = c.promotion
        shopper = self.context.customer
        kind = p.audience.kind
        needs_member = (
            kind is not AudienceKind.EVERYONE
            or p.gives_points
            or p.conditions.event is not None
            or p.limits.max_uses_per_customer is not None
        )
        if shopper is None:
            if needs_member:
                return SkipReason.NOT_A_MEMBER, "only for identified members"
            return None
        if kind is AudienceKind.CUSTOMERS and shopper.customer_id not in c.audience_ids:
            return SkipReason.AUDIENCE, "offered to listed customers only"
        if kind is AudienceKind.TIERS and shopper.tier not in c.audience_ids:
            tiers = ", ".join(p.audience.ids)
            return SkipReason.AUDIENCE, f"for tiers {tiers}; the customer's tier is {shopper.tier or 'none'}"
        if kind is AudienceKind.SEGMENTS and c.audience_ids.isdisjoint(shopper.segment_ids):
            return SkipReason.AUDIENCE, "the customer is in none of its segments"
        event = p.conditions.event
        if event is not None:
            birthday = event.kind is EventKind.BIRTHDAY
            anchor = shopper.birth_date if birthday else shopper.enrolled_on
            what = "birthday" if birthday else "enrolment anniversary"
            if anchor is None:
                return SkipReason.NOT_EVENT_DAY, f"the customer's {what} is not known"
            hit = event_occurrence_in_window(anchor, self.local_date, event.days_before, event.days_after)
            if hit is None:
                return (
                    SkipReason.NOT_EVENT_DAY,
                    f"runs from {event.days_before} days before to {event.days_after} days after the customer's {what}",
                )
        return None


def _half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` (both non-negative) rounded half up, in integers.

    The same result as ``round_fraction(Fraction(numerator, denominator), HALF_UP)``, without building a
    Fraction on the hot path.
    """
    return (2 * numerator + denominator) // (2 * denominator)


@lru_cache(maxsize=1024)
def _percent(rate: Fraction) -> str:
    return f"{format_rate(rate * 100)}%"


def _units(count: int) -> str:
    return f"{count} unit" if count == 1 else f"{count} units"


def _allocate_over(total: int, scoped: list[int], remaining: list[int]) -> list[int]:
    if total == 0:
        return [0] * len(scoped)
    if len(scoped) == 1:
        return [total]
    return allocate(total, [remaining[i] for i in scoped])


def _fund(total: int, distributor_bp: int, retailer_bp: int) -> tuple[tuple[Funder, int], tuple[Funder, int]]:
    # A single funder takes it all; only a real split needs the largest-remainder allocation.
    if retailer_bp == 0:
        shares = [total, 0]
    elif distributor_bp == 0:
        shares = [0, total]
    else:
        shares = allocate(total, [distributor_bp, retailer_bp])
    return (Funder.DISTRIBUTOR, shares[0]), (Funder.RETAILER, shares[1])


def _reward_units(lines: Sequence[PromoLine], scoped: list[int], buy: int, get: int, cap: int | None) -> list[int]:
    """Units of each scoped line that are rewarded, dearest units first, in groups of ``buy + get``."""
    group = buy + get
    # Dearest first; equal prices keep basket order so the result never depends on anything else.
    ranked = sorted(range(len(scoped)), key=lambda k: (-lines[scoped[k]].unit_price_minor, k))
    total_units = sum(lines[i].quantity for i in scoped)
    groups = total_units // group
    if cap is not None:
        groups = min(groups, cap)
    limit = groups * group

    def rewarded_before(position: int) -> int:
        # Rewarded units among positions [0, position) of the ranked unit sequence.
        position = min(position, limit)
        whole, rest = divmod(position, group)
        return whole * get + max(0, rest - buy)

    rewards = [0] * len(scoped)
    start = 0
    for k in ranked:
        quantity = lines[scoped[k]].quantity
        rewards[k] = rewarded_before(start + quantity) - rewarded_before(start)
        start += quantity
    return rewards


@dataclass(slots=True)
class _Effect:
    amounts: list[int]
    bonus_points: int = 0
    multiplier: Fraction | None = None
    detail: str = ""


def _effect(c: _Compiled, lines: Sequence[PromoLine], scoped: list[int], remaining: list[int], code: str) -> _Effect:
    effect = c.promotion.effect
    if isinstance(effect, PercentOff):
        base = sum(remaining[i] for i in scoped)
        percent = effect.percent
        total = _half_up(base * percent.numerator, percent.denominator) if base >= 0 else apply_rate(base, percent)
        detail = f"{_percent(effect.percent)} off {_money(base, code)}"
        if effect.max_discount_minor is not None and total > effect.max_discount_minor:
            total = effect.max_discount_minor
            detail += f", capped at {_money(total, code)}"
        return _Effect(_allocate_over(min(total, base), scoped, remaining), detail=detail)
    if isinstance(effect, AmountOff):
        if effect.per_unit:
            amounts = [min(effect.amount_minor * lines[i].quantity, remaining[i]) for i in scoped]
            return _Effect(amounts, detail=f"{_money(effect.amount_minor, code)} off each unit")
        base = sum(remaining[i] for i in scoped)
        total = min(effect.amount_minor, base)
        return _Effect(_allocate_over(total, scoped, remaining), detail=f"{_money(effect.amount_minor, code)} off")
    if isinstance(effect, BuyGetFree | BuyGetDiscount):
        percent = Fraction(1) if isinstance(effect, BuyGetFree) else effect.percent
        rewards = _reward_units(lines, scoped, effect.buy, effect.get, effect.max_applications)
        # Each line gives up r/quantity of what it has left, times the percentage, rounded half up.
        top, bottom = percent.numerator, percent.denominator
        amounts = [
            _half_up(remaining[i] * r * top, lines[i].quantity * bottom) if r else 0
            for i, r in zip(scoped, rewards, strict=True)
        ]
        what = "free" if isinstance(effect, BuyGetFree) else f"at {_percent(percent)} off"
        return _Effect(amounts, detail=f"buy {effect.buy} get {effect.get} {what}: {_units(sum(rewards))} {what}")
    if isinstance(effect, BonusPoints):
        units = sum(lines[i].quantity for i in scoped)
        points = effect.points * units if effect.per_unit else effect.points
        detail = f"{effect.points} points per unit x {units}" if effect.per_unit else f"{effect.points} points"
        return _Effect([0] * len(scoped), bonus_points=points, detail=detail)
    if isinstance(effect, PointsMultiplier):
        return _Effect(
            [0] * len(scoped),
            multiplier=effect.multiplier,
            detail=f"points x{format_rate(effect.multiplier)}",
        )
    assert_never(effect)


def evaluate(
    promotions: PromotionSet,
    lines: Sequence[PromoLine],
    context: EvaluationContext,
    *,
    explain_unmatched: bool = False,
) -> Evaluation:
    """Apply ``promotions`` to ``lines``: deterministic, and every candidate explained (see module doc)."""
    if len({line.line_id for line in lines}) != len(lines):
        raise InvalidInput("lines", "line ids must be unique within a ticket")
    judge = _Judge(lines, context)
    code = context.currency
    candidates = promotions._candidates(lines)
    results: dict[int, Applied | Skipped] = {}
    qualified: list[tuple[_Compiled, list[int]]] = []
    for c, scoped in candidates:
        verdict = judge.check(c, scoped)
        if verdict is None:
            qualified.append((c, scoped))
        else:
            results[c.rank] = Skipped(c.promotion, verdict[0], verdict[1])

    gross = [line.gross_minor for line in lines]
    winner: _Compiled | None = None
    for c, scoped in qualified:
        if c.promotion.stacking is Stacking.EXCLUSIVE:
            trial = _effect(c, lines, scoped, gross, code)
            if any(trial.amounts) or trial.bonus_points or trial.multiplier is not None:
                winner = c
                break

    remaining = list(gross)
    for c, scoped in qualified:
        if winner is not None and c is not winner:
            results[c.rank] = Skipped(
                c.promotion,
                SkipReason.EXCLUDED_BY_EXCLUSIVE,
                f"the exclusive promotion {winner.promotion.id!r} applies alone",
            )
            continue
        outcome = _effect(c, lines, scoped, remaining, code)
        total = sum(outcome.amounts)
        is_discount = isinstance(c.promotion.effect, _DISCOUNT_EFFECTS)
        if is_discount and total == 0:
            results[c.rank] = Skipped(
                c.promotion,
                SkipReason.NOTHING_LEFT_TO_DISCOUNT,
                "earlier promotions left nothing to discount",
            )
            continue
        taken: tuple[tuple[str, int], ...] = ()
        # Points effects and untouched lines take nothing: most amounts are zero.
        if any(outcome.amounts):
            took: list[tuple[str, int]] = []
            for i, amount in zip(scoped, outcome.amounts, strict=True):
                if amount:
                    remaining[i] -= amount
                    took.append((lines[i].line_id, amount))
            taken = tuple(took)
        results[c.rank] = Applied(
            promotion=c.promotion,
            discount_minor=total,
            line_discounts=taken,
            funders=_fund(total, c.promotion.funding.distributor_bp, c.promotion.funding.retailer_bp),
            bonus_points=outcome.bonus_points,
            multiplier=outcome.multiplier,
            points_line_ids=tuple(lines[i].line_id for i in scoped) if not is_discount else (),
            detail=outcome.detail,
        )

    ordered: list[Applied | Skipped] = [results[rank] for rank in sorted(results)]
    considered = len(candidates)
    if explain_unmatched:
        seen = {c.rank for c, _ in candidates}
        unmatched = [
            Skipped(c.promotion, SkipReason.NO_MATCHING_LINES, "no line of the ticket is in its scope")
            for c in promotions._compiled
            if c.rank not in seen
        ]
        ordered = sorted([*ordered, *unmatched], key=lambda r: (r.promotion.priority, r.promotion.id))
        considered = len(promotions)
    line_discounts = {line.line_id: gross[i] - remaining[i] for i, line in enumerate(lines)}
    return Evaluation(
        results=tuple(ordered),
        line_discount_minor=line_discounts,
        discount_minor=sum(gross) - sum(remaining),
        not_considered=len(promotions) - considered,
    )
