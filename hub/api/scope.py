"""Who is calling and what they may see: the one place where tenant and retailer scoping is enforced.

Every authenticated route takes a :class:`Scope` through :func:`allow` (the roles that may call it). The
scope carries the caller's tenant and, for a retailer, its retailer id, for a technician its devices; routes
build their queries with its clauses (:meth:`Scope.tenant_is`, :meth:`Scope.stores_clause`,
:meth:`Scope.devices_clause`) and check every id taken from the path with :meth:`Scope.check_store`,
:meth:`Scope.check_device`. An id outside the scope is reported as not found (404), exactly like an id that
does not exist, so a caller learns nothing about other tenants or retailers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Connection, Engine

from hub import db

from .accounts import Role, User, resolve_token
from .errors import Forbidden, NotFound, Unauthorized
from .settings import ApiSettings

__all__ = ["Conn", "Scope", "allow", "get_conn"]

_bearer = HTTPBearer(auto_error=False, description="The token returned by POST /auth/login")


def get_conn(request: Request) -> Iterator[Connection]:
    """A connection in a transaction for one request: committed when the route returns, rolled back if it
    raises. A request that may write (any method but GET and HEAD) holds the write lock from its first read
    on SQLite, so another process's commit cannot invalidate what it read (see :func:`hub.db.writing`)."""
    engine: Engine = request.app.state.engine
    if request.method in ("GET", "HEAD"):
        with engine.begin() as conn:
            yield conn
    else:
        with db.writing(engine) as conn:
            yield conn


Conn = Annotated[Connection, Depends(get_conn)]


@dataclass(frozen=True, slots=True)
class Scope:
    """The caller and the rows it may see."""

    user: User
    token_sha256: str
    conn: Connection
    now: datetime
    """The hub's time when the request arrived (aware UTC)."""

    @property
    def tenant(self) -> str:
        return self.user.tenant

    @property
    def role(self) -> Role:
        return self.user.role

    @property
    def retailer(self) -> str | None:
        return self.user.retailer if self.user.role is Role.RETAILER else None

    @property
    def manufacturer(self) -> str | None:
        return self.user.manufacturer if self.user.role is Role.MANUFACTURER else None

    def tenant_is(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        return column == self.tenant

    def retailer_stores(self) -> sa.Select[Any]:
        """The ids of the caller's retailer's stores (a sub-select)."""
        s = db.store
        return sa.select(s.c.store).where(s.c.tenant == self.tenant, s.c.retailer == self.retailer)

    def stores_clause(self, store: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        """True for rows of a store the caller may see: any of the tenant's for most roles; a retailer's own
        stores for a retailer; none for a technician or a manufacturer."""
        if self.role is Role.RETAILER:
            return store.in_(self.retailer_stores())
        if self.role in (Role.TECHNICIAN, Role.MANUFACTURER):
            return sa.false()
        return sa.true()

    def devices_clause(self, device: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        """True for rows of a device the caller may see: a technician its assigned devices, a retailer the
        devices of its stores, a manufacturer none, the other roles every device of the tenant."""
        if self.role is Role.MANUFACTURER:
            return sa.false()
        if self.role is Role.TECHNICIAN:
            return device.in_(self.user.devices)
        if self.role is Role.RETAILER:
            sd = db.store_device
            return device.in_(
                sa.select(sd.c.device).where(sd.c.tenant == self.tenant, sd.c.store.in_(self.retailer_stores()))
            )
        return sa.true()

    def check_store(self, store: str) -> str:
        """``store`` if it is one of the tenant's stores the caller may see; :class:`NotFound` otherwise."""
        s = db.store
        found = self.conn.execute(
            sa.select(s.c.store).where(s.c.tenant == self.tenant, s.c.store == store, self.stores_clause(s.c.store))
        ).first()
        if found is None:
            raise NotFound(f"no store {store!r} in your scope", code="store_not_found", field="store")
        return store

    def check_device(self, device: str) -> str:
        """``device`` if the tenant has it (registered or heard from) and the caller may see it."""
        sd, d = db.store_device, db.device
        for table in (sd, d):
            found = self.conn.execute(
                sa.select(table.c.device).where(
                    table.c.tenant == self.tenant, table.c.device == device, self.devices_clause(table.c.device)
                )
            ).first()
            if found is not None:
                return device
        raise NotFound(f"no device {device!r} in your scope", code="device_not_found", field="device")


def _current(
    request: Request,
    conn: Conn,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Scope:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("send 'Authorization: Bearer <token>'; get a token from POST /auth/login")
    settings: ApiSettings = request.app.state.settings
    now = settings.clock()
    owner = resolve_token(conn, credentials.credentials, now=now)
    if owner is None:
        raise Unauthorized("the token is unknown, expired or revoked: log in again", code="invalid_token")
    return Scope(owner.user, owner.token_sha256, conn, now)


def allow(*roles: Role) -> Callable[..., Scope]:
    """A dependency giving the caller's :class:`Scope` when its role is one of ``roles``; 403 otherwise."""
    allowed = frozenset(roles)
    names = ", ".join(sorted(r.value for r in allowed))

    def dependency(scope: Annotated[Scope, Depends(_current)]) -> Scope:
        if scope.role not in allowed:
            raise Forbidden(f"the {scope.role.value} role may not do this (allowed: {names})")
        return scope

    dependency.roles = allowed  # type: ignore[attr-defined]
    return dependency


ALL_ROLES = tuple(Role)
ADMIN = (Role.DISTRIBUTOR_ADMIN,)
READERS = (Role.DISTRIBUTOR_ADMIN, Role.ANALYST)
SHOP_READERS = (Role.DISTRIBUTOR_ADMIN, Role.ANALYST, Role.RETAILER)
