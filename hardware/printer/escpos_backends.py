"""Real printer connections through python-escpos: USB, serial, network (port 9100) and a device file.

Each backend opens its python-escpos printer at construction (so a missing or forbidden device is reported
at start-up, not at the first sale), writes through its ``_raw`` and reads status answers from its device.
pyusb, pyserial and socket errors are converted here, where they enter, into ``hardware.errors`` with a
message that names the printer, the port and the fix.
"""

from __future__ import annotations

import errno
import socket
from abc import abstractmethod
from typing import Any

from hardware.errors import DeviceNotFound, DevicePermissionDenied, DeviceTimeout, DriverUnavailable, HardwareError
from hardware.printer.base import STATUS_TIMEOUT_S, Printer
from hardware.printer.status import PrinterStatus

#: How long one write may block before the printer is declared stuck (paper out with flow control, a
#: printer switched off mid-job). A chunk of ``WRITE_CHUNK_BYTES`` takes under 5 s even at 9600 baud.
WRITE_TIMEOUT_S = 10.0

#: How long to wait for a network printer to accept the connection.
CONNECT_TIMEOUT_S = 5.0

#: Bytes read from a USB IN endpoint at once: one full-speed bulk packet, so a status answer never
#: overflows the read.
USB_READ_BYTES = 64

_USB_FIX = "check the printer's USB cable and that it is switched on (`lsusb` should list {vid:04x}:{pid:04x})"
_USB_UDEV = (
    'allow the user to open it with a udev rule: echo \'SUBSYSTEM=="usb", ATTR{{idVendor}}=="{vid:04x}", '
    'ATTR{{idProduct}}=="{pid:04x}", MODE="0660", GROUP="lp"\' | sudo tee /etc/udev/rules.d/60-mostrador-printer.rules'
    " && sudo udevadm control --reload-rules && sudo udevadm trigger, then add the user to the lp group: "
    "sudo usermod -aG lp $USER (log out and in again)"
)


def _errno_of(exc: BaseException | None) -> int | None:
    """The first errno found along an exception's cause/context chain (escpos wraps the original)."""
    seen = 0
    while exc is not None and seen < 8:  # a bounded walk: chains are short, cycles are possible
        code = getattr(exc, "errno", None) or getattr(exc, "backend_error_code", None)
        if isinstance(code, int) and code > 0:
            return code
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _cause_text(exc: BaseException) -> str:
    """The innermost error's message: escpos's wrappers add line breaks and nothing a person can act on."""
    seen = 0
    while (exc.__cause__ or exc.__context__) is not None and seen < 8:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return " ".join(str(exc).split()) or type(exc).__name__


class EscposPrinter(Printer):
    """A ``Printer`` over a python-escpos printer object; subclasses open it and know its device."""

    _escpos: Any

    def __init__(self, escpos_printer: Any, device_name: str) -> None:
        self._escpos = escpos_printer
        self.device_name = device_name
        self._open = False
        try:
            self._escpos.open()
        except Exception as exc:  # escpos raises its own, pyusb's and builtin errors: all converted here
            raise self._convert(exc, "open") from exc
        self._open = True

    @property
    def escpos(self) -> Any:
        """The python-escpos printer, for commands this package does not encode itself."""
        return self._escpos

    def write(self, data: bytes) -> None:
        if not self._open:
            raise ValueError(f"{self.device_name} is closed")
        try:
            self._escpos._raw(data)
        except Exception as exc:
            raise self._convert(exc, "write") from exc

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                self._escpos.close()
            except Exception as exc:
                raise self._convert(exc, "close") from exc

    @abstractmethod
    def _convert(self, exc: Exception, during: str) -> HardwareError:
        """The library's or the OS's error ``exc`` (raised ``during`` open, write or close) as this backend's
        :class:`HardwareError`, naming the device and what to check."""


