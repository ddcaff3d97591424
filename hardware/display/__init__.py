"""The counter display: a small OLED that shows a ``Screen`` (a large line, short lines, an icon or a QR).

- ``Display``: the interface (``show``, ``show_image``, ``clear``, ``set_contrast``, ``close``).
- ``Screen``, ``Icon``, ``render_screen``: what to show and how it is drawn (PIL, WenQuanYi Zen Hei).
- ``OledDisplay``: SSD1306 / SH1106 128x64 through luma.oled on I2C or SPI.
- ``SimulatedDisplay``: luma's ``dummy`` device; ``ControllerEmulator``: the controller chip, emulated.
- ``open_display``: the backend chosen by configuration.
"""

from hardware.display.base import CONTRAST_MAX, CONTRAST_MIN, Display
from hardware.display.emulator import Controller, ControllerEmulator
from hardware.display.luma_display import LumaDisplay, OledDisplay, SimulatedDisplay, open_display
from hardware.display.screen import Icon, Screen, render_screen

__all__ = [
    "CONTRAST_MAX",
    "CONTRAST_MIN",
    "Controller",
    "ControllerEmulator",
    "Display",
    "Icon",
    "LumaDisplay",
    "OledDisplay",
    "Screen",
    "SimulatedDisplay",
    "open_display",
    "render_screen",
]
