"""What every posting of one ingest batch shares: the batch's caches, its report, recording a posting, and the
alerts.

:class:`_Batch` keeps, for one :func:`hub.ingest.postings.post_events` call, the parsed promotion sets (at
most :data:`MAX_PROMOTION_SETS_PER_CALL`), jurisdictions, store facts and programs, and the transfers to
apply. A failure other than a retryable conflict raises :class:`PostingFailed`: an event is posted entirely
or not at all.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core import wire
from core.errors import InvalidInput
from core.points import PointsProgram
from core.pricing.from_sale import held_tier_values, sale_customer
from core.pricing.model import Customer
from core.promotions import PromotionSet, load_promotions
from core.tax import Jurisdiction, shipped_jurisdiction
from hub import db
from hub import ledger as lg
from hub.errors import HubError
from hub.ledger.locks import transient
from hub.programs.points import _default_json, tenant_program

__all__ = [
    "ALERT_FAILED",
    "ALERT_MISMATCH",
    "ALERT_OVERDRAFT",
    "ALERT_REFUSED",
    "ALERT_UNVERIFIED",
    "ALERT_VOIDED",
    "MAX_PROMOTION_SETS_PER_CALL",
    "PostingError",
    "PostingFailed",
    "PostingReport",
    "alert_not_posted",
]

log = logging.getLogger(__name__)


MAX_PROMOTION_SETS_PER_CALL: Final = 64
"""Promotion sets one :func:`post_events` call keeps parsed (a batch rarely spans more than a few)."""


ALERT_MISMATCH: Final = "points_mismatch"


ALERT_UNVERIFIED: Final = "points_unverified"


ALERT_OVERDRAFT: Final = "points_overdraft"


ALERT_VOIDED: Final = "points_voided"


ALERT_REFUSED: Final = "posting_refused"


ALERT_FAILED: Final = "posting_failed"


class PostingError(HubError):
    """Root of the postings' errors."""

    code = "posting_error"


class PostingFailed(PostingError, RuntimeError):
    """The postings of ``event_ids`` could not be made: the caller's transaction must not commit.

    The ingest leaves these events out of the batch, neither committed nor acknowledged, so their boxes send
    them again; nothing of them is applied in the meantime."""

    def __init__(self, event_ids: frozenset[uuid.UUID], detail: str) -> None:
        super().__init__(detail)
        self.event_ids = event_ids
        self.detail = detail


@dataclass(frozen=True)
class _StoreFacts:
    store: str
    retailer: str
    timezone: str
    jurisdiction: str
    allowance_points: int


def _store_facts(conn: Connection, tenant: str, store: str) -> _StoreFacts:
    """The store as :mod:`hub.network` holds it; a store the hub does not know yet takes the boxes' default
    settings, and is its own retailer unless it is the default settings' store."""
    s = db.store
    row = conn.execute(
        sa.select(s.c.retailer, s.c.timezone, s.c.jurisdiction, s.c.offline_allowance_points).where(
            s.c.tenant == tenant, s.c.store == store
        )
    ).first()
    if row is not None:
        return _StoreFacts(store, row.retailer, row.timezone, row.jurisdiction, int(row.offline_allowance_points))
    settings = _default_json("settings")
    ident = settings["store"]
    retailer = ident["retailer_id"] if ident["store_id"] == store else store
    jurisdiction = settings["jurisdiction"] if isinstance(settings["jurisdiction"], str) else ""
    return _StoreFacts(
        store, retailer, ident["timezone"], jurisdiction, int(settings.get("offline_allowance_points", 0))
    )


@dataclass
class PostingReport:
    """What one :func:`post_events` call did."""

    sales: int = 0
    refunds: int = 0
    enrolments: int = 0
    mismatches: int = 0
    unverified: int = 0
    refunds_waiting: int = 0
    verified: int = 0
    voided_points: int = 0
    """Points of offline redemptions voided for going beyond the customer's allowance (see ``points_voided``)."""
    alerts: list[dict[str, Any]] = field(default_factory=list)


