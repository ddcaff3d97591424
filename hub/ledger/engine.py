"""The ledger's engine: programs and accounts, :func:`apply_transfers` with lots, holds, reversals and
overdrafts, lot expiry, and the transfers of a sale (the model is described in :mod:`hub.ledger`).
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import InvalidInput
from core.points import PointsProgram
from hub import db
from hub.ledger.model import (
    _CREDITS_LIMITED,
    _DEBITS_LIMITED,
    _HOW,
    _OFFLINE,
    _PENDING,
    _POST,
    _RESOLVE,
    _USE_KINDS,
    _VOID,
    BATCH_MAX,
    DISTRIBUTOR,
    EXPIRY_BATCH_MAX,
    AccountFlag,
    AccountSpec,
    Balance,
    Code,
    Kind,
    LedgerProgram,
    State,
    Status,
    Transfer,
    TransferFlag,
    TransferResult,
    UnknownProgram,
    _Account,
    _Lot,
    _Stored,
    _uuid_or_none,
    account_id,
    add_months,
    as_utc,
    derived_id,
)
from hub.ledger.storage import _IO, _PgIO

__all__ = [
    "apply_transfers",
    "balance",
    "expire_lots",
    "get_program",
    "open_accounts",
    "register_program",
    "sale_accounts",
    "sale_transfers",
    "set_floor",
]


def register_program(
    conn: Connection, tenant: str, program: PointsProgram, *, lot_expiry_months: int, now: datetime
) -> LedgerProgram:
    """Tell the ledger about ``program`` (or update its redemption rate and expiry rule)."""
    if isinstance(lot_expiry_months, bool) or not isinstance(lot_expiry_months, int) or lot_expiry_months < 0:
        raise InvalidInput("lot_expiry_months", "must be a whole number of months, 0 for points that never expire")
    row = {
        "tenant": tenant,
        "program": program.id,
        "currency": program.currency,
        "points_per_step": program.redemption.points_per_step,
        "value_minor_per_step": program.redemption.value_minor_per_step,
        "lot_expiry_months": lot_expiry_months,
        "created_at": as_utc(now),
    }
    stmt = db.insert(conn, db.ledger_program).values(row)
    keep = ("currency", "points_per_step", "value_minor_per_step", "lot_expiry_months")
    conn.execute(stmt.on_conflict_do_update(index_elements=["tenant", "program"], set_={k: row[k] for k in keep}))
    return get_program(conn, tenant, program.id)


def get_program(conn: Connection, tenant: str, program: str) -> LedgerProgram:
    """The ledger's view of a registered program; :class:`UnknownProgram` if it was never registered."""
    t = db.ledger_program
    row = conn.execute(sa.select(t).where(t.c.tenant == tenant, t.c.program == program)).first()
    if row is None:
        raise UnknownProgram(f"program {program!r} of tenant {tenant!r} is not registered: call register_program")
    return LedgerProgram(
        tenant, program, row.currency, row.points_per_step, row.value_minor_per_step, row.lot_expiry_months
    )


