"""Saved segments and their evaluation into member lists.

A segment is a tenant's named rule (:mod:`hub.segments.rules`) under a stable id (the id promotions name in
their audience, ``{"kind": "segments", "ids": [...]}``). Saving checks the rule parses and that what it names
exists: a tier of the tenant's program, a region of its stores or postal areas, an sku, category or brand of
its catalogue; otherwise :class:`core.errors.InvalidInput` names the field and says why.

:func:`evaluate` turns the rule into one SQL statement over the analytics rollups and facts (one sub-select
per condition, combined with AND / OR / NOT over the tenant's active members) and stores the result in
``segment_member`` with the time and the rule version it was computed from, in the caller's transaction. The
jobs round calls :func:`evaluate_due` (a segment whose rule changed, or whose list is older than
:data:`EVALUATE_EVERY`). The boxes receive the memberships of their customers in the customers snapshot.

"Today" for the windows is the evaluation's date in the tenant's zone: the time zone most of its stores use
(:func:`tenant_zone`). Windows count whole store-local days, today included.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import InvalidInput
from hub import db
from hub import ledger as lg
from hub.errors import HubError
from hub.programs import points as program_points
from hub.segments import levels as lv
from hub.segments import rules as r

__all__ = [
    "EVALUATE_EVERY",
    "MAX_MEMBERS",
    "MAX_MEMBERS_PAGE",
    "MAX_SEGMENTS",
    "SEGMENTS_PER_ROUND",
    "Evaluation",
    "Segment",
    "SegmentNotFound",
    "check_references",
    "create",
    "delete",
    "evaluate",
    "evaluate_due",
    "get",
    "list_segments",
    "matching",
    "members",
    "tenant_zone",
    "update",
]

log = logging.getLogger(__name__)

MAX_SEGMENTS: Final = 200
"""Most segments one tenant may save (each is evaluated by the jobs round)."""

MAX_MEMBERS: Final = 1_000_000
"""Most members one segment's evaluation may store; a rule matching more is stored empty with the reason."""

MAX_MEMBERS_PAGE: Final = 10_000
"""Most members one read of a segment's list returns (page on with ``after``)."""

EVALUATE_EVERY: Final = timedelta(hours=1)
"""A segment's list is re-evaluated by the jobs round when it is older than this (or its rule changed)."""

SEGMENTS_PER_ROUND: Final = 20
"""Most segments one jobs round evaluates (the stalest first; the rest wait for the next round)."""

_ID: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_CODE: Final = "segment_rule_invalid"


class SegmentNotFound(HubError, LookupError):
    """No segment of that id in the tenant."""

    code = "segment_not_found"


