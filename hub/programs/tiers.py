"""Customer tiers at the hub.

:func:`recompute_tier` measures the program's tier basis (points earned in a rolling window, or transactions in
the calendar month, :func:`tier_value`) and applies :class:`core.tiers.TierRules` through
:func:`core.tiers.decide_tier`: upgrades at once, downgrades only when a period closes below the tier's
minimum, after ``grace_periods`` such periods. The same rule runs on the box.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.points import PointsProgram
from core.tiers import TierBasis, TierDecision, TierRules, TierState, decide_tier
from hub import db
from hub import ledger as lg
from hub.customers.history import _event_uuid
from hub.customers.merge import _customer_accounts
from hub.customers.records import _active, _aliases, _aware, _row, _utc, check_loyalty_id, resolve

__all__ = [
    "TierDecision",
    "TierRules",
    "TierState",
    "decide_tier",
    "recompute_tier",
    "tier_value",
]


def tier_value(
    conn: Connection,
    tenant: str,
    loyalty_id: str,
    program: str,
    basis: TierBasis,
    start: datetime,
    end: datetime,
) -> int:
    """The tier basis of a customer over ``[start, end)``: points earned (net of reversed earnings) or
    transactions (sales that earned or redeemed points), over its own id and merged ids."""
    lid = resolve(conn, tenant, check_loyalty_id(loyalty_id))
    ids = [lid, *_aliases(conn, tenant, lid)]
    accounts = [a.id for a in _customer_accounts(conn, tenant, ids) if a.program == program]
    if not accounts:
        return 0
    t = db.ledger_transfer
    window = (t.c.tenant == tenant) & (t.c.effective_at >= start) & (t.c.effective_at < end)
    if basis is TierBasis.POINTS:
        earned = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(t.c.amount), 0)).where(
                window, t.c.code == lg.Code.EARN.value, t.c.credit_account_id.in_(accounts), t.c.state == "posted"
            )
        ).scalar_one()
        reversed_ = _reversed_earnings(conn, tenant, accounts, start, end)
        return max(0, int(earned) - int(reversed_))
    refs = conn.execute(
        sa.select(t.c.ref)
        .distinct()
        .where(
            window,
            t.c.code.in_([lg.Code.EARN.value, lg.Code.REDEEM.value]),
            sa.or_(t.c.credit_account_id.in_(accounts), t.c.debit_account_id.in_(accounts)),
        )
    )
    return sum(1 for (ref,) in refs if _event_uuid(ref) is not None)


def _reversed_earnings(
    conn: Connection, tenant: str, accounts: Sequence[uuid.UUID], start: datetime, end: datetime
) -> int:
    """Points taken back from the customer by reversals of earn transfers within the window."""
    t = db.ledger_transfer
    rows = conn.execute(
        sa.select(t.c.ref, t.c.amount).where(
            t.c.tenant == tenant,
            t.c.code == lg.Code.REVERSE.value,
            t.c.debit_account_id.in_(accounts),
            t.c.effective_at >= start,
            t.c.effective_at < end,
        )
    ).all()
    if not rows:
        return 0
    originals = {u for ref, _ in rows if (u := _event_uuid(ref)) is not None}
    earns: set[uuid.UUID] = set()
    for chunk in db.chunks(list(originals)):
        earns.update(
            r[0] for r in conn.execute(sa.select(t.c.id).where(t.c.id.in_(chunk), t.c.code == lg.Code.EARN.value))
        )
    return sum(amount for ref, amount in rows if _event_uuid(ref) in earns)


def _points_window_start(rules: TierRules, end: datetime) -> datetime:
    if rules.points_window_months == 0:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return lg.add_months(end, -rules.points_window_months)


def recompute_tier(
    conn: Connection,
    tenant: str,
    loyalty_id: str,
    program: PointsProgram,
    rules: TierRules,
    *,
    now: datetime | None = None,
) -> TierDecision:
    """Review a customer's tier under ``program``'s scheme and ``rules``, store the decision, return it.

    A program without tiers leaves the customer without a tier.
    """
    moment = _aware(now or datetime.now(UTC), "now")
    lid = _active(conn, tenant, loyalty_id)
    r = _row(conn, tenant, lid)
    state = TierState(r.tier_id, _utc(r.tier_since), r.tier_grace_used, _utc(r.tier_reviewed_at), r.tier_value)
    scheme = program.tiers
    if scheme is None:
        decision = TierDecision(
            TierState(None, None, 0, moment, 0), "kept" if r.tier_id is None else "downgrade", r.tier_id
        )
    else:
        basis = scheme.basis
        if basis is TierBasis.ACTIVITY:
            start_now = datetime(moment.year, moment.month, 1, tzinfo=UTC)
        else:
            start_now = _points_window_start(rules, moment)
        value_now = tier_value(conn, tenant, lid, program.id, basis, start_now, moment + timedelta(microseconds=1))
        closed_value: int | None = None
        current_start = rules.period_start(moment)
        if state.reviewed_at is not None and state.reviewed_at < current_start:
            if basis is TierBasis.ACTIVITY:
                month_start = lg.add_months(datetime(current_start.year, current_start.month, 1, tzinfo=UTC), -1)
                closed_value = tier_value(conn, tenant, lid, program.id, basis, month_start, current_start)
            else:
                closed_value = tier_value(
                    conn, tenant, lid, program.id, basis, _points_window_start(rules, current_start), current_start
                )
        decision = decide_tier(scheme, rules, state, value_now=value_now, closed_value=closed_value, now=moment)
    s = decision.state
    c = db.customer
    conn.execute(
        sa.update(c)
        .where(c.c.tenant == tenant, c.c.loyalty_id == lid)
        .values(
            tier_id=s.tier_id,
            tier_since=s.since,
            tier_grace_used=s.grace_used,
            tier_reviewed_at=s.reviewed_at,
            tier_value=s.value,
            updated_at=moment,
        )
    )
    return decision
