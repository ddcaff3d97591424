"""Real driver for R503 / R307 / AS608 / ZFM-20 fingerprint modules on a serial port.

It drives the module through ``adafruit_fingerprint.Adafruit_Fingerprint`` on a pyserial port, with a thin
subclass, :class:`FixedAdafruitFingerprint`, that corrects what the library (2.2.x) gets wrong:

1. ``_send_data`` sends only whole packets, so a template whose length is not a multiple of the packet size
   loses its tail and the module, still waiting for its end-of-data packet, swallows the next command.
2. ``_send_data`` leaves its packet size unbound (``UnboundLocalError``) when the system parameters report a
   packet-size code outside 0..3; we raise :class:`DeviceProtocolError` naming the code instead.
3. ``_get_packet`` and ``_get_data`` never verify checksums; ``_get_data`` also recurses once per packet and
   never bounds the total. We check every checksum, read by the length the packet declares, and bound the
   total to ``MAX_TEMPLATE_SIZE_BYTES`` and ``MAX_DATA_PACKETS``.
4. A silent module gives ``RuntimeError`` (or ``struct.error`` from a short checksum read) instead of a
   timeout; we raise :class:`DeviceTimeout` naming the port.
5. ``get_fpdata`` hits ``UnboundLocalError`` when the module refuses the upload, and ``send_fpdata`` returns
   ``True`` when the module refuses the download; both now raise (:class:`DeviceFault`, or
   :class:`DeviceProtocolError` when the module could not read the command).
6. ``compare_templates`` stores the confidence as a 1-tuple; we store the integer.
7. ``read_sysparam`` and ``set_sysparam`` raise a bare ``RuntimeError`` on refusal, and ``set_sysparam`` then
   records the requested value without reading back what the module accepted.
8. A refusal may come as a bare confirmation code, shorter than the answer to success; the library
   then fails in ``struct.unpack`` (``count_templates``, ``finger_search``...) before looking at the code.
   We pad a refusal so the code is returned, and reject a short answer that claims success.
9. ``__init__`` reports a wrong password as "check wiring"; we say which it is, and support a non-default
   module address.

Stale bytes from an exchange that timed out are discarded before each command so they are not read as the
next answer.
"""

from __future__ import annotations

import errno
import struct
import time
from typing import Any, Self

import serial
from adafruit_fingerprint import Adafruit_Fingerprint

from hardware.errors import (
    ConfigError,
    DeviceFault,
    DeviceNotFound,
    DevicePermissionDenied,
    DeviceProtocolError,
    DeviceTimeout,
    HardwareError,
)
from hardware.fingerprint import protocol
from hardware.fingerprint.interface import (
    DEFAULT_FINGER_TIMEOUT_S,
    MAX_TEMPLATE_SIZE_BYTES,
    EnrolCallback,
    EnrolStep,
    LedColour,
    LedMode,
    Match,
    SensorInfo,
    Template,
)
from hardware.fingerprint.protocol import Confirmation, Instruction, PacketError, PacketType

DEFAULT_PORT = "/dev/ttyAMA0"
DEFAULT_BAUDRATE = 57600
DEFAULT_REPLY_TIMEOUT_S = 2.0
"""Longest wait for one answer. The slowest command, a 1:N search over 1000 templates, takes under 1 s."""
FINGER_POLL_INTERVAL_S = 0.05
"""Pause between two GetImage attempts while waiting for a finger to be placed or lifted."""
MAX_DATA_PACKETS = MAX_TEMPLATE_SIZE_BYTES // min(protocol.PACKET_SIZE_BYTES_BY_CODE.values()) + 1
"""Most data packets accepted for one upload: a whole template in the smallest packets, plus the end packet."""
INDEX_PAGE_SLOTS = 256
"""ReadIndexTable answers 32 bytes: one bit per slot, 256 slots per page."""

_UART_HELP = (
    "check the sensor's cable and that the UART is enabled (raspi-config -> Interface Options -> Serial Port: "
    "login shell no, serial hardware yes)"
)


