"""Box events become points-ledger postings, in the ingest's transaction, exactly once.

:func:`post_events` is called by :mod:`hub.ingest` for the events a batch inserted into the inbox, inside the
same database transaction: an event's postings commit with its inbox row or not at all, and a replayed event
(already in the inbox) never reaches this module again. Each event posted also gets a ``posting`` row, so
calling :func:`post_events` twice with the same event changes nothing either.

Sales with a customer
    The hub prices the sale's basket again with :func:`core.pricing.price`: the lines as the box sent them
    (category, tax category, brand, distributor), the store's jurisdiction and time zone (the ``store`` row
    of :mod:`hub.network`, else the box's embedded default settings), the promotion set the box used
    (``promotion_set_version``: the published set of that version, version 0 the box's embedded defaults),
    the tenant's program (:func:`tenant_program`) and the customer's facts (tier basis value, birthday,
    enrolment date and bonus years from the ``customer`` table). The points it finds are posted, split by
    funder as core splits them. When they differ from the box's ``points_earned`` an alert
    ``points_mismatch`` names both figures; when the hub cannot price the sale (no such promotion set, an
    unknown customer, lines without categories) the box's figure is posted, split by the program's funding,
    with an alert ``points_unverified``. Ingest never stops for either. A sale unverified only because its
    customer was not known yet (the enrolment was with another worker) is verified once it is
    (:func:`verify_sales`).

    Redemptions are posted at the store's retailer account (:data:`hub.ledger.Kind.RETAILER`). A redemption
    made online (the box asked with a fresh balance) is posted as it is; should the customer no longer have
    the points, it is posted as an OFFLINE transfer and the ledger opens an overdraft for follow-up (alert
    ``points_overdraft``).

    Points redeemed offline (``offline_hold_points``) are settled by :func:`core.points.settle_offline_hold`,
    once, here: against the customer's account as it stands after the sale's earned and online-redeemed
    points (posted less held), the hold is posted down to minus the store's offline allowance and no further.
    That part is a pending hold flagged OFFLINE, posted in the same breath (the hub has seen the sale). The
    rest is voided: never posted, kept in ``points_voided`` (:func:`voided_redemptions`) and alerted
    ``points_voided`` with the points and the customer's balance. Several boxes spending the same snapshot
    offline can therefore never take a customer below minus the allowance. The store that honoured the sale is
    paid, at settlement, for the points posted: the voided points are its own (docs/ledger.md).

    Points a customer earned at one retailer and spent at another are settled through the distributor's
    clearing account by :func:`hub.ledger_reports.settle_period`.

Refunds
    The earned points are reversed in proportion: the box's ``points_reversed`` when the hub posted the box's
    figure, scaled to the hub's figure otherwise (by money when the box had earned nothing), never more than
    is left to reverse, split across the sale's funders by what each has left. Points paid back to the
    customer (the refund's points tenders) reverse the sale's redemption. Every reversal is a ``reverse``
    transfer whose ``ref`` is the sale's transfer; a reversal of earned points is flagged OFFLINE, so a
    customer who already spent them goes into overdraft instead of the refund being refused. A refund whose
    sale has not reached the hub yet waits (``refund_waiting``) and is posted with its sale; one whose sale
    came without a customer, or that waits longer than :data:`REFUND_WAIT_MAX`, raises ``refund_unmatched``
    (:func:`sweep_waiting_refunds`).

Concurrency and failures
    :func:`lock_tenants` serialises a tenant's postings across workers on PostgreSQL; a conflict that still
    happens, or a lost connection, propagates for the caller to retry the whole transaction, and any other
    failure raises :class:`PostingFailed`: an event is posted entirely or not at all.

The merchant program
    Retailers earn merchant points in a program of their own (:attr:`MerchantRules.program`, one
    customer-kind account per retailer, funded by the distributor's issuance account): for each consumer a
    store of theirs enrols (an ``enrolment`` event, once per loyalty id), for their purchases from the
    distributor (:func:`record_purchase`, called when a purchase order is received), and for reaching
    targets on the count or value of their sales in a calendar month (:func:`award_targets`, idempotent per
    retailer, target and month).

Every function works in the caller's transaction.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from typing import Annotated, Any, Final, Literal

import psycopg
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from core import defaults, wire
from core.errors import InvalidInput
from core.money import allocate
from core.points import PointsProgram, Redemption, settle_offline_hold
from core.pricing import price
from core.pricing.from_sale import UnpricedLine, held_tier_values, sale_basket, sale_customer, wire_lines
from core.pricing.model import Customer
from core.pricing.model import Store as PricingStore
from core.promotions import PromotionSet, load_promotions
from core.promotions.base import validate_model
from core.tax import Jurisdiction, shipped_jurisdiction
from hub import db
from hub import ledger as lg
from hub.errors import HubError

__all__ = [
    "ALERT_MISMATCH",
    "ALERT_UNVERIFIED",
    "ALERT_VOIDED",
    "DEFAULT_LOT_EXPIRY_MONTHS",
    "MAX_TARGETS",
    "MerchantRules",
    "PostingError",
    "PostingFailed",
    "PostingReport",
    "Target",
    "TargetAward",
    "VoidedRedemption",
    "alert_not_posted",
    "award_targets",
    "lock_tenants",
    "merchant_balance",
    "merchant_rules",
    "post_events",
    "record_purchase",
    "set_merchant_rules",
    "set_program",
    "sweep_waiting_refunds",
    "tenant_program",
    "transient",
    "verify_sales",
    "voided_redemptions",
]

log = logging.getLogger(__name__)

DEFAULT_LOT_EXPIRY_MONTHS: Final = 12
"""Lifetime of earned points when the tenant's program is the default one registered on first use."""
MAX_TARGETS: Final = 50
"""Most period targets in one tenant's merchant rules."""
MAX_PROMOTION_SETS_PER_CALL: Final = 64
"""Promotion sets one :func:`post_events` call keeps parsed (a batch rarely spans more than a few)."""
ALERT_MISMATCH: Final = "points_mismatch"
ALERT_UNVERIFIED: Final = "points_unverified"
ALERT_OVERDRAFT: Final = "points_overdraft"
ALERT_VOIDED: Final = "points_voided"
ALERT_REFUND_UNMATCHED: Final = "refund_unmatched"
ALERT_REFUSED: Final = "posting_refused"
ALERT_FAILED: Final = "posting_failed"
VERIFY_BATCH_MAX: Final = 500
"""Unverified sales one :func:`verify_sales` call recomputes at most (the rest at the next call)."""
WAITING_REFUNDS_MAX: Final = 500
"""Waiting refunds one call applies at most: per sale as it lands, or in one :func:`sweep_waiting_refunds`."""
VOIDED_LIST_MAX: Final = 1000
"""Voided redemptions one :func:`voided_redemptions` call lists at most (page on with ``after``)."""
REFUND_WAIT_MAX: Final = timedelta(days=2)
"""How long a refund waits for its sale before it is alerted ``refund_unmatched`` (it keeps waiting after)."""
TRANSACTION_ROLLBACK_CLASS: Final = "40"
"""PostgreSQL's SQLSTATE class of the errors a retried transaction may get past (40001 serialization
failure, 40P01 deadlock detected)."""
POSTINGS_LOCK_CLASS: Final = 0x4D50
"""First key of the PostgreSQL advisory lock that serialises one tenant's postings (the second is the
tenant's hash), so it cannot meet another use of advisory locks."""
_PERIOD_RE: Final = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")


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


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a database conflict that the same transaction, tried again, may get past: a
    serialization failure or a deadlock (PostgreSQL's class 40), or SQLite's busy database."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    if isinstance(orig, psycopg.Error):
        return (orig.sqlstate or "").startswith(TRANSACTION_ROLLBACK_CLASS)
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig)


