"""The counter display interface: show a ``Screen``, clear, set the contrast.

A backend must override ``show_image`` (a 1-bit image of the panel's size), ``clear``, ``set_contrast`` and
``close``; ``show`` renders a ``Screen`` with ``render_screen`` once, here, for every backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from PIL import Image

from hardware.display.screen import Screen, render_screen

#: Contrast levels the panel controllers take (SSD1306 and SH1106 command 0x81).
CONTRAST_MIN = 0
CONTRAST_MAX = 255


class Display(ABC):
    """A small monochrome display; ``size_px`` is (width, height)."""

    device_name: str = "display"
    size_px: tuple[int, int] = (128, 64)

    def show(self, screen: Screen) -> Image.Image:
        """Render ``screen`` and show it; return the image shown."""
        image = render_screen(screen, *self.size_px)
        self.show_image(image)
        return image

    @abstractmethod
    def show_image(self, image: Image.Image) -> None:
        """Show a mode '1' image exactly the panel's size."""

    @abstractmethod
    def clear(self) -> None:
        """Blank the panel."""

    @abstractmethod
    def set_contrast(self, level: int) -> None:
        """Set the contrast, ``CONTRAST_MIN`` to ``CONTRAST_MAX``."""

    @abstractmethod
    def close(self) -> None:
        """Blank the panel and release the bus; safe to call twice."""

    def _check_image(self, image: Image.Image) -> None:
        if image.mode != "1" or image.size != self.size_px:
            raise ValueError(
                f"{self.device_name}: expected a mode '1' {self.size_px} image, got {image.mode} {image.size}"
            )

    @staticmethod
    def _check_contrast(level: int) -> None:
        if not CONTRAST_MIN <= level <= CONTRAST_MAX:
            raise ValueError(f"contrast must be {CONTRAST_MIN} to {CONTRAST_MAX}, got {level}")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
