"""The box's hardware configuration: a TOML file saying, per device, real or simulated, and where it is.

The file (default ``/etc/mostrador/hardware.toml``; docs/hardware.md has the full reference and an example)
has one table per device: ``[fingerprint]``, ``[scanner]``, ``[printer]``, ``[display]``, ``[camera]``,
``[gpio]``, plus ``[selftest]``. Every key is optional and has the default shown in the reference; an
unknown key, a wrong type or an out-of-range value is a ``ConfigError`` naming the file, the key and the
problem. Two environment variables override the file:

* ``MOSTRADOR_HARDWARE_CONFIG=/path/hardware.toml``: read this file instead of the default;
* ``MOSTRADOR_HARDWARE_SIMULATE=all`` (or ``none``, or a list such as ``printer,camera``): simulate these
  devices whatever the file says.

``DeviceFactory(config)`` builds each device, real or simulated; real drivers are imported only when built,
so a laptop without evdev, picamera2 or lgpio can run everything simulated.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, cast

from hardware.errors import ConfigError

if TYPE_CHECKING:
    from hardware.camera import Camera
    from hardware.display.base import Display
    from hardware.fingerprint import FingerprintSensor
    from hardware.indicators import CounterButton, Indicators
    from hardware.printer import Printer, PrinterProfile
    from hardware.scanner import BarcodeScanner

DEFAULT_CONFIG_PATH: Final = Path("/etc/mostrador/hardware.toml")
ENV_CONFIG: Final = "MOSTRADOR_HARDWARE_CONFIG"
ENV_SIMULATE: Final = "MOSTRADOR_HARDWARE_SIMULATE"

DeviceName = Literal["fingerprint", "scanner", "printer", "display", "camera", "gpio"]
DEVICES: Final[tuple[DeviceName, ...]] = ("fingerprint", "scanner", "printer", "display", "camera", "gpio")

#: Largest configuration file read, in bytes; a real one is under 2 kB.
MAX_CONFIG_BYTES: Final = 64 * 1024

#: Upper bound on the self-test's wait for a scan, in seconds.
MAX_SCAN_TIMEOUT_S: Final = 300.0

# BCM GPIO numbers on the 40-pin header. GPIO 2/3 carry I2C (the display) and 14/15 the UART (the
# fingerprint sensor), so indicators and buttons may not use them.
_HEADER_GPIOS: Final = frozenset(range(2, 28))
_RESERVED_GPIOS: Final = MappingProxyType({2: "I2C SDA", 3: "I2C SCL", 14: "UART TXD", 15: "UART RXD"})


@dataclass(frozen=True)
class FingerprintConfig:
    """An R503/R307/AS608 sensor on a UART."""

    simulate: bool = False
    port: str = "/dev/serial0"
    baud: int = 57600
    password: int = 0


@dataclass(frozen=True)
class ScannerConfig:
    """A serial scanner (``kind = "serial"``) or a USB HID keyboard wedge (``kind = "hid"``)."""

    simulate: bool = False
    kind: Literal["serial", "hid"] = "serial"
    port: str = "/dev/ttyACM0"
    baud: int = 9600
    suffix: Literal["CR", "LF", "CRLF", "TAB"] = "CR"
    aim_prefix: bool = False
    hid_path: str | None = None
    hid_name: str | None = None
    hid_vendor_id: int | None = None
    hid_product_id: int | None = None
    layout: Literal["us", "es"] = "us"
    grab: bool = True


@dataclass(frozen=True)
class PrinterConfig:
    """An ESC/POS receipt printer on USB, a serial port, the network or a device file."""

    simulate: bool = False
    connection: Literal["usb", "serial", "network", "file"] = "usb"
    usb: str = "04b8:0202"
    serial_port: str = "/dev/ttyUSB0"
    baud: int = 19200
    host: str = ""
    tcp_port: int = 9100
    file: str = "/dev/usb/lp0"
    paper_width_mm: Literal[58, 80] = 80
    text_mode: Literal["code_page", "chinese"] = "code_page"
    code_page: str = "CP858"
    escpos_profile: str = "default"

    @property
    def usb_ids(self) -> tuple[int, int]:
        """``usb`` as (vendor id, product id)."""
        vendor, product = self.usb.split(":")
        return int(vendor, 16), int(product, 16)


@dataclass(frozen=True)
class DisplayConfig:
    """An SSD1306 or SH1106 OLED on I2C."""

    simulate: bool = False
    driver: Literal["ssd1306", "sh1106"] = "ssd1306"
    i2c_bus: int = 1
    i2c_address: int = 0x3C
    width_px: int = 128
    height_px: int = 64
    rotate: Literal[0, 1, 2, 3] = 0


@dataclass(frozen=True)
class CameraConfig:
    """A Raspberry Pi camera module."""

    simulate: bool = False
    camera_num: int = 0
    width_px: int = 1280
    height_px: int = 720
    jpeg_quality: int = 85


@dataclass(frozen=True)
class GpioConfig:
    """LEDs, buzzer and buttons: BCM GPIO numbers and the pin backend."""

    simulate: bool = False
    pin_factory: Literal["auto", "lgpio", "rpigpio", "mock"] = "auto"
    green_led: int = 17
    red_led: int = 27
    buzzer: int = 22
    buzzer_active_high: bool = True
    buttons: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({"confirm": 5, "cancel": 6}))


@dataclass(frozen=True)
class SelftestConfig:
    """Bounds for ``python -m hardware selftest``."""

    scan_timeout_s: float = 30.0


@dataclass(frozen=True)
class HardwareConfig:
    """The whole configuration; ``source`` is the file it came from (``None``: built-in defaults)."""

    fingerprint: FingerprintConfig = FingerprintConfig()
    scanner: ScannerConfig = ScannerConfig()
    printer: PrinterConfig = PrinterConfig()
    display: DisplayConfig = DisplayConfig()
    camera: CameraConfig = CameraConfig()
    gpio: GpioConfig = GpioConfig()
    selftest: SelftestConfig = SelftestConfig()
    source: Path | None = None

    def simulated(self, devices: Iterable[DeviceName]) -> HardwareConfig:
        """This configuration with ``devices`` switched to their simulators."""
        changes: dict[str, Any] = {name: replace(getattr(self, name), simulate=True) for name in devices}
        return replace(self, **changes)

    def is_simulated(self, device: DeviceName) -> bool:
        return bool(getattr(self, device).simulate)


_T = TypeVar("_T")


class _Section:
    """Reads one table, checking each key's type and range; ``unknown_keys`` catches typos."""

    def __init__(self, where: str, name: str, table: Mapping[str, Any]) -> None:
        self.where, self.name, self.table = where, name, table
        self.used: set[str] = set()

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where}: [{self.name}] {key}: {problem}", device="config")

    def _get(self, key: str, default: _T) -> Any:
        self.used.add(key)
        return self.table.get(key, default)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        if not low <= value <= high:
            raise self.error(key, f"{value} is outside {low}..{high}")
        return value

    def optional_integer(self, key: str, low: int, high: int) -> int | None:
        if key not in self.table:
            self.used.add(key)
            return None
        return self.integer(key, 0, low, high)

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {value!r}")
        if not low <= value <= high:
            raise self.error(key, f"{value} is outside {low}..{high}")
        return float(value)

    def string(self, key: str, default: str, *, pattern: str | None = None, hint: str = "") -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {value!r}")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise self.error(key, f"{value!r} is not {hint or 'valid'}")
        return value

    def optional_string(self, key: str) -> str | None:
        if key not in self.table:
            self.used.add(key)
            return None
        return self.string(key, "")

    def choice(self, key: str, default: _T, choices: tuple[_T, ...]) -> _T:
        value = self._get(key, default)
        if value not in choices or isinstance(value, bool):
            raise self.error(key, f"{value!r} is not one of {', '.join(repr(choice) for choice in choices)}")
        return cast(_T, value)

    def check_unknown_keys(self, known: Iterable[str]) -> None:
        unknown = sorted(set(self.table) - set(known))
        if unknown:
            raise self.error(unknown[0], f"unknown key; known keys: {', '.join(sorted(known))}")


