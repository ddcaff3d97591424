"""The points ledger, read through :mod:`hub.ledger` and :mod:`hub.ledger.reports`: programs, a customer's
balance and history, the liability report, and settlement statements (listing them; an admin closes a
period)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import BaseModel, Field

from hub import db, ledger
from hub.ledger import Kind, as_utc
from hub.ledger import reports as ledger_reports

from ..accounts import Role
from ..errors import ERROR_RESPONSES, NotFound
from ..paging import Page, PageParams, fetch_page, page_params
from ..scope import ADMIN, READERS, SHOP_READERS, Scope, allow

router = APIRouter(prefix="/points", tags=["points"], responses=ERROR_RESPONSES)
Reader = Annotated[Scope, Depends(allow(*READERS))]
ProgramId = Annotated[str, Path(max_length=64, description="the points program's id")]


class ProgramOut(BaseModel):
    """A program as the ledger knows it: points are worth ``value_minor_per_step`` per ``points_per_step``."""

    program: str
    currency: str
    points_per_step: int
    value_minor_per_step: int
    lot_expiry_months: int


def _program(scope: Scope, program: str) -> ledger.LedgerProgram:
    try:
        return ledger.get_program(scope.conn, scope.tenant, program)
    except ledger.UnknownProgram:
        raise NotFound(
            f"no points program {program!r} in your tenant", code="program_not_found", field="program"
        ) from None


@router.get("/programs", response_model=list[ProgramOut], summary="List the tenant's points programs")
def list_programs(scope: Reader) -> list[ProgramOut]:
    p = db.ledger_program
    rows = scope.conn.execute(sa.select(p).where(scope.tenant_is(p.c.tenant)).order_by(p.c.program))
    return [
        ProgramOut(
            program=r.program,
            currency=r.currency,
            points_per_step=r.points_per_step,
            value_minor_per_step=r.value_minor_per_step,
            lot_expiry_months=r.lot_expiry_months,
        )
        for r in rows
    ]


class BalanceOut(BaseModel):
    """A customer's points: ``posted`` is its balance, ``available`` what it may still spend (offline holds
    deducted), ``floor_points`` minus its offline allowance."""

    program: str
    loyalty_id: str
    posted: int
    available: int
    pending_debits: int
    floor_points: int
    lot_debt_points: int


def _customer_account(scope: Scope, program: str, loyalty_id: str) -> uuid.UUID:
    _program(scope, program)
    account = ledger.account_id(scope.tenant, program, Kind.CUSTOMER, loyalty_id)
    a = db.ledger_account
    if scope.conn.execute(sa.select(a.c.id).where(a.c.id == account, a.c.tenant == scope.tenant)).first() is None:
        raise NotFound(
            f"customer {loyalty_id} has no points in program {program!r}", code="customer_not_found", field="loyalty_id"
        )
    return account


LoyaltyId = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="the customer's 12-digit loyalty id")]


@router.get("/{program}/customers/{loyalty_id}", response_model=BalanceOut, summary="A customer's points balance")
def customer_balance(program: ProgramId, loyalty_id: LoyaltyId, scope: Reader) -> BalanceOut:
    account = _customer_account(scope, program, loyalty_id)
    b = ledger.balance(scope.conn, account)
    return BalanceOut(
        program=program,
        loyalty_id=loyalty_id,
        posted=b.posted,
        available=b.available,
        pending_debits=b.debits_pending,
        floor_points=b.floor_points,
        lot_debt_points=b.lot_debt_points,
    )


class MovementOut(BaseModel):
    """One transfer touching the customer's account. ``points`` is signed from the customer's side
    (positive: credited to it); ``code`` says why (earn, redeem, expire, reverse, adjust, ...)."""

    transfer_id: uuid.UUID
    code: str
    ref: str
    points: int
    state: str
    effective_at: datetime
    created_at: datetime


@router.get(
    "/{program}/customers/{loyalty_id}/history",
    response_model=Page[MovementOut],
    summary="A customer's points movements, newest first",
)
def customer_history(
    program: ProgramId,
    loyalty_id: LoyaltyId,
    scope: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
) -> Page[MovementOut]:
    account = _customer_account(scope, program, loyalty_id)
    t = db.ledger_transfer
    stmt = (
        sa.select(t)
        .where(t.c.tenant == scope.tenant, sa.or_(t.c.debit_account_id == account, t.c.credit_account_id == account))
        .order_by(t.c.created_at.desc(), t.c.id)
    )

    def convert(r: Any) -> MovementOut:
        return MovementOut(
            transfer_id=r.id,
            code=r.code,
            ref=r.ref,
            points=r.amount if r.credit_account_id == account else -r.amount,
            state=r.state,
            effective_at=as_utc(r.effective_at),
            created_at=as_utc(r.created_at),
        )

    return fetch_page(scope.conn, stmt, paging, convert)


class LiabilityOut(BaseModel):
    """What the program owes now; see the ledger documentation for each figure."""

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


@router.get("/{program}/liability", response_model=LiabilityOut, summary="The program's liability report")
def liability(program: ProgramId, scope: Reader) -> LiabilityOut:
    _program(scope, program)
    report = ledger_reports.liability(scope.conn, scope.tenant, program)
    return LiabilityOut(
        program=program,
        currency=report.currency,
        outstanding_points=report.outstanding_points,
        outstanding_minor=report.outstanding_minor,
        by_funder_points=report.by_funder_points,
        by_funder_minor=report.by_funder_minor,
        held_points=report.held_points,
        overdrawn_points=report.overdrawn_points,
        unsettled_points=report.unsettled_points,
        unsettled_minor=report.unsettled_minor,
    )


class StatementLineOut(BaseModel):
    """One party's figures; ``net_minor`` > 0: the distributor pays the party that much."""

    party: str
    accepted_points: int
    funded_points: int
    owed_to_party_minor: int
    owed_by_party_minor: int
    net_minor: int


