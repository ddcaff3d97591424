"""The error hierarchy of ``hardware``.

::

    HardwareError                          root; every error has a stable ``code`` and names its device
     +-- DeviceNotFound (OSError)          nothing at the configured port/path/address
     +-- DevicePermissionDenied (PermissionError)
     +-- DriverUnavailable (ImportError)   the library for a real driver is not installed on this system
     +-- DeviceTimeout (TimeoutError)      the device did not answer in time
     +-- DeviceProtocolError (IOError)     the device answered, but not as its protocol says (bad checksum...)
     +-- DeviceFault (RuntimeError)        the device reported a fault (paper out, cover open, sensor error)
     +-- ConfigError (ValueError)          the hardware configuration file or an override is wrong

Messages say what went wrong, on which device and port, and what to do (for example "user not in the
dialout group"). Vendor exceptions are converted where they enter this package, with ``raise ... from exc``.
"""

from __future__ import annotations


class HardwareError(Exception):
    """Root of every error raised by ``hardware``."""

    code: str = "hardware_error"

    def __init__(self, message: str, *, device: str = "", code: str | None = None) -> None:
        super().__init__(f"{device}: {message}" if device else message)
        self.device = device
        if code is not None:
            self.code = code


class DeviceNotFound(HardwareError, OSError):
    """Nothing answers at the configured port, path or address."""

    code = "device_not_found"


class DevicePermissionDenied(HardwareError, PermissionError):
    """The device exists but this user may not open it."""

    code = "permission_denied"


class DriverUnavailable(HardwareError, ImportError):
    """The library a real driver needs is not installed here."""

    code = "driver_unavailable"


class DeviceTimeout(HardwareError, TimeoutError):
    """The device did not answer within its time limit."""

    code = "timeout"


class DeviceProtocolError(HardwareError, IOError):
    """The device's answer breaks its protocol (bad checksum, unexpected packet, short read)."""

    code = "protocol_error"


class DeviceFault(HardwareError, RuntimeError):
    """The device reported a fault it cannot recover from by itself."""

    code = "device_fault"


class ConfigError(HardwareError, ValueError):
    """The hardware configuration is wrong; the message names the key and the problem."""

    code = "config_error"
