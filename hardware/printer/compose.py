"""Composing a ``Document`` line by line: text fitted to the paper, codes and images sized for it.

A layout (a shop's receipt, a label) says what goes on the paper; ``DocumentBuilder`` knows the paper: it
centres and wraps text to the profile's columns, spreads a label and a value across one line, picks a
scannable module size for a QR code or a CODE128 on this paper width, scales an image (a logo) to the
paper, and feeds past the cutter before a cut. It knows nothing of what the words mean.
"""

from __future__ import annotations

from PIL import Image, ImageOps

from hardware.printer.document import (
    MAX_IMAGE_HEIGHT_PX,
    Barcode,
    Block,
    Cut,
    Document,
    Feed,
    Qr,
    Raster,
    Text,
    pad,
    spread,
    wrap,
)
from hardware.printer.profile import PrinterProfile

#: Lines fed before a cut so the last printed line clears the cutter blade (about 15 mm on most printers).
FEED_BEFORE_CUT_LINES = 4

#: Paper at least this many dots wide (80 mm) gets the larger QR module; narrower paper the smaller one.
WIDE_PAPER_PX = 576

#: QR module size in dots on wide paper and on narrow paper (58 mm): both scan from a phone's camera.
QR_MODULE_PX_WIDE = 6
QR_MODULE_PX_NARROW = 5

#: Preferred CODE128 module width in dots (two dots per module scans best); one dot is the fallback.
CODE128_MODULE_PX = 2

#: Height of a CODE128 symbol in dots (8 mm at 203 dpi).
CODE128_HEIGHT_PX = 64


def code128_width_modules(data: str) -> int:
    """Modules a CODE128-B symbol of ``data`` takes, counted with room to spare for the quiet zones."""
    return (len(data) + 3) * 11 + 13


def fit_image(profile: PrinterProfile, image: Image.Image) -> Raster:
    """``image`` scaled to fit the paper and MAX_IMAGE_HEIGHT_PX, dithered to 1 bit and centred."""
    gray = image.convert("L")
    gray.thumbnail((profile.width_px, MAX_IMAGE_HEIGHT_PX), Image.Resampling.LANCZOS)
    canvas = Image.new("L", (profile.width_px, gray.height), 255)
    canvas.paste(gray, ((profile.width_px - gray.width) // 2, 0))
    return Raster(ImageOps.autocontrast(canvas).convert("1", dither=Image.Dither.FLOYDSTEINBERG))


class DocumentBuilder:
    """Blocks for one printer profile, appended in order; ``build`` returns the finished ``Document``."""

    def __init__(self, profile: PrinterProfile) -> None:
        self.profile = profile
        #: The paper's width in columns.
        self.width = profile.columns
        self._blocks: list[Block] = []

    def add(self, block: Block) -> None:
        """Append any block as it is (the caller has fitted it to the paper)."""
        self._blocks.append(block)

    def line(self, text: str, *, bold: bool = False, tall: bool = False) -> None:
        """One line of text as given: the caller fits it to ``width`` columns (``pad``, ``spread``)."""
        self._blocks.append(Text(text, bold=bold, tall=tall))

    def centred(self, text: str, *, bold: bool = False, tall: bool = False) -> None:
        """``text`` wrapped to the paper, each line centred."""
        for part in wrap(self.profile, text, self.width):
            self.line(pad(self.profile, part, self.width, "center").rstrip(), bold=bold, tall=tall)

    def pair(self, left: str, right: str, *, bold: bool = False, tall: bool = False) -> None:
        """``left`` at the left edge and ``right`` at the right edge of one line; ``left`` gives way."""
        self.line(spread(self.profile, left, right, self.width), bold=bold, tall=tall)

    def rule(self) -> None:
        """A dashed line across the paper."""
        self.line("-" * self.width)

    def qr(self, data: str) -> None:
        """A centred QR code of ``data`` at the module size that scans on this paper."""
        wide = self.profile.width_px >= WIDE_PAPER_PX
        self._blocks.append(Qr(data, module_px=QR_MODULE_PX_WIDE if wide else QR_MODULE_PX_NARROW))

    def code128(self, data: str) -> None:
        """A centred CODE128 of ``data``, two dots per module, or one when two would not fit the paper."""
        modules = code128_width_modules(data)
        module_px = CODE128_MODULE_PX if modules * CODE128_MODULE_PX <= self.profile.width_px else 1
        if modules * module_px > self.profile.width_px:
            raise ValueError(
                f"{data!r} is too long for a CODE128 on {self.profile.name} ({modules} modules, "
                f"{self.profile.width_px} dots): print it as a QR code or use wider paper"
            )
        self._blocks.append(Barcode(data, module_px=module_px, height_px=CODE128_HEIGHT_PX))

    def image(self, image: Image.Image) -> None:
        """``image`` (a logo) scaled to the paper, dithered and centred (see ``fit_image``)."""
        self._blocks.append(fit_image(self.profile, image))

    def build(self, *, cut: bool) -> Document:
        """The document so far; with ``cut``, fed past the cutter blade and cut."""
        blocks = list(self._blocks)
        if cut:
            blocks += [Feed(FEED_BEFORE_CUT_LINES), Cut()]
        return Document(self.profile, tuple(blocks))
