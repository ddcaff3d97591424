"""The ledger's vocabulary: account kinds, transfer codes and flags, statuses, the records a caller passes and
gets back, and how ids are derived (the engine is in :mod:`hub.ledger.engine`; the model is described in
:mod:`hub.ledger`).
"""

from __future__ import annotations

import calendar
import enum
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from hub.errors import HubError

__all__ = [
    "BATCH_MAX",
    "DISTRIBUTOR",
    "EXPIRY_BATCH_MAX",
    "LEDGER_NAMESPACE",
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
    "UnknownProgram",
    "account_id",
    "add_months",
    "as_utc",
    "derived_id",
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


_USE_KINDS: Final = ("redeem", "expire", "reverse", "adjust", "transfer", "settle", "earn", "debt")


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
