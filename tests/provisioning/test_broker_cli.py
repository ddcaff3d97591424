"""``python -m provisioning`` against a real Mosquitto: the files it writes are the ones the broker runs on.

The commands edit the live broker's own password file and ACL (those of the private test broker), the broker
is reloaded as a technician would (``systemctl reload mosquitto`` sends the same SIGHUP), and a box connects
with the credentials file the command wrote.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core import broker_auth
from devkit.services import Credentials, MosquittoServer
from provisioning import broker as files
from provisioning.cli import main
from tests.waiting import wait_until

pytestmark = pytest.mark.mqtt

TENANT = "acme"
WAIT_S = 10.0


def cli(broker: MosquittoServer, out: Path, command: str, *args: str) -> int:
    paths = ["--passwd", str(broker.box_passwd), "--acl", str(broker.directory / "acl")]
    if command != "remove-box":
        paths += ["--out", str(out)]
    return main([command, *paths, *args])


def password_of(out: Path, device: str) -> Credentials:
    path = files.credentials_path(out, TENANT, device)
    assert path.stat().st_mode & 0o777 == files.CREDENTIALS_FILE_MODE
    return Credentials(broker_auth.box_username(TENANT, device), path.read_text().splitlines()[0])


def test_a_box_added_by_the_technician_connects_with_its_credentials_file(
    broker: MosquittoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(broker, tmp_path, "add-box", "--tenant", TENANT, "--device", "box-7") == 0
    assert "reload the broker" in capsys.readouterr().out
    cred = password_of(tmp_path, "box-7")
    assert len(cred.password) >= 43
    broker.reload()
    wait_until(lambda: broker.accepts(cred), WAIT_S, "the new box accepted")
    assert not broker.accepts(Credentials(cred.username, cred.password + "x"))
    assert not broker.accepts(cred, port=broker.port)  # never on the hub's listener
    assert (broker.directory / "acl").read_text() == broker_auth.acl_text("hub")


def test_adding_a_box_twice_is_refused_and_its_password_is_renewed_with_broker_acl(
    broker: MosquittoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(broker, tmp_path, "add-box", "--tenant", TENANT, "--device", "box-7") == 0
    old = password_of(tmp_path, "box-7")
    assert cli(broker, tmp_path, "add-box", "--tenant", TENANT, "--device", "box-7") == 3
    assert "broker-acl" in capsys.readouterr().err
    assert password_of(tmp_path, "box-7") == old
    assert cli(broker, tmp_path, "broker-acl", "--tenant", TENANT, "--device", "box-7") == 0
    new = password_of(tmp_path, "box-7")
    assert new.password != old.password
    broker.reload()
    wait_until(lambda: broker.accepts(new), WAIT_S, "the renewed password accepted")
    assert not broker.accepts(old)
    assert cli(broker, tmp_path, "broker-acl", "--tenant", TENANT, "--device", "box-8") == 4


def test_a_removed_box_is_refused_and_the_other_boxes_are_kept(broker: MosquittoServer, tmp_path: Path) -> None:
    for device in ("box-1", "box-2"):
        assert cli(broker, tmp_path, "add-box", "--tenant", TENANT, "--device", device) == 0
    one, two = password_of(tmp_path, "box-1"), password_of(tmp_path, "box-2")
    assert cli(broker, tmp_path, "remove-box", "--tenant", TENANT, "--device", "box-1") == 0
    broker.reload()
    wait_until(lambda: broker.accepts(two), WAIT_S, "box-2 accepted")
    assert not broker.accepts(one)
    assert files.boxes(broker.box_passwd) == [(TENANT, "box-2")]
    assert cli(broker, tmp_path, "remove-box", "--tenant", TENANT, "--device", "box-1") == 4


def test_technicians_adding_boxes_at_the_same_time_lose_none(broker: MosquittoServer, tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "provisioning",
                "add-box",
                "--passwd",
                str(broker.box_passwd),
                "--acl",
                str(broker.directory / "acl"),
                "--out",
                str(tmp_path),
                "--tenant",
                TENANT,
                "--device",
                f"box-{n}",
            ],
            stdout=subprocess.DEVNULL,
        )
        for n in range(6)
    ]
    assert [p.wait(60) for p in procs] == [0] * 6
    assert sorted(files.boxes(broker.box_passwd)) == [(TENANT, f"box-{n}") for n in range(6)]
    broker.reload()
    for n in range(6):
        cred = password_of(tmp_path, f"box-{n}")
        wait_until(lambda cred=cred: broker.accepts(cred), WAIT_S, f"box-{n} accepted")  # type: ignore[misc]


def test_a_damaged_password_file_is_reported_not_overwritten(
    broker: MosquittoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broker.box_passwd.write_text("acme/box-1:not-a-hash\n")
    assert cli(broker, tmp_path, "add-box", "--tenant", TENANT, "--device", "box-2") == 5
    assert "line 1" in capsys.readouterr().err
    assert broker.box_passwd.read_text() == "acme/box-1:not-a-hash\n"
