"""The hub's points ledger: double-entry accounts, immutable transfers, lots with expiry, holds and overdrafts.

Model (after TigerBeetle)
-------------------------
* An **account** belongs to one tenant and one program and has a ``kind`` (:class:`Kind`) and an ``owner``
  party: a loyalty id for a customer, ``"distributor"`` or a retailer id for the others. Its id is derived
  from those four values (:func:`account_id`), so every caller names the same account the same way. The row
  keeps running totals (``debits_pending``, ``debits_posted``, ``credits_pending``, ``credits_posted``),
  changed only in the transaction that writes the transfers behind them. A customer account is limited
  (:attr:`AccountFlag.DEBITS_LIMITED`): ``credits_posted - debits_posted - debits_pending`` never goes below
  ``floor_points``, which is minus the customer's offline allowance.
* A **transfer** moves ``amount`` points (an integer above zero) from a debit account to a credit account of
  the same program. Its ``id`` is made by the client and is the idempotency key: applying the same transfer
  again has no effect (:attr:`Status.EXISTS`); the same id with different content is refused
  (:attr:`Status.EXISTS_WITH_DIFFERENT_FIELDS`). Rows are never updated. ``code`` (:class:`Code`) says why
  the points moved, ``ref`` what caused it (a sale event id, a lot id, the transfer being reversed).
* A **pending** transfer reserves points (a hold). A later transfer with ``POST_PENDING`` or
  ``VOID_PENDING`` and ``pending_id`` posts it (all or part of it) or releases it; the unique ``pending_id``
  column makes either happen at most once.
* Points credited to a customer form **lots** with an expiry (``lot_expiry_months`` of the program after
  the transfer's ``effective_at``). A debit spends lots, earliest expiry first; what no lot covers becomes
  the account's ``lot_debt_points``, paid back first by the next points credited. So for every customer
  account: sum of lot remainders - lot debt = posted balance. Which lots a transfer spent is recorded in
  ``ledger_lot_use``; that is what says, at settlement, who funded the points a retailer accepted.
* A **reversal** (code ``reverse``, ``ref`` = the original's id) moves points back between the same two
  accounts, at most the original's amount in total. Reversing a redemption gives back the very lots it spent.
* An **offline** transfer (:attr:`TransferFlag.OFFLINE`) was already honoured at a counter: it is never
  refused for want of points. If it takes the account below its floor it is accepted and an overdraft row is
  written for follow-up.

:func:`apply_transfers` applies a batch in the caller's transaction and returns one :class:`TransferResult`
per transfer, in order; a refused transfer writes nothing and does not stop the others. On PostgreSQL a batch
costs a handful of round trips whatever its size (array reads, ``COPY`` writes, one ``UPDATE .. FROM unnest``
per table); SQLite gets the same logic through plain statements.

Money, settlement and liability reports are in :mod:`hub.ledger_reports`.
"""

from __future__ import annotations

import bisect
import calendar
import enum
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import InvalidInput
from core.points import PointsProgram
from hub import db
from hub.errors import HubError

__all__ = [
    "BATCH_MAX",
    "DISTRIBUTOR",
    "AccountFlag",
    "AccountSpec",
    "Balance",
    "Code",
    "Kind",
    "LedgerError",
    "LedgerProgram",
    "State",
    "Status",
    "Transfer",
    "TransferFlag",
    "TransferResult",
    "account_id",
    "add_months",
    "apply_transfers",
    "as_utc",
    "balance",
    "derived_id",
    "expire_lots",
    "get_program",
    "open_accounts",
    "register_program",
    "sale_accounts",
    "sale_transfers",
    "set_floor",
]

BATCH_MAX: Final = 8190
"""Most transfers in one :func:`apply_transfers` call (TigerBeetle's batch size); split larger batches."""
EXPIRY_BATCH_MAX: Final = BATCH_MAX
"""Most lots one :func:`expire_lots` call expires; run it again until it returns nothing."""
DISTRIBUTOR: Final = "distributor"
"""The owner name of the distributor's accounts; retailers are named by their retailer id."""
LEDGER_NAMESPACE: Final = uuid.UUID("6b1f3f2e-8d4a-5c1b-9e2f-4d6c8a0b1e37")
"""UUIDv5 namespace of derived ids (accounts, sale postings, expiries, settlements)."""


