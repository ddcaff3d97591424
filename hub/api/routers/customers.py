"""Customers of the distributor (:mod:`hub.customers`): list and search, one customer with its balances, its
history across stores, consent changes, erasure, merging, and the possible duplicates.

A retailer's customers are those its stores have dealt with, as the hub's tables record it: enrolled at one of
its stores (``customer.enrolled_store``), enrolled or updated from one of its stores' boxes
(``customer_event.store``), or who earned or redeemed points in a sale at one of its stores
(``posting.retailer``); a customer merged into another brings its survivor along. A retailer sees the
network-wide balance of such a customer (the customer may spend it at its counters) but only the history
entries of its own stores, and entries tied to no store.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from core.errors import InvalidInput
from core.points import PointsProgram
from hub import customers as cu
from hub import db
from hub import ledger as lg
from hub.programs import tiers

from ..accounts import Role
from ..errors import ERROR_RESPONSES, Conflict, NotFound
from ..paging import Page, PageParams, fetch_page, page_params
from ..scope import ADMIN, READERS, SHOP_READERS, Scope, allow

router = APIRouter(prefix="/customers", tags=["customers"], responses=ERROR_RESPONSES)
Reader = Annotated[Scope, Depends(allow(*SHOP_READERS))]
Admin = Annotated[Scope, Depends(allow(*ADMIN))]
Paging = Annotated[PageParams, Depends(page_params)]
LoyaltyId = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="the customer's 12-digit loyalty id")]
PROGRAMS_MAX = 100
"""Most points programs whose balances one customer detail shows."""


# --- scope ----------------------------------------------------------------------------------------------


def retailer_customers(scope: Scope) -> sa.CompoundSelect[Any]:
    """The loyalty ids of the calling retailer's customers (see the module docstring), survivors included."""
    c, ce, p, a = db.customer, db.customer_event, db.posting, db.customer_alias
    mine = scope.retailer_stores()
    seen = sa.union(
        sa.select(c.c.loyalty_id.label("lid")).where(c.c.tenant == scope.tenant, c.c.enrolled_store.in_(mine)),
        sa.select(ce.c.loyalty_id.label("lid")).where(ce.c.tenant == scope.tenant, ce.c.store.in_(mine)),
        sa.select(p.c.customer.label("lid")).where(
            p.c.tenant == scope.tenant, p.c.retailer == scope.retailer, p.c.customer.is_not(None)
        ),
    ).subquery()
    survivors = sa.select(a.c.loyalty_id.label("lid")).where(
        a.c.tenant == scope.tenant, a.c.alias.in_(sa.select(seen.c.lid))
    )
    return sa.union(sa.select(seen.c.lid), survivors)


