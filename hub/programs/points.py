"""The tenant's points program, stored at the hub.

:func:`set_program` registers or replaces a tenant's program (validated by :class:`core.points.PointsProgram`)
in the ledger's program table; :func:`tenant_program` reads it, registering the embedded default
(:mod:`core.defaults`) on first use with :data:`DEFAULT_LOT_EXPIRY_MONTHS` as the lifetime of earned points.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core import defaults
from core.points import PointsProgram
from core.promotions.base import validate_model
from hub import db
from hub import ledger as lg

__all__ = [
    "DEFAULT_LOT_EXPIRY_MONTHS",
    "set_program",
    "tenant_program",
]

DEFAULT_LOT_EXPIRY_MONTHS: Final = 12
"""Lifetime of earned points when the tenant's program is the default one registered on first use."""


@cache
def _default_json(kind: str) -> Any:
    """The network's default ``kind`` body (:mod:`core.defaults`, what a box without a hub config uses)."""
    return defaults.default_json(kind)


def set_program(
    conn: Connection, tenant: str, program: PointsProgram, *, lot_expiry_months: int, now: datetime
) -> lg.LedgerProgram:
    """Make ``program`` the tenant's consumer program (the body its boxes' ``program`` snapshot carries) and
    register it with the ledger."""
    program = validate_model(PointsProgram, program, "program")
    registered = lg.register_program(conn, tenant, program, lot_expiry_months=lot_expiry_months, now=now)
    row = {
        "tenant": tenant,
        "program": program.id,
        "body": program.model_dump(mode="json"),
        "updated_at": lg.as_utc(now),
    }
    stmt = db.insert(conn, db.points_program).values(row)
    conn.execute(stmt.on_conflict_do_update(index_elements=["tenant"], set_={k: row[k] for k in row if k != "tenant"}))
    return registered


def tenant_program(conn: Connection, tenant: str, *, now: datetime) -> PointsProgram:
    """The tenant's consumer program. A tenant without one gets the boxes' embedded default program
    (:mod:`core.defaults`), registered with :data:`DEFAULT_LOT_EXPIRY_MONTHS`."""
    t = db.points_program
    body = conn.execute(sa.select(t.c.body).where(t.c.tenant == tenant)).scalar_one_or_none()
    if body is not None:
        return validate_model(PointsProgram, body, "points_program.body")
    program = validate_model(PointsProgram, _default_json("program")["program"], "defaults.program")
    set_program(conn, tenant, program, lot_expiry_months=DEFAULT_LOT_EXPIRY_MONTHS, now=now)
    return program
