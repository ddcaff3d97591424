"""Points in money: settlement statements between the distributor and its retailers, the liability report,
the overdraft follow-up list, and the ledger's own consistency check.

Settlement (one period, one program)
------------------------------------
A retailer that accepts points as payment gave goods away: the distributor owes it the points' value. The
funder of the points spent owes that value back: the distributor for its program's points, a retailer for the
points of its own promotions. Everything passes through the distributor's ``clearing`` account, so each
retailer has one net figure per period:

* ``accepted_points``: points redeemed at the retailer's counters in the period, less redemptions reversed;
* ``funded_points``: points the retailer funded that customers spent in the period (wherever they spent
  them), taken from the lots each redemption consumed;
* money: ``points * value_minor_per_step / points_per_step`` of the program, rounded half up, per figure;
  ``net_minor = owed_to_party_minor - owed_by_party_minor`` (positive: the distributor pays the retailer).

The distributor's line is the mirror of all the others, so the statement always balances to zero. Points a
customer spent beyond its lots (an offline overdraft) are charged to the distributor, who grants the
allowance; when the customer earns again those new points pay the debt, and their funder is charged for them
in that period. The part of an offline redemption that :mod:`hub.ingest.postings` voided (beyond the customer's
allowance) never reaches the ledger: the store that honoured it is paid for the points posted only. Closing a
period posts ``settle`` transfers that empty the retailers' accounts into clearing
and clearing into the funders' issuance accounts; it is idempotent (a closed period returns its statement).
Periods are half-open ``[start, end)`` on the hub's booking time and must not overlap.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import InvalidInput
from core.money import Rounding, round_fraction
from hub import db
from hub.ledger import (
    DISTRIBUTOR,
    AccountFlag,
    AccountSpec,
    Code,
    Kind,
    LedgerError,
    LedgerProgram,
    State,
    Transfer,
    account_id,
    apply_transfers,
    as_utc,
    derived_id,
    get_program,
    open_accounts,
)

__all__ = [
    "Liability",
    "PeriodConflict",
    "Statement",
    "StatementLine",
    "check_ledger",
    "liability",
    "open_overdrafts",
    "points_value_minor",
    "resolve_overdraft",
    "settle_period",
]


class PeriodConflict(LedgerError, ValueError):
    """A settlement period that overlaps a closed one, or is not over yet."""

    code = "period_conflict"


def points_value_minor(program: LedgerProgram, points: int) -> int:
    """The money value of ``points`` (any sign) in minor units of the program's currency, rounded half up."""
    return round_fraction(Fraction(points * program.value_minor_per_step, program.points_per_step), Rounding.HALF_UP)


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One party's figures for a period. ``net_minor`` > 0: the party receives that much."""

    party: str
    accepted_points: int
    funded_points: int
    owed_to_party_minor: int
    owed_by_party_minor: int
    net_minor: int


@dataclass(frozen=True, slots=True)
class Statement:
    """A closed settlement period of one program: a line per party, the distributor's line last."""

    tenant: str
    program: str
    period_start: datetime
    period_end: datetime
    currency: str
    lines: tuple[StatementLine, ...]

    def line(self, party: str) -> StatementLine:
        for line in self.lines:
            if line.party == party:
                return line
        raise KeyError(f"no line for {party!r} in this statement")


def _stored_statement(conn: Connection, tenant: str, program: str, start: datetime) -> Statement | None:
    s = db.ledger_settlement
    rows = conn.execute(
        sa.select(s).where(s.c.tenant == tenant, s.c.program == program, s.c.period_start == start)
    ).all()
    if not rows:
        return None
    lines = sorted(
        (
            StatementLine(
                r.party,
                r.accepted_points,
                r.funded_points,
                r.owed_to_party_minor,
                r.owed_by_party_minor,
                r.net_minor,
            )
            for r in rows
        ),
        key=lambda line: (line.party == DISTRIBUTOR, line.party),
    )
    return Statement(tenant, program, start, as_utc(rows[0].period_end), rows[0].currency, tuple(lines))


