"""Box events become points-ledger postings, in the ingest's transaction, exactly once.

:func:`post_events` is called by :mod:`hub.ingest.worker` for the events a batch inserted into the inbox,
inside the same database transaction: an event's postings commit with its inbox row or not at all, and a
replayed event (already in the inbox) never reaches this module again. Each event posted also gets a
``posting`` row, so calling :func:`post_events` twice with the same event changes nothing either.

Sales go to :mod:`hub.ingest.sales`, refunds to :mod:`hub.ingest.refunds`, enrolments earn the retailer's
merchant points (:mod:`hub.programs.merchant`). Points a customer earned at one retailer and spent at another
are settled through the distributor's clearing account by :func:`hub.ledger.reports.settle_period`.

This module is the postings' interface: it re-exports the reports, errors, alerts and jobs of its siblings.

Concurrency and failures: :func:`hub.ledger.lock_tenants` serialises a tenant's postings across workers on
PostgreSQL; a conflict that still happens, or a lost connection, propagates for the caller to retry the whole
transaction, and any other failure raises :class:`hub.ingest.batch.PostingFailed`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core import wire
from hub import db
from hub import ledger as lg
from hub.ingest.batch import (
    _POSTING_ERRORS,
    ALERT_FAILED,
    ALERT_MISMATCH,
    ALERT_OVERDRAFT,
    ALERT_REFUSED,
    ALERT_UNVERIFIED,
    ALERT_VOIDED,
    PostingError,
    PostingFailed,
    PostingReport,
    _Batch,
    _failed,
    _record,
    _retry_whole,
    alert_not_posted,
)
from hub.ingest.refunds import (
    ALERT_REFUND_UNMATCHED,
    REFUND_WAIT_MAX,
    _post_refund,
    _post_refunds_of,
    sweep_waiting_refunds,
)
from hub.ingest.sales import _post_sale
from hub.ingest.verify import VoidedRedemption, _verify, verify_sales, voided_redemptions
from hub.ledger.locks import lock_tenants
from hub.programs.merchant import _merchant_earn, _merchant_program

__all__ = [
    "ALERT_FAILED",
    "ALERT_MISMATCH",
    "ALERT_OVERDRAFT",
    "ALERT_REFUND_UNMATCHED",
    "ALERT_REFUSED",
    "ALERT_UNVERIFIED",
    "ALERT_VOIDED",
    "REFUND_WAIT_MAX",
    "PostingError",
    "PostingFailed",
    "PostingReport",
    "VoidedRedemption",
    "alert_not_posted",
    "post_events",
    "sweep_waiting_refunds",
    "verify_sales",
    "voided_redemptions",
]


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
