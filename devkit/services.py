"""Private Mosquitto and PostgreSQL instances for the demo, the tests and the benchmarks.

Each instance lives in its own temporary directory, listens on loopback on a free port (never a standard
one), has its own generated credentials (no anonymous access, no default password) and is stopped, or
killed, by its owner. Nothing here is used in production, where Mosquitto and PostgreSQL are run by the
operating system (see docs/operations.md).

When the process runs as root, the servers run as their Debian system users (``mosquitto``, ``postgres``):
PostgreSQL refuses to run as root, and Mosquitto drops to its own user.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from core import broker_auth
from hub.errors import HubError

MOSQUITTO_BIN = os.environ.get("MOSQUITTO_BIN", "/usr/sbin/mosquitto")
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0
BROKER_MAX_PACKET_BYTES = 256 * 1024
"""Larger than the contract's payload bound, so an oversized payload reaches the hub and is dead-lettered."""
BROKER_MAX_QUEUED_MESSAGES = 500_000
"""Messages the broker queues per offline persistent session (the hub's, a box's acks) before dropping."""
BROKER_MAX_INFLIGHT = 2000
PASSWORD_BYTES = 32
"""Random bytes in every generated password (hub, boxes, database)."""
PROBE_TIMEOUT_S = 2.0
"""How long a connection check waits for the broker's CONNACK."""