def _slot_check(slot: int, capacity: int) -> None:
    if not 0 <= slot <= 0xFFFF:
        raise ValueError(f"slot {slot} is not a 16-bit page number (library capacity {capacity})")


def open_serial(port: str, baudrate: int, timeout_s: float, device: str) -> serial.Serial:
    """Open ``port`` with pyserial, converting its errors into :mod:`hardware.errors` with the fix."""
    try:
        return serial.Serial(port, baudrate=baudrate, timeout=timeout_s, write_timeout=timeout_s)
    except serial.SerialException as exc:
        raise convert_open_error(exc, port, device) from exc
    except ValueError as exc:
        raise ConfigError(f"cannot open {port} at {baudrate} baud: {exc}", device=device) from exc


def convert_open_error(exc: OSError, port: str, device: str) -> HardwareError:
    """The :mod:`hardware.errors` exception for a failure to open a serial port."""
    if exc.errno == errno.ENOENT:
        return DeviceNotFound(f"no serial port at {port}: {_UART_HELP}", device=device)
    if exc.errno == errno.EACCES:
        return DevicePermissionDenied(
            f"no permission to open {port}: add the user to the dialout group: "
            "sudo usermod -aG dialout $USER (then log in again)",
            device=device,
        )
    if exc.errno == errno.EBUSY:
        return DeviceFault(
            f"{port} is busy: another program (a serial console?) holds it; disable the serial login shell",
            device=device,
            code="port_busy",
        )
    return DeviceNotFound(f"cannot open {port}: {exc}; {_UART_HELP}", device=device)


class SerialLink:
    """The pyserial port as the adafruit library sees it, with pyserial's errors converted as they happen."""

    def __init__(self, port: serial.Serial, device: str) -> None:
        self._port = port
        self._device = device

    @property
    def name(self) -> str:
        return str(self._port.port)

    def read(self, size: int) -> bytes:
        try:
            return bytes(self._port.read(size))
        except (serial.SerialException, OSError) as exc:
            raise DeviceNotFound(f"lost {self.name} while reading: {exc}; {_UART_HELP}", device=self._device) from exc

    def write(self, data: bytes | bytearray | list[int]) -> None:
        try:
            self._port.write(bytes(data))
        except serial.SerialTimeoutException as exc:
            raise DeviceTimeout(f"could not write to {self.name} within its timeout", device=self._device) from exc
        except (serial.SerialException, OSError) as exc:
            raise DeviceNotFound(f"lost {self.name} while writing: {exc}; {_UART_HELP}", device=self._device) from exc

    def discard_input(self) -> None:
        try:
            self._port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise DeviceNotFound(f"lost {self.name}: {exc}; {_UART_HELP}", device=self._device) from exc

    def close(self) -> None:
        self._port.close()