def settle_period(
    conn: Connection, tenant: str, program: str, *, period_start: datetime, period_end: datetime, now: datetime
) -> Statement:
    """Close ``[period_start, period_end)``: compute the statement, post the settle transfers, keep both.

    Closing a period again returns the statement already kept.
    """
    start, end, now = as_utc(period_start), as_utc(period_end), as_utc(now)
    if end <= start:
        raise InvalidInput("period_end", "must be after period_start")
    if end > now:
        raise PeriodConflict(f"the period ends {end.isoformat()}, after now: close it once it is over")
    kept = _stored_statement(conn, tenant, program, start)
    if kept is not None:
        if kept.period_end != end:
            raise PeriodConflict(f"the period from {start.isoformat()} was closed ending {kept.period_end.isoformat()}")
        return kept
    s = db.ledger_settlement
    overlap = conn.execute(
        sa.select(s.c.period_start)
        .where(s.c.tenant == tenant, s.c.program == program, s.c.period_start < end, s.c.period_end > start)
        .limit(1)
    ).first()
    if overlap is not None:
        raise PeriodConflict(f"the period overlaps the closed period starting {as_utc(overlap[0]).isoformat()}")
    rules = get_program(conn, tenant, program)
    accepted = _accepted(conn, tenant, program, start, end)
    funded = _funded(conn, tenant, program, start, end)
    unfunded = sum(accepted.values()) - sum(funded.values())
    funded[DISTRIBUTOR] = funded.get(DISTRIBUTOR, 0) + unfunded

    lines: list[StatementLine] = []
    for party in sorted((set(accepted) | set(funded)) - {DISTRIBUTOR}):
        to_party = points_value_minor(rules, accepted.get(party, 0))
        by_party = points_value_minor(rules, funded.get(party, 0))
        lines.append(
            StatementLine(party, accepted.get(party, 0), funded.get(party, 0), to_party, by_party, to_party - by_party)
        )
    to_distributor = sum(line.owed_by_party_minor for line in lines)
    by_distributor = sum(line.owed_to_party_minor for line in lines)
    lines.append(
        StatementLine(
            DISTRIBUTOR,
            accepted.get(DISTRIBUTOR, 0),
            funded[DISTRIBUTOR],
            to_distributor,
            by_distributor,
            to_distributor - by_distributor,
        )
    )
    _post_settlement(conn, tenant, program, start, accepted, funded, now)
    conn.execute(
        s.insert(),
        [
            {
                "tenant": tenant,
                "program": program,
                "period_start": start,
                "party": line.party,
                "period_end": end,
                "currency": rules.currency,
                "accepted_points": line.accepted_points,
                "funded_points": line.funded_points,
                "owed_to_party_minor": line.owed_to_party_minor,
                "owed_by_party_minor": line.owed_by_party_minor,
                "net_minor": line.net_minor,
                "created_at": now,
            }
            for line in lines
        ],
    )
    return Statement(tenant, program, start, end, rules.currency, tuple(lines))


def _accepted(conn: Connection, tenant: str, program: str, start: datetime, end: datetime) -> dict[str, int]:
    """Net points each retailer's account took in the period, settlements aside."""
    t, a = db.ledger_transfer, db.ledger_account
    out: dict[str, int] = defaultdict(int)
    for side, sign in ((t.c.credit_account_id, 1), (t.c.debit_account_id, -1)):
        rows = conn.execute(
            sa.select(a.c.owner, sa.func.sum(t.c.amount))
            .join(a, a.c.id == side)
            .where(
                t.c.tenant == tenant,
                t.c.program == program,
                t.c.created_at >= start,
                t.c.created_at < end,
                t.c.state == State.POSTED.value,
                t.c.code != Code.SETTLE.value,
                a.c.kind == Kind.RETAILER.value,
            )
            .group_by(a.c.owner)
        )
        for owner, total in rows:
            out[owner] += sign * int(total)
    return {k: v for k, v in out.items() if v}


