"""A box's broker credentials: its password, its line in the broker's password file, the agent's copy, the ACL.

Every box connects to the broker as ``{tenant}/{device}`` (:func:`core.broker_auth.box_username`) with a
password of its own, drawn here from the operating system's random source (:data:`PASSWORD_BYTES` bytes) and
shown nowhere but in the box's credentials file. The broker keeps only its PBKDF2-SHA512 hash, in Mosquitto's
own ``$7$`` format (:func:`core.broker_auth.hash_password`).

Files are replaced whole and atomically (a temporary file in the same directory, flushed, then renamed), so the
broker never reads half a file; a password file keeps its owner, group and mode (the broker must still read
it). Changes to the password file are serialised by a lock file beside it, so two technicians' commands never
lose each other's boxes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from core import broker_auth
from core.errors import InvalidInput
from provisioning.errors import BoxExists, BoxUnknown, BrokerFileError

PASSWORD_BYTES: Final = 32
"""Random bytes in a box's password (256 bits; 43 URL-safe characters)."""
PASSWORD_FILE_MODE: Final = 0o640
"""Mode of a new password file: the broker's group may read it, nobody else."""
CREDENTIALS_FILE_MODE: Final = 0o600
"""Mode of a box's credentials file: only the agent's user may read it."""
ACL_FILE_MODE: Final = 0o644
MAX_BROKER_FILE_BYTES: Final = 256 * 1024 * 1024
"""Largest password file read (a million boxes' lines is about 170 MB)."""
CREDENTIALS_FILE_NAME: Final = "mqtt-password"
"""The agent's credentials file, as ``mqtt.password_file`` names it in its configuration."""


@dataclass(frozen=True)
class BoxCredentials:
    """What a box needs to connect: its username and where its password was written."""

    tenant: str
    device: str
    username: str
    credentials_file: Path


def generate_password() -> str:
    """A new box password: :data:`PASSWORD_BYTES` random bytes, URL-safe base64."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def credentials_path(out_dir: Path, tenant: str, device: str) -> Path:
    """Where a box's credentials file goes in the technician's output directory: ``{out}/{tenant}/{device}/``."""
    return Path(out_dir) / tenant / device / CREDENTIALS_FILE_NAME


def write_atomically(path: Path, text: str, mode: int) -> None:
    """Replace ``path`` with ``text`` in one rename; an existing file keeps its owner, group and mode."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            st: os.stat_result | None = path.stat()
        except FileNotFoundError:
            st = None
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, st.st_mode & 0o7777 if st is not None else mode)
            if st is not None and os.geteuid() == 0:
                os.chown(tmp, st.st_uid, st.st_gid)
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise BrokerFileError(
            f"cannot write {path}: {exc.strerror or exc}; check the directory and its rights"
        ) from exc


@contextlib.contextmanager
def _locked(passwd: Path) -> Iterator[None]:
    lock_path = Path(passwd).with_name(Path(passwd).name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise BrokerFileError(f"cannot lock {passwd} (through {lock_path}): {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_password_file(passwd: Path) -> dict[str, str]:
    """``{username: hash}`` of the broker's password file; empty when the file does not exist yet."""
    passwd = Path(passwd)
    try:
        if passwd.stat().st_size > MAX_BROKER_FILE_BYTES:
            raise BrokerFileError(f"{passwd} is larger than {MAX_BROKER_FILE_BYTES} bytes; is it the right file?")
        text = passwd.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerFileError(f"cannot read {passwd}: {exc}") from exc
    try:
        return broker_auth.parse_password_file(text)
    except InvalidInput as exc:
        raise BrokerFileError(f"{passwd}: {exc}; fix or remove that line first") from exc


def boxes(passwd: Path) -> list[tuple[str, str]]:
    """``(tenant, device)`` of every box in the password file (other users, such as the hub's, left out)."""
    found = []
    for username in read_password_file(passwd):
        with contextlib.suppress(InvalidInput):
            found.append(broker_auth.parse_box_username(username))
    return found


def issue_box(passwd: Path, tenant: str, device: str, out_dir: Path, *, rotate: bool) -> BoxCredentials:
    """Give a box a new password: the agent's credentials file, then the box's line in the password file.

    ``rotate=False`` (a new box) refuses a box that already has credentials (:class:`BoxExists`);
    ``rotate=True`` refuses one that has none (:class:`BoxUnknown`) and replaces its password, so the old one
    stops working once the broker reloads.
    """
    try:
        username = broker_auth.box_username(tenant, device)
    except InvalidInput as exc:
        raise BrokerFileError(str(exc)) from exc
    with _locked(passwd):
        entries = read_password_file(passwd)
        if username in entries and not rotate:
            raise BoxExists(
                f"box {device!r} of tenant {tenant!r} already has broker credentials in {passwd}; "
                "give it a new password with `broker-acl --tenant ... --device ...`, or remove it first"
            )
        if username not in entries and rotate:
            raise BoxUnknown(
                f"box {device!r} of tenant {tenant!r} has no broker credentials in {passwd}; add it with `add-box`"
            )
        password = generate_password()
        target = credentials_path(out_dir, tenant, device)
        # The box's copy first: should the password file then fail, the box's old password still works.
        write_atomically(target, password + "\n", CREDENTIALS_FILE_MODE)
        entries[username] = broker_auth.hash_password(password, secrets.token_bytes(broker_auth.SALT_BYTES))
        write_atomically(passwd, broker_auth.render_password_file(entries), PASSWORD_FILE_MODE)
    return BoxCredentials(tenant, device, username, target)


def remove_box(passwd: Path, tenant: str, device: str) -> str:
    """Take a box's line out of the password file; its username. :class:`BoxUnknown` when it has none."""
    try:
        username = broker_auth.box_username(tenant, device)
    except InvalidInput as exc:
        raise BrokerFileError(str(exc)) from exc
    with _locked(passwd):
        entries = read_password_file(passwd)
        if entries.pop(username, None) is None:
            raise BoxUnknown(f"box {device!r} of tenant {tenant!r} has no broker credentials in {passwd}")
        write_atomically(passwd, broker_auth.render_password_file(entries), PASSWORD_FILE_MODE)
    return username


def write_acl(acl: Path, hub_user: str) -> None:
    """Write the broker's ACL (:func:`core.broker_auth.acl_text`): the hub everywhere, each box in its subtree."""
    try:
        text = broker_auth.acl_text(hub_user)
    except InvalidInput as exc:
        raise BrokerFileError(str(exc)) from exc
    write_atomically(acl, text, ACL_FILE_MODE)
