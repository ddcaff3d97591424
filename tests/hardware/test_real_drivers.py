"""Every real driver built from the default configuration, with the hardware libraries mocked at the bus.

What the factory hands each driver must be what the driver takes: the serial ports open the configured device
files at the configured speeds (routed to emulators speaking the real protocols), the OLED's I2C bus and
address reach smbus2, the printer's USB ids reach pyusb, the camera number reaches picamera2 and the GPIO pins
reach gpiozero. A renamed keyword on either side fails here, not on the first Pi.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import serial
import smbus2
import usb.core
import usb.util
from PIL import Image

from hardware import config as config_module
from hardware import indicators as indicators_module
from hardware.camera import Resolution
from hardware.config import DeviceFactory, HardwareConfig, load_config
from hardware.display import Screen
from hardware.fingerprint.emulator import FingerprintEmulator
from hardware.scanner.emulator import SerialScannerEmulator

DEFAULTS = HardwareConfig()


class FakeSMBus:
    """smbus2.SMBus on no wire: remembers the bus number and every I2C message written."""

    opened: ClassVar[list[FakeSMBus]] = []

    def __init__(self, bus: int) -> None:
        self.bus = bus
        self.messages: list[tuple[int, bytes]] = []
        self.closed = False
        FakeSMBus.opened.append(self)

    def write_i2c_block_data(self, address: int, register: int, data: list[int]) -> None:
        self.messages.append((address, bytes([register, *data])))

    def i2c_rdwr(self, *messages: Any) -> None:
        for message in messages:
            self.messages.append((message.addr, bytes(message)))

    def close(self) -> None:
        self.closed = True


class FakeUsbBackend:
    """A pyusb backend that is not libusb1, so escpos skips detaching the kernel driver."""


class FakeUsbDevice:
    """What pyusb's ``usb.core.find`` returns for a printer: configured, then written to."""

    backend = FakeUsbBackend()

    def __init__(self, ids: dict[str, int]) -> None:
        self.ids = ids
        self.written = bytearray()
        self.configured = False
        self.released = False

    def set_configuration(self) -> None:
        self.configured = True

    def reset(self) -> None:
        pass

    def write(self, endpoint: int, data: bytes, timeout: int) -> int:
        self.written += bytes(data)
        return len(data)

    def read(self, endpoint: int, size: int, timeout: int) -> bytes:
        return b"\x12"  # "online, no error" for every real-time status request


class FakePicamera2:
    """picamera2's class: one camera attached; frames are a grey image of the configured size."""

    opened: ClassVar[list[FakePicamera2]] = []

    def __init__(self, camera_num: int) -> None:
        self.camera_num = camera_num
        self.size: tuple[int, int] = (0, 0)
        FakePicamera2.opened.append(self)

    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        return [{"Model": "imx708", "Num": 0}]

    def create_still_configuration(self, main: dict[str, Any]) -> dict[str, Any]:
        return {"main": main}

    def configure(self, configuration: dict[str, Any]) -> None:
        self.size = configuration["main"]["size"]

    def start(self) -> None:
        pass

    def capture_image(self, stream: str, wait: bool) -> str:
        return "job"

    def wait(self, job: str, timeout: float) -> Image.Image:
        return Image.new("RGB", self.size, (128, 128, 128))

    def close(self) -> None:
        pass


@pytest.fixture
def buses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Mock every bus under the real drivers; yields what was opened and with what."""
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    seen: dict[str, Any] = {"serial": {}, "usb": []}
    fingerprint = FingerprintEmulator().start()
    scanner = SerialScannerEmulator()
    routes = {DEFAULTS.fingerprint.port: fingerprint.port, DEFAULTS.scanner.port: scanner.port}
    real_serial = serial.Serial

    def open_serial(port: str, baudrate: int, **options: Any) -> serial.Serial:
        seen["serial"][port] = baudrate
        if port not in routes:
            raise serial.SerialException(f"[Errno 2] could not open port {port}")
        return real_serial(routes[port], baudrate=baudrate, **options)

    def find_usb(**ids: int) -> FakeUsbDevice:
        device = FakeUsbDevice(ids)
        seen["usb"].append(device)
        return device

    FakeSMBus.opened.clear()
    FakePicamera2.opened.clear()
    monkeypatch.setattr(serial, "Serial", open_serial)
    monkeypatch.setattr(smbus2, "SMBus", FakeSMBus)
    monkeypatch.setattr(usb.core, "find", find_usb)
    monkeypatch.setattr(usb.util, "dispose_resources", lambda device: setattr(device, "released", True))
    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=FakePicamera2))
    # gpiozero's own mock pins stand for the Pi's GPIO chip; "auto" is what resolves to them here.
    monkeypatch.setattr(indicators_module, "choose_backend", lambda name, *_: "mock")
    try:
        yield seen
    finally:
        fingerprint.close()
        scanner.close()


def test_the_default_configuration_builds_real_drivers(buses: dict[str, Any]) -> None:
    config = load_config(env={})
    assert config == DEFAULTS and not any(config.is_simulated(d) for d in ("display", "printer", "camera"))
    factory = DeviceFactory(config)

    sensor = factory.fingerprint()
    try:
        assert sensor.self_check().capacity > 0
    finally:
        sensor.close()
    assert buses["serial"][DEFAULTS.fingerprint.port] == DEFAULTS.fingerprint.baud

    scanner = factory.scanner()
    scanner.close()
    assert buses["serial"][DEFAULTS.scanner.port] == DEFAULTS.scanner.baud

    display = factory.display()
    try:
        display.show(Screen(large="Mostrador", lines=("lista",)))
    finally:
        display.close()
    (bus,) = FakeSMBus.opened
    assert bus.bus == DEFAULTS.display.i2c_bus
    assert bus.messages and {address for address, _ in bus.messages} == {DEFAULTS.display.i2c_address}

    printer = factory.printer()
    try:
        printer.print_job(b"hola\n", check_status=False)
    finally:
        printer.close()
    (device,) = buses["usb"]
    vendor, product = DEFAULTS.printer.usb_ids
    assert (device.ids["idVendor"], device.ids["idProduct"]) == (vendor, product)
    assert device.configured and b"hola\n" in device.written and device.released

    camera = factory.camera()
    try:
        assert camera.resolution == Resolution(DEFAULTS.camera.width_px, DEFAULTS.camera.height_px)
    finally:
        camera.close()

    indicators = factory.indicators()
    buttons = factory.buttons()
    try:
        indicators.set_led("green", True)
        pins = {int(info.name.removeprefix("GPIO")) for info in factory.pin_factory().pins}
        gpio = DEFAULTS.gpio
        assert {gpio.green_led, gpio.red_led, gpio.buzzer, *gpio.buttons.values()} <= pins
    finally:
        for button in buttons.values():
            button.close()
        indicators.close()
        factory.close()


def test_the_display_takes_its_size_from_the_configuration(buses: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "hardware.toml"
    path.write_text("[display]\nheight_px = 32\ni2c_address = 0x3D\ni2c_bus = 3\n", encoding="utf-8")
    display = DeviceFactory(load_config(path, env={})).display()
    try:
        assert display.show(Screen(large="Mostrador")).size == (128, 32)
    finally:
        display.close()
    (bus,) = FakeSMBus.opened
    assert bus.bus == 3 and {address for address, _ in bus.messages} == {0x3D}