class FixedAdafruitFingerprint(Adafruit_Fingerprint):  # type: ignore[misc]
    """``Adafruit_Fingerprint`` with the fixes listed in this module's docstring."""

    def __init__(self, link: SerialLink, password: int = 0, address: int = protocol.DEFAULT_ADDRESS) -> None:
        # The base __init__ turns a wrong password into "check wiring"; we do its two steps ourselves.
        self._uart = link
        self._device = "fingerprint sensor"
        self.password = tuple(password.to_bytes(4, "big"))
        self.address = list(address.to_bytes(4, "big"))
        self.templates: list[int] = []
        code = self.verify_password()
        if code == Confirmation.WRONG_PASSWORD:
            raise DeviceFault(
                f"the sensor on {link.name} refused the password; set the password the module was configured with",
                device=self._device,
                code="wrong_password",
            )
        check(code, "verify password", link.name)
        self.read_sysparam()

    @property
    def packet_size_bytes(self) -> int:
        size = protocol.PACKET_SIZE_BYTES_BY_CODE.get(self.data_packet_size)
        if size is None:
            raise DeviceProtocolError(
                f"the sensor on {self._uart.name} reports packet size code {self.data_packet_size!r}, not 0..3",
                device=self._device,
            )
        return size

    def _read_exact(self, size: int) -> bytes:
        raw: bytes = self._uart.read(size)
        if len(raw) != size:
            raise DeviceTimeout(
                f"the sensor on {self._uart.name} did not answer in time ({len(raw)} of {size} bytes); "
                "check its power and that its TX goes to the Pi's RX",
                device=self._device,
            )
        return raw

    def _read_packet(self) -> protocol.Packet:
        try:
            header = protocol.decode_header(self._read_exact(protocol.HEADER_SIZE_BYTES))
            packet = protocol.decode_body(header, self._read_exact(header.length))
        except PacketError as exc:
            raise DeviceProtocolError(f"garbled answer on {self._uart.name}: {exc}", device=self._device) from exc
        if list(packet.address.to_bytes(4, "big")) != self.address:
            raise DeviceProtocolError(
                f"answer from address 0x{packet.address:08X} on {self._uart.name}, "
                f"expected 0x{int.from_bytes(bytes(self.address), 'big'):08X}",
                device=self._device,
            )
        return packet

    def _send_packet(self, data: list[int]) -> None:
        self._uart.discard_input()
        super()._send_packet(data)

    def _get_packet(self, expected: int) -> list[int]:
        # ``expected`` is the library's guess of the whole length; the packet's own length field is the truth.
        packet = self._read_packet()
        if packet.type != PacketType.ACK or not packet.payload:
            raise DeviceProtocolError(
                f"expected an acknowledge packet on {self._uart.name}, got type 0x{packet.type:02X} "
                f"with {len(packet.payload)} payload bytes",
                device=self._device,
            )
        payload = list(packet.payload)
        wanted = expected - protocol.HEADER_SIZE_BYTES - protocol.CHECKSUM_SIZE_BYTES
        if len(payload) < wanted:
            if payload[0] == Confirmation.OK:
                raise DeviceProtocolError(
                    f"short answer on {self._uart.name}: {len(payload)} payload bytes, expected {wanted}",
                    device=self._device,
                )
            # A refusal carries only its confirmation code; pad so the library's parsing reaches the code.
            payload += [0] * (wanted - len(payload))
        return payload

    def _get_data(self, expected: int) -> list[int]:
        data = bytearray()
        for _ in range(MAX_DATA_PACKETS):
            packet = self._read_packet()
            if packet.type not in (PacketType.DATA, PacketType.END_DATA):
                raise DeviceProtocolError(
                    f"expected a data packet on {self._uart.name}, got type 0x{packet.type:02X}", device=self._device
                )
            data += packet.payload
            if len(data) > MAX_TEMPLATE_SIZE_BYTES:
                raise DeviceProtocolError(
                    f"the sensor on {self._uart.name} sent more than {MAX_TEMPLATE_SIZE_BYTES} bytes of data",
                    device=self._device,
                )
            if packet.type == PacketType.END_DATA:
                return list(data)
        raise DeviceProtocolError(
            f"the sensor on {self._uart.name} sent {MAX_DATA_PACKETS} data packets without an end-of-data packet",
            device=self._device,
        )

    def _send_data(self, data: list[int]) -> None:
        try:
            packets = protocol.data_packets(bytes(data), self.packet_size_bytes, address=self._address_int)
        except PacketError as exc:
            raise DeviceProtocolError(str(exc), device=self._device) from exc
        for packet in packets:
            self._uart.write(packet)

    @property
    def _address_int(self) -> int:
        return int.from_bytes(bytes(self.address), "big")

    def get_fpdata(self, sensorbuffer: str = "char", slot: int = 1) -> list[int]:
        if sensorbuffer != "char" or slot not in (1, 2):
            raise ValueError(f"only char buffers 1 and 2 can be uploaded, not {sensorbuffer} {slot}")
        self._send_packet([Instruction.UP_CHAR, slot])
        check(self._get_packet(12)[0], f"upload char buffer {slot}", self._uart.name)
        return self._get_data(9)

    def send_fpdata(self, data: list[int], sensorbuffer: str = "char", slot: int = 1) -> bool:
        if sensorbuffer != "char" or slot not in (1, 2):
            raise ValueError(f"only char buffers 1 and 2 can be downloaded, not {sensorbuffer} {slot}")
        self._send_packet([Instruction.DOWN_CHAR, slot])
        check(self._get_packet(12)[0], f"download into char buffer {slot}", self._uart.name)
        self._send_data(data)
        return True

    def read_sysparam(self) -> int:
        self._send_packet([Instruction.READ_SYS_PARA])
        reply = self._get_packet(28)
        check(reply[0], "read system parameters", self._uart.name, self._device)
        try:
            params = protocol.SystemParameters.decode(bytes(reply[1:]))
        except PacketError as exc:
            raise DeviceProtocolError(f"system parameters on {self._uart.name}: {exc}", device=self._device) from exc
        self.status_register = params.status_register
        self.system_id = params.system_id
        self.library_size = params.capacity
        self.security_level = params.security_level
        self.device_address = params.address.to_bytes(4, "big")
        self.data_packet_size = params.packet_size_code
        self.baudrate = params.baud_multiple
        code: int = reply[0]
        return code

    def set_sysparam(self, param_num: int, param_val: int) -> int:
        self._send_packet([Instruction.SET_SYS_PARA, param_num, param_val])
        check(self._get_packet(12)[0], f"set system parameter {param_num}", self._uart.name, self._device)
        # Read back rather than guess: the module is the authority on what it accepted.
        return self.read_sysparam()

    def compare_templates(self) -> int:
        self._send_packet([Instruction.MATCH])
        reply = self._get_packet(14)
        self.confidence = struct.unpack(">H", bytes(reply[1:3]))[0] if len(reply) >= 3 else 0
        code: int = reply[0]
        return code

    def read_index_page(self, page: int) -> bytes:
        """The 32-byte occupancy bitmap of slots ``page * 256`` to ``page * 256 + 255``."""
        self._send_packet([Instruction.READ_INDEX_TABLE, page])
        reply = self._get_packet(44)
        check(reply[0], f"read index table page {page}", self._uart.name)
        if len(reply) != 33:
            raise DeviceProtocolError(f"index table page of {len(reply) - 1} bytes, expected 32", device=self._device)
        return bytes(reply[1:])

    def simple_command(self, instruction: int, params: bytes = b"") -> list[int]:
        """Send one command and return the acknowledge payload (confirmation code first)."""
        self._send_packet([instruction, *params])
        return self._get_packet(12)