def _keys(config_class: type) -> list[str]:
    return [item.name for item in fields(config_class)]


def _fingerprint(section: _Section) -> FingerprintConfig:
    return FingerprintConfig(
        simulate=section.boolean("simulate", False),
        port=section.string("port", FingerprintConfig.port),
        baud=section.choice("baud", 57600, (9600, 19200, 38400, 57600, 115200)),
        password=section.integer("password", 0, 0, 0xFFFFFFFF),
    )


def _scanner(section: _Section) -> ScannerConfig:
    return ScannerConfig(
        simulate=section.boolean("simulate", False),
        kind=section.choice("kind", "serial", ("serial", "hid")),
        port=section.string("port", ScannerConfig.port),
        baud=section.choice("baud", 9600, (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)),
        suffix=section.choice("suffix", "CR", ("CR", "LF", "CRLF", "TAB")),
        aim_prefix=section.boolean("aim_prefix", False),
        hid_path=section.optional_string("hid_path"),
        hid_name=section.optional_string("hid_name"),
        hid_vendor_id=section.optional_integer("hid_vendor_id", 0, 0xFFFF),
        hid_product_id=section.optional_integer("hid_product_id", 0, 0xFFFF),
        layout=section.choice("layout", "us", ("us", "es")),
        grab=section.boolean("grab", True),
    )