class UsbPrinter(EscposPrinter):
    """A printer on USB, found by vendor and product id (``lsusb``: ``04b8:0202`` for an Epson TM-T88)."""

    def __init__(
        self,
        vendor_id: int,
        product_id: int,
        *,
        in_ep: int = 0x82,
        out_ep: int = 0x01,
        profile: str | None = None,
        write_timeout_s: float = WRITE_TIMEOUT_S,
    ) -> None:
        from escpos.printer import Usb

        self.vendor_id = vendor_id
        self.product_id = product_id
        self.write_timeout_s = write_timeout_s
        printer = Usb(
            vendor_id, product_id, timeout=int(write_timeout_s * 1000), in_ep=in_ep, out_ep=out_ep, profile=profile
        )
        super().__init__(printer, f"printer usb {vendor_id:04x}:{product_id:04x}")

    @property
    def reports_status(self) -> bool:
        return True

    def _read_answer(self, timeout_s: float) -> bytes:
        device = self._escpos.device
        try:
            return bytes(device.read(self._escpos.in_ep, USB_READ_BYTES, int(timeout_s * 1000)))
        except Exception as exc:
            converted = self._convert(exc, "read")
            if isinstance(converted, DeviceTimeout):
                return b""
            raise converted from exc

    def _convert(self, exc: Exception, during: str) -> HardwareError:
        ids = {"vid": self.vendor_id, "pid": self.product_id}
        name = type(exc).__name__
        if name == "NoBackendError" or isinstance(exc, RuntimeError):
            return DriverUnavailable(
                f"no USB backend for pyusb ({exc}): install libusb: sudo apt install libusb-1.0-0",
                device=self.device_name,
            )
        code = _errno_of(exc)
        if name == "USBTimeoutError" or code == errno.ETIMEDOUT:
            return DeviceTimeout(
                f"{during} timed out after {self.write_timeout_s} s: the printer is not taking data "
                "(paper out, cover open, or switched off?)",
                device=self.device_name,
            )
        if code in (errno.EACCES, errno.EPERM):
            return DevicePermissionDenied(f"USB access denied: {_USB_UDEV.format(**ids)}", device=self.device_name)
        if code == errno.EBUSY:
            return DevicePermissionDenied(
                "USB interface busy: another program (CUPS?) holds the printer; stop it or remove the printer "
                "from CUPS",
                device=self.device_name,
            )
        return DeviceNotFound(
            f"{during} failed ({_cause_text(exc)}): {_USB_FIX.format(**ids)}", device=self.device_name
        )


class SerialPrinter(EscposPrinter):
    """A printer on a serial port (RS-232 adapter or the Pi's UART), ``/dev/ttyUSB0`` by default."""

    def __init__(
        self,
        port: str = "/dev/ttyUSB0",
        *,
        baudrate: int = 9600,
        hardware_flow_control: bool = True,
        profile: str | None = None,
        write_timeout_s: float = WRITE_TIMEOUT_S,
    ) -> None:
        from escpos.printer import Serial

        self.port = port
        self.write_timeout_s = write_timeout_s
        printer = Serial(
            devfile=port,
            baudrate=baudrate,
            timeout=write_timeout_s,
            dsrdtr=hardware_flow_control,
            profile=profile,
        )
        super().__init__(printer, f"printer {port}")
        # escpos does not set a write timeout: without one a printer that stalls flow control blocks forever.
        self._escpos.device.write_timeout = write_timeout_s

    @property
    def reports_status(self) -> bool:
        return True

    def status(self, *, timeout_s: float = STATUS_TIMEOUT_S) -> PrinterStatus | None:
        # Bytes the printer sent unasked (automatic status back) would be taken as answers: drop them.
        try:
            self._escpos.device.reset_input_buffer()
        except Exception as exc:
            raise self._convert(exc, "read") from exc
        return super().status(timeout_s=timeout_s)

    def _read_answer(self, timeout_s: float) -> bytes:
        device = self._escpos.device
        try:
            device.timeout = timeout_s
            return bytes(device.read(1))
        except Exception as exc:
            raise self._convert(exc, "read") from exc

    def _convert(self, exc: Exception, during: str) -> HardwareError:
        code = _errno_of(exc)
        if type(exc).__name__ == "SerialTimeoutException":
            return DeviceTimeout(
                f"{during} on {self.port} timed out after {self.write_timeout_s} s: the printer holds flow control "
                "(paper out, cover open?) or the baud rate is wrong",
                device=self.device_name,
            )
        if code in (errno.EACCES, errno.EPERM):
            return DevicePermissionDenied(
                f"permission denied on {self.port}: add the user to the dialout group: "
                "sudo usermod -aG dialout $USER (log out and in again)",
                device=self.device_name,
            )
        if code == errno.ENOENT:
            return DeviceNotFound(
                f"{self.port} does not exist: check the printer's serial/USB cable; `ls /dev/serial/by-id` lists "
                "the ports present",
                device=self.device_name,
            )
        return DeviceNotFound(
            f"{during} on {self.port} failed ({_cause_text(exc)}): check the cable and that the printer is switched on",
            device=self.device_name,
        )