@dataclass(frozen=True, slots=True)
class Segment:
    """A saved segment as the API shows it."""

    tenant: str
    segment: str
    name: str
    rule: dict[str, Any]
    version: int
    evaluated_version: int | None
    evaluated_at: datetime | None
    member_count: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What one evaluation of a segment stored."""

    segment: str
    members: int
    evaluated_at: datetime
    error: str | None = None


def _segment(row: Any) -> Segment:
    return Segment(
        row.tenant,
        row.segment,
        row.name,
        dict(row.rule),
        int(row.version),
        row.evaluated_version,
        lg.as_utc(row.evaluated_at) if row.evaluated_at is not None else None,
        int(row.member_count) if row.member_count is not None else None,
        row.last_error,
        lg.as_utc(row.created_at),
        lg.as_utc(row.updated_at),
    )


def _check_id(segment: str) -> str:
    if not isinstance(segment, str) or not _ID.match(segment):
        raise InvalidInput(
            "segment", "must be 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit (e.g. big-spenders)"
        )
    return segment


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 120:
        raise InvalidInput("name", "must be 1 to 120 characters")
    return name.strip()


def _missing(conn: Connection, wanted: Sequence[str], column: sa.ColumnElement[Any], where: Any) -> list[str]:
    found = {v for (v,) in conn.execute(sa.select(column).where(where, column.in_(list(wanted))).distinct())}
    return [v for v in wanted if v not in found]


def _regions(conn: Connection, tenant: str, wanted: Sequence[str]) -> list[str]:
    st, pa = db.store, db.postal_area
    missing = _missing(conn, wanted, st.c.region, st.c.tenant == tenant)
    return _missing(conn, missing, pa.c.region, pa.c.tenant == tenant) if missing else []


def check_references(conn: Connection, tenant: str, rule: r.Rule, *, now: datetime) -> None:
    """Refuse a rule naming what the tenant does not have (:class:`InvalidInput` naming the condition)."""
    for i, leaf in enumerate(r.leaves(rule.root)):
        where = f"rule condition {i + 1} ({leaf.kind})"
        if isinstance(leaf, r.Tier):
            program = program_points.tenant_program(conn, tenant, now=now)
            known = {t.id for t in program.tiers.tiers} if program.tiers is not None else set()
            unknown = [t for t in leaf.tiers if t not in known]
            if unknown:
                raise InvalidInput(
                    f"{where}.tiers", f"no tier {unknown[0]!r} in the program (tiers: {sorted(known)})", code=_CODE
                )
        if isinstance(leaf, r.Zone):
            unknown = _regions(conn, tenant, leaf.regions)
            if unknown:
                raise InvalidInput(f"{where}.regions", f"no store or postal area in region {unknown[0]!r}", code=_CODE)
        if isinstance(leaf, r.Bought):
            column, values = leaf.dimension
            ci = db.catalogue_item
            unknown = _missing(conn, values, ci.c[column], ci.c.tenant == tenant)
            if unknown:
                raise InvalidInput(
                    f"{where}.{column if column == 'category' else column + 's'}".replace("category", "categories"),
                    f"no {column} {unknown[0]!r} in the catalogue",
                    code=_CODE,
                )
            if leaf.in_regions:
                unknown = _regions(conn, tenant, leaf.in_regions)
                if unknown:
                    raise InvalidInput(f"{where}.in_regions", f"no store in region {unknown[0]!r}", code=_CODE)


def _read(conn: Connection, tenant: str, segment: str) -> Any:
    s = db.segment
    row = conn.execute(sa.select(s).where(s.c.tenant == tenant, s.c.segment == segment)).first()
    if row is None:
        raise SegmentNotFound(f"no segment {segment!r}: list them with GET /segments")
    return row


def get(conn: Connection, tenant: str, segment: str) -> Segment:
    return _segment(_read(conn, tenant, segment))


def list_segments(conn: Connection, tenant: str) -> list[Segment]:
    s = db.segment
    rows = conn.execute(sa.select(s).where(s.c.tenant == tenant).order_by(s.c.segment).limit(MAX_SEGMENTS))
    return [_segment(row) for row in rows]


def create(conn: Connection, tenant: str, segment: str, name: str, rule: object, *, now: datetime) -> Segment:
    """Save a new segment (not evaluated yet: :func:`evaluate`, or the next jobs round)."""
    _check_id(segment)
    name = _check_name(name)
    parsed = r.parse_rule(rule)
    check_references(conn, tenant, parsed, now=now)
    s = db.segment
    count = conn.execute(sa.select(sa.func.count()).where(s.c.tenant == tenant)).scalar_one()
    if count >= MAX_SEGMENTS:
        raise InvalidInput("segment", f"the tenant has {MAX_SEGMENTS} segments, the most allowed: delete one first")
    if conn.execute(sa.select(s.c.segment).where(s.c.tenant == tenant, s.c.segment == segment)).first():
        raise InvalidInput(
            "segment", f"{segment!r} exists already: update it or choose another id", code="segment_exists"
        )
    conn.execute(
        sa.insert(s).values(
            tenant=tenant, segment=segment, name=name, rule=parsed.source, version=1, created_at=now, updated_at=now
        )
    )
    return get(conn, tenant, segment)


def update(
    conn: Connection, tenant: str, segment: str, *, name: str | None = None, rule: object = None, now: datetime
) -> Segment:
    """Change a segment's name and/or rule; a new rule bumps its version (the jobs round re-evaluates it)."""
    row = _read(conn, tenant, segment)
    values: dict[str, Any] = {"updated_at": now}
    if name is not None:
        values["name"] = _check_name(name)
    if rule is not None:
        parsed = r.parse_rule(rule)
        check_references(conn, tenant, parsed, now=now)
        values["rule"] = parsed.source
        values["version"] = int(row.version) + 1
    s = db.segment
    conn.execute(sa.update(s).where(s.c.tenant == tenant, s.c.segment == segment).values(**values))
    return get(conn, tenant, segment)


