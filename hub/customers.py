"""The distributor's customers at the hub: enrolments and updates from the boxes, consents, fingerprint
templates, duplicates and merges, erasure, balance and history across stores, tiers, and the customers
snapshot each box caches.

Customers belong to the distributor (the tenant) and are usable at every store of its network. A box enrols a
customer under a loyalty id from its own number range and sends an ``enrolment`` event; later changes come
as ``customer_update`` events. :func:`apply_events` applies the pending ones from ``business_event``
idempotently, in one transaction with marking them applied:

* every personal field keeps the value of the newest event (by the box's clock) that set it, so events from
  several boxes applied in any order give the same customer;
* every consent given or withdrawn is appended to ``customer_consent`` with when and where; the customer's
  current consent is the latest one;
* a fingerprint template is stored exactly as the box sent it, sealed with the tenant's key; the hub never
  opens it. It is deleted when the fingerprint consent is withdrawn, and never stored without consent;
* an enrolment whose phone (or name and birth date) matches another active customer is recorded as a
  possible duplicate (two boxes enrolled the same person offline, say). Staff merge duplicates with
  :func:`merge`: one survivor keeps everything, the other id becomes an alias, and its points move to the
  survivor by a ledger ``transfer``.

Erasure (:func:`erase`) empties the personal columns, closes the consents, deletes the template, scrubs the
personal fields from the stored box events, and adds the id to the tenant's erased list, which every customers
snapshot carries so each box deletes the customer, its biometric row and its template on the sensor.

Sales reach the hub without a customer column of their own: a customer's sales are found through the ledger,
whose earn and redeem transfers carry the sale's event id as ``ref``. A sale that neither earned nor redeemed
points is therefore not in a customer's history or visits.

Tiers: :func:`recompute_tier` measures the program's tier basis (points earned in a rolling window, or
transactions in the calendar month) and applies :class:`TierRules`: upgrades at once, downgrades only when a
period closes below the tier's minimum, after ``grace_periods`` such periods.

All functions work inside the caller's transaction and raise :class:`core.errors.InvalidInput` (or
:class:`UnknownCustomer`) naming the field and what to do.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from core import identity, wire
from core.errors import InvalidInput
from core.points import PointsProgram
from core.pricing.from_sale import held_tier_values
from core.tiers import TierBasis, TierDecision, TierRules, TierState, decide_tier
from hub import db, network
from hub import ledger as lg
from hub.config_publish import PublishError
from hub.errors import HubError
from hub.publish import Outcome, Publisher

__all__ = [
    "APPLY_BATCH_MAX",
    "CUSTOMER_EVENT_TYPES",
    "MAX_HISTORY",
    "MAX_REGULARS",
    "REGULAR_DAYS",
    "ApplyReport",
    "CustomerBalance",
    "CustomerView",
    "Duplicate",
    "HistoryEntry",
    "MergeResult",
    "TierDecision",
    "TierRules",
    "TierState",
    "UnknownCustomer",
    "apply_events",
    "balance",
    "customers_body",
    "decide_tier",
    "dismiss_duplicate",
    "duplicates",
    "erase",
    "find_duplicates",
    "get_customer",
    "history",
    "merge",
    "publish_to_boxes",
    "recompute_tier",
    "resolve",
    "set_consent",
    "tier_value",
    "watermark_seq",
]

log = logging.getLogger(__name__)

CUSTOMER_EVENT_TYPES: Final = (wire.EnrolmentData.TYPE, wire.CustomerUpdateData.TYPE)
APPLY_BATCH_MAX: Final = 500
"""Most business events one :func:`apply_events` call applies; call it again until it reports none."""
REGULAR_DAYS: Final = 90
"""A store's regulars are the customers seen there within this many days."""
MAX_REGULARS: Final = 5_000
"""Most customers in one store's snapshot (the most recently seen first); below wire.MAX_CONFIG_CUSTOMERS."""
MAX_HISTORY: Final = 1_000
"""Most entries :func:`history` returns."""
ACTIVITY_SCAN_MAX: Final = 200_000
"""Most ledger transfers read to find a store's regulars; the newest are read first."""
MAX_DUPLICATES: Final = 10_000
"""Most possible duplicates one :func:`find_duplicates` or :func:`duplicates` call returns."""
MAX_DEAD_LETTERS_READ: Final = 1_000
"""Newest refused events of one box read when its watermark meets a missing seq (refusals are rare)."""

_PERSONAL: Final = ("name", "phone_e164", "sticker", "gender", "birth_date", "wechat_id", "whatsapp_e164")
_CONSENTS: Final = ("marketing", "fingerprint")


class UnknownCustomer(InvalidInput, HubError):
    """No customer with that loyalty id in this tenant (check the id, or wait for its enrolment to arrive)."""

    code = "unknown_customer"


class State(enum.StrEnum):
    """A customer row's state."""

    ACTIVE = "active"
    MERGED = "merged"
    ERASED = "erased"


