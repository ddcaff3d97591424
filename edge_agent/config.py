"""The edge agent's configuration file: who the box is, where its data lives, its broker, its web UI.

``python -m edge_agent --config /etc/mostrador/agent.toml`` reads a TOML file like this one (every key but
``box.tenant`` and ``box.device`` has the default shown)::

    [box]
    tenant = "acme"                      # the distributor's tenant id, lower case
    device = "box-0042"                  # this box's device id; broker user "{tenant}/{device}"
    data_dir = "/var/lib/mostrador"      # database, sealing key and receipts live here
    tenant_key_file = "/etc/mostrador/tenant.key"  # opens fingerprint templates the hub sends (optional)

    [mqtt]
    host = "hub.example.com"
    port = 8883
    username = "acme/box-0042"           # defaults to "{tenant}/{device}", the user provisioning made
    password_file = "/etc/mostrador/mqtt-password"   # written by `python -m provisioning add-box`; or
                                         # MOSTRADOR_MQTT_PASSWORD
    tls = true
    ca_file = "/etc/mostrador/ca.pem"
    cert_file = "/etc/mostrador/box.pem" # the box's X.509 client certificate
    key_file = "/etc/mostrador/box.key"

    [web]
    host = "0.0.0.0"                     # the mPOS UI on the shop's LAN
    port = 8080

    [hardware]
    config = "/etc/mostrador/hardware.toml"   # see docs/hardware.md
    simulate = []                        # devices to simulate whatever that file says; ["all"] for every one

An unknown key, a wrong type or a bad value is a :class:`AgentConfigError` naming the file, the key and the
problem; nothing starts with a half-read configuration.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from core import broker_auth, wire
from edge_agent.errors import EdgeError
from hardware.config import DEVICES

DEFAULT_CONFIG_PATH: Final = Path("/etc/mostrador/agent.toml")
MAX_CONFIG_BYTES: Final = 64 * 1024
ENV_MQTT_PASSWORD: Final = "MOSTRADOR_MQTT_PASSWORD"  # noqa: S105 - the variable's name, not a password


class AgentConfigError(EdgeError, ValueError):
    """The agent's configuration file is missing, unreadable or wrong; the message says where and how."""

    code = "agent_config_invalid"


@dataclass(frozen=True)
class MqttSettings:
    """The broker the box talks to."""

    host: str = "localhost"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = 30


@dataclass(frozen=True)
class WebSettings:
    """Where the mPOS web UI listens."""

    host: str = "0.0.0.0"  # noqa: S104 - the UI is meant for the shop's LAN
    port: int = 8080


@dataclass(frozen=True)
class HardwareSettings:
    """Which hardware configuration file to read, and which devices to simulate regardless."""

    config: Path | None = None
    simulate: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentConfig:
    """Everything ``python -m edge_agent`` needs to start."""

    tenant: str
    device: str
    data_dir: Path = Path("/var/lib/mostrador")
    tenant_key_file: Path | None = None
    database_name: str = "box.sqlite3"
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    web: WebSettings = field(default_factory=WebSettings)
    hardware: HardwareSettings = field(default_factory=HardwareSettings)

    @property
    def database(self) -> Path:
        return self.data_dir / self.database_name


_SECTIONS: Final[dict[str, dict[str, type]]] = {
    "box": {"tenant": str, "device": str, "data_dir": str, "tenant_key_file": str},
    "mqtt": {
        "host": str,
        "port": int,
        "username": str,
        "password_file": str,
        "tls": bool,
        "ca_file": str,
        "cert_file": str,
        "key_file": str,
        "keepalive_s": int,
    },
    "web": {"host": str, "port": int},
    "hardware": {"config": str, "simulate": list},
}


def _check_types(path: Path, raw: dict[str, Any]) -> None:
    for section, values in raw.items():
        keys = _SECTIONS.get(section)
        if keys is None:
            raise AgentConfigError(f"{path}: unknown section [{section}]; known: {', '.join(_SECTIONS)}")
        if not isinstance(values, dict):
            raise AgentConfigError(f"{path}: [{section}] must be a table")
        for key, value in values.items():
            expected = keys.get(key)
            if expected is None:
                raise AgentConfigError(f"{path}: unknown key {section}.{key}; known: {', '.join(keys)}")
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise AgentConfigError(
                    f"{path}: {section}.{key} must be {expected.__name__}, got {type(value).__name__} {value!r}"
                )


def _port(path: Path, key: str, value: int) -> int:
    if not 1 <= value <= 65535:
        raise AgentConfigError(f"{path}: {key} must be a TCP port 1..65535, got {value}")
    return value


def _read_password(path: Path, password_file: str | None) -> str | None:
    if password_file:
        try:
            lines = Path(password_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise AgentConfigError(f"{path}: mqtt.password_file {password_file}: {exc.strerror}") from exc
        if not lines or not lines[0]:
            raise AgentConfigError(f"{path}: mqtt.password_file {password_file} is empty")
        return lines[0]
    return os.environ.get(ENV_MQTT_PASSWORD) or None


def load_config(path: Path | str = DEFAULT_CONFIG_PATH) -> AgentConfig:
    """Read and check the agent's configuration file."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise AgentConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes; is it the right file?")
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise AgentConfigError(f"{path}: no such file; write one (see docs/install-pi.md)") from exc
    except OSError as exc:
        raise AgentConfigError(f"{path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AgentConfigError(f"{path}: not valid TOML: {exc}") from exc
    _check_types(path, raw)
    box = raw.get("box", {})
    for key in ("tenant", "device"):
        if key not in box:
            raise AgentConfigError(f"{path}: box.{key} is required")
        try:
            wire.check_name(box[key], f"box.{key}")
        except ValueError as exc:
            raise AgentConfigError(f"{path}: {exc}") from exc
    mq = raw.get("mqtt", {})
    web = raw.get("web", {})
    hw = raw.get("hardware", {})
    simulate = hw.get("simulate", [])
    known = ("all", *DEVICES)
    unknown = [name for name in simulate if name not in known]
    if unknown:
        raise AgentConfigError(
            f"{path}: hardware.simulate names {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
        )
    tls = mq.get("tls", False)
    return AgentConfig(
        tenant=box["tenant"],
        device=box["device"],
        data_dir=Path(box.get("data_dir", "/var/lib/mostrador")),
        tenant_key_file=Path(box["tenant_key_file"]) if "tenant_key_file" in box else None,
        mqtt=MqttSettings(
            host=mq.get("host", "localhost"),
            port=_port(path, "mqtt.port", mq.get("port", 8883 if tls else 1883)),
            username=mq.get("username", broker_auth.box_username(box["tenant"], box["device"])),
            password=_read_password(path, mq.get("password_file")),
            tls=tls,
            ca_file=Path(mq["ca_file"]) if "ca_file" in mq else None,
            cert_file=Path(mq["cert_file"]) if "cert_file" in mq else None,
            key_file=Path(mq["key_file"]) if "key_file" in mq else None,
            keepalive_s=mq.get("keepalive_s", 30),
        ),
        web=WebSettings(host=web.get("host", "0.0.0.0"), port=_port(path, "web.port", web.get("port", 8080))),  # noqa: S104
        hardware=HardwareSettings(
            config=Path(hw["config"]) if "config" in hw else None,
            simulate=tuple(simulate),
        ),
    )
