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
    with an alert ``points_unverified``. Ingest never stops for either.

    Redemptions are posted at the store's retailer account (:data:`hub.ledger.Kind.RETAILER`). Points redeemed
    offline (``offline_hold_points``) are first a pending hold flagged OFFLINE, within the customer's
    allowance (the account's floor is minus the store's offline allowance), then posted at once: the hub has
    seen the sale and the goods are gone. A redemption the counter honoured is never lost: if the customer no
    longer has the points, it is posted as an OFFLINE transfer and the ledger opens an overdraft for
    follow-up (alert ``points_overdraft``). Points a customer earned at one retailer and spent at another are
    settled through the distributor's clearing account by :func:`hub.ledger_reports.settle_period`.

Refunds
    The earned points are reversed in proportion: the box's ``points_reversed`` when the hub posted the box's
    figure, scaled to the hub's figure otherwise (by money when the box had earned nothing), never more than
    is left to reverse, split across the sale's funders by what each has left. Points paid back to the
    customer (the refund's points tenders) reverse the sale's redemption. Every reversal is a ``reverse``
    transfer whose ``ref`` is the sale's transfer; a reversal of earned points is flagged OFFLINE, so a
    customer who already spent them goes into overdraft instead of the refund being refused. A refund whose
    sale the hub never posted raises ``refund_unmatched``. A box's events can reach the hub out of order: after
    the hub or the broker restarted, the relay sends an unacknowledged sale again while its later events
    already went through. So a refund posted unmatched is matched again when its sale is posted: its
    reversals are posted then, and its alert is resolved.

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

import json
import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from core import wire
from core.errors import InvalidInput
from core.money import allocate
from core.points import PointsProgram, Redemption
from core.pricing import price
from core.pricing.model import Basket, BasketLine, Customer
from core.pricing.model import Store as PricingStore
from core.promotions import PromotionSet, load_promotions
from core.promotions.base import validate_model
from core.tax import Jurisdiction, shipped_jurisdiction
from core.tiers import TierBasis
from hub import db
from hub import ledger as lg

__all__ = [
    "ALERT_MISMATCH",
    "ALERT_UNVERIFIED",
    "DEFAULT_LOT_EXPIRY_MONTHS",
    "MAX_TARGETS",
    "MerchantRules",
    "PostingReport",
    "Target",
    "TargetAward",
    "award_targets",
    "merchant_balance",
    "merchant_rules",
    "post_events",
    "record_purchase",
    "set_merchant_rules",
    "set_program",
    "tenant_program",
]

log = logging.getLogger(__name__)

DEFAULTS_DIR: Final = Path(__file__).resolve().parents[1] / "edge_agent" / "defaults"
"""The box's embedded default configuration, read here as data (the hub does not import the box's code)."""
DEFAULT_LOT_EXPIRY_MONTHS: Final = 12
"""Lifetime of earned points when the tenant's program is the default one registered on first use."""
MAX_TARGETS: Final = 50
"""Most period targets in one tenant's merchant rules."""
MAX_PROMOTION_SETS_PER_CALL: Final = 64
"""Promotion sets one :func:`post_events` call keeps parsed (a batch rarely spans more than a few)."""
ALERT_MISMATCH: Final = "points_mismatch"
ALERT_UNVERIFIED: Final = "points_unverified"
ALERT_OVERDRAFT: Final = "points_overdraft"
ALERT_REFUND_UNMATCHED: Final = "refund_unmatched"
ALERT_REFUSED: Final = "posting_refused"
ALERT_FAILED: Final = "posting_failed"
MAX_LATE_REFUNDS_PER_SALE: Final = 100
"""Refunds of one sale, posted before the sale reached the hub, matched when it does (a sale has far fewer)."""
_PERIOD_RE: Final = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")


# --- the tenant's consumer program -----------------------------------------------------------------------


@cache
def _default_json(name: str) -> Any:
    return json.loads((DEFAULTS_DIR / name).read_text(encoding="utf-8"))


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
    stmt = _insert(conn, db.points_program).values(row)
    conn.execute(stmt.on_conflict_do_update(index_elements=["tenant"], set_={k: row[k] for k in row if k != "tenant"}))
    return registered


def tenant_program(conn: Connection, tenant: str, *, now: datetime) -> PointsProgram:
    """The tenant's consumer program. A tenant without one gets the boxes' embedded default program
    (``edge_agent/defaults/program.json``), registered with :data:`DEFAULT_LOT_EXPIRY_MONTHS`."""
    t = db.points_program
    body = conn.execute(sa.select(t.c.body).where(t.c.tenant == tenant)).scalar_one_or_none()
    if body is not None:
        return validate_model(PointsProgram, body, "points_program.body")
    program = validate_model(PointsProgram, _default_json("program.json")["program"], "defaults.program")
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
    defaults = _default_json("settings.json")
    ident = defaults["store"]
    retailer = ident["retailer_id"] if ident["store_id"] == store else store
    jurisdiction = defaults["jurisdiction"] if isinstance(defaults["jurisdiction"], str) else ""
    return _StoreFacts(
        store, retailer, ident["timezone"], jurisdiction, int(defaults.get("offline_allowance_points", 0))
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
    alerts: list[dict[str, Any]] = field(default_factory=list)


def _insert(conn: Connection, table: sa.Table) -> Any:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


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
        self.report.alerts.append(
            {
                "created_at": self.now,
                "kind": kind,
                "tenant": msg.topic.tenant,
                "device": msg.topic.device,
                "event_id": msg.envelope.id,
                "detail": detail[:2000],
            }
        )


# --- the entry point --------------------------------------------------------------------------------------


def post_events(
    conn: Connection, events: Iterable[tuple[wire.Message, datetime]], *, now: datetime | None = None
) -> PostingReport:
    """Post the ledger effects of box events (``(message, received_at)`` pairs) in the caller's transaction.

    Sales, refunds and enrolments are posted, in each box's order (``seq``); other events have no ledger
    effect. Transfers are booked at ``now``, by default the latest receive time among the events. An event
    already posted is skipped. A failure inside one event's postings is rolled back to a savepoint and raised
    as a ``posting_failed`` alert: it never stops the ingest.
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
    _open_transaction(conn)
    p = db.posting
    ids = [m.envelope.id for m, _ in relevant]
    done = {eid for (eid,) in conn.execute(sa.select(p.c.event_id).where(p.c.event_id.in_(ids)))}
    for msg, _received in relevant:
        if msg.envelope.id in done:
            continue
        done.add(msg.envelope.id)
        try:
            with conn.begin_nested():
                if isinstance(msg.data, wire.SaleData):
                    _post_sale(batch, msg, msg.data)
                elif isinstance(msg.data, wire.RefundData):
                    _post_refund(batch, msg, msg.data)
                elif isinstance(msg.data, wire.EnrolmentData):
                    _post_enrolment(batch, msg, msg.data)
        except (InvalidInput, lg.LedgerError, sa.exc.SQLAlchemyError, KeyError, ValueError) as exc:
            log.exception("postings of event %s failed; alerted", msg.envelope.id)
            batch.alert(ALERT_FAILED, msg, f"{type(exc).__name__}: {exc}")
    if batch.report.alerts:
        conn.execute(db.alert.insert(), batch.report.alerts)
    return batch.report


def _open_transaction(conn: Connection) -> None:
    """Make sure the caller's SQLite transaction has begun: Python's sqlite3 begins one lazily, at the first
    write, and a SAVEPOINT taken before that would start (and its RELEASE commit) a transaction of its own."""
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        if raw is not None and not raw.in_transaction:
            conn.exec_driver_sql("BEGIN")


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

    @property
    def total(self) -> int:
        return self.distributor + self.retailer


def _post_sale(batch: _Batch, msg: wire.Message, sale: wire.SaleData) -> None:
    assert sale.customer is not None
    tenant = msg.topic.tenant
    program = batch.program(tenant)
    store = batch.store(tenant, sale.store)
    figure = _recompute(batch, msg, sale, program, store)
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
    if sale.offline_hold_points:
        # The hub has seen the sale the box honoured offline: the hold is posted in the same breath.
        transfers.append(_hold_post(event_id, hold_id, msg.envelope.ts))
    redeem_id = lg.derived_id(event_id, "redeem")
    results = _apply(batch, msg, transfers, frozenset({redeem_id}))
    for t, r in zip(transfers, results, strict=True):
        if t.id == redeem_id and r.status is lg.Status.EXCEEDS_FLOOR:
            _overdraft(batch, msg, t)
        elif t.id == redeem_id and not r.ok:
            batch.alert(ALERT_REFUSED, msg, f"ledger refused redeem {t.amount}: {r.status}")
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
    batch.report.sales += 1
    _match_late_refunds(batch, msg, sale)


def _match_late_refunds(batch: _Batch, msg: wire.Message, sale: wire.SaleData) -> None:
    """Post the refunds of ``sale`` that reached the hub before it (posted ``unmatched``), now it is posted."""
    conn = batch.conn
    p, be, inbox, alert = db.posting, db.business_event, db.inbox, db.alert
    tenant, device = msg.topic.tenant, msg.topic.device
    late = conn.execute(
        sa.select(be.c.event_id, be.c.seq, be.c.box_ts, be.c.data, inbox.c.payload_sha256)
        .join(p, p.c.event_id == be.c.event_id)
        .join(inbox, inbox.c.event_id == be.c.event_id)
        .where(
            p.c.tenant == tenant,
            p.c.device == device,
            p.c.type == "refund",
            p.c.verdict == "unmatched",
            p.c.sale_id == sale.sale_id,
        )
        .order_by(be.c.seq)
        .limit(MAX_LATE_REFUNDS_PER_SALE)
    ).all()
    for event_id, seq, box_ts, data, sha256 in late:
        refund = wire.RefundData.model_validate(data)
        envelope = wire.EnvelopeHeader(
            v=wire.PROTOCOL_VERSION, id=event_id, seq=int(seq), ts=lg.as_utc(box_ts), device=device, type=refund.TYPE
        )
        topic = wire.event_topic(tenant, device, refund.TYPE)
        conn.execute(sa.delete(p).where(p.c.event_id == event_id))
        _post_refund(batch, wire.Message(topic, envelope, refund, sha256), refund)
        conn.execute(
            sa.update(alert)
            .where(alert.c.event_id == event_id, alert.c.kind == ALERT_REFUND_UNMATCHED, alert.c.resolved_at.is_(None))
            .values(resolved_at=batch.now)
        )
        log.info("refund %s reached the hub before its sale %s: posted now", refund.refund_id, sale.sale_id)


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
    batch: _Batch, msg: wire.Message, sale: wire.SaleData, program: PointsProgram, store: _StoreFacts
) -> _Figure:
    """The hub's figure for the sale's points, or the box's figure when the hub cannot price the sale."""

    def box_figure(reason: str) -> _Figure:
        distributor, retailer = allocate(sale.points_earned, program.funding.weights)
        return _Figure(distributor, retailer, "unverified", f"box {sale.points_earned}, hub unverified: {reason}")

    version = sale.promotion_set_version
    if version is None:
        return box_figure("the sale names no promotion_set_version")
    promotions = _promotion_set(batch, msg.topic.tenant, sale.store, version)
    if isinstance(promotions, str):
        return box_figure(promotions)
    jurisdiction = _jurisdiction(batch, store.jurisdiction)
    if isinstance(jurisdiction, str):
        return box_figure(jurisdiction)
    assert sale.customer is not None
    customer = _customer(batch.conn, msg.topic.tenant, sale.customer, program, sale.points_redeemed)
    if customer is None:
        return box_figure(f"customer {sale.customer} is not known at the hub yet")
    lines: list[BasketLine] = []
    for no, line in enumerate(sale.lines, start=1):
        if line.category is None or line.tax_category is None:
            return box_figure(f"line {no} ({line.sku}) carries no category or tax category")
        lines.append(
            BasketLine(
                line_id=f"l{no}",
                item_id=line.sku,
                description=line.name,
                category=line.category,
                tax_category=line.tax_category,
                distributor=line.distributor,
                brand=line.brand,
                quantity=line.qty,
                unit_price_minor=line.unit_price_minor,
            )
        )
    try:
        basket = Basket(
            currency=sale.currency,
            store=PricingStore(store_id=sale.store, retailer_id=store.retailer, timezone=store.timezone),
            lines=tuple(lines),
        )
        priced = price(
            basket,
            customer,
            program,
            promotions,
            jurisdiction,
            msg.envelope.ts,
            redeem_points=sale.points_redeemed,
        )
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
            body = _default_json("promotions.json")
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
    value = int(row.tier_value)
    scheme = program.tiers
    if scheme is not None and row.tier_id is not None:
        held = scheme.tier(row.tier_id)
        if held is not None:
            value = max(value, held.min_value)
    activity = scheme is not None and scheme.basis is TierBasis.ACTIVITY
    return Customer(
        customer_id=loyalty_id,
        tier_points=0 if activity else value,
        transactions_this_month=value if activity else 0,
        # The ledger judges the balance; pricing only needs the redemption to be payable.
        points_balance=redeemed,
        birth_date=row.birth_date,
        enrolled_on=row.enrolled_on,
        last_birthday_bonus_year=row.last_birthday_bonus_year,
        last_anniversary_bonus_year=row.last_anniversary_bonus_year,
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
            batch.alert(
                ALERT_REFUND_UNMATCHED,
                msg,
                f"refund {refund.refund_id} names sale {refund.sale_id}, which the hub never posted with a customer",
            )
        _record(
            batch,
            msg,
            kind="refund",
            store=store,
            customer=refund.customer,
            program=None,
            sale_id=refund.sale_id,
            verdict="unmatched",
        )
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
    stmt = _insert(conn, db.merchant_rules).values(row)
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
