"""A simulated camera: a generated test card, stamped with the time it was "taken", encoded as JPEG.

The card has colour bars, a grey ramp, a circle and a grid (to see scaling and colour handling at a
glance), the resolution, a label and the timestamp from the clock passed in; tests pass a fixed clock.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from hardware.camera.base import DEFAULT_JPEG_QUALITY, DEFAULT_RESOLUTION, Camera, Resolution, check_resolution

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")

_BARS = ((255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0), (255, 0, 255), (255, 0, 0), (0, 0, 255))


def _font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(str(FONT_PATH), size_px)
    except OSError:
        # Without DejaVu (fonts-dejavu-core) the card is still usable with Pillow's built-in font.
        return ImageFont.load_default()


def render_test_card(resolution: Resolution, taken_at: datetime, *, label: str = "MOSTRADOR TEST CARD") -> Image.Image:
    """Draw the test card for ``resolution`` stamped with ``taken_at`` (shown in UTC)."""
    width_px, height_px = check_resolution(resolution)
    card = Image.new("RGB", (width_px, height_px), (16, 16, 16))
    draw = ImageDraw.Draw(card)
    bars_bottom = height_px * 2 // 3
    for index, colour in enumerate(_BARS):
        left = index * width_px // len(_BARS)
        right = (index + 1) * width_px // len(_BARS)
        draw.rectangle((left, 0, right - 1, bars_bottom - 1), fill=colour)
    ramp_bottom = bars_bottom + height_px // 12
    for x in range(width_px):
        level = x * 255 // max(width_px - 1, 1)
        draw.line((x, bars_bottom, x, ramp_bottom - 1), fill=(level, level, level))
    grid_step = max(width_px // 16, 4)
    for x in range(0, width_px, grid_step):
        draw.line((x, 0, x, bars_bottom - 1), fill=(64, 64, 64))
    for y in range(0, bars_bottom, grid_step):
        draw.line((0, y, width_px - 1, y), fill=(64, 64, 64))
    radius = min(width_px, bars_bottom) // 3
    centre_x, centre_y = width_px // 2, bars_bottom // 2
    draw.ellipse(
        (centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius), outline=(0, 0, 0), width=3
    )
    stamp = taken_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    font = _font(max(height_px // 18, 8))
    text_y = ramp_bottom + 2
    line_px = max(height_px // 16, 9)
    for line in (label, f"{width_px}x{height_px} px", stamp):
        draw.text((4, text_y), line, fill=(255, 255, 255), font=font)
        text_y += line_px
    return card


def encode_jpeg(image: Image.Image, quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SimulatedCamera(Camera):
    """A camera that returns the test card, stamped with ``clock()`` at each capture."""

    device = "camera (simulated)"

    def __init__(
        self,
        resolution: Resolution = DEFAULT_RESOLUTION,
        *,
        clock: Callable[[], datetime] = _utc_now,
        jpeg_quality: int = DEFAULT_JPEG_QUALITY,
        label: str = "MOSTRADOR TEST CARD",
    ) -> None:
        self._resolution = check_resolution(resolution)
        self._clock = clock
        self._jpeg_quality = jpeg_quality
        self._label = label
        self.captures = 0

    @property
    def resolution(self) -> Resolution:
        return self._resolution

    def capture_jpeg(self) -> bytes:
        self.captures += 1
        return encode_jpeg(render_test_card(self._resolution, self._clock(), label=self._label), self._jpeg_quality)

    def close(self) -> None:
        # Nothing is held between captures.
        return None
