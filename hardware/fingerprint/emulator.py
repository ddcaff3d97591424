"""An emulated R30x/R503 fingerprint module that speaks the UART packet protocol on a pseudo-terminal.

The emulator owns a pty pair (``os.openpty``) and answers, from a thread, the packets written to
``emulator.port``, which any driver opens exactly like ``/dev/ttyAMA0``. Fingers are simulated:

* a :class:`SimulatedFinger` is a deterministic vector of ``FEATURE_COUNT`` bytes derived from its name;
* ``place(finger)`` puts it on the sensor and ``lift()`` removes it; each GetImage of a placed finger adds
  fresh, seeded noise of at most ``noise`` per feature, so two captures differ a little, as on a real sensor;
* a template is ``template_size_bytes`` opaque bytes that carry the features (magic, version, features, then
  filler derived from them); Match, Search and RegModel count the features that agree within
  ``FEATURE_TOLERANCE`` and compare that count with the threshold of the security level (1 to 5). Another
  finger agrees on about one feature in eight and never reaches a threshold.

Faults can be injected: a messy image (``place(finger, quality=ImageQuality.MESSY)``), corrupted replies
(``corrupt_replies(n)``: a bad checksum sensor -> host), line noise on commands (``corrupt_commands(n)``: a
bad checksum host -> sensor, which the module answers with confirmation 0x01), and a silent module
(``silent = True``). ``commands`` records the instruction codes received, newest last, like gpiozero's mock
pin ``states``. :class:`SimulatedFingerprintSensor` bundles an emulator with the real driver: the simulated
backend of :class:`FingerprintSensor`.
"""

from __future__ import annotations

import collections
import enum
import hashlib
import os
import random
import select
import struct
import threading
import tty
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from hardware.fingerprint import protocol
from hardware.fingerprint.protocol import Confirmation, Instruction, Packet, PacketError, PacketType
from hardware.fingerprint.r30x import DEFAULT_REPLY_TIMEOUT_S, R30xSensor

FEATURE_COUNT = 64
"""Features per finger: one byte each."""
FEATURE_TOLERANCE = 16
"""Two features agree when they differ by at most this much."""
THRESHOLD_BY_SECURITY_LEVEL: dict[int, int] = {1: 26, 2: 30, 3: 36, 4: 42, 5: 48}
"""Agreeing features needed for a match, per security level. Unrelated fingers agree on about 8 of 64."""
SCORE_PER_FEATURE = 5
"""Confidence reported per agreeing feature: 64 agreeing features score 320, in the range real modules report."""
RX_BUFFER_LIMIT_BYTES = 8192
"""Received bytes kept while waiting for a whole packet; beyond this the buffer is dropped, like a UART FIFO."""
COMMAND_HISTORY_LIMIT = 1000
"""Instruction codes kept in ``commands``."""
POLL_INTERVAL_S = 0.02
"""How often the emulator thread checks for its stop request while the line is idle."""
WRITE_TIMEOUT_S = 2.0
"""Longest the emulator waits for the host to drain the pty before dropping a reply."""
_TEMPLATE_MAGIC = b"\x4d\x54\x01"  # "MT", format version 1


@dataclass(frozen=True)
class SensorFamily:
    """What differs between module families: library capacity, template size, factory packet size."""

    name: str
    capacity: int
    template_size_bytes: int
    packet_size_code: int = 2
    system_id: int = 0x0009


R503 = SensorFamily("R503", capacity=200, template_size_bytes=1536)
R307 = SensorFamily("R307", capacity=1000, template_size_bytes=512)
AS608 = SensorFamily("AS608", capacity=300, template_size_bytes=512)


class ImageQuality(enum.Enum):
    """How a placed finger images: well, or too messy to extract features (confirmation 0x06)."""

    GOOD = "good"
    MESSY = "messy"


@dataclass(frozen=True)
class SimulatedFinger:
    """A finger whose ridge features are a deterministic function of its name."""

    name: str

    @property
    def features(self) -> bytes:
        return hashlib.shake_256(f"finger:{self.name}".encode()).digest(FEATURE_COUNT)


def encode_template(features: bytes, size_bytes: int) -> bytes:
    """Template bytes carrying ``features``, padded with filler derived from them to ``size_bytes``."""
    body = _TEMPLATE_MAGIC + bytes([len(features)]) + features
    if size_bytes < len(body):
        raise ValueError(f"template size {size_bytes} too small for {len(features)} features")
    return body + hashlib.shake_256(body).digest(size_bytes - len(body))


