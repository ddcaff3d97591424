"""Barcode scanners: serial and USB HID keyboard-wedge drivers, a pty emulator, behind ``BarcodeScanner``.

Usage::

    with SerialScanner("/dev/ttyACM0", suffix=Suffix.CR) as scanner:
        scan = scanner.read(timeout_s=10)   # a Scan, or None after 10 s

``hardware.config`` builds the configured scanner (real or simulated).
"""

from hardware.scanner.base import (
    MAX_CODE_CHARS,
    PARTIAL_CODE_TIMEOUT_S,
    SCAN_QUEUE_MAX,
    BarcodeScanner,
    Scan,
    ScanClock,
    ScanQueue,
    ScanSource,
    Symbology,
    split_aim_prefix,
)
from hardware.scanner.emulator import SerialScannerEmulator, SimulatedScanner
from hardware.scanner.hid import HidScanner, KeyDecoder, KeyEvent, ReplayKeyboard, find_hid_device
from hardware.scanner.layouts import ES, LAYOUTS, US, KeyboardLayout
from hardware.scanner.serial_scanner import LineFramer, SerialScanner, Suffix

__all__ = [
    "ES",
    "LAYOUTS",
    "MAX_CODE_CHARS",
    "PARTIAL_CODE_TIMEOUT_S",
    "SCAN_QUEUE_MAX",
    "US",
    "BarcodeScanner",
    "HidScanner",
    "KeyDecoder",
    "KeyEvent",
    "KeyboardLayout",
    "LineFramer",
    "ReplayKeyboard",
    "Scan",
    "ScanClock",
    "ScanQueue",
    "ScanSource",
    "SerialScanner",
    "SerialScannerEmulator",
    "SimulatedScanner",
    "Suffix",
    "Symbology",
    "find_hid_device",
    "split_aim_prefix",
]
