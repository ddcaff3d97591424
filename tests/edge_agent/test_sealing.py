"""Biometric sealing: at rest with the box key, for transport with the tenant key, and its clear errors."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from edge_agent.sealing import (
    HEADER_SIZE_BYTES,
    KEY_SIZE_BYTES,
    KeyFileError,
    Sealer,
    TamperedData,
    WrongKey,
    box_key_path,
    load_or_create_box_key,
    read_key_file,
)

ALICE = "481000000426"
BOB = "481000000433"
TEMPLATE = bytes(range(256)) * 2


def _key(n: int) -> bytes:
    return bytes([n]) * KEY_SIZE_BYTES


def test_a_sealed_template_opens_for_its_customer_and_hides_the_plaintext() -> None:
    sealer = Sealer(_key(1), "rest")
    sealed = sealer.seal(TEMPLATE, loyalty_id=ALICE, kind="fingerprint")
    assert TEMPLATE[:32] not in sealed
    assert sealer.open(sealed, loyalty_id=ALICE, kind="fingerprint") == TEMPLATE


def test_two_seals_of_the_same_template_differ() -> None:
    sealer = Sealer(_key(1), "rest")
    assert sealer.seal(TEMPLATE, loyalty_id=ALICE, kind="fingerprint") != sealer.seal(
        TEMPLATE, loyalty_id=ALICE, kind="fingerprint"
    )


def test_a_template_moved_to_another_customer_does_not_open() -> None:
    sealer = Sealer(_key(1), "rest")
    sealed = sealer.seal(TEMPLATE, loyalty_id=ALICE, kind="fingerprint")
    with pytest.raises(TamperedData, match="another customer"):
        sealer.open(sealed, loyalty_id=BOB, kind="fingerprint")


def test_a_face_cannot_be_opened_as_a_fingerprint() -> None:
    sealer = Sealer(_key(1), "rest")
    sealed = sealer.seal(b"jpeg bytes", loyalty_id=ALICE, kind="face")
    with pytest.raises(TamperedData):
        sealer.open(sealed, loyalty_id=ALICE, kind="fingerprint")


def test_a_flipped_bit_is_reported_as_tampering() -> None:
    sealer = Sealer(_key(1), "rest")
    sealed = bytearray(sealer.seal(TEMPLATE, loyalty_id=ALICE, kind="fingerprint"))
    sealed[HEADER_SIZE_BYTES + 5] ^= 0x01
    with pytest.raises(TamperedData, match="altered"):
        sealer.open(bytes(sealed), loyalty_id=ALICE, kind="fingerprint")


def test_another_key_is_reported_as_a_wrong_key_not_tampering() -> None:
    sealed = Sealer(_key(1), "rest").seal(TEMPLATE, loyalty_id=ALICE, kind="fingerprint")
    with pytest.raises(WrongKey, match="another rest key"):
        Sealer(_key(2), "rest").open(sealed, loyalty_id=ALICE, kind="fingerprint")


def test_a_box_sealed_blob_does_not_pass_as_a_transport_one() -> None:
    sealed = Sealer(_key(1), "rest").seal(TEMPLATE, loyalty_id=ALICE, kind="fingerprint")
    with pytest.raises(TamperedData):
        Sealer(_key(1), "transport").open(sealed, loyalty_id=ALICE, kind="fingerprint")


def test_transport_text_is_base64_and_round_trips() -> None:
    tenant = Sealer(_key(7), "transport")
    text = tenant.seal_text(TEMPLATE, loyalty_id=ALICE, kind="fingerprint")
    assert base64.b64decode(text, validate=True)[0] == 1
    assert tenant.open_text(text, loyalty_id=ALICE, kind="fingerprint") == TEMPLATE
    with pytest.raises(TamperedData, match="base64"):
        tenant.open_text("not base64!", loyalty_id=ALICE, kind="fingerprint")


def test_truncated_data_is_refused_clearly() -> None:
    with pytest.raises(TamperedData, match="sealed format"):
        Sealer(_key(1), "rest").open(b"\x01abc", loyalty_id=ALICE, kind="fingerprint")


def test_a_short_key_is_refused() -> None:
    with pytest.raises(KeyFileError, match="32 bytes"):
        Sealer(b"short", "rest")


def test_the_box_key_is_created_once_owner_only_and_reused(tmp_path: Path) -> None:
    path = box_key_path(tmp_path / "box.sqlite3")
    key = load_or_create_box_key(path)
    assert len(key) == KEY_SIZE_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_box_key(path) == key


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "biometric.key"
    load_or_create_box_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_or_create_box_key(path)


def test_a_key_file_may_hold_base64_text(tmp_path: Path) -> None:
    path = tmp_path / "tenant.key"
    path.write_text(base64.b64encode(_key(9)).decode() + "\n")
    assert read_key_file(path) == _key(9)
    path.write_text("hello")
    with pytest.raises(KeyFileError, match="does not hold a key"):
        read_key_file(path)
