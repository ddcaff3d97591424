"""The UART packet protocol of the R30x / R503 / AS608 / ZFM-20 fingerprint module family.

Every packet, in either direction::

    EF 01 | AA AA AA AA | PID | LL LL | payload ...        | SS SS
    start   address       type  length  (length - 2 bytes)  checksum

``length`` counts the payload plus the two checksum bytes. The checksum is the low 16 bits of the sum of the
packet type, the two length bytes and every payload byte. A command packet (type 0x01) carries an
instruction code and its parameters; the module answers with an acknowledge packet (type 0x07) whose first
payload byte is a confirmation code. Bulk data (templates, images) travels as data packets (0x02) closed by
one end-of-data packet (0x08), each at most the module's configured packet size (32, 64, 128 or 256 bytes).

This module is pure encoding: no I/O. The emulator and the tests use it; the real driver talks through the
adafruit library and checks its answers with :func:`checksum`.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from hardware.errors import HardwareError

START_CODE = 0xEF01
DEFAULT_ADDRESS = 0xFFFFFFFF
HEADER_SIZE_BYTES = 9
"""Start code (2) + address (4) + packet type (1) + length (2)."""
CHECKSUM_SIZE_BYTES = 2
MAX_PAYLOAD_BYTES = 256 + 32
"""Largest payload we accept in one packet: the largest data packet size (256) with room for any ack."""


class PacketType(enum.IntEnum):
    """The packet identifier byte."""

    COMMAND = 0x01
    DATA = 0x02
    ACK = 0x07
    END_DATA = 0x08


class Instruction(enum.IntEnum):
    """Instruction codes, as in the R503 user manual and the ZFM-20/AS608 datasheets."""

    GET_IMAGE = 0x01
    IMG2TZ = 0x02
    MATCH = 0x03
    SEARCH = 0x04
    REG_MODEL = 0x05
    STORE = 0x06
    LOAD_CHAR = 0x07
    UP_CHAR = 0x08
    DOWN_CHAR = 0x09
    UP_IMAGE = 0x0A
    DOWN_IMAGE = 0x0B
    DELETE_CHAR = 0x0C
    EMPTY = 0x0D
    SET_SYS_PARA = 0x0E
    READ_SYS_PARA = 0x0F
    VERIFY_PASSWORD = 0x13
    HIGH_SPEED_SEARCH = 0x1B
    TEMPLATE_NUM = 0x1D
    READ_INDEX_TABLE = 0x1F
    AURA_LED_CONFIG = 0x35
    CHECK_SENSOR = 0x36
    SOFT_RESET = 0x3D
    HANDSHAKE = 0x40


class Confirmation(enum.IntEnum):
    """Confirmation codes: the first payload byte of every acknowledge packet."""

    OK = 0x00
    PACKET_ERROR = 0x01
    NO_FINGER = 0x02
    ENROLL_FAIL = 0x03
    IMAGE_MESSY = 0x06
    FEATURE_FAIL = 0x07
    NO_MATCH = 0x08
    NOT_FOUND = 0x09
    MERGE_FAIL = 0x0A
    BAD_LOCATION = 0x0B
    READ_ERROR = 0x0C
    UPLOAD_FEATURE_FAIL = 0x0D
    PACKET_RECEIVE_ERROR = 0x0E
    UPLOAD_IMAGE_FAIL = 0x0F
    DELETE_FAIL = 0x10
    CLEAR_FAIL = 0x11
    WRONG_PASSWORD = 0x13
    INVALID_IMAGE = 0x15
    FLASH_ERROR = 0x18
    INVALID_REGISTER = 0x1A
    BAD_ADDRESS = 0x20
    PASSWORD_REQUIRED = 0x21


CONFIRMATION_TEXT: dict[int, str] = {
    Confirmation.OK: "ok",
    Confirmation.PACKET_ERROR: "the module could not read our packet",
    Confirmation.NO_FINGER: "no finger on the sensor",
    Confirmation.ENROLL_FAIL: "could not capture the fingerprint image",
    Confirmation.IMAGE_MESSY: "fingerprint image too messy",
    Confirmation.FEATURE_FAIL: "too few feature points in the image",
    Confirmation.NO_MATCH: "fingers do not match",
    Confirmation.NOT_FOUND: "no matching template in the library",
    Confirmation.MERGE_FAIL: "the two captures could not be merged into one model",
    Confirmation.BAD_LOCATION: "slot number outside the library",
    Confirmation.READ_ERROR: "error reading the template from flash, or invalid template",
    Confirmation.UPLOAD_FEATURE_FAIL: "error uploading the template",
    Confirmation.PACKET_RECEIVE_ERROR: "the module could not receive the following data packets",
    Confirmation.UPLOAD_IMAGE_FAIL: "error uploading the image",
    Confirmation.DELETE_FAIL: "could not delete the template",
    Confirmation.CLEAR_FAIL: "could not empty the library",
    Confirmation.WRONG_PASSWORD: "wrong password",
    Confirmation.INVALID_IMAGE: "no valid image in the image buffer",
    Confirmation.FLASH_ERROR: "error writing flash",
    Confirmation.INVALID_REGISTER: "invalid register number",
    Confirmation.BAD_ADDRESS: "wrong module address",
    Confirmation.PASSWORD_REQUIRED: "the password must be verified first",
}


def describe_confirmation(code: int) -> str:
    """Human text for a confirmation code, with the code itself."""
    return f"{CONFIRMATION_TEXT.get(code, 'unknown confirmation code')} (0x{code:02X})"


PACKET_SIZE_BYTES_BY_CODE: dict[int, int] = {0: 32, 1: 64, 2: 128, 3: 256}
"""The system parameter "data packet length" is a code, not a byte count."""

BAUD_UNIT = 9600
"""The system parameter "baud rate" is a multiple N of this: the line runs at 9600 * N bit/s."""


class PacketError(HardwareError, ValueError):
    """Bytes that are not a well-formed packet. The driver and the emulator convert it for their side."""

    code = "bad_packet"


def checksum(packet_type: int, payload: bytes) -> int:
    """The 16-bit packet checksum: type + length bytes + payload bytes, modulo 65536."""
    length = len(payload) + CHECKSUM_SIZE_BYTES
    return (packet_type + (length >> 8) + (length & 0xFF) + sum(payload)) & 0xFFFF


@dataclass(frozen=True)
class Packet:
    """One decoded packet: its type, module address and payload (without header and checksum)."""

    type: int
    payload: bytes
    address: int = DEFAULT_ADDRESS

    def encode(self) -> bytes:
        if len(self.payload) > MAX_PAYLOAD_BYTES:
            raise PacketError(f"payload of {len(self.payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
        length = len(self.payload) + CHECKSUM_SIZE_BYTES
        header = struct.pack(">HIBH", START_CODE, self.address, self.type, length)
        return header + self.payload + struct.pack(">H", checksum(self.type, self.payload))


def command(instruction: int, params: bytes = b"", *, address: int = DEFAULT_ADDRESS) -> bytes:
    """Encode a command packet."""
    return Packet(PacketType.COMMAND, bytes([instruction]) + params, address).encode()


def ack(confirmation: int, params: bytes = b"", *, address: int = DEFAULT_ADDRESS) -> bytes:
    """Encode an acknowledge packet."""
    return Packet(PacketType.ACK, bytes([confirmation]) + params, address).encode()


def data_packets(data: bytes, packet_size_bytes: int, *, address: int = DEFAULT_ADDRESS) -> list[bytes]:
    """Split ``data`` into data packets of at most ``packet_size_bytes``, the last one an end-of-data packet.

    A final chunk shorter than the packet size is sent too: a module that never receives its end-of-data
    packet waits for it forever and takes the next command as data.
    """
    if packet_size_bytes not in PACKET_SIZE_BYTES_BY_CODE.values():
        raise PacketError(f"packet size {packet_size_bytes} is not one of 32, 64, 128, 256")
    if not data:
        raise PacketError("no data to send")
    chunks = [data[i : i + packet_size_bytes] for i in range(0, len(data), packet_size_bytes)]
    last = len(chunks) - 1
    return [
        Packet(PacketType.END_DATA if i == last else PacketType.DATA, chunk, address).encode()
        for i, chunk in enumerate(chunks)
    ]


@dataclass(frozen=True)
class Header:
    """The fixed 9-byte packet header."""

    address: int
    type: int
    length: int

    @property
    def remaining_bytes(self) -> int:
        """Bytes that follow the header: payload plus checksum."""
        return self.length


def decode_header(raw: bytes) -> Header:
    """Decode and check the 9-byte header; raise :class:`PacketError` if it is not one."""
    if len(raw) != HEADER_SIZE_BYTES:
        raise PacketError(f"header needs {HEADER_SIZE_BYTES} bytes, got {len(raw)}")
    start, address, packet_type, length = struct.unpack(">HIBH", raw)
    if start != START_CODE:
        raise PacketError(f"bad start code 0x{start:04X}, expected 0x{START_CODE:04X}")
    if packet_type not in set(PacketType):
        raise PacketError(f"unknown packet type 0x{packet_type:02X}")
    if not CHECKSUM_SIZE_BYTES <= length <= MAX_PAYLOAD_BYTES + CHECKSUM_SIZE_BYTES:
        raise PacketError(f"packet length {length} out of range")
    return Header(address, packet_type, length)


def decode_body(header: Header, body: bytes) -> Packet:
    """Check the checksum of a header's body (payload + checksum) and return the packet."""
    if len(body) != header.length:
        raise PacketError(f"packet body needs {header.length} bytes, got {len(body)}")
    payload, (received,) = body[:-CHECKSUM_SIZE_BYTES], struct.unpack(">H", body[-CHECKSUM_SIZE_BYTES:])
    expected = checksum(header.type, payload)
    if received != expected:
        raise PacketError(f"bad checksum 0x{received:04X}, expected 0x{expected:04X}")
    return Packet(header.type, payload, header.address)