def _printer(section: _Section) -> PrinterConfig:
    return PrinterConfig(
        simulate=section.boolean("simulate", False),
        connection=section.choice("connection", "usb", ("usb", "serial", "network", "file")),
        usb=section.string(
            "usb", PrinterConfig.usb, pattern=r"[0-9a-fA-F]{4}:[0-9a-fA-F]{4}", hint="vid:pid in hex (04b8:0202)"
        ),
        serial_port=section.string("serial_port", PrinterConfig.serial_port),
        baud=section.choice("baud", 19200, (9600, 19200, 38400, 57600, 115200)),
        host=section.string("host", ""),
        tcp_port=section.integer("tcp_port", 9100, 1, 65535),
        file=section.string("file", PrinterConfig.file),
        paper_width_mm=section.choice("paper_width_mm", 80, (58, 80)),
        text_mode=section.choice("text_mode", "code_page", ("code_page", "chinese")),
        code_page=section.string("code_page", "CP858", pattern=r"[A-Za-z0-9_-]{2,20}", hint="a code page name"),
        escpos_profile=section.string(
            "escpos_profile", "default", pattern=r"[A-Za-z0-9_.-]{1,40}", hint="a python-escpos profile name"
        ),
    )


def _display(section: _Section) -> DisplayConfig:
    return DisplayConfig(
        simulate=section.boolean("simulate", False),
        driver=section.choice("driver", "ssd1306", ("ssd1306", "sh1106")),
        i2c_bus=section.integer("i2c_bus", 1, 0, 31),
        i2c_address=section.integer("i2c_address", 0x3C, 0x03, 0x77),
        width_px=section.choice("width_px", 128, (128,)),
        height_px=section.choice("height_px", 64, (32, 64)),
        rotate=section.choice("rotate", 0, (0, 1, 2, 3)),
    )


def _camera(section: _Section) -> CameraConfig:
    return CameraConfig(
        simulate=section.boolean("simulate", False),
        camera_num=section.integer("camera_num", 0, 0, 7),
        width_px=section.integer("width_px", 1280, 16, 4608),
        height_px=section.integer("height_px", 720, 16, 4608),
        jpeg_quality=section.integer("jpeg_quality", 85, 1, 95),
    )


def _gpio(section: _Section) -> GpioConfig:
    pins = {key: section.integer(key, getattr(GpioConfig, key), 0, 27) for key in ("green_led", "red_led", "buzzer")}
    raw_buttons = section._get("buttons", {"confirm": 5, "cancel": 6})
    if not isinstance(raw_buttons, dict):
        raise section.error("buttons", f"expected a table of name = pin, got {raw_buttons!r}")
    buttons_section = _Section(section.where, "gpio.buttons", raw_buttons)
    buttons = {name: buttons_section.integer(name, 0, 0, 27) for name in raw_buttons}
    seen: dict[int, str] = {}
    for key, pin in [*pins.items(), *((f"buttons.{name}", pin) for name, pin in buttons.items())]:
        if pin not in _HEADER_GPIOS:
            raise section.error(key, f"GPIO {pin} is not on the 40-pin header (use 2..27)")
        if pin in _RESERVED_GPIOS:
            raise section.error(key, f"GPIO {pin} is {_RESERVED_GPIOS[pin]}, used by the display or fingerprint sensor")
        if pin in seen:
            raise section.error(key, f"GPIO {pin} is already used by {seen[pin]}")
        seen[pin] = key
    return GpioConfig(
        simulate=section.boolean("simulate", False),
        pin_factory=section.choice("pin_factory", "auto", ("auto", "lgpio", "rpigpio", "mock")),
        buzzer_active_high=section.boolean("buzzer_active_high", True),
        buttons=MappingProxyType(buttons),
        **pins,
    )


