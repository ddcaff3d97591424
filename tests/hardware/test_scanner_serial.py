"""Serial barcode scanner: line framing and its bounds, the pty emulator, the real driver reading from it."""

from __future__ import annotations

import errno
import logging
import threading
import time
from datetime import UTC, datetime
from unittest import mock

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

from hardware.errors import DeviceNotFound, DevicePermissionDenied
from hardware.scanner import (
    LineFramer,
    ScanClock,
    SerialScanner,
    SerialScannerEmulator,
    SimulatedScanner,
    Suffix,
    Symbology,
    split_aim_prefix,
)

READ_TIMEOUT_S = 2.0


@pytest.mark.parametrize("suffix", list(Suffix))
def test_framer_cuts_codes_at_the_configured_suffix(suffix: Suffix) -> None:
    framer = LineFramer(suffix)
    stream = b"7501234567893" + suffix.value + b"ABC-123" + suffix.value
    assert framer.feed(stream, 0.0) == ["7501234567893", "ABC-123"]
    assert framer.pending_bytes == 0


def test_framer_joins_a_code_split_across_reads() -> None:
    framer = LineFramer(Suffix.CRLF)
    assert framer.feed(b"75012", 0.0) == []
    assert framer.feed(b"34567893\r", 0.01) == []
    assert framer.feed(b"\n", 0.02) == ["7501234567893"]


def test_framer_drops_a_partial_line_after_the_timeout_and_never_emits_it(caplog: pytest.LogCaptureFixture) -> None:
    framer = LineFramer(Suffix.CR, partial_timeout_s=0.5)
    with caplog.at_level(logging.WARNING):
        assert framer.feed(b"12345", 0.0) == []
        framer.expire(0.6)
    assert framer.pending_bytes == 0
    assert framer.dropped_lines == 1
    assert "partial code" in caplog.text
    # The dropped bytes must not be glued to the next code.
    assert framer.feed(b"999\r", 0.7) == ["999"]


def test_framer_keeps_a_partial_line_within_the_timeout() -> None:
    framer = LineFramer(Suffix.CR, partial_timeout_s=0.5)
    framer.feed(b"123", 0.0)
    framer.expire(0.4)
    assert framer.feed(b"45\r", 0.45) == ["12345"]


def test_framer_drops_an_overlong_line_up_to_its_terminator(caplog: pytest.LogCaptureFixture) -> None:
    framer = LineFramer(Suffix.LF, max_line_bytes=8)
    with caplog.at_level(logging.WARNING):
        assert framer.feed(b"0123456789ABCDEF\nOK\n", 0.0) == ["OK"]
    assert framer.dropped_lines == 1
    assert "longer than 8 bytes" in caplog.text
    assert framer.feed(b"12345678\n", 0.0) == ["12345678"]


def test_framer_drops_a_line_that_is_not_valid_in_the_encoding() -> None:
    framer = LineFramer(Suffix.CR)
    assert framer.feed(b"\xff\xfe\r0042\r", 0.0) == ["0042"]
    assert framer.dropped_lines == 1


def test_framer_tolerates_crlf_from_a_scanner_set_to_cr() -> None:
    framer = LineFramer(Suffix.CR)
    assert framer.feed(b"111\r\n222\r\n", 0.0) == ["111", "222"]


codes = st.lists(
    st.text(st.characters(codec="ascii", exclude_characters="\r\n\t", min_codepoint=32), min_size=1, max_size=40),
    max_size=10,
)


@given(codes=codes, cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=8), suffix=st.sampled_from(Suffix))
def test_framer_output_does_not_depend_on_how_reads_cut_the_stream(
    codes: list[str], cuts: list[int], suffix: Suffix
) -> None:
    stream = b"".join(code.encode() + suffix.value for code in codes)
    framer = LineFramer(suffix)
    got: list[str] = []
    start = 0
    for cut in [*sorted(cuts), len(stream)]:
        got += framer.feed(stream[start:cut], 0.0)
        start = max(start, cut)
    assert got == [code.strip("\r\n") for code in codes if code.strip("\r\n")]


@pytest.mark.parametrize(
    ("text", "code", "symbology"),
    [
        ("]E07501234567893", "7501234567893", Symbology.EAN_13),
        ("]E0012345678905", "012345678905", Symbology.UPC_A),
        ("]E412345670", "12345670", Symbology.EAN_8),
        ("]C1010950123456789", "010950123456789", Symbology.GS1_128),
        ("]Q1https://x.example/c/1", "https://x.example/c/1", Symbology.QR),
        ("]Z9ABC", "]Z9ABC", None),
        ("ABC", "ABC", None),
    ],
)
def test_aim_prefix_gives_the_symbology(text: str, code: str, symbology: Symbology | None) -> None:
    assert split_aim_prefix(text) == (code, symbology)