def open_accounts(conn: Connection, specs: Sequence[AccountSpec], *, now: datetime) -> list[uuid.UUID]:
    """Open the accounts that do not exist yet (existing ones are left as they are); return their ids."""
    if not specs:
        return []
    programs = {(s.tenant, s.program) for s in specs}
    for tenant, program in programs:
        get_program(conn, tenant, program)
    rows = []
    for position, s in enumerate(specs):
        if s.floor_points > 0:
            raise InvalidInput(f"specs.{position}.floor_points", "a floor is zero or negative (minus the allowance)")
        if s.kind is not Kind.CUSTOMER and s.owner != DISTRIBUTOR and s.kind in (Kind.CLEARING, Kind.EXPIRED):
            raise InvalidInput(f"specs.{position}.owner", f"{s.kind} accounts belong to {DISTRIBUTOR!r}")
        flags = s.flags
        if flags is None:
            flags = AccountFlag.DEBITS_LIMITED if s.kind is Kind.CUSTOMER else AccountFlag.NONE
        rows.append(
            {
                "id": s.id,
                "tenant": s.tenant,
                "program": s.program,
                "kind": s.kind.value,
                "owner": s.owner,
                "floor_points": s.floor_points,
                "flags": int(flags),
                "debits_pending": 0,
                "debits_posted": 0,
                "credits_pending": 0,
                "credits_posted": 0,
                "lot_debt_points": 0,
                "created_at": as_utc(now),
            }
        )
    # Created if absent, in one fixed order (by id, once each): two transactions opening the same new
    # accounts wait for each other on the first one instead of each holding one the other needs.
    by_id = {s.id: row for s, row in zip(specs, rows, strict=True)}
    unique = [by_id[key] for key in sorted(by_id)]
    conn.execute(db.insert(conn, db.ledger_account).on_conflict_do_nothing(index_elements=["id"]), unique)
    return [s.id for s in specs]


def set_floor(conn: Connection, account: uuid.UUID, floor_points: int) -> None:
    """Change an account's floor (minus a customer's offline allowance). Points already spent stay spent."""
    if floor_points > 0:
        raise InvalidInput("floor_points", "a floor is zero or negative (minus the allowance)")
    done = conn.execute(
        sa.update(db.ledger_account).where(db.ledger_account.c.id == account).values(floor_points=floor_points)
    )
    if done.rowcount != 1:
        raise InvalidInput("account", f"no ledger account {account}: open it first")


def balance(conn: Connection, account: uuid.UUID) -> Balance:
    """The totals of one account."""
    t = db.ledger_account
    row = conn.execute(sa.select(t).where(t.c.id == account)).first()
    if row is None:
        raise InvalidInput("account", f"no ledger account {account}")
    return Balance(
        account,
        row.debits_pending,
        row.debits_posted,
        row.credits_pending,
        row.credits_posted,
        row.floor_points,
        row.lot_debt_points,
    )


@dataclass
class _Batch:
    """Everything one apply call reads, changes and writes."""

    now: datetime
    stored: dict[uuid.UUID, _Stored] = field(default_factory=dict)
    resolved: dict[uuid.UUID, str] = field(default_factory=dict)
    reversed_total: dict[uuid.UUID, int] = field(default_factory=lambda: defaultdict(int))
    accounts: dict[uuid.UUID, _Account] = field(default_factory=dict)
    lots: dict[uuid.UUID, _Lot] = field(default_factory=dict)
    lots_by_account: dict[uuid.UUID, list[_Lot]] = field(default_factory=lambda: defaultdict(list))
    uses: dict[uuid.UUID, dict[uuid.UUID, list[int]]] = field(default_factory=dict)
    """for_transfer_id -> lot id -> [net points spent, kind index]; loaded for reversal targets."""
    new_transfers: list[_Stored] = field(default_factory=list)
    new_uses: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str, int]] = field(default_factory=list)
    overdrafts: list[dict[str, Any]] = field(default_factory=list)
    reversal_refs: set[uuid.UUID] = field(default_factory=set)
    expiry_days: dict[tuple[date, int], date] = field(default_factory=dict)
    spenders: set[uuid.UUID] = field(default_factory=set)
    """Customer accounts debited in this batch: only their lots are kept in spending order."""
    """Transfers this batch reverses: their lot spending is tracked as it happens."""