def decode(raw: bytes) -> Packet:
    """Decode exactly one whole packet."""
    header = decode_header(raw[:HEADER_SIZE_BYTES])
    return decode_body(header, raw[HEADER_SIZE_BYTES:])


@dataclass(frozen=True)
class SystemParameters:
    """The 16 bytes ReadSysPara returns, decoded."""

    status_register: int
    system_id: int
    capacity: int
    security_level: int
    address: int
    packet_size_code: int
    baud_multiple: int

    @property
    def packet_size_bytes(self) -> int:
        """Data packet size in bytes; raises PacketError for a code the protocol does not define."""
        try:
            return PACKET_SIZE_BYTES_BY_CODE[self.packet_size_code]
        except KeyError:
            raise PacketError(f"packet size code {self.packet_size_code} is not 0..3") from None

    @property
    def baudrate(self) -> int:
        return BAUD_UNIT * self.baud_multiple

    def encode(self) -> bytes:
        return struct.pack(
            ">HHHHIHH",
            self.status_register,
            self.system_id,
            self.capacity,
            self.security_level,
            self.address,
            self.packet_size_code,
            self.baud_multiple,
        )

    @classmethod
    def decode(cls, raw: bytes) -> SystemParameters:
        if len(raw) != 16:
            raise PacketError(f"system parameters need 16 bytes, got {len(raw)}")
        return cls(*struct.unpack(">HHHHIHH", raw))