_FAULT_CODES: dict[int, str] = {
    Confirmation.NO_FINGER: "no_finger",
    Confirmation.ENROLL_FAIL: "image_fail",
    Confirmation.IMAGE_MESSY: "bad_image",
    Confirmation.FEATURE_FAIL: "bad_image",
    Confirmation.INVALID_IMAGE: "bad_image",
    Confirmation.MERGE_FAIL: "enrol_mismatch",
    Confirmation.BAD_LOCATION: "bad_location",
    Confirmation.READ_ERROR: "empty_slot",
    Confirmation.WRONG_PASSWORD: "wrong_password",
    Confirmation.PASSWORD_REQUIRED: "wrong_password",
}


def check(code: int, action: str, port: str, device: str = "fingerprint sensor") -> None:
    """Raise the right error for a non-OK confirmation code."""
    if code == Confirmation.OK:
        return
    text = f"{action} on {port}: {protocol.describe_confirmation(code)}"
    if code in (Confirmation.PACKET_ERROR, Confirmation.PACKET_RECEIVE_ERROR):
        raise DeviceProtocolError(f"{text}; the line may be noisy: check the cable and the baud rate", device=device)
    if code in (Confirmation.IMAGE_MESSY, Confirmation.FEATURE_FAIL):
        text += "; ask the customer to clean the finger and press it flat"
    raise DeviceFault(text, device=device, code=_FAULT_CODES.get(code, f"sensor_0x{code:02x}"))