def lock_tenants(conn: Connection, tenants: Iterable[str]) -> None:
    """Serialise the postings of ``tenants`` with every other transaction posting for them, until the
    caller's transaction ends.

    On PostgreSQL, a transaction-level advisory lock per tenant, taken in sorted order: two ingest workers
    that would create or lock the same ledger rows (the tenant's issuance accounts, say) in different orders
    queue on the lock instead of deadlocking. A tenant's postings serialise on its issuance accounts anyway.
    SQLite has one writer at a time already."""
    if conn.dialect.name != "postgresql":
        return
    for tenant in sorted(set(tenants)):
        key = int.from_bytes(hashlib.sha256(tenant.encode()).digest()[:4], "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:cls, :key)"), {"cls": POSTINGS_LOCK_CLASS, "key": key})


# --- the tenant's consumer program -----------------------------------------------------------------------


@cache
def _default_json(kind: str) -> Any:
    """The network's default ``kind`` body (:mod:`core.defaults`, what a box without a hub config uses)."""
    return defaults.default_json(kind)


def set_program(
    conn: Connection, tenant: str, program: PointsProgram, *, lot_expiry_months: int, now: datetime
) -> lg.LedgerProgram:
    """Make ``program`` the tenant's consumer program (the body its boxes' ``program`` snapshot carries) and
    register it with the ledger."""
    program = validate_model(PointsProgram, program, "program")
    registered = lg.register_program(conn, tenant, program, lot_expiry_months=lot_expiry_months, now=now)
    row = {
        "tenant": tenant,
        "program": program.id,
        "body": program.model_dump(mode="json"),
        "updated_at": lg.as_utc(now),
    }
    stmt = db.insert(conn, db.points_program).values(row)
    conn.execute(stmt.on_conflict_do_update(index_elements=["tenant"], set_={k: row[k] for k in row if k != "tenant"}))
    return registered


def tenant_program(conn: Connection, tenant: str, *, now: datetime) -> PointsProgram:
    """The tenant's consumer program. A tenant without one gets the boxes' embedded default program
    (:mod:`core.defaults`), registered with :data:`DEFAULT_LOT_EXPIRY_MONTHS`."""
    t = db.points_program
    body = conn.execute(sa.select(t.c.body).where(t.c.tenant == tenant)).scalar_one_or_none()
    if body is not None:
        return validate_model(PointsProgram, body, "points_program.body")
    program = validate_model(PointsProgram, _default_json("program")["program"], "defaults.program")
    set_program(conn, tenant, program, lot_expiry_months=DEFAULT_LOT_EXPIRY_MONTHS, now=now)
    return program


# --- what the hub knows of a store ------------------------------------------------------------------------


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


# --- reports ----------------------------------------------------------------------------------------------


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


# --- the entry point --------------------------------------------------------------------------------------