@dataclass(frozen=True, slots=True)
class CustomerView:
    """A customer as the hub holds it (personal fields None once erased)."""

    loyalty_id: str
    state: State
    name: str | None
    phone_e164: str | None
    sticker: str | None
    gender: str | None
    birth_date: date | None
    wechat_id: str | None
    whatsapp_e164: str | None
    enrolled_on: date | None
    enrolled_store: str | None
    enrolled_device: str | None
    marketing_consent: bool | None
    marketing_consent_at: datetime | None
    fingerprint_consent: bool | None
    fingerprint_consent_at: datetime | None
    has_template: bool
    tier_id: str | None
    merged_into: str | None
    aliases: tuple[str, ...]


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


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Two active customers that look like one person; ``loyalty_id`` < ``other_id``."""

    loyalty_id: str
    other_id: str
    reason: str
    detected_at: datetime


@dataclass(frozen=True, slots=True)
class MergeResult:
    """A merge: the survivor, the merged id (now an alias), and the ledger transfers it made or needs.

    ``transfers`` has one entry per program where the merged id had points: ``points`` moved (negative: a
    debt moved), ``transfer_id``, and ``status`` (the ledger's; anything but created/exists means the move
    is still to be done and is recorded in ``customer_merge`` for follow-up).
    """

    survivor: str
    merged: str
    transfers: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One event in a customer's history. ``points`` is signed (earned positive, spent negative)."""

    at: datetime
    kind: str
    loyalty_id: str
    store: str | None
    ref: str
    points: int = 0
    total_minor: int | None = None
    currency: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CustomerBalance:
    """A customer's points in one program, over its own account and any merged aliases' remainders.

    ``posted`` is credits - debits posted; ``held`` points reserved by offline redemptions not yet checked;
    ``available`` = posted - held. ``by_store`` is (earned, redeemed) per store from the history read.
    """

    loyalty_id: str
    program: str
    posted: int
    held: int
    available: int
    by_store: Mapping[str, tuple[int, int]] = field(default_factory=dict)


# --- small helpers ------------------------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else lg.as_utc(value)


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(name, "must be a timezone-aware datetime (UTC)")
    return value.astimezone(UTC)


def _check_id(loyalty_id: str, name: str = "loyalty_id") -> str:
    return identity.parse(loyalty_id, field=name).digits


def _row(conn: Connection, tenant: str, loyalty_id: str) -> Any:
    c = db.customer
    return conn.execute(sa.select(c).where(c.c.tenant == tenant, c.c.loyalty_id == loyalty_id)).first()


def resolve(conn: Connection, tenant: str, loyalty_id: str) -> str:
    """The surviving loyalty id for ``loyalty_id`` (itself unless it was merged into another)."""
    a = db.customer_alias
    seen = {loyalty_id}
    current = loyalty_id
    while True:
        target = conn.execute(
            sa.select(a.c.loyalty_id).where(a.c.tenant == tenant, a.c.alias == current)
        ).scalar_one_or_none()
        if target is None or target in seen:
            return current
        seen.add(target)
        current = target


def _aliases(conn: Connection, tenant: str, loyalty_id: str) -> list[str]:
    a = db.customer_alias
    rows = conn.execute(sa.select(a.c.alias).where(a.c.tenant == tenant, a.c.loyalty_id == loyalty_id))
    return sorted(r[0] for r in rows)


def get_customer(conn: Connection, tenant: str, loyalty_id: str) -> CustomerView | None:
    """The customer ``loyalty_id`` (an alias gives its survivor), or None if the hub has never seen it."""
    lid = resolve(conn, tenant, _check_id(loyalty_id))
    r = _row(conn, tenant, lid)
    if r is None:
        return None
    t = db.customer_template
    has_template = (
        conn.execute(sa.select(t.c.loyalty_id).where(t.c.tenant == tenant, t.c.loyalty_id == lid)).first() is not None
    )
    return CustomerView(
        loyalty_id=lid,
        state=State(r.state),
        name=r.name,
        phone_e164=r.phone_e164,
        sticker=r.sticker,
        gender=r.gender,
        birth_date=r.birth_date,
        wechat_id=r.wechat_id,
        whatsapp_e164=r.whatsapp_e164,
        enrolled_on=r.enrolled_on,
        enrolled_store=r.enrolled_store,
        enrolled_device=r.enrolled_device,
        marketing_consent=r.marketing_consent,
        marketing_consent_at=_utc(r.marketing_consent_at),
        fingerprint_consent=r.fingerprint_consent,
        fingerprint_consent_at=_utc(r.fingerprint_consent_at),
        has_template=has_template,
        tier_id=r.tier_id,
        merged_into=r.merged_into,
        aliases=tuple(_aliases(conn, tenant, lid)),
    )