def customers_clause(scope: Scope, loyalty_id: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """True for customers the caller may see: every customer of the tenant, or a retailer's own."""
    if scope.role is Role.RETAILER:
        return loyalty_id.in_(retailer_customers(scope).scalar_subquery())
    if scope.role is Role.TECHNICIAN:
        return sa.false()
    return sa.true()


def check_customer(scope: Scope, loyalty_id: str) -> cu.CustomerView:
    """The customer (an alias gives its survivor) if the caller may see it; 404 otherwise."""
    view = cu.get_customer(scope.conn, scope.tenant, loyalty_id)
    if view is not None:
        c = db.customer
        visible = scope.conn.execute(
            sa.select(c.c.loyalty_id).where(
                c.c.tenant == scope.tenant,
                c.c.loyalty_id == view.loyalty_id,
                customers_clause(scope, c.c.loyalty_id),
            )
        ).first()
        if visible is not None:
            return view
    raise NotFound(f"no customer {loyalty_id} in your scope", code="customer_not_found", field="loyalty_id")


def _own_stores(scope: Scope) -> set[str] | None:
    """The caller's stores when it is a retailer; None for roles that see every store."""
    if scope.role is not Role.RETAILER:
        return None
    return set(scope.conn.execute(scope.retailer_stores()).scalars())


# --- list -----------------------------------------------------------------------------------------------


class CustomerOut(BaseModel):
    """A customer as listed. Personal fields are null once erased; ``state`` is active, merged or erased."""

    loyalty_id: str
    state: str
    name: str | None
    phone_e164: str | None
    enrolled_on: date | None
    enrolled_store: str | None
    tier_id: str | None
    marketing_consent: bool | None
    fingerprint_consent: bool | None


def _listed(r: Any) -> CustomerOut:
    return CustomerOut(
        loyalty_id=r.loyalty_id,
        state=r.state,
        name=r.name,
        phone_e164=r.phone_e164,
        enrolled_on=r.enrolled_on,
        enrolled_store=r.enrolled_store,
        tier_id=r.tier_id,
        marketing_consent=r.marketing_consent,
        fingerprint_consent=r.fingerprint_consent,
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@router.get("", response_model=Page[CustomerOut], summary="List and search customers, by loyalty id")
def list_customers(
    scope: Reader,
    paging: Paging,
    q: Annotated[
        str | None,
        Query(min_length=2, max_length=64, description="a loyalty id prefix, part of a name, or part of a phone"),
    ] = None,
    state: Annotated[Literal["active", "merged", "erased"] | None, Query()] = "active",
    store: Annotated[str | None, Query(max_length=64, description="enrolled at this store")] = None,
) -> Page[CustomerOut]:
    """The tenant's customers (a retailer: its own, see the API guide), filtered and paged."""
    c = db.customer
    stmt = sa.select(c).where(scope.tenant_is(c.c.tenant), customers_clause(scope, c.c.loyalty_id))
    if state is not None:
        stmt = stmt.where(c.c.state == state)
    if store is not None:
        stmt = stmt.where(c.c.enrolled_store == store)
    if q is not None:
        text = q.strip()
        pattern = _like(text)
        digits = "".join(ch for ch in text if ch.isdigit())
        matches: list[sa.ColumnElement[bool]] = [sa.func.lower(c.c.name).like(pattern.lower(), escape="\\")]
        if digits and len(digits) == len(text.replace(" ", "").lstrip("+")):
            matches += [c.c.loyalty_id.startswith(digits), c.c.phone_e164.like(_like(digits), escape="\\")]
        stmt = stmt.where(sa.or_(*matches))
    return fetch_page(scope.conn, stmt.order_by(c.c.loyalty_id), paging, _listed)


# --- possible duplicates (declared before /{loyalty_id} routes) -------------------------------------------


class DuplicateOut(BaseModel):
    """Two active customers that look like one person (``reason``: ``phone`` or ``name_birth``)."""

    loyalty_id: str
    other_id: str
    reason: str
    detected_at: datetime


def _duplicates(found: list[cu.Duplicate], paging: PageParams) -> Page[DuplicateOut]:
    rows = found[paging.offset : paging.offset + paging.limit + 1]
    more = len(rows) > paging.limit
    return Page[DuplicateOut](
        items=[
            DuplicateOut(loyalty_id=d.loyalty_id, other_id=d.other_id, reason=d.reason, detected_at=d.detected_at)
            for d in rows[: paging.limit]
        ],
        limit=paging.limit,
        offset=paging.offset,
        next_offset=paging.offset + paging.limit if more else None,
    )


@router.get("/duplicates", response_model=Page[DuplicateOut], summary="Open possible duplicates, oldest first")
def list_duplicates(scope: Annotated[Scope, Depends(allow(*READERS))], paging: Paging) -> Page[DuplicateOut]:
    return _duplicates(cu.duplicates(scope.conn, scope.tenant), paging)


@router.post(
    "/duplicates/scan",
    response_model=Page[DuplicateOut],
    summary="Scan every active customer for duplicates (same phone, or same name and birth date)",
)
def scan_duplicates(scope: Admin, paging: Paging) -> Page[DuplicateOut]:
    return _duplicates(cu.find_duplicates(scope.conn, scope.tenant, now=scope.now), paging)


class PairIn(BaseModel):
    """Two loyalty ids reported as a possible duplicate."""

    a: str = Field(pattern=r"^[0-9]{12}$")
    b: str = Field(pattern=r"^[0-9]{12}$")


@router.post(
    "/duplicates/dismiss",
    status_code=204,
    summary="Mark a possible duplicate as two different people",
    responses={400: {"description": "Not an open possible duplicate (code `invalid_input`, field `b`)"}},
)
def dismiss_duplicate(pair: PairIn, scope: Admin) -> None:
    cu.dismiss_duplicate(scope.conn, scope.tenant, pair.a, pair.b, now=scope.now)


# --- one customer ---------------------------------------------------------------------------------------


class BalanceOut(BaseModel):
    """The customer's points in one program over its own and merged ids: ``available`` = ``posted`` - ``held``
    (points reserved by offline redemptions). ``by_store`` is points [earned, redeemed] per store (a retailer:
    its own stores)."""

    program: str
    posted: int
    held: int
    available: int
    by_store: dict[str, tuple[int, int]]


class CustomerDetailOut(CustomerOut):
    """One customer with its consents, tier, aliases and balances in every points program of the tenant."""

    sticker: str | None
    gender: str | None
    birth_date: date | None
    wechat_id: str | None
    whatsapp_e164: str | None
    enrolled_device: str | None
    marketing_consent_at: datetime | None
    fingerprint_consent_at: datetime | None
    has_template: bool
    merged_into: str | None
    aliases: list[str]
    balances: list[BalanceOut]


def _detail(scope: Scope, view: cu.CustomerView) -> CustomerDetailOut:
    own = _own_stores(scope)
    lp = db.ledger_program
    programs = scope.conn.execute(
        sa.select(lp.c.program).where(lp.c.tenant == scope.tenant).order_by(lp.c.program).limit(PROGRAMS_MAX)
    ).scalars()
    balances = []
    for program in programs:
        b = cu.balance(scope.conn, scope.tenant, view.loyalty_id, program)
        balances.append(
            BalanceOut(
                program=program,
                posted=b.posted,
                held=b.held,
                available=b.available,
                by_store={s: v for s, v in b.by_store.items() if own is None or s in own},
            )
        )
    return CustomerDetailOut(
        loyalty_id=view.loyalty_id,
        state=view.state.value,
        name=view.name,
        phone_e164=view.phone_e164,
        enrolled_on=view.enrolled_on,
        enrolled_store=view.enrolled_store,
        tier_id=view.tier_id,
        marketing_consent=view.marketing_consent,
        fingerprint_consent=view.fingerprint_consent,
        sticker=view.sticker,
        gender=view.gender,
        birth_date=view.birth_date,
        wechat_id=view.wechat_id,
        whatsapp_e164=view.whatsapp_e164,
        enrolled_device=view.enrolled_device,
        marketing_consent_at=view.marketing_consent_at,
        fingerprint_consent_at=view.fingerprint_consent_at,
        has_template=view.has_template,
        merged_into=view.merged_into,
        aliases=list(view.aliases),
        balances=balances,
    )


@router.get(
    "/{loyalty_id}",
    response_model=CustomerDetailOut,
    summary="One customer with its balances (a merged id gives its survivor)",
)
def get_customer(loyalty_id: LoyaltyId, scope: Reader) -> CustomerDetailOut:
    return _detail(scope, check_customer(scope, loyalty_id))


class HistoryOut(BaseModel):
    """One entry of a customer's history: enrolment, update, consent, or a points movement (``kind`` is the
    ledger code: earn, redeem, reverse, expire, transfer...; ``_held`` for an offline hold). ``points`` is
    signed from the customer's side; ``total_minor`` and ``currency`` are the sale's when there is one."""

    at: datetime
    kind: str
    loyalty_id: str
    store: str | None
    ref: str
    points: int
    total_minor: int | None
    currency: str | None
    detail: str


@router.get(
    "/{loyalty_id}/history",
    response_model=Page[HistoryOut],
    summary=f"A customer's history across stores, newest first (the newest {cu.MAX_HISTORY} entries)",
)
def customer_history(loyalty_id: LoyaltyId, scope: Reader, paging: Paging) -> Page[HistoryOut]:
    view = check_customer(scope, loyalty_id)
    own = _own_stores(scope)
    if paging.offset >= cu.MAX_HISTORY:
        entries: list[cu.HistoryEntry] = []
    else:
        entries = cu.history(scope.conn, scope.tenant, view.loyalty_id, limit=cu.MAX_HISTORY)
    if own is not None:
        entries = [e for e in entries if e.store is None or e.store in own]
    rows = entries[paging.offset : paging.offset + paging.limit + 1]
    more = len(rows) > paging.limit
    return Page[HistoryOut](
        items=[
            HistoryOut(
                at=e.at,
                kind=e.kind,
                loyalty_id=e.loyalty_id,
                store=e.store,
                ref=e.ref,
                points=e.points,
                total_minor=e.total_minor,
                currency=e.currency,
                detail=e.detail,
            )
            for e in rows[: paging.limit]
        ],
        limit=paging.limit,
        offset=paging.offset,
        next_offset=paging.offset + paging.limit if more else None,
    )


class ConsentIn(BaseModel):
    """A consent given or withdrawn outside a counter (by phone to the distributor, say). ``at`` is when the
    customer gave or withdrew it (with an offset). Withdrawing the fingerprint consent deletes the stored
    template; each box deletes its own copy with the next customers snapshot."""

    kind: Literal["marketing", "fingerprint"]
    granted: bool
    at: datetime


@router.post(
    "/{loyalty_id}/consents",
    response_model=CustomerDetailOut,
    summary="Record a consent given or withdrawn",
    responses={400: {"description": "A merged or erased customer, or a time without an offset (`invalid_input`)"}},
)
def set_consent(
    loyalty_id: LoyaltyId,
    consent: ConsentIn,
    scope: Annotated[Scope, Depends(allow(Role.DISTRIBUTOR_ADMIN, Role.RETAILER))],
) -> CustomerDetailOut:
    view = check_customer(scope, loyalty_id)
    if consent.at > scope.now:
        raise InvalidInput("at", "is in the future; give when the customer gave or withdrew the consent")
    cu.set_consent(
        scope.conn, scope.tenant, view.loyalty_id, consent.kind, consent.granted, at=consent.at, now=scope.now
    )
    return get_customer(view.loyalty_id, scope)


class ErasedOut(BaseModel):
    """The ids erased (the customer and any ids merged into it): every box deletes them, their biometric rows
    and their templates with its next customers snapshot."""

    erased: list[str]


@router.post(
    "/{loyalty_id}/erase",
    response_model=ErasedOut,
    summary="Erase a customer's personal data here and on every box",
    responses={409: {"description": "The customer is erased already (code `already_erased`)"}},
)
def erase_customer(loyalty_id: LoyaltyId, scope: Admin) -> ErasedOut:
    view = check_customer(scope, loyalty_id)
    if view.state is cu.State.ERASED:
        raise Conflict(f"customer {view.loyalty_id} is erased already", code="already_erased", field="loyalty_id")
    return ErasedOut(erased=cu.erase(scope.conn, scope.tenant, view.loyalty_id, now=scope.now))


class MergeIn(BaseModel):
    """The customer to merge into the one in the path (which survives)."""

    duplicate: str = Field(pattern=r"^[0-9]{12}$")


class MergeOut(BaseModel):
    """The merge: ``transfers`` has one entry per program where the merged id had points (``points`` moved,
    ``transfer_id``, the ledger's ``status``)."""

    survivor: str
    merged: str
    transfers: list[dict[str, Any]]


@router.post(
    "/{loyalty_id}/merge",
    response_model=MergeOut,
    summary="Merge another customer into this one",
    responses={400: {"description": "The same customer twice, or one merged or erased (`invalid_input`)"}},
)
def merge_customers(loyalty_id: LoyaltyId, merge: MergeIn, scope: Admin) -> MergeOut:
    survivor = check_customer(scope, loyalty_id)
    if cu.get_customer(scope.conn, scope.tenant, merge.duplicate) is None:
        raise NotFound(f"no customer {merge.duplicate} in your scope", code="customer_not_found", field="duplicate")
    result = cu.merge(scope.conn, scope.tenant, survivor.loyalty_id, merge.duplicate, now=scope.now)
    return MergeOut(survivor=result.survivor, merged=result.merged, transfers=list(result.transfers))


class TierRulesIn(BaseModel):
    """How tiers move (see :class:`hub.tiers.TierRules`): upgrades at once; downgrades at a period's end
    after ``grace_periods`` periods below the tier, or ``immediate``."""

    period: Literal["month", "quarter", "year"] = "month"
    downgrade: Literal["period_end", "immediate"] = "period_end"
    grace_periods: int = Field(default=0, ge=0, le=24)
    points_window_months: int = Field(default=12, ge=0, le=120)


class TierOut(BaseModel):
    """A tier review: the tier now, what changed (upgrade, downgrade, kept), the tier before, the value."""

    tier_id: str | None
    change: str
    previous: str | None
    value: int
    since: datetime | None


@router.post(
    "/{loyalty_id}/tier",
    response_model=TierOut,
    summary="Review a customer's tier under the tenant's points program",
    responses={409: {"description": "The tenant has no points program (code `no_program`)"}},
)
def recompute_tier(loyalty_id: LoyaltyId, rules: TierRulesIn, scope: Admin) -> TierOut:
    view = check_customer(scope, loyalty_id)
    program = tenant_program(scope)
    if program is None:
        raise Conflict("the tenant has no points program; set one first", code="no_program")
    decision = tiers.recompute_tier(
        scope.conn,
        scope.tenant,
        view.loyalty_id,
        program,
        tiers.TierRules(rules.period, rules.downgrade, rules.grace_periods, rules.points_window_months),
        now=scope.now,
    )
    s = decision.state
    return TierOut(
        tier_id=s.tier_id,
        change=decision.change,
        previous=decision.previous,
        value=s.value,
        since=lg.as_utc(s.since) if s.since is not None else None,
    )


def tenant_program(scope: Scope) -> PointsProgram | None:
    """The tenant's consumer points program as its boxes get it, or None when it has none yet."""
    t = db.points_program
    body = scope.conn.execute(sa.select(t.c.body).where(t.c.tenant == scope.tenant)).scalar_one_or_none()
    return None if body is None else PointsProgram.model_validate(body)


__all__ = ["check_customer", "customers_clause", "retailer_customers", "router", "tenant_program"]
