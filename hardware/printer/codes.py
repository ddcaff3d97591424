"""QR and CODE128 symbols as module patterns, shared by the raster fallback and the PNG preview.

The printer draws native codes itself (``GS ( k``, ``GS k``); a printer without them gets the same
patterns as a raster image, and the preview draws them too, so all three show the same symbol.
"""

from __future__ import annotations

import qrcode
from barcode.charsets import code128 as _c128
from PIL import Image

_START_B = 104
_STOP: str = _c128.STOP + "11"  # the stop pattern ends with a two-module termination bar


def qr_matrix(data: str) -> list[list[bool]]:
    """QR modules (True is dark), error correction M, smallest version that fits, no quiet zone."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(data.encode())
    code.make(fit=True)
    return [[bool(cell) for cell in row] for row in code.get_matrix()]


def code128b_modules(data: str) -> str:
    """CODE128 in code set B as a string of modules, ``1`` a bar and ``0`` a space, quiet zones excluded."""
    values = [_START_B] + [_c128.B[ch] for ch in data]
    checksum = (values[0] + sum(i * v for i, v in enumerate(values[1:], start=1))) % 103
    patterns: tuple[str, ...] = _c128.CODES
    return "".join(patterns[v] for v in [*values, checksum]) + _STOP


def qr_image(data: str, module_px: int) -> Image.Image:
    """The QR code drawn at ``module_px`` dots per module, mode '1', white is 1."""
    matrix = qr_matrix(data)
    size = len(matrix)
    image = Image.new("1", (size, size), 1)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                image.putpixel((x, y), 0)
    return image.resize((size * module_px, size * module_px), Image.Resampling.NEAREST)


def barcode_image(data: str, module_px: int, height_px: int) -> Image.Image:
    """The CODE128-B bars drawn at ``module_px`` dots per module and ``height_px`` tall, mode '1'."""
    modules = code128b_modules(data)
    image = Image.new("1", (len(modules) * module_px, height_px), 1)
    for i, bit in enumerate(modules):
        if bit == "1":
            image.paste(0, (i * module_px, 0, (i + 1) * module_px, height_px))
    return image