def apply_transfers(
    conn: Connection, transfers: Sequence[Transfer], *, now: datetime | None = None
) -> list[TransferResult]:
    """Apply ``transfers`` in order inside the caller's transaction; one result per transfer.

    A refused transfer writes nothing (see :class:`Status`). Accounts touched are locked (``FOR UPDATE`` on
    PostgreSQL) until the caller's transaction ends, so concurrent batches on the same accounts serialise.
    """
    if len(transfers) > BATCH_MAX:
        raise InvalidInput("transfers", f"{len(transfers)} transfers; at most {BATCH_MAX} per call: split the batch")
    if not transfers:
        return []
    batch = _Batch(now=as_utc(now or datetime.now(UTC)))
    io: _IO = _PgIO(conn) if conn.dialect.name == "postgresql" else _IO(conn)

    ids = {t.id for t in transfers}
    pending_refs = {t.pending_id for t in transfers if t.pending_id is not None}
    reversal_refs = {r for t in transfers if t.code == Code.REVERSE and (r := _uuid_or_none(t.ref)) is not None}
    for row in io.load_transfers(ids | pending_refs | reversal_refs, pending_refs):
        if row.id in ids or row.id in pending_refs or row.id in reversal_refs:
            batch.stored[row.id] = row
        if row.pending_id is not None and row.pending_id in pending_refs:
            batch.resolved[row.pending_id] = row.state
    batch.reversal_refs = reversal_refs
    if reversal_refs:
        batch.reversed_total.update(io.reversed_totals(reversal_refs))
        batch.uses.update(io.load_uses(reversal_refs))

    account_ids: set[uuid.UUID] = set()
    debited: set[uuid.UUID] = set()
    for t in transfers:
        if t.debit_account_id is not None:
            account_ids.add(t.debit_account_id)
            debited.add(t.debit_account_id)
        if t.credit_account_id is not None:
            account_ids.add(t.credit_account_id)
        if t.pending_id is not None and (p := batch.stored.get(t.pending_id)) is not None:
            account_ids.update((p.debit, p.credit))
            debited.add(p.debit)
    for locked in io.lock_accounts(account_ids):
        batch.accounts[locked.id] = locked
    # Only accounts that may be debited spend lots; a credit adds a lot without reading the others.
    customers = {a for a, acct in batch.accounts.items() if acct.kind == Kind.CUSTOMER}
    spenders = batch.spenders = debited & customers
    restore_lots = {lot for spent in batch.uses.values() for lot in spent}
    if spenders or restore_lots:
        for lot in io.load_lots(spenders, restore_lots):
            batch.lots[lot.id] = lot
            if lot.remaining > 0:
                batch.lots_by_account[lot.account_id].append(lot)
        for lots in batch.lots_by_account.values():
            lots.sort(key=lambda lot: lot.order)

    results = [TransferResult(t.id, _apply_one(batch, t)) for t in transfers]

    if batch.new_transfers:
        io.insert_transfers(batch.new_transfers, batch.now)
        io.update_accounts([a for a in batch.accounts.values() if a.dirty])
        new_lots = [lot for lot in batch.lots.values() if lot.new]
        if new_lots:
            io.insert_lots(new_lots)
        changed = [lot for lot in batch.lots.values() if lot.dirty and not lot.new]
        if changed:
            io.update_lots(changed)
        if batch.new_uses:
            io.insert_uses(batch.new_uses)
        if batch.overdrafts:
            conn.execute(db.ledger_overdraft.insert(), batch.overdrafts)
    return results


def _same(t: Transfer, s: _Stored) -> bool:
    return (
        (t.debit_account_id is None or t.debit_account_id == s.debit)
        and (t.credit_account_id is None or t.credit_account_id == s.credit)
        and (t.amount is None or t.amount == s.amount)
        and t.code == s.code
        and t.ref == s.ref
        and t.pending_id == s.pending_id
        and int(t.flags) == s.flags
        and (t.effective_at is None or as_utc(t.effective_at) == s.effective_at)
    )