def post_events(
    conn: Connection, events: Iterable[tuple[wire.Message, datetime]], *, now: datetime | None = None
) -> PostingReport:
    """Post the ledger effects of box events (``(message, received_at)`` pairs) in the caller's transaction.

    Sales, refunds and enrolments are posted, in each box's order (``seq``); other events have no ledger
    effect. Transfers are booked at ``now``, by default the latest receive time among the events. An event
    already posted is skipped. The tenants' postings locks are taken first (:func:`lock_tenants`).

    A refund whose sale is not posted yet waits (``refund_waiting``) and is posted with its sale. A sale
    whose customer the hub does not know yet is posted with the box's figure and verified once the
    customer's enrolment is applied (:func:`verify_sales`, called here for the batch's enrolments).

    Nothing is ever half-posted: a database conflict (:func:`transient`) or a lost connection propagates as
    it is, for the caller to try the whole transaction again; any other failure of an event's postings
    raises :class:`PostingFailed` naming the event, and the caller's transaction must not commit.
    """
    pairs = list(events)
    moment = lg.as_utc(now or max((r for _, r in pairs), default=None) or datetime.now(UTC))
    relevant = [
        (m, r)
        for m, r in pairs
        if (isinstance(m.data, wire.SaleData) and m.data.customer is not None)
        or isinstance(m.data, wire.RefundData | wire.EnrolmentData)
    ]
    batch = _Batch(conn, moment)
    if not relevant:
        return batch.report
    relevant.sort(key=lambda pair: (pair[0].topic.tenant, pair[0].topic.device, pair[0].envelope.seq))
    lock_tenants(conn, (m.topic.tenant for m, _ in relevant))
    p = db.posting
    ids = [m.envelope.id for m, _ in relevant]
    done = {eid for (eid,) in conn.execute(sa.select(p.c.event_id).where(p.c.event_id.in_(ids)))}
    enrolled: dict[str, set[str]] = defaultdict(set)
    landed: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for msg, _received in relevant:
        if msg.envelope.id in done:
            continue
        done.add(msg.envelope.id)
        try:
            if isinstance(msg.data, wire.SaleData):
                _post_sale(batch, msg, msg.data)
                landed[msg.topic.tenant].add((msg.topic.device, msg.data.sale_id))
            elif isinstance(msg.data, wire.RefundData):
                _post_refund(batch, msg, msg.data)
            elif isinstance(msg.data, wire.EnrolmentData):
                _post_enrolment(batch, msg, msg.data)
                enrolled[msg.topic.tenant].add(msg.data.customer)
        except _POSTING_ERRORS as exc:
            if _retry_whole(exc):
                raise  # the whole transaction is tried again (a conflict) or later (the database is away)
            raise _failed(msg, exc) from exc
    for tenant, sales in sorted(landed.items()):
        _post_refunds_of(batch, tenant, sales)  # counted in ``refunds`` as they are posted
    for tenant, loyalty_ids in sorted(enrolled.items()):
        batch.report.verified += _verify(batch, tenant, sorted(loyalty_ids))
    batch.flush()
    return batch.report


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


# --- sales ------------------------------------------------------------------------------------------------


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