class NetworkPrinter(EscposPrinter):
    """A printer on the network, raw TCP on port 9100 (JetDirect)."""

    def __init__(
        self, host: str, port: int = 9100, *, profile: str | None = None, write_timeout_s: float = WRITE_TIMEOUT_S
    ) -> None:
        from escpos.printer import Network

        class _Network(Network):  # type: ignore[misc]  # escpos is untyped
            """escpos's Network, but a socket whose connection fails is closed, not left to the collector."""

            def open(self, raise_not_found: bool = True) -> None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    sock.settimeout(self.timeout)
                    sock.connect((self.host, self.port))
                except OSError:
                    sock.close()
                    raise
                self.device = sock

        self.host = host
        self.port = port
        self.write_timeout_s = write_timeout_s
        printer = _Network(host=host, port=port, timeout=CONNECT_TIMEOUT_S, profile=profile)
        super().__init__(printer, f"printer {host}:{port}")
        self._escpos.device.settimeout(write_timeout_s)

    @property
    def reports_status(self) -> bool:
        return True

    def _read_answer(self, timeout_s: float) -> bytes:
        sock: socket.socket = self._escpos.device
        sock.settimeout(timeout_s)
        try:
            return sock.recv(1)
        except TimeoutError:
            return b""
        except OSError as exc:
            raise self._convert(exc, "read") from exc
        finally:
            sock.settimeout(self.write_timeout_s)

    def _convert(self, exc: Exception, during: str) -> HardwareError:
        where = f"{self.host}:{self.port}"
        if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
            return DeviceTimeout(
                f"{during} to {where} timed out: check that the printer is on and on the same network",
                device=self.device_name,
            )
        return DeviceNotFound(
            f"{during} to {where} failed ({_cause_text(exc)}): check that the printer is on, its network cable, "
            "and its IP address (hold FEED while switching it on to print a self-test page that shows it)",
            device=self.device_name,
        )


class FilePrinter(EscposPrinter):
    """A printer behind a device file, ``/dev/usb/lp0`` (the kernel's usblp driver). It cannot report status."""

    def __init__(self, path: str = "/dev/usb/lp0", *, profile: str | None = None) -> None:
        from escpos.printer import File

        self.path = path
        super().__init__(File(devfile=path, profile=profile), f"printer {path}")

    def _convert(self, exc: Exception, during: str) -> HardwareError:
        code = _errno_of(exc)
        if code in (errno.EACCES, errno.EPERM):
            return DevicePermissionDenied(
                f"permission denied on {self.path}: add the user to the lp group: sudo usermod -aG lp $USER "
                "(log out and in again)",
                device=self.device_name,
            )
        if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
            return DeviceNotFound(
                f"{self.path} is missing: check the printer's USB cable and power (the usblp kernel module "
                "creates /dev/usb/lp0 when a printer is plugged in)",
                device=self.device_name,
            )
        return DeviceNotFound(f"{during} on {self.path} failed ({_cause_text(exc)})", device=self.device_name)
