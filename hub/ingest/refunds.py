"""Refunds reverse a sale's points.

The earned points are reversed in proportion: the box's ``points_reversed`` when the hub posted the box's
figure, scaled to the hub's figure otherwise (by money when the box had earned nothing), never more than is
left to reverse, split across the sale's funders by what each has left. Points paid back to the customer (the
refund's points tenders) reverse the sale's redemption. Every reversal is a ``reverse`` transfer whose
``ref`` is the sale's transfer; a reversal of earned points is flagged OFFLINE, so a customer who already
spent them goes into overdraft instead of the refund being refused. A refund whose sale has not reached the
hub yet waits (``refund_waiting``) and is posted with its sale; one whose sale came without a customer, or
that waits longer than :data:`REFUND_WAIT_MAX`, raises ``refund_unmatched`` (:func:`sweep_waiting_refunds`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core import wire
from core.money import allocate
from hub import db
from hub import ledger as lg
from hub.ingest.batch import PostingReport, _apply, _Batch, _guarded, _record
from hub.ledger.locks import lock_tenants

__all__ = [
    "ALERT_REFUND_UNMATCHED",
    "REFUND_WAIT_MAX",
    "WAITING_REFUNDS_MAX",
    "sweep_waiting_refunds",
]

ALERT_REFUND_UNMATCHED: Final = "refund_unmatched"


WAITING_REFUNDS_MAX: Final = 500
"""Waiting refunds one call applies at most: per sale as it lands, or in one :func:`sweep_waiting_refunds`."""


REFUND_WAIT_MAX: Final = timedelta(days=2)
"""How long a refund waits for its sale before it is alerted ``refund_unmatched`` (it keeps waiting after)."""


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