def decode_template(data: bytes) -> bytes | None:
    """The features a template carries, or None for bytes that are not an emulator template."""
    head = len(_TEMPLATE_MAGIC)
    if len(data) < head + 1 or data[:head] != _TEMPLATE_MAGIC:
        return None
    count = data[head]
    features = data[head + 1 : head + 1 + count]
    return features if len(features) == count == FEATURE_COUNT else None


def agreeing_features(a: bytes, b: bytes) -> int:
    """How many features of two vectors agree within ``FEATURE_TOLERANCE``."""
    return sum(1 for x, y in zip(a, b, strict=True) if abs(x - y) <= FEATURE_TOLERANCE)


class FingerprintEmulator:
    """An R30x-family module on a pseudo-terminal; see the module docstring. Use as a context manager."""

    def __init__(
        self,
        family: SensorFamily = R503,
        *,
        password: int = 0,
        address: int = protocol.DEFAULT_ADDRESS,
        security_level: int = 3,
        capacity: int | None = None,
        template_size_bytes: int | None = None,
        packet_size_code: int | None = None,
        noise: int = 6,
        seed: int = 0,
    ) -> None:
        if security_level not in THRESHOLD_BY_SECURITY_LEVEL:
            raise ValueError(f"security level {security_level} is not 1..5")
        if not 0 <= noise < FEATURE_TOLERANCE // 2:
            raise ValueError(f"noise {noise} must be below {FEATURE_TOLERANCE // 2} so a finger matches itself")
        self.family = family
        self.password = password
        self.address = address
        self.security_level = security_level
        self.capacity = family.capacity if capacity is None else capacity
        self.template_size_bytes = family.template_size_bytes if template_size_bytes is None else template_size_bytes
        self.packet_size_code = family.packet_size_code if packet_size_code is None else packet_size_code
        self.baud_multiple = 6
        self.noise = noise
        self.seed = seed
        self.silent = False
        self.led: tuple[int, int, int, int] | None = None
        """Last aura LED setting: (control code, speed, colour index, cycles)."""
        self.commands: collections.deque[int] = collections.deque(maxlen=COMMAND_HISTORY_LIMIT)
        self.library: dict[int, bytes] = {}
        self._lock = threading.Lock()
        self._finger: SimulatedFinger | None = None
        self._quality = ImageQuality.GOOD
        self._captures = 0
        self._image: tuple[bytes, ImageQuality] | None = None
        self._char_buffers: dict[int, bytes] = {}
        self._password_ok = password == 0
        self._download: tuple[int, bytearray] | None = None
        self._corrupt_replies = 0
        self._clean_replies = 0
        self._corrupt_commands = 0
        self._rx = bytearray()
        self._master, self._slave = os.openpty()
        # Raw mode on our own end too: no echo, no line editing, no CR/LF translation of binary packets.
        tty.setraw(self._slave)
        tty.setraw(self._master)
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fingerprint-emulator-{self.port}", daemon=True)
        self._started = False

    # -- life cycle ------------------------------------------------------------------------------------

    def start(self) -> FingerprintEmulator:
        self._thread.start()
        self._started = True
        return self

    @property
    def running(self) -> bool:
        """Whether the emulator thread is answering (started and not closed)."""
        return self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        if self._started:
            self._thread.join()
        os.close(self._master)
        os.close(self._slave)

    def __enter__(self) -> FingerprintEmulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the world outside the module -------------------------------------------------------------------

    def place(self, finger: SimulatedFinger | str, *, quality: ImageQuality = ImageQuality.GOOD) -> None:
        """Put a finger on the sensor."""
        with self._lock:
            self._finger = SimulatedFinger(finger) if isinstance(finger, str) else finger
            self._quality = quality

    def lift(self) -> None:
        """Take the finger off the sensor."""
        with self._lock:
            self._finger = None

    def corrupt_replies(self, count: int = 1, *, skip: int = 0) -> None:
        """Send ``count`` packets with a wrong checksum, after ``skip`` clean ones."""
        with self._lock:
            self._corrupt_replies = count
            self._clean_replies = skip

    def corrupt_commands(self, count: int = 1) -> None:
        """Damage one payload byte of each of the next ``count`` packets received, as line noise would."""
        with self._lock:
            self._corrupt_commands = count

    def send_raw(self, data: bytes) -> None:
        """Write ``data`` to the host as it is: stray bytes, as a module emits when it powers up or glitches."""
        self._write(data)

    def template_for(self, finger: SimulatedFinger | str) -> bytes:
        """The noiseless template of ``finger``, as enrolment would store it."""
        f = SimulatedFinger(finger) if isinstance(finger, str) else finger
        return encode_template(f.features, self.template_size_bytes)

    # -- thread --------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([self._master], [], [], POLL_INTERVAL_S)
            if not readable:
                continue
            try:
                chunk = os.read(self._master, 4096)
            except OSError:  # the host closed its end: wait for it to reopen
                self._stop.wait(POLL_INTERVAL_S)
                continue
            with self._lock:
                if self.silent:
                    continue
                self._rx += chunk
                if len(self._rx) > RX_BUFFER_LIMIT_BYTES:
                    self._rx.clear()
                replies = self._drain_packets()
            for reply in replies:
                self._write(reply)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            _, writable, _ = select.select([], [self._master], [], WRITE_TIMEOUT_S)
            if not writable or self._stop.is_set():
                return
            written = os.write(self._master, view)
            view = view[written:]

    def _drain_packets(self) -> list[bytes]:
        replies: list[bytes] = []
        while len(self._rx) >= protocol.HEADER_SIZE_BYTES:
            try:
                header = protocol.decode_header(bytes(self._rx[: protocol.HEADER_SIZE_BYTES]))
            except PacketError:
                del self._rx[0]  # resynchronise on the next start code
                continue
            end = protocol.HEADER_SIZE_BYTES + header.length
            if len(self._rx) < end:
                break
            body = bytearray(self._rx[protocol.HEADER_SIZE_BYTES : end])
            del self._rx[:end]
            if self._corrupt_commands and len(body) > protocol.CHECKSUM_SIZE_BYTES:
                self._corrupt_commands -= 1
                body[0] ^= 0x5A
            if header.address != self.address:
                continue  # another module's packet: a real module stays quiet
            try:
                packet = protocol.decode_body(header, bytes(body))
            except PacketError:
                self._download = None
                replies.append(self._ack(Confirmation.PACKET_ERROR))
                continue
            replies.extend(self._handle(packet))
        return [self._maybe_corrupt(r) for r in replies]

    def _maybe_corrupt(self, reply: bytes) -> bytes:
        if not self._corrupt_replies:
            return reply
        if self._clean_replies:
            self._clean_replies -= 1
            return reply
        self._corrupt_replies -= 1
        return reply[:-1] + bytes([reply[-1] ^ 0xFF])

    # -- protocol ------------------------------------------------------------------------------------------

    def _ack(self, confirmation: int, params: bytes = b"") -> bytes:
        return protocol.ack(confirmation, params, address=self.address)

    def _handle(self, packet: Packet) -> list[bytes]:
        if self._download is not None:
            return self._receive_data(packet)
        if packet.type != PacketType.COMMAND or not packet.payload:
            return []  # data nobody asked for: dropped
        instruction, params = packet.payload[0], packet.payload[1:]
        self.commands.append(instruction)
        if not self._password_ok and instruction not in (Instruction.VERIFY_PASSWORD, Instruction.HANDSHAKE):
            return [self._ack(Confirmation.PASSWORD_REQUIRED)]
        handler = self._HANDLERS.get(instruction)
        if handler is None:
            return [self._ack(Confirmation.PACKET_ERROR)]
        try:
            return handler(self, params)
        except (IndexError, struct.error):  # parameters missing: the module rejects the packet
            return [self._ack(Confirmation.PACKET_ERROR)]

    def _receive_data(self, packet: Packet) -> list[bytes]:
        assert self._download is not None
        buffer_id, data = self._download
        if packet.type not in (PacketType.DATA, PacketType.END_DATA):
            # Still waiting for the end of the data: a command here is taken as a broken transfer.
            self._download = None
            return []
        data += packet.payload
        if len(data) > RX_BUFFER_LIMIT_BYTES:
            self._download = None
        elif packet.type == PacketType.END_DATA:
            self._char_buffers[buffer_id] = bytes(data)
            self._download = None
        return []

    def _threshold(self) -> int:
        return THRESHOLD_BY_SECURITY_LEVEL[self.security_level]

    def _features(self, buffer_id: int) -> bytes | None:
        data = self._char_buffers.get(buffer_id)
        return None if data is None else decode_template(data)

    def _verify_password(self, params: bytes) -> list[bytes]:
        (given,) = struct.unpack(">I", params[:4])
        self._password_ok = given == self.password
        return [self._ack(Confirmation.OK if self._password_ok else Confirmation.WRONG_PASSWORD)]

    def _get_image(self, params: bytes) -> list[bytes]:
        if self._finger is None:
            return [self._ack(Confirmation.NO_FINGER)]
        self._captures += 1
        rng = random.Random(f"{self.seed}:{self._finger.name}:{self._captures}")
        noisy = bytes(min(255, max(0, f + rng.randint(-self.noise, self.noise))) for f in self._finger.features)
        self._image = (noisy, self._quality)
        return [self._ack(Confirmation.OK)]

    def _img2tz(self, params: bytes) -> list[bytes]:
        buffer_id = params[0]
        if buffer_id not in (1, 2):
            return [self._ack(Confirmation.PACKET_ERROR)]
        if self._image is None:
            return [self._ack(Confirmation.INVALID_IMAGE)]
        features, quality = self._image
        if quality is ImageQuality.MESSY:
            return [self._ack(Confirmation.IMAGE_MESSY)]
        self._char_buffers[buffer_id] = encode_template(features, self.template_size_bytes)
        return [self._ack(Confirmation.OK)]

    def _match(self, params: bytes) -> list[bytes]:
        a, b = self._features(1), self._features(2)
        agree = 0 if a is None or b is None else agreeing_features(a, b)
        score = struct.pack(">H", agree * SCORE_PER_FEATURE)
        return [self._ack(Confirmation.OK if agree >= self._threshold() else Confirmation.NO_MATCH, score)]

    def _search(self, params: bytes) -> list[bytes]:
        buffer_id, start, count = struct.unpack(">BHH", params[:5])
        probe = self._features(buffer_id)
        best_slot, best = 0, -1
        for slot in sorted(self.library):
            stored = decode_template(self.library[slot])
            if probe is None or stored is None or not start <= slot < start + count:
                continue
            agree = agreeing_features(probe, stored)
            if agree > best:
                best_slot, best = slot, agree
        if best < self._threshold():
            return [self._ack(Confirmation.NOT_FOUND, struct.pack(">HH", 0, 0))]
        return [self._ack(Confirmation.OK, struct.pack(">HH", best_slot, best * SCORE_PER_FEATURE))]

    def _reg_model(self, params: bytes) -> list[bytes]:
        a, b = self._features(1), self._features(2)
        if a is None or b is None or agreeing_features(a, b) < self._threshold():
            return [self._ack(Confirmation.MERGE_FAIL)]
        model = encode_template(bytes((x + y) // 2 for x, y in zip(a, b, strict=True)), self.template_size_bytes)
        self._char_buffers[1] = self._char_buffers[2] = model
        return [self._ack(Confirmation.OK)]

    def _store(self, params: bytes) -> list[bytes]:
        buffer_id, slot = struct.unpack(">BH", params[:3])
        if slot >= self.capacity:
            return [self._ack(Confirmation.BAD_LOCATION)]
        data = self._char_buffers.get(buffer_id)
        if data is None:
            return [self._ack(Confirmation.PACKET_ERROR)]
        self.library[slot] = data
        return [self._ack(Confirmation.OK)]

    def _load_char(self, params: bytes) -> list[bytes]:
        buffer_id, slot = struct.unpack(">BH", params[:3])
        if slot >= self.capacity or buffer_id not in (1, 2):
            return [self._ack(Confirmation.BAD_LOCATION)]
        if slot not in self.library:
            return [self._ack(Confirmation.READ_ERROR)]
        self._char_buffers[buffer_id] = self.library[slot]
        return [self._ack(Confirmation.OK)]

    def _up_char(self, params: bytes) -> list[bytes]:
        data = self._char_buffers.get(params[0])
        if data is None:
            return [self._ack(Confirmation.UPLOAD_FEATURE_FAIL)]
        size = protocol.PACKET_SIZE_BYTES_BY_CODE[self.packet_size_code]
        return [self._ack(Confirmation.OK), *protocol.data_packets(data, size, address=self.address)]

    def _down_char(self, params: bytes) -> list[bytes]:
        if params[0] not in (1, 2):
            return [self._ack(Confirmation.PACKET_RECEIVE_ERROR)]
        self._download = (params[0], bytearray())
        return [self._ack(Confirmation.OK)]

    def _delete(self, params: bytes) -> list[bytes]:
        start, count = struct.unpack(">HH", params[:4])
        if count == 0 or start + count > self.capacity:
            return [self._ack(Confirmation.DELETE_FAIL)]
        for slot in range(start, start + count):
            self.library.pop(slot, None)
        return [self._ack(Confirmation.OK)]

    def _empty(self, params: bytes) -> list[bytes]:
        self.library.clear()
        return [self._ack(Confirmation.OK)]

    def _read_sys_para(self, params: bytes) -> list[bytes]:
        system = protocol.SystemParameters(
            status_register=0,
            system_id=self.family.system_id,
            capacity=self.capacity,
            security_level=self.security_level,
            address=self.address,
            packet_size_code=self.packet_size_code,
            baud_multiple=self.baud_multiple,
        )
        return [self._ack(Confirmation.OK, system.encode())]

    def _set_sys_para(self, params: bytes) -> list[bytes]:
        register, value = params[0], params[1]
        if register == 4 and 1 <= value <= 12:
            self.baud_multiple = value
        elif register == 5 and value in THRESHOLD_BY_SECURITY_LEVEL:
            self.security_level = value
        elif register == 6 and value in protocol.PACKET_SIZE_BYTES_BY_CODE:
            self.packet_size_code = value
        else:
            return [self._ack(Confirmation.INVALID_REGISTER)]
        return [self._ack(Confirmation.OK)]

    def _template_num(self, params: bytes) -> list[bytes]:
        return [self._ack(Confirmation.OK, struct.pack(">H", len(self.library)))]

    def _read_index_table(self, params: bytes) -> list[bytes]:
        page = params[0]
        bitmap = bytearray(32)
        for slot in self.library:
            offset = slot - page * 256
            if 0 <= offset < 256:
                bitmap[offset // 8] |= 1 << (offset % 8)
        return [self._ack(Confirmation.OK, bytes(bitmap))]

    def _aura_led(self, params: bytes) -> list[bytes]:
        control, speed, colour, cycles = params[0], params[1], params[2], params[3]
        self.led = (control, speed, colour, cycles)
        return [self._ack(Confirmation.OK)]

    def _ok(self, params: bytes) -> list[bytes]:
        return [self._ack(Confirmation.OK)]

    _HANDLERS: ClassVar[dict[int, Callable[[FingerprintEmulator, bytes], list[bytes]]]] = {
        Instruction.VERIFY_PASSWORD: _verify_password,
        Instruction.GET_IMAGE: _get_image,
        Instruction.IMG2TZ: _img2tz,
        Instruction.MATCH: _match,
        Instruction.SEARCH: _search,
        Instruction.HIGH_SPEED_SEARCH: _search,
        Instruction.REG_MODEL: _reg_model,
        Instruction.STORE: _store,
        Instruction.LOAD_CHAR: _load_char,
        Instruction.UP_CHAR: _up_char,
        Instruction.DOWN_CHAR: _down_char,
        Instruction.DELETE_CHAR: _delete,
        Instruction.EMPTY: _empty,
        Instruction.READ_SYS_PARA: _read_sys_para,
        Instruction.SET_SYS_PARA: _set_sys_para,
        Instruction.TEMPLATE_NUM: _template_num,
        Instruction.READ_INDEX_TABLE: _read_index_table,
        Instruction.AURA_LED_CONFIG: _aura_led,
        Instruction.HANDSHAKE: _ok,
        Instruction.CHECK_SENSOR: _ok,
    }


class SimulatedFingerprintSensor(R30xSensor):
    """The simulated backend: the real driver on a private emulator. ``emulator`` places and lifts fingers.

    Whatever builds the configured sensor can offer this where a module is absent (demo, development box):
    everything above the serial port, including the adafruit library, runs as it would on a real module.
    """

    def __init__(
        self,
        family: SensorFamily = R503,
        *,
        password: int = 0,
        reply_timeout_s: float = DEFAULT_REPLY_TIMEOUT_S,
        name: str = "simulated fingerprint sensor",
        **emulator_options: Any,
    ) -> None:
        self.emulator = FingerprintEmulator(family, password=password, **emulator_options).start()
        try:
            super().__init__(
                self.emulator.port,
                password=password,
                address=self.emulator.address,
                reply_timeout_s=reply_timeout_s,
                name=name,
            )
        except BaseException:
            self.emulator.close()
            raise

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.emulator.close()
