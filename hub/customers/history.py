"""A customer's balance and history across every store of the network.

Sales reach the hub without a customer column of their own: a customer's sales are found through the ledger,
whose earn and redeem transfers carry the sale's event id as ``ref``. A sale that neither earned nor redeemed
points is therefore not in a customer's history.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import InvalidInput
from hub import db
from hub import ledger as lg
from hub.customers.merge import _customer_accounts
from hub.customers.records import UnknownCustomer, _aliases, _row, check_loyalty_id, resolve

__all__ = [
    "MAX_HISTORY",
    "CustomerBalance",
    "HistoryEntry",
    "balance",
    "history",
]

MAX_HISTORY: Final = 1_000
"""Most entries :func:`history` returns."""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One event in a customer's history. ``points`` is signed (earned positive, spent negative)."""

    at: datetime
    kind: str
    loyalty_id: str
    store: str | None
    ref: str
    points: int = 0
    total_minor: int | None = None
    currency: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CustomerBalance:
    """A customer's points in one program, over its own account and any merged aliases' remainders.

    ``posted`` is credits - debits posted; ``held`` points reserved by offline redemptions not yet checked;
    ``available`` = posted - held. ``by_store`` is (earned, redeemed) per store from the history read.
    """

    loyalty_id: str
    program: str
    posted: int
    held: int
    available: int
    by_store: Mapping[str, tuple[int, int]] = field(default_factory=dict)


def _event_uuid(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


def _sales(conn: Connection, refs: Iterable[str]) -> dict[str, Any]:
    by_id = {u: ref for ref in refs if (u := _event_uuid(ref)) is not None}
    found: dict[str, Any] = {}
    keys = list(by_id)
    s = db.sale
    for chunk in db.chunks(keys):
        for r in conn.execute(
            sa.select(s.c.event_id, s.c.store, s.c.total_minor, s.c.currency, s.c.box_ts, s.c.sale_id).where(
                s.c.event_id.in_(chunk)
            )
        ):
            found[by_id[r.event_id]] = r
    return found


def history(conn: Connection, tenant: str, loyalty_id: str, *, limit: int = MAX_HISTORY) -> list[HistoryEntry]:
    """A customer's history across every store, newest first: enrolment and updates, consents, and every
    ledger transfer (sales earned or redeemed at, with the sale's store and total; reversals, expiries,
    merges). Ids merged into the customer are included."""
    if not 1 <= limit <= MAX_HISTORY:
        raise InvalidInput("limit", f"must be 1 to {MAX_HISTORY}")
    lid = resolve(conn, tenant, check_loyalty_id(loyalty_id))
    if _row(conn, tenant, lid) is None:
        raise UnknownCustomer("loyalty_id", f"no customer {loyalty_id} in tenant {tenant!r}")
    ids = [lid, *_aliases(conn, tenant, lid)]
    out: list[HistoryEntry] = []
    ce = db.customer_event
    for r in conn.execute(
        sa.select(ce).where(ce.c.tenant == tenant, ce.c.loyalty_id.in_(ids)).order_by(ce.c.box_ts.desc()).limit(limit)
    ):
        out.append(HistoryEntry(lg.as_utc(r.box_ts), r.type, r.loyalty_id, r.store, str(r.event_id)))
    cc = db.customer_consent
    for r in conn.execute(
        sa.select(cc).where(cc.c.tenant == tenant, cc.c.loyalty_id.in_(ids)).order_by(cc.c.at.desc()).limit(limit)
    ):
        what = "granted" if r.granted else "withdrawn"
        out.append(
            HistoryEntry(
                lg.as_utc(r.at), f"{r.kind}_consent", r.loyalty_id, r.store, str(r.id), detail=f"{what} ({r.source})"
            )
        )
    out.extend(_ledger_history(conn, tenant, ids, limit))
    out.sort(key=lambda e: (e.at, e.kind, e.ref), reverse=True)
    return out[:limit]


def _ledger_history(conn: Connection, tenant: str, ids: Sequence[str], limit: int) -> list[HistoryEntry]:
    accounts = {a.id: a.owner for a in _customer_accounts(conn, tenant, ids)}
    if not accounts:
        return []
    t = db.ledger_transfer
    rows = conn.execute(
        sa.select(t)
        .where(
            t.c.tenant == tenant,
            sa.or_(t.c.debit_account_id.in_(list(accounts)), t.c.credit_account_id.in_(list(accounts))),
            t.c.state != lg.State.VOIDED.value,
        )
        .order_by(t.c.effective_at.desc())
        .limit(limit)
    ).all()
    sales = _sales(conn, {r.ref for r in rows})
    out = []
    for r in rows:
        if r.state == lg.State.POSTED and r.pending_id is not None:
            continue  # the post of a hold: the hold itself is listed
        owner = accounts.get(r.credit_account_id) or accounts[r.debit_account_id]
        points = r.amount if r.credit_account_id in accounts else -r.amount
        sale = sales.get(r.ref)
        out.append(
            HistoryEntry(
                at=lg.as_utc(sale.box_ts if sale is not None else r.effective_at),
                kind=r.code if r.state != lg.State.PENDING else f"{r.code}_held",
                loyalty_id=owner,
                store=sale.store if sale is not None else None,
                ref=r.ref,
                points=points,
                total_minor=sale.total_minor if sale is not None else None,
                currency=sale.currency if sale is not None else None,
                detail=f"sale {sale.sale_id}" if sale is not None else "",
            )
        )
    return out


def balance(conn: Connection, tenant: str, loyalty_id: str, program: str) -> CustomerBalance:
    """The customer's points in ``program`` (its account plus what merged ids still hold), and per store
    the points earned and redeemed there (from the last :data:`MAX_HISTORY` transfers)."""
    lid = resolve(conn, tenant, check_loyalty_id(loyalty_id))
    if _row(conn, tenant, lid) is None:
        raise UnknownCustomer("loyalty_id", f"no customer {loyalty_id} in tenant {tenant!r}")
    ids = [lid, *_aliases(conn, tenant, lid)]
    posted = held = 0
    for acct in _customer_accounts(conn, tenant, ids):
        if acct.program != program:
            continue
        posted += acct.credits_posted - acct.debits_posted
        held += acct.debits_pending
    by_store: dict[str, tuple[int, int]] = {}
    for entry in _ledger_history(conn, tenant, ids, MAX_HISTORY):
        if entry.store is None or entry.kind not in (lg.Code.EARN, lg.Code.REDEEM, f"{lg.Code.REDEEM}_held"):
            continue
        earned, redeemed = by_store.get(entry.store, (0, 0))
        if entry.points > 0:
            earned += entry.points
        else:
            redeemed -= entry.points
        by_store[entry.store] = (earned, redeemed)
    return CustomerBalance(lid, program, posted, held, posted - held, by_store)
