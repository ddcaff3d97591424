"""Serialising a tenant's postings, and which database failures are worth retrying.

:func:`lock_tenants` takes a transaction-scoped PostgreSQL advisory lock per tenant (sorted, so two workers
never deadlock on them), so one tenant's postings never interleave across ingest workers; SQLite's writer lock
does the same there. :func:`transient` says whether a failure is a conflict or a lost connection that a retry
of the whole transaction may get past.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from typing import Final

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = [
    "POSTINGS_LOCK_CLASS",
    "TRANSACTION_ROLLBACK_CLASS",
    "lock_tenants",
    "transient",
]

TRANSACTION_ROLLBACK_CLASS: Final = "40"
"""PostgreSQL's SQLSTATE class of the errors a retried transaction may get past (40001 serialization
failure, 40P01 deadlock detected)."""


POSTINGS_LOCK_CLASS: Final = 0x4D50
"""First key of the PostgreSQL advisory lock that serialises one tenant's postings (the second is the
tenant's hash), so it cannot meet another use of advisory locks."""


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a database conflict that the same transaction, tried again, may get past: a
    serialization failure or a deadlock (PostgreSQL's class 40), or SQLite's busy database."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    if isinstance(orig, psycopg.Error):
        return (orig.sqlstate or "").startswith(TRANSACTION_ROLLBACK_CLASS)
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig)


def lock_tenants(conn: Connection, tenants: Iterable[str]) -> None:
    """Serialise the postings of ``tenants`` with every other transaction posting for them, until the
    caller's transaction ends.

    On PostgreSQL, a transaction-level advisory lock per tenant, taken in sorted order: two ingest workers
    that would create or lock the same ledger rows (the tenant's issuance accounts, say) in different orders
    queue on the lock instead of deadlocking. A tenant's postings serialise on its issuance accounts anyway.
    SQLite has one writer at a time already."""
    if conn.dialect.name != "postgresql":
        return
    for tenant in sorted(set(tenants)):
        key = int.from_bytes(hashlib.sha256(tenant.encode()).digest()[:4], "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:cls, :key)"), {"cls": POSTINGS_LOCK_CLASS, "key": key})