def _selftest(section: _Section) -> SelftestConfig:
    return SelftestConfig(scan_timeout_s=section.number("scan_timeout_s", 30.0, 0.1, MAX_SCAN_TIMEOUT_S))


_PARSERS: Final = MappingProxyType(
    {
        "fingerprint": (_fingerprint, FingerprintConfig),
        "scanner": (_scanner, ScannerConfig),
        "printer": (_printer, PrinterConfig),
        "display": (_display, DisplayConfig),
        "camera": (_camera, CameraConfig),
        "gpio": (_gpio, GpioConfig),
        "selftest": (_selftest, SelftestConfig),
    }
)


def parse_config(document: Mapping[str, Any], *, where: str = "hardware.toml") -> HardwareConfig:
    """Validate a parsed TOML document; ``where`` names it in errors."""
    unknown = sorted(set(document) - set(_PARSERS))
    if unknown:
        raise ConfigError(f"{where}: unknown table [{unknown[0]}]; known: {', '.join(_PARSERS)}", device="config")
    parsed: dict[str, Any] = {}
    for name, (parse, config_class) in _PARSERS.items():
        table = document.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: {name} must be a table ([{name}])", device="config")
        section = _Section(where, name, table)
        parsed[name] = parse(section)
        section.check_unknown_keys(_keys(config_class))
    return HardwareConfig(**parsed)


def parse_simulate(value: str) -> tuple[DeviceName, ...]:
    """Read ``MOSTRADOR_HARDWARE_SIMULATE``: "all", "none"/"" or a comma-separated list of devices."""
    words = [word.strip().lower() for word in value.split(",") if word.strip()]
    if words == ["all"]:
        return DEVICES
    if words in ([], ["none"]):
        return ()
    bad = [word for word in words if word not in DEVICES]
    if bad:
        raise ConfigError(
            f"{ENV_SIMULATE}: unknown device {bad[0]!r}; use all, none or a list of {', '.join(DEVICES)}",
            device="config",
        )
    return tuple(cast(DeviceName, word) for word in words)


def load_config(
    path: Path | str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    simulate: Iterable[DeviceName] = (),
) -> HardwareConfig:
    """Read the configuration: ``path``, else ``$MOSTRADOR_HARDWARE_CONFIG``, else the default file if it
    exists, else the built-in defaults; then apply ``$MOSTRADOR_HARDWARE_SIMULATE`` and ``simulate``."""
    env = os.environ if env is None else env
    chosen = Path(path) if path is not None else Path(env[ENV_CONFIG]) if env.get(ENV_CONFIG) else None
    if chosen is None and DEFAULT_CONFIG_PATH.is_file():
        chosen = DEFAULT_CONFIG_PATH
    if chosen is None:
        config = HardwareConfig()
    else:
        try:
            with chosen.open("rb") as file:
                raw = file.read(MAX_CONFIG_BYTES + 1)
        except FileNotFoundError as exc:
            raise ConfigError(f"{chosen}: no such configuration file", device="config") from exc
        except PermissionError as exc:
            raise ConfigError(f"{chosen}: may not read it (check its owner and mode)", device="config") from exc
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{chosen}: larger than {MAX_CONFIG_BYTES} bytes; is this the right file?", device="config"
            )
        try:
            document = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{chosen}: not valid TOML: {exc}", device="config") from exc
        config = replace(parse_config(document, where=str(chosen)), source=chosen)
    devices = {*parse_simulate(env.get(ENV_SIMULATE, "")), *simulate}
    return config.simulated(sorted(devices, key=DEVICES.index)) if devices else config


