"""Options every command of the hub shares: the broker's address and account, and reading its password.

The broker options default to environment variables (an option given wins):
``MOSTRADOR_MQTT_HOST`` (``127.0.0.1``), ``MOSTRADOR_MQTT_PORT`` (``1883``), ``MOSTRADOR_MQTT_USER``
(``hub``) and ``MOSTRADOR_MQTT_PASSWORD_FILE``; without a password file the password is read from
``MOSTRADOR_MQTT_PASSWORD``. A password is never an option: it would show in the process list.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ["add_broker_arguments", "env", "password", "read_password"]


def env(name: str, default: str | None = None) -> str | None:
    """The environment variable ``name``, else ``default``."""
    return os.environ.get(name, default)


def add_broker_arguments(parser: argparse.ArgumentParser, *, host_default: str | None = "127.0.0.1") -> None:
    """Add ``--mqtt-host``, ``--mqtt-port``, ``--mqtt-user`` and ``--mqtt-password-file`` to ``parser``."""
    parser.add_argument("--mqtt-host", default=env("MOSTRADOR_MQTT_HOST", host_default))
    parser.add_argument("--mqtt-port", type=int, default=int(env("MOSTRADOR_MQTT_PORT", "1883") or 1883))
    parser.add_argument("--mqtt-user", default=env("MOSTRADOR_MQTT_USER", "hub"))
    parser.add_argument("--mqtt-password-file", default=env("MOSTRADOR_MQTT_PASSWORD_FILE"))


def read_password(path: str | None, env_name: str = "MOSTRADOR_MQTT_PASSWORD") -> str | None:
    """A password from a file (first line), else from the environment; never from the command line."""
    if path:
        try:
            return Path(path).read_text().splitlines()[0]
        except (OSError, IndexError) as exc:
            raise SystemExit(f"cannot read the password file {path}: {exc}") from exc
    return os.environ.get(env_name)


def password(args: argparse.Namespace) -> str | None:
    """The broker password for a command parsed with :func:`add_broker_arguments`."""
    return read_password(getattr(args, "mqtt_password_file", None))