def _funded(conn: Connection, tenant: str, program: str, start: datetime, end: datetime) -> dict[str, int]:
    """Points of each funder spent in the period (redemptions, less reversals, plus debts paid)."""
    t, u, lot = db.ledger_transfer, db.ledger_lot_use, db.ledger_lot
    rows = conn.execute(
        sa.select(lot.c.funder, sa.func.sum(u.c.amount))
        .join(t, t.c.id == u.c.transfer_id)
        .join(lot, lot.c.id == u.c.lot_id)
        .where(
            t.c.tenant == tenant,
            t.c.program == program,
            t.c.created_at >= start,
            t.c.created_at < end,
            u.c.kind.in_((Code.REDEEM.value, "debt")),
        )
        .group_by(lot.c.funder)
    )
    return {funder: int(total) for funder, total in rows if int(total)}


def _post_settlement(
    conn: Connection,
    tenant: str,
    program: str,
    start: datetime,
    accepted: dict[str, int],
    funded: dict[str, int],
    now: datetime,
) -> None:
    clearing = AccountSpec(tenant, program, Kind.CLEARING, DISTRIBUTOR)
    specs = [clearing, *(AccountSpec(tenant, program, Kind.ISSUANCE, f) for f in funded)]
    open_accounts(conn, specs, now=now)
    transfers: list[Transfer] = []

    def move(role: str, party: str, source: uuid.UUID, target: uuid.UUID, points: int) -> None:
        if points < 0:
            source, target, points = target, source, -points
        if points:
            transfers.append(
                Transfer(
                    derived_id("settle", tenant, program, start.isoformat(), role, party),
                    source,
                    target,
                    points,
                    Code.SETTLE,
                    f"settlement {start.date().isoformat()}",
                    effective_at=now,
                )
            )

    for party, points in accepted.items():
        move("accepted", party, account_id(tenant, program, Kind.RETAILER, party), clearing.id, points)
    for party, points in funded.items():
        move("funded", party, clearing.id, account_id(tenant, program, Kind.ISSUANCE, party), points)
    results = apply_transfers(conn, transfers, now=now)
    refused = [r for r in results if not r.ok]
    if refused:
        raise LedgerError(f"settlement transfers refused: {refused}; the period was not closed")


# --- liability ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Liability:
    """What a program owes: points customers can still spend, and redemptions not yet settled, in money."""

    tenant: str
    program: str
    currency: str
    outstanding_points: int
    outstanding_minor: int
    by_funder_points: dict[str, int]
    by_funder_minor: dict[str, int]
    held_points: int
    overdrawn_points: int
    unsettled_points: int
    unsettled_minor: int


def liability(conn: Connection, tenant: str, program: str) -> Liability:
    """The program's liability now: unspent lots per funder (held points included), customer debts, and
    points retailers accepted that no settlement has paid yet."""
    rules = get_program(conn, tenant, program)
    a, lot = db.ledger_account, db.ledger_lot
    mine = sa.and_(a.c.tenant == tenant, a.c.program == program)
    by_funder = {
        funder: int(total)
        for funder, total in conn.execute(
            sa.select(lot.c.funder, sa.func.sum(lot.c.remaining))
            .join(a, a.c.id == lot.c.account_id)
            .where(mine, lot.c.remaining > 0)
            .group_by(lot.c.funder)
        )
    }
    customers = conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(a.c.debits_pending), 0), sa.func.coalesce(sa.func.sum(a.c.lot_debt_points), 0)
        ).where(mine, a.c.kind == Kind.CUSTOMER.value)
    ).one()
    unsettled = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(a.c.credits_posted - a.c.debits_posted), 0)).where(
            mine, a.c.kind == Kind.RETAILER.value
        )
    ).scalar_one()
    outstanding = sum(by_funder.values())
    return Liability(
        tenant,
        program,
        rules.currency,
        outstanding,
        points_value_minor(rules, outstanding),
        by_funder,
        {f: points_value_minor(rules, p) for f, p in by_funder.items()},
        int(customers[0]),
        int(customers[1]),
        int(unsettled),
        points_value_minor(rules, int(unsettled)),
    )


# --- overdrafts -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Overdraft:
    """An offline transfer that took an account below its floor, waiting for someone to follow it up."""

    id: int
    transfer_id: uuid.UUID
    account_id: uuid.UUID
    owner: str
    available_points: int
    floor_points: int
    shortfall_points: int
    created_at: datetime


