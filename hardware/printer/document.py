"""A laid-out print job: the blocks a receipt becomes before it becomes bytes or a preview.

An application lays what it prints out into a ``Document`` (``hardware.printer.compose`` helps, line by
line); ``hardware.printer.encode`` turns the document into ESC/POS bytes and ``hardware.printer.preview``
into plain text and a PNG. Text lines are already fitted to the paper, column exact (padding, alignment
and wrapping are done here, not by printer commands), so the three outputs cannot disagree about where a
character lands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from hardware.printer.profile import PrinterProfile

#: Longest text a QR block takes, in bytes. An id or a URL is under 100; the printer's own limit
#: is higher, but a larger code would not fit 58 mm paper at a scannable module size.
MAX_QR_BYTES = 256

#: Longest CODE128 content, in characters: at 2 dots per module, 24 characters already fill 58 mm paper.
MAX_BARCODE_CHARS = 24

#: Tallest image (logo) accepted, in dots: 30 mm of paper at 203 dpi.
MAX_IMAGE_HEIGHT_PX = 240


@dataclass(frozen=True, slots=True)
class Text:
    """One printed line, already fitted to the paper's columns. ``tall`` is double height, same width."""

    text: str
    bold: bool = False
    tall: bool = False


@dataclass(frozen=True, slots=True)
class Qr:
    """A QR code (error correction M), centred; ``module_px`` dots per module."""

    data: str
    module_px: int = 6

    def __post_init__(self) -> None:
        if not self.data or len(self.data.encode()) > MAX_QR_BYTES:
            raise ValueError(f"QR content must be 1 to {MAX_QR_BYTES} bytes")
        if not 1 <= self.module_px <= 16:
            raise ValueError("QR module_px must be 1 to 16")


@dataclass(frozen=True, slots=True)
class Barcode:
    """A CODE128 (code set B) barcode, centred, without the human-readable line (lay it out as ``Text``)."""

    data: str
    module_px: int = 2
    height_px: int = 80

    def __post_init__(self) -> None:
        if not 1 <= len(self.data) <= MAX_BARCODE_CHARS or not all(" " <= ch <= "~" for ch in self.data):
            raise ValueError(f"CODE128 content must be 1 to {MAX_BARCODE_CHARS} printable ASCII characters")
        if not 1 <= self.module_px <= 6 or not 1 <= self.height_px <= 255:
            raise ValueError("CODE128 module_px must be 1 to 6 and height_px 1 to 255")


@dataclass(frozen=True, slots=True, eq=False)
class Raster:
    """A 1-bit image exactly as wide as the paper (``width_px``), centred content; black is ink."""

    image: Image.Image

    def __post_init__(self) -> None:
        if self.image.mode != "1" or self.image.height > MAX_IMAGE_HEIGHT_PX:
            raise ValueError(f"raster images are mode '1' and at most {MAX_IMAGE_HEIGHT_PX} px tall")


@dataclass(frozen=True, slots=True)
class Feed:
    """Blank lines of paper."""

    lines: int = 1


@dataclass(frozen=True, slots=True)
class Cut:
    """Cut the paper (feed past the cutter first with a ``Feed``)."""


Block = Text | Qr | Barcode | Raster | Feed | Cut


@dataclass(frozen=True, slots=True)
class Document:
    """A print job laid out for one printer profile."""

    profile: PrinterProfile
    blocks: tuple[Block, ...] = field(default_factory=tuple)


def fit(profile: PrinterProfile, text: str, width: int, *, ellipsis: bool = False) -> str:
    """The longest start of printable ``text`` that takes at most ``width`` columns."""
    text = profile.printable(text)
    if profile.cells(text) <= width:
        return text
    marker = "." if ellipsis else ""
    room = width - len(marker)
    out = ""
    for ch in text:
        if profile.cells(out + ch) > room:
            break
        out += ch
    return out + marker


def wrap(profile: PrinterProfile, text: str, width: int) -> list[str]:
    """Printable ``text`` broken into lines of at most ``width`` columns, at spaces where possible."""
    text = profile.printable(text).strip()
    lines: list[str] = []
    while profile.cells(text) > width:
        # At least one character per line, even one wider than the column, so the loop always advances.
        head = fit(profile, text, width) or text[0]
        cut = head.rfind(" ")
        # Chinese has no spaces; a long unbroken word is split where it must be.
        if cut > 0 and (len(head) == len(text) or text[len(head)] != " "):
            head = head[:cut]
        lines.append(head.rstrip())
        text = text[len(head) :].lstrip()
    if text or not lines:
        lines.append(text)
    return lines


def pad(profile: PrinterProfile, text: str, width: int, align: str = "left") -> str:
    """``text`` fitted to ``width`` columns and padded with spaces: ``left``, ``right`` or ``center``."""
    text = fit(profile, text, width)
    room = width - profile.cells(text)
    if align == "right":
        return " " * room + text
    if align == "center":
        return " " * (room // 2) + text + " " * (room - room // 2)
    return text + " " * room


def spread(profile: PrinterProfile, left: str, right: str, width: int) -> str:
    """``left`` and ``right`` on one line of ``width`` columns; ``left`` is shortened, ``right`` never."""
    right = profile.printable(right)
    room = width - profile.cells(right) - 1
    return pad(profile, left, room) + " " + right if room > 0 else fit(profile, right, width)
