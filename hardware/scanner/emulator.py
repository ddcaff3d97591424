"""A serial barcode scanner emulator on a pseudo-terminal, and a simulated scanner built on it.

``SerialScannerEmulator`` opens a pty pair: the driver opens the slave side (``emulator.port``, a real
``/dev/pts/N`` path) exactly as it would open ``/dev/ttyACM0``, and ``scan(code)`` writes the code and the
configured suffix to the master side, the way a scanner does when the trigger is pulled. ``type_bytes``
writes raw bytes, for partial lines and noise. ``SimulatedScanner`` is the real ``SerialScanner`` driver
reading from its own emulator: a scanner that can be made to scan.
"""

from __future__ import annotations

import os
import pty
import termios
import tty
from types import TracebackType
from typing import Self

from hardware.scanner.base import MAX_CODE_CHARS, PARTIAL_CODE_TIMEOUT_S, SCAN_QUEUE_MAX, ScanClock
from hardware.scanner.serial_scanner import SerialScanner, Suffix


class SerialScannerEmulator:
    """A serial scanner behind a pseudo-terminal: what the driver opens is ``port``."""

    def __init__(self, *, suffix: Suffix = Suffix.CR, aim_prefix: str = "") -> None:
        self.suffix = suffix
        #: Sent before every code, as a scanner programmed with AIM identifiers does (e.g. "]E0").
        self.aim_prefix = aim_prefix
        self._master_fd, self._slave_fd = pty.openpty()
        # Raw mode: no echo, no CR/LF translation, so the driver sees exactly the bytes a scanner sends.
        tty.setraw(self._slave_fd, termios.TCSANOW)
        self.port = os.ttyname(self._slave_fd)
        self._closed = False

    def scan(self, code: str, *, aim_prefix: str | None = None, encoding: str = "utf-8") -> None:
        """Send one code and its suffix, as if the trigger were pulled over a barcode."""
        prefix = self.aim_prefix if aim_prefix is None else aim_prefix
        self.type_bytes((prefix + code).encode(encoding) + self.suffix.value)

    def type_bytes(self, data: bytes) -> None:
        """Send raw bytes: a partial code, line noise, a wrong suffix."""
        if self._closed:
            raise ValueError("emulator is closed")
        view = memoryview(data)
        while view:
            written = os.write(self._master_fd, view)
            view = view[written:]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        os.close(self._master_fd)
        os.close(self._slave_fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SimulatedScanner(SerialScanner):
    """The serial driver reading from a private emulator; ``scan(code)`` makes it scan."""

    def __init__(
        self,
        *,
        suffix: Suffix = Suffix.CR,
        max_line_bytes: int = MAX_CODE_CHARS,
        partial_timeout_s: float = PARTIAL_CODE_TIMEOUT_S,
        queue_max: int = SCAN_QUEUE_MAX,
        clock: ScanClock | None = None,
    ) -> None:
        self.emulator = SerialScannerEmulator(suffix=suffix)
        try:
            super().__init__(
                self.emulator.port,
                suffix=suffix,
                max_line_bytes=max_line_bytes,
                partial_timeout_s=partial_timeout_s,
                queue_max=queue_max,
                clock=clock,
            )
        except BaseException:
            self.emulator.close()
            raise

    def scan(self, code: str) -> None:
        """Scan ``code``: it arrives through the pty and the serial driver like a real one."""
        self.emulator.scan(code)

    def close(self) -> None:
        super().close()
        self.emulator.close()