def _fixed_clock() -> ScanClock:
    return ScanClock(monotonic=lambda: 123.5, wall=lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


def test_serial_driver_reads_codes_typed_into_the_emulator() -> None:
    with (
        SerialScannerEmulator(suffix=Suffix.CRLF) as emulator,
        SerialScanner(emulator.port, suffix=Suffix.CRLF, clock=_fixed_clock()) as scanner,
    ):
        emulator.scan("7501234567893")
        emulator.scan("Peña-42")
        first = scanner.read(timeout_s=READ_TIMEOUT_S)
        second = scanner.read(timeout_s=READ_TIMEOUT_S)
    assert first is not None and second is not None
    assert (first.code, first.symbology, first.source) == ("7501234567893", None, "serial")
    assert first.monotonic_s == 123.5
    assert first.scanned_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert second.code == "Peña-42"


def test_serial_driver_reports_the_symbology_from_aim_prefixes() -> None:
    with (
        SerialScannerEmulator(aim_prefix="]E0") as emulator,
        SerialScanner(emulator.port, aim_prefix=True) as scanner,
    ):
        emulator.scan("7501234567893")
        scan = scanner.read(timeout_s=READ_TIMEOUT_S)
    assert scan is not None
    assert (scan.code, scan.symbology) == ("7501234567893", Symbology.EAN_13)


def test_serial_driver_drops_a_partial_code_that_never_ends(caplog: pytest.LogCaptureFixture) -> None:
    with (
        SerialScannerEmulator() as emulator,
        SerialScanner(emulator.port, partial_timeout_s=0.1) as scanner,
        caplog.at_level(logging.WARNING),
    ):
        emulator.type_bytes(b"12345")
        assert scanner.read(timeout_s=0.4) is None
        emulator.scan("678")
        scan = scanner.read(timeout_s=READ_TIMEOUT_S)
        assert scanner.dropped_lines == 1
    assert scan is not None and scan.code == "678"
    assert "partial code" in caplog.text


def test_read_returns_none_when_nothing_is_scanned_within_the_timeout() -> None:
    with SimulatedScanner() as scanner:
        started = time.monotonic()
        assert scanner.read(timeout_s=0.1) is None
        assert time.monotonic() - started >= 0.1


def test_full_queue_drops_the_oldest_scan(caplog: pytest.LogCaptureFixture) -> None:
    with SimulatedScanner(queue_max=2) as scanner, caplog.at_level(logging.WARNING):
        for code in ("1", "2", "3"):
            scanner.scan(code)
        deadline = time.monotonic() + READ_TIMEOUT_S
        while scanner.dropped_scans == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        got = [scanner.read(timeout_s=0.5), scanner.read(timeout_s=0.5)]
        assert scanner.read(timeout_s=0.05) is None
    assert [scan.code for scan in got if scan is not None] == ["2", "3"]
    assert "dropped the oldest scan '1'" in caplog.text


def test_a_dead_port_makes_read_raise_with_the_fix() -> None:
    emulator = SerialScannerEmulator()
    scanner = SerialScanner(emulator.port)
    try:
        # Closing both pty ends is what a USB scanner being unplugged looks like to the reader: EIO.
        emulator.close()
        deadline = time.monotonic() + READ_TIMEOUT_S
        error: DeviceNotFound | None = None
        while error is None and time.monotonic() < deadline:
            try:
                scanner.read(timeout_s=0.05)
            except DeviceNotFound as exc:
                error = exc
        assert error is not None
        assert "check the scanner's cable" in str(error)
    finally:
        scanner.close()


def test_missing_port_is_device_not_found_naming_the_port() -> None:
    with pytest.raises(DeviceNotFound, match=r"/dev/ttyNOPE.*check the cable") as info:
        SerialScanner("/dev/ttyNOPE")
    assert isinstance(info.value, OSError)
    assert isinstance(info.value.__cause__, serial.SerialException)


def test_permission_denied_says_to_join_dialout() -> None:
    # Tests run as root here, so EACCES cannot happen for real; pyserial's own exception is raised instead.
    denied = serial.SerialException(errno.EACCES, "could not open port /dev/ttyACM0: [Errno 13] Permission denied")
    with (
        mock.patch("serial.Serial", autospec=True, side_effect=denied),
        pytest.raises(DevicePermissionDenied, match=r"sudo usermod -aG dialout \$USER"),
    ):
        SerialScanner("/dev/ttyACM0")


def test_close_from_another_thread_ends_a_read_without_timeout() -> None:
    scanner = SimulatedScanner()
    closer = threading.Timer(0.1, scanner.close)
    closer.start()
    try:
        started = time.monotonic()
        assert scanner.read() is None
        assert time.monotonic() - started < READ_TIMEOUT_S
    finally:
        closer.join()
        scanner.close()
