"""API users, their passwords and tokens, and the login limiter. Plain functions over a connection; the
HTTP layer (:mod:`hub.api.routers.auth`, :mod:`hub.api.routers.users`) and the ``add-user`` command call them.

* A **user** belongs to one tenant, has an email unique within it, a role (:class:`Role`) and an argon2id
  password hash. A retailer user is bound to one retailer id; a manufacturer user to one manufacturer id (it
  sees the sell-out of the brands the distributor granted it, :mod:`hub.segments.manufacturers`); a
  technician to a list of device ids.
* **Login** checks the password and hands out a random bearer token (256 bits, URL-safe). Only the token's
  SHA-256 is stored, with its expiry; logout revokes it; deactivating a user or changing its password
  revokes all of its tokens.
* **Login limits**: failed logins are counted per account and per client address in a bounded in-memory
  sliding window (:class:`LoginLimiter`). An account that fills its window is locked in the database
  (``api_user.locked_until``) so that every API process honours the lock and a restart does not lift it; an
  address that fills its window waits until its oldest failure leaves the window.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import uuid
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection

from core.errors import InvalidInput
from hub import db
from hub.errors import HubError
from hub.ledger import as_utc

from .settings import PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS, ApiSettings

__all__ = [
    "DEVICES_MAX",
    "LoginLimiter",
    "Role",
    "TokenOwner",
    "User",
    "create_user",
    "get_user",
    "hasher",
    "issue_token",
    "list_users",
    "resolve_token",
    "revoke_token",
    "token_digest",
    "update_user",
]

DEVICES_MAX = 200
"""Most devices one technician may be assigned."""
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class Role(enum.StrEnum):
    """What a user may do. A distributor admin does everything in its tenant; an analyst reads its tenant's
    figures; a retailer reads its own stores; a technician reads the devices it is assigned; a manufacturer
    reads the sell-out of its granted brands and nothing else (no store's sales, no customer)."""

    DISTRIBUTOR_ADMIN = "distributor_admin"
    ANALYST = "analyst"
    RETAILER = "retailer"
    TECHNICIAN = "technician"
    MANUFACTURER = "manufacturer"


@dataclass(frozen=True, slots=True)
class User:
    """A user as the API shows it (never its hash)."""

    id: uuid.UUID
    tenant: str
    email: str
    role: Role
    retailer: str | None
    devices: tuple[str, ...]
    active: bool
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime
    manufacturer: str | None = None


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """Who a valid token belongs to, and the token's own digest and expiry."""

    user: User
    token_sha256: str
    expires_at: datetime


def hasher(settings: ApiSettings) -> PasswordHasher:
    """The argon2id hasher with the settings' cost parameters."""
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _user(row: Any) -> User:
    return User(
        row.id,
        row.tenant,
        row.email,
        Role(row.role),
        row.retailer,
        tuple(row.devices or ()),
        bool(row.active),
        as_utc(row.locked_until) if row.locked_until is not None else None,
        as_utc(row.created_at),
        as_utc(row.updated_at),
        row.manufacturer,
    )


def check_password(password: str) -> str:
    if not isinstance(password, str) or not PASSWORD_MIN_CHARS <= len(password) <= PASSWORD_MAX_CHARS:
        raise InvalidInput(
            "password", f"must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters: a passphrase works well"
        )
    return password


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidInput("email", "must be an address like name@example.com")
    return email


def _check_manufacturer(conn: Connection, tenant: str, role: Role, manufacturer: str | None) -> str | None:
    if role is Role.MANUFACTURER:
        if not manufacturer:
            raise InvalidInput("manufacturer", "a manufacturer user needs the manufacturer id it acts for")
        m = db.manufacturer
        found = conn.execute(
            sa.select(m.c.manufacturer).where(m.c.tenant == tenant, m.c.manufacturer == manufacturer)
        ).first()
        if found is None:
            raise InvalidInput("manufacturer", f"no manufacturer {manufacturer!r} in this tenant: add it first")
        return manufacturer
    if manufacturer:
        raise InvalidInput("manufacturer", "only a manufacturer user is bound to a manufacturer")
    return None


def _scope_fields(
    conn: Connection, tenant: str, role: Role, retailer: str | None, devices: Sequence[str]
) -> tuple[str | None, list[str]]:
    """Check that the retailer and devices fit the role and exist in the tenant; return them cleaned."""
    if role is Role.RETAILER:
        if not retailer:
            raise InvalidInput("retailer", "a retailer user needs the retailer id it acts for")
        r = db.retailer
        if conn.execute(sa.select(r.c.retailer).where(r.c.tenant == tenant, r.c.retailer == retailer)).first() is None:
            raise InvalidInput("retailer", f"no retailer {retailer!r} in this tenant: add it to the network first")
    elif retailer:
        raise InvalidInput("retailer", "only a retailer user is bound to a retailer")
    clean = sorted(set(devices))
    if role is Role.TECHNICIAN:
        if len(clean) > DEVICES_MAX:
            raise InvalidInput("devices", f"at most {DEVICES_MAX} devices per technician")
        known = {
            d
            for (d,) in conn.execute(
                sa.select(db.store_device.c.device).where(
                    db.store_device.c.tenant == tenant, db.store_device.c.device.in_(clean)
                )
            )
        } | {
            d
            for (d,) in conn.execute(
                sa.select(db.device.c.device).where(db.device.c.tenant == tenant, db.device.c.device.in_(clean))
            )
        }
        unknown = [d for d in clean if d not in known]
        if unknown:
            raise InvalidInput("devices", f"no device {unknown[0]!r} in this tenant: register it first")
    elif clean:
        raise InvalidInput("devices", "only a technician user is assigned devices")
    return (retailer if role is Role.RETAILER else None), clean


def create_user(
    conn: Connection,
    settings: ApiSettings,
    *,
    tenant: str,
    email: str,
    password: str,
    role: Role,
    retailer: str | None = None,
    devices: Sequence[str] = (),
    manufacturer: str | None = None,
) -> User:
    """Add a user; :class:`InvalidInput` names a bad field, :class:`EmailTaken` an email already used."""
    email = normalise_email(email)
    check_password(password)
    retailer, clean = _scope_fields(conn, tenant, role, retailer, devices)
    manufacturer = _check_manufacturer(conn, tenant, role, manufacturer)
    u = db.api_user
    if conn.execute(sa.select(u.c.id).where(u.c.tenant == tenant, u.c.email == email)).first() is not None:
        raise EmailTaken("email", f"{email} already has a user in this tenant", code="email_taken")
    now = settings.clock()
    user_id = uuid.uuid4()
    conn.execute(
        u.insert().values(
            id=user_id,
            tenant=tenant,
            email=email,
            password_hash=hasher(settings).hash(password),
            role=role.value,
            retailer=retailer,
            manufacturer=manufacturer,
            devices=clean,
            active=True,
            failed_logins=0,
            locked_until=None,
            created_at=now,
            updated_at=now,
        )
    )
    return get_user(conn, tenant, user_id)


class EmailTaken(InvalidInput, HubError):
    """An email that already names a user of the tenant (the API answers 409)."""

    code = "email_taken"


def get_user(conn: Connection, tenant: str, user_id: uuid.UUID) -> User:
    """The user ``user_id`` of ``tenant``; :class:`LookupError` if the tenant has no such user."""
    u = db.api_user
    row = conn.execute(sa.select(u).where(u.c.tenant == tenant, u.c.id == user_id)).first()
    if row is None:
        raise LookupError(f"no user {user_id} in this tenant")
    return _user(row)


def list_users(conn: Connection, tenant: str, *, limit: int, offset: int) -> list[User]:
    u = db.api_user
    rows = conn.execute(sa.select(u).where(u.c.tenant == tenant).order_by(u.c.email).limit(limit).offset(offset))
    return [_user(r) for r in rows]


def update_user(
    conn: Connection,
    settings: ApiSettings,
    tenant: str,
    user_id: uuid.UUID,
    *,
    role: Role | None = None,
    retailer: str | None = None,
    devices: Sequence[str] | None = None,
    active: bool | None = None,
    password: str | None = None,
    unlock: bool = False,
    manufacturer: str | None = None,
) -> User:
    """Change a user. A new role takes the retailer/devices given with it (or none). Deactivating the user or
    setting a new password revokes its tokens; ``unlock`` lifts a login lockout."""
    current = get_user(conn, tenant, user_id)
    new_role = role or current.role
    new_retailer = retailer if (retailer is not None or role is not None) else current.retailer
    new_devices = devices if (devices is not None or role is not None) else current.devices
    clean_retailer, clean_devices = _scope_fields(conn, tenant, new_role, new_retailer, new_devices or ())
    new_manufacturer = manufacturer if (manufacturer is not None or role is not None) else current.manufacturer
    clean_manufacturer = _check_manufacturer(conn, tenant, new_role, new_manufacturer)
    now = settings.clock()
    values: dict[str, Any] = {
        "role": new_role.value,
        "retailer": clean_retailer,
        "manufacturer": clean_manufacturer,
        "devices": clean_devices,
        "updated_at": now,
    }
    revoke = False
    if active is not None:
        values["active"] = active
        revoke = not active
    if password is not None:
        values["password_hash"] = hasher(settings).hash(check_password(password))
        revoke = True
    if unlock:
        values["locked_until"] = None
        values["failed_logins"] = 0
    u = db.api_user
    conn.execute(sa.update(u).where(u.c.tenant == tenant, u.c.id == user_id).values(**values))
    if revoke or new_role is not current.role:
        revoke_user_tokens(conn, user_id, now=now)
    return get_user(conn, tenant, user_id)


# --- tokens --------------------------------------------------------------------------------------------


def issue_token(conn: Connection, settings: ApiSettings, user_id: uuid.UUID) -> tuple[str, datetime]:
    """A new bearer token for ``user_id`` and its expiry. The token itself is returned once, never stored."""
    token = secrets.token_urlsafe(32)
    now = settings.clock()
    expires = now + timedelta(seconds=settings.token_ttl_s)
    conn.execute(
        db.api_token.insert().values(
            token_sha256=token_digest(token), user_id=user_id, created_at=now, expires_at=expires, revoked_at=None
        )
    )
    return token, expires


def resolve_token(conn: Connection, token: str, *, now: datetime) -> TokenOwner | None:
    """The owner of a valid token: known, not revoked, not expired, its user active. None otherwise."""
    t, u = db.api_token, db.api_user
    digest = token_digest(token)
    row = conn.execute(
        sa.select(u, t.c.expires_at, t.c.revoked_at).join(t, t.c.user_id == u.c.id).where(t.c.token_sha256 == digest)
    ).first()
    if row is None or row.revoked_at is not None or not row.active or as_utc(row.expires_at) <= now:
        return None
    return TokenOwner(_user(row), digest, as_utc(row.expires_at))


def revoke_token(conn: Connection, token_sha256: str, *, now: datetime) -> None:
    t = db.api_token
    conn.execute(sa.update(t).where(t.c.token_sha256 == token_sha256, t.c.revoked_at.is_(None)).values(revoked_at=now))


def revoke_user_tokens(conn: Connection, user_id: uuid.UUID, *, now: datetime) -> None:
    t = db.api_token
    conn.execute(sa.update(t).where(t.c.user_id == user_id, t.c.revoked_at.is_(None)).values(revoked_at=now))


# --- login ---------------------------------------------------------------------------------------------


class LoginLimiter:
    """Failed logins per key (an account or a client address) in a sliding window.

    Each key keeps the times of its last ``max_failures`` failures; the key is full when the oldest of them
    is still inside the window. At most ``max_keys`` keys are followed: the least recently failed is dropped
    first, so the structure's size is bounded whatever an attacker sends.
    """

    def __init__(self, *, max_failures: int, window_s: float, max_keys: int) -> None:
        if max_failures < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("max_failures, window_s and max_keys must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after_s(self, key: str, now_s: float) -> float:
        """Seconds until ``key`` may try again; 0 if it may now."""
        times = self._failures.get(key)
        if times is None or len(times) < self.max_failures:
            return 0.0
        return max(0.0, times[0] + self.window_s - now_s)

    def failed(self, key: str, now_s: float) -> bool:
        """Count a failure; True when this one fills the key's window."""
        times = self._failures.pop(key, None)
        if times is None:
            times = deque(maxlen=self.max_failures)
        times.append(now_s)
        self._failures[key] = times
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)
        return len(times) == self.max_failures and now_s - times[0] < self.window_s

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """What a login attempt came to: a token, or why not (``retry_after_s`` when locked out)."""

    token: str | None = None
    expires_at: datetime | None = None
    user: User | None = None
    locked_for_s: int = 0


class Authenticator:
    """Logs users in under the limits of :class:`ApiSettings`; one per API process."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.hasher = hasher(settings)
        self.accounts = LoginLimiter(
            max_failures=settings.account_failures_max,
            window_s=settings.login_window_s,
            max_keys=settings.tracked_keys_max,
        )
        self.addresses = LoginLimiter(
            max_failures=settings.address_failures_max,
            window_s=settings.login_window_s,
            max_keys=settings.tracked_keys_max,
        )
        # Verified when the email is unknown, so an unknown account costs as much time as a known one.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    def address_wait_s(self, address: str) -> int:
        now = self.settings.clock()
        return int(self.addresses.retry_after_s(address, now.timestamp()) + 0.999)

    def login(self, conn: Connection, *, tenant: str, email: str, password: str, address: str) -> LoginOutcome:
        """Check the credentials. A locked account is refused before its password is looked at."""
        now = self.settings.clock()
        now_s = now.timestamp()
        u = db.api_user
        key = f"{tenant}\x1f{email.strip().lower()}"
        row = conn.execute(sa.select(u).where(u.c.tenant == tenant, u.c.email == email.strip().lower())).first()
        if row is not None and row.locked_until is not None and as_utc(row.locked_until) > now:
            return LoginOutcome(locked_for_s=int((as_utc(row.locked_until) - now).total_seconds() + 0.999))
        stored = row.password_hash if row is not None else self._dummy_hash
        try:
            ok: bool = self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            ok = False
        if ok and row is not None and row.active:
            self.accounts.succeeded(key)
            values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
            if self.hasher.check_needs_rehash(row.password_hash):
                values["password_hash"] = self.hasher.hash(password)
            conn.execute(sa.update(u).where(u.c.id == row.id).values(**values))
            token, expires = issue_token(conn, self.settings, row.id)
            return LoginOutcome(token=token, expires_at=expires, user=_user(row))
        self.addresses.failed(address, now_s)
        full = self.accounts.failed(key, now_s)
        if row is not None:
            values = {"failed_logins": u.c.failed_logins + 1}
            if full:
                values["locked_until"] = now + timedelta(seconds=self.settings.lockout_s)
                self.accounts.succeeded(key)
            conn.execute(sa.update(u).where(u.c.id == row.id).values(**values))
        return LoginOutcome()
