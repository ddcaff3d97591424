"""The agent's configuration file: defaults, every section, and clear errors for a wrong file."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import AgentConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_minimal_file_gets_the_documented_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOSTRADOR_MQTT_PASSWORD", raising=False)
    config = load_config(write(tmp_path, '[box]\ntenant = "acme"\ndevice = "box-1"\n'))
    assert (config.tenant, config.device) == ("acme", "box-1")
    assert config.database == Path("/var/lib/mostrador/box.sqlite3")
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.username, config.mqtt.password) == (
        "localhost",
        1883,
        "acme/box-1",
        None,
    )
    assert (config.web.port, config.hardware.simulate) == (8080, ())


def test_every_section_is_read_and_the_password_comes_from_its_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n", encoding="utf-8")
    config = load_config(
        write(
            tmp_path,
            f"""
[box]
tenant = "acme"
device = "box-7"
data_dir = "{tmp_path}/data"
[mqtt]
host = "hub.example.com"
tls = true
ca_file = "/etc/ca.pem"
password_file = "{secret}"
[web]
port = 9000
[hardware]
simulate = ["printer", "camera"]
""",
        )
    )
    assert config.mqtt.port == 8883 and config.mqtt.tls and config.mqtt.password == "s3cret"
    assert config.mqtt.ca_file == Path("/etc/ca.pem")
    assert config.web.port == 9000 and config.hardware.simulate == ("printer", "camera")
    assert config.database == tmp_path / "data" / "box.sqlite3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[box]\ntenant = "acme"\n', "box.device is required"),
        ('[box]\ntenant = "Acme!"\ndevice = "b"\n', "box.tenant"),
        ('[box]\ntenant = "a"\ndevice = "b"\n[mqtt]\nport = "1883"\n', "mqtt.port must be int"),
        ('[box]\ntenant = "a"\ndevice = "b"\n[mqtt]\nport = 70000\n', "TCP port"),
        ('[box]\ntenant = "a"\ndevice = "b"\ncolour = "red"\n', "unknown key box.colour"),
        ('[shop]\nname = "x"\n', "unknown section [shop]"),
        ("[box\n", "not valid TOML"),
        ('[box]\ntenant = "a"\ndevice = "b"\n[hardware]\nsimulate = ["printr"]\n', "simulate names 'printr'"),
    ],
)
def test_a_wrong_file_names_the_key_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(AgentConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(write(tmp_path, text))


def test_a_missing_file_says_where_to_look(tmp_path: Path) -> None:
    with pytest.raises(AgentConfigError, match=r"no such file; write one \(see docs/install-pi.md\)"):
        load_config(tmp_path / "absent.toml")