def delete(conn: Connection, tenant: str, segment: str) -> None:
    """Delete a segment and its members (promotions naming it then reach nobody through it)."""
    _read(conn, tenant, segment)
    s, m = db.segment, db.segment_member
    conn.execute(sa.delete(m).where(m.c.tenant == tenant, m.c.segment == segment))
    conn.execute(sa.delete(s).where(s.c.tenant == tenant, s.c.segment == segment))


def tenant_zone(conn: Connection, tenant: str) -> ZoneInfo:
    """The zone most of the tenant's stores use (UTC for a tenant with no store)."""
    st = db.store
    zones = Counter(z for (z,) in conn.execute(sa.select(st.c.timezone).where(st.c.tenant == tenant)))
    if not zones:
        return ZoneInfo("UTC")
    best = max(sorted(zones), key=lambda z: zones[z])
    return ZoneInfo(best)


# --- compiling a rule to SQL -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ctx:
    tenant: str
    now: datetime
    today: date
    program: str
    scheme: lv.LevelScheme
    member: sa.ColumnElement[Any]
    """The column being tested: the member's loyalty id."""

    def since(self, days: int) -> date:
        return self.today - timedelta(days=days - 1)


def _bound(
    ctx: _Ctx, grouped: sa.Select[Any], agg: sa.ColumnElement[Any], low: int | None, high: int | None
) -> sa.ColumnElement[bool]:
    """``low <= agg <= high`` for the member, where a member with no row has ``agg`` 0: a bound that 0 meets
    is tested as NOT IN (the members that break it), one that 0 breaks as IN (the members that meet it)."""
    clauses: list[sa.ColumnElement[bool]] = []
    tests: list[tuple[sa.ColumnElement[bool], bool]] = []
    if low is not None:
        tests.append((agg >= low, low <= 0))
    if high is not None:
        tests.append((agg <= high, high >= 0))
    for meets, zero_meets in tests:
        if zero_meets:
            clauses.append(ctx.member.not_in(grouped.having(sa.not_(meets))))
        else:
            clauses.append(ctx.member.in_(grouped.having(meets)))
    return sa.and_(*clauses)


def _days(ctx: _Ctx, window_days: int) -> tuple[sa.Table, sa.Select[Any]]:
    m = db.analytics_day_store_member
    return m, (
        sa.select(m.c.customer)
        .where(m.c.tenant == ctx.tenant, m.c.local_date >= ctx.since(window_days), m.c.local_date <= ctx.today)
        .group_by(m.c.customer)
    )


def _redemptions(ctx: _Ctx, leaf: r.Redeemed) -> sa.Select[Any]:
    t, a = db.ledger_transfer, db.ledger_account
    voided = sa.select(db.ledger_transfer.c.pending_id).where(
        db.ledger_transfer.c.state == lg.State.VOIDED.value, db.ledger_transfer.c.pending_id.is_not(None)
    )
    q = (
        sa.select(a.c.owner)
        .select_from(t.join(a, a.c.id == t.c.debit_account_id))
        .where(
            t.c.tenant == ctx.tenant,
            t.c.program == ctx.program,
            t.c.code == lg.Code.REDEEM.value,
            # The first row of each redemption (a hold's post or void names it in ``pending_id``).
            t.c.pending_id.is_(None),
            t.c.id.not_in(voided.where(db.ledger_transfer.c.tenant == ctx.tenant)),
            a.c.kind == lg.Kind.CUSTOMER.value,
        )
        .group_by(a.c.owner)
        .having(sa.func.count() >= leaf.min_count)
    )
    if leaf.window_days is not None:
        q = q.where(t.c.created_at >= ctx.now - timedelta(days=leaf.window_days))
    return q


