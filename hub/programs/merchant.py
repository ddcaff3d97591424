"""The merchant program: retailers earn merchant points from the distributor.

Retailers earn in a program of their own (:attr:`MerchantRules.program`, one customer-kind account per
retailer, funded by the distributor's issuance account): for each consumer a store of theirs enrols (an
``enrolment`` event, once per loyalty id, posted by :mod:`hub.ingest.postings`), for their purchases from the
distributor (:func:`record_purchase`, called when a purchase order is received), and for reaching targets on
the count or value of their sales in a calendar month (:func:`award_targets`, idempotent per retailer, target
and month). :func:`merchant_balance` is a retailer's balance.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Final, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from core import wire
from core.errors import InvalidInput
from core.points import PointsProgram, Redemption
from core.promotions.base import validate_model
from hub import db
from hub import ledger as lg
from hub.ledger.locks import lock_tenants
from hub.programs.points import tenant_program

__all__ = [
    "MAX_TARGETS",
    "MerchantRules",
    "Target",
    "TargetAward",
    "award_targets",
    "merchant_balance",
    "merchant_rules",
    "record_purchase",
    "set_merchant_rules",
]

MAX_TARGETS: Final = 50
"""Most period targets in one tenant's merchant rules."""


_PERIOD_RE: Final = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")


class _Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Target(_Rules):
    """A period target: ``at_least`` sales (metric ``count``) or minor units of sales (``value``) in a calendar
    month earn the retailer ``points``."""

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    metric: Literal["count", "value"]
    at_least: Annotated[int, Field(strict=True, ge=1, le=10**15)]
    points: Annotated[int, Field(strict=True, ge=1, le=wire.MAX_POINTS)]


class MerchantRules(_Rules):
    """The tenant's merchant program: what a retailer earns, in the ledger program ``program``.

    ``purchase_points`` points for every whole ``purchase_per_minor`` minor units bought from the distributor;
    ``enrolment_points`` per consumer enrolled; ``targets`` per calendar month (UTC) of sales.
    """

    program: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")] = "merchant"
    enrolment_points: Annotated[int, Field(strict=True, ge=0, le=wire.MAX_POINTS)] = 50
    purchase_points: Annotated[int, Field(strict=True, ge=0, le=wire.MAX_POINTS)] = 1
    purchase_per_minor: Annotated[int, Field(strict=True, ge=1, le=10**12)] = 10_000
    lot_expiry_months: Annotated[int, Field(strict=True, ge=0, le=1200)] = 0
    targets: Annotated[tuple[Target, ...], Field(max_length=MAX_TARGETS)] = (
        Target(id="sales-count-300", metric="count", at_least=300, points=200),
        Target(id="sales-value-50000", metric="value", at_least=5_000_000, points=500),
    )


@dataclass(frozen=True)
class TargetAward:
    """Points a retailer earned for a target in a period."""

    retailer: str
    target: str
    achieved: int
    points: int


def set_merchant_rules(conn: Connection, tenant: str, rules: MerchantRules, *, now: datetime) -> None:
    """Store the tenant's merchant rules (targets ids must be unique)."""
    rules = validate_model(MerchantRules, rules, "rules")
    ids = [t.id for t in rules.targets]
    if len(set(ids)) != len(ids):
        raise InvalidInput("rules.targets", "target ids must be unique")
    row = {"tenant": tenant, "body": rules.model_dump(mode="json"), "updated_at": lg.as_utc(now)}
    stmt = db.insert(conn, db.merchant_rules).values(row)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant"], set_={"body": row["body"], "updated_at": row["updated_at"]}
        )
    )


def merchant_rules(conn: Connection, tenant: str) -> MerchantRules:
    """The tenant's merchant rules; the defaults of :class:`MerchantRules` when none are stored."""
    t = db.merchant_rules
    body = conn.execute(sa.select(t.c.body).where(t.c.tenant == tenant)).scalar_one_or_none()
    return MerchantRules() if body is None else validate_model(MerchantRules, body, "merchant_rules.body")


def _merchant_program(conn: Connection, tenant: str, now: datetime) -> MerchantRules:
    """The rules, with their program registered and the distributor's issuance account open."""
    rules = merchant_rules(conn, tenant)
    try:
        lg.get_program(conn, tenant, rules.program)
    except lg.UnknownProgram:
        currency = tenant_program(conn, tenant, now=now).currency
        program = PointsProgram(
            id=rules.program, name="Merchant program", currency=currency, redemption=Redemption(), tiers=None
        )
        lg.register_program(conn, tenant, program, lot_expiry_months=rules.lot_expiry_months, now=now)
    lg.open_accounts(conn, [lg.AccountSpec(tenant, rules.program, lg.Kind.ISSUANCE, lg.DISTRIBUTOR)], now=now)
    return rules


