"""Erasure of a customer's personal data.

:func:`erase` empties the personal columns, closes the consents, deletes the template, scrubs the personal
fields from the stored box events, and adds the id to the tenant's erased list, which every customers snapshot
carries so each box deletes the customer, its biometric row and its template on the sensor. The ledger keeps
the customer's accounts under the bare loyalty id: points are not personal data.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.customers.consent import _CONSENTS, _consent, _delete_template
from hub.customers.records import _PERSONAL, State, UnknownCustomer, _aliases, _aware, _row, check_loyalty_id, resolve

__all__ = [
    "erase",
]


def _forget(conn: Connection, tenant: str, lid: str, reason: str, now: datetime) -> None:
    e = db.customer_erased
    conn.execute(
        db.insert(conn, e)
        .values(tenant=tenant, loyalty_id=lid, reason=reason, erased_at=now)
        .on_conflict_do_update(index_elements=["tenant", "loyalty_id"], set_={"reason": reason, "erased_at": now})
    )


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
    lid = resolve(conn, tenant, check_loyalty_id(loyalty_id))
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
