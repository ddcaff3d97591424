"""Displays driven through luma: SSD1306 and SH1106 128x64 OLED panels on I2C or SPI, and luma's dummy.

``OledDisplay`` builds the luma serial interface (``i2c`` on bus 1 at 0x3C by default, or ``spi``) and the
controller driver, and converts luma's and the bus's errors where they enter, with the fix in the message
(enable I2C, join the i2c group, check the wiring). ``SimulatedDisplay`` is the same driver class over
luma's ``dummy`` device, which keeps the last image shown.
"""

from __future__ import annotations

import errno
from collections import deque
from typing import Any

from PIL import Image

from hardware.display.base import Display
from hardware.display.emulator import Controller
from hardware.errors import ConfigError, DeviceNotFound, DevicePermissionDenied, DriverUnavailable, HardwareError

#: Frames a simulated display keeps for inspection; older frames are dropped.
MAX_FRAMES_KEPT = 32

#: The panels driven here: 128 pixels wide, 64 (or, on the small modules, 32) pixels high.
OLED_WIDTH_PX = 128
OLED_HEIGHTS_PX = (32, 64)

_I2C_FIX = (
    "enable I2C (sudo raspi-config nonint do_i2c 0, or Interface Options > I2C in raspi-config) and reboot; "
    "`i2cdetect -y {bus}` should show the display at {address:#04x}"
)


class LumaDisplay(Display):
    """A ``Display`` over a luma device object (``ssd1306``, ``sh1106``, ``dummy``)."""

    def __init__(self, device: Any, device_name: str) -> None:
        self._device = device
        self.device_name = device_name
        self.size_px = (int(device.width), int(device.height))
        self._closed = False

    @property
    def luma_device(self) -> Any:
        return self._device

    def show_image(self, image: Image.Image) -> None:
        self._check_image(image)
        self._call(self._device.display, image)

    def clear(self) -> None:
        self._call(self._device.clear)

    def set_contrast(self, level: int) -> None:
        self._check_contrast(level)
        self._call(self._device.contrast, level)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._call(self._device.cleanup)

    def _call(self, method: Any, *args: Any) -> None:
        if self._closed and method != self._device.cleanup:
            raise ValueError(f"{self.device_name} is closed")
        try:
            method(*args)
        except Exception as exc:  # luma raises its own errors and the bus's OSError: converted here
            raise self._convert(exc) from exc

    def _convert(self, exc: Exception) -> HardwareError:
        return DeviceNotFound(f"display stopped answering ({exc}): check its wiring", device=self.device_name)


