"""Cashiers, their PINs and the web sessions of the counter UI.

PINs
----
A cashier signs in with an id and a PIN of :data:`MIN_PIN_DIGITS` to :data:`MAX_PIN_DIGITS` digits. The PIN
is stored as an argon2id hash (argon2-cffi, its default RFC 9106 low-memory parameters) in
``cashier.pin_hash``. A short PIN has few possible values, so the real defence is the lockout: after
:data:`MAX_FAILED_LOGINS` wrong PINs in a row the cashier is locked for :data:`LOCKOUT_S` seconds
(``cashier.failed_logins`` / ``cashier.locked_until``), during which not even the right PIN opens it. A
success clears the count. An unknown id costs the same hash verification as a known one, so response times
do not tell which ids exist.

Sessions
--------
A successful sign-in opens a :class:`WebSession` kept by :class:`SessionRegistry` in the box's database
(table ``web_session``), named by a random token (32 bytes from :mod:`secrets`) that is the only thing the
browser's cookie carries; the database holds only its SHA-256, so a copy of the database opens no session.
Each session has its own CSRF token, checked on every form post. Sessions end on sign-out, after
:data:`SESSION_IDLE_S` without a request, after :data:`SESSION_MAX_S` in all, when their cashier is
deactivated, and when the registry is full the least recently used one is dropped (:data:`MAX_SESSIONS`).
Their start, last use and expiry are in the database, so a restart of the box (even a kill or a power cut)
signs nobody out, and the sale each session was ringing up comes back with it (``open_sale``, see
:mod:`edge_agent.checkout`).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.errors import InvalidInput
from edge_agent.errors import EdgeError
from edge_agent.store import BUSY_TIMEOUT_MS, Store

MIN_PIN_DIGITS: Final = 4
MAX_PIN_DIGITS: Final = 8
MAX_FAILED_LOGINS: Final = 5
"""Wrong PINs in a row before the cashier is locked."""
LOCKOUT_S: Final = 300
"""How long a locked cashier stays locked."""
MAX_CASHIER_ID_CHARS: Final = 32
MAX_CASHIER_NAME_CHARS: Final = 80
MAX_SESSIONS: Final = 32
"""Signed-in browsers held at once; a counter has a few phones and tablets."""
SESSION_IDLE_S: Final = 4 * 3600
"""A session unused this long ends (a shift's lunch break, not a night)."""
SESSION_MAX_S: Final = 14 * 3600
"""A session ends this long after sign-in whatever happens (longer than any shift)."""
TOKEN_BYTES: Final = 32
SESSION_TOUCH_S: Final = 60
"""A session's last use is written to the database at most this often (idle expiry is counted in hours)."""

Role = Literal["cashier", "manager"]
ROLES: Final[tuple[Role, ...]] = ("cashier", "manager")


def default_hasher() -> PasswordHasher:
    """The PIN hasher a box uses: argon2id with argon2-cffi's RFC 9106 low-memory defaults."""
    return PasswordHasher()


@dataclass(frozen=True)
class Cashier:
    """A cashier as the UI needs it (never the hash)."""

    cashier_id: str
    name: str
    role: Role
    active: bool = True

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"


class LoginRefused(EdgeError):
    """A sign-in failed: ``reason`` is ``invalid`` (wrong id or PIN) or ``locked``; ``locked_until`` if locked."""

    code = "login_refused"

    def __init__(self, reason: Literal["invalid", "locked"], locked_until: datetime | None = None) -> None:
        super().__init__(f"sign-in refused: {reason}")
        self.reason = reason
        self.locked_until = locked_until


def check_pin(pin: str, field_name: str = "pin") -> str:
    """``pin`` if it is 4 to 8 ASCII digits; otherwise :class:`InvalidInput` naming the field."""
    if not (isinstance(pin, str) and pin.isascii() and pin.isdigit()):
        raise InvalidInput(field_name, "a PIN is digits only", code="pin_digits")
    if not MIN_PIN_DIGITS <= len(pin) <= MAX_PIN_DIGITS:
        raise InvalidInput(
            field_name, f"a PIN has {MIN_PIN_DIGITS} to {MAX_PIN_DIGITS} digits, not {len(pin)}", code="pin_length"
        )
    return pin


def check_cashier_id(cashier_id: str, field_name: str = "cashier_id") -> str:
    """A cashier id: 1 to 32 letters, digits, ``-`` or ``_`` (it is typed at sign-in and printed on receipts)."""
    text = cashier_id.strip() if isinstance(cashier_id, str) else ""
    if (
        not text
        or len(text) > MAX_CASHIER_ID_CHARS
        or not all(c.isascii() and (c.isalnum() or c in "-_") for c in text)
    ):
        raise InvalidInput(
            field_name, f"use 1 to {MAX_CASHIER_ID_CHARS} letters, digits, '-' or '_'", code="cashier_id_format"
        )
    return text


def create_cashier(
    store: Store,
    cashier_id: str,
    name: str,
    pin: str,
    role: str,
    *,
    hasher: PasswordHasher | None = None,
) -> Cashier:
    """Add a cashier who signs in with ``pin`` (4 to 8 digits); ``role`` is ``cashier`` or ``manager``.

    Raises :class:`InvalidInput` naming the field for a bad id, name, PIN or role, or an id already taken.
    Nothing is written unless every field is valid.
    """
    cashier_id = check_cashier_id(cashier_id)
    clean_name = name.strip() if isinstance(name, str) else ""
    if not clean_name or len(clean_name) > MAX_CASHIER_NAME_CHARS:
        raise InvalidInput("name", f"a name has 1 to {MAX_CASHIER_NAME_CHARS} characters", code="cashier_name")
    check_pin(pin)
    if role not in ROLES:
        raise InvalidInput("role", f"role is one of {', '.join(ROLES)}, not {role!r}", code="cashier_role")
    pin_hash = (hasher or default_hasher()).hash(pin)
    with store.transaction() as tx:
        taken = tx.conn.execute("SELECT 1 FROM cashier WHERE cashier_id = ?", (cashier_id,)).fetchone()
        if taken:
            raise InvalidInput("cashier_id", f"{cashier_id!r} is already a cashier; pick another id", code="taken")
        tx.conn.execute(
            "INSERT INTO cashier (cashier_id, name, pin_hash, role) VALUES (?, ?, ?, ?)",
            (cashier_id, clean_name, pin_hash, role),
        )
    return Cashier(cashier_id, clean_name, "manager" if role == "manager" else "cashier")


def list_cashiers(store: Store) -> list[Cashier]:
    """Every cashier, active or not, by id."""
    found: list[Cashier] = []
    with store.transaction() as tx:
        rows = tx.conn.execute("SELECT cashier_id, name, role, active FROM cashier ORDER BY cashier_id").fetchall()
    for cashier_id, name, role, active in rows:
        found.append(Cashier(str(cashier_id), str(name), role, bool(active)))
    return found


def authenticate(store: Store, cashier_id: str, pin: str, *, hasher: PasswordHasher | None = None) -> Cashier:
    """The cashier ``cashier_id`` if ``pin`` is theirs and they are not locked; else :class:`LoginRefused`.

    Counts failures and locks as described in the module docstring; the count and the lock are written in
    the same transaction as the check, so two phones guessing at once cannot get past the limit.
    """
    hasher = hasher or default_hasher()
    with store.transaction() as tx:
        row = tx.conn.execute(
            "SELECT name, pin_hash, role, active, failed_logins, locked_until FROM cashier WHERE cashier_id = ?",
            (cashier_id,),
        ).fetchone()
        if row is None or not row[3]:
            _burn_verification(hasher, pin)
            raise LoginRefused("invalid")
        name, pin_hash, role, _active, failed, locked_until_text = row
        now = tx.now
        if locked_until_text is not None:
            locked_until = datetime.fromisoformat(locked_until_text)
            if locked_until > now:
                raise LoginRefused("locked", locked_until)
        if _verify(hasher, str(pin_hash), pin):
            new_hash = hasher.hash(pin) if hasher.check_needs_rehash(str(pin_hash)) else pin_hash
            tx.conn.execute(
                "UPDATE cashier SET failed_logins = 0, locked_until = NULL, pin_hash = ? WHERE cashier_id = ?",
                (new_hash, cashier_id),
            )
            return Cashier(cashier_id, str(name), role)
        failed = int(failed) + 1
        if failed >= MAX_FAILED_LOGINS:
            until = now + timedelta(seconds=LOCKOUT_S)
            tx.conn.execute(
                "UPDATE cashier SET failed_logins = 0, locked_until = ? WHERE cashier_id = ?",
                (until.isoformat(), cashier_id),
            )
            # The lock must be committed, so leave the transaction normally and raise after it.
            refusal = LoginRefused("locked", until)
        else:
            tx.conn.execute(
                "UPDATE cashier SET failed_logins = ?, locked_until = NULL WHERE cashier_id = ?", (failed, cashier_id)
            )
            refusal = LoginRefused("invalid")
    raise refusal


def _burn_verification(hasher: PasswordHasher, pin: str) -> None:
    # Costs what a verification costs (one argon2 run), so an unknown id answers as slowly as a known one.
    hasher.hash(pin or "0")


def _verify(hasher: PasswordHasher, pin_hash: str, pin: str) -> bool:
    try:
        return bool(hasher.verify(pin_hash, pin))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass
class WebSession:
    """One signed-in browser: who, its CSRF token, its language, and the sale it is ringing up."""

    token: str
    cashier: Cashier
    csrf: str
    started_at: datetime
    seen_at: datetime
    language: str | None = None
    sale: Any = None
    """The open checkout sale of this browser (owned and touched only on the service thread)."""
    notes: list[tuple[str, str]] = field(default_factory=list)
    """Messages for the next page (kind, text), shown once: ``ok`` or ``error``."""
    finger_check: tuple[str, str, str] | None = None
    """The last fingerprint outcome on this browser's sale: (sale id, loyalty id, ``identified`` | ``verified``
    | ``mismatch``); shown only while that sale has that customer."""
    kept_seen_at: datetime | None = None
    """When ``seen_at`` was last written to the database (it is written at most every SESSION_TOUCH_S)."""

    @property
    def key(self) -> str:
        """The session's name in the database and the owner of its open sale: never the token itself."""
        return session_key(self.token)


def session_key(token: str) -> str:
    """The SHA-256 of a session token, hex: what the box's database knows a session by."""
    return hashlib.sha256(token.encode()).hexdigest()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SessionRegistry:
    """The open web sessions, bounded and expiring (see the module docstring). Thread-safe.

    Bound to the box's database (``database``, or :meth:`bind` later), every session is written to its
    ``web_session`` table, with its expiry, when it opens, and found there again after a restart; the
    registry keeps a cache of the live ones for their per-browser state (the sale being rung up, notes).
    Until bound, sessions live in memory only.
    """

    def __init__(
        self,
        database: Path | str | None = None,
        *,
        max_sessions: int = MAX_SESSIONS,
        idle_s: float = SESSION_IDLE_S,
        max_age_s: float = SESSION_MAX_S,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._sessions: OrderedDict[str, WebSession] = OrderedDict()
        self._max = max_sessions
        self._idle = timedelta(seconds=idle_s)
        self._max_age = timedelta(seconds=max_age_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._database = Path(database) if database is not None else None
        self._db: sqlite3.Connection | None = None

    # -- the database --------------------------------------------------------------------------------

    @property
    def bound(self) -> bool:
        """Whether sessions are kept in the box's database."""
        return self._database is not None

    def bind(self, database: Path | str) -> None:
        """Keep sessions in the box database at ``database`` (migrated by :class:`Store` already)."""
        with self._lock:
            if self._database is None:
                self._database = Path(database)

    def _conn(self) -> sqlite3.Connection | None:
        # Called with the lock held. The registry's own connection: the store's belongs to the service thread,
        # and a page must find its session without waiting behind a slow service call.
        if self._database is None:
            return None
        if self._db is None:
            db = sqlite3.connect(
                self._database, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            self._db = db
        return self._db

    def close_database(self) -> None:
        """Close the registry's database connection (it opens again when needed)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _expires_at(self, session: WebSession) -> datetime:
        return min(session.seen_at + self._idle, session.started_at + self._max_age)

    def _write(self, db: sqlite3.Connection, session: WebSession) -> None:
        db.execute(
            "INSERT INTO web_session (session_key, cashier_id, csrf, language, started_at, seen_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_key) DO UPDATE SET language = excluded.language, "
            "seen_at = excluded.seen_at, expires_at = excluded.expires_at",
            (
                session.key,
                session.cashier.cashier_id,
                session.csrf,
                session.language,
                session.started_at.isoformat(),
                session.seen_at.isoformat(),
                self._expires_at(session).isoformat(),
            ),
        )
        session.kept_seen_at = session.seen_at

    def _prune(self, db: sqlite3.Connection, now: datetime, room_for: int) -> None:
        # Expired sessions go, with their open sales (ON DELETE CASCADE); then the least recently used ones
        # beyond the bound.
        db.execute("DELETE FROM web_session WHERE expires_at <= ?", (now.isoformat(),))
        db.execute(
            "DELETE FROM web_session WHERE session_key NOT IN "
            "(SELECT session_key FROM web_session ORDER BY seen_at DESC LIMIT ?)",
            (max(self._max - room_for, 0),),
        )

    def _load(self, db: sqlite3.Connection, token: str, now: datetime) -> WebSession | None:
        row = db.execute(
            "SELECT c.cashier_id, c.name, c.role, s.csrf, s.language, s.started_at, s.seen_at "
            "FROM web_session s JOIN cashier c ON c.cashier_id = s.cashier_id "
            "WHERE s.session_key = ? AND s.expires_at > ? AND c.active = 1",
            (session_key(token), now.isoformat()),
        ).fetchone()
        if row is None:
            return None
        cashier_id, name, role, csrf, language, started, seen = row
        seen_at = datetime.fromisoformat(seen)
        return WebSession(
            token=token,
            cashier=Cashier(str(cashier_id), str(name), role),
            csrf=str(csrf),
            started_at=datetime.fromisoformat(started),
            seen_at=seen_at,
            language=language,
            kept_seen_at=seen_at,
        )

    # -- sessions ------------------------------------------------------------------------------------

    def _live(self, session: WebSession, now: datetime) -> bool:
        return now - session.seen_at <= self._idle and now - session.started_at <= self._max_age

    def open(self, cashier: Cashier, language: str | None = None) -> WebSession:
        now = self._clock()
        session = WebSession(
            token=secrets.token_urlsafe(TOKEN_BYTES),
            cashier=cashier,
            csrf=secrets.token_urlsafe(TOKEN_BYTES),
            started_at=now,
            seen_at=now,
            language=language,
        )
        with self._lock:
            db = self._conn()
            if db is not None:
                db.execute("BEGIN IMMEDIATE")
                try:
                    self._prune(db, now, room_for=1)
                    self._write(db, session)
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
                kept = {key for (key,) in db.execute("SELECT session_key FROM web_session")}
                for token in [t for t, s in self._sessions.items() if s.key not in kept]:
                    del self._sessions[token]
            while len(self._sessions) >= self._max:
                self._sessions.popitem(last=False)
            self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> WebSession | None:
        """The live session named by ``token``, marking it used; None if unknown or expired.

        After a restart the session is found in the database, as long as it has not expired and its
        cashier is still active.
        """
        if not token:
            return None
        now = self._clock()
        with self._lock:
            db = self._conn()
            session = self._sessions.get(token)
            if session is None and db is not None:
                session = self._load(db, token, now)
                if session is not None:
                    self._sessions[token] = session
                    while len(self._sessions) > self._max:
                        self._sessions.popitem(last=False)
            if session is None:
                return None
            if not self._live(session, now):
                self._forget(db, token)
                return None
            session.seen_at = now
            self._sessions.move_to_end(token)
            kept = session.kept_seen_at
            if db is not None and (kept is None or (now - kept).total_seconds() >= SESSION_TOUCH_S):
                self._write(db, session)
            return session

    def set_language(self, session: WebSession, language: str | None) -> None:
        """Change the session's language, kept with the session."""
        with self._lock:
            session.language = language
            db = self._conn()
            if db is not None:
                db.execute("UPDATE web_session SET language = ? WHERE session_key = ?", (language, session.key))

    def most_recent(self) -> WebSession | None:
        """The live session used last (the counter's scanner adds to its sale); None when nobody is signed in.

        Only sessions a browser has used since the agent started count: a token is needed to name one.
        """
        now = self._clock()
        with self._lock:
            for token in reversed(self._sessions):
                session = self._sessions[token]
                if self._live(session, now):
                    return session
        return None

    def _forget(self, db: sqlite3.Connection | None, token: str) -> WebSession | None:
        session = self._sessions.pop(token, None)
        if db is not None:
            db.execute("DELETE FROM web_session WHERE session_key = ?", (session_key(token),))
        return session

    def close(self, token: str) -> WebSession | None:
        """End the session named by ``token`` (sign-out), here and in the database."""
        with self._lock:
            return self._forget(self._conn(), token)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)


def csrf_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a session's CSRF token with the one a form sent."""
    return bool(given) and secrets.compare_digest(expected.encode(), str(given).encode())
