"""An emulated SSD1306 / SH1106 controller on the far side of luma's serial interface.

luma drivers talk to a panel through a serial interface object with ``command(*bytes)`` and ``data(bytes)``
(I2C or SPI underneath). ``ControllerEmulator`` is such an object: it decodes the controller's command set
(addressing mode, column and page windows, page and column set commands, contrast, display on/off, invert)
and writes data bytes into display RAM as the chip does, eight vertical pixels per byte, bit 0 at the top.
``image()`` is what the glass shows. Plugged under the real luma ``ssd1306`` or ``sh1106`` driver, it
checks the whole real path from ``Screen`` to pixels without a panel.

The SH1106 has 132 columns of RAM of which the 128 visible start at column 2; the emulator keeps that,
so a driver with the wrong column offset shows a shifted picture here as it would on the glass.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from PIL import Image

#: Bytes of commands or data the emulator keeps in its log for inspection; older bytes are dropped.
MAX_LOG_BYTES = 64 * 1024

# Commands followed by argument bytes, with how many.
_SSD1306_ARGS = {
    0x20: 1,  # memory addressing mode
    0x21: 2,  # column window
    0x22: 2,  # page window
    0x81: 1,  # contrast
    0x8D: 1,  # charge pump
    0xA8: 1,  # multiplex ratio
    0xD3: 1,  # display offset
    0xD5: 1,  # clock divide
    0xD9: 1,  # pre-charge
    0xDA: 1,  # COM pins
    0xDB: 1,  # VCOM detect
}
_SH1106_ARGS = {0x81: 1, 0xA8: 1, 0xAD: 1, 0xD3: 1, 0xD5: 1, 0xD9: 1, 0xDA: 1, 0xDB: 1}


class Controller(enum.StrEnum):
    """The display controller chips the real driver supports."""

    SSD1306 = "ssd1306"
    SH1106 = "sh1106"


class ControllerEmulator:
    """An SSD1306 or SH1106 display controller behind luma's serial interface (``command``/``data``)."""

    def __init__(self, controller: Controller = Controller.SSD1306, width_px: int = 128, height_px: int = 64) -> None:
        self.controller = controller
        self.width_px = width_px
        self.pages = height_px // 8
        self.ram_columns = width_px + 4 if controller is Controller.SH1106 else width_px
        self.visible_offset = 2 if controller is Controller.SH1106 else 0
        self.ram = [bytearray(self.ram_columns) for _ in range(self.pages)]
        self.contrast = 0x7F
        self.display_on = False
        self.inverted = False
        self.horizontal = False
        self.column = 0
        self.page = 0
        self.column_window = (0, self.ram_columns - 1)
        self.page_window = (0, self.pages - 1)
        self.commands = bytearray()
        self.cleaned_up = False
        self._pending: list[int] = []

    # -- luma's serial interface ------------------------------------------------------------------------
    def command(self, *cmd: int) -> None:
        for byte in cmd:
            self._command_byte(byte)

    def data(self, data: Iterable[int]) -> None:
        for byte in data:
            if 0 <= self.page < self.pages and 0 <= self.column < self.ram_columns:
                self.ram[self.page][self.column] = byte
            self._advance()

    def cleanup(self) -> None:
        self.cleaned_up = True

    # -- what the glass shows ---------------------------------------------------------------------------
    def image(self) -> Image.Image:
        """The visible pixels (lit is 1); all dark while the display is off."""
        image = Image.new("1", (self.width_px, self.pages * 8), 0)
        if not self.display_on:
            return image
        pixels = image.load()
        assert pixels is not None
        for page, row in enumerate(self.ram):
            for x in range(self.width_px):
                byte = row[x + self.visible_offset]
                for bit in range(8):
                    if bool(byte >> bit & 1) != self.inverted:
                        pixels[x, page * 8 + bit] = 1
        return image

    # -- internals ----------------------------------------------------------------------------------------
    def _command_byte(self, byte: int) -> None:
        if len(self.commands) >= MAX_LOG_BYTES:
            del self.commands[: MAX_LOG_BYTES // 2]
        self.commands.append(byte)
        if self._pending:
            self._pending.append(byte)
            if len(self._pending) == self._arg_count(self._pending[0]) + 1:
                self._execute(self._pending)
                self._pending = []
            return
        if self._arg_count(byte):
            self._pending = [byte]
        else:
            self._execute([byte])

    def _arg_count(self, opcode: int) -> int:
        table = _SH1106_ARGS if self.controller is Controller.SH1106 else _SSD1306_ARGS
        return table.get(opcode, 0)

    def _execute(self, cmd: list[int]) -> None:
        op = cmd[0]
        if op == 0x81:
            self.contrast = cmd[1]
        elif op in (0xAE, 0xAF):
            self.display_on = op == 0xAF
        elif op in (0xA6, 0xA7):
            self.inverted = op == 0xA7
        elif op == 0x20 and self.controller is Controller.SSD1306:
            self.horizontal = cmd[1] == 0x00
        elif op == 0x21 and self.controller is Controller.SSD1306:
            self.column_window = (cmd[1], cmd[2])
            self.column = cmd[1]
        elif op == 0x22 and self.controller is Controller.SSD1306:
            self.page_window = (cmd[1], cmd[2])
            self.page = cmd[1]
        elif 0xB0 <= op <= 0xB7:
            self.page = op & 0x07
        elif op <= 0x0F:
            self.column = (self.column & 0xF0) | op
        elif op <= 0x1F:
            self.column = (self.column & 0x0F) | ((op & 0x0F) << 4)

    def _advance(self) -> None:
        if not self.horizontal:
            self.column += 1  # page addressing: the column advances, the page never does
            return
        if self.column < self.column_window[1]:
            self.column += 1
            return
        self.column = self.column_window[0]
        self.page = self.page + 1 if self.page < self.page_window[1] else self.page_window[0]
