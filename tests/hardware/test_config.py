"""Hardware configuration: the TOML file, its validation messages, environment overrides, the factory."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from hardware import config as config_module
from hardware.config import (
    DEVICES,
    DeviceFactory,
    HardwareConfig,
    load_config,
    parse_simulate,
)
from hardware.errors import ConfigError, DeviceNotFound, DriverUnavailable
from hardware.scanner import SimulatedScanner

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hardware.md"


@pytest.fixture(autouse=True)
def no_system_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hardware.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_without_a_file_every_device_is_real_with_defaults() -> None:
    config = load_config(env={})
    assert config == HardwareConfig()
    assert config.source is None
    assert not any(config.is_simulated(device) for device in DEVICES)


def test_the_example_in_the_docs_is_a_valid_configuration(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, "docs/hardware.md has no toml example"
    config = load_config(write(tmp_path, blocks[0]), env={})
    assert config.scanner.kind == "hid"
    assert config.printer.usb_ids == (0x04B8, 0x0202)
    assert config.display.i2c_address == 0x3C
    assert dict(config.gpio.buttons) == {"confirm": 5, "cancel": 6}


def test_a_file_sets_each_device(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[fingerprint]
port = "/dev/ttyAMA0"
baud = 115200
password = 0x12345678

[scanner]
kind = "hid"
hid_vendor_id = 0x05e0
layout = "es"

[printer]
connection = "network"
host = "192.168.1.50"
paper_width_mm = 58

[display]
driver = "sh1106"
i2c_address = 0x3D

[camera]
simulate = true

[gpio]
pin_factory = "lgpio"
buttons = { ok = 20 }

[selftest]
scan_timeout_s = 5
""",
    )
    config = load_config(path, env={})
    assert config.source == path
    assert (config.fingerprint.baud, config.fingerprint.password) == (115200, 0x12345678)
    assert (config.scanner.kind, config.scanner.hid_vendor_id, config.scanner.layout) == ("hid", 0x05E0, "es")
    assert (config.printer.connection, config.printer.paper_width_mm) == ("network", 58)
    assert config.display.i2c_address == 0x3D
    assert config.is_simulated("camera") and not config.is_simulated("printer")
    assert dict(config.gpio.buttons) == {"ok": 20}
    assert config.selftest.scan_timeout_s == 5.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[scanner]\nbaud_rate = 9600", r"\[scanner\] baud_rate: unknown key; known keys: aim_prefix, baud"),
        ("[scanner]\nbaud = 9601", r"\[scanner\] baud: 9601 is not one of 1200"),
        ("[scanner]\nsuffix = 'CRCR'", r"\[scanner\] suffix: 'CRCR' is not one of 'CR', 'LF'"),
        ("[fingerprint]\nbaud = '57600'", r"\[fingerprint\] baud: '57600' is not one of"),
        ("[camera]\nwidth_px = 10000", r"\[camera\] width_px: 10000 is outside 16..4608"),
        ("[camera]\nsimulate = 'yes'", r"\[camera\] simulate: expected true or false, got 'yes'"),
        ("[printer]\nusb = '4b8:202'", r"\[printer\] usb: '4b8:202' is not vid:pid in hex"),
        ("[display]\ni2c_address = 0x80", r"\[display\] i2c_address: 128 is outside 3..119"),
        ("[gpio]\nred_led = 14", r"\[gpio\] red_led: GPIO 14 is UART TXD"),
        ("[gpio]\nbuzzer = 17", r"\[gpio\] buzzer: GPIO 17 is already used by green_led"),
        ("[gpio]\nbuttons = { ok = 'five' }", r"\[gpio.buttons\] ok: expected an integer, got 'five'"),
        ("[gpio]\nbuttons = { ok = 1 }", r"\[gpio\] buttons.ok: GPIO 1 is not on the 40-pin header"),
        ("[selftest]\nscan_timeout_s = 900", r"\[selftest\] scan_timeout_s: 900 is outside"),
        ("[scaner]\nport = 'x'", r"unknown table \[scaner\]"),
        ("scanner = 3", r"scanner must be a table"),
        ("[scanner\n", r"not valid TOML"),
    ],
)
def test_errors_name_the_file_the_key_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path, env={})
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.toml", env={})


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "# " + "x" * config_module.MAX_CONFIG_BYTES)
    with pytest.raises(ConfigError, match="larger than 65536 bytes"):
        load_config(path, env={})


def test_environment_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[scanner]\nport = '/dev/ttyS9'")
    assert load_config(env={"MOSTRADOR_HARDWARE_CONFIG": str(path)}).scanner.port == "/dev/ttyS9"


def test_environment_simulates_all_devices_whatever_the_file_says(tmp_path: Path) -> None:
    path = write(tmp_path, "[printer]\nsimulate = false")
    config = load_config(path, env={"MOSTRADOR_HARDWARE_SIMULATE": "all"})
    assert all(config.is_simulated(device) for device in DEVICES)


def test_environment_simulates_a_list_of_devices() -> None:
    config = load_config(env={"MOSTRADOR_HARDWARE_SIMULATE": "printer, camera"}, simulate=["gpio"])
    assert [device for device in DEVICES if config.is_simulated(device)] == ["printer", "camera", "gpio"]


@pytest.mark.parametrize(("value", "expected"), [("", ()), ("none", ()), ("ALL", DEVICES), ("scanner", ("scanner",))])
def test_simulate_values(value: str, expected: tuple[str, ...]) -> None:
    assert parse_simulate(value) == expected


def test_unknown_device_in_the_environment_is_an_error() -> None:
    with pytest.raises(ConfigError, match="MOSTRADOR_HARDWARE_SIMULATE: unknown device 'printr'"):
        load_config(env={"MOSTRADOR_HARDWARE_SIMULATE": "printr"})


def test_factory_builds_a_simulated_scanner_that_scans() -> None:
    factory = DeviceFactory(load_config(env={}, simulate=["scanner"]))
    with factory.scanner() as scanner:
        assert isinstance(scanner, SimulatedScanner)
        scanner.scan("0042")
        scan = scanner.read(timeout_s=2)
    assert scan is not None and scan.code == "0042"


def test_factory_builds_simulated_camera_and_gpio() -> None:
    factory = DeviceFactory(load_config(env={}, simulate=["camera", "gpio"]))
    with factory.camera() as camera:
        assert camera.resolution == (1280, 720)
        assert camera.capture_jpeg()[:2] == b"\xff\xd8"
    with factory.indicators() as indicators:
        indicators.set_led("green", True)
        assert factory.pin_factory().pin(17).state
    buttons = factory.buttons()
    try:
        assert sorted(buttons) == ["cancel", "confirm"]
    finally:
        for button in buttons.values():
            button.close()
        factory.close()


def test_factory_real_serial_scanner_reports_the_missing_port(tmp_path: Path) -> None:
    path = write(tmp_path, "[scanner]\nport = '/dev/ttyMISSING'")
    with pytest.raises(DeviceNotFound, match="/dev/ttyMISSING"):
        DeviceFactory(load_config(path, env={})).scanner()


def test_factory_real_camera_without_picamera2_is_driver_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(DriverUnavailable, match="python3-picamera2"):
        DeviceFactory(load_config(env={})).camera()
