"""Byte-exact tests of the fingerprint packet encoder and decoder.

Packets published in the R503 manual and a system-parameter answer captured from a real module are checked
literally; the catalogue of every command the driver sends is compared with a golden file
(regenerate it with ``MOSTRADOR_UPDATE_GOLDEN=1``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.fingerprint import protocol
from hardware.fingerprint.protocol import Confirmation, Instruction, Packet, PacketError, PacketType

GOLDEN = Path(__file__).parent / "golden" / "fingerprint" / "command_packets.txt"


def test_get_image_command_matches_the_manual() -> None:
    assert protocol.command(Instruction.GET_IMAGE) == bytes.fromhex("EF01 FFFFFFFF 01 0003 01 0005")


def test_handshake_command_matches_the_manual() -> None:
    assert protocol.command(Instruction.HANDSHAKE) == bytes.fromhex("EF01 FFFFFFFF 01 0003 40 0044")


def test_template_count_command_matches_the_manual() -> None:
    assert protocol.command(Instruction.TEMPLATE_NUM) == bytes.fromhex("EF01 FFFFFFFF 01 0003 1D 0021")


def test_verify_password_command_matches_the_manual() -> None:
    packet = protocol.command(Instruction.VERIFY_PASSWORD, bytes(4))
    assert packet == bytes.fromhex("EF01 FFFFFFFF 01 0007 13 00000000 001B")


def test_system_parameters_captured_from_a_module_decode() -> None:
    raw = bytes.fromhex("EF01 FFFFFFFF 07 0013 00 0000 0000 00C8 0003 FFFFFFFF 0002 0006 04E9")
    packet = protocol.decode(raw)
    assert packet.type == PacketType.ACK
    assert packet.payload[0] == Confirmation.OK
    params = protocol.SystemParameters.decode(packet.payload[1:])
    assert (params.capacity, params.security_level, params.packet_size_bytes, params.baudrate) == (200, 3, 128, 57600)
    assert protocol.ack(Confirmation.OK, params.encode()) == raw


def test_bad_checksum_is_rejected() -> None:
    raw = bytearray(protocol.command(Instruction.GET_IMAGE))
    raw[-1] ^= 0x01
    with pytest.raises(PacketError, match="checksum"):
        protocol.decode(bytes(raw))


def test_bad_start_code_is_rejected() -> None:
    with pytest.raises(PacketError, match="start code"):
        protocol.decode(bytes.fromhex("EF02 FFFFFFFF 01 0003 01 0005"))


def test_unknown_packet_type_is_rejected() -> None:
    with pytest.raises(PacketError, match="packet type"):
        protocol.decode(bytes.fromhex("EF01 FFFFFFFF 05 0003 01 0009"))


def test_unknown_packet_size_code_is_rejected() -> None:
    params = protocol.SystemParameters(0, 9, 200, 3, 0xFFFFFFFF, packet_size_code=4, baud_multiple=6)
    with pytest.raises(PacketError, match="packet size code 4"):
        _ = params.packet_size_bytes


def test_data_split_sends_the_short_tail_in_the_end_packet() -> None:
    data = bytes(range(256)) * 3 + bytes(range(232))  # 1000 bytes
    packets = [protocol.decode(p) for p in protocol.data_packets(data, 128)]
    assert [p.type for p in packets] == [PacketType.DATA] * 7 + [PacketType.END_DATA]
    assert [len(p.payload) for p in packets] == [128] * 7 + [104]
    assert b"".join(p.payload for p in packets) == data


def test_data_split_of_an_exact_multiple_ends_with_a_full_end_packet() -> None:
    packets = [protocol.decode(p) for p in protocol.data_packets(bytes(512), 256)]
    assert [(p.type, len(p.payload)) for p in packets] == [(PacketType.DATA, 256), (PacketType.END_DATA, 256)]


def test_checksum_of_a_full_256_byte_packet_wraps_to_16_bits() -> None:
    payload = b"\xff" * 256
    assert protocol.checksum(PacketType.DATA, payload) == (2 + 1 + 2 + 255 * 256) & 0xFFFF
    assert protocol.decode(Packet(PacketType.DATA, payload).encode()).payload == payload


@given(
    packet_type=st.sampled_from(list(PacketType)),
    payload=st.binary(max_size=protocol.MAX_PAYLOAD_BYTES),
    address=st.integers(0, 0xFFFFFFFF),
)
def test_encode_then_decode_gives_the_same_packet(packet_type: PacketType, payload: bytes, address: int) -> None:
    packet = Packet(packet_type, payload, address)
    assert protocol.decode(packet.encode()) == packet


def _command_catalogue() -> list[tuple[str, bytes]]:
    """Every command the driver sends, with representative parameters."""
    return [
        ("VfyPwd 0", protocol.command(Instruction.VERIFY_PASSWORD, bytes(4))),
        ("VfyPwd 0x12345678", protocol.command(Instruction.VERIFY_PASSWORD, bytes.fromhex("12345678"))),
        ("HandShake", protocol.command(Instruction.HANDSHAKE)),
        ("GetImage", protocol.command(Instruction.GET_IMAGE)),
        ("Img2Tz buffer 1", protocol.command(Instruction.IMG2TZ, b"\x01")),
        ("Img2Tz buffer 2", protocol.command(Instruction.IMG2TZ, b"\x02")),
        ("RegModel", protocol.command(Instruction.REG_MODEL)),
        ("Store buffer 1 slot 300", protocol.command(Instruction.STORE, bytes.fromhex("01012C"))),
        ("LoadChar buffer 1 slot 7", protocol.command(Instruction.LOAD_CHAR, bytes.fromhex("010007"))),
        ("UpChar buffer 1", protocol.command(Instruction.UP_CHAR, b"\x01")),
        ("DownChar buffer 2", protocol.command(Instruction.DOWN_CHAR, b"\x02")),
        ("Match", protocol.command(Instruction.MATCH)),
        ("Search buffer 1 0..200", protocol.command(Instruction.SEARCH, bytes.fromhex("01000000C8"))),
        ("DeletChar slot 5 count 1", protocol.command(Instruction.DELETE_CHAR, bytes.fromhex("00050001"))),
        ("Empty", protocol.command(Instruction.EMPTY)),
        ("ReadSysPara", protocol.command(Instruction.READ_SYS_PARA)),
        ("TempleteNum", protocol.command(Instruction.TEMPLATE_NUM)),
        ("ReadIndexTable page 1", protocol.command(Instruction.READ_INDEX_TABLE, b"\x01")),
        ("AuraLedConfig breathing blue", protocol.command(Instruction.AURA_LED_CONFIG, bytes.fromhex("01800200"))),
        ("Ack OK", protocol.ack(Confirmation.OK)),
        ("Ack no finger", protocol.ack(Confirmation.NO_FINGER)),
        ("Ack search hit slot 3 score 320", protocol.ack(Confirmation.OK, bytes.fromhex("00030140"))),
        ("GetImage at address 0x12345678", protocol.command(Instruction.GET_IMAGE, address=0x12345678)),
    ]


def test_command_packets_match_the_golden_file() -> None:
    text = "".join(f"{name}: {packet.hex(' ').upper()}\n" for name, packet in _command_catalogue())
    if os.environ.get("MOSTRADOR_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.read_text(encoding="utf-8") == text


def test_codes_agree_with_the_adafruit_library() -> None:
    import adafruit_fingerprint as af

    assert (af._STARTCODE, af._COMMANDPACKET, af._DATAPACKET, af._ACKPACKET, af._ENDDATAPACKET) == (
        protocol.START_CODE,
        PacketType.COMMAND,
        PacketType.DATA,
        PacketType.ACK,
        PacketType.END_DATA,
    )
    instructions = {
        "_GETIMAGE": Instruction.GET_IMAGE,
        "_IMAGE2TZ": Instruction.IMG2TZ,
        "_COMPARE": Instruction.MATCH,
        "_FINGERPRINTSEARCH": Instruction.SEARCH,
        "_REGMODEL": Instruction.REG_MODEL,
        "_STORE": Instruction.STORE,
        "_LOAD": Instruction.LOAD_CHAR,
        "_UPLOAD": Instruction.UP_CHAR,
        "_DOWNLOAD": Instruction.DOWN_CHAR,
        "_DELETE": Instruction.DELETE_CHAR,
        "_EMPTY": Instruction.EMPTY,
        "_SETSYSPARA": Instruction.SET_SYS_PARA,
        "_READSYSPARA": Instruction.READ_SYS_PARA,
        "_HISPEEDSEARCH": Instruction.HIGH_SPEED_SEARCH,
        "_VERIFYPASSWORD": Instruction.VERIFY_PASSWORD,
        "_TEMPLATECOUNT": Instruction.TEMPLATE_NUM,
        "_TEMPLATEREAD": Instruction.READ_INDEX_TABLE,
        "_SOFTRESET": Instruction.SOFT_RESET,
        "_SETAURA": Instruction.AURA_LED_CONFIG,
    }
    assert {name: getattr(af, name) for name in instructions} == {k: int(v) for k, v in instructions.items()}
    confirmations = {
        "OK": Confirmation.OK,
        "PACKETRECIEVEERR": Confirmation.PACKET_ERROR,
        "NOFINGER": Confirmation.NO_FINGER,
        "IMAGEMESS": Confirmation.IMAGE_MESSY,
        "FEATUREFAIL": Confirmation.FEATURE_FAIL,
        "NOMATCH": Confirmation.NO_MATCH,
        "NOTFOUND": Confirmation.NOT_FOUND,
        "ENROLLMISMATCH": Confirmation.MERGE_FAIL,
        "BADLOCATION": Confirmation.BAD_LOCATION,
        "DBRANGEFAIL": Confirmation.READ_ERROR,
        "UPLOADFEATUREFAIL": Confirmation.UPLOAD_FEATURE_FAIL,
        "PACKETRESPONSEFAIL": Confirmation.PACKET_RECEIVE_ERROR,
        "DELETEFAIL": Confirmation.DELETE_FAIL,
        "DBCLEARFAIL": Confirmation.CLEAR_FAIL,
        "PASSFAIL": Confirmation.WRONG_PASSWORD,
        "INVALIDIMAGE": Confirmation.INVALID_IMAGE,
        "FLASHERR": Confirmation.FLASH_ERROR,
    }
    assert {name: getattr(af, name) for name in confirmations} == {k: int(v) for k, v in confirmations.items()}
