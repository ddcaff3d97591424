"""Points programs: earning, lucky draws, paying with points, and the rewards catalogue.

Earning
-------
A purchase earns on what the customer spent after discounts. Each line's eligible spend is its amount after
discounts as priced: tax included where shelf prices include tax, before tax where tax is added at the till,
so the same shelf price earns the same points everywhere. When the customer pays part of the ticket with
points and the program does not earn on points tender, every line's eligible spend is scaled down by the
same exact fraction (the share of the ticket paid in money).

Base points are ``eligible spend * earn.points / earn.per_spend_minor``, summed exactly over the ticket and
then rounded **down** once (1 point per 10.00 MXN: 19.99 MXN earns 1 point; two lines of 5.00 earn 1). Every
other entry is computed the same way, exactly, and rounded down on its own:

* item and category multipliers: ``(m - 1) * base`` of their lines (an item rule wins over a category rule
  on the same line, being more specific);
* the tier's earn multiplier: ``(m - 1) * base`` of the whole ticket;
* a promotion's points multiplier: ``(m - 1) * base`` of its lines;
* fixed bonuses: per unit of listed items, per visit, from promotions;
* birthday and enrolment-anniversary bonuses: once per yearly occurrence, when the store-local date is in
  the program's window (see :mod:`core.promotions.timing`) and the caller's record says the bonus for
  that occurrence has not been given yet.

Multipliers add up (a 2x item rule and a 2x promotion make 3x), they never compound. The total is the sum of
the entries, so a receipt's breakdown always adds up. Every entry names who funds it.

Lucky draws
-----------
A ticket earns one draw entry per ``spend_per_entry_minor`` of eligible money spend (rounded down, capped
per ticket). :func:`draw_winners` picks winners from the entries with a seed the caller provides: see there.

Paying with points
------------------
``redemption.points_per_step`` points pay ``redemption.value_minor_per_step`` minor units (100 points =
10.00 MXN). Points are spent in whole steps only, so every conversion is an exact integer in both directions.
Paying with points is a tender: it does not change prices or taxes.

Spending offline
----------------
A customer never spends more than they have as far as the spender knows (:func:`spendable_points`): the
hub judges its ledger; a box judges its **known balance** (:func:`known_balance`): the hub's last balance
snapshot, less the points this box redeemed for the customer since, plus the points it saw them earn since
(its sales and refunds the snapshot does not include yet: the snapshot says up to which of the box's own
events its balances go, acked or not). Online or offline, the box refuses anything beyond that
(:class:`PointsOverBalance`, which says how many points are available), so a box alone never takes a
balance below zero and a receipt never shows a negative balance.

The per-customer **offline allowance** is not points to spend. Two boxes offline at the same time each see
the same snapshot, and each may spend it: the hub sees both redemptions later. The allowance bounds that
overdraft at the hub: :func:`settle_offline_hold` posts an offline redemption as far as the customer's
account may go, down to minus the allowance, and voids the rest, so the network's exposure for one customer
never exceeds the allowance however many stores spent concurrently.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Annotated, Final, Literal

from pydantic import Field, ValidationInfo, field_validator

from core.errors import InvalidInput
from core.money import Rounding, allocate, currency, round_fraction
from core.promotions.base import (
    Identifier,
    Model,
    Points,
    PositiveInt,
    Rate,
    validate_json,
    validate_model,
)
from core.promotions.model import (
    MAX_EVENT_WINDOW_DAYS,
    Audience,
    AudienceKind,
    BuyGetFree,
    Conditions,
    Funding,
    Limits,
    PercentOff,
    Promotion,
    Scope,
    ScopeKind,
)
from core.promotions.timing import event_occurrence_in_window
from core.tiers import DEFAULT_POINTS_TIERS, Tier, TierScheme

__all__ = [
    "EarnLine",
    "EarnRate",
    "EventBonus",
    "HoldSettlement",
    "LuckyDraw",
    "Member",
    "PointsEarned",
    "PointsEntry",
    "PointsKind",
    "PointsOverBalance",
    "PointsProgram",
    "PointsTender",
    "PromotionPoints",
    "Redemption",
    "Reward",
    "RewardKind",
    "RewardRedemption",
    "check_spendable",
    "draw_winners",
    "earn_points",
    "known_balance",
    "load_program",
    "max_redeemable",
    "points_value_minor",
    "redeem_points",
    "redeem_reward",
    "settle_offline_hold",
    "spendable_points",
]

BASIS_POINTS: Final = 10_000
DISTRIBUTOR_FUNDED: Final = Funding(distributor_bp=BASIS_POINTS, retailer_bp=0)


class EarnRate(Model):
    """``points`` points for every ``per_spend_minor`` spent (1 per 1000 minor units = 1 per 10.00)."""

    points: PositiveInt = 1
    per_spend_minor: PositiveInt = 1000


class EventBonus(Model):
    """Points once per yearly event, within ``days_before``/``days_after`` of it (inclusive)."""

    points: PositiveInt
    days_before: Annotated[int, Field(strict=True, ge=0, le=MAX_EVENT_WINDOW_DAYS)] = 0
    days_after: Annotated[int, Field(strict=True, ge=0, le=MAX_EVENT_WINDOW_DAYS)] = 0


class LuckyDraw(Model):
    """One draw entry per ``spend_per_entry_minor`` of eligible spend, at most ``max_entries_per_ticket``."""

    spend_per_entry_minor: PositiveInt
    max_entries_per_ticket: PositiveInt | None = None


class Redemption(Model):
    """Points as tender: ``points_per_step`` points pay ``value_minor_per_step``, in whole steps.

    ``min_points`` is the smallest redemption; ``max_share_bp`` the largest share of a ticket payable in
    points (10000 = all of it).
    """

    points_per_step: PositiveInt = 100
    value_minor_per_step: PositiveInt = 1000
    min_points: Points = 0
    max_share_bp: Annotated[int, Field(strict=True, ge=0, le=BASIS_POINTS)] = BASIS_POINTS


class RewardKind(enum.StrEnum):
    """The kinds of rewards in a catalogue."""

    FREE_PRODUCT = "free_product"
    PERCENT_OFF_NEXT_PURCHASE = "percent_off_next_purchase"
    SHOWCASE_ITEM = "showcase_item"
    ONLINE_ITEM = "online_item"


class Reward(Model):
    """A catalogue reward with its points cost.

    ``free_product`` names an ``item_id`` (one unit free on a later ticket); ``percent_off_next_purchase``
    a ``percent``; both become a single-use promotion for the customer, valid ``valid_days`` days.
    ``showcase_item`` is handed over at the counter; ``online_item`` is delivered home or collected at the
    distribution centre.
    """

    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    kind: RewardKind
    points_cost: PositiveInt
    item_id: Identifier | None = Field(default=None, validate_default=True)
    percent: Rate | None = Field(default=None, validate_default=True)
    valid_days: Annotated[int, Field(strict=True, ge=1, le=366)] = 30

    @field_validator("item_id")
    @classmethod
    def _item_for_free_product(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind is RewardKind.FREE_PRODUCT and value is None:
            raise ValueError("a free_product reward needs the item_id it gives")
        if kind is not None and kind is not RewardKind.FREE_PRODUCT and value is not None:
            raise ValueError(f"only a free_product reward takes an item_id, not {kind}")
        return value

    @field_validator("percent")
    @classmethod
    def _percent_for_discount(cls, value: Fraction | None, info: ValidationInfo) -> Fraction | None:
        kind = info.data.get("kind")
        wants = kind is RewardKind.PERCENT_OFF_NEXT_PURCHASE
        if wants and value is None:
            raise ValueError("a percent_off_next_purchase reward needs a percent")
        if kind is not None and not wants and value is not None:
            raise ValueError(f"only a percent_off_next_purchase reward takes a percent, not {kind}")
        if value is not None and not 0 < value <= 1:
            raise ValueError('must be more than 0% and at most 100% ("20%" or "0.20")')
        return value


class PointsProgram(Model):
    """A consumer points program: how points are earned and spent, its tiers and its rewards."""

    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    currency: str = Field(min_length=3, max_length=3)
    earn: EarnRate = EarnRate()
    item_multipliers: dict[Identifier, Rate] = Field(default_factory=dict, max_length=10_000)
    category_multipliers: dict[Identifier, Rate] = Field(default_factory=dict, max_length=10_000)
    item_bonus_points: dict[Identifier, PositiveInt] = Field(default_factory=dict, max_length=10_000)
    visit_bonus_points: Points = 0
    birthday_bonus: EventBonus | None = None
    anniversary_bonus: EventBonus | None = None
    lucky_draw: LuckyDraw | None = None
    redemption: Redemption = Redemption()
    earn_on_points_tender: bool = False
    tiers: TierScheme | None = DEFAULT_POINTS_TIERS
    funding: Funding = DISTRIBUTOR_FUNDED
    rewards: tuple[Reward, ...] = Field(default=(), max_length=10_000)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        try:
            currency(value)
        except KeyError as exc:
            raise ValueError(f"{value!r} is not a known ISO 4217 currency") from exc
        return value

    @field_validator("item_multipliers", "category_multipliers")
    @classmethod
    def _multipliers(cls, value: dict[str, Fraction]) -> dict[str, Fraction]:
        for key, multiplier in value.items():
            if not 1 <= multiplier <= 100:
                raise ValueError(f"{key}: a multiplier must be at least 1 and at most 100")
        return value

    @field_validator("rewards")
    @classmethod
    def _unique_rewards(cls, value: tuple[Reward, ...]) -> tuple[Reward, ...]:
        ids = [r.id for r in value]
        if len(set(ids)) != len(ids):
            raise ValueError("reward ids must be unique")
        return value

    def reward(self, reward_id: str) -> Reward | None:
        return next((r for r in self.rewards if r.id == reward_id), None)


def load_program(source: str | bytes | object, field: str = "program") -> PointsProgram:
    """A program from JSON text or parsed data; problems raise InvalidInput naming the field."""
    if isinstance(source, str | bytes):
        return validate_json(PointsProgram, source, field)
    return validate_model(PointsProgram, source, field)


# --- earning -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EarnLine:
    """A priced line as points see it: ``amount_minor`` is after every discount, as priced."""

    line_id: str
    item_id: str
    category: str
    quantity: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class PromotionPoints:
    """Points a promotion grants: a fixed bonus and/or a multiplier on the base points of its lines."""

    promotion_id: str
    bonus_points: int
    multiplier: Fraction | None
    line_ids: tuple[str, ...]
    funding: Funding


@dataclass(frozen=True, slots=True)
class Member:
    """An identified customer's facts that earning depends on; the caller keeps the records.

    ``last_birthday_bonus_year`` and ``last_anniversary_bonus_year`` are the occurrence years whose bonus
    was already given (the year of the birthday or anniversary itself, which for a window reaching across
    New Year may differ from the year of the purchase).
    """

    customer_id: str
    birth_date: date | None = None
    enrolled_on: date | None = None
    last_birthday_bonus_year: int | None = None
    last_anniversary_bonus_year: int | None = None


class PointsKind(enum.StrEnum):
    """Why points were earned."""

    BASE = "base"
    ITEM_MULTIPLIER = "item_multiplier"
    CATEGORY_MULTIPLIER = "category_multiplier"
    TIER_MULTIPLIER = "tier_multiplier"
    PROMOTION_MULTIPLIER = "promotion_multiplier"
    ITEM_BONUS = "item_bonus"
    VISIT_BONUS = "visit_bonus"
    PROMOTION_BONUS = "promotion_bonus"
    BIRTHDAY = "birthday"
    ANNIVERSARY = "anniversary"


class PointsEntry(Model):
    """One line of the points breakdown: how many, why, from which rule, and who funds them."""

    kind: PointsKind
    source: str
    points: int = Field(ge=0)
    distributor_points: int = Field(ge=0)
    retailer_points: int = Field(ge=0)


class PointsEarned(Model):
    """The points a ticket earns. ``total`` is the sum of ``entries``.

    ``birthday_bonus_year`` / ``anniversary_bonus_year`` are set when that bonus was given, so the caller can
    record it and never give it twice.
    """

    total: int = Field(ge=0)
    entries: tuple[PointsEntry, ...]
    eligible_spend_minor: int = Field(ge=0)
    draw_entries: int = Field(ge=0)
    birthday_bonus_year: int | None = None
    anniversary_bonus_year: int | None = None


def _entry(kind: PointsKind, source: str, points: int, funding: Funding) -> PointsEntry:
    distributor, retailer = allocate(points, funding.weights)
    return PointsEntry(
        kind=kind, source=source, points=points, distributor_points=distributor, retailer_points=retailer
    )


def earn_points(
    program: PointsProgram,
    lines: Sequence[EarnLine],
    *,
    member: Member,
    local_date: date,
    tier: Tier | None = None,
    promotions: Sequence[PromotionPoints] = (),
    money_share: Fraction = Fraction(1),
) -> PointsEarned:
    """The points ``member`` earns for a ticket of ``lines`` (see the module docstring for every rule).

    ``local_date`` is the store-local date of the sale; ``tier`` the customer's tier (its earn multiplier
    applies); ``promotions`` the points granted by applied promotions; ``money_share`` the fraction of the
    ticket paid in money rather than points (1 when no points were spent).
    """
    spent_total = 0
    for position, line in enumerate(lines):
        if line.amount_minor < 0 or line.quantity < 0:
            raise InvalidInput(f"lines.{position}", "amount and quantity must not be negative")
        spent_total += line.amount_minor
    if not isinstance(money_share, Fraction | int) or not 0 <= money_share <= 1:
        raise InvalidInput("money_share", f"must be a fraction between 0 and 1, got {money_share!r}")
    share = Fraction(1) if program.earn_on_points_tender else Fraction(money_share)
    # Base points of any set of lines = factor * their spend; spends are summed as integers first so the
    # exact arithmetic stays cheap.
    factor = share * Fraction(program.earn.points, program.earn.per_spend_minor)
    spend_of = {line.line_id: line.amount_minor for line in lines}
    funding = program.funding
    entries: list[PointsEntry] = []

    def add(kind: PointsKind, source: str, exact: Fraction | int, funder: Funding = funding) -> None:
        # int() truncates towards zero, which is rounding DOWN, without building another Fraction.
        points = int(exact)
        if points > 0:
            entries.append(_entry(kind, source, points, funder))

    add(PointsKind.BASE, program.id, factor * spent_total)

    item_spend: dict[str, int] = {}
    category_spend: dict[str, int] = {}
    for line in lines:
        if line.item_id in program.item_multipliers:
            item_spend[line.item_id] = item_spend.get(line.item_id, 0) + line.amount_minor
        elif line.category in program.category_multipliers:
            category_spend[line.category] = category_spend.get(line.category, 0) + line.amount_minor
    for item_id in sorted(item_spend):
        extra = (program.item_multipliers[item_id] - 1) * factor * item_spend[item_id]
        add(PointsKind.ITEM_MULTIPLIER, item_id, extra)
    for category in sorted(category_spend):
        extra = (program.category_multipliers[category] - 1) * factor * category_spend[category]
        add(PointsKind.CATEGORY_MULTIPLIER, category, extra)
    if tier is not None and tier.earn_multiplier > 1:
        add(PointsKind.TIER_MULTIPLIER, tier.id, (tier.earn_multiplier - 1) * factor * spent_total)

    for promo in promotions:
        if promo.multiplier is not None:
            covered = sum(spend_of.get(line_id, 0) for line_id in promo.line_ids)
            extra = (promo.multiplier - 1) * factor * covered
            add(PointsKind.PROMOTION_MULTIPLIER, promo.promotion_id, extra, promo.funding)
        if promo.bonus_points:
            add(PointsKind.PROMOTION_BONUS, promo.promotion_id, promo.bonus_points, promo.funding)

    bought = {line.item_id: 0 for line in lines}
    for line in lines:
        if line.amount_minor > 0:
            bought[line.item_id] += line.quantity
    for item_id in sorted(bought):
        per_unit = program.item_bonus_points.get(item_id)
        if per_unit and bought[item_id]:
            add(PointsKind.ITEM_BONUS, item_id, per_unit * bought[item_id])
    if program.visit_bonus_points and spent_total > 0:
        add(PointsKind.VISIT_BONUS, program.id, program.visit_bonus_points)

    birthday_year = _event_bonus(program.birthday_bonus, member.birth_date, member.last_birthday_bonus_year, local_date)
    if birthday_year is not None and program.birthday_bonus is not None:
        add(PointsKind.BIRTHDAY, program.id, program.birthday_bonus.points)
    anniversary_year = _event_bonus(
        program.anniversary_bonus, member.enrolled_on, member.last_anniversary_bonus_year, local_date
    )
    if anniversary_year is not None and program.anniversary_bonus is not None:
        add(PointsKind.ANNIVERSARY, program.id, program.anniversary_bonus.points)

    eligible_spend = round_fraction(spent_total * share, Rounding.DOWN)
    draw_entries = 0
    if program.lucky_draw is not None:
        draw_entries = eligible_spend // program.lucky_draw.spend_per_entry_minor
        cap = program.lucky_draw.max_entries_per_ticket
        if cap is not None:
            draw_entries = min(draw_entries, cap)
    return PointsEarned(
        total=sum(e.points for e in entries),
        entries=tuple(entries),
        eligible_spend_minor=eligible_spend,
        draw_entries=draw_entries,
        birthday_bonus_year=birthday_year,
        anniversary_bonus_year=anniversary_year,
    )


def _event_bonus(bonus: EventBonus | None, anchor: date | None, last_year: int | None, today: date) -> int | None:
    if bonus is None or anchor is None:
        return None
    occurrence = event_occurrence_in_window(anchor, today, bonus.days_before, bonus.days_after)
    if occurrence is None or occurrence.year == last_year:
        return None
    return occurrence.year


# --- lucky draws ---------------------------------------------------------------------------------------

_DRAW_DOMAIN: Final = b"mostrador/lucky-draw/v1\x00"
MAX_DRAW_ENTRANTS: Final = 10_000_000


class _SeededStream:
    """Uniform integers from a seed: SHA-256 in counter mode, rejection-sampled (no modulo bias)."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0
        self._pool = b""

    def _take(self, count: int) -> bytes:
        while len(self._pool) < count:
            block = hashlib.sha256(_DRAW_DOMAIN + self._seed + self._counter.to_bytes(8, "big")).digest()
            self._pool += block
            self._counter += 1
        taken, self._pool = self._pool[:count], self._pool[count:]
        return taken

    def below(self, bound: int) -> int:
        """A uniform integer in ``[0, bound)``."""
        bits = (bound - 1).bit_length()
        if bits == 0:
            return 0
        width = (bits + 7) // 8
        mask = (1 << bits) - 1
        # Draw exactly as many bits as bound needs and retry values past it: each try succeeds with
        # probability above one half, and every value below bound is equally likely.
        while True:
            candidate = int.from_bytes(self._take(width), "big") & mask
            if candidate < bound:
                return candidate


