"""The customers snapshot each box caches: its store's regulars, the tenant's erased and merged ids, and the
box's watermark.

:func:`customers_body` builds one store's snapshot (the customers seen there within :data:`REGULAR_DAYS`, with
their balances as the hub knows them and the box's watermark sequence, :func:`watermark_seq`);
:func:`publish_to_boxes` publishes it to every box of the store through :mod:`hub.publishing`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core import wire
from core.errors import InvalidInput
from core.points import PointsProgram
from core.pricing.from_sale import held_tier_values
from hub import db, network
from hub import ledger as lg
from hub.customers.history import _sales
from hub.customers.records import State, _aware, _iso, resolve
from hub.publishing.retained import PublishError
from hub.publishing.snapshots import Outcome, Publisher

__all__ = [
    "ACTIVITY_SCAN_MAX",
    "MAX_DEAD_LETTERS_READ",
    "MAX_REGULARS",
    "REGULAR_DAYS",
    "customers_body",
    "publish_to_boxes",
    "watermark_seq",
]

log = logging.getLogger(__name__)


REGULAR_DAYS: Final = 90
"""A store's regulars are the customers seen there within this many days."""


MAX_REGULARS: Final = 5_000
"""Most customers in one store's snapshot (the most recently seen first); below wire.MAX_CONFIG_CUSTOMERS."""


ACTIVITY_SCAN_MAX: Final = 200_000
"""Most ledger transfers read to find a store's regulars; the newest are read first."""


MAX_DEAD_LETTERS_READ: Final = 1_000
"""Newest refused events of one box read when its watermark meets a missing seq (refusals are rare)."""


def _regulars(conn: Connection, tenant: str, store: str, program: str | None, since: datetime) -> dict[str, datetime]:
    seen: dict[str, datetime] = {}

    def saw(lid: str, at: datetime) -> None:
        if lid not in seen or seen[lid] < at:
            seen[lid] = at

    ce = db.customer_event
    for lid, at in conn.execute(
        sa.select(ce.c.loyalty_id, sa.func.max(ce.c.box_ts))
        .where(ce.c.tenant == tenant, ce.c.store == store, ce.c.box_ts >= since)
        .group_by(ce.c.loyalty_id)
    ):
        saw(lid, lg.as_utc(at))
    if program is not None:
        t, a = db.ledger_transfer, db.ledger_account
        customer_side = sa.or_(
            sa.and_(t.c.code == lg.Code.EARN.value, a.c.id == t.c.credit_account_id),
            sa.and_(t.c.code == lg.Code.REDEEM.value, a.c.id == t.c.debit_account_id),
        )
        rows = conn.execute(
            sa.select(t.c.ref, a.c.owner)
            .join(a, customer_side)
            .where(
                t.c.tenant == tenant,
                t.c.program == program,
                t.c.created_at >= since,
                a.c.kind == lg.Kind.CUSTOMER.value,
            )
            .order_by(t.c.created_at.desc())
            .limit(ACTIVITY_SCAN_MAX)
        ).all()
        owners: dict[str, set[str]] = {}
        for ref, owner in rows:
            owners.setdefault(ref, set()).add(owner)
        for ref, sale in _sales(conn, owners).items():
            if sale.store == store:
                for owner in owners[ref]:
                    saw(owner, lg.as_utc(sale.box_ts))
    resolved: dict[str, datetime] = {}
    for lid, at in seen.items():
        target = resolve(conn, tenant, lid)
        if target not in resolved or resolved[target] < at:
            resolved[target] = at
    return resolved