class R30xSensor:
    """A real R503/R307/AS608 module on a serial port; implements :class:`FingerprintSensor`.

    ``port`` is ``/dev/ttyAMA0`` (or ``/dev/serial0``) for the Pi's UART pins, ``/dev/ttyUSB0`` behind a USB
    adapter, or an emulator's pseudo-terminal. ``password`` and ``address`` are the module's (factory:
    0 and 0xFFFFFFFF). ``reply_timeout_s`` bounds each answer; ``finger_timeout_s`` (per call) bounds the
    wait for a finger.
    """

    def __init__(
        self,
        port: str = DEFAULT_PORT,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        password: int = 0,
        address: int = protocol.DEFAULT_ADDRESS,
        reply_timeout_s: float = DEFAULT_REPLY_TIMEOUT_S,
        name: str = "fingerprint sensor",
    ) -> None:
        self._name = name
        self._port_name = port
        self._link = SerialLink(open_serial(port, baudrate, reply_timeout_s, name), name)
        try:
            self._lib = FixedAdafruitFingerprint(self._link, password, address)
        except BaseException:
            self._link.close()
            raise
        self._lib._device = name

    # -- facts -------------------------------------------------------------------------------------------

    @property
    def library(self) -> FixedAdafruitFingerprint:
        """The underlying (fixed) adafruit object, for what this class does not wrap."""
        return self._lib

    @property
    def capacity(self) -> int:
        return int(self._lib.library_size)

    def self_check(self) -> SensorInfo:
        """Verify the password and read the system parameters again: proves the module answers sensibly."""
        self._check(self._lib.verify_password(), "verify password")
        self._check(self._lib.read_sysparam(), "read system parameters")
        lib = self._lib
        return SensorInfo(
            capacity=int(lib.library_size),
            security_level=int(lib.security_level),
            packet_size_bytes=lib.packet_size_bytes,
            baudrate=protocol.BAUD_UNIT * int(lib.baudrate),
            system_id=int(lib.system_id),
            status_register=int(lib.status_register),
            address=int.from_bytes(bytes(lib.device_address), "big"),
        )

    def handshake(self) -> None:
        """HandShake (0x40, R503 and newer firmware): the module answers OK when it is ready."""
        self._check(self._lib.simple_command(Instruction.HANDSHAKE)[0], "handshake")

    # -- enrolment and matching -------------------------------------------------------------------------

    def enrol(
        self,
        slot: int | None = None,
        *,
        on_step: EnrolCallback | None = None,
        finger_timeout_s: float = DEFAULT_FINGER_TIMEOUT_S,
    ) -> int:
        """Two captures, one model, stored at ``slot`` (or the first free one). Returns the slot."""
        report = on_step or (lambda _step: None)
        if slot is None:
            slot = self._first_free_slot()
        _slot_check(slot, self.capacity)
        report(EnrolStep.PLACE_FINGER)
        self._wait_for_finger(finger_timeout_s)
        self._check(self._lib.image_2_tz(1), "extract features of the first image")
        report(EnrolStep.FIRST_CAPTURED)
        report(EnrolStep.LIFT_FINGER)
        self._wait_for_lift(finger_timeout_s)
        report(EnrolStep.PLACE_AGAIN)
        self._wait_for_finger(finger_timeout_s)
        self._check(self._lib.image_2_tz(2), "extract features of the second image")
        report(EnrolStep.SECOND_CAPTURED)
        self._check(self._lib.create_model(), "create a model from the two images")
        report(EnrolStep.MODEL_CREATED)
        self._check(self._lib.store_model(slot, 1), f"store the model at slot {slot}")
        report(EnrolStep.STORED)
        return slot

    def identify(self, *, finger_timeout_s: float = DEFAULT_FINGER_TIMEOUT_S) -> Match | None:
        """1:N: capture a finger and search the module's library. None when no template matches."""
        self._wait_for_finger(finger_timeout_s)
        self._check(self._lib.image_2_tz(1), "extract features")
        code = self._lib.finger_search()
        if code == Confirmation.NOT_FOUND:
            return None
        self._check(code, "search the library")
        return Match(slot=int(self._lib.finger_id), confidence=int(self._lib.confidence))

    def verify(self, template: Template, *, finger_timeout_s: float = DEFAULT_FINGER_TIMEOUT_S) -> int | None:
        """1:1: load ``template`` into char buffer 2, capture into buffer 1, compare. The confidence, or None."""
        self._lib.send_fpdata(list(template.data), "char", 2)
        self._wait_for_finger(finger_timeout_s)
        self._check(self._lib.image_2_tz(1), "extract features")
        code = self._lib.compare_templates()
        if code == Confirmation.NO_MATCH:
            return None
        self._check(code, "compare with the supplied template")
        return int(self._lib.confidence)

    # -- library management -----------------------------------------------------------------------------

    def export_template(self, slot: int) -> Template:
        """Upload the template stored at ``slot``."""
        _slot_check(slot, self.capacity)
        self._check(self._lib.load_model(slot, 1), f"load slot {slot}")
        return Template(bytes(self._lib.get_fpdata("char", 1)))

    def import_template(self, slot: int, template: Template) -> None:
        """Download ``template`` and store it at ``slot``, replacing what was there."""
        _slot_check(slot, self.capacity)
        self._lib.send_fpdata(list(template.data), "char", 1)
        self._check(self._lib.store_model(slot, 1), f"store the template at slot {slot}")

    def delete(self, slot: int) -> None:
        _slot_check(slot, self.capacity)
        self._check(self._lib.delete_model(slot), f"delete slot {slot}")

    def empty(self) -> None:
        self._check(self._lib.empty_library(), "empty the library")

    def used_slots(self) -> frozenset[int]:
        """Occupied slots, from the module's index table."""
        used: set[int] = set()
        pages = (self.capacity + INDEX_PAGE_SLOTS - 1) // INDEX_PAGE_SLOTS
        for page in range(pages):
            bitmap = self._lib.read_index_page(page)
            for byte_index, byte in enumerate(bitmap):
                for bit in range(8):
                    slot = page * INDEX_PAGE_SLOTS + byte_index * 8 + bit
                    if byte & (1 << bit) and slot < self.capacity:
                        used.add(slot)
        return frozenset(used)

    def template_count(self) -> int:
        self._check(self._lib.count_templates(), "count templates")
        return int(self._lib.template_count)

    def set_led(self, colour: LedColour, mode: LedMode, *, speed: int = 0x80, cycles: int = 0) -> None:
        """R503 aura LED. ``speed`` 0..255 (lower is faster), ``cycles`` 0 (forever) .. 255."""
        if not (0 <= speed <= 255 and 0 <= cycles <= 255):
            raise ValueError(f"speed {speed} and cycles {cycles} must be 0..255")
        self._check(self._lib.set_led(int(colour), int(mode), speed, cycles), "set the LED")

    def close(self) -> None:
        self._link.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- helpers ------------------------------------------------------------------------------------------

    def _check(self, code: int, action: str) -> None:
        check(code, action, self._port_name, self._name)

    def _first_free_slot(self) -> int:
        used = self.used_slots()
        for slot in range(self.capacity):
            if slot not in used:
                return slot
        raise DeviceFault(
            f"the library on {self._port_name} is full ({self.capacity} templates); delete a template first",
            device=self._name,
            code="library_full",
        )

    def _wait_for_finger(self, finger_timeout_s: float) -> None:
        deadline = time.monotonic() + finger_timeout_s
        while True:
            code = self._lib.get_image()
            if code == Confirmation.OK:
                return
            if code != Confirmation.NO_FINGER:
                self._check(code, "capture an image")
            if time.monotonic() >= deadline:
                raise DeviceTimeout(
                    f"no finger placed on the sensor on {self._port_name} within {finger_timeout_s:g} s",
                    device=self._name,
                    code="no_finger",
                )
            time.sleep(FINGER_POLL_INTERVAL_S)

    def _wait_for_lift(self, finger_timeout_s: float) -> None:
        deadline = time.monotonic() + finger_timeout_s
        while self._lib.get_image() != Confirmation.NO_FINGER:
            if time.monotonic() >= deadline:
                raise DeviceTimeout(
                    f"the finger was not lifted from the sensor on {self._port_name} within {finger_timeout_s:g} s",
                    device=self._name,
                    code="finger_not_lifted",
                )
            time.sleep(FINGER_POLL_INTERVAL_S)