def _store_zone(conn: Connection, tenant: str, store: str) -> ZoneInfo:
    s = db.store
    zone = conn.execute(sa.select(s.c.timezone).where(s.c.tenant == tenant, s.c.store == store)).scalar_one_or_none()
    return ZoneInfo(zone) if zone else ZoneInfo("UTC")


def _alert(
    conn: Connection, tenant: str, device: str | None, event_id: uuid.UUID | None, detail: str, now: datetime
) -> None:
    conn.execute(
        sa.insert(db.alert).values(
            created_at=now, kind="customer_event", tenant=tenant, device=device, event_id=event_id, detail=detail
        )
    )


# --- applying enrolments and updates ------------------------------------------------------------------------


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


def _consent(
    conn: Connection,
    tenant: str,
    lid: str,
    kind: str,
    granted: bool,
    at: datetime,
    source: str,
    origin: Mapping[str, Any],
    now: datetime,
) -> None:
    conn.execute(
        sa.insert(db.customer_consent).values(
            tenant=tenant,
            loyalty_id=lid,
            kind=kind,
            granted=granted,
            at=at,
            source=source,
            store=origin.get("store"),
            device=origin.get("device"),
            event_id=origin.get("event_id"),
            recorded_at=now,
        )
    )
    current = _row(conn, tenant, lid)
    known_at = _utc(getattr(current, f"{kind}_consent_at"))
    if known_at is None or at >= known_at:
        conn.execute(
            sa.update(db.customer)
            .where(db.customer.c.tenant == tenant, db.customer.c.loyalty_id == lid)
            .values(**{f"{kind}_consent": granted, f"{kind}_consent_at": at})
        )
        if kind == "fingerprint" and not granted:
            _delete_template(conn, tenant, lid)


def _store_template(
    conn: Connection, tenant: str, lid: str, sealed: str, store: str, device: str, now: datetime
) -> None:
    row = {"sealed": sealed, "store": store, "device": device, "updated_at": now}
    stmt = db.insert(conn, db.customer_template).values(tenant=tenant, loyalty_id=lid, **row)
    conn.execute(stmt.on_conflict_do_update(index_elements=["tenant", "loyalty_id"], set_=row))


def _delete_template(conn: Connection, tenant: str, lid: str) -> None:
    t = db.customer_template
    conn.execute(sa.delete(t).where(t.c.tenant == tenant, t.c.loyalty_id == lid))


def set_consent(
    conn: Connection,
    tenant: str,
    loyalty_id: str,
    kind: Literal["marketing", "fingerprint"],
    granted: bool,
    *,
    at: datetime,
    now: datetime | None = None,
) -> None:
    """Record a consent given or withdrawn outside a counter (a call to the distributor, say).

    Withdrawing the fingerprint consent deletes the stored template; the next customers snapshot of each
    box carries the customer without a template and the box deletes its own copy.
    """
    if kind not in _CONSENTS:
        raise InvalidInput("kind", f"must be one of {', '.join(_CONSENTS)}")
    lid = _active(conn, tenant, loyalty_id)
    moment = _aware(now or datetime.now(UTC), "now")
    _consent(conn, tenant, lid, kind, granted, _aware(at, "at"), "admin", {}, moment)


def _active(conn: Connection, tenant: str, loyalty_id: str, name: str = "loyalty_id") -> str:
    lid = resolve(conn, tenant, _check_id(loyalty_id, name))
    r = _row(conn, tenant, lid)
    if r is None:
        raise UnknownCustomer(name, f"no customer {loyalty_id} in tenant {tenant!r}")
    if r.state != State.ACTIVE:
        raise InvalidInput(name, f"customer {loyalty_id} is {r.state}; nothing can change it any more")
    return lid


# --- duplicates and merges ----------------------------------------------------------------------------------


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _record_duplicate(conn: Connection, tenant: str, a: str, b: str, reason: str, now: datetime) -> int:
    first, second = _pair(a, b)
    d = db.customer_duplicate
    done = conn.execute(
        db.insert(conn, d)
        .values(tenant=tenant, loyalty_id=first, other_id=second, reason=reason, detected_at=now)
        .on_conflict_do_nothing(index_elements=["tenant", "loyalty_id", "other_id"])
        .returning(d.c.other_id)
    )
    return len(done.all())