class OledDisplay(LumaDisplay):
    """An SSD1306 or SH1106 OLED, 128 by ``height_px`` (64 or 32), on I2C (``i2c_bus``, ``i2c_address``) or SPI
    (``spi_port``, ``spi_device``).

    ``serial_interface`` replaces the bus with any object speaking luma's serial interface (for example a
    ``ControllerEmulator``).
    """

    def __init__(
        self,
        controller: Controller | str = Controller.SSD1306,
        *,
        interface: str = "i2c",
        i2c_bus: int = 1,
        i2c_address: int = 0x3C,
        height_px: int = 64,
        spi_port: int = 0,
        spi_device: int = 0,
        gpio_dc: int = 24,
        gpio_rst: int = 25,
        rotate: int = 0,
        serial_interface: Any = None,
    ) -> None:
        try:
            self.controller = Controller(controller)
        except ValueError as exc:
            raise ConfigError(f"display.controller: {controller!r} is not ssd1306 or sh1106") from exc
        if interface not in ("i2c", "spi"):
            raise ConfigError(f"display.interface: {interface!r} is not i2c or spi")
        if height_px not in OLED_HEIGHTS_PX:
            raise ConfigError(f"display.height_px: {height_px!r} is not one of {', '.join(map(str, OLED_HEIGHTS_PX))}")
        if rotate not in (0, 1, 2, 3):
            raise ConfigError(f"display.rotate: {rotate!r} is not 0, 1, 2 or 3")
        self.interface, self.bus, self.address = interface, i2c_bus, i2c_address
        where = f"i2c bus {i2c_bus} at {i2c_address:#04x}" if interface == "i2c" else f"spi {spi_port}.{spi_device}"
        name = f"display {self.controller} on {where}"
        self.device_name = name
        owned_bus = serial_interface is None
        try:
            if serial_interface is None:
                serial_interface = self._open_bus(spi_port, spi_device, gpio_dc, gpio_rst)
            from luma.oled.device import sh1106, ssd1306

            driver = ssd1306 if self.controller is Controller.SSD1306 else sh1106
            device = driver(serial_interface, width=OLED_WIDTH_PX, height=height_px, rotate=rotate)
        except Exception as exc:
            # The bus opened but the panel did not answer: release the bus rather than leak its file.
            if owned_bus and serial_interface is not None:
                serial_interface.cleanup()
            raise self._convert(exc) from exc
        super().__init__(device, name)

    def _open_bus(self, spi_port: int, spi_device: int, gpio_dc: int, gpio_rst: int) -> Any:
        from luma.core.interface.serial import i2c, spi

        if self.interface == "i2c":
            return i2c(port=self.bus, address=self.address)
        return spi(port=spi_port, device=spi_device, gpio_DC=gpio_dc, gpio_RST=gpio_rst)

    def _convert(self, exc: Exception) -> HardwareError:
        name = type(exc).__name__
        fix = _I2C_FIX.format(bus=self.bus, address=self.address)
        if isinstance(exc, ImportError):
            missing = exc.name or str(exc)
            package = {"spidev": "python3-spidev", "smbus2": "python3-smbus2"}.get(missing, "python3-rpi.gpio")
            missing = "RPi.GPIO" if missing == "RPi" else missing
            return DriverUnavailable(
                f"{missing} is not installed: install {package} from Raspberry Pi OS (sudo apt install {package})",
                device=self.device_name,
            )
        if name == "UnsupportedPlatform":
            return DriverUnavailable(
                f"GPIO access not available ({exc}): SPI displays need RPi.GPIO on a Raspberry Pi "
                "(sudo apt install python3-rpi.gpio)",
                device=self.device_name,
            )
        if name == "DeviceAddressError":
            return ConfigError(f"display.address: {exc}", device=self.device_name)
        if name == "DevicePermissionError" or getattr(exc, "errno", None) in (errno.EACCES, errno.EPERM):
            group = "i2c" if self.interface == "i2c" else "spi"
            return DevicePermissionDenied(
                f"permission denied ({exc}): add the user to the {group} group: sudo usermod -aG {group} $USER "
                "(log out and in again)",
                device=self.device_name,
            )
        if name == "DeviceNotFoundError" and "address" in str(exc):
            return DeviceNotFound(
                f"nothing answers at {self.address:#04x} on I2C bus {self.bus}: check the display's wiring "
                f"(SDA to GPIO2, SCL to GPIO3, VCC, GND) and its address (`i2cdetect -y {self.bus}`: 3c or 3d)",
                device=self.device_name,
            )
        if self.interface == "spi":
            return DeviceNotFound(
                f"{exc}: enable SPI (sudo raspi-config nonint do_spi 0) and check the display's wiring",
                device=self.device_name,
            )
        return DeviceNotFound(f"{exc}: {fix}", device=self.device_name)


class SimulatedDisplay(LumaDisplay):
    """A 128x64 display on luma's ``dummy`` device: keeps the frames shown and the contrast set."""

    def __init__(self, width_px: int = 128, height_px: int = 64) -> None:
        from luma.core.device import dummy

        super().__init__(dummy(width=width_px, height=height_px, mode="1"), "display simulated")
        self.contrast_level = 0xFF
        self.frames: deque[Image.Image] = deque(maxlen=MAX_FRAMES_KEPT)

    @property
    def frame(self) -> Image.Image:
        """What the panel shows now (all dark before the first frame and after ``clear``)."""
        image = self._device.image
        return image.copy() if image is not None else Image.new("1", self.size_px, 0)

    def show_image(self, image: Image.Image) -> None:
        super().show_image(image)
        self.frames.append(self.frame)

    def clear(self) -> None:
        super().clear()
        self.frames.append(self.frame)

    def set_contrast(self, level: int) -> None:
        super().set_contrast(level)
        self.contrast_level = level


def open_display(backend: str | None = None, /, **options: Any) -> Display:
    """Open the display ``backend``: ``oled`` (options of ``OledDisplay``) or ``simulated`` (the default)."""
    import os

    backend = backend or os.environ.get("MOSTRADOR_DISPLAY") or "simulated"
    if backend == "simulated":
        return SimulatedDisplay(**options)
    if backend == "oled":
        try:
            return OledDisplay(**options)
        except TypeError as exc:
            raise ConfigError(f"display: {exc}") from exc
    raise ConfigError(f"display.backend: {backend!r} is not oled or simulated")