def _seed_bytes(seed: bytes | int) -> bytes:
    if isinstance(seed, bytes):
        if not seed:
            raise InvalidInput("seed", "must not be empty")
        return b"b" + seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidInput("seed", f"must be bytes or a non-negative integer, not {type(seed).__name__}")
    if seed < 0:
        raise InvalidInput("seed", "must not be negative")
    # The prefix keeps the int 1 and the bytes b"\x01" from seeding the same draw.
    return b"i" + seed.to_bytes(max(1, (seed.bit_length() + 7) // 8), "big")


def draw_winners(entries: Mapping[str, int], winners: int, seed: bytes | int) -> list[str]:
    """Draw ``winners`` distinct entrants, each pick weighted by their number of entries.

    Fair and reproducible: entrants are put in order of their ids (the mapping's order does not matter);
    each pick takes a uniform integer below the remaining entries from a SHA-256 counter-mode stream of the
    seed, by rejection sampling, so every entry is exactly equally likely; the entrant holding that entry
    wins and leaves the draw with all their entries. The same entries and seed always give the same winners,
    on any machine and Python version. The seed must come from somewhere nobody controls (e.g. a published
    value fixed after the draw closes); this function only promises not to add bias of its own.
    """
    if isinstance(winners, bool) or not isinstance(winners, int) or winners < 0:
        raise InvalidInput("winners", "must be a non-negative integer")
    if len(entries) > MAX_DRAW_ENTRANTS:
        raise InvalidInput("entries", f"at most {MAX_DRAW_ENTRANTS} entrants per draw")
    pool: list[tuple[str, int]] = []
    for entrant in sorted(entries):
        count = entries[entrant]
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidInput(f"entries.{entrant}", "must be a non-negative integer count of entries")
        if count:
            pool.append((entrant, count))
    if winners > len(pool):
        raise InvalidInput("winners", f"asks for {winners} winners but only {len(pool)} entrants hold entries")
    stream = _SeededStream(_seed_bytes(seed))
    chosen: list[str] = []
    remaining = sum(count for _, count in pool)
    for _ in range(winners):
        ticket = stream.below(remaining)
        for position, (entrant, count) in enumerate(pool):
            if ticket < count:
                chosen.append(entrant)
                remaining -= count
                del pool[position]
                break
            ticket -= count
    return chosen


# --- paying with points -------------------------------------------------------------------------------


class PointsTender(Model):
    """Points spent as payment and the money they pay."""

    points: int = Field(ge=0)
    amount_minor: int = Field(ge=0)


def points_value_minor(program: PointsProgram, points: int, field: str = "points") -> int:
    """What ``points`` pay, in minor units; ``points`` must be whole steps of the program's rate."""
    if isinstance(points, bool) or not isinstance(points, int) or points < 0:
        raise InvalidInput(field, "must be a non-negative integer")
    step = program.redemption.points_per_step
    if points % step:
        raise InvalidInput(field, f"points are spent in steps of {step}; {points} is not a multiple of {step}")
    return points // step * program.redemption.value_minor_per_step


def max_redeemable(program: PointsProgram, amount_due_minor: int, balance_points: int) -> PointsTender:
    """The most a customer with ``balance_points`` may pay in points towards ``amount_due_minor``."""
    rule = program.redemption
    payable = amount_due_minor * rule.max_share_bp // BASIS_POINTS
    steps = min(max(balance_points, 0) // rule.points_per_step, max(payable, 0) // rule.value_minor_per_step)
    points = steps * rule.points_per_step
    if points < rule.min_points:
        return PointsTender(points=0, amount_minor=0)
    return PointsTender(points=points, amount_minor=steps * rule.value_minor_per_step)


class PointsOverBalance(InvalidInput):
    """Points asked beyond what the customer has; ``available_points`` is how many they may spend now."""

    code = "points_over_balance"

    def __init__(self, field: str, problem: str, *, available_points: int) -> None:
        super().__init__(field, problem)
        self.available_points = available_points


def known_balance(snapshot_points: int, redeemed_points: int, earned_points: int) -> int:
    """A box's known balance for a customer: the hub's ``snapshot_points``, less ``redeemed_points`` and plus
    ``earned_points`` this box recorded for them since that snapshot (see "Spending offline")."""
    return snapshot_points - redeemed_points + earned_points


def spendable_points(balance_points: int) -> int:
    """The most a customer with ``balance_points`` (a known balance, possibly negative) may spend: the
    balance itself, never less than zero. The offline allowance never adds to it."""
    return max(balance_points, 0)


def check_spendable(points: int, balance_points: int, field: str, *, why: str = "") -> int:
    """Refuse spending ``points`` beyond :func:`spendable_points` of ``balance_points``; returns what is
    spendable. ``why`` adds to the message where the balance comes from."""
    available = spendable_points(balance_points)
    if points > available:
        problem = f"{points} points asked, the customer has {available} points available"
        raise PointsOverBalance(field, problem + (f" ({why})" if why else ""), available_points=available)
    return available


def redeem_points(
    program: PointsProgram,
    points: int,
    *,
    amount_due_minor: int,
    balance_points: int,
    field: str = "redeem_points",
) -> PointsTender:
    """Check a request to pay ``points`` towards ``amount_due_minor`` and say what they pay.

    ``balance_points`` is the balance the caller knows (a box: :func:`known_balance`); nothing beyond it is
    spent, offline either (see "Spending offline").
    """
    value = points_value_minor(program, points, field)
    if points == 0:
        return PointsTender(points=0, amount_minor=0)
    rule = program.redemption
    if points < rule.min_points:
        raise InvalidInput(field, f"at least {rule.min_points} points per redemption, got {points}")
    check_spendable(points, balance_points, field)
    payable = amount_due_minor * rule.max_share_bp // BASIS_POINTS
    if value > payable:
        raise InvalidInput(field, f"{points} points pay {value} minor units, more than the {payable} payable in points")
    return PointsTender(points=points, amount_minor=value)


@dataclass(frozen=True, slots=True)
class HoldSettlement:
    """An offline redemption as the hub settles it: ``posted_points`` spent, ``voided_points`` released."""

    posted_points: int
    voided_points: int


def settle_offline_hold(available_points: int, hold_points: int, allowance_points: int) -> HoldSettlement:
    """Settle an offline redemption of ``hold_points`` the hub sees now.

    ``available_points`` is the customer's account at the hub (posted less held, possibly negative after
    earlier overdrafts) and ``allowance_points`` their offline allowance: the hold is posted as far as the
    account may go, down to minus the allowance, and the rest is voided. The box that honoured it had the
    points as far as it knew; what is voided is the stale part only another store's concurrent spending
    explains.
    """
    for name, value in (("hold_points", hold_points), ("allowance_points", allowance_points)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(name, "must be a non-negative integer")
    room = max(available_points + allowance_points, 0)
    posted = min(hold_points, room)
    return HoldSettlement(posted_points=posted, voided_points=hold_points - posted)


# --- rewards --------------------------------------------------------------------------------------------


class RewardRedemption(Model):
    """A reward taken: the points it costs, the balance left, and how it reaches the customer.

    For a free product or a discount on the next purchase, ``promotion`` is the single-use promotion that
    gives it at checkout; add it to the customer's promotions.
    """

    redemption_id: Identifier
    reward_id: str
    customer_id: str
    points: int = Field(ge=1)
    balance_after: int
    fulfilment: Literal["next_purchase", "counter", "home_delivery", "pickup"]
    promotion: Promotion | None = None


_REDEMPTION_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,56}")


def redeem_reward(
    program: PointsProgram,
    reward_id: str,
    *,
    customer_id: str,
    balance_points: int,
    redemption_id: str,
    now: datetime,
    delivery: Literal["home_delivery", "pickup"] | None = None,
) -> RewardRedemption:
    """Take ``reward_id`` from the program's catalogue for ``customer_id``; ids and time are the caller's."""
    if not _REDEMPTION_ID.fullmatch(redemption_id):
        raise InvalidInput(
            "redemption_id",
            "must be 1-57 letters, digits or . _ : / @ + - (it becomes part of a promotion id)",
        )
    reward = program.reward(reward_id)
    if reward is None:
        raise InvalidInput("reward_id", f"{reward_id!r} is not in program {program.id!r}'s catalogue")
    check_spendable(reward.points_cost, balance_points, "reward_id", why=f"{reward.name!r} costs {reward.points_cost}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInput("now", "must be timezone-aware")
    if reward.kind is RewardKind.ONLINE_ITEM:
        if delivery is None:
            raise InvalidInput("delivery", "an online reward is delivered home or picked up: say which")
        fulfilment: Literal["next_purchase", "counter", "home_delivery", "pickup"] = delivery
    elif delivery is not None:
        raise InvalidInput("delivery", f"only online rewards are delivered, not {reward.kind}")
    elif reward.kind is RewardKind.SHOWCASE_ITEM:
        fulfilment = "counter"
    else:
        fulfilment = "next_purchase"
    promotion = None
    if fulfilment == "next_purchase":
        promotion = _reward_promotion(program, reward, customer_id, redemption_id, now)
    return RewardRedemption(
        redemption_id=redemption_id,
        reward_id=reward.id,
        customer_id=customer_id,
        points=reward.points_cost,
        balance_after=balance_points - reward.points_cost,
        fulfilment=fulfilment,
        promotion=promotion,
    )


def _reward_promotion(
    program: PointsProgram, reward: Reward, customer_id: str, redemption_id: str, now: datetime
) -> Promotion:
    if reward.kind is RewardKind.FREE_PRODUCT and reward.item_id is not None:
        scope = Scope(kind=ScopeKind.ITEM, ids=(reward.item_id,))
        effect: BuyGetFree | PercentOff = BuyGetFree(type="buy_get_free", buy=0, get=1, max_applications=1)
    elif reward.percent is not None:
        scope = Scope(kind=ScopeKind.TICKET)
        effect = PercentOff(type="percent_off", percent=reward.percent)
    else:  # pragma: no cover - Reward's validators make this unreachable
        raise InvalidInput("reward_id", f"{reward.id!r} gives nothing at checkout")
    return validate_model(
        Promotion,
        {
            "id": f"reward:{redemption_id}",
            "name": reward.name,
            "description": f"reward {reward.id} redeemed for {reward.points_cost} points",
            # Already paid for with points, so it is considered before any other promotion.
            "priority": 0,
            "scope": scope,
            "effect": effect,
            "conditions": Conditions(valid_from=now, valid_until=now + timedelta(days=reward.valid_days)),
            "audience": Audience(kind=AudienceKind.CUSTOMERS, ids=(customer_id,)),
            "funding": program.funding,
            "limits": Limits(max_uses_total=1),
        },
        "promotion",
    )