class DeviceFactory:
    """Builds each configured device, real or simulated. The caller owns (and closes) what it gets.

    Real drivers are imported inside each method, so building a simulated device never needs a Pi-only
    library. One pin factory is shared by the indicators and the buttons, as gpiozero expects.
    """

    def __init__(self, config: HardwareConfig) -> None:
        self.config = config
        self._pin_factory: Any = None

    def scanner(self) -> BarcodeScanner:
        from hardware.scanner import HidScanner, SerialScanner, SimulatedScanner, Suffix

        scanner = self.config.scanner
        if scanner.simulate:
            return SimulatedScanner(suffix=Suffix[scanner.suffix])
        if scanner.kind == "hid":
            return HidScanner(
                path=scanner.hid_path,
                name=scanner.hid_name,
                vendor_id=scanner.hid_vendor_id,
                product_id=scanner.hid_product_id,
                layout=scanner.layout,
                grab=scanner.grab,
                aim_prefix=scanner.aim_prefix,
            )
        return SerialScanner(
            scanner.port, baud=scanner.baud, suffix=Suffix[scanner.suffix], aim_prefix=scanner.aim_prefix
        )

    def camera(self) -> Camera:
        from hardware.camera import Resolution, SimulatedCamera

        camera = self.config.camera
        resolution = Resolution(camera.width_px, camera.height_px)
        if camera.simulate:
            return SimulatedCamera(resolution, jpeg_quality=camera.jpeg_quality)
        from hardware.camera.picamera import PiCamera

        return PiCamera(resolution, camera_num=camera.camera_num, jpeg_quality=camera.jpeg_quality)

    def pin_factory(self) -> Any:
        """The gpiozero pin factory: ``MockFactory`` when GPIO is simulated, else the configured backend."""
        if self._pin_factory is None:
            from hardware.indicators import make_pin_factory

            gpio = self.config.gpio
            self._pin_factory = make_pin_factory("mock" if gpio.simulate else gpio.pin_factory)
        return self._pin_factory

    def indicators(self) -> Indicators:
        from hardware.indicators import Indicators

        gpio = self.config.gpio
        return Indicators(
            green_pin=gpio.green_led,
            red_pin=gpio.red_led,
            buzzer_pin=gpio.buzzer,
            buzzer_active_high=gpio.buzzer_active_high,
            pin_factory=self.pin_factory(),
        )

    def buttons(self) -> dict[str, CounterButton]:
        from hardware.indicators import CounterButton

        built: dict[str, CounterButton] = {}
        try:
            for name, pin in self.config.gpio.buttons.items():
                built[name] = CounterButton(pin, name=f"{name} button", pin_factory=self.pin_factory())
        except BaseException:
            for button in built.values():
                button.close()
            raise
        return built

    def fingerprint(self) -> FingerprintSensor:
        fingerprint = self.config.fingerprint
        if fingerprint.simulate:
            from hardware.fingerprint import SimulatedFingerprintSensor

            return SimulatedFingerprintSensor(password=fingerprint.password)
        from hardware.fingerprint import R30xSensor

        return R30xSensor(fingerprint.port, baudrate=fingerprint.baud, password=fingerprint.password)

    def printer_profile(self) -> PrinterProfile:
        """The paper and text settings receipts are laid out for."""
        from hardware.printer import PrinterProfile, TextMode

        printer = self.config.printer
        columns, width_px = (32, 384) if printer.paper_width_mm == 58 else (48, 576)
        return PrinterProfile(
            name=f"{printer.paper_width_mm}mm",
            columns=columns,
            width_px=width_px,
            text_mode=TextMode(printer.text_mode),
            code_page=printer.code_page,
            escpos_profile=printer.escpos_profile,
        )

    def printer(self) -> Printer:
        from hardware.printer import open_printer

        printer = self.config.printer
        if printer.simulate:
            return open_printer("simulated")
        profile = None if printer.escpos_profile == "default" else printer.escpos_profile
        options: dict[str, Any] = {} if profile is None else {"profile": profile}
        if printer.connection == "usb":
            vendor_id, product_id = printer.usb_ids
            return open_printer("usb", vendor_id=vendor_id, product_id=product_id, **options)
        if printer.connection == "serial":
            return open_printer("serial", port=printer.serial_port, baudrate=printer.baud, **options)
        if printer.connection == "network":
            if not printer.host:
                raise ConfigError('[printer] host: required when connection = "network"', device="config")
            return open_printer("network", host=printer.host, port=printer.tcp_port, **options)
        return open_printer("file", path=printer.file, **options)

    def display(self) -> Display:
        from hardware.display.luma_display import open_display

        display = self.config.display
        if display.simulate:
            return open_display("simulated", width_px=display.width_px, height_px=display.height_px)
        return open_display(
            "oled",
            controller=display.driver,
            i2c_bus=display.i2c_bus,
            i2c_address=display.i2c_address,
            height_px=display.height_px,
            rotate=display.rotate,
        )

    def close(self) -> None:
        """Release the shared pin factory (after every GPIO device built here is closed)."""
        if self._pin_factory is not None:
            self._pin_factory.close()
            self._pin_factory = None