def _leaf(ctx: _Ctx, leaf: r.Leaf) -> sa.ColumnElement[bool]:
    if isinstance(leaf, r.Recency):
        m = db.analytics_day_store_member
        if leaf.within_days is not None:
            _, q = _days(ctx, leaf.within_days)
            return ctx.member.in_(q.having(sa.func.sum(m.c.tickets) > 0))
        assert leaf.not_within_days is not None
        _, recent = _days(ctx, leaf.not_within_days)
        ever = (
            sa.select(m.c.customer)
            .where(m.c.tenant == ctx.tenant, m.c.local_date <= ctx.today)
            .group_by(m.c.customer)
            .having(sa.func.sum(m.c.tickets) > 0)
        )
        return sa.and_(ctx.member.in_(ever), ctx.member.not_in(recent.having(sa.func.sum(m.c.tickets) > 0)))
    if isinstance(leaf, r.Frequency):
        m, q = _days(ctx, leaf.window_days)
        return _bound(ctx, q, sa.func.sum(m.c.tickets), leaf.min, leaf.max)
    if isinstance(leaf, r.Spend):
        m, q = _days(ctx, leaf.window_days)
        return _bound(ctx, q, sa.func.sum(m.c.amount_minor), leaf.min_minor, leaf.max_minor)
    if isinstance(leaf, r.AverageTicket):
        m, q = _days(ctx, leaf.window_days)
        tickets, amount = sa.func.sum(m.c.tickets), sa.func.sum(m.c.amount_minor)
        # Integer comparison: amount >= low * tickets, never a division.
        clauses = [tickets > 0]
        if leaf.min_minor is not None:
            clauses.append(amount >= tickets * leaf.min_minor)
        if leaf.max_minor is not None:
            clauses.append(amount <= tickets * leaf.max_minor)
        return ctx.member.in_(q.having(sa.and_(*clauses)))
    if isinstance(leaf, r.Bought):
        f = db.sale_line_fact
        column, values = leaf.dimension
        hit = sa.case((f.c[column].in_(values), f.c.event_id), else_=None)
        q = (
            sa.select(f.c.customer)
            .where(
                f.c.tenant == ctx.tenant,
                f.c.customer.is_not(None),
                f.c.refund.is_(False),
                f.c.local_date >= ctx.since(leaf.window_days),
                f.c.local_date <= ctx.today,
            )
            .group_by(f.c.customer)
        )
        if leaf.in_regions:
            q = q.where(f.c.region.in_(leaf.in_regions))
        matched, total = sa.func.count(sa.distinct(hit)), sa.func.count(sa.distinct(f.c.event_id))
        return ctx.member.in_(
            q.having(sa.and_(matched >= leaf.min_tickets, matched * 10_000 >= total * leaf.min_share_bp))
        )
    if isinstance(leaf, r.Zone):
        return ctx.member.in_(_zone_members(ctx.tenant, leaf.regions))
    if isinstance(leaf, r.Tier):
        c = db.customer
        return ctx.member.in_(sa.select(c.c.loyalty_id).where(c.c.tenant == ctx.tenant, c.c.tier_id.in_(leaf.tiers)))
    if isinstance(leaf, r.Level):
        month = lv.previous_month(lv.first_of_month(ctx.today))
        mm = db.analytics_member_month
        grouped = sa.select(mm.c.customer).where(mm.c.tenant == ctx.tenant, mm.c.month == month).group_by(mm.c.customer)
        tickets = sa.func.sum(mm.c.tickets)
        options = []
        for level in sorted(set(leaf.levels)):
            low, high = ctx.scheme.bounds(level)
            options.append(_bound(ctx, grouped, tickets, low or None, high))
        return sa.or_(*options)
    if isinstance(leaf, r.PointsBalance):
        a = db.ledger_account
        grouped = (
            sa.select(a.c.owner)
            .where(a.c.tenant == ctx.tenant, a.c.program == ctx.program, a.c.kind == lg.Kind.CUSTOMER.value)
            .group_by(a.c.owner)
        )
        balance = sa.func.sum(a.c.credits_posted - a.c.debits_posted - a.c.debits_pending)
        return _bound(ctx, grouped, balance, leaf.min, leaf.max)
    if isinstance(leaf, r.Redeemed):
        return ctx.member.in_(_redemptions(ctx, leaf))
    raise AssertionError(f"a leaf kind without SQL: {leaf!r}")


def _zone_members(tenant: str, regions: Sequence[str]) -> sa.Select[Any]:
    """Members whose zone is in ``regions``: their postal code's region if known, else their enrolment store's."""
    c, pa, st = db.customer, db.postal_area, db.store
    zone = sa.func.coalesce(pa.c.region, st.c.region)
    return (
        sa.select(c.c.loyalty_id)
        .select_from(
            c.outerjoin(pa, sa.and_(pa.c.tenant == c.c.tenant, pa.c.postal_code == c.c.postal_code)).outerjoin(
                st, sa.and_(st.c.tenant == c.c.tenant, st.c.store == c.c.enrolled_store)
            )
        )
        .where(c.c.tenant == tenant, zone.in_(list(regions)))
    )