def _detect_for(conn: Connection, tenant: str, lid: str, now: datetime) -> int:
    me = _row(conn, tenant, lid)
    c = db.customer
    found = 0
    if me.phone_e164:
        others = conn.execute(
            sa.select(c.c.loyalty_id).where(
                c.c.tenant == tenant,
                c.c.phone_e164 == me.phone_e164,
                c.c.state == State.ACTIVE.value,
                c.c.loyalty_id != lid,
            )
        )
        for (other,) in others:
            found += _record_duplicate(conn, tenant, lid, other, "phone", now)
    if me.name and me.birth_date:
        others = conn.execute(
            sa.select(c.c.loyalty_id, c.c.name).where(
                c.c.tenant == tenant,
                c.c.birth_date == me.birth_date,
                c.c.state == State.ACTIVE.value,
                c.c.loyalty_id != lid,
            )
        )
        for other, name in others:
            if name and _same_name(name, me.name):
                found += _record_duplicate(conn, tenant, lid, other, "name_birth", now)
    return found


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def find_duplicates(conn: Connection, tenant: str, *, now: datetime | None = None) -> list[Duplicate]:
    """Scan every active customer for another with the same phone, or the same name and birth date; record
    new pairs and return every open pair (at most :data:`MAX_DUPLICATES`)."""
    moment = _aware(now or datetime.now(UTC), "now")
    c = db.customer
    active = (c.c.tenant == tenant) & (c.c.state == State.ACTIVE.value)
    shared = (
        sa.select(c.c.phone_e164)
        .where(active, c.c.phone_e164.is_not(None))
        .group_by(c.c.phone_e164)
        .having(sa.func.count() > 1)
        .limit(MAX_DUPLICATES)
    )
    rows = conn.execute(
        sa.select(c.c.phone_e164, c.c.loyalty_id).where(active, c.c.phone_e164.in_(shared)).order_by(c.c.phone_e164)
    ).all()
    by_phone: dict[str, list[str]] = {}
    for phone, lid in rows:
        by_phone.setdefault(phone, []).append(lid)
    for ids in by_phone.values():
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                _record_duplicate(conn, tenant, a, b, "phone", moment)
    births = (
        sa.select(c.c.birth_date)
        .where(active, c.c.birth_date.is_not(None), c.c.name.is_not(None))
        .group_by(c.c.birth_date)
        .having(sa.func.count() > 1)
        .limit(MAX_DUPLICATES)
    )
    people: dict[tuple[date, str], list[str]] = {}
    for born, name, lid in conn.execute(
        sa.select(c.c.birth_date, c.c.name, c.c.loyalty_id).where(active, c.c.birth_date.in_(births))
    ):
        people.setdefault((born, " ".join(name.casefold().split())), []).append(lid)
    for ids in people.values():
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                _record_duplicate(conn, tenant, a, b, "name_birth", moment)
    return duplicates(conn, tenant)


def duplicates(conn: Connection, tenant: str) -> list[Duplicate]:
    """The open possible duplicates of the tenant, oldest first (at most :data:`MAX_DUPLICATES`)."""
    d = db.customer_duplicate
    rows = conn.execute(
        sa.select(d)
        .where(d.c.tenant == tenant, d.c.resolved_at.is_(None))
        .order_by(d.c.detected_at, d.c.loyalty_id, d.c.other_id)
        .limit(MAX_DUPLICATES)
    )
    return [Duplicate(r.loyalty_id, r.other_id, r.reason, lg.as_utc(r.detected_at)) for r in rows]


def dismiss_duplicate(conn: Connection, tenant: str, a: str, b: str, *, now: datetime | None = None) -> None:
    """Mark a possible duplicate as two different people (it is not reported again)."""
    first, second = _pair(_check_id(a, "a"), _check_id(b, "b"))
    d = db.customer_duplicate
    done = conn.execute(
        sa.update(d)
        .where(d.c.tenant == tenant, d.c.loyalty_id == first, d.c.other_id == second, d.c.resolved_at.is_(None))
        .values(resolution="distinct", resolved_at=_aware(now or datetime.now(UTC), "now"))
    )
    if not done.rowcount:
        raise InvalidInput("b", f"{first} and {second} are not an open possible duplicate")


def _customer_accounts(conn: Connection, tenant: str, owners: Sequence[str]) -> list[Any]:
    a = db.ledger_account
    return list(
        conn.execute(
            sa.select(a).where(a.c.tenant == tenant, a.c.kind == lg.Kind.CUSTOMER.value, a.c.owner.in_(owners))
        )
    )