class StatementOut(BaseModel):
    """A closed settlement period: one line per party, the distributor's last."""

    program: str
    period_start: datetime
    period_end: datetime
    currency: str
    lines: list[StatementLineOut]


def _statements(scope: Scope, program: str, rows: list[Any]) -> list[StatementOut]:
    by_period: dict[datetime, StatementOut] = {}
    for r in rows:
        start = as_utc(r.period_start)
        statement = by_period.setdefault(
            start,
            StatementOut(
                program=program, period_start=start, period_end=as_utc(r.period_end), currency=r.currency, lines=[]
            ),
        )
        statement.lines.append(
            StatementLineOut(
                party=r.party,
                accepted_points=r.accepted_points,
                funded_points=r.funded_points,
                owed_to_party_minor=r.owed_to_party_minor,
                owed_by_party_minor=r.owed_by_party_minor,
                net_minor=r.net_minor,
            )
        )
    return list(by_period.values())


STATEMENTS_MAX = 120
"""Most settlement periods one listing returns (ten years of monthly periods)."""


@router.get(
    "/{program}/settlements",
    response_model=list[StatementOut],
    summary="Closed settlement periods, newest first (a retailer sees its own line only)",
)
def list_settlements(
    program: ProgramId,
    scope: Annotated[Scope, Depends(allow(*SHOP_READERS))],
    periods: Annotated[int, Query(ge=1, le=STATEMENTS_MAX)] = 12,
) -> list[StatementOut]:
    _program(scope, program)
    s = db.ledger_settlement
    mine = sa.and_(scope.tenant_is(s.c.tenant), s.c.program == program)
    starts = (
        sa.select(s.c.period_start).where(mine).distinct().order_by(s.c.period_start.desc()).limit(periods).subquery()
    )
    stmt = sa.select(s).where(mine, s.c.period_start.in_(sa.select(starts.c.period_start)))
    if scope.role is Role.RETAILER:
        stmt = stmt.where(s.c.party == scope.retailer)
    rows = scope.conn.execute(
        stmt.order_by(s.c.period_start.desc(), (s.c.party == ledger.DISTRIBUTOR), s.c.party)
    ).all()
    return _statements(scope, program, list(rows))


class PeriodIn(BaseModel):
    """A half-open period ``[period_start, period_end)`` on the hub's booking time; it must be over."""

    period_start: datetime
    period_end: datetime = Field(description="after period_start, and not in the future")


@router.post(
    "/{program}/settlements",
    response_model=StatementOut,
    status_code=status.HTTP_201_CREATED,
    summary="Close a settlement period (idempotent: closing it again returns its statement)",
    responses={409: {"description": "The period overlaps a closed one or is not over (code `period_conflict`)"}},
)
def close_period(program: ProgramId, period: PeriodIn, scope: Annotated[Scope, Depends(allow(*ADMIN))]) -> StatementOut:
    _program(scope, program)
    statement = ledger_reports.settle_period(
        scope.conn,
        scope.tenant,
        program,
        period_start=period.period_start,
        period_end=period.period_end,
        now=scope.now,
    )
    return StatementOut(
        program=program,
        period_start=statement.period_start,
        period_end=statement.period_end,
        currency=statement.currency,
        lines=[
            StatementLineOut(
                party=line.party,
                accepted_points=line.accepted_points,
                funded_points=line.funded_points,
                owed_to_party_minor=line.owed_to_party_minor,
                owed_by_party_minor=line.owed_by_party_minor,
                net_minor=line.net_minor,
            )
            for line in statement.lines
        ],
    )
