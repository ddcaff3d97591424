"""The receipt printer interface: bytes out, and real-time status where the connection carries answers back.

A backend implements ``write(data)`` (send bytes, as python-escpos's ``_raw``) and, when its connection has
a back channel, ``_read_answer(timeout_s)``; status queries, job checks and chunking live here, once. What
the bytes mean is decided above this interface: the application lays a job out as a ``Document``
(``hardware.printer.document``, ``.compose``) and ``hardware.printer.encode`` turns it into bytes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from hardware.errors import DeviceFault, DeviceTimeout
from hardware.printer.status import STATUS_REQUESTS, PaperLevel, PrinterStatus, status_request

#: Largest print job accepted, in bytes. A long receipt with a logo is about 40 KB; a job a hundred times
#: larger is a bug (an image at the wrong size, a loop), and a printer would spend minutes on it.
MAX_JOB_BYTES = 4 * 1024 * 1024

#: A job is sent in pieces of at most this many bytes, so that a write timeout bounds each piece rather
#: than the whole job, and a small printer input buffer (4 KB on many 58 mm printers) is never overrun
#: faster than flow control can stop it.
WRITE_CHUNK_BYTES = 4096

#: How long a printer has to answer one ``DLE EOT n`` request. Real printers answer within milliseconds,
#: even while busy; half a second covers a slow serial line at 9600 baud.
STATUS_TIMEOUT_S = 0.5


class Printer(ABC):
    """A receipt printer: bytes out, ``PrinterStatus`` back where the printer reports it.

    A backend must override ``write`` and ``close``. It may override ``_read_answer`` when its connection
    carries bytes back (USB, serial, network); without it ``status()`` returns ``None``.
    """

    #: The device name used in error messages ("printer usb 04b8:0202", "printer /dev/ttyUSB0").
    device_name: str = "printer"

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Send ``data`` to the printer as is."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection; safe to call twice."""

    @property
    def reports_status(self) -> bool:
        """True when this connection carries status answers back from the printer."""
        return False

    def _read_answer(self, timeout_s: float) -> bytes:
        """Read what the printer sent back, waiting at most ``timeout_s``; ``b""`` when nothing came."""
        raise NotImplementedError(f"{type(self).__name__} has no back channel")

    def status(self, *, timeout_s: float = STATUS_TIMEOUT_S) -> PrinterStatus | None:
        """Ask the printer for its real-time status; ``None`` when the connection cannot carry the answer."""
        if not self.reports_status:
            return None
        answers = bytearray()
        for n in STATUS_REQUESTS:
            self.write(status_request(n))
            answer = self._read_answer(timeout_s)
            if not answer:
                raise DeviceTimeout(
                    f"no answer to status request DLE EOT {n} within {timeout_s} s: check that the printer is "
                    "switched on and that the cable is plugged in",
                    device=self.device_name,
                )
            # Only the last byte answers this request: anything before it was sent unasked.
            answers.append(answer[-1])
        return PrinterStatus.from_bytes(bytes(answers), device=self.device_name)

    def print_job(self, data: bytes, *, check_status: bool = True) -> None:
        """Send a whole job; when the printer reports status, refuse to send while it cannot print.

        Raises ``DeviceFault`` (code ``paper_out``, ``cover_open`` or ``printer_error``) with what to do.
        """
        if len(data) > MAX_JOB_BYTES:
            raise ValueError(f"print job of {len(data)} bytes exceeds MAX_JOB_BYTES ({MAX_JOB_BYTES})")
        if check_status:
            current = self.status()
            if current is not None and not current.ready:
                raise DeviceFault(current.problem(), device=self.device_name, code=_fault_code(current))
        for start in range(0, len(data), WRITE_CHUNK_BYTES):
            self.write(data[start : start + WRITE_CHUNK_BYTES])

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _fault_code(status: PrinterStatus) -> str:
    if status.paper is PaperLevel.OUT:
        return "paper_out"
    if status.cover_open:
        return "cover_open"
    if status.error:
        return "printer_error"
    return "printer_offline"