def merge(conn: Connection, tenant: str, survivor: str, duplicate: str, *, now: datetime | None = None) -> MergeResult:
    """Merge ``duplicate`` into ``survivor``: one customer remains, the other id becomes an alias.

    The survivor keeps its own fields and takes the duplicate's where it has none (phone, sticker...), and its
    fingerprint template if it has none while the duplicate has one with consent. Consent records and
    history stay under the ids that made them and are read through the alias. The duplicate's points move
    to the survivor by a ledger ``transfer`` per program (lots keep their funder and expiry); a debt moves
    the other way. Points still held by offline redemptions stay on the old account until the hub checks
    them; calling :func:`merge` again later moves what they leave. The merged id goes into the erased list
    of every customers snapshot, so boxes drop it and find the customer by the survivor.
    """
    moment = _aware(now or datetime.now(UTC), "now")
    keep = _active(conn, tenant, survivor, "survivor")
    named = _check_id(duplicate, "duplicate")
    if named == keep:
        raise InvalidInput("duplicate", "is the survivor itself: name two different customers")
    lid = resolve(conn, tenant, named)
    if lid == keep:
        # Merged already: move what offline holds have left on the old account since.
        return MergeResult(keep, named, tuple(_move_points(conn, tenant, named, keep, moment)))
    gone = _row(conn, tenant, lid)
    if gone is None:
        raise UnknownCustomer("duplicate", f"no customer {duplicate} in tenant {tenant!r}")
    if gone.state != State.ACTIVE:
        raise InvalidInput("duplicate", f"customer {duplicate} is {gone.state} and cannot be merged")
    kept = _row(conn, tenant, keep)
    times = dict(kept.field_times or {})
    fill: dict[str, Any] = {}
    taken: dict[str, Any] = {}
    for name in _PERSONAL:
        if getattr(kept, name) is None and getattr(gone, name) is not None:
            fill[name] = getattr(gone, name)
            if name in (gone.field_times or {}):
                times[name] = gone.field_times[name]
            if name in ("phone_e164", "sticker"):
                taken[name] = None  # one phone or sticker names one customer
    for kind in _CONSENTS:
        if getattr(kept, f"{kind}_consent_at") is None and getattr(gone, f"{kind}_consent_at") is not None:
            fill[f"{kind}_consent"] = getattr(gone, f"{kind}_consent")
            fill[f"{kind}_consent_at"] = getattr(gone, f"{kind}_consent_at")
    c = db.customer
    conn.execute(
        sa.update(c)
        .where(c.c.tenant == tenant, c.c.loyalty_id == keep)
        .values(**fill, field_times=times, updated_at=moment)
    )
    t = db.customer_template
    mine = conn.execute(sa.select(t.c.loyalty_id).where(t.c.tenant == tenant, t.c.loyalty_id == keep)).first()
    theirs = conn.execute(sa.select(t).where(t.c.tenant == tenant, t.c.loyalty_id == lid)).first()
    if theirs is not None:
        survivor_row = _row(conn, tenant, keep)
        if mine is None and survivor_row.fingerprint_consent:
            _store_template(conn, tenant, keep, theirs.sealed, theirs.store, theirs.device, moment)
        _delete_template(conn, tenant, lid)
    conn.execute(
        sa.update(c)
        .where(c.c.tenant == tenant, c.c.loyalty_id == lid)
        .values(state=State.MERGED.value, merged_into=keep, updated_at=moment, **taken)
    )
    a = db.customer_alias
    conn.execute(sa.insert(a).values(tenant=tenant, alias=lid, loyalty_id=keep, created_at=moment))
    # Aliases of the merged id follow it to the survivor.
    conn.execute(sa.update(a).where(a.c.tenant == tenant, a.c.loyalty_id == lid).values(loyalty_id=keep))
    conn.execute(sa.update(c).where(c.c.tenant == tenant, c.c.merged_into == lid).values(merged_into=keep))
    _forget(conn, tenant, lid, "merged", moment)
    d = db.customer_duplicate
    conn.execute(
        sa.update(d)
        .where(d.c.tenant == tenant, d.c.resolved_at.is_(None), sa.or_(d.c.loyalty_id == lid, d.c.other_id == lid))
        .values(resolution="merged", resolved_at=moment)
    )
    moved = _move_points(conn, tenant, lid, keep, moment)
    return MergeResult(keep, lid, tuple(moved))


def _move_points(conn: Connection, tenant: str, gone: str, keep: str, now: datetime) -> list[dict[str, Any]]:
    moved: list[dict[str, Any]] = []
    for acct in _customer_accounts(conn, tenant, [gone]):
        posted = acct.credits_posted - acct.debits_posted
        if posted == 0:
            continue
        lg.open_accounts(
            conn,
            [lg.AccountSpec(tenant, acct.program, lg.Kind.CUSTOMER, keep, floor_points=acct.floor_points)],
            now=now,
        )
        target = lg.account_id(tenant, acct.program, lg.Kind.CUSTOMER, keep)
        # The id depends on the account's totals: re-running on the same state moves nothing twice.
        tid = lg.derived_id("merge", tenant, acct.program, gone, keep, acct.credits_posted, acct.debits_posted)
        if posted > 0:
            transfer = lg.Transfer(tid, acct.id, target, posted, lg.Code.TRANSFER, f"merge:{gone}", effective_at=now)
        else:
            # A debt (an offline overdraft) moves to the survivor; it was honoured already, so never refused.
            transfer = lg.Transfer(
                tid,
                target,
                acct.id,
                -posted,
                lg.Code.TRANSFER,
                f"merge:{gone}",
                flags=lg.TransferFlag.OFFLINE,
                effective_at=now,
            )
        (result,) = lg.apply_transfers(conn, [transfer], now=now)
        moved.append({"program": acct.program, "points": posted, "transfer_id": str(tid), "status": str(result.status)})
        if not result.ok:
            log.warning(
                "merge of %s into %s: ledger refused the %s transfer: %s", gone, keep, acct.program, result.status
            )
    m = db.customer_merge
    existing = conn.execute(sa.select(m.c.transfers).where(m.c.tenant == tenant, m.c.merged == gone)).first()
    if existing is None:
        conn.execute(sa.insert(m).values(tenant=tenant, merged=gone, survivor=keep, transfers=moved, merged_at=now))
    elif moved:
        conn.execute(
            sa.update(m).where(m.c.tenant == tenant, m.c.merged == gone).values(transfers=[*existing[0], *moved])
        )
    return moved


