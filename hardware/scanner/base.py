"""The barcode scanner interface: a bounded stream of ``Scan`` values, whatever the transport.

A real scanner is a serial device (it sends each code followed by a suffix) or a USB HID keyboard wedge (it
types each code and presses Enter). Both drivers read on a thread of their own and hand finished codes to a
``ScanQueue``; the application calls ``BarcodeScanner.read(timeout_s=...)`` or iterates. Nothing here knows
what a code means (loyalty id, product, payment): classifying codes is the application's job.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal, Self

from hardware.errors import HardwareError

log = logging.getLogger(__name__)

#: Scans waiting for the application before the oldest is dropped. A person scans at most a few codes a
#: second; 64 pending scans means the application has stopped reading, and then stale codes are worth less
#: than fresh ones.
SCAN_QUEUE_MAX = 64

#: Longest code accepted, in characters (serial: bytes). A QR code holds at most 2,953 bytes; anything
#: longer is line noise or a scanner stuck in a loop.
MAX_CODE_CHARS = 4096

#: A code whose terminator has not arrived this long after its last character is dropped, never emitted:
#: a scanner sends a whole code in a few milliseconds, so a partial line means a cut cable or lost bytes.
PARTIAL_CODE_TIMEOUT_S = 0.5

#: Longest single wait inside ``read``: how quickly a dead reader or a ``close`` ends a pending read.
READ_SLICE_S = 0.1

ScanSource = Literal["serial", "hid"]


class Symbology(enum.StrEnum):
    """Barcode symbologies a scanner can report through its AIM code identifier prefix (``]Cm``)."""

    CODE_128 = "code128"
    GS1_128 = "gs1-128"
    CODE_39 = "code39"
    EAN_13 = "ean13"
    EAN_8 = "ean8"
    UPC_A = "upca"
    UPC_E = "upce"
    INTERLEAVED_2_OF_5 = "itf"
    QR = "qr"
    DATA_MATRIX = "datamatrix"
    PDF417 = "pdf417"


# AIM identifiers (ISO/IEC 15424): "]" + symbology character + modifier character. EAN/UPC share "E";
# the modifier and the code length tell them apart.
_AIM_BY_PREFIX: dict[str, Symbology] = {
    "]C0": Symbology.CODE_128,
    "]C1": Symbology.GS1_128,
    "]A0": Symbology.CODE_39,
    "]E4": Symbology.EAN_8,
    "]I0": Symbology.INTERLEAVED_2_OF_5,
    "]I1": Symbology.INTERLEAVED_2_OF_5,
    "]Q0": Symbology.QR,
    "]Q1": Symbology.QR,
    "]Q3": Symbology.QR,
    "]d1": Symbology.DATA_MATRIX,
    "]d2": Symbology.DATA_MATRIX,
    "]L0": Symbology.PDF417,
}

AIM_PREFIX_CHARS = 3


def split_aim_prefix(text: str) -> tuple[str, Symbology | None]:
    """Strip an AIM code identifier from the front of ``text``; return the code and its symbology.

    Text without a recognised prefix is returned unchanged with ``None``: the symbology is then unknown.
    """
    prefix = text[:AIM_PREFIX_CHARS]
    if len(prefix) < AIM_PREFIX_CHARS or prefix[0] != "]":
        return text, None
    code = text[AIM_PREFIX_CHARS:]
    if prefix == "]E0":
        # EAN-13 and UPC-A share "]E0"; a UPC-A is sent as a 13-digit EAN with a leading 0 by most scanners.
        return code, Symbology.EAN_13 if len(code) == 13 else Symbology.UPC_A if len(code) == 12 else None
    if prefix == "]E1":
        return code, Symbology.UPC_E
    symbology = _AIM_BY_PREFIX.get(prefix)
    return (code, symbology) if symbology is not None else (text, None)


@dataclass(frozen=True, slots=True)
class Scan:
    """One code read by a scanner.

    ``monotonic_s`` orders scans and measures intervals (``time.monotonic``); ``scanned_at`` is the wall
    clock in UTC, for people and logs.
    """

    code: str
    symbology: Symbology | None
    source: ScanSource
    monotonic_s: float
    scanned_at: datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ScanClock:
    """Where a scanner reads its two times from; tests pass fixed clocks."""

    monotonic: Callable[[], float]
    wall: Callable[[], datetime] = field(default=_utc_now)


class ScanQueue:
    """A bounded queue of scans between a reader thread and the application.

    When full, the oldest scan is dropped (and logged): a backlog means nobody is reading, and the most
    recent scan is the one the cashier is looking at.
    """

    def __init__(self, maxsize: int = SCAN_QUEUE_MAX, *, device: str = "scanner") -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self._queue: queue.Queue[Scan] = queue.Queue(maxsize)
        self._lock = threading.Lock()
        self._device = device
        self.dropped = 0

    def put(self, scan: Scan) -> None:
        with self._lock:
            while True:
                try:
                    self._queue.put_nowait(scan)
                except queue.Full:
                    try:
                        stale = self._queue.get_nowait()
                    except queue.Empty:
                        continue
                    self.dropped += 1
                    log.warning("%s: scan queue full, dropped the oldest scan %r", self._device, stale.code)
                else:
                    return

    def get(self, timeout_s: float | None) -> Scan | None:
        try:
            return self._queue.get(timeout=timeout_s) if timeout_s != 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def __len__(self) -> int:
        return self._queue.qsize()


class BarcodeScanner(ABC):
    """A source of scans. Subclasses start a reader that calls ``_emit`` for each finished code.

    ``read`` returns the next scan, or ``None`` when none arrives within ``timeout_s``; if the reader has
    died (cable pulled), ``read`` raises the ``HardwareError`` that stopped it. Close the scanner (or use it
    as a context manager) to stop the reader and release the device.
    """

    #: The device name used in errors and logs ("scanner /dev/ttyACM0").
    device: str

    def __init__(self, *, device: str, clock: ScanClock | None = None, queue_max: int = SCAN_QUEUE_MAX) -> None:
        self.device = device
        self._clock = clock if clock is not None else ScanClock(time.monotonic)
        self._scans = ScanQueue(queue_max, device=device)
        self._failure: HardwareError | None = None
        self._closed = threading.Event()

    @property
    @abstractmethod
    def source(self) -> ScanSource:
        """The transport this scanner reads from."""

    def read(self, timeout_s: float | None = None) -> Scan | None:
        """The next scan; ``None`` after ``timeout_s`` seconds without one (``None`` waits until closed).

        Waits in slices of ``READ_SLICE_S`` so that a reader that dies, or a ``close`` from another thread,
        ends the wait promptly instead of at the timeout.
        """
        deadline_s = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            scan = self._scans.get(0)
            if scan is not None:
                return scan
            if self._failure is not None:
                raise self._failure
            if self._closed.is_set():
                return None
            remaining_s = READ_SLICE_S if deadline_s is None else deadline_s - time.monotonic()
            if remaining_s <= 0:
                return None
            scan = self._scans.get(min(remaining_s, READ_SLICE_S))
            if scan is not None:
                return scan

    def __iter__(self) -> Iterator[Scan]:
        """Scans until the scanner is closed."""
        while not self._closed.is_set():
            scan = self.read(timeout_s=0.1)
            if scan is not None:
                yield scan

    @property
    def dropped_scans(self) -> int:
        """Scans dropped because the queue was full."""
        return self._scans.dropped

    def _emit(self, text: str, *, aim_prefix: bool) -> Scan:
        code, symbology = split_aim_prefix(text) if aim_prefix else (text, None)
        scan = Scan(code, symbology, self.source, self._clock.monotonic(), self._clock.wall())
        self._scans.put(scan)
        return scan

    def _fail(self, error: HardwareError) -> None:
        log.error("%s: reader stopped: %s", self.device, error)
        self._failure = error

    @abstractmethod
    def close(self) -> None:
        """Stop reading and release the device. Idempotent."""

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