def _compile(ctx: _Ctx, cond: r.Condition) -> sa.ColumnElement[bool]:
    if isinstance(cond, r.AllOf):
        return sa.and_(*(_compile(ctx, c) for c in cond.all))
    if isinstance(cond, r.AnyOf):
        return sa.or_(*(_compile(ctx, c) for c in cond.any))
    if isinstance(cond, r.Not):
        return sa.not_(_compile(ctx, cond.not_))
    return _leaf(ctx, cond)


def matching(conn: Connection, tenant: str, rule: object, *, now: datetime) -> sa.Select[Any]:
    """The SELECT of the loyalty ids of the tenant's active members matching ``rule`` at ``now``."""
    parsed = r.parse_rule(rule)
    c = db.customer
    program = program_points.tenant_program(conn, tenant, now=now)
    ctx = _Ctx(
        tenant,
        now,
        now.astimezone(tenant_zone(conn, tenant)).date(),
        program.id,
        lv.get_scheme(conn, tenant),
        c.c.loyalty_id,
    )
    return sa.select(c.c.loyalty_id).where(c.c.tenant == tenant, c.c.state == "active", _compile(ctx, parsed.root))


def evaluate(conn: Connection, tenant: str, segment: str, *, now: datetime) -> Evaluation:
    """Compute the segment's members now and store them (replacing the last list), in the caller's
    transaction. More than :data:`MAX_MEMBERS` stores none, and says so in ``last_error``."""
    row = _read(conn, tenant, segment)
    query = matching(conn, tenant, row.rule, now=now)
    count = int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one())
    s, m = db.segment, db.segment_member
    conn.execute(sa.delete(m).where(m.c.tenant == tenant, m.c.segment == segment))
    error = None
    if count > MAX_MEMBERS:
        error = f"the rule matches {count} members, more than {MAX_MEMBERS}: narrow it"
        count = 0
    else:
        selected = query.with_only_columns(
            sa.literal(tenant, sa.String(64)).label("tenant"),
            sa.literal(segment, sa.String(64)).label("segment"),
            db.customer.c.loyalty_id,
        )
        conn.execute(sa.insert(m).from_select(["tenant", "segment", "loyalty_id"], selected))
    conn.execute(
        sa.update(s)
        .where(s.c.tenant == tenant, s.c.segment == segment)
        .values(evaluated_version=row.version, evaluated_at=now, member_count=count, last_error=error)
    )
    return Evaluation(segment, count, now, error)


def evaluate_due(conn: Connection, tenant: str, *, now: datetime, limit: int = SEGMENTS_PER_ROUND) -> list[Evaluation]:
    """Evaluate the segments whose rule changed since their last evaluation or whose list is older than
    :data:`EVALUATE_EVERY`, never evaluated first, then the stalest; at most ``limit``."""
    s = db.segment
    due = (
        conn.execute(
            sa.select(s.c.segment)
            .where(
                s.c.tenant == tenant,
                sa.or_(
                    s.c.evaluated_at.is_(None),
                    s.c.evaluated_version.is_(None),
                    s.c.evaluated_version != s.c.version,
                    s.c.evaluated_at < now - EVALUATE_EVERY,
                ),
            )
            .order_by(s.c.evaluated_at.is_not(None), s.c.evaluated_at, s.c.segment)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    return [evaluate(conn, tenant, segment, now=now) for segment in due]


def members(conn: Connection, tenant: str, segment: str, *, after: str | None = None, limit: int = 1_000) -> list[str]:
    """The loyalty ids of the segment's last evaluation, in order, after ``after``; at most ``limit``."""
    if not 1 <= limit <= MAX_MEMBERS_PAGE:
        raise InvalidInput("limit", f"must be 1 to {MAX_MEMBERS_PAGE}")
    _read(conn, tenant, segment)
    m = db.segment_member
    q = sa.select(m.c.loyalty_id).where(m.c.tenant == tenant, m.c.segment == segment)
    if after is not None:
        q = q.where(m.c.loyalty_id > after)
    return list(conn.execute(q.order_by(m.c.loyalty_id).limit(limit)).scalars())


def iter_members(conn: Connection, tenant: str, segment: str) -> Iterator[str]:
    """Every member of the segment's last list, page by page (for a CSV export)."""
    after: str | None = None
    while True:
        page = members(conn, tenant, segment, after=after, limit=MAX_MEMBERS_PAGE)
        yield from page
        if len(page) < MAX_MEMBERS_PAGE:
            return
        after = page[-1]