def _merchant_earn(
    conn: Connection,
    tenant: str,
    rules: MerchantRules,
    retailer: str,
    points: int,
    transfer_id: uuid.UUID,
    ref: str,
    now: datetime,
) -> lg.Status:
    account = lg.open_accounts(conn, [lg.AccountSpec(tenant, rules.program, lg.Kind.CUSTOMER, retailer)], now=now)[0]
    transfer = lg.Transfer(
        transfer_id,
        lg.account_id(tenant, rules.program, lg.Kind.ISSUANCE, lg.DISTRIBUTOR),
        account,
        points,
        lg.Code.EARN,
        ref,
        effective_at=now,
    )
    return lg.apply_transfers(conn, [transfer], now=now)[0].status


def record_purchase(
    conn: Connection, tenant: str, retailer: str, amount_minor: int, ref: str, *, now: datetime | None = None
) -> int:
    """Award the retailer merchant points for a purchase of ``amount_minor`` from the distributor (a purchase
    order received; ``ref`` names it). Idempotent per (retailer, ref); returns the points of the purchase."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor < 0:
        raise InvalidInput("amount_minor", "must be a whole, non-negative amount in minor units")
    if not ref or len(ref) > 200:
        raise InvalidInput("ref", "name the purchase order (1 to 200 characters)")
    if not retailer or retailer == lg.DISTRIBUTOR:
        raise InvalidInput("retailer", "name the retailer that bought")
    moment = lg.as_utc(now or datetime.now(UTC))
    lock_tenants(conn, [tenant])  # the merchant issuance account is the ingest's too
    rules = _merchant_program(conn, tenant, moment)
    points = amount_minor // rules.purchase_per_minor * rules.purchase_points
    if points:
        _merchant_earn(
            conn,
            tenant,
            rules,
            retailer,
            points,
            lg.derived_id("merchant-purchase", tenant, retailer, ref),
            ref,
            moment,
        )
    return points


def _period_bounds(period: str) -> tuple[datetime, datetime]:
    match = _PERIOD_RE.fullmatch(period) if isinstance(period, str) else None
    if match is None:
        raise InvalidInput("period", f"{period!r} is not a calendar month written YYYY-MM")
    start = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
    return start, lg.add_months(start, 1)


def award_targets(conn: Connection, tenant: str, period: str, *, now: datetime | None = None) -> list[TargetAward]:
    """Award each retailer the targets it reached in ``period`` (a calendar month, ``YYYY-MM``, UTC, on the
    box's sale time) counting the sales of its stores known to :mod:`hub.network`.

    Idempotent per (retailer, target, period): run it as often as wanted, during the month or after. Returns
    the awards this call made (none the second time).
    """
    start, end = _period_bounds(period)
    moment = lg.as_utc(now or datetime.now(UTC))
    lock_tenants(conn, [tenant])  # the merchant issuance account is the ingest's too
    rules = _merchant_program(conn, tenant, moment)
    if not rules.targets:
        return []
    s, st = db.sale, db.store
    figures: dict[str, dict[str, int]] = {}
    for retailer, count, value in conn.execute(
        sa.select(st.c.retailer, sa.func.count(), sa.func.coalesce(sa.func.sum(s.c.total_minor), 0))
        .join(st, sa.and_(st.c.tenant == s.c.tenant, st.c.store == s.c.store))
        .where(s.c.tenant == tenant, s.c.box_ts >= start, s.c.box_ts < end)
        .group_by(st.c.retailer)
    ):
        figures[retailer] = {"count": int(count), "value": int(value)}
    awards: list[TargetAward] = []
    for retailer in sorted(figures):
        for target in rules.targets:
            achieved = figures[retailer][target.metric]
            if achieved < target.at_least:
                continue
            status = _merchant_earn(
                conn,
                tenant,
                rules,
                retailer,
                target.points,
                lg.derived_id("merchant-target", tenant, retailer, period, target.id),
                f"target {target.id} {period}",
                moment,
            )
            if status is lg.Status.CREATED:
                awards.append(TargetAward(retailer, target.id, achieved, target.points))
    return awards


def merchant_balance(conn: Connection, tenant: str, retailer: str) -> int:
    """The retailer's merchant points (posted), 0 before it earned any."""
    rules = merchant_rules(conn, tenant)
    a = db.ledger_account
    row = conn.execute(
        sa.select(a.c.credits_posted, a.c.debits_posted).where(
            a.c.id == lg.account_id(tenant, rules.program, lg.Kind.CUSTOMER, retailer)
        )
    ).first()
    return 0 if row is None else int(row.credits_posted) - int(row.debits_posted)
