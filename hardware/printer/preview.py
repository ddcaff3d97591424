"""Previews of a laid-out ``Document``: the paper as plain text, and as a PNG at the printer's resolution.

Both walk the same ``Document`` the ESC/POS encoder walks, so a preview shows what the printer prints.
The text view is column exact (one character per column, a Chinese character in two) and shows codes and
images as a bracketed note; the PNG is one pixel per printer dot, text drawn cell by cell in a monospace
font (DejaVu Sans Mono, WenQuanYi Zen Hei for Chinese) and codes drawn from the same module patterns.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from hardware.printer.codes import barcode_image, qr_image
from hardware.printer.document import Barcode, Cut, Document, Feed, Qr, Raster, Text, pad
from hardware.printer.profile import CELL_HEIGHT_PX, CELL_WIDTH_PX

MONO_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
MONO_BOLD_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf")
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")

#: Margin drawn around the paper in the PNG, in pixels.
PNG_MARGIN_PX = 8


def render_text(document: Document) -> str:
    """The paper as text: one line per printed line, trailing spaces removed, ending with a newline."""
    profile = document.profile
    lines: list[str] = []
    for block in document.blocks:
        if isinstance(block, Text):
            lines.append(block.text.rstrip())
        elif isinstance(block, Qr):
            lines.append(pad(profile, f"[QR {block.data}]", profile.columns, "center").rstrip())
        elif isinstance(block, Barcode):
            lines.append(pad(profile, f"[CODE128 {block.data}]", profile.columns, "center").rstrip())
        elif isinstance(block, Raster):
            note = f"[image {block.image.width}x{block.image.height}]"
            lines.append(pad(profile, note, profile.columns, "center").rstrip())
        elif isinstance(block, Feed):
            lines.extend([""] * block.lines)
        elif isinstance(block, Cut):
            lines.append(" cut ".center(profile.columns, "-"))
    return "\n".join(lines) + "\n"


@cache
def _font(path: Path, size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size_px)


def _text_image(document: Document, block: Text) -> Image.Image:
    profile = document.profile
    line = Image.new("1", (profile.width_px, CELL_HEIGHT_PX), 1)
    draw = ImageDraw.Draw(line)
    latin = _font(MONO_BOLD_FONT if block.bold else MONO_FONT, 20)
    cjk = _font(CJK_FONT, 22)
    x = 0
    for ch in block.text:
        cells = profile.cells(ch)
        if ch != " ":
            font = cjk if cells == 2 else latin
            # Centre the glyph in its cell(s) so a proportional fallback glyph cannot shift the columns.
            width = draw.textlength(ch, font=font)
            left = x + (cells * CELL_WIDTH_PX - width) / 2
            draw.text((left, CELL_HEIGHT_PX - 4), ch, font=font, fill=0, anchor="ls")
            if block.bold and cells == 2:
                draw.text((left + 1, CELL_HEIGHT_PX - 4), ch, font=font, fill=0, anchor="ls")
        x += cells * CELL_WIDTH_PX
    if block.tall:
        return line.resize((line.width, line.height * 2), Image.Resampling.NEAREST)
    return line


def _centred(width_px: int, image: Image.Image) -> Image.Image:
    canvas = Image.new("1", (width_px, image.height + CELL_HEIGHT_PX // 2), 1)
    canvas.paste(image, ((width_px - image.width) // 2, CELL_HEIGHT_PX // 4))
    return canvas


def render_png(document: Document) -> Image.Image:
    """The paper as a 1-bit image, one pixel per printer dot, with a margin and the cut drawn."""
    width = document.profile.width_px
    strips: list[Image.Image] = []
    for block in document.blocks:
        if isinstance(block, Text):
            strips.append(_text_image(document, block))
        elif isinstance(block, Qr):
            strips.append(_centred(width, qr_image(block.data, block.module_px)))
        elif isinstance(block, Barcode):
            strips.append(_centred(width, barcode_image(block.data, block.module_px, block.height_px)))
        elif isinstance(block, Raster):
            strips.append(block.image)
        elif isinstance(block, Feed):
            strips.append(Image.new("1", (width, CELL_HEIGHT_PX * block.lines), 1))
        elif isinstance(block, Cut):
            cut = Image.new("1", (width, 3), 1)
            ImageDraw.Draw(cut).line([(0, 1), (width, 1)], fill=0, width=1)
            for x in range(0, width, 8):
                ImageDraw.Draw(cut).line([(x + 4, 1), (x + 8, 1)], fill=1)
            strips.append(cut)
    height = sum(strip.height for strip in strips)
    paper = Image.new("1", (width + 2 * PNG_MARGIN_PX, height + 2 * PNG_MARGIN_PX), 1)
    y = PNG_MARGIN_PX
    for strip in strips:
        paper.paste(strip, (PNG_MARGIN_PX, y))
        y += strip.height
    return paper