def _forget(conn: Connection, tenant: str, lid: str, reason: str, now: datetime) -> None:
    e = db.customer_erased
    conn.execute(
        db.insert(conn, e)
        .values(tenant=tenant, loyalty_id=lid, reason=reason, erased_at=now)
        .on_conflict_do_update(index_elements=["tenant", "loyalty_id"], set_={"reason": reason, "erased_at": now})
    )


# --- erasure ------------------------------------------------------------------------------------------------


def _scrub_event(conn: Connection, event_id: uuid.UUID, data: Mapping[str, Any]) -> None:
    kept = {k: data[k] for k in ("customer", "store") if k in data}
    be = db.business_event
    conn.execute(sa.update(be).where(be.c.event_id == event_id).values(data={**kept, "fields": {}, "erased": True}))


def erase(conn: Connection, tenant: str, loyalty_id: str, *, now: datetime | None = None) -> list[str]:
    """Erase a customer's personal data everywhere the hub holds it, and tell every box to do the same.

    Personal columns are emptied, every granted consent is closed by a withdrawal record, the fingerprint
    template is deleted, the personal fields of the stored enrolment and update events are removed, and the
    id (with any ids merged into it) joins the tenant's erased list. The loyalty id, points and sales stay:
    the ledger needs them and they no longer name a person. Returns the ids erased.
    """
    moment = _aware(now or datetime.now(UTC), "now")
    lid = resolve(conn, tenant, _check_id(loyalty_id))
    if _row(conn, tenant, lid) is None:
        raise UnknownCustomer("loyalty_id", f"no customer {loyalty_id} in tenant {tenant!r}")
    c = db.customer
    ids = [lid, *_aliases(conn, tenant, lid)]
    for one in ids:
        r = _row(conn, tenant, one)
        if r is None:
            continue
        for kind in _CONSENTS:
            if getattr(r, f"{kind}_consent"):
                _consent(conn, tenant, one, kind, False, moment, "erasure", {}, moment)
        _delete_template(conn, tenant, one)
        conn.execute(
            sa.update(c)
            .where(c.c.tenant == tenant, c.c.loyalty_id == one)
            .values(
                **dict.fromkeys(_PERSONAL),
                field_times={},
                has_face=False,
                has_signature=False,
                state=State.ERASED.value,
                erased_at=moment,
                updated_at=moment,
            )
        )
        ce = db.customer_event
        be = db.business_event
        events = conn.execute(
            sa.select(be.c.event_id, be.c.data)
            .join(ce, ce.c.event_id == be.c.event_id)
            .where(ce.c.tenant == tenant, ce.c.loyalty_id == one)
        ).all()
        for event_id, data in events:
            _scrub_event(conn, event_id, data)
        _forget(conn, tenant, one, "erased", moment)
    d = db.customer_duplicate
    conn.execute(
        sa.update(d)
        .where(d.c.tenant == tenant, d.c.resolved_at.is_(None), sa.or_(d.c.loyalty_id.in_(ids), d.c.other_id.in_(ids)))
        .values(resolution="erased", resolved_at=moment)
    )
    return ids


# --- balance and history ------------------------------------------------------------------------------------