def _apply_one(b: _Batch, t: Transfer) -> Status:
    known = b.stored.get(t.id)
    if known is not None:
        return Status.EXISTS if _same(t, known) else Status.EXISTS_WITH_DIFFERENT_FIELDS
    flags = int(t.flags)
    how = flags & _HOW
    if how not in (0, _PENDING, _POST, _VOID):
        return Status.INVALID_FLAGS
    if (t.pending_id is not None) != bool(how & _RESOLVE):
        return Status.INVALID_FLAGS
    if t.amount is not None and (isinstance(t.amount, bool) or t.amount <= 0):
        return Status.AMOUNT_MUST_BE_POSITIVE
    if how & _RESOLVE:
        return _resolve_pending(b, t, how)
    if t.amount is None:
        return Status.AMOUNT_MUST_BE_POSITIVE
    dr = b.accounts.get(t.debit_account_id)  # type: ignore[arg-type]
    if dr is None:
        return Status.DEBIT_ACCOUNT_NOT_FOUND
    cr = b.accounts.get(t.credit_account_id)  # type: ignore[arg-type]
    if cr is None:
        return Status.CREDIT_ACCOUNT_NOT_FOUND
    if dr is cr:
        return Status.ACCOUNTS_MUST_BE_DIFFERENT
    if dr.tenant != cr.tenant or dr.program != cr.program:
        return Status.ACCOUNTS_IN_DIFFERENT_PROGRAMS
    original: _Stored | None = None
    if t.code == Code.REVERSE:
        if how:
            return Status.INVALID_FLAGS
        target = _uuid_or_none(t.ref)
        original = b.stored.get(target) if target is not None else None
        if original is None:
            return Status.REVERSAL_TARGET_NOT_FOUND
        if original.state != State.POSTED or original.code == Code.REVERSE:
            return Status.REVERSAL_TARGET_NOT_POSTED
        if original.debit != cr.id or original.credit != dr.id:
            return Status.REVERSAL_ACCOUNTS_DIFFER
        if b.reversed_total[original.id] + t.amount > original.amount:
            return Status.REVERSAL_EXCEEDS_ORIGINAL
    expiring: _Lot | None = None
    if t.code == Code.EXPIRE:
        lot_id = _uuid_or_none(t.ref)
        expiring = b.lots.get(lot_id) if lot_id is not None else None
        if how or expiring is None or expiring.account_id != dr.id or t.amount > expiring.remaining:
            return Status.EXPIRY_LOT_MISMATCH
    shortfall = _shortfall(dr, cr, t.amount)
    offline = bool(flags & _OFFLINE)
    if shortfall and not offline:
        return Status.EXCEEDS_FLOOR
    effective = as_utc(t.effective_at) if t.effective_at is not None else b.now
    state = State.PENDING if how else State.POSTED
    row = _Stored(
        t.id, dr.tenant, dr.program, dr.id, cr.id, t.amount, str(t.code), t.ref, None, flags, state, effective
    )
    _write(b, row)
    if shortfall:
        limited = dr if shortfall[0] == "debit" else cr
        b.overdrafts.append(
            {
                "transfer_id": t.id,
                "account_id": limited.id,
                "tenant": limited.tenant,
                "program": limited.program,
                "owner": limited.owner,
                "available_points": shortfall[1],
                "floor_points": limited.floor,
                "shortfall_points": limited.floor - shortfall[1],
                "created_at": b.now,
            }
        )
    dr.dirty = cr.dirty = True
    if how:
        dr.dp += t.amount
        cr.cp += t.amount
        return Status.CREATED
    dr.dpo += t.amount
    cr.cpo += t.amount
    if original is not None:
        b.reversed_total[original.id] += t.amount
    _move_lots(b, row, dr, cr, t.amount, original, expiring)
    return Status.CREATED


def _shortfall(dr: _Account, cr: _Account, amount: int) -> tuple[str, int] | None:
    """Which side would end below its floor, and its available balance after the transfer."""
    if dr.flags & _DEBITS_LIMITED:
        after = dr.cpo - dr.dpo - dr.dp - amount
        if after < dr.floor:
            return ("debit", after)
    if cr.flags & _CREDITS_LIMITED:
        after = cr.dpo - cr.cpo - cr.cp - amount
        if after < cr.floor:
            return ("credit", after)
    return None


