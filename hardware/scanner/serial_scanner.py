"""Serial barcode scanners (RS-232 or USB CDC-ACM, ``/dev/ttyACM0``): codes arrive as lines.

A scanner in serial mode sends each code followed by a configurable suffix (CR, LF, CRLF or TAB). The
``LineFramer`` cuts the byte stream into codes and applies the bounds: a line longer than ``max_line_bytes``
is discarded up to its terminator, and a partial line with no terminator after ``partial_timeout_s`` is
dropped with a log, never emitted. ``SerialScanner`` reads the port on a thread of its own.
"""

from __future__ import annotations

import enum
import errno
import logging
import threading
from dataclasses import dataclass
from typing import Any

from hardware.errors import DeviceNotFound, DevicePermissionDenied, DriverUnavailable
from hardware.scanner.base import (
    MAX_CODE_CHARS,
    PARTIAL_CODE_TIMEOUT_S,
    SCAN_QUEUE_MAX,
    BarcodeScanner,
    ScanClock,
    ScanSource,
)

log = logging.getLogger(__name__)

#: How long one read of the port may block; bounds how long ``close`` waits for the reader thread and how
#: late a partial line is noticed.
READ_POLL_S = 0.05

#: How long ``close`` waits for the reader thread to notice; it polls every ``READ_POLL_S``.
CLOSE_JOIN_S = 1.0

#: Largest single read from the port, in bytes.
READ_CHUNK_BYTES = 1024


class Suffix(enum.Enum):
    """The terminator the scanner is programmed to send after each code."""

    CR = b"\r"
    LF = b"\n"
    CRLF = b"\r\n"
    TAB = b"\t"


@dataclass
class _Partial:
    data: bytearray
    last_byte_s: float
    overflowed: bool = False


class LineFramer:
    """Cut a scanner's byte stream into codes, within bounds.

    ``feed`` takes bytes and the monotonic time they arrived; it returns the finished codes. ``expire``
    drops a partial line older than ``partial_timeout_s`` and is called by the reader on every poll.
    """

    def __init__(
        self,
        suffix: Suffix,
        *,
        encoding: str = "utf-8",
        max_line_bytes: int = MAX_CODE_CHARS,
        partial_timeout_s: float = PARTIAL_CODE_TIMEOUT_S,
        device: str = "scanner",
    ) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be at least 1, got {max_line_bytes}")
        self.suffix = suffix
        self.encoding = encoding
        self.max_line_bytes = max_line_bytes
        self.partial_timeout_s = partial_timeout_s
        self._device = device
        self._partial: _Partial | None = None
        self.dropped_lines = 0

    def feed(self, data: bytes, now_s: float) -> list[str]:
        self.expire(now_s)
        codes: list[str] = []
        terminator = self.suffix.value
        for byte in data:
            partial = self._partial
            if partial is None:
                partial = self._partial = _Partial(bytearray(), now_s)
            partial.data.append(byte)
            partial.last_byte_s = now_s
            if partial.data.endswith(terminator):
                self._partial = None
                line = bytes(partial.data[: -len(terminator)])
                if partial.overflowed:
                    continue
                # A scanner programmed for CR that still sends CRLF (or the reverse) would otherwise leave a
                # stray CR or LF at the edge of every code.
                line = line.strip(b"\r\n")
                code = self._decode(line)
                if code:
                    codes.append(code)
            elif len(partial.data) > self.max_line_bytes + len(terminator):
                if not partial.overflowed:
                    self.dropped_lines += 1
                    log.warning(
                        "%s: line longer than %d bytes without a %s terminator; dropped up to the next one "
                        "(check the scanner's suffix setting)",
                        self._device,
                        self.max_line_bytes,
                        self.suffix.name,
                    )
                partial.overflowed = True
                # Keep only the tail that could still be the start of a terminator.
                del partial.data[: -len(terminator)]
        return codes

    def expire(self, now_s: float) -> None:
        partial = self._partial
        if partial is not None and now_s - partial.last_byte_s >= self.partial_timeout_s:
            self._partial = None
            if not partial.overflowed:
                self.dropped_lines += 1
                log.warning(
                    "%s: dropped a partial code %r: no %s terminator within %.2f s (check the scanner's suffix "
                    "setting and cable)",
                    self._device,
                    bytes(partial.data[:64]),
                    self.suffix.name,
                    self.partial_timeout_s,
                )

    @property
    def pending_bytes(self) -> int:
        return 0 if self._partial is None else len(self._partial.data)

    def _decode(self, line: bytes) -> str | None:
        try:
            return line.decode(self.encoding)
        except UnicodeDecodeError:
            self.dropped_lines += 1
            log.warning("%s: dropped a code that is not valid %s: %r", self._device, self.encoding, line[:64])
            return None


