"""What the counter display shows: a ``Screen`` value, and its rendering to a 1-bit image with PIL.

A screen has one large line (a total, a greeting), up to three short lines, and optionally an icon beside
the large line or a QR code on the right. ``render_screen`` lays it out for a panel size (128x64 by
default): the large line shrinks from 24 to 16 px to fit and is then cut with an ellipsis, as are the short
lines. One font, WenQuanYi Zen Hei, covers Latin, Spanish and Chinese, so a line never mixes fonts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")

#: Most short lines under the large line: three 13 px rows fill a 64 px panel below the 24 px band.
MAX_SHORT_LINES = 3

#: Longest text accepted per line, in characters; more could never show on a 128 px panel anyway.
MAX_LINE_CHARS = 200

#: Longest QR content, in bytes: version 3 (29 modules) at 2 px per module is the largest that fits 64 px.
MAX_QR_BYTES = 40
MAX_CACHED_QR = 64
"""QR codes kept ready to draw (the loyalty and payment codes of the sales in progress)."""

#: Sizes tried for the large line, largest first, in pixels.
LARGE_SIZES_PX = (24, 20, 16)
SMALL_SIZE_PX = 12
LARGE_BAND_PX = 24
SMALL_PITCH_PX = 13
ICON_PX = 20
ELLIPSIS = "…"


class Icon(enum.StrEnum):
    """Icons drawn beside the large line."""

    CHECK = "check"
    CROSS = "cross"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Screen:
    """One screenful: a large line, up to three short lines, an optional icon and an optional QR code."""

    large: str = ""
    lines: tuple[str, ...] = ()
    icon: Icon | None = None
    qr: str | None = None

    def __post_init__(self) -> None:
        if len(self.lines) > MAX_SHORT_LINES:
            raise ValueError(f"a screen has at most {MAX_SHORT_LINES} short lines, got {len(self.lines)}")
        if any(len(text) > MAX_LINE_CHARS for text in (self.large, *self.lines)):
            raise ValueError(f"screen lines are at most {MAX_LINE_CHARS} characters")
        if self.qr is not None and not 0 < len(self.qr.encode()) <= MAX_QR_BYTES:
            raise ValueError(f"screen QR content must be 1 to {MAX_QR_BYTES} bytes")


@cache
def _font(size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT), size_px)


def truncate(text: str, font: ImageFont.FreeTypeFont, width_px: int) -> str:
    """``text``, or its longest start followed by an ellipsis, that fits ``width_px``."""
    if font.getlength(text) <= width_px:
        return text
    while text and font.getlength(text + ELLIPSIS) > width_px:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def large_size_px(text: str, width_px: int) -> int:
    """The largest of ``LARGE_SIZES_PX`` at which ``text`` fits ``width_px``, else the smallest."""
    return next((size for size in LARGE_SIZES_PX if _font(size).getlength(text) <= width_px), LARGE_SIZES_PX[-1])


def _draw_icon(draw: ImageDraw.ImageDraw, icon: Icon, x: int, y: int) -> None:
    s = ICON_PX - 1
    if icon is Icon.CHECK:
        draw.line([(x + 2, y + s // 2), (x + s // 3 + 1, y + s - 3), (x + s - 1, y + 3)], fill=1, width=3)
    elif icon is Icon.CROSS:
        draw.line([(x + 3, y + 3), (x + s - 3, y + s - 3)], fill=1, width=3)
        draw.line([(x + 3, y + s - 3), (x + s - 3, y + 3)], fill=1, width=3)
    else:
        draw.polygon([(x + s // 2, y + 1), (x + s, y + s), (x, y + s)], outline=1, fill=1)
        draw.rectangle([x + s // 2 - 1, y + 7, x + s // 2 + 1, y + s - 6], fill=0)
        draw.rectangle([x + s // 2 - 1, y + s - 4, x + s // 2 + 1, y + s - 2], fill=0)


@lru_cache(maxsize=MAX_CACHED_QR)
def _qr_matrix(data: str) -> tuple[tuple[bool, ...], ...]:
    # Cached: the same loyalty or payment QR is drawn on every screen of a sale, and making one costs ms.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(data.encode())
    code.make(fit=True)
    return tuple(tuple(bool(cell) for cell in row) for row in code.get_matrix())


def _draw_qr(image: Image.Image, data: str) -> int:
    """Draw the QR code at the right edge, vertically centred; return its width in pixels."""
    matrix = _qr_matrix(data)
    scale = max(1, min(3, image.height // len(matrix)))
    size = len(matrix) * scale
    left, top = image.width - size, (image.height - size) // 2
    draw = ImageDraw.Draw(image)
    # Lit background with dark modules: a QR code needs dark-on-light to scan, even on an OLED.
    draw.rectangle([left - 2, 0, image.width - 1, image.height - 1], fill=1)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                draw.rectangle(
                    [left + x * scale, top + y * scale, left + (x + 1) * scale - 1, top + (y + 1) * scale - 1], fill=0
                )
    return size + 2


def render_screen(screen: Screen, width_px: int = 128, height_px: int = 64) -> Image.Image:
    """``screen`` as a 1-bit image of the panel's size: lit pixels are 1."""
    image = Image.new("1", (width_px, height_px), 0)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"  # no anti-aliasing: a 1-bit panel would threshold it into ragged edges
    text_width = width_px - (_draw_qr(image, screen.qr) + 2 if screen.qr else 0)
    x = 0
    if screen.icon is not None:
        _draw_icon(draw, screen.icon, 0, (LARGE_BAND_PX - ICON_PX) // 2)
        x = ICON_PX + 3
    if screen.large:
        room = text_width - x
        font = _font(large_size_px(screen.large, room))
        draw.text((x, LARGE_BAND_PX // 2), truncate(screen.large, font, room), font=font, fill=1, anchor="lm")
    small = _font(SMALL_SIZE_PX)
    top = LARGE_BAND_PX if screen.large or screen.icon else 0
    for i, text in enumerate(screen.lines):
        draw.text((0, top + i * SMALL_PITCH_PX), truncate(text, small, text_width), font=small, fill=1)
    return image
