"""Sales verified later, and the offline redemptions that were voided.

A sale unverified only because its customer was not known yet (the enrolment was with another worker) is
priced again once it is (:func:`verify_sales`, at most :data:`VERIFY_BATCH_MAX` a call).
:func:`voided_redemptions` lists the offline redemptions the hub did not post (:mod:`hub.ingest.sales`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core import wire
from core.errors import InvalidInput
from hub import db
from hub import ledger as lg
from hub.ingest.batch import ALERT_MISMATCH, ALERT_UNVERIFIED, PostingReport, _Batch, _guarded
from hub.ingest.sales import _recompute
from hub.ledger.locks import lock_tenants

__all__ = [
    "VERIFY_BATCH_MAX",
    "VOIDED_LIST_MAX",
    "VoidedRedemption",
    "verify_sales",
    "voided_redemptions",
]

VERIFY_BATCH_MAX: Final = 500
"""Unverified sales one :func:`verify_sales` call recomputes at most (the rest at the next call)."""


VOIDED_LIST_MAX: Final = 1000
"""Voided redemptions one :func:`voided_redemptions` call lists at most (page on with ``after``)."""


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