def customers_body(
    conn: Connection,
    tenant: str,
    store: str,
    *,
    program: PointsProgram | None,
    now: datetime | None = None,
    days: int = REGULAR_DAYS,
    limit: int = MAX_REGULARS,
) -> dict[str, Any]:
    """The ``customers`` snapshot body (core.wire.CustomersBody) for the boxes of ``store``.

    Customers: the store's regulars (seen there by an enrolment, an update or a sale with points in the last
    ``days`` days), newest first, then the network's other customers (newest enrolments first), at most
    ``limit`` in all, so anyone can be found by phone or sticker at any store; each with the hub's balance
    snapshot in ``program`` (available points: offline holds already deducted), the store's offline
    allowance, the tier basis values that make the box classify the tier the hub decided, the segments the
    customer is in (the last evaluation of each, :mod:`hub.segments`), and, for the
    store's regulars, the sealed fingerprint template when the fingerprint consent stands. ``erased``: the
    tenant's erased and merged ids (newest first, at most wire.MAX_ERASED_IDS), which every box deletes with
    their biometrics.
    """
    if not 1 <= days <= 3660:
        raise InvalidInput("days", "must be 1 to 3660")
    if not 1 <= limit <= MAX_REGULARS:
        raise InvalidInput("limit", f"must be 1 to {MAX_REGULARS}")
    moment = _aware(now or datetime.now(UTC), "now")
    since = moment - timedelta(days=days)
    # The erased list is read first, and its ids are kept out of the customers: an erasure that commits
    # while this body is being read (each statement sees the latest commits) then either shows in both reads
    # (erased, and its row no longer active) or in neither; never as a customer that is also erased.
    e = db.customer_erased
    erased = [
        lid
        for (lid,) in conn.execute(
            sa.select(e.c.loyalty_id)
            .where(e.c.tenant == tenant)
            .order_by(e.c.erased_at.desc(), e.c.loyalty_id)
            .limit(wire.MAX_ERASED_IDS)
        )
    ]
    gone = set(erased)
    st = db.store
    allowance = conn.execute(
        sa.select(st.c.offline_allowance_points).where(st.c.tenant == tenant, st.c.store == store)
    ).scalar_one_or_none()
    seen = _regulars(conn, tenant, store, program.id if program is not None else None, since)
    c = db.customer
    rows: list[Any] = []
    ids = list(seen)
    for chunk in db.chunks(ids):
        rows.extend(
            conn.execute(
                sa.select(c).where(
                    c.c.tenant == tenant,
                    c.c.loyalty_id.in_(chunk),
                    c.c.state == State.ACTIVE.value,
                    c.c.name.is_not(None),
                )
            )
        )
    rows = [r for r in rows if r.loyalty_id not in gone]
    rows.sort(key=lambda r: (seen[r.loyalty_id], r.loyalty_id), reverse=True)
    rows = rows[:limit]
    if len(rows) < limit:
        # The rest of the network's customers, newest first, so a customer of another store is found by phone
        # or sticker here too (their points are usable at every store); only regulars get their template.
        others = conn.execute(
            sa.select(c)
            .where(c.c.tenant == tenant, c.c.state == State.ACTIVE.value, c.c.name.is_not(None))
            .order_by(c.c.enrolled_on.desc().nulls_last(), c.c.loyalty_id.desc())
            .limit(limit)
        )
        rows.extend([r for r in others if r.loyalty_id not in seen and r.loyalty_id not in gone][: limit - len(rows)])
    chosen = [r.loyalty_id for r in rows]
    balances: dict[str, int] = {}
    if program is not None:
        a = db.ledger_account
        for chunk in db.chunks(chosen):
            for owner, cp, dp, dpend in conn.execute(
                sa.select(a.c.owner, a.c.credits_posted, a.c.debits_posted, a.c.debits_pending).where(
                    a.c.tenant == tenant,
                    a.c.program == program.id,
                    a.c.kind == lg.Kind.CUSTOMER.value,
                    a.c.owner.in_(chunk),
                )
            ):
                balances[owner] = cp - dp - dpend
    templates: dict[str, str] = {}
    t = db.customer_template
    for chunk in db.chunks(chosen):
        for lid, sealed in conn.execute(
            sa.select(t.c.loyalty_id, t.c.sealed).where(t.c.tenant == tenant, t.c.loyalty_id.in_(chunk))
        ):
            templates[lid] = sealed
    # Segment memberships as the last evaluation of each segment left them (hub.segments), so the box applies
    # segment-targeted promotions; at most wire.MAX_SEGMENTS_PER_CUSTOMER per customer, in id order.
    segments: dict[str, list[str]] = {}
    sm = db.segment_member
    for chunk in db.chunks(chosen):
        for lid, segment in conn.execute(
            sa.select(sm.c.loyalty_id, sm.c.segment)
            .where(sm.c.tenant == tenant, sm.c.loyalty_id.in_(chunk))
            .order_by(sm.c.loyalty_id, sm.c.segment)
        ):
            held = segments.setdefault(lid, [])
            if len(held) < wire.MAX_SEGMENTS_PER_CUSTOMER:
                held.append(segment)
    scheme = program.tiers if program is not None else None
    phones: set[str] = set()
    stickers: set[str] = set()
    customers: list[dict[str, Any]] = []
    for r in rows:
        phone = r.phone_e164 if r.phone_e164 not in phones else None
        sticker = r.sticker if r.sticker not in stickers else None
        if phone:
            phones.add(phone)
        if sticker:
            stickers.add(sticker)
        # The values that make the box's classification give the held tier.
        tier_points, transactions = held_tier_values(scheme, int(r.tier_value), r.tier_id)
        record: dict[str, Any] = {
            "loyalty_id": r.loyalty_id,
            "name": r.name,
            "phone_e164": phone,
            "sticker": sticker,
            "gender": r.gender,
            "birth_date": r.birth_date.isoformat() if r.birth_date else None,
            "wechat_id": r.wechat_id,
            "whatsapp_e164": r.whatsapp_e164,
            "enrolled_on": r.enrolled_on.isoformat() if r.enrolled_on else None,
            "tier_points": tier_points,
            "transactions_this_month": transactions,
            "balance_points": balances.get(r.loyalty_id, 0),
            "balance_at": moment.isoformat(),
            "offline_allowance_points": int(allowance or 0),
            "segment_ids": segments.get(r.loyalty_id, []),
            "last_birthday_bonus_year": r.last_birthday_bonus_year,
            "last_anniversary_bonus_year": r.last_anniversary_bonus_year,
            "marketing_consent": r.marketing_consent,
            "marketing_consent_at": _iso(r.marketing_consent_at),
            "fingerprint_consent": r.fingerprint_consent,
            "fingerprint_consent_at": _iso(r.fingerprint_consent_at),
        }
        if r.fingerprint_consent and r.loyalty_id in templates and r.loyalty_id in seen:
            record["fingerprint_template"] = templates[r.loyalty_id]
        customers.append({k: v for k, v in record.items() if v is not None})
    return {"customers": customers, "erased": erased}


