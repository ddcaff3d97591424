"""Box usernames, the ACL text and Mosquitto's ``$7$`` password hashes, checked against ``mosquitto_passwd``."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest

from core import broker_auth
from core.errors import InvalidInput

MOSQUITTO_PASSWD = os.environ.get("MOSQUITTO_PASSWD_BIN", "/usr/bin/mosquitto_passwd")
PASSWORD = "a-generated-password-0123456789"


def mosquitto_passwd_file(tmp_path: Path, users: dict[str, str]) -> str:
    path = tmp_path / "passwd"
    path.write_text("")
    for username, password in users.items():
        subprocess.run([MOSQUITTO_PASSWD, "-b", str(path), username, password], check=True, capture_output=True)
    return path.read_text()


def test_a_box_username_is_its_tenant_and_device() -> None:
    assert broker_auth.box_username("acme", "box-0042") == "acme/box-0042"
    assert broker_auth.parse_box_username("acme/box-0042") == ("acme", "box-0042")
    for bad in ("hub", "acme/", "/box-1", "acme/box/1", "Acme/box-1", "acme/+", "acme/#"):
        with pytest.raises(InvalidInput):
            broker_auth.parse_box_username(bad)
    with pytest.raises(InvalidInput):
        broker_auth.box_username("acme", "box/1")


def test_a_hash_from_mosquitto_passwd_checks_out_and_a_wrong_password_does_not(tmp_path: Path) -> None:
    entries = broker_auth.parse_password_file(mosquitto_passwd_file(tmp_path, {"acme/box-1": PASSWORD}))
    assert list(entries) == ["acme/box-1"]
    assert broker_auth.verify_password(PASSWORD, entries["acme/box-1"])
    assert not broker_auth.verify_password(PASSWORD + "x", entries["acme/box-1"])


def test_our_hash_is_byte_for_byte_what_mosquitto_passwd_writes_for_the_same_salt(tmp_path: Path) -> None:
    theirs = broker_auth.parse_password_file(mosquitto_passwd_file(tmp_path, {"acme/box-1": PASSWORD}))["acme/box-1"]
    _, kind, iterations, salt, _digest = theirs.split("$")
    assert (kind, int(iterations)) == ("7", broker_auth.PBKDF2_ITERATIONS)
    ours = broker_auth.hash_password(PASSWORD, base64.b64decode(salt))
    assert ours == theirs


def test_a_password_file_round_trips_and_keeps_its_order(tmp_path: Path) -> None:
    users = {"hub": PASSWORD, "acme/box-2": PASSWORD + "2", "acme/box-1": PASSWORD + "1"}
    text = mosquitto_passwd_file(tmp_path, users)
    entries = broker_auth.parse_password_file(text)
    assert list(entries) == list(users)
    assert broker_auth.render_password_file(entries) == text


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("acme/box-1:plain-text-password\n", "line 1"),
        ("# comment\n\nacme/box-1:$6$abc$def\n", "line 3"),
        ("a:$7$101$AAAA$BBBB\na:$7$101$AAAA$BBBB\n", "already on an earlier line"),
    ],
)
def test_a_password_file_the_broker_would_misread_is_refused_naming_the_line(text: str, complaint: str) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        broker_auth.parse_password_file(text)


def test_short_passwords_wrong_salts_and_foreign_hashes_are_refused() -> None:
    with pytest.raises(InvalidInput, match="password"):
        broker_auth.hash_password("short", bytes(broker_auth.SALT_BYTES))
    with pytest.raises(InvalidInput, match="salt"):
        broker_auth.hash_password(PASSWORD, bytes(4))
    with pytest.raises(InvalidInput, match=r"\$7\$"):
        broker_auth.verify_password(PASSWORD, "$6$rounds$salt$hash")
    with pytest.raises(InvalidInput):
        broker_auth.verify_password(PASSWORD, f"$7${broker_auth.MAX_PBKDF2_ITERATIONS + 1}$AAAA$BBBB")


def test_the_acl_gives_a_box_only_its_own_subtree_and_never_its_acks() -> None:
    text = broker_auth.acl_text("hub")
    rules = [line.split() for line in text.splitlines() if line and not line.startswith("#")]
    assert ["user", "hub"] in rules and ["topic", "readwrite", "mo/#"] in rules
    patterns = [(access, topic) for kind, access, topic in (r for r in rules if r[0] == "pattern")]
    assert patterns and all(topic.startswith("mo/v1/%u/") for _access, topic in patterns)
    ack = [access for access, topic in patterns if topic == "mo/v1/%u/ack"]
    assert ack == ["read"]
    writable = {topic for access, topic in patterns if "write" in access}
    assert writable == {"mo/v1/%u/evt/+", "mo/v1/%u/status", "mo/v1/%u/cmd/+/res"}
    with pytest.raises(InvalidInput):
        broker_auth.acl_text("hub/1")