class _Batch:
    """Per-call caches and the alerts to write."""

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.programs: dict[str, PointsProgram] = {}
        self.stores: dict[tuple[str, str], _StoreFacts] = {}
        self.promotions: dict[tuple[str, str, int], PromotionSet | str] = {}
        self.jurisdictions: dict[str, Jurisdiction | str] = {}
        self.report = PostingReport()

    def program(self, tenant: str) -> PointsProgram:
        found = self.programs.get(tenant)
        if found is None:
            found = self.programs[tenant] = tenant_program(self.conn, tenant, now=self.now)
        return found

    def store(self, tenant: str, store: str) -> _StoreFacts:
        found = self.stores.get((tenant, store))
        if found is None:
            found = self.stores[tenant, store] = _store_facts(self.conn, tenant, store)
        return found

    def alert(self, kind: str, msg: wire.Message, detail: str) -> None:
        self.alert_at(kind, msg.topic.tenant, msg.topic.device, msg.envelope.id, detail)

    def alert_at(self, kind: str, tenant: str, device: str, event_id: uuid.UUID, detail: str) -> None:
        self.report.alerts.append(
            {
                "created_at": self.now,
                "kind": kind,
                "tenant": tenant,
                "device": device,
                "event_id": event_id,
                "detail": detail[:2000],
            }
        )

    def flush(self) -> None:
        """Write the alerts gathered so far."""
        if self.report.alerts:
            self.conn.execute(db.alert.insert(), self.report.alerts)
            self.report.alerts = []


_POSTING_ERRORS: Final = (InvalidInput, lg.LedgerError, sa.exc.SQLAlchemyError, KeyError, ValueError)
"""What an event's postings may raise; the database's own trouble among them is told by :func:`_retry_whole`."""


def _retry_whole(exc: Exception) -> bool:
    """Whether ``exc`` is the database's trouble (a conflict, a lost connection) rather than the event's: the
    whole transaction is then tried again as it is."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    return transient(exc) or not isinstance(exc, sa.exc.IntegrityError | sa.exc.DataError)


def _guarded(
    batch: _Batch, tenant: str, device: str, event_id: uuid.UUID, what: str, action: Callable[[], None]
) -> bool:
    """Run a deferred posting (a waiting refund, a late verification) in a savepoint: should it fail for
    its own reasons, it is rolled back whole, alerted ``posting_failed``, and left for the jobs loop to try
    again; the database's own trouble propagates. Returns whether it was done."""
    mark = len(batch.report.alerts)
    try:
        with batch.conn.begin_nested():
            action()
    except _POSTING_ERRORS as exc:
        if _retry_whole(exc):
            raise
        log.exception("%s %s not posted; left for the jobs loop", what, event_id)
        del batch.report.alerts[mark:]
        detail = f"{what} not posted ({type(exc).__name__}: {exc}); it stays waiting for the jobs loop to try again"
        batch.alert_at(ALERT_FAILED, tenant, device, event_id, detail)
        return False
    return True


def _failed(msg: wire.Message, exc: Exception) -> PostingFailed:
    log.error("postings of event %s from %s/%s failed: %s", msg.envelope.id, msg.topic.tenant, msg.topic.device, exc)
    return PostingFailed(
        frozenset({msg.envelope.id}),
        f"postings of {msg.envelope.type} event {msg.envelope.id} failed ({type(exc).__name__}: {exc})",
    )


def alert_not_posted(conn: Connection, tenant: str, device: str, event_id: uuid.UUID, detail: str) -> None:
    """Alert ``posting_failed`` for an event left uncommitted and unacknowledged (its box sends it again)."""
    conn.execute(
        db.alert.insert().values(
            created_at=datetime.now(UTC),
            kind=ALERT_FAILED,
            tenant=tenant,
            device=device,
            event_id=event_id,
            detail=f"{detail}; the event was neither committed nor acknowledged: its box sends it again"[:2000],
        )
    )


def _record(
    batch: _Batch,
    msg: wire.Message,
    *,
    kind: str,
    store: _StoreFacts,
    customer: str | None,
    program: str | None,
    sale_id: str | None = None,
    total_minor: int = 0,
    box_points: int = 0,
    hub_points: int = 0,
    distributor_points: int = 0,
    retailer_points: int = 0,
    redeemed_points: int = 0,
    hold_points: int = 0,
    verdict: str = "posted",
) -> None:
    batch.conn.execute(
        db.posting.insert().values(
            event_id=msg.envelope.id,
            tenant=msg.topic.tenant,
            device=msg.topic.device,
            type=kind,
            store=store.store,
            retailer=store.retailer,
            customer=customer,
            program=program,
            sale_id=sale_id,
            total_minor=total_minor,
            box_points=box_points,
            hub_points=hub_points,
            distributor_points=distributor_points,
            retailer_points=retailer_points,
            redeemed_points=redeemed_points,
            hold_points=hold_points,
            verdict=verdict,
            box_ts=msg.envelope.ts,
            posted_at=batch.now,
        )
    )