def _post_sale(batch: _Batch, msg: wire.Message, sale: wire.SaleData) -> None:
    assert sale.customer is not None
    tenant = msg.topic.tenant
    program = batch.program(tenant)
    store = batch.store(tenant, sale.store)
    figure = _recompute(batch, tenant, msg.envelope.ts, sale, program, store)
    if figure.verdict == "mismatch":
        batch.report.mismatches += 1
        batch.alert(ALERT_MISMATCH, msg, figure.detail)
    elif figure.verdict == "unverified":
        batch.report.unverified += 1
        batch.alert(ALERT_UNVERIFIED, msg, figure.detail)
    lg.open_accounts(
        batch.conn,
        lg.sale_accounts(tenant, program.id, store.retailer, sale.customer, store.allowance_points),
        now=batch.now,
    )
    event_id = msg.envelope.id
    transfers = lg.sale_transfers(
        tenant=tenant,
        program=program.id,
        event_id=event_id,
        retailer=store.retailer,
        customer=sale.customer,
        distributor_points=figure.distributor,
        retailer_points=figure.retailer,
        redeemed_points=sale.points_redeemed,
        offline_hold_points=sale.offline_hold_points,
        effective_at=msg.envelope.ts,
    )
    hold_id = lg.derived_id(event_id, "hold")
    hold = next((t for t in transfers if t.id == hold_id), None)
    transfers = [t for t in transfers if t.id != hold_id]
    redeem_id = lg.derived_id(event_id, "redeem")
    results = _apply(batch, msg, transfers, frozenset({redeem_id}))
    for t, r in zip(transfers, results, strict=True):
        if t.id == redeem_id and r.status is lg.Status.EXCEEDS_FLOOR:
            _overdraft(batch, msg, t)
        elif t.id == redeem_id and not r.ok:
            batch.alert(ALERT_REFUSED, msg, f"ledger refused redeem {t.amount}: {r.status}")
    if hold is not None:
        _settle_hold(batch, msg, sale, store, program.id, hold)
    _record(
        batch,
        msg,
        kind="sale",
        store=store,
        customer=sale.customer,
        program=program.id,
        sale_id=sale.sale_id,
        total_minor=sale.total_minor,
        box_points=sale.points_earned,
        hub_points=figure.total,
        distributor_points=figure.distributor,
        retailer_points=figure.retailer,
        redeemed_points=sale.points_redeemed,
        hold_points=sale.offline_hold_points,
        verdict=figure.verdict,
    )
    if figure.customer_unknown:
        # Its enrolment is likely on its way (through another worker, say): verified when it is applied.
        batch.conn.execute(
            db.insert(batch.conn, db.posting_unverified)
            .values(
                event_id=event_id,
                tenant=tenant,
                device=msg.topic.device,
                customer=sale.customer,
                data=sale.model_dump(mode="json"),
                box_ts=msg.envelope.ts,
                created_at=batch.now,
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
        )
    batch.report.sales += 1


def _settle_hold(
    batch: _Batch, msg: wire.Message, sale: wire.SaleData, store: _StoreFacts, program: str, hold: lg.Transfer
) -> None:
    """Post the offline hold down to minus the store's allowance (:func:`core.points.settle_offline_hold`),
    and record and alert the rest as voided."""
    assert sale.customer is not None and hold.amount is not None and hold.debit_account_id is not None
    available = _available_locked(batch.conn, hold.debit_account_id)
    settled = settle_offline_hold(available, hold.amount, store.allowance_points)
    event_id = msg.envelope.id
    if settled.posted_points:
        # The hub has seen the sale the box honoured offline: the hold is posted in the same breath.
        _apply(
            batch,
            msg,
            [replace(hold, amount=settled.posted_points), _hold_post(event_id, hold.id, msg.envelope.ts)],
        )
    if settled.voided_points:
        batch.conn.execute(
            db.points_voided.insert().values(
                event_id=event_id,
                tenant=msg.topic.tenant,
                device=msg.topic.device,
                store=store.store,
                retailer=store.retailer,
                customer=sale.customer,
                program=program,
                sale_id=sale.sale_id,
                hold_points=hold.amount,
                posted_points=settled.posted_points,
                voided_points=settled.voided_points,
                available_points=available,
                allowance_points=store.allowance_points,
                box_ts=msg.envelope.ts,
                created_at=batch.now,
            )
        )
        batch.report.voided_points += settled.voided_points
        batch.alert(
            ALERT_VOIDED,
            msg,
            f"{settled.voided_points} of the {hold.amount} points customer {sale.customer} redeemed offline at store "
            f"{store.store} (sale {sale.sale_id}) voided, {settled.posted_points} posted: the customer had "
            f"{available} points at the hub and may go no lower than -{store.allowance_points} (the store's "
            "offline allowance), having spent points elsewhere since the box's balance (at another store offline, "
            "say). The voided points are not paid to the store at settlement; they are listed in points_voided",
        )


def _available_locked(conn: Connection, account: uuid.UUID) -> int:
    """The customer's points at the hub, posted less held (possibly negative), with the account locked until
    the transaction ends, so no other posting moves it between this reading and the hold."""
    a = db.ledger_account
    row = conn.execute(
        sa.select(a.c.credits_posted, a.c.debits_posted, a.c.debits_pending).where(a.c.id == account).with_for_update()
    ).one()
    return int(row.credits_posted) - int(row.debits_posted) - int(row.debits_pending)


def _hold_post(event_id: uuid.UUID, hold_id: uuid.UUID, at: datetime) -> lg.Transfer:
    return lg.Transfer(
        lg.derived_id(event_id, "hold-post"),
        None,
        None,
        None,
        lg.Code.REDEEM,
        str(event_id),
        pending_id=hold_id,
        flags=lg.TransferFlag.POST_PENDING,
        effective_at=at,
    )


def _overdraft(batch: _Batch, msg: wire.Message, refused: lg.Transfer) -> None:
    """A redemption the counter honoured that the customer can no longer cover: post it as OFFLINE, which the
    ledger accepts and lists as an overdraft."""
    again = lg.Transfer(
        lg.derived_id(msg.envelope.id, "redeem-overdraft"),
        refused.debit_account_id,
        refused.credit_account_id,
        refused.amount,
        lg.Code.REDEEM,
        refused.ref,
        flags=lg.TransferFlag.OFFLINE,
        effective_at=refused.effective_at,
    )
    if lg.apply_transfers(batch.conn, [again], now=batch.now)[0].ok:
        batch.alert(ALERT_OVERDRAFT, msg, f"{refused.amount} points redeemed beyond the balance, posted as overdraft")


def _recompute(
    batch: _Batch, tenant: str, box_ts: datetime, sale: wire.SaleData, program: PointsProgram, store: _StoreFacts
) -> _Figure:
    """The hub's figure for the sale's points, or the box's figure when the hub cannot price the sale."""

    def box_figure(reason: str, customer_unknown: bool = False) -> _Figure:
        distributor, retailer = allocate(sale.points_earned, program.funding.weights)
        detail = f"box {sale.points_earned}, hub unverified: {reason}"
        return _Figure(distributor, retailer, "unverified", detail, customer_unknown)

    version = sale.promotion_set_version
    if version is None:
        return box_figure("the sale names no promotion_set_version")
    promotions = _promotion_set(batch, tenant, sale.store, version)
    if isinstance(promotions, str):
        return box_figure(promotions)
    jurisdiction = _jurisdiction(batch, store.jurisdiction)
    if isinstance(jurisdiction, str):
        return box_figure(jurisdiction)
    assert sale.customer is not None
    customer = _customer(batch.conn, tenant, sale.customer, program, sale.points_redeemed)
    if customer is None:
        return box_figure(f"customer {sale.customer} is not known at the hub yet", customer_unknown=True)
    try:
        basket = sale_basket(
            sale.currency,
            PricingStore(store_id=sale.store, retailer_id=store.retailer, timezone=store.timezone),
            wire_lines(sale.lines),
        )
        priced = price(
            basket,
            customer,
            program,
            promotions,
            jurisdiction,
            box_ts,
            redeem_points=sale.points_redeemed,
        )
    except UnpricedLine as exc:
        return box_figure(exc.problem)
    except (InvalidInput, ValueError) as exc:
        return box_figure(str(exc))
    earned = priced.points
    if earned is None:
        return box_figure("the program gave no points breakdown")
    distributor = sum(e.distributor_points for e in earned.entries)
    retailer = sum(e.retailer_points for e in earned.entries)
    if distributor + retailer != sale.points_earned:
        detail = f"box {sale.points_earned}, hub {distributor + retailer}: the hub's figure is posted"
        return _Figure(distributor, retailer, "mismatch", detail)
    return _Figure(distributor, retailer, "match")


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


@dataclass(frozen=True)
class VoidedRedemption:
    """The part of an offline redemption the hub voided: ``hold_points`` redeemed at the counter of ``store``,
    ``posted_points`` posted, ``voided_points`` not; ``available_points`` is what the customer had at the hub
    then (posted less held) and ``allowance_points`` the store's offline allowance."""

    event_id: uuid.UUID
    device: str
    store: str
    retailer: str
    customer: str
    program: str
    sale_id: str
    hold_points: int
    posted_points: int
    voided_points: int
    available_points: int
    allowance_points: int
    box_ts: datetime
    created_at: datetime


def voided_redemptions(
    conn: Connection,
    tenant: str,
    *,
    since: datetime | None = None,
    after: VoidedRedemption | None = None,
    limit: int = VOIDED_LIST_MAX,
) -> list[VoidedRedemption]:
    """The tenant's voided offline redemptions in the order the hub booked them, those booked at or after
    ``since``; at most ``limit``, and to page on pass the last one listed as ``after``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= VOIDED_LIST_MAX:
        raise InvalidInput("limit", f"must be 1 to {VOIDED_LIST_MAX}")
    v = db.points_voided
    query = sa.select(v).where(v.c.tenant == tenant).order_by(v.c.created_at, v.c.event_id).limit(limit)
    if since is not None:
        query = query.where(v.c.created_at >= lg.as_utc(since))
    if after is not None:
        query = query.where(
            sa.or_(
                v.c.created_at > after.created_at,
                sa.and_(v.c.created_at == after.created_at, v.c.event_id > after.event_id),
            )
        )
    return [
        VoidedRedemption(
            r.event_id,
            r.device,
            r.store,
            r.retailer,
            r.customer,
            r.program,
            r.sale_id,
            int(r.hold_points),
            int(r.posted_points),
            int(r.voided_points),
            int(r.available_points),
            int(r.allowance_points),
            lg.as_utc(r.box_ts),
            lg.as_utc(r.created_at),
        )
        for r in conn.execute(query)
    ]


# --- sales verified late --------------------------------------------------------------------------------


def verify_sales(
    conn: Connection, tenant: str, *, now: datetime | None = None, limit: int = VERIFY_BATCH_MAX
) -> PostingReport:
    """Verify the tenant's sales posted before their customer was known, now that it is (at most
    ``limit``, oldest first; run it again until ``verified`` is 0). The jobs loop runs it every round; the
    ingest verifies a customer's sales as soon as their enrolment is posted.

    The hub's recomputation of each sale gives its verdict, as it would have at once: ``match``, or
    ``mismatch`` with the usual ``points_mismatch`` alert naming both figures (the box's figure stays posted,
    and the difference is for staff to adjust), or ``unverified`` with its new reason."""
    if not 1 <= limit <= VERIFY_BATCH_MAX:
        raise InvalidInput("limit", f"must be 1 to {VERIFY_BATCH_MAX}")
    batch = _Batch(conn, lg.as_utc(now or datetime.now(UTC)))
    lock_tenants(conn, [tenant])
    batch.report.verified = _verify(batch, tenant, None, limit)
    batch.flush()
    return batch.report


def _verify(batch: _Batch, tenant: str, loyalty_ids: Sequence[str] | None, limit: int = VERIFY_BATCH_MAX) -> int:
    """Recompute the unverified sales of ``loyalty_ids`` (every customer the hub now knows when None)."""
    conn, u, c, p = batch.conn, db.posting_unverified, db.customer, db.posting
    query = (
        sa.select(u)
        .join(c, sa.and_(c.c.tenant == u.c.tenant, c.c.loyalty_id == u.c.customer))
        .where(u.c.tenant == tenant)
        .order_by(u.c.box_ts, u.c.event_id)
        .limit(limit)
    )
    if loyalty_ids is not None:
        query = query.where(u.c.customer.in_(loyalty_ids))
    rows = conn.execute(query).all()

    def verify(row: Any) -> None:
        sale = wire.SaleData.model_validate(row.data)
        program = batch.program(tenant)
        figure = _recompute(batch, tenant, lg.as_utc(row.box_ts), sale, program, batch.store(tenant, sale.store))
        if figure.verdict == "mismatch":
            batch.report.mismatches += 1
            detail = (
                f"box {sale.points_earned}, hub {figure.total}: found once the customer was known at the hub; "
                "the box's figure stays posted"
            )
            batch.alert_at(ALERT_MISMATCH, tenant, row.device, row.event_id, detail)
        elif figure.verdict == "unverified":
            batch.report.unverified += 1
            batch.alert_at(ALERT_UNVERIFIED, tenant, row.device, row.event_id, figure.detail)
        conn.execute(sa.update(p).where(p.c.event_id == row.event_id).values(verdict=figure.verdict))
        conn.execute(sa.delete(u).where(u.c.event_id == row.event_id))

    return sum(
        _guarded(batch, tenant, row.device, row.event_id, "verification of sale", partial(verify, row)) for row in rows
    )


# --- refunds ----------------------------------------------------------------------------------------------


def _post_refund(batch: _Batch, msg: wire.Message, refund: wire.RefundData) -> None:
    tenant, conn = msg.topic.tenant, batch.conn
    p = db.posting
    sale = conn.execute(
        sa.select(p).where(
            p.c.tenant == tenant, p.c.device == msg.topic.device, p.c.sale_id == refund.sale_id, p.c.type == "sale"
        )
    ).first()
    store = batch.store(tenant, refund.store)
    returned = sum(t.points for t in refund.tenders)
    if sale is None:
        if refund.points_reversed or returned or refund.customer is not None:
            s = db.sale
            landed = conn.execute(
                sa.select(s.c.event_id).where(
                    s.c.tenant == tenant, s.c.device == msg.topic.device, s.c.sale_id == refund.sale_id
                )
            ).first()
            if landed is None:
                # Its sale is not here yet (another worker has it, or it is still on its way): posted with it.
                conn.execute(
                    db.insert(conn, db.refund_waiting)
                    .values(
                        event_id=msg.envelope.id,
                        tenant=tenant,
                        device=msg.topic.device,
                        sale_id=refund.sale_id,
                        box_ts=msg.envelope.ts,
                        created_at=batch.now,
                    )
                    .on_conflict_do_nothing(index_elements=["event_id"])
                )
                batch.report.refunds_waiting += 1
                return
            batch.alert(
                ALERT_REFUND_UNMATCHED,
                msg,
                f"refund {refund.refund_id} names sale {refund.sale_id}, which the hub never posted with a customer",
            )
        _record(batch, msg, kind="refund", store=store, customer=refund.customer, program=None, verdict="unmatched")
        return
    sale_event = sale.event_id
    earn_ids = [lg.derived_id(sale_event, "earn", funder) for funder in (lg.DISTRIBUTOR, sale.retailer)]
    redeem_ids = [
        lg.derived_id(sale_event, "redeem"),
        lg.derived_id(sale_event, "redeem-overdraft"),
        lg.derived_id(sale_event, "hold-post"),
    ]
    posted, reversed_ = _posted_and_reversed(conn, earn_ids + redeem_ids)

    earned_left = [posted.get(i, (0, None, None))[0] - reversed_.get(i, 0) for i in earn_ids]
    hub_points, box_points = int(sale.hub_points), int(sale.box_points)
    if hub_points == box_points:
        wanted = refund.points_reversed
    elif box_points > 0:
        wanted = refund.points_reversed * hub_points // box_points
    else:
        wanted = hub_points * refund.total_minor // sale.total_minor if sale.total_minor else 0
    wanted = min(wanted, sum(earned_left))
    transfers: list[lg.Transfer] = []
    if wanted > 0:
        for target, amount in zip(earn_ids, allocate(wanted, earned_left), strict=True):
            if amount:
                _, debit, credit = posted[target]
                transfers.append(
                    lg.Transfer(
                        lg.derived_id(msg.envelope.id, "reverse", target),
                        credit,
                        debit,
                        amount,
                        lg.Code.REVERSE,
                        str(target),
                        flags=lg.TransferFlag.OFFLINE,
                        effective_at=msg.envelope.ts,
                    )
                )
    give_back = returned
    for target in redeem_ids:
        if give_back <= 0 or target not in posted:
            continue
        amount, debit, credit = posted[target]
        amount = min(give_back, amount - reversed_.get(target, 0))
        if amount > 0:
            give_back -= amount
            transfers.append(
                lg.Transfer(
                    lg.derived_id(msg.envelope.id, "reverse", target),
                    credit,
                    debit,
                    amount,
                    lg.Code.REVERSE,
                    str(target),
                    effective_at=msg.envelope.ts,
                )
            )
    if transfers:
        _apply(batch, msg, transfers)
    _record(
        batch,
        msg,
        kind="refund",
        store=store,
        customer=sale.customer,
        program=sale.program,
        sale_id=refund.sale_id,
        total_minor=refund.total_minor,
        box_points=refund.points_reversed,
        hub_points=wanted,
        redeemed_points=returned - give_back,
    )
    batch.report.refunds += 1


def _waiting(tenant: str) -> Any:
    """The tenant's waiting refunds with their stored events, oldest first, at most :data:`WAITING_REFUNDS_MAX`."""
    w, be = db.refund_waiting, db.business_event
    return (
        sa.select(be, w.c.sale_id.label("waits_for"))
        .join(be, be.c.event_id == w.c.event_id)
        .where(w.c.tenant == tenant)
        .order_by(w.c.box_ts, w.c.event_id)
        .limit(WAITING_REFUNDS_MAX)
    )


