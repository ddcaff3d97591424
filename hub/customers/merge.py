"""Possible duplicates and merges.

Two boxes may enrol the same person offline. An enrolment whose phone (or name and birth date) matches another
active customer is recorded as a possible duplicate (:func:`find_duplicates`, :func:`duplicates`); staff
dismiss the pair or merge it with :func:`merge`: one survivor keeps everything, the other id becomes an alias,
and its points move to the survivor by a ledger ``transfer``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import InvalidInput
from hub import db
from hub import ledger as lg
from hub.customers.consent import _CONSENTS, _delete_template, _store_template
from hub.customers.erasure import _forget
from hub.customers.records import _PERSONAL, State, UnknownCustomer, _active, _aware, _row, check_loyalty_id, resolve

__all__ = [
    "MAX_DUPLICATES",
    "Duplicate",
    "MergeResult",
    "dismiss_duplicate",
    "duplicates",
    "find_duplicates",
    "merge",
]

log = logging.getLogger(__name__)


MAX_DUPLICATES: Final = 10_000
"""Most possible duplicates one :func:`find_duplicates` or :func:`duplicates` call returns."""


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
    first, second = _pair(check_loyalty_id(a, "a"), check_loyalty_id(b, "b"))
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
    named = check_loyalty_id(duplicate, "duplicate")
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