def _resolve_pending(b: _Batch, t: Transfer, how: int) -> Status:
    assert t.pending_id is not None
    p = b.stored.get(t.pending_id)
    if p is None:
        return Status.PENDING_NOT_FOUND
    if p.state != State.PENDING:
        return Status.PENDING_NOT_PENDING
    done = b.resolved.get(p.id)
    if done is not None:
        return Status.PENDING_ALREADY_POSTED if done == State.POSTED else Status.PENDING_ALREADY_VOIDED
    if (
        (t.debit_account_id is not None and t.debit_account_id != p.debit)
        or (t.credit_account_id is not None and t.credit_account_id != p.credit)
        or t.code != p.code
        or int(t.flags) & _PENDING
    ):
        return Status.PENDING_FIELDS_DIFFER
    amount = p.amount if t.amount is None else t.amount
    if amount > p.amount or (how & _VOID and amount != p.amount):
        return Status.EXCEEDS_PENDING_AMOUNT
    dr, cr = b.accounts[p.debit], b.accounts[p.credit]
    state = State.POSTED if how & _POST else State.VOIDED
    effective = as_utc(t.effective_at) if t.effective_at is not None else b.now
    row = _Stored(
        t.id, p.tenant, p.program, p.debit, p.credit, amount, p.code, t.ref, p.id, int(t.flags), state, effective
    )
    _write(b, row)
    b.resolved[p.id] = state
    dr.dirty = cr.dirty = True
    dr.dp -= p.amount
    cr.cp -= p.amount
    if state == State.POSTED:
        dr.dpo += amount
        cr.cpo += amount
        _move_lots(b, row, dr, cr, amount, None, None)
    return Status.CREATED


def _write(b: _Batch, row: _Stored) -> None:
    b.stored[row.id] = row
    b.new_transfers.append(row)


def _move_lots(
    b: _Batch,
    row: _Stored,
    dr: _Account,
    cr: _Account,
    amount: int,
    original: _Stored | None,
    expiring: _Lot | None,
) -> None:
    spent: list[tuple[_Lot, int]] = []
    unlotted = 0
    if dr.kind == Kind.CUSTOMER:
        first = expiring
        if first is None and original is not None:
            first = b.lots.get(original.id)  # reversing an earn takes back its own lot first
        spent, unlotted = _spend(b, dr, row, amount, first)
    if cr.kind == Kind.CUSTOMER:
        _credit(b, row, dr, cr, amount, original, spent, unlotted)


def _spend(
    b: _Batch, acct: _Account, row: _Stored, amount: int, first: _Lot | None
) -> tuple[list[tuple[_Lot, int]], int]:
    lots = b.lots_by_account.get(acct.id, [])
    order = lots if first is None else [first, *(lot for lot in lots if lot is not first)]
    taken: list[tuple[_Lot, int]] = []
    left = amount
    exhausted = 0
    for lot in order:
        if left == 0:
            break
        if lot.remaining == 0:
            continue
        take = min(lot.remaining, left)
        lot.remaining -= take
        lot.dirty = True
        if row.code == Code.EXPIRE:
            lot.expired += take
        left -= take
        taken.append((lot, take))
        b.new_uses.append((row.id, lot.id, row.id, row.code, take))
        if row.id in b.reversal_refs:
            b.uses.setdefault(row.id, {})[lot.id] = [take, _USE_KINDS.index(row.code)]
    if lots:
        while exhausted < len(lots) and lots[exhausted].remaining == 0:
            exhausted += 1
        if exhausted:
            del lots[:exhausted]
    if left:
        acct.debt += left
    return taken, left


def _lot_order(lot: _Lot) -> tuple[bool, datetime, datetime, uuid.UUID]:
    return lot.order


def _expiry(b: _Batch, earned_at: datetime, months: int) -> datetime:
    key = (earned_at.date(), months)
    day = b.expiry_days.get(key)
    if day is None:
        day = b.expiry_days[key] = add_months(earned_at, months).date()
    return earned_at.replace(year=day.year, month=day.month, day=day.day)


