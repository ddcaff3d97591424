"""The Printer interface on every backend that can run here: simulated, serial over a pty, network over TCP."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.errors import (
    DeviceFault,
    DeviceNotFound,
    DevicePermissionDenied,
    DeviceTimeout,
    DriverUnavailable,
    HardwareError,
)
from hardware.printer import (
    FilePrinter,
    NetworkPrinter,
    PaperLevel,
    Printer,
    PrinterModel,
    SerialPrinter,
    SimulatedPrinter,
    UsbPrinter,
    open_printer,
)
from hardware.printer.escpos_backends import _errno_of
from hardware.printer.simulated import HOLD_BUFFER_BYTES, PtyPrinterEmulator, TcpPrinterEmulator
from hardware.printer.status import READY

JOB = b"\x1b@\x1bt\x13Hola \xa5and\xa3\n\x1dV\x00"


@pytest.fixture(params=["simulated", "serial", "network"])
def connected(request: pytest.FixtureRequest) -> Iterator[tuple[Printer, PrinterModel]]:
    """A printer on each backend, with the model of the device at its far end."""
    model = PrinterModel()
    if request.param == "simulated":
        with SimulatedPrinter(model) as printer:
            yield printer, model
    elif request.param == "serial":
        with (
            PtyPrinterEmulator(model) as emulator,
            SerialPrinter(emulator.port, hardware_flow_control=False) as printer,
        ):
            yield printer, model
    else:
        with TcpPrinterEmulator(model) as tcp_emulator, NetworkPrinter(tcp_emulator.host, tcp_emulator.port) as printer:
            yield printer, model


def test_job_bytes_reach_the_printer_exactly(connected: tuple[Printer, PrinterModel]) -> None:
    printer, model = connected
    printer.print_job(JOB)
    printer.status()  # a round trip: every byte sent before it has been received
    assert model.printed == JOB


def test_status_of_a_ready_printer_is_ready(connected: tuple[Printer, PrinterModel]) -> None:
    printer, model = connected
    assert printer.status() == READY
    assert model.status_requests == 4


def test_paper_near_end_is_reported_and_still_prints(connected: tuple[Printer, PrinterModel]) -> None:
    printer, model = connected
    model.paper_near_end()
    status = printer.status()
    assert status is not None and status.paper is PaperLevel.NEAR_END and status.ready
    printer.print_job(JOB)
    printer.status()
    assert model.printed == JOB


def test_paper_out_refuses_the_job_with_what_to_do(connected: tuple[Printer, PrinterModel]) -> None:
    printer, model = connected
    model.run_out_of_paper()
    with pytest.raises(DeviceFault, match="load a new paper roll") as info:
        printer.print_job(JOB)
    assert info.value.code == "paper_out"
    assert model.printed == b""


def test_open_cover_is_reported(connected: tuple[Printer, PrinterModel]) -> None:
    printer, model = connected
    model.open_cover()
    status = printer.status()
    assert status is not None and status.cover_open and not status.online
    with pytest.raises(DeviceFault) as info:
        printer.print_job(JOB)
    assert info.value.code == "cover_open"


def test_bytes_sent_while_out_of_paper_print_when_paper_is_loaded(connected: tuple[Printer, PrinterModel]) -> None:
    printer, model = connected
    model.run_out_of_paper()
    printer.print_job(JOB, check_status=False)
    printer.status()
    assert model.printed == b"" and model.held == JOB
    model.load_paper()
    assert model.printed == JOB


def test_cutter_jam_is_an_error() -> None:
    with SimulatedPrinter() as printer:
        printer.model.jam_cutter()
        status = printer.status()
        assert status is not None and status.cutter_error and not status.ready
        with pytest.raises(DeviceFault, match="auto-cutter") as info:
            printer.print_job(JOB)
        assert info.value.code == "printer_error"


def test_simulated_printer_stops_taking_bytes_when_its_buffer_is_full() -> None:
    with SimulatedPrinter() as printer:
        printer.model.open_cover()
        with pytest.raises(DeviceTimeout, match="close the printer cover"):
            printer.write(b"x" * (HOLD_BUFFER_BYTES + 1))


def test_status_request_split_across_writes_is_still_answered() -> None:
    model = PrinterModel()
    assert model.receive(b"abc\x10") == b""
    assert model.receive(b"\x04\x04def") == READY.to_bytes()[3:]
    assert model.printed == b"abcdef"


def test_silent_serial_printer_times_out_on_status(tmp_path: Path) -> None:
    master, slave = os.openpty()
    try:
        with (
            SerialPrinter(os.ttyname(slave), hardware_flow_control=False) as printer,
            pytest.raises(DeviceTimeout, match="no answer to status request DLE EOT 1"),
        ):
            printer.status(timeout_s=0.05)
    finally:
        os.close(master)
        os.close(slave)


def test_file_printer_writes_the_device_file_and_reports_no_status(tmp_path: Path) -> None:
    path = tmp_path / "lp0"
    path.touch()
    with FilePrinter(str(path)) as printer:
        assert printer.status() is None
        printer.print_job(JOB)
    assert path.read_bytes() == JOB


def test_missing_device_file_names_the_cable(tmp_path: Path) -> None:
    with pytest.raises(DeviceNotFound, match="check the printer's USB cable") as info:
        FilePrinter(str(tmp_path / "missing" / "lp0"))
    assert isinstance(info.value, OSError) and info.value.device.endswith("lp0")


def test_permission_errors_name_the_group_to_join() -> None:
    denied = PermissionError(errno.EACCES, "Permission denied")
    serial_printer = SerialPrinter.__new__(SerialPrinter)
    serial_printer.port, serial_printer.device_name = "/dev/ttyUSB0", "printer /dev/ttyUSB0"
    converted = serial_printer._convert(denied, "open")
    assert isinstance(converted, DevicePermissionDenied)
    assert "sudo usermod -aG dialout $USER" in str(converted)
    file_printer = FilePrinter.__new__(FilePrinter)
    file_printer.path, file_printer.device_name = "/dev/usb/lp0", "printer /dev/usb/lp0"
    assert "sudo usermod -aG lp $USER" in str(file_printer._convert(denied, "open"))


def test_missing_serial_port_is_device_not_found() -> None:
    with pytest.raises(DeviceNotFound, match="/dev/ttyNOPE0 does not exist"):
        SerialPrinter("/dev/ttyNOPE0")


def test_network_printer_that_refuses_is_device_not_found() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    with pytest.raises(DeviceNotFound, match=f"127.0.0.1:{port}.*IP address"):
        NetworkPrinter("127.0.0.1", port)


def test_usb_printer_without_libusb_or_device_says_what_to_install_or_check() -> None:
    with pytest.raises((DriverUnavailable, DeviceNotFound)) as info:
        UsbPrinter(0x04B8, 0x0202)
    message = str(info.value)
    assert "usb 04b8:0202" in message
    assert "apt install libusb-1.0-0" in message or "USB cable" in message


def _escpos_wrapped_usb_error(errno_value: int) -> Exception:
    """What escpos's Usb.open raises for a pyusb error: its own error, the pyusb one as context."""
    import usb.core
    from escpos.exceptions import DeviceNotFoundError

    try:
        try:
            raise usb.core.USBError("Access denied (insufficient permissions)", errno=errno_value)
        except usb.core.USBError as inner:
            raise DeviceNotFoundError("Unable to open USB printer") from inner
    except DeviceNotFoundError as wrapped:
        error: Exception = wrapped
        return error


