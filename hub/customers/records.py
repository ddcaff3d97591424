"""The customer record at the hub: looking a customer up by loyalty id (following merged ids to the survivor),
its states, and the checks every customers module shares.

Customers belong to the distributor (the tenant) and are usable at every store of its network. A merged id
stays an alias of its survivor (:func:`resolve`); an erased customer keeps its row with the personal columns
emptied. :class:`UnknownCustomer` names an id the tenant does not have.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core import identity
from core.errors import InvalidInput
from hub import db
from hub import ledger as lg
from hub.errors import HubError

__all__ = [
    "CustomerView",
    "State",
    "UnknownCustomer",
    "check_loyalty_id",
    "get_customer",
    "resolve",
]

_PERSONAL: Final = (
    "name",
    "phone_e164",
    "sticker",
    "gender",
    "birth_date",
    "wechat_id",
    "whatsapp_e164",
    "postal_code",
    "occupation",
)


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
    postal_code: str | None
    occupation: str | None
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


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else lg.as_utc(value)


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(name, "must be a timezone-aware datetime (UTC)")
    return value.astimezone(UTC)


def check_loyalty_id(loyalty_id: str, name: str = "loyalty_id") -> str:
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
    lid = resolve(conn, tenant, check_loyalty_id(loyalty_id))
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
        postal_code=r.postal_code,
        occupation=r.occupation,
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


def _active(conn: Connection, tenant: str, loyalty_id: str, name: str = "loyalty_id") -> str:
    lid = resolve(conn, tenant, check_loyalty_id(loyalty_id, name))
    r = _row(conn, tenant, lid)
    if r is None:
        raise UnknownCustomer(name, f"no customer {loyalty_id} in tenant {tenant!r}")
    if r.state != State.ACTIVE:
        raise InvalidInput(name, f"customer {loyalty_id} is {r.state}; nothing can change it any more")
    return lid


def _iso(value: datetime | None) -> str | None:
    return None if value is None else lg.as_utc(value).isoformat()
