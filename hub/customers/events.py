"""Enrolments and customer updates from the boxes, applied to the customer table.

A box enrols a customer under a loyalty id from its own number range and sends an ``enrolment`` event; later
changes come as ``customer_update`` events. :func:`apply_events` applies the pending ones from
``business_event`` idempotently, in one transaction with marking them applied:

* every personal field keeps the value of the newest event (by the box's clock) that set it, so events from
  several boxes applied in any order give the same customer;
* consents and templates go through :mod:`hub.customers.consent`;
* an enrolment whose phone (or name and birth date) matches another active customer is recorded as a
  possible duplicate (:mod:`hub.customers.merge`).

Events for an erased customer are scrubbed of their personal fields and change nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from core import wire
from core.errors import InvalidInput
from hub import db
from hub import ledger as lg
from hub.customers.consent import _consent, _delete_template, _store_template
from hub.customers.erasure import _scrub_event
from hub.customers.merge import _detect_for
from hub.customers.records import _PERSONAL, State, _aware, _row, _store_zone, resolve

__all__ = [
    "APPLY_BATCH_MAX",
    "CUSTOMER_EVENT_TYPES",
    "ApplyReport",
    "apply_events",
]

CUSTOMER_EVENT_TYPES: Final = (wire.EnrolmentData.TYPE, wire.CustomerUpdateData.TYPE)


APPLY_BATCH_MAX: Final = 500
"""Most business events one :func:`apply_events` call applies; call it again until it reports none."""


@dataclass
class ApplyReport:
    """What one :func:`apply_events` call did."""

    applied: int = 0
    enrolled: int = 0
    updated: int = 0
    ignored: int = 0
    """Events about an erased customer: marked applied, their personal data scrubbed, nothing else."""
    refused: int = 0
    """Events whose data no longer validates: marked applied and raised as an alert."""
    duplicates: int = 0


def _alert(
    conn: Connection, tenant: str, device: str | None, event_id: uuid.UUID | None, detail: str, now: datetime
) -> None:
    conn.execute(
        sa.insert(db.alert).values(
            created_at=now, kind="customer_event", tenant=tenant, device=device, event_id=event_id, detail=detail
        )
    )


def apply_events(
    conn: Connection, tenant: str, *, now: datetime | None = None, limit: int = APPLY_BATCH_MAX
) -> ApplyReport:
    """Apply the tenant's pending ``enrolment`` and ``customer_update`` events (at most ``limit``).

    Each is marked applied (``business_event.applied_at``) in the caller's transaction, so a crash before the
    commit applies it again from scratch, and an applied one is never applied twice.
    """
    if not 1 <= limit <= APPLY_BATCH_MAX:
        raise InvalidInput("limit", f"must be 1 to {APPLY_BATCH_MAX}")
    moment = _aware(now or datetime.now(UTC), "now")
    be = db.business_event
    rows = conn.execute(
        sa.select(be)
        .where(be.c.tenant == tenant, be.c.type.in_(CUSTOMER_EVENT_TYPES), be.c.applied_at.is_(None))
        .order_by(be.c.received_at, be.c.device, be.c.seq)
        .limit(limit)
        # Ingest workers and the jobs loop may apply at the same time: each takes rows no one else holds.
        .with_for_update(skip_locked=True)
    ).all()
    report = ApplyReport()
    for r in rows:
        _apply_one(conn, tenant, r, moment, report)
        conn.execute(sa.update(be).where(be.c.event_id == r.event_id).values(applied_at=moment))
        report.applied += 1
    return report


def _apply_one(conn: Connection, tenant: str, r: Any, now: datetime, report: ApplyReport) -> None:
    try:
        data: wire.EnrolmentData | wire.CustomerUpdateData = (
            wire.EnrolmentData.model_validate(r.data)
            if r.type == wire.EnrolmentData.TYPE
            else wire.CustomerUpdateData.model_validate(r.data)
        )
    except (ValidationError, InvalidInput) as exc:
        _alert(conn, tenant, r.device, r.event_id, f"{r.type} event no longer validates: {exc}", now)
        report.refused += 1
        return
    box_ts = lg.as_utc(r.box_ts)
    lid = resolve(conn, tenant, data.customer)
    existing = _row(conn, tenant, lid)
    if existing is not None and existing.state == State.ERASED:
        _scrub_event(conn, r.event_id, r.data)
        report.ignored += 1
        return
    if existing is None:
        enrolled_on = box_ts.astimezone(_store_zone(conn, tenant, data.store)).date()
        is_enrolment = isinstance(data, wire.EnrolmentData)
        conn.execute(
            sa.insert(db.customer).values(
                tenant=tenant,
                loyalty_id=lid,
                state=State.ACTIVE.value,
                has_face=False,
                has_signature=False,
                field_times={},
                enrolled_on=enrolled_on if is_enrolment else None,
                enrolled_store=data.store if is_enrolment else None,
                enrolled_device=r.device if is_enrolment else None,
                tier_value=0,
                tier_grace_used=0,
                created_at=now,
                updated_at=now,
            )
        )
    elif isinstance(data, wire.EnrolmentData) and existing.enrolled_store is None:
        # An update arrived before the enrolment (another box): the enrolment says where it started.
        conn.execute(
            sa.update(db.customer)
            .where(db.customer.c.tenant == tenant, db.customer.c.loyalty_id == lid)
            .values(
                enrolled_on=box_ts.astimezone(_store_zone(conn, tenant, data.store)).date(),
                enrolled_store=data.store,
                enrolled_device=r.device,
            )
        )
    values = _field_values(conn, tenant, lid, data.fields, box_ts)
    if isinstance(data, wire.EnrolmentData):
        values["has_face"] = data.has_face
        values["has_signature"] = data.has_signature
        report.enrolled += 1
    else:
        report.updated += 1
    values["updated_at"] = now
    conn.execute(
        sa.update(db.customer).where(db.customer.c.tenant == tenant, db.customer.c.loyalty_id == lid).values(**values)
    )
    origin = {"store": data.store, "device": r.device, "event_id": r.event_id}
    for kind, consent in (
        ("marketing", data.fields.marketing_consent),
        ("fingerprint", data.fields.fingerprint_consent),
    ):
        if consent is not None:
            _consent(conn, tenant, lid, kind, consent.granted, lg.as_utc(consent.at), r.type, origin, now)
    if isinstance(data, wire.CustomerUpdateData) and data.erase_fingerprint:
        consent = data.fields.fingerprint_consent
        if consent is None or consent.granted:
            _consent(conn, tenant, lid, "fingerprint", False, box_ts, r.type, origin, now)
        _delete_template(conn, tenant, lid)
    if data.fingerprint_template is not None:
        current = _row(conn, tenant, lid)
        if current.fingerprint_consent:
            _store_template(conn, tenant, lid, data.fingerprint_template, data.store, r.device, now)
    conn.execute(
        db.insert(conn, db.customer_event)
        .values(
            event_id=r.event_id,
            tenant=tenant,
            loyalty_id=lid,
            type=r.type,
            store=data.store,
            device=r.device,
            box_ts=box_ts,
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    report.duplicates += _detect_for(conn, tenant, lid, now)


def _field_values(
    conn: Connection, tenant: str, lid: str, fields: wire.CustomerFields, box_ts: datetime
) -> dict[str, Any]:
    current = _row(conn, tenant, lid)
    times: dict[str, str] = dict(current.field_times or {})
    values: dict[str, Any] = {}
    for name in _PERSONAL:
        value = getattr(fields, name)
        if value is None:
            continue
        known = times.get(name)
        if known is not None and datetime.fromisoformat(known) > box_ts:
            continue  # a newer event already set this field
        values[name] = value
        times[name] = box_ts.isoformat()
    values["field_times"] = times
    return values