def _credit(
    b: _Batch,
    row: _Stored,
    dr: _Account,
    cr: _Account,
    amount: int,
    original: _Stored | None,
    spent: list[tuple[_Lot, int]],
    unlotted: int,
) -> None:
    left = amount
    if original is not None:
        # A reversal gives back the lots the original spent, latest expiry first.
        used = b.uses.setdefault(original.id, {})
        for lot_id in sorted(used, key=lambda i: b.lots[i].order, reverse=True):
            if left == 0:
                break
            net, kind_index = used[lot_id]
            lot = b.lots[lot_id]
            give = min(net, left, lot.points - lot.remaining)
            if give <= 0:
                continue
            used[lot_id][0] -= give
            if lot.remaining == 0 and lot.account_id in b.spenders:
                bisect.insort(b.lots_by_account[lot.account_id], lot, key=_lot_order)
            lot.remaining += give
            if _USE_KINDS[kind_index] == Code.EXPIRE:
                lot.expired -= give
            lot.dirty = True
            left -= give
            b.new_uses.append((original.id, lot.id, row.id, _USE_KINDS[kind_index], -give))
    if left == 0:
        return
    if not spent and not unlotted:
        # The common case, points issued to a customer: one lot, funded by the issuing party.
        funder = dr.owner if dr.kind == Kind.ISSUANCE else DISTRIBUTOR
        _new_lot(b, row, cr, row.id, funder, left, None)
        return
    # Points passed from customer to customer keep their funder and expiry.
    parts: list[tuple[str, int, datetime | None]] = [(lot.funder, take, lot.expires_at) for lot, take in spent]
    if unlotted:
        parts.append((DISTRIBUTOR, unlotted, None))
    for position, (funder, part_points, part_expiry) in enumerate(parts):
        points = min(part_points, left)
        if points <= 0:
            continue
        left -= points
        _new_lot(
            b, row, cr, row.id if position == 0 else uuid.uuid5(row.id, str(position)), funder, points, part_expiry
        )


def _new_lot(
    b: _Batch, row: _Stored, cr: _Account, lot_id: uuid.UUID, funder: str, points: int, expires_at: datetime | None
) -> None:
    """A lot of ``points`` for ``cr``; an outstanding debt is paid from it first."""
    if expires_at is None and cr.expiry_months:
        expires_at = _expiry(b, row.effective_at, cr.expiry_months)
    pay = min(cr.debt, points)
    cr.debt -= pay
    lot = _Lot(lot_id, cr.id, row.id, funder, points, points - pay, 0, row.effective_at, expires_at, True, True)
    b.lots[lot_id] = lot
    if pay:
        b.new_uses.append((row.id, lot_id, row.id, "debt", pay))
    if lot.remaining and cr.id in b.spenders:
        bisect.insort(b.lots_by_account[cr.id], lot, key=_lot_order)


def expire_lots(
    conn: Connection, tenant: str, program: str, *, now: datetime, limit: int = EXPIRY_BATCH_MAX
) -> list[TransferResult]:
    """Move the unspent points of lots expired by ``now`` to the program's ``expired`` account (code expire).

    Idempotent per lot: each expiry transfer's id is derived from the lot and the points it already expired,
    so running the job twice (or two jobs at once) expires a lot once. Points a pending hold reserves are
    left in place (the hold may still be posted); they expire on a later run if the hold is voided.
    Returns the results of the transfers made; empty when nothing is due.
    """
    now = as_utc(now)
    get_program(conn, tenant, program)
    expired_account = open_accounts(conn, [AccountSpec(tenant, program, Kind.EXPIRED, DISTRIBUTOR)], now=now)[0]
    lot, acct = db.ledger_lot, db.ledger_account
    rows = conn.execute(
        sa.select(
            lot.c.id,
            lot.c.account_id,
            lot.c.remaining,
            lot.c.expired_points,
            acct.c.credits_posted,
            acct.c.debits_posted,
            acct.c.debits_pending,
        )
        .join(acct, acct.c.id == lot.c.account_id)
        .where(acct.c.tenant == tenant, acct.c.program == program, lot.c.remaining > 0, lot.c.expires_at <= now)
        .order_by(lot.c.account_id, lot.c.expires_at, lot.c.id)
        .limit(limit)
    ).all()
    transfers: list[Transfer] = []
    free: dict[uuid.UUID, int] = {}
    for r in rows:
        available = free.setdefault(r.account_id, max(0, r.credits_posted - r.debits_posted - r.debits_pending))
        amount = min(r.remaining, available)
        if amount <= 0:
            continue
        free[r.account_id] = available - amount
        transfers.append(
            Transfer(
                id=derived_id("expire", r.id, r.expired_points),
                debit_account_id=r.account_id,
                credit_account_id=expired_account,
                amount=amount,
                code=Code.EXPIRE,
                ref=str(r.id),
                effective_at=now,
            )
        )
    return apply_transfers(conn, transfers, now=now) if transfers else []


