"""Settings of the hub's HTTP API: token lifetime, login limits, password hashing cost, paging bounds, the
import upload bound, and the broker connection that publishing promotions to the boxes needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

TOKEN_TTL_S: Final = 8 * 3600
"""How long a bearer token lasts after login (a working day); log in again after."""
LOGIN_WINDOW_S: Final = 15 * 60
"""The sliding window in which failed logins are counted, per account and per client address."""
ACCOUNT_FAILURES_MAX: Final = 5
"""Failed logins to one account within the window that lock it for ``LOCKOUT_S``."""
ADDRESS_FAILURES_MAX: Final = 20
"""Failed logins from one client address within the window before it must wait for the window to pass."""
LOCKOUT_S: Final = 15 * 60
"""How long an account stays locked after too many failed logins (recorded in the database)."""
TRACKED_KEYS_MAX: Final = 10_000
"""Accounts and addresses the in-memory login counters follow at once; the least recent are dropped."""
PAGE_MAX: Final = 500
"""Most rows one page of a list returns."""
PAGE_DEFAULT: Final = 50
OFFSET_MAX: Final = 1_000_000
"""Deepest offset a list accepts; narrow the filters (dates, store) to reach older rows."""
IMPORT_UPLOAD_MAX_BYTES: Final = 20 * 1024 * 1024
"""Largest catalogue or stock file ``POST /catalogue/import`` accepts; split larger files (or use the
``python -m hub erp-import`` command on the hub itself, which takes up to ``hub.erp.importer.IMPORT_MAX_BYTES``)."""
PASSWORD_MIN_CHARS: Final = 12
PASSWORD_MAX_CHARS: Final = 256


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where the API reaches the MQTT broker to publish configuration snapshots (promotions) to the boxes,
    with the hub's own broker account."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """What :func:`hub.api.create_app` needs besides the database.

    ``argon2_*`` are the argon2id cost parameters for new password hashes (RFC 9106's second recommended
    set by default); a login rehashes a password whose stored hash used other parameters. ``clock`` gives the
    hub's aware UTC time (tests pass their own to age tokens and lockouts). ``broker`` is the MQTT broker the
    API publishes promotion sets through; without it, publishing answers 503 (everything else works).
    """

    token_ttl_s: int = TOKEN_TTL_S
    login_window_s: int = LOGIN_WINDOW_S
    account_failures_max: int = ACCOUNT_FAILURES_MAX
    address_failures_max: int = ADDRESS_FAILURES_MAX
    lockout_s: int = LOCKOUT_S
    tracked_keys_max: int = TRACKED_KEYS_MAX
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    argon2_parallelism: int = 4
    docs: bool = True
    import_max_bytes: int = IMPORT_UPLOAD_MAX_BYTES
    broker: BrokerSettings | None = None
    secure_cookies: bool = False
    dashboard_poll_s: int = 10
    """How often the dashboard's live parts (overview figures, event feed) refresh themselves."""
    """Mark the dashboard's cookies ``Secure``: set it when the hub is served over HTTPS (behind a proxy)."""
    clock: Callable[[], datetime] = field(default=_utc_now)