def _post_refunds_of(batch: _Batch, tenant: str, sales: set[tuple[str, str]]) -> int:
    """Post the refunds that waited for these just-posted sales (``(device, sale_id)``); how many."""
    w = db.refund_waiting
    sale_ids = sorted({sale_id for _device, sale_id in sales})
    rows = batch.conn.execute(_waiting(tenant).where(w.c.sale_id.in_(sale_ids))).all()
    return sum(_post_waiting(batch, row) for row in rows if (row.device, row.waits_for) in sales)


def _post_landed_refunds(batch: _Batch, tenant: str) -> int:
    """Post the waiting refunds whose sale has landed since (with a customer or without); how many."""
    w, s = db.refund_waiting, db.sale
    landed = sa.exists().where(s.c.tenant == w.c.tenant, s.c.device == w.c.device, s.c.sale_id == w.c.sale_id)
    return sum(_post_waiting(batch, row) for row in batch.conn.execute(_waiting(tenant).where(landed)).all())


def _post_waiting(batch: _Batch, row: Any) -> bool:
    def post() -> None:
        batch.conn.execute(sa.delete(db.refund_waiting).where(db.refund_waiting.c.event_id == row.event_id))
        msg = _stored_message(row)
        assert isinstance(msg.data, wire.RefundData)
        _post_refund(batch, msg, msg.data)

    return _guarded(batch, row.tenant, row.device, row.event_id, "waiting refund", post)