class LedgerError(HubError):
    """Root of the ledger's errors (per-transfer refusals are results, not exceptions)."""

    code = "ledger_error"


class UnknownProgram(LedgerError, LookupError):
    """A program the ledger has not been told about: call :func:`register_program` first."""

    code = "unknown_program"


class Code(enum.StrEnum):
    """Why points moved."""

    EARN = "earn"
    REDEEM = "redeem"
    EXPIRE = "expire"
    REVERSE = "reverse"
    ADJUST = "adjust"
    TRANSFER = "transfer"
    SETTLE = "settle"


class Kind(enum.StrEnum):
    """Account kinds. ``issuance`` is debited when its owner funds points; ``retailer`` holds points a retailer
    accepted as payment, until settled through the distributor's ``clearing`` account."""

    CUSTOMER = "customer"
    ISSUANCE = "issuance"
    RETAILER = "retailer"
    CLEARING = "clearing"
    EXPIRED = "expired"
    ADJUSTMENT = "adjustment"


class State(enum.StrEnum):
    """A transfer row's state: a hold is ``pending``; a post is ``posted``; a void is ``voided``."""

    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


class TransferFlag(enum.IntFlag):
    """How a transfer applies. At most one of PENDING, POST_PENDING, VOID_PENDING."""

    NONE = 0
    PENDING = 1
    POST_PENDING = 2
    VOID_PENDING = 4
    OFFLINE = 8
    """Already honoured at a counter: never refused for want of points; an overdraft is flagged instead."""


class AccountFlag(enum.IntFlag):
    """Balance limits. DEBITS_LIMITED: credits - debits (posted and pending) >= floor; CREDITS_LIMITED the
    mirror image, for an account whose balance is on the debit side."""

    NONE = 0
    DEBITS_LIMITED = 1
    CREDITS_LIMITED = 2


class Status(enum.StrEnum):
    """The outcome of one transfer. Anything but CREATED and EXISTS means nothing was written for it."""

    CREATED = "created"
    EXISTS = "exists"
    EXISTS_WITH_DIFFERENT_FIELDS = "exists_with_different_fields"
    INVALID_FLAGS = "invalid_flags"
    AMOUNT_MUST_BE_POSITIVE = "amount_must_be_positive"
    ACCOUNTS_MUST_BE_DIFFERENT = "accounts_must_be_different"
    DEBIT_ACCOUNT_NOT_FOUND = "debit_account_not_found"
    CREDIT_ACCOUNT_NOT_FOUND = "credit_account_not_found"
    ACCOUNTS_IN_DIFFERENT_PROGRAMS = "accounts_in_different_programs"
    EXCEEDS_FLOOR = "exceeds_floor"
    PENDING_NOT_FOUND = "pending_transfer_not_found"
    PENDING_NOT_PENDING = "pending_transfer_not_pending"
    PENDING_ALREADY_POSTED = "pending_transfer_already_posted"
    PENDING_ALREADY_VOIDED = "pending_transfer_already_voided"
    PENDING_FIELDS_DIFFER = "pending_transfer_fields_differ"
    EXCEEDS_PENDING_AMOUNT = "exceeds_pending_transfer_amount"
    REVERSAL_TARGET_NOT_FOUND = "reversal_target_not_found"
    REVERSAL_TARGET_NOT_POSTED = "reversal_target_not_posted"
    REVERSAL_ACCOUNTS_DIFFER = "reversal_accounts_differ"
    REVERSAL_EXCEEDS_ORIGINAL = "reversal_exceeds_original"
    EXPIRY_LOT_MISMATCH = "expiry_lot_mismatch"

    @property
    def ok(self) -> bool:
        return self in (Status.CREATED, Status.EXISTS)