def watermark_seq(conn: Connection, tenant: str, device: str) -> int:
    """The highest seq of ``device`` whose events, and every one of the box's events below it, this
    transaction sees committed (or refused for good): the watermark of the ``customers`` snapshot it builds.

    Read in the transaction that reads the balances, it says exactly which of the box's points movements
    they include. Ingest workers may commit a box's events out of order, but never one more than
    :data:`core.wire.MAX_EVENTS_IN_FLIGHT` below the newest (a box has no more in flight), so a seq still
    missing is looked for in that span only; an event the hub refused never will be committed, so it does
    not hold the watermark back. A refund waiting for its sale (``refund_waiting``) is no exception: the sale
    is an earlier event of the same box, so the watermark stays below both until the sale lands and posts
    them together. 0 when the hub has committed no event of the box.
    """
    i = db.inbox
    mine = (i.c.tenant == tenant) & (i.c.device == device)
    top = conn.execute(sa.select(sa.func.max(i.c.seq)).where(mine)).scalar_one_or_none()
    if top is None:
        return 0
    top = int(top)
    floor = max(top - wire.MAX_EVENTS_IN_FLIGHT, 0)
    span = mine & (i.c.seq > floor)
    if conn.execute(sa.select(sa.func.count()).where(span)).scalar_one() == top - floor:
        return top
    present = {int(seq) for (seq,) in conn.execute(sa.select(i.c.seq).where(span))}
    dl = db.dead_letter
    for (payload,) in conn.execute(
        sa.select(dl.c.payload)
        .where(dl.c.tenant == tenant, dl.c.device == device)
        .order_by(dl.c.id.desc())
        .limit(MAX_DEAD_LETTERS_READ)
    ):
        _, refused = wire.peek_id(payload)
        if refused is not None:
            present.add(refused)
    for seq in range(floor + 1, top + 1):
        if seq not in present:
            return seq - 1
    return top


def publish_to_boxes(
    publisher: Publisher,
    tenant: str,
    program: PointsProgram | None,
    *,
    stores: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[Outcome]:
    """Build each store's customers snapshot and send it to every box of the store with
    :class:`hub.publishing.snapshots.Publisher` (a body equal to the last one a box got is not sent again). Run it after
    an erasure or a merge, and periodically, so balances and regulars stay fresh.

    Each box's snapshot states its own watermark (:func:`watermark_seq`), read in the one transaction that
    reads every balance: on PostgreSQL a repeatable-read one, so all its statements see the same commits
    (the hub's SQLite transactions read one snapshot already)."""
    moment = _aware(now or datetime.now(UTC), "now")
    outcomes: list[Outcome] = []
    with publisher.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        chosen = sorted(s.store for s in network.stores(conn, tenant)) if stores is None else list(stores)
        work: list[tuple[str, dict[str, Any]]] = []
        for store in chosen:
            body = customers_body(conn, tenant, store, program=program, now=moment)
            for box in network.devices(conn, tenant, store=store):
                work.append((box.device, {**body, "watermark_seq": watermark_seq(conn, tenant, box.device)}))
    for device, body in work:
        try:
            outcomes.append(publisher.publish(tenant, device, "customers", body))
        except (InvalidInput, PublishError) as exc:
            log.error("%s/%s customers not published: %s", tenant, device, exc)
            outcomes.append(Outcome(tenant, device, "customers", None, False, str(exc)))
    return outcomes
