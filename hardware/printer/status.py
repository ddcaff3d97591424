"""What an ESC/POS printer says about itself: the real-time status bytes of ``DLE EOT n``, decoded.

``DLE EOT n`` (``10 04 n``) is executed by the printer as soon as it arrives, even while it is busy or
offline, and answers one byte. Every answer byte has bit 1 and bit 4 set and bits 0 and 7 clear; a byte
that does not is not a status answer (a stray automatic status report, noise) and is refused. The bits:

- ``n = 1`` printer status: bit 3 = offline.
- ``n = 2`` offline cause: bit 2 = cover open, bit 3 = paper being fed by the button, bit 5 = printing
  stopped at paper end, bit 6 = an error occurred.
- ``n = 3`` error cause: bit 3 = auto-cutter error, bit 5 = unrecoverable error, bit 6 = auto-recoverable
  error (head too hot and the like).
- ``n = 4`` roll paper sensor: bits 2-3 = paper near its end, bits 5-6 = paper out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hardware.errors import DeviceProtocolError

DLE_EOT = b"\x10\x04"

#: The four real-time status requests, in the order ``PrinterStatus.from_bytes`` expects their answers.
STATUS_PRINTER = 1
STATUS_OFFLINE_CAUSE = 2
STATUS_ERROR_CAUSE = 3
STATUS_PAPER = 4
STATUS_REQUESTS: tuple[int, ...] = (STATUS_PRINTER, STATUS_OFFLINE_CAUSE, STATUS_ERROR_CAUSE, STATUS_PAPER)

#: Bits every status answer has set (bit 1, bit 4) and bits it must have clear (bit 0, bit 7).
_FIXED_MASK = 0b1001_0011
_FIXED_VALUE = 0b0001_0010


def status_request(n: int) -> bytes:
    """The bytes that ask for real-time status ``n`` (1 to 4)."""
    if n not in STATUS_REQUESTS:
        raise ValueError(f"DLE EOT n: n must be one of {STATUS_REQUESTS}, got {n}")
    return DLE_EOT + bytes([n])


def is_status_byte(value: int) -> bool:
    """True when ``value`` has the fixed bits every ``DLE EOT`` answer has."""
    return value & _FIXED_MASK == _FIXED_VALUE


class PaperLevel(enum.StrEnum):
    """What the roll paper sensors say."""

    OK = "ok"
    NEAR_END = "near_end"
    OUT = "out"


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """A printer's real-time status, decoded from the answers to ``DLE EOT 1..4``."""

    online: bool
    paper: PaperLevel
    cover_open: bool
    cutter_error: bool
    unrecoverable_error: bool
    recoverable_error: bool

    @property
    def error(self) -> bool:
        """Any error condition the printer reports."""
        return self.cutter_error or self.unrecoverable_error or self.recoverable_error

    @property
    def ready(self) -> bool:
        """The printer can print now: online, paper in, cover closed, no error."""
        return self.online and self.paper is not PaperLevel.OUT and not self.cover_open and not self.error

    def problem(self) -> str:
        """What a person at the counter must do before printing, or "" when the printer is ready."""
        if self.paper is PaperLevel.OUT:
            return "paper out: load a new paper roll and close the cover"
        if self.cover_open:
            return "cover open: close the printer cover"
        if self.cutter_error:
            return "auto-cutter error: open the cover, remove jammed paper, close the cover"
        if self.unrecoverable_error:
            return "unrecoverable printer error: switch the printer off and on again"
        if self.recoverable_error:
            return "printer error (head too hot?): wait a minute and try again"
        if not self.online:
            return "printer offline: check that it is switched on and the cover is closed"
        return ""

    def to_bytes(self) -> bytes:
        """The four answer bytes a printer in this state sends to ``DLE EOT 1``, ``2``, ``3`` and ``4``."""
        printer = _FIXED_VALUE | (0 if self.online else 0x08)
        offline = _FIXED_VALUE
        offline |= 0x04 if self.cover_open else 0
        offline |= 0x20 if self.paper is PaperLevel.OUT else 0
        offline |= 0x40 if self.error else 0
        errors = _FIXED_VALUE
        errors |= 0x08 if self.cutter_error else 0
        errors |= 0x20 if self.unrecoverable_error else 0
        errors |= 0x40 if self.recoverable_error else 0
        paper = _FIXED_VALUE
        if self.paper is not PaperLevel.OK:
            paper |= 0x0C
        if self.paper is PaperLevel.OUT:
            paper |= 0x60
        return bytes([printer, offline, errors, paper])

    @classmethod
    def from_bytes(cls, answers: bytes, *, device: str = "printer") -> PrinterStatus:
        """Decode the answers to ``DLE EOT 1``, ``2``, ``3`` and ``4``, in that order."""
        if len(answers) != len(STATUS_REQUESTS):
            raise DeviceProtocolError(
                f"expected {len(STATUS_REQUESTS)} status bytes, got {answers.hex(' ') or 'none'}", device=device
            )
        for n, value in zip(STATUS_REQUESTS, answers, strict=True):
            if not is_status_byte(value):
                raise DeviceProtocolError(
                    f"answer 0x{value:02X} to DLE EOT {n} is not a status byte "
                    "(is automatic status back, ASB, switched on?)",
                    device=device,
                )
        printer, offline, errors, paper_bits = answers
        if paper_bits & 0x60:
            paper = PaperLevel.OUT
        elif paper_bits & 0x0C:
            paper = PaperLevel.NEAR_END
        else:
            paper = PaperLevel.OK
        return cls(
            online=not printer & 0x08,
            # Some printers only set the paper-end stop bit in the offline cause, not in the roll sensor.
            paper=PaperLevel.OUT if offline & 0x20 else paper,
            cover_open=bool(offline & 0x04),
            cutter_error=bool(errors & 0x08),
            unrecoverable_error=bool(errors & 0x20),
            recoverable_error=bool(errors & 0x40),
        )


#: A printer with nothing to report.
READY = PrinterStatus(
    online=True,
    paper=PaperLevel.OK,
    cover_open=False,
    cutter_error=False,
    unrecoverable_error=False,
    recoverable_error=False,
)