class LocalServiceError(HubError, RuntimeError):
    """A private server could not be started or stopped; the message says which and why."""

    code = "local_service_failed"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (the kernel's choice, never a standard port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalServiceError(f"{what} exited with status {proc.returncode}; log: {_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise LocalServiceError(f"{what} did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S} s: {_tail(log)}")


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _system_user(name: str) -> pwd.struct_passwd | None:
    """The system user a server should run as, when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError as exc:
        raise LocalServiceError(f"running as root but there is no {name!r} user; run `make system`") from exc


def _require(binary: Path | str, package: str) -> None:
    if not os.access(binary, os.X_OK):
        raise LocalServiceError(f"{binary} not found: install the Debian package {package} (`make system`)")


def _chown_tree(root: Path, user: pwd.struct_passwd | None) -> None:
    if user is None:
        return
    for path in [root, *root.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)


def _mosquitto_hash(password: str) -> str:
    return broker_auth.hash_password(password, secrets.token_bytes(broker_auth.SALT_BYTES))


def _mqtt_string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def _mqtt_accepts(port: int, cred: Credentials) -> bool:
    """Whether the broker on ``port`` accepts ``cred`` now: one MQTT 3.1.1 CONNECT (clean session), then gone."""
    flags = 0xC2  # username, password, clean session
    body = _mqtt_string("MQTT") + bytes([4, flags]) + (10).to_bytes(2, "big")
    body += _mqtt_string("") + _mqtt_string(cred.username) + _mqtt_string(cred.password)
    length = len(body)
    encoded = bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            break
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT_S) as sock:
            sock.sendall(bytes([0x10]) + bytes(encoded) + body)
            reply = sock.recv(4)
            accepted = len(reply) == 4 and reply[0] == 0x20 and reply[3] == 0
            if accepted:
                sock.sendall(bytes([0xE0, 0]))
            return accepted
    except OSError:
        return False


@dataclass(frozen=True)
class Credentials:
    """A username and password for the private broker or database."""

    username: str
    password: str


class _Process:
    """A server process we own: start, graceful stop, SIGKILL."""

    name = "server"

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise LocalServiceError(f"{self.name} is not running")
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL, as a power cut or the OOM killer would: no shutdown work happens."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(STOP_TIMEOUT_S)
        self.proc = None

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM) without waiting; :meth:`wait` or :meth:`stop` follows."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        self.proc = None


class _Server(_Process, abc.ABC):
    """A server in a directory of its own; used as a context manager, it is started and then removed."""

    directory: Path
    _own_dir: bool

    @abc.abstractmethod
    def start(self) -> Self:
        """Start the server and return once it accepts connections."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop, and remove the directory if this object created it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)


class MosquittoServer(_Server):
    """A private Mosquitto: its own config, ports, persistence directory, password files and ACL.

    Two listeners, as in production (docs/operations.md): ``port`` for the hub, whose user ``hub`` may read
    and write the whole ``mo/`` tree, and ``box_port`` for the boxes. Every box has a user of its own,
    ``{tenant}/{device}`` with a generated password (:meth:`box_credentials`), which the ACL's ``%u`` patterns
    (:func:`core.broker_auth.acl_text`) confine to ``mo/v1/{tenant}/{device}``. On the boxes' listener the
    broker takes the username as the MQTT client id, so no box can take over another box's session by
    naming its client id.
    """

    name = "mosquitto"

    def __init__(self, directory: Path | None = None, port: int | None = None, box_port: int | None = None) -> None:
        super().__init__()
        _require(MOSQUITTO_BIN, "mosquitto")
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="mostrador-mqtt-"))
        self.port = port or free_port()
        self.box_port = box_port or free_port()
        while self.box_port == self.port:
            self.box_port = free_port()
        self.hub = Credentials("hub", secrets.token_urlsafe(PASSWORD_BYTES))
        self._boxes: dict[tuple[str, str], Credentials] = {}
        self._user = _system_user("mosquitto")
        self._configure()

    @property
    def box_passwd(self) -> Path:
        """The boxes' password file (Mosquitto's format, one ``{tenant}/{device}:$7$...`` line per box)."""
        return self.directory / "boxes.passwd"

    def box_credentials(self, tenant: str, device: str) -> Credentials:
        """The credentials of box ``device`` of ``tenant``: made (and the broker reloaded) the first time."""
        found = self._boxes.get((tenant, device))
        if found is not None:
            return found
        cred = Credentials(broker_auth.box_username(tenant, device), secrets.token_urlsafe(PASSWORD_BYTES))
        self._boxes[tenant, device] = cred
        self._write_box_passwd()
        if self.running:
            self._reload_until(cred, accepted=True)
        return cred

    def remove_box(self, tenant: str, device: str) -> None:
        """Take a box's credentials out of the password file; the broker refuses it from then on.

        At the reload Mosquitto checks the connected clients again and disconnects the box if it is connected
        (the connection check used to wait for the reload may end the box's session sooner).
        """
        cred = self._boxes.pop((tenant, device), None)
        if cred is None:
            raise LocalServiceError(f"box {device!r} of tenant {tenant!r} has no credentials on this broker")
        self._write_box_passwd()
        if self.running:
            self._reload_until(cred, accepted=False)

    def _write_box_passwd(self) -> None:
        entries = {c.username: _mosquitto_hash(c.password) for c in self._boxes.values()}
        self._write_private(self.box_passwd, broker_auth.render_password_file(entries))

    def _write_private(self, path: Path, text: str) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o600)
        if self._user is not None:
            os.chown(tmp, self._user.pw_uid, self._user.pw_gid)
        tmp.replace(path)

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads its password files and ACL again (asynchronously, within milliseconds)."""
        if self.proc is None or self.proc.poll() is not None:
            raise LocalServiceError("mosquitto is not running")
        self.proc.send_signal(signal.SIGHUP)

    def accepts(self, cred: Credentials, *, port: int | None = None) -> bool:
        """Whether the broker accepts ``cred`` on ``port`` (the boxes' listener unless told) right now."""
        return _mqtt_accepts(self.box_port if port is None else port, cred)

    def _reload_until(self, cred: Credentials, *, accepted: bool) -> None:
        """Reload, then wait until ``cred`` is accepted, or refused."""
        self.reload()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.accepts(cred) == accepted:
                return
            time.sleep(0.02)
        what = "accept" if accepted else "refuse"
        raise LocalServiceError(f"mosquitto did not {what} {cred.username!r} after a reload: {_tail(self.log)}")

    def _configure(self) -> None:
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        self._write_private(
            self.directory / "hub.passwd",
            broker_auth.render_password_file({self.hub.username: _mosquitto_hash(self.hub.password)}),
        )
        self._write_box_passwd()
        self._write_private(self.directory / "acl", broker_auth.acl_text(self.hub.username))
        listener = f"allow_anonymous false\nacl_file {self.directory / 'acl'}\n"
        (self.directory / "mosquitto.conf").write_text(
            "per_listener_settings true\n"
            "# the hub's listener: the hub's user only\n"
            f"listener {self.port} 127.0.0.1\n"
            f"{listener}"
            f"password_file {self.directory / 'hub.passwd'}\n"
            "# the boxes' listener: one user per box, which is also its client id\n"
            f"listener {self.box_port} 127.0.0.1\n"
            f"{listener}"
            f"password_file {self.box_passwd}\n"
            "use_username_as_clientid true\n"
            "\n"
            "persistence true\n"
            f"persistence_location {self.directory / 'data'}/\n"
            "autosave_interval 30\n"
            f"max_packet_size {BROKER_MAX_PACKET_BYTES}\n"
            f"max_queued_messages {BROKER_MAX_QUEUED_MESSAGES}\n"
            f"max_inflight_messages {BROKER_MAX_INFLIGHT}\n"
            "persistent_client_expiration 14d\n"
            f"log_dest file {self.directory / 'mosquitto.log'}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            "connection_messages true\n"
        )
        _chown_tree(self.directory, self._user)

    @property
    def log(self) -> Path:
        return self.directory / "mosquitto.log"

    def start(self) -> Self:
        if self.running:
            return self
        conf = self.directory / "mosquitto.conf"
        self.proc = subprocess.Popen(
            [MOSQUITTO_BIN, "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_listening(self.port, self.proc, "mosquitto", self.log)
        _wait_listening(self.box_port, self.proc, "mosquitto", self.log)
        return self

    def restart(self) -> Self:
        self.stop()
        return self.start()


class PostgresServer(_Server):
    """A private PostgreSQL 15 cluster: ``initdb`` in a temporary directory, a free port, a random password."""

    name = "postgres"

    def __init__(self, directory: Path | None = None, port: int | None = None, *, durable: bool = True) -> None:
        super().__init__()
        _require(PG_BIN / "postgres", "postgresql-15")
        self._own_dir = directory is None
        # Not under pytest's tmp tree: its parents are private to root and the server runs as ``postgres``.
        self.directory = Path(directory or tempfile.mkdtemp(prefix="mostrador-pg-"))
        self.port = port or free_port()
        self.durable = durable
        self.admin = Credentials("mostrador", secrets.token_urlsafe(PASSWORD_BYTES))
        self._user = _system_user("postgres")
        self._initdb()

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "postgres.log"

    def _as_server_user(self, argv: list[str]) -> list[str]:
        return (
            [
                "setpriv",
                f"--reuid={self._user.pw_uid}",
                f"--regid={self._user.pw_gid}",
                "--init-groups",
                "--",
                *argv,
            ]
            if self._user
            else argv
        )

    def _initdb(self) -> None:
        pwfile = self.directory / "pw"
        pwfile.write_text(self.admin.password + "\n")
        os.chmod(pwfile, 0o600)
        (self.directory / "sock").mkdir(exist_ok=True)
        _chown_tree(self.directory, self._user)
        result = subprocess.run(
            self._as_server_user(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.admin.username,
                    "--pwfile",
                    str(pwfile),
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                ]
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        pwfile.unlink()
        if result.returncode != 0:
            raise LocalServiceError(f"initdb failed ({result.returncode}): {result.stderr.strip()}")

    def start(self) -> Self:
        if self.running:
            return self
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.directory / "sock"),
            "max_connections": "60",
            "shared_buffers": "128MB",
            "logging_collector": "off",
        }
        if not self.durable:
            # Test clusters: a killed hub must not lose committed rows, but a killed machine may.
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        argv = [str(PG_BIN / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            self._as_server_user(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        _wait_listening(self.port, self.proc, "postgres", self.log)
        self._wait_accepting()
        return self

    def _wait_accepting(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"], check=False
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise LocalServiceError(f"postgres on port {self.port} not ready: {_tail(self.log)}")

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast shutdown": roll back sessions, checkpoint, exit.
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        self.proc = None

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        """An SQLAlchemy URL for ``database`` as the cluster's owner."""
        return f"{driver}://{self.admin.username}:{self.admin.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(self.url(driver="postgresql"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # name comes from the tests, not from users
        return self.url(name)


class _PythonModule(_Process):
    """A ``python -m MODULE`` child process with its output in a log file."""

    module = ""

    def __init__(self, directory: Path, argv: list[str], env: dict[str, str] | None = None) -> None:
        super().__init__()
        self.directory = directory
        self.argv = argv
        self.env = env or {}
        self.directory.mkdir(parents=True, exist_ok=True)

    @property
    def log(self) -> Path:
        return self.directory / f"{self.name}.log"

    def start(self) -> Self:
        if self.running:
            return self
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        out.close()
        return self

    def wait(self, timeout_s: float) -> int:
        """Wait for the process to exit by itself; its exit status."""
        if self.proc is None:
            raise LocalServiceError(f"{self.name} is not running")
        code = self.proc.wait(timeout_s)
        self.proc = None
        return code

    def tail(self, lines: int = 30) -> str:
        return _tail(self.log, lines)


class HubProcess(_PythonModule):
    """``python -m hub ingest`` against a private broker."""

    module = "hub"

    def __init__(
        self, directory: Path, broker: MosquittoServer, db_url: str, *, worker_id: str = "hub-1", workers: int = 1
    ) -> None:
        self.name = worker_id
        secret = directory / f"{worker_id}.mqtt-password"
        directory.mkdir(parents=True, exist_ok=True)
        secret.write_text(broker.hub.password + "\n")
        os.chmod(secret, 0o600)
        super().__init__(
            directory,
            [
                "--db",
                db_url,
                "ingest",
                "--mqtt-host",
                "127.0.0.1",
                "--mqtt-port",
                str(broker.port),
                "--mqtt-user",
                broker.hub.username,
                "--mqtt-password-file",
                str(secret),
                "--worker-id",
                worker_id,
                "--workers",
                str(workers),
            ],
        )


class BoxProcess(_PythonModule):
    """``python -m edge_agent.simulate``: a simulated box selling and relaying to a private broker."""

    module = "edge_agent.simulate"

    def __init__(
        self,
        directory: Path,
        broker: MosquittoServer,
        *,
        tenant: str,
        device: str,
        rate: float = 2.0,
        seed: int | None = None,
        extra: list[str] | None = None,
    ) -> None:
        self.name = device
        self.db_path = directory / f"{device}.sqlite3"
        self.stats_path = directory / f"{device}.stats.json"
        secret = directory / f"{device}.mqtt-password"
        directory.mkdir(parents=True, exist_ok=True)
        cred = broker.box_credentials(tenant, device)
        secret.write_text(cred.password + "\n")
        os.chmod(secret, 0o600)
        self.base_argv = [
            "--db",
            str(self.db_path),
            "--tenant",
            tenant,
            "--device",
            device,
            "--mqtt-host",
            "127.0.0.1",
            "--mqtt-port",
            str(broker.box_port),
            "--mqtt-user",
            cred.username,
            "--mqtt-password-file",
            str(secret),
            "--stats",
            str(self.stats_path),
        ]
        argv = [*self.base_argv, "--rate", str(rate), *(extra or [])]
        if seed is not None:
            argv += ["--seed", str(seed)]
        super().__init__(directory, argv)

    def stats(self) -> dict[str, Any]:
        """The box's last stats file, or an empty dict before its first write."""
        try:
            doc: dict[str, Any] = json.loads(self.stats_path.read_text())
        except (OSError, ValueError):
            return {}
        return doc

    def relay_only(self, *extra: str) -> BoxProcess:
        """Start again without selling: relay what waits, then exit when drained."""
        self.argv = [*self.base_argv, "--rate", "0", "--exit-when-drained", *extra]
        self.start()
        return self