def _stored_message(row: Any) -> wire.Message:
    """A box event as ``business_event`` keeps it (the envelope's fields and the data)."""
    data = wire.RefundData.model_validate(row.data)
    # Validated when it arrived: a stored envelope is not validated again.
    envelope = wire.EnvelopeHeader.model_construct(
        v=wire.PROTOCOL_VERSION,
        id=row.event_id,
        seq=row.seq,
        ts=lg.as_utc(row.box_ts),
        device=row.device,
        type=row.type,
    )
    return wire.Message(wire.event_topic(row.tenant, row.device, row.type), envelope, data, "")


def sweep_waiting_refunds(conn: Connection, tenant: str, *, now: datetime | None = None) -> PostingReport:
    """The jobs loop's pass over the tenant's waiting refunds: those whose sale has landed are posted (or,
    the sale having no customer, alerted ``refund_unmatched``); those waiting longer than
    :data:`REFUND_WAIT_MAX` are alerted ``refund_unmatched`` once, and go on waiting for their sale."""
    batch = _Batch(conn, lg.as_utc(now or datetime.now(UTC)))
    lock_tenants(conn, [tenant])
    w = db.refund_waiting
    _post_landed_refunds(batch, tenant)
    stale = conn.execute(
        sa.select(w)
        .where(w.c.tenant == tenant, w.c.alerted_at.is_(None), w.c.created_at < batch.now - REFUND_WAIT_MAX)
        .order_by(w.c.created_at, w.c.event_id)
        .limit(WAITING_REFUNDS_MAX)
    ).all()
    for row in stale:
        batch.alert_at(
            ALERT_REFUND_UNMATCHED,
            tenant,
            row.device,
            row.event_id,
            f"refund names sale {row.sale_id}, which the hub has not received in {REFUND_WAIT_MAX}; "
            "the refund is posted if the sale arrives",
        )
        conn.execute(sa.update(w).where(w.c.event_id == row.event_id).values(alerted_at=batch.now))
    batch.flush()
    return batch.report