def test_usb_permission_error_found_under_escpos_wrapper_gives_the_udev_rule() -> None:
    wrapped = _escpos_wrapped_usb_error(errno.EACCES)
    assert _errno_of(wrapped) == errno.EACCES
    printer = UsbPrinter.__new__(UsbPrinter)
    printer.vendor_id, printer.product_id, printer.device_name = 0x04B8, 0x0202, "printer usb 04b8:0202"
    converted = printer._convert(wrapped, "open")
    assert isinstance(converted, DevicePermissionDenied)
    assert 'ATTR{idVendor}=="04b8"' in str(converted) and "udevadm trigger" in str(converted)


def test_open_printer_defaults_to_the_simulator_and_checks_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOSTRADOR_PRINTER", raising=False)
    with open_printer() as printer:
        assert isinstance(printer, SimulatedPrinter)
    with pytest.raises(HardwareError, match=r"printer\.baudrate: not an option of the network backend"):
        open_printer("network", host="x", baudrate=9600)
    with pytest.raises(HardwareError, match=r"printer\.backend: 'parallel'"):
        open_printer("parallel")
    with pytest.raises(HardwareError, match=r"printer\.vendor_id: required"):
        open_printer("usb")


def test_jobs_larger_than_the_bound_are_refused() -> None:
    from hardware.printer import MAX_JOB_BYTES

    with SimulatedPrinter() as printer, pytest.raises(ValueError, match="MAX_JOB_BYTES"):
        printer.print_job(b"\0" * (MAX_JOB_BYTES + 1))


def test_serial_printer_that_stops_reading_times_out_with_the_likely_cause() -> None:
    master, slave = os.openpty()
    try:
        printer = SerialPrinter(os.ttyname(slave), hardware_flow_control=False, write_timeout_s=0.2)
        try:
            with pytest.raises(DeviceTimeout, match=r"timed out after 0\.2 s.*paper out, cover open"):
                printer.print_job(b"x" * (1024 * 1024), check_status=False)
        finally:
            # Drain what the pty holds, or closing (which waits for the output to drain) would block.
            os.set_blocking(master, False)
            while True:
                try:
                    if not os.read(master, 65536):
                        break
                except BlockingIOError:
                    break
            printer.close()
    finally:
        os.close(master)
        os.close(slave)


def test_a_simulated_printer_keeps_the_newest_paper_and_never_stops_for_a_full_roll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hardware.printer import simulated

    monkeypatch.setattr(simulated, "MAX_PRINTED_BYTES", 64)
    model = PrinterModel()
    for n in range(10):
        model.receive(f"receipt {n:02d} ".encode() * 2)
    assert len(model.printed) == 64
    assert model.printed.endswith(b"receipt 09 receipt 09 ")