# Plain ints on the hot path: IntFlag arithmetic costs microseconds per operation.
_PENDING: Final = int(TransferFlag.PENDING)
_POST: Final = int(TransferFlag.POST_PENDING)
_VOID: Final = int(TransferFlag.VOID_PENDING)
_OFFLINE: Final = int(TransferFlag.OFFLINE)
_HOW: Final = _PENDING | _POST | _VOID
_RESOLVE: Final = _POST | _VOID
_DEBITS_LIMITED: Final = int(AccountFlag.DEBITS_LIMITED)
_CREDITS_LIMITED: Final = int(AccountFlag.CREDITS_LIMITED)


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer as a client asks for it.

    For a post or void, ``debit_account_id``, ``credit_account_id`` and ``amount`` may be None: they are taken
    from the pending transfer (a post may name a smaller amount: the rest is released). ``effective_at`` is
    when it happened at the counter (a lot's expiry counts from it); None means the hub's time of applying.
    """

    id: uuid.UUID
    debit_account_id: uuid.UUID | None
    credit_account_id: uuid.UUID | None
    amount: int | None
    code: Code
    ref: str = ""
    pending_id: uuid.UUID | None = None
    flags: TransferFlag = TransferFlag.NONE
    effective_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TransferResult:
    """What became of one transfer."""

    id: uuid.UUID
    status: Status

    @property
    def ok(self) -> bool:
        return self.status.ok


@dataclass(frozen=True, slots=True)
class LedgerProgram:
    """A program as the ledger sees it: its money value and the lifetime of earned points (0 = no expiry)."""

    tenant: str
    program: str
    currency: str
    points_per_step: int
    value_minor_per_step: int
    lot_expiry_months: int


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """An account to open. ``flags`` None means the kind's default (customers are DEBITS_LIMITED)."""

    tenant: str
    program: str
    kind: Kind
    owner: str
    floor_points: int = 0
    flags: AccountFlag | None = None

    @property
    def id(self) -> uuid.UUID:
        return account_id(self.tenant, self.program, self.kind, self.owner)


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's totals. ``posted`` and ``available`` are credit-side balances (credits - debits)."""

    account_id: uuid.UUID
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    floor_points: int
    lot_debt_points: int

    @property
    def posted(self) -> int:
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        """What a customer may still spend above zero (the floor is not counted)."""
        return self.credits_posted - self.debits_posted - self.debits_pending


def account_id(tenant: str, program: str, kind: Kind | str, owner: str) -> uuid.UUID:
    """The id of the account ``(tenant, program, kind, owner)``; the same inputs always give the same id."""
    return uuid.uuid5(LEDGER_NAMESPACE, f"account\x1f{tenant}\x1f{program}\x1f{kind}\x1f{owner}")


def derived_id(*parts: object) -> uuid.UUID:
    """A transfer id derived from stable parts (an event id and a role): replays derive the same id."""
    return uuid.uuid5(LEDGER_NAMESPACE, "\x1f".join(str(p) for p in parts))


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive value (as SQLite returns them) is taken to be UTC already."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return value.astimezone(UTC)


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus ``months`` calendar months; a day past the month's end becomes its last day."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# --- programs and accounts -------------------------------------------------------------------------------


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


# --- the apply engine --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Account:
    id: uuid.UUID
    tenant: str
    program: str
    kind: str
    owner: str
    floor: int
    flags: int
    dp: int
    dpo: int
    cp: int
    cpo: int
    debt: int
    expiry_months: int
    dirty: bool = False


@dataclass(slots=True)
class _Lot:
    id: uuid.UUID
    account_id: uuid.UUID
    transfer_id: uuid.UUID
    funder: str
    points: int
    remaining: int
    expired: int
    earned_at: datetime
    expires_at: datetime | None
    new: bool = False
    dirty: bool = False

    @property
    def order(self) -> tuple[bool, datetime, datetime, uuid.UUID]:
        # Earliest expiry first, never-expiring last; then oldest.
        return (self.expires_at is None, self.expires_at or self.earned_at, self.earned_at, self.id)


@dataclass(slots=True)
class _Stored:
    id: uuid.UUID
    tenant: str
    program: str
    debit: uuid.UUID
    credit: uuid.UUID
    amount: int
    code: str
    ref: str
    pending_id: uuid.UUID | None
    flags: int
    state: str
    effective_at: datetime


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


_USE_KINDS: Final = ("redeem", "expire", "reverse", "adjust", "transfer", "settle", "earn", "debt")


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


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


# --- database access, per backend ---------------------------------------------------------------------------


class _IO:
    """Reads and writes of one apply call through SQLAlchemy statements (SQLite); PostgreSQL overrides them."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def load_transfers(self, ids: set[uuid.UUID], pending_refs: set[uuid.UUID]) -> Iterable[_Stored]:
        t = db.ledger_transfer
        cond: sa.ColumnElement[bool] = t.c.id.in_(ids)
        if pending_refs:
            cond = sa.or_(cond, t.c.pending_id.in_(pending_refs))
        for r in self.conn.execute(sa.select(*_TRANSFER_COLUMNS).where(cond)):
            yield _stored(r)

    def reversed_totals(self, originals: set[uuid.UUID]) -> dict[uuid.UUID, int]:
        t = db.ledger_transfer
        refs = [str(o) for o in originals]
        rows = self.conn.execute(
            sa.select(t.c.ref, sa.func.sum(t.c.amount))
            .where(t.c.code == sa.literal_column("'reverse'"), t.c.ref.in_(refs))  # matches the partial index
            .group_by(t.c.ref)
        )
        return {uuid.UUID(ref): int(total) for ref, total in rows}

    def load_uses(self, originals: set[uuid.UUID]) -> dict[uuid.UUID, dict[uuid.UUID, list[int]]]:
        u = db.ledger_lot_use
        out: dict[uuid.UUID, dict[uuid.UUID, list[int]]] = {}
        rows = self.conn.execute(
            sa.select(u.c.for_transfer_id, u.c.lot_id, u.c.kind, sa.func.sum(u.c.amount))
            .where(u.c.for_transfer_id.in_(originals), u.c.kind != "debt")
            .group_by(u.c.for_transfer_id, u.c.lot_id, u.c.kind)
        )
        for for_id, lot_id, kind, total in rows:
            out.setdefault(for_id, {})[lot_id] = [int(total), _USE_KINDS.index(kind)]
        return out

    def lock_accounts(self, ids: set[uuid.UUID]) -> Iterable[_Account]:
        a, p = db.ledger_account, db.ledger_program
        stmt = (
            sa.select(*a.c, p.c.lot_expiry_months)
            .join(p, sa.and_(p.c.tenant == a.c.tenant, p.c.program == a.c.program))
            .where(a.c.id.in_(ids))
            .order_by(a.c.id)
            .with_for_update(of=a)
        )
        for r in self.conn.execute(stmt):
            yield _Account(
                r.id,
                r.tenant,
                r.program,
                r.kind,
                r.owner,
                r.floor_points,
                r.flags,
                r.debits_pending,
                r.debits_posted,
                r.credits_pending,
                r.credits_posted,
                r.lot_debt_points,
                r.lot_expiry_months,
            )

    def load_lots(self, accounts: set[uuid.UUID], ids: set[uuid.UUID]) -> Iterable[_Lot]:
        lot = db.ledger_lot
        cond: sa.ColumnElement[bool] = sa.and_(lot.c.account_id.in_(accounts), lot.c.remaining > 0)
        if ids:
            cond = sa.or_(cond, lot.c.id.in_(ids))
        for r in self.conn.execute(sa.select(lot).where(cond)):
            yield _Lot(
                r.id,
                r.account_id,
                r.transfer_id,
                r.funder,
                r.points,
                r.remaining,
                r.expired_points,
                as_utc(r.earned_at),
                None if r.expires_at is None else as_utc(r.expires_at),
            )

    def insert_transfers(self, rows: list[_Stored], now: datetime) -> None:
        self.conn.execute(
            db.ledger_transfer.insert(),
            [
                {
                    "id": s.id,
                    "tenant": s.tenant,
                    "program": s.program,
                    "debit_account_id": s.debit,
                    "credit_account_id": s.credit,
                    "amount": s.amount,
                    "code": s.code,
                    "ref": s.ref,
                    "pending_id": s.pending_id,
                    "flags": s.flags,
                    "state": s.state,
                    "effective_at": s.effective_at,
                    "created_at": now,
                }
                for s in rows
            ],
        )

    def update_accounts(self, accounts: list[_Account]) -> None:
        a = db.ledger_account
        self.conn.execute(
            sa.update(a)
            .where(a.c.id == sa.bindparam("b_id"))
            .values(
                debits_pending=sa.bindparam("b_dp"),
                debits_posted=sa.bindparam("b_dpo"),
                credits_pending=sa.bindparam("b_cp"),
                credits_posted=sa.bindparam("b_cpo"),
                lot_debt_points=sa.bindparam("b_debt"),
            ),
            [
                {"b_id": x.id, "b_dp": x.dp, "b_dpo": x.dpo, "b_cp": x.cp, "b_cpo": x.cpo, "b_debt": x.debt}
                for x in accounts
            ],
        )

    def insert_lots(self, lots: list[_Lot]) -> None:
        self.conn.execute(
            db.ledger_lot.insert(),
            [
                {
                    "id": x.id,
                    "account_id": x.account_id,
                    "transfer_id": x.transfer_id,
                    "funder": x.funder,
                    "points": x.points,
                    "remaining": x.remaining,
                    "expired_points": x.expired,
                    "earned_at": x.earned_at,
                    "expires_at": x.expires_at,
                }
                for x in lots
            ],
        )

    def update_lots(self, lots: list[_Lot]) -> None:
        t = db.ledger_lot
        self.conn.execute(
            sa.update(t)
            .where(t.c.id == sa.bindparam("b_id"))
            .values(remaining=sa.bindparam("b_rem"), expired_points=sa.bindparam("b_exp")),
            [{"b_id": x.id, "b_rem": x.remaining, "b_exp": x.expired} for x in lots],
        )

    def insert_uses(self, uses: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str, int]]) -> None:
        self.conn.execute(
            db.ledger_lot_use.insert(),
            [
                {"for_transfer_id": f, "lot_id": lot, "transfer_id": t, "kind": k, "amount": n}
                for f, lot, t, k, n in uses
            ],
        )


_TRANSFER_COLUMNS: Final = tuple(
    db.ledger_transfer.c[name]
    for name in (
        "id",
        "tenant",
        "program",
        "debit_account_id",
        "credit_account_id",
        "amount",
        "code",
        "ref",
        "pending_id",
        "flags",
        "state",
        "effective_at",
    )
)


def _stored(r: Any) -> _Stored:
    return _Stored(r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6], r[7], r[8], int(r[9]), r[10], as_utc(r[11]))


_TRANSFER_TYPES: Final = (
    "uuid",
    "text",
    "text",
    "uuid",
    "uuid",
    "int8",
    "text",
    "text",
    "uuid",
    "int4",
    "text",
    "timestamptz",
    "timestamptz",
)
_LOT_TYPES: Final = ("uuid", "uuid", "uuid", "text", "int8", "int8", "int8", "timestamptz", "timestamptz")
_USE_TYPES: Final = ("uuid", "uuid", "uuid", "text", "int8")


class _PgIO(_IO):
    """PostgreSQL: id lists as arrays, new rows through COPY, changed rows in one UPDATE .. FROM unnest."""

    @staticmethod
    def _array(values: Iterable[object]) -> str:
        # An array literal travels as one text value: much cheaper than adapting each element.
        return "{" + ",".join(map(str, values)) + "}"

    def _cursor(self) -> Any:
        # Binary results: uuids and timestamps arrive without text parsing.
        return self.conn.connection.driver_connection.cursor(binary=True)  # type: ignore[union-attr]

    def load_transfers(self, ids: set[uuid.UUID], pending_refs: set[uuid.UUID]) -> Iterable[_Stored]:
        sql = (
            "SELECT id, tenant, program, debit_account_id, credit_account_id, amount, code, ref, pending_id, flags, "
            "state, effective_at FROM ledger_transfer WHERE id = ANY(%s::uuid[])"
        )
        args: list[Any] = [self._array(ids)]
        if pending_refs:
            sql += " OR pending_id = ANY(%s::uuid[])"
            args.append(self._array(pending_refs))
        with self._cursor() as cur:
            cur.execute(sql, args)
            rows = cur.fetchall()
        return [_stored(r) for r in rows]

    def lock_accounts(self, ids: set[uuid.UUID]) -> Iterable[_Account]:
        with self._cursor() as cur:
            cur.execute(
                "SELECT a.id, a.tenant, a.program, a.kind, a.owner, a.floor_points, a.flags, a.debits_pending, "
                "a.debits_posted, a.credits_pending, a.credits_posted, a.lot_debt_points, p.lot_expiry_months "
                "FROM ledger_account a JOIN ledger_program p ON p.tenant = a.tenant AND p.program = a.program "
                "WHERE a.id = ANY(%s::uuid[]) ORDER BY a.id FOR UPDATE OF a",
                [self._array(ids)],
            )
            rows = cur.fetchall()
        return [_Account(*r) for r in rows]

    def load_lots(self, accounts: set[uuid.UUID], ids: set[uuid.UUID]) -> Iterable[_Lot]:
        sql = (
            "SELECT id, account_id, transfer_id, funder, points, remaining, expired_points, earned_at, expires_at "
            "FROM ledger_lot WHERE account_id = ANY(%s::uuid[]) AND remaining > 0"
        )
        args = [self._array(accounts)]
        if ids:
            # A separate branch keeps the index on account_id usable.
            sql += " UNION SELECT id, account_id, transfer_id, funder, points, remaining, expired_points, earned_at, "
            sql += "expires_at FROM ledger_lot WHERE id = ANY(%s::uuid[])"
            args.append(self._array(ids))
        with self._cursor() as cur:
            cur.execute(sql, args)
            rows = cur.fetchall()
        return [_Lot(*r) for r in rows]

    def _copy(self, table: str, columns: str, types: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        # Binary COPY: no text formatting here and no text parsing in the server (several times faster).
        with self._cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def insert_transfers(self, rows: list[_Stored], now: datetime) -> None:
        self._copy(
            "ledger_transfer",
            "id, tenant, program, debit_account_id, credit_account_id, amount, code, ref, pending_id, flags, state, "
            "effective_at, created_at",
            _TRANSFER_TYPES,
            (
                (
                    s.id,
                    s.tenant,
                    s.program,
                    s.debit,
                    s.credit,
                    s.amount,
                    s.code,
                    s.ref,
                    s.pending_id,
                    s.flags,
                    s.state,
                    s.effective_at,
                    now,
                )
                for s in rows
            ),
        )

    def insert_lots(self, lots: list[_Lot]) -> None:
        self._copy(
            "ledger_lot",
            "id, account_id, transfer_id, funder, points, remaining, expired_points, earned_at, expires_at",
            _LOT_TYPES,
            (
                (
                    x.id,
                    x.account_id,
                    x.transfer_id,
                    x.funder,
                    x.points,
                    x.remaining,
                    x.expired,
                    x.earned_at,
                    x.expires_at,
                )
                for x in lots
            ),
        )

    def insert_uses(self, uses: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str, int]]) -> None:
        self._copy("ledger_lot_use", "for_transfer_id, lot_id, transfer_id, kind, amount", _USE_TYPES, uses)

    def update_accounts(self, accounts: list[_Account]) -> None:
        with self._cursor() as cur:
            cur.execute(
                "UPDATE ledger_account a SET debits_pending = v.dp, debits_posted = v.dpo, credits_pending = v.cp, "
                "credits_posted = v.cpo, lot_debt_points = v.debt FROM unnest(%s::uuid[], %s::int8[], %s::int8[], "
                "%s::int8[], %s::int8[], %s::int8[]) AS v(id, dp, dpo, cp, cpo, debt) WHERE a.id = v.id",
                [
                    self._array(x.id for x in accounts),
                    self._array(x.dp for x in accounts),
                    self._array(x.dpo for x in accounts),
                    self._array(x.cp for x in accounts),
                    self._array(x.cpo for x in accounts),
                    self._array(x.debt for x in accounts),
                ],
            )

    def update_lots(self, lots: list[_Lot]) -> None:
        with self._cursor() as cur:
            cur.execute(
                "UPDATE ledger_lot l SET remaining = v.rem, expired_points = v.exp "
                "FROM unnest(%s::uuid[], %s::int8[], %s::int8[]) AS v(id, rem, exp) WHERE l.id = v.id",
                [
                    self._array(x.id for x in lots),
                    self._array(x.remaining for x in lots),
                    self._array(x.expired for x in lots),
                ],
            )


# --- expiry ---------------------------------------------------------------------------------------------


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


# --- sales -----------------------------------------------------------------------------------------------


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