def _posted_and_reversed(
    conn: Connection, ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, tuple[int, uuid.UUID, uuid.UUID]], dict[uuid.UUID, int]]:
    """Posted transfers among ``ids`` (amount, debit, credit) and what reversals already took back of each."""
    t = db.ledger_transfer
    posted = {
        r.id: (int(r.amount), r.debit_account_id, r.credit_account_id)
        for r in conn.execute(
            sa.select(t.c.id, t.c.amount, t.c.debit_account_id, t.c.credit_account_id).where(
                t.c.id.in_(ids), t.c.state == lg.State.POSTED.value
            )
        )
    }
    reversed_: dict[uuid.UUID, int] = defaultdict(int)
    refs = [str(i) for i in posted]
    if refs:
        for ref, total in conn.execute(
            sa.select(t.c.ref, sa.func.sum(t.c.amount))
            .where(t.c.ref.in_(refs), t.c.code == lg.Code.REVERSE.value)
            .group_by(t.c.ref)
        ):
            reversed_[uuid.UUID(ref)] = int(total)
    return posted, reversed_


# --- the merchant program ---------------------------------------------------------------------------------


class _Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Target(_Rules):
    """A period target: ``at_least`` sales (metric ``count``) or minor units of sales (``value``) in a calendar
    month earn the retailer ``points``."""

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    metric: Literal["count", "value"]
    at_least: Annotated[int, Field(strict=True, ge=1, le=10**15)]
    points: Annotated[int, Field(strict=True, ge=1, le=wire.MAX_POINTS)]


class MerchantRules(_Rules):
    """The tenant's merchant program: what a retailer earns, in the ledger program ``program``.

    ``purchase_points`` points for every whole ``purchase_per_minor`` minor units bought from the distributor;
    ``enrolment_points`` per consumer enrolled; ``targets`` per calendar month (UTC) of sales.
    """

    program: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")] = "merchant"
    enrolment_points: Annotated[int, Field(strict=True, ge=0, le=wire.MAX_POINTS)] = 50
    purchase_points: Annotated[int, Field(strict=True, ge=0, le=wire.MAX_POINTS)] = 1
    purchase_per_minor: Annotated[int, Field(strict=True, ge=1, le=10**12)] = 10_000
    lot_expiry_months: Annotated[int, Field(strict=True, ge=0, le=1200)] = 0
    targets: Annotated[tuple[Target, ...], Field(max_length=MAX_TARGETS)] = (
        Target(id="sales-count-300", metric="count", at_least=300, points=200),
        Target(id="sales-value-50000", metric="value", at_least=5_000_000, points=500),
    )


@dataclass(frozen=True)
class TargetAward:
    """Points a retailer earned for a target in a period."""

    retailer: str
    target: str
    achieved: int
    points: int


def set_merchant_rules(conn: Connection, tenant: str, rules: MerchantRules, *, now: datetime) -> None:
    """Store the tenant's merchant rules (targets ids must be unique)."""
    rules = validate_model(MerchantRules, rules, "rules")
    ids = [t.id for t in rules.targets]
    if len(set(ids)) != len(ids):
        raise InvalidInput("rules.targets", "target ids must be unique")
    row = {"tenant": tenant, "body": rules.model_dump(mode="json"), "updated_at": lg.as_utc(now)}
    stmt = db.insert(conn, db.merchant_rules).values(row)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant"], set_={"body": row["body"], "updated_at": row["updated_at"]}
        )
    )


def merchant_rules(conn: Connection, tenant: str) -> MerchantRules:
    """The tenant's merchant rules; the defaults of :class:`MerchantRules` when none are stored."""
    t = db.merchant_rules
    body = conn.execute(sa.select(t.c.body).where(t.c.tenant == tenant)).scalar_one_or_none()
    return MerchantRules() if body is None else validate_model(MerchantRules, body, "merchant_rules.body")


def _merchant_program(conn: Connection, tenant: str, now: datetime) -> MerchantRules:
    """The rules, with their program registered and the distributor's issuance account open."""
    rules = merchant_rules(conn, tenant)
    try:
        lg.get_program(conn, tenant, rules.program)
    except lg.UnknownProgram:
        currency = tenant_program(conn, tenant, now=now).currency
        program = PointsProgram(
            id=rules.program, name="Merchant program", currency=currency, redemption=Redemption(), tiers=None
        )
        lg.register_program(conn, tenant, program, lot_expiry_months=rules.lot_expiry_months, now=now)
    lg.open_accounts(conn, [lg.AccountSpec(tenant, rules.program, lg.Kind.ISSUANCE, lg.DISTRIBUTOR)], now=now)
    return rules


