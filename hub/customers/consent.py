"""Consents and fingerprint templates.

Every consent given or withdrawn is appended to ``customer_consent`` with when and where; the customer's
current consent is the latest one (:func:`set_consent` records one made at the hub). A fingerprint template
is stored exactly as the box sent it, sealed with the tenant's key; the hub never opens it. It is deleted when
the fingerprint consent is withdrawn, and never stored without consent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import InvalidInput
from hub import db
from hub.customers.records import _active, _aware, _row, _utc

__all__ = [
    "set_consent",
]

_CONSENTS: Final = ("marketing", "fingerprint")


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
