"""Choosing the printer backend from configuration: ``open_printer(backend=..., **options)``.

The backend is a keyword argument whose default comes from the configuration (the ``[printer]`` table of
the hardware configuration, or the ``MOSTRADOR_PRINTER`` environment variable, else ``simulated``), as
gpiozero's ``pin_factory``. Options are those of the backend class, checked here so a wrong configuration
fails with ``ConfigError`` naming the key rather than with a ``TypeError`` deep inside a driver.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from hardware.errors import ConfigError
from hardware.printer.base import Printer

#: Environment variable naming the default backend when the configuration does not.
BACKEND_ENV = "MOSTRADOR_PRINTER"

BACKENDS = ("usb", "serial", "network", "file", "simulated")

_SECONDS = (int, float)
_OPTIONS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "usb": {
        "vendor_id": int,
        "product_id": int,
        "in_ep": int,
        "out_ep": int,
        "profile": str,
        "write_timeout_s": _SECONDS,
    },
    "serial": {
        "port": str,
        "baudrate": int,
        "hardware_flow_control": bool,
        "profile": str,
        "write_timeout_s": _SECONDS,
    },
    "network": {"host": str, "port": int, "profile": str, "write_timeout_s": _SECONDS},
    "file": {"path": str, "profile": str},
    "simulated": {"name": str},
}


def _parse_int(key: str, value: Any) -> int:
    # USB ids come from `lsusb` as hex strings ("04b8"); accept them as written there.
    if isinstance(value, bool):
        raise ConfigError(f"printer.{key}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if key in ("vendor_id", "product_id") else int(value, 0)
        except ValueError:
            pass
    raise ConfigError(f"printer.{key}: expected an integer, got {value!r}")


def open_printer(backend: str | None = None, /, **options: Any) -> Printer:
    """Open the printer ``backend`` (default: configuration, then ``MOSTRADOR_PRINTER``, then simulated)."""
    backend = backend or os.environ.get(BACKEND_ENV) or "simulated"
    if backend not in _OPTIONS:
        raise ConfigError(f"printer.backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    allowed = _OPTIONS[backend]
    checked: dict[str, Any] = {}
    for key, value in options.items():
        if key not in allowed:
            raise ConfigError(f"printer.{key}: not an option of the {backend} backend ({', '.join(allowed)})")
        if allowed[key] is int:
            checked[key] = _parse_int(key, value)
        elif not isinstance(value, allowed[key]):
            raise ConfigError(f"printer.{key}: expected {allowed[key]}, got {value!r}")
        else:
            checked[key] = value
    if backend == "simulated":
        from hardware.printer.simulated import SimulatedPrinter

        return SimulatedPrinter(**checked)
    from hardware.printer import escpos_backends as eb

    if backend == "usb":
        for key in ("vendor_id", "product_id"):
            if key not in checked:
                raise ConfigError(f"printer.{key}: required for the usb backend (see `lsusb`)")
        return eb.UsbPrinter(**checked)
    if backend == "serial":
        return eb.SerialPrinter(**checked)
    if backend == "network":
        if "host" not in checked:
            raise ConfigError("printer.host: required for the network backend")
        return eb.NetworkPrinter(**checked)
    return eb.FilePrinter(**checked)


def printer_from_config(section: Mapping[str, Any]) -> Printer:
    """Open the printer a configuration's ``[printer]`` table describes (``backend`` plus its options)."""
    options = dict(section)
    backend = options.pop("backend", None)
    if backend is not None and not isinstance(backend, str):
        raise ConfigError(f"printer.backend: expected a string, got {backend!r}")
    return open_printer(backend, **options)