def sale_transfers(
    *,
    tenant: str,
    program: str,
    event_id: uuid.UUID,
    retailer: str,
    customer: str,
    distributor_points: int,
    retailer_points: int,
    redeemed_points: int,
    offline_hold_points: int = 0,
    effective_at: datetime | None = None,
) -> list[Transfer]:
    """The transfers of one sale: points earned (by funder) and points redeemed at ``retailer``'s counter.

    Ids are derived from the sale's event id, so applying the same sale twice changes nothing. Points
    redeemed offline (``offline_hold_points``, part of ``redeemed_points``) become a pending hold flagged
    OFFLINE, to be posted or voided when the hub has checked the sale; the rest is posted at once.
    """
    if retailer == DISTRIBUTOR:
        raise InvalidInput("retailer", f"{DISTRIBUTOR!r} names the distributor, not a retailer")
    for name, value in (
        ("distributor_points", distributor_points),
        ("retailer_points", retailer_points),
        ("redeemed_points", redeemed_points),
        ("offline_hold_points", offline_hold_points),
    ):
        if value < 0:
            raise InvalidInput(name, "must not be negative")
    if offline_hold_points > redeemed_points:
        raise InvalidInput("offline_hold_points", "is part of redeemed_points and cannot exceed it")
    cust = account_id(tenant, program, Kind.CUSTOMER, customer)
    out: list[Transfer] = []
    ref = str(event_id)
    for funder, points in ((DISTRIBUTOR, distributor_points), (retailer, retailer_points)):
        if points:
            out.append(
                Transfer(
                    derived_id(event_id, "earn", funder),
                    account_id(tenant, program, Kind.ISSUANCE, funder),
                    cust,
                    points,
                    Code.EARN,
                    ref,
                    effective_at=effective_at,
                )
            )
    shop = account_id(tenant, program, Kind.RETAILER, retailer)
    online = redeemed_points - offline_hold_points
    if online:
        out.append(
            Transfer(derived_id(event_id, "redeem"), cust, shop, online, Code.REDEEM, ref, effective_at=effective_at)
        )
    if offline_hold_points:
        out.append(
            Transfer(
                derived_id(event_id, "hold"),
                cust,
                shop,
                offline_hold_points,
                Code.REDEEM,
                ref,
                flags=TransferFlag.PENDING | TransferFlag.OFFLINE,
                effective_at=effective_at,
            )
        )
    return out


def sale_accounts(
    tenant: str, program: str, retailer: str, customer: str, allowance_points: int = 0
) -> list[AccountSpec]:
    """The accounts :func:`sale_transfers` uses, to open with :func:`open_accounts` before applying."""
    return [
        AccountSpec(tenant, program, Kind.ISSUANCE, DISTRIBUTOR),
        AccountSpec(tenant, program, Kind.ISSUANCE, retailer),
        AccountSpec(tenant, program, Kind.RETAILER, retailer),
        AccountSpec(tenant, program, Kind.CUSTOMER, customer, floor_points=-allowance_points),
    ]