def _merchant_earn(
    conn: Connection,
    tenant: str,
    rules: MerchantRules,
    retailer: str,
    points: int,
    transfer_id: uuid.UUID,
    ref: str,
    now: datetime,
) -> lg.Status:
    account = lg.open_accounts(conn, [lg.AccountSpec(tenant, rules.program, lg.Kind.CUSTOMER, retailer)], now=now)[0]
    transfer = lg.Transfer(
        transfer_id,
        lg.account_id(tenant, rules.program, lg.Kind.ISSUANCE, lg.DISTRIBUTOR),
        account,
        points,
        lg.Code.EARN,
        ref,
        effective_at=now,
    )
    return lg.apply_transfers(conn, [transfer], now=now)[0].status


def _post_enrolment(batch: _Batch, msg: wire.Message, enrolment: wire.EnrolmentData) -> None:
    tenant = msg.topic.tenant
    store = batch.store(tenant, enrolment.store)
    rules = _merchant_program(batch.conn, tenant, batch.now)
    if rules.enrolment_points:
        # Once per consumer: the id is the enrolled loyalty id's, whichever box or event enrolled it.
        _merchant_earn(
            batch.conn,
            tenant,
            rules,
            store.retailer,
            rules.enrolment_points,
            lg.derived_id("merchant-enrolment", tenant, enrolment.customer),
            str(msg.envelope.id),
            batch.now,
        )
    _record(batch, msg, kind="enrolment", store=store, customer=enrolment.customer, program=rules.program)
    batch.report.enrolments += 1


def record_purchase(
    conn: Connection, tenant: str, retailer: str, amount_minor: int, ref: str, *, now: datetime | None = None
) -> int:
    """Award the retailer merchant points for a purchase of ``amount_minor`` from the distributor (a purchase
    order received; ``ref`` names it). Idempotent per (retailer, ref); returns the points of the purchase."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor < 0:
        raise InvalidInput("amount_minor", "must be a whole, non-negative amount in minor units")
    if not ref or len(ref) > 200:
        raise InvalidInput("ref", "name the purchase order (1 to 200 characters)")
    if not retailer or retailer == lg.DISTRIBUTOR:
        raise InvalidInput("retailer", "name the retailer that bought")
    moment = lg.as_utc(now or datetime.now(UTC))
    lock_tenants(conn, [tenant])  # the merchant issuance account is the ingest's too
    rules = _merchant_program(conn, tenant, moment)
    points = amount_minor // rules.purchase_per_minor * rules.purchase_points
    if points:
        _merchant_earn(
            conn,
            tenant,
            rules,
            retailer,
            points,
            lg.derived_id("merchant-purchase", tenant, retailer, ref),
            ref,
            moment,
        )
    return points


def _period_bounds(period: str) -> tuple[datetime, datetime]:
    match = _PERIOD_RE.fullmatch(period) if isinstance(period, str) else None
    if match is None:
        raise InvalidInput("period", f"{period!r} is not a calendar month written YYYY-MM")
    start = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
    return start, lg.add_months(start, 1)


def award_targets(conn: Connection, tenant: str, period: str, *, now: datetime | None = None) -> list[TargetAward]:
    """Award each retailer the targets it reached in ``period`` (a calendar month, ``YYYY-MM``, UTC, on the
    box's sale time) counting the sales of its stores known to :mod:`hub.network`.

    Idempotent per (retailer, target, period): run it as often as wanted, during the month or after. Returns
    the awards this call made (none the second time).
    """
    start, end = _period_bounds(period)
    moment = lg.as_utc(now or datetime.now(UTC))
    lock_tenants(conn, [tenant])  # the merchant issuance account is the ingest's too
    rules = _merchant_program(conn, tenant, moment)
    if not rules.targets:
        return []
    s, st = db.sale, db.store
    figures: dict[str, dict[str, int]] = {}
    for retailer, count, value in conn.execute(
        sa.select(st.c.retailer, sa.func.count(), sa.func.coalesce(sa.func.sum(s.c.total_minor), 0))
        .join(st, sa.and_(st.c.tenant == s.c.tenant, st.c.store == s.c.store))
        .where(s.c.tenant == tenant, s.c.box_ts >= start, s.c.box_ts < end)
        .group_by(st.c.retailer)
    ):
        figures[retailer] = {"count": int(count), "value": int(value)}
    awards: list[TargetAward] = []
    for retailer in sorted(figures):
        for target in rules.targets:
            achieved = figures[retailer][target.metric]
            if achieved < target.at_least:
                continue
            status = _merchant_earn(
                conn,
                tenant,
                rules,
                retailer,
                target.points,
                lg.derived_id("merchant-target", tenant, retailer, period, target.id),
                f"target {target.id} {period}",
                moment,
            )
            if status is lg.Status.CREATED:
                awards.append(TargetAward(retailer, target.id, achieved, target.points))
    return awards


def merchant_balance(conn: Connection, tenant: str, retailer: str) -> int:
    """The retailer's merchant points (posted), 0 before it earned any."""
    rules = merchant_rules(conn, tenant)
    a = db.ledger_account
    row = conn.execute(
        sa.select(a.c.credits_posted, a.c.debits_posted).where(
            a.c.id == lg.account_id(tenant, rules.program, lg.Kind.CUSTOMER, retailer)
        )
    ).first()
    return 0 if row is None else int(row.credits_posted) - int(row.debits_posted)