def _apply(
    batch: _Batch, msg: wire.Message, transfers: list[lg.Transfer], handled: frozenset[uuid.UUID] = frozenset()
) -> list[lg.TransferResult]:
    """Apply ``transfers``; refusals (but those of ``handled`` ids, which the caller deals with) are alerted."""
    results = lg.apply_transfers(batch.conn, transfers, now=batch.now)
    refused = [
        f"{t.code} {t.amount}: {r.status}"
        for t, r in zip(transfers, results, strict=True)
        if not r.ok and t.id not in handled
    ]
    if refused:
        batch.alert(ALERT_REFUSED, msg, "ledger refused " + "; ".join(refused))
    return results


@dataclass(frozen=True)
class _Figure:
    """The points to post, by funder, and whether (and how) the hub checked them."""

    distributor: int
    retailer: int
    verdict: Literal["match", "mismatch", "unverified"]
    detail: str = ""
    customer_unknown: bool = False
    """Unverified only because the hub does not know the customer yet: verified when it does."""

    @property
    def total(self) -> int:
        return self.distributor + self.retailer


def _promotion_set(batch: _Batch, tenant: str, store: str, version: int) -> PromotionSet | str:
    """The promotion set of ``version`` for the store, or why it cannot be had."""
    key = (tenant, store, version)
    found = batch.promotions.get(key)
    if found is not None:
        return found
    if len(batch.promotions) >= MAX_PROMOTION_SETS_PER_CALL:
        batch.promotions.clear()
    body: Any = None
    if version == 0:
        try:
            body = _default_json("promotions")
        except OSError as exc:
            body = None
            found = f"the boxes' default promotions cannot be read: {exc}"
    else:
        table = db.metadata.tables.get("promotion_set")
        if table is None:
            found = f"promotion set {version} cannot be found: the hub keeps no published promotion sets"
        else:
            body = batch.conn.execute(
                sa.select(table.c.body).where(
                    table.c.tenant == tenant, table.c.store == store, table.c.version == version
                )
            ).scalar_one_or_none()
            if body is None:
                found = f"promotion set {version} of store {store} was never published by the hub"
    if body is not None:
        try:
            found = PromotionSet(load_promotions(body))
        except InvalidInput as exc:
            found = f"promotion set {version} does not load: {exc}"
    assert found is not None
    batch.promotions[key] = found
    return found


def _jurisdiction(batch: _Batch, jurisdiction_id: str) -> Jurisdiction | str:
    found = batch.jurisdictions.get(jurisdiction_id)
    if found is None:
        try:
            found = shipped_jurisdiction(jurisdiction_id)
        except InvalidInput as exc:
            found = f"jurisdiction {jurisdiction_id!r}: {exc}"
        batch.jurisdictions[jurisdiction_id] = found
    return found


def _customer(conn: Connection, tenant: str, loyalty_id: str, program: PointsProgram, redeemed: int) -> Customer | None:
    """The customer's facts as the box priced them (tier basis value, dates, bonus years), from the hub's
    ``customer`` table; None when the hub does not know the customer (or keeps no customers)."""
    table = db.metadata.tables.get("customer")
    if table is None:
        return None
    row = conn.execute(sa.select(table).where(table.c.tenant == tenant, table.c.loyalty_id == loyalty_id)).first()
    if row is None or row.state != "active":
        return None
    tier_points, transactions = held_tier_values(program.tiers, int(row.tier_value), row.tier_id)
    return sale_customer(
        loyalty_id,
        tier_points=tier_points,
        transactions_this_month=transactions,
        # The ledger judges the balance; pricing only needs the redemption to be payable.
        points_balance=redeemed,
        birth_date=row.birth_date,
        enrolled_on=row.enrolled_on,
        last_birthday_bonus_year=row.last_birthday_bonus_year,
        last_anniversary_bonus_year=row.last_anniversary_bonus_year,
    )
