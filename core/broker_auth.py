"""Who a box is at the broker and what it may touch there: its username, the ACL, Mosquitto's password hashes.

Each box has broker credentials of its own. Its username is ``{tenant}/{device}`` (:func:`box_username`), so
the ACL's ``%u`` patterns (:func:`acl_text`) expand to exactly the box's subtree ``mo/v1/{tenant}/{device}``
of the topic tree in :mod:`core.wire`: a box reads and writes there and nowhere else, and it never writes its
own ``ack`` (only the hub does). The hub connects as a user of its own, which reads and writes the whole tree.

Passwords are kept in Mosquitto's password file as ``username:$7$iterations$salt$hash``: PBKDF2-HMAC-SHA512
over the UTF-8 password with a 12-byte salt, the salt and the 64-byte hash in standard base64, the format
``mosquitto_passwd`` writes (Mosquitto 2). This module formats and checks such lines; making a password and a
salt (randomness) and writing files (I/O) is the provisioning tools' and the test broker's business.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Final

from core import wire
from core.errors import InvalidInput

MOSQUITTO_PBKDF2_SHA512: Final = 7
"""The hash type Mosquitto writes as ``$7$``: PBKDF2 with HMAC-SHA512."""
PBKDF2_ITERATIONS: Final = 101
"""``mosquitto_passwd``'s own default. The broker hashes at every connect of every box, and box passwords
carry 256 random bits (see the provisioning tools), so more iterations would cost the broker without making a
password any harder to guess."""
MAX_PBKDF2_ITERATIONS: Final = 1_000_000
"""Most iterations accepted when reading a line (so a hostile file cannot make a check take minutes)."""
SALT_BYTES: Final = 12
HASH_BYTES: Final = 64
MIN_PASSWORD_CHARS: Final = 16
"""Shortest password this module will hash: box and hub passwords are generated, never typed."""
MAX_PASSWORD_CHARS: Final = 256
MAX_USERNAME_CHARS: Final = 2 * 64 + 1
"""A ``{tenant}/{device}`` username: two ids of at most 64 characters and the slash."""
MAX_PASSWORD_FILE_LINES: Final = 1_000_000
"""Most entries a password file may hold (a distributor's boxes, with room to spare)."""

_LINE_RE: Final = re.compile(r"^([^:\s]+):\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")


def box_username(tenant: str, device: str) -> str:
    """The broker username of a box: ``{tenant}/{device}``, which the ACL's ``%u`` expands to."""
    return f"{wire.check_name(tenant, 'tenant')}/{wire.check_name(device, 'device')}"


def parse_box_username(username: str) -> tuple[str, str]:
    """``(tenant, device)`` from a box's username; InvalidInput when it is not one."""
    tenant, slash, device = username.partition("/")
    if not slash:
        raise InvalidInput("username", f"{username!r} is not a box username ({{tenant}}/{{device}})")
    return wire.check_name(tenant, "tenant"), wire.check_name(device, "device")


def acl_text(hub_user: str) -> str:
    """The broker's ACL file: the hub's user everywhere under ``mo/``, each box in its own subtree only.

    Mosquitto grants a box a topic when one line allows it; it refuses everything else. A subscription
    outside the box's subtree is accepted by the broker but nothing is ever delivered on it (Mosquitto checks
    ``read`` at delivery), and a publish outside it is dropped.
    """
    _check_hub_user(hub_user)
    root = f"{wire.TOPIC_ROOT}/v{wire.PROTOCOL_VERSION}/%u"
    k = wire.Kind
    lines = [
        "# Mostrador broker ACL: written by `python -m provisioning broker-acl`; do not edit by hand.",
        "# The hub reads and writes the whole tree.",
        f"user {hub_user}",
        f"topic readwrite {wire.TOPIC_ROOT}/#",
        "",
        "# Every box (username {tenant}/{device}) only in mo/v1/{tenant}/{device}: never another box's",
        "# subtree, another tenant's, or its own ack (only the hub writes acks).",
        f"pattern write {root}/{k.EVT.value}/+",
        f"pattern write {root}/{k.STATUS.value}",
        f"pattern read {root}/{k.ACK.value}",
        f"pattern read {root}/{k.CFG.value}/#",
        f"pattern read {root}/{k.CMD.value}/+",
        f"pattern write {root}/{k.CMD.value}/+/res",
        "",
    ]
    return "\n".join(lines)


def _check_hub_user(hub_user: str) -> None:
    if not hub_user or "/" in hub_user or any(c.isspace() or c in ":+#" for c in hub_user):
        raise InvalidInput("hub_user", f"{hub_user!r} is not a usable hub username (no '/', ':', '+', '#' or spaces)")


def _check_username(username: str) -> None:
    if not 1 <= len(username) <= MAX_USERNAME_CHARS or any(c.isspace() or c in ":+#" for c in username):
        raise InvalidInput(
            "username",
            f"{username!r} is not a usable broker username (1 to {MAX_USERNAME_CHARS} characters, "
            "no ':', '+', '#' or spaces)",
        )


def hash_password(password: str, salt: bytes, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Mosquitto's ``$7$`` hash of ``password`` with ``salt`` (:data:`SALT_BYTES` bytes the caller drew)."""
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidInput("password", f"must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    if len(salt) != SALT_BYTES:
        raise InvalidInput("salt", f"must be {SALT_BYTES} bytes, got {len(salt)}")
    if not 1 <= iterations <= MAX_PBKDF2_ITERATIONS:
        raise InvalidInput("iterations", f"must be 1 to {MAX_PBKDF2_ITERATIONS}, got {iterations}")
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, HASH_BYTES)
    b64 = base64.b64encode
    return f"${MOSQUITTO_PBKDF2_SHA512}${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash (as :func:`hash_password` or ``mosquitto_passwd`` wrote it)."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != str(MOSQUITTO_PBKDF2_SHA512):
        raise InvalidInput("hash", "not a Mosquitto $7$ (PBKDF2-SHA512) hash")
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise InvalidInput("hash", f"unreadable $7$ hash: {exc}") from exc
    if not 1 <= iterations <= MAX_PBKDF2_ITERATIONS or not expected:
        raise InvalidInput("hash", f"$7$ hash with {iterations} iterations or an empty digest")
    actual = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(expected))
    return hmac.compare_digest(actual, expected)


def parse_password_file(text: str) -> dict[str, str]:
    """``{username: hash}`` from a Mosquitto password file, in file order; blank lines and ``#`` comments skipped.

    A line that is not ``username:$7$...`` or a username given twice is InvalidInput naming the line: the
    broker would refuse or misread such a file, so it is never rewritten as if it were fine.
    """
    entries: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(entries) >= MAX_PASSWORD_FILE_LINES:
            raise InvalidInput("password_file", f"more than {MAX_PASSWORD_FILE_LINES} entries")
        match = _LINE_RE.fullmatch(line)
        if match is None or match.group(2) != str(MOSQUITTO_PBKDF2_SHA512):
            raise InvalidInput("password_file", f"line {number} is not 'username:$7$...' (a Mosquitto 2 hash)")
        username = match.group(1)
        if username in entries:
            raise InvalidInput("password_file", f"line {number}: {username!r} is already on an earlier line")
        entries[username] = line.partition(":")[2]
    return entries


def render_password_file(entries: dict[str, str]) -> str:
    """The password file's text for ``{username: hash}``, one ``username:hash`` line each, in the given order."""
    for username, encoded in entries.items():
        _check_username(username)
        if not encoded.startswith(f"${MOSQUITTO_PBKDF2_SHA512}$"):
            raise InvalidInput("hash", f"the hash of {username!r} is not a Mosquitto $7$ hash")
    return "".join(f"{username}:{encoded}\n" for username, encoded in entries.items())