def _event_uuid(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


def _sales(conn: Connection, refs: Iterable[str]) -> dict[str, Any]:
    by_id = {u: ref for ref in refs if (u := _event_uuid(ref)) is not None}
    found: dict[str, Any] = {}
    keys = list(by_id)
    s = db.sale
    for chunk in db.chunks(keys):
        for r in conn.execute(
            sa.select(s.c.event_id, s.c.store, s.c.total_minor, s.c.currency, s.c.box_ts, s.c.sale_id).where(
                s.c.event_id.in_(chunk)
            )
        ):
            found[by_id[r.event_id]] = r
    return found


def history(conn: Connection, tenant: str, loyalty_id: str, *, limit: int = MAX_HISTORY) -> list[HistoryEntry]:
    """A customer's history across every store, newest first: enrolment and updates, consents, and every
    ledger transfer (sales earned or redeemed at, with the sale's store and total; reversals, expiries,
    merges). Ids merged into the customer are included."""
    if not 1 <= limit <= MAX_HISTORY:
        raise InvalidInput("limit", f"must be 1 to {MAX_HISTORY}")
    lid = resolve(conn, tenant, _check_id(loyalty_id))
    if _row(conn, tenant, lid) is None:
        raise UnknownCustomer("loyalty_id", f"no customer {loyalty_id} in tenant {tenant!r}")
    ids = [lid, *_aliases(conn, tenant, lid)]
    out: list[HistoryEntry] = []
    ce = db.customer_event
    for r in conn.execute(
        sa.select(ce).where(ce.c.tenant == tenant, ce.c.loyalty_id.in_(ids)).order_by(ce.c.box_ts.desc()).limit(limit)
    ):
        out.append(HistoryEntry(lg.as_utc(r.box_ts), r.type, r.loyalty_id, r.store, str(r.event_id)))
    cc = db.customer_consent
    for r in conn.execute(
        sa.select(cc).where(cc.c.tenant == tenant, cc.c.loyalty_id.in_(ids)).order_by(cc.c.at.desc()).limit(limit)
    ):
        what = "granted" if r.granted else "withdrawn"
        out.append(
            HistoryEntry(
                lg.as_utc(r.at), f"{r.kind}_consent", r.loyalty_id, r.store, str(r.id), detail=f"{what} ({r.source})"
            )
        )
    out.extend(_ledger_history(conn, tenant, ids, limit))
    out.sort(key=lambda e: (e.at, e.kind, e.ref), reverse=True)
    return out[:limit]


def _ledger_history(conn: Connection, tenant: str, ids: Sequence[str], limit: int) -> list[HistoryEntry]:
    accounts = {a.id: a.owner for a in _customer_accounts(conn, tenant, ids)}
    if not accounts:
        return []
    t = db.ledger_transfer
    rows = conn.execute(
        sa.select(t)
        .where(
            t.c.tenant == tenant,
            sa.or_(t.c.debit_account_id.in_(list(accounts)), t.c.credit_account_id.in_(list(accounts))),
            t.c.state != lg.State.VOIDED.value,
        )
        .order_by(t.c.effective_at.desc())
        .limit(limit)
    ).all()
    sales = _sales(conn, {r.ref for r in rows})
    out = []
    for r in rows:
        if r.state == lg.State.POSTED and r.pending_id is not None:
            continue  # the post of a hold: the hold itself is listed
        owner = accounts.get(r.credit_account_id) or accounts[r.debit_account_id]
        points = r.amount if r.credit_account_id in accounts else -r.amount
        sale = sales.get(r.ref)
        out.append(
            HistoryEntry(
                at=lg.as_utc(sale.box_ts if sale is not None else r.effective_at),
                kind=r.code if r.state != lg.State.PENDING else f"{r.code}_held",
                loyalty_id=owner,
                store=sale.store if sale is not None else None,
                ref=r.ref,
                points=points,
                total_minor=sale.total_minor if sale is not None else None,
                currency=sale.currency if sale is not None else None,
                detail=f"sale {sale.sale_id}" if sale is not None else "",
            )
        )
    return out


def balance(conn: Connection, tenant: str, loyalty_id: str, program: str) -> CustomerBalance:
    """The customer's points in ``program`` (its account plus what merged ids still hold), and per store
    the points earned and redeemed there (from the last :data:`MAX_HISTORY` transfers)."""
    lid = resolve(conn, tenant, _check_id(loyalty_id))
    if _row(conn, tenant, lid) is None:
        raise UnknownCustomer("loyalty_id", f"no customer {loyalty_id} in tenant {tenant!r}")
    ids = [lid, *_aliases(conn, tenant, lid)]
    posted = held = 0
    for acct in _customer_accounts(conn, tenant, ids):
        if acct.program != program:
            continue
        posted += acct.credits_posted - acct.debits_posted
        held += acct.debits_pending
    by_store: dict[str, tuple[int, int]] = {}
    for entry in _ledger_history(conn, tenant, ids, MAX_HISTORY):
        if entry.store is None or entry.kind not in (lg.Code.EARN, lg.Code.REDEEM, f"{lg.Code.REDEEM}_held"):
            continue
        earned, redeemed = by_store.get(entry.store, (0, 0))
        if entry.points > 0:
            earned += entry.points
        else:
            redeemed -= entry.points
        by_store[entry.store] = (earned, redeemed)
    return CustomerBalance(lid, program, posted, held, posted - held, by_store)


# --- tiers --------------------------------------------------------------------------------------------------


def tier_value(
    conn: Connection,
    tenant: str,
    loyalty_id: str,
    program: str,
    basis: TierBasis,
    start: datetime,
    end: datetime,
) -> int:
    """The tier basis of a customer over ``[start, end)``: points earned (net of reversed earnings) or
    transactions (sales that earned or redeemed points), over its own id and merged ids."""
    lid = resolve(conn, tenant, _check_id(loyalty_id))
    ids = [lid, *_aliases(conn, tenant, lid)]
    accounts = [a.id for a in _customer_accounts(conn, tenant, ids) if a.program == program]
    if not accounts:
        return 0
    t = db.ledger_transfer
    window = (t.c.tenant == tenant) & (t.c.effective_at >= start) & (t.c.effective_at < end)
    if basis is TierBasis.POINTS:
        earned = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(t.c.amount), 0)).where(
                window, t.c.code == lg.Code.EARN.value, t.c.credit_account_id.in_(accounts), t.c.state == "posted"
            )
        ).scalar_one()
        reversed_ = _reversed_earnings(conn, tenant, accounts, start, end)
        return max(0, int(earned) - int(reversed_))
    refs = conn.execute(
        sa.select(t.c.ref)
        .distinct()
        .where(
            window,
            t.c.code.in_([lg.Code.EARN.value, lg.Code.REDEEM.value]),
            sa.or_(t.c.credit_account_id.in_(accounts), t.c.debit_account_id.in_(accounts)),
        )
    )
    return sum(1 for (ref,) in refs if _event_uuid(ref) is not None)