def _import_serial() -> Any:
    try:
        import serial
    except ImportError as exc:
        raise DriverUnavailable(
            "pyserial is not installed; install the 'devices' extra (pip install 'mostrador[devices]')",
            device="scanner",
        ) from exc
    return serial


def open_serial_port(port: str, baud: int, *, device: str, timeout_s: float) -> Any:
    """Open ``port`` with pyserial, converting its errors into this package's, with the fix in the message."""
    serial = _import_serial()
    try:
        return serial.Serial(port, baudrate=baud, timeout=timeout_s)
    except serial.SerialException as exc:
        code = exc.errno if isinstance(exc.errno, int) else (exc.args[0] if exc.args else None)
        if code == errno.ENOENT:
            raise DeviceNotFound(
                f"no serial port {port}: check the cable and the configured port (ls /dev/serial/by-id/)",
                device=device,
            ) from exc
        if code == errno.EACCES:
            raise DevicePermissionDenied(
                f"may not open {port}: add the user to the dialout group: sudo usermod -aG dialout $USER "
                "(then log in again)",
                device=device,
            ) from exc
        if code == errno.EBUSY:
            raise DevicePermissionDenied(
                f"{port} is in use by another program (is the serial console enabled on it? raspi-config)",
                device=device,
            ) from exc
        raise DeviceNotFound(f"cannot open {port}: {exc}", device=device) from exc


class SerialScanner(BarcodeScanner):
    """A barcode scanner on a serial port (pyserial), one code per suffix-terminated line.

    ``aim_prefix=True`` when the scanner is programmed to send AIM code identifiers: the symbology is then
    known. ``port_handle`` lets a caller pass an already open pyserial-like port (``read``, ``close``).
    """

    def __init__(
        self,
        port: str,
        *,
        baud: int = 9600,
        suffix: Suffix = Suffix.CR,
        aim_prefix: bool = False,
        encoding: str = "utf-8",
        max_line_bytes: int = MAX_CODE_CHARS,
        partial_timeout_s: float = PARTIAL_CODE_TIMEOUT_S,
        queue_max: int = SCAN_QUEUE_MAX,
        clock: ScanClock | None = None,
        port_handle: Any = None,
    ) -> None:
        super().__init__(device=f"scanner {port}", clock=clock, queue_max=queue_max)
        self.port = port
        self.aim_prefix = aim_prefix
        self._framer = LineFramer(
            suffix,
            encoding=encoding,
            max_line_bytes=max_line_bytes,
            partial_timeout_s=partial_timeout_s,
            device=self.device,
        )
        self._serial = (
            port_handle
            if port_handle is not None
            else open_serial_port(port, baud, device=self.device, timeout_s=READ_POLL_S)
        )
        self._thread = threading.Thread(target=self._read_loop, name=f"scanner-{port}", daemon=True)
        self._thread.start()

    @property
    def source(self) -> ScanSource:
        return "serial"

    @property
    def dropped_lines(self) -> int:
        """Lines dropped: partial, over-long or undecodable."""
        return self._framer.dropped_lines

    def _read_loop(self) -> None:
        serial = _import_serial()
        while not self._closed.is_set():
            try:
                data: bytes = self._serial.read(READ_CHUNK_BYTES)
            except (serial.SerialException, OSError, TypeError) as exc:
                # pyserial raises TypeError when the port is closed under a blocked read.
                if self._closed.is_set():
                    return
                # The usual cause is a USB scanner unplugged (EIO): the port is gone, not garbled.
                self._fail(
                    DeviceNotFound(
                        f"reading {self.port} failed ({exc}); check the scanner's cable, then restart",
                        device=self.device,
                    )
                )
                return
            now_s = self._clock.monotonic()
            for code in self._framer.feed(data, now_s) if data else ():
                self._emit(code, aim_prefix=self.aim_prefix)
            self._framer.expire(now_s)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._thread.join(timeout=CLOSE_JOIN_S)
        self._serial.close()