def open_overdrafts(conn: Connection, tenant: str, program: str | None = None) -> list[Overdraft]:
    """Overdrafts not yet resolved, oldest first."""
    o = db.ledger_overdraft
    stmt = sa.select(o).where(o.c.tenant == tenant, o.c.resolved_at.is_(None)).order_by(o.c.id)
    if program is not None:
        stmt = stmt.where(o.c.program == program)
    return [
        Overdraft(
            r.id,
            r.transfer_id,
            r.account_id,
            r.owner,
            r.available_points,
            r.floor_points,
            r.shortfall_points,
            as_utc(r.created_at),
        )
        for r in conn.execute(stmt)
    ]


def resolve_overdraft(conn: Connection, overdraft_id: int, *, now: datetime) -> None:
    """Mark an overdraft followed up (the customer earned it back, or an ``adjust`` transfer wrote it off)."""
    o = db.ledger_overdraft
    done = conn.execute(
        sa.update(o).where(o.c.id == overdraft_id, o.c.resolved_at.is_(None)).values(resolved_at=as_utc(now))
    )
    if done.rowcount != 1:
        raise InvalidInput("overdraft_id", f"no open overdraft {overdraft_id}")


# --- consistency ----------------------------------------------------------------------------------------


def check_ledger(conn: Connection, tenant: str, program: str) -> list[str]:
    """Every broken invariant of one program's ledger, as sentences; an empty list means all hold.

    Debits equal credits (posted and pending); account totals equal the sums of their transfers; each
    customer's lots less its debt equal its posted balance; no limited account is below its floor unless an
    overdraft was flagged for it.
    """
    problems: list[str] = []
    a, t, lot, o = db.ledger_account, db.ledger_transfer, db.ledger_lot, db.ledger_overdraft
    mine = sa.and_(a.c.tenant == tenant, a.c.program == program)
    totals = conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(a.c.debits_posted), 0),
            sa.func.coalesce(sa.func.sum(a.c.credits_posted), 0),
            sa.func.coalesce(sa.func.sum(a.c.debits_pending), 0),
            sa.func.coalesce(sa.func.sum(a.c.credits_pending), 0),
        ).where(mine)
    ).one()
    if totals[0] != totals[1] or totals[2] != totals[3]:
        problems.append(
            f"debits and credits differ: posted {totals[0]} vs {totals[1]}, pending {totals[2]} vs {totals[3]}"
        )
    transfers = t.alias("resolution")
    posted = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(t.c.amount), 0)).where(
            t.c.tenant == tenant, t.c.program == program, t.c.state == State.POSTED.value
        )
    ).scalar_one()
    open_holds = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(t.c.amount), 0)).where(
            t.c.tenant == tenant,
            t.c.program == program,
            t.c.state == State.PENDING.value,
            ~sa.exists().where(transfers.c.pending_id == t.c.id),
        )
    ).scalar_one()
    if posted != totals[0]:
        problems.append(f"posted transfers add up to {posted}, accounts hold {totals[0]} posted debits")
    if open_holds != totals[2]:
        problems.append(f"unresolved holds add up to {open_holds}, accounts hold {totals[2]} pending debits")
    lots = dict(
        conn.execute(
            sa.select(lot.c.account_id, sa.func.sum(lot.c.remaining))
            .join(a, a.c.id == lot.c.account_id)
            .where(mine)
            .group_by(lot.c.account_id)
        ).all()
    )
    flagged = {
        r[0] for r in conn.execute(sa.select(o.c.account_id).where(o.c.tenant == tenant, o.c.program == program))
    }
    for r in conn.execute(sa.select(a).where(mine)):
        if r.kind == Kind.CUSTOMER.value:
            held = int(lots.get(r.id, 0))
            if held - r.lot_debt_points != r.credits_posted - r.debits_posted:
                problems.append(
                    f"customer {r.owner}: lots {held} - debt {r.lot_debt_points} != balance "
                    f"{r.credits_posted - r.debits_posted}"
                )
        if r.flags & AccountFlag.DEBITS_LIMITED:
            available = r.credits_posted - r.debits_posted - r.debits_pending
            if available < r.floor_points and r.id not in flagged:
                problems.append(f"{r.kind} {r.owner}: {available} available, below its floor {r.floor_points}")
    return problems
