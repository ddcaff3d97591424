"""ESC/POS bytes for a laid-out ``Document``.

The job starts with ``ESC @`` (reset), then selects the text mode once: ``ESC t n`` with the profile's code
page, or ``FS &`` for Chinese mode (left again with ``FS .`` at the end of the job, so the next job starts
from a known state). Styles are sent only when they change: ``ESC E n`` bold, ``GS ! n`` double height.
Text lines are already column exact, so no alignment command is sent for them; codes are centred with
``ESC a 1``. Raster images go out as ``GS v 0``.
"""

from __future__ import annotations

from PIL import Image, ImageOps

from hardware.printer.codes import barcode_image, qr_image
from hardware.printer.document import Barcode, Block, Cut, Document, Feed, Qr, Raster, Text
from hardware.printer.profile import PrinterProfile, TextMode

ESC = b"\x1b"
GS = b"\x1d"
FS = b"\x1c"
LF = b"\n"

INIT = ESC + b"@"
CHINESE_ON = FS + b"&"
CHINESE_OFF = FS + b"."
ALIGN_LEFT = ESC + b"a\x00"
ALIGN_CENTER = ESC + b"a\x01"


def select_code_page(n: int) -> bytes:
    return ESC + b"t" + bytes([n])


def bold(on: bool) -> bytes:
    return ESC + b"E" + (b"\x01" if on else b"\x00")


def tall(on: bool) -> bytes:
    return GS + b"!" + (b"\x01" if on else b"\x00")


def feed(lines: int) -> bytes:
    return ESC + b"d" + bytes([max(0, min(lines, 255))])


def cut(partial: bool) -> bytes:
    return GS + b"V" + (b"\x01" if partial else b"\x00")


def qr(data: str, module_px: int) -> bytes:
    """``GS ( k``: QR model 2, module size, error correction M, store, print."""
    payload = data.encode()

    def fn(body: bytes) -> bytes:
        size = len(body) + 1  # pL pH count cn (49), fn and the parameters
        return GS + b"(k" + bytes([size & 0xFF, size >> 8, 49]) + body

    return (
        fn(b"\x41\x32\x00")  # function 165: model 2
        + fn(b"\x43" + bytes([module_px]))  # function 167: module size in dots
        + fn(b"\x45\x31")  # function 169: error correction M
        + fn(b"\x50\x30" + payload)  # function 180: store the data
        + fn(b"\x51\x30")  # function 181: print
    )


def code128(data: str, module_px: int, height_px: int) -> bytes:
    """``GS k 73``: CODE128 in code set B, no human-readable line (the layout prints it as text)."""
    body = b"{B" + data.replace("{", "{{").encode("ascii")
    return (
        GS
        + b"h"
        + bytes([height_px])
        + GS
        + b"w"
        + bytes([module_px])
        + GS
        + b"H\x00"
        + GS
        + b"k\x49"
        + bytes([len(body)])
        + body
    )


def raster(image: Image.Image) -> bytes:
    """``GS v 0``: a 1-bit image, black (0 in PIL mode '1') printed, width padded to whole bytes."""
    width_bytes = (image.width + 7) // 8
    padded = Image.new("1", (width_bytes * 8, image.height), 1)
    padded.paste(image, (0, 0))
    # PIL packs mode '1' as 1 = white; ESC/POS wants 1 = ink.
    data = ImageOps.invert(padded.convert("L")).convert("1").tobytes()
    return GS + b"v0\x00" + bytes([width_bytes & 0xFF, width_bytes >> 8, image.height & 0xFF, image.height >> 8]) + data


def _start(profile: PrinterProfile) -> bytes:
    if profile.text_mode is TextMode.CHINESE:
        return INIT + CHINESE_ON
    return INIT + select_code_page(profile.code_page_number())


def _block(profile: PrinterProfile, block: Block, style: list[bool]) -> bytes:
    out = b""
    if isinstance(block, Text):
        if block.bold != style[0]:
            out += bold(block.bold)
            style[0] = block.bold
        if block.tall != style[1]:
            out += tall(block.tall)
            style[1] = block.tall
        return out + profile.encode(block.text.rstrip()) + LF
    if isinstance(block, Qr):
        if profile.native_qr:
            return ALIGN_CENTER + qr(block.data, block.module_px) + LF + ALIGN_LEFT
        return raster(_centred(profile, qr_image(block.data, block.module_px)))
    if isinstance(block, Barcode):
        if profile.native_barcode:
            return ALIGN_CENTER + code128(block.data, block.module_px, block.height_px) + LF + ALIGN_LEFT
        return raster(_centred(profile, barcode_image(block.data, block.module_px, block.height_px)))
    if isinstance(block, Raster):
        return raster(block.image)
    if isinstance(block, Feed):
        return feed(block.lines)
    if isinstance(block, Cut):
        return cut(profile.partial_cut)
    raise TypeError(f"not a document block: {block!r}")


def _centred(profile: PrinterProfile, image: Image.Image) -> Image.Image:
    canvas = Image.new("1", (profile.width_px, image.height), 1)
    canvas.paste(image, ((profile.width_px - image.width) // 2, 0))
    return canvas


def encode(document: Document) -> bytes:
    """The ESC/POS bytes that print ``document`` on a printer with its profile."""
    profile = document.profile
    style = [False, False]  # bold, tall
    out = bytearray(_start(profile))
    for block in document.blocks:
        out += _block(profile, block, style)
    if style[0]:
        out += bold(False)
    if style[1]:
        out += tall(False)
    if profile.text_mode is TextMode.CHINESE:
        out += CHINESE_OFF
    return bytes(out)