def _reversed_earnings(
    conn: Connection, tenant: str, accounts: Sequence[uuid.UUID], start: datetime, end: datetime
) -> int:
    """Points taken back from the customer by reversals of earn transfers within the window."""
    t = db.ledger_transfer
    rows = conn.execute(
        sa.select(t.c.ref, t.c.amount).where(
            t.c.tenant == tenant,
            t.c.code == lg.Code.REVERSE.value,
            t.c.debit_account_id.in_(accounts),
            t.c.effective_at >= start,
            t.c.effective_at < end,
        )
    ).all()
    if not rows:
        return 0
    originals = {u for ref, _ in rows if (u := _event_uuid(ref)) is not None}
    earns: set[uuid.UUID] = set()
    for chunk in db.chunks(list(originals)):
        earns.update(
            r[0] for r in conn.execute(sa.select(t.c.id).where(t.c.id.in_(chunk), t.c.code == lg.Code.EARN.value))
        )
    return sum(amount for ref, amount in rows if _event_uuid(ref) in earns)


def _points_window_start(rules: TierRules, end: datetime) -> datetime:
    if rules.points_window_months == 0:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return lg.add_months(end, -rules.points_window_months)


def recompute_tier(
    conn: Connection,
    tenant: str,
    loyalty_id: str,
    program: PointsProgram,
    rules: TierRules,
    *,
    now: datetime | None = None,
) -> TierDecision:
    """Review a customer's tier under ``program``'s scheme and ``rules``, store the decision, return it.

    A program without tiers leaves the customer without a tier.
    """
    moment = _aware(now or datetime.now(UTC), "now")
    lid = _active(conn, tenant, loyalty_id)
    r = _row(conn, tenant, lid)
    state = TierState(r.tier_id, _utc(r.tier_since), r.tier_grace_used, _utc(r.tier_reviewed_at), r.tier_value)
    scheme = program.tiers
    if scheme is None:
        decision = TierDecision(
            TierState(None, None, 0, moment, 0), "kept" if r.tier_id is None else "downgrade", r.tier_id
        )
    else:
        basis = scheme.basis
        if basis is TierBasis.ACTIVITY:
            start_now = datetime(moment.year, moment.month, 1, tzinfo=UTC)
        else:
            start_now = _points_window_start(rules, moment)
        value_now = tier_value(conn, tenant, lid, program.id, basis, start_now, moment + timedelta(microseconds=1))
        closed_value: int | None = None
        current_start = rules.period_start(moment)
        if state.reviewed_at is not None and state.reviewed_at < current_start:
            if basis is TierBasis.ACTIVITY:
                month_start = lg.add_months(datetime(current_start.year, current_start.month, 1, tzinfo=UTC), -1)
                closed_value = tier_value(conn, tenant, lid, program.id, basis, month_start, current_start)
            else:
                closed_value = tier_value(
                    conn, tenant, lid, program.id, basis, _points_window_start(rules, current_start), current_start
                )
        decision = decide_tier(scheme, rules, state, value_now=value_now, closed_value=closed_value, now=moment)
    s = decision.state
    c = db.customer
    conn.execute(
        sa.update(c)
        .where(c.c.tenant == tenant, c.c.loyalty_id == lid)
        .values(
            tier_id=s.tier_id,
            tier_since=s.since,
            tier_grace_used=s.grace_used,
            tier_reviewed_at=s.reviewed_at,
            tier_value=s.value,
            updated_at=moment,
        )
    )
    return decision


# --- the customers snapshot ---------------------------------------------------------------------------------


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
    allowance, the tier basis values that make the box classify the tier the hub decided, and, for the
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
            "segment_ids": [],
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


def _iso(value: datetime | None) -> str | None:
    return None if value is None else lg.as_utc(value).isoformat()


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
    :class:`hub.publish.Publisher` (a body equal to the last one a box got is not sent again). Run it after
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
