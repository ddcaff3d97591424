"""Fingerprint sensors: the :class:`FingerprintSensor` interface, the real R30x/R503 driver, an emulator.

* :mod:`.interface`: the interface and its value types (``Template``, ``Match``, ``SensorInfo``, ...).
* :mod:`.protocol`: the module family's UART packet encoding, without I/O.
* :mod:`.r30x`: :class:`R30xSensor`, the real driver (adafruit library plus our fixes) on a serial port.
* :mod:`.emulator`: :class:`FingerprintEmulator`, a module that speaks the packet protocol on a pty.

The simulated backend is the real driver talking to the emulator, so the whole stack is exercised::

    with SimulatedFingerprintSensor() as sensor:        # or R30xSensor("/dev/ttyAMA0") on the box
        sensor.emulator.place("alice")
        match = sensor.identify(finger_timeout_s=5)    # a Match, or None
"""

from hardware.fingerprint.emulator import (
    AS608,
    R307,
    R503,
    FingerprintEmulator,
    ImageQuality,
    SensorFamily,
    SimulatedFinger,
    SimulatedFingerprintSensor,
)
from hardware.fingerprint.interface import (
    MAX_TEMPLATE_SIZE_BYTES,
    EnrolStep,
    FingerprintSensor,
    LedColour,
    LedMode,
    Match,
    SensorInfo,
    Template,
)
from hardware.fingerprint.r30x import R30xSensor

__all__ = [
    "AS608",
    "MAX_TEMPLATE_SIZE_BYTES",
    "R307",
    "R503",
    "EnrolStep",
    "FingerprintEmulator",
    "FingerprintSensor",
    "ImageQuality",
    "LedColour",
    "LedMode",
    "Match",
    "R30xSensor",
    "SensorFamily",
    "SensorInfo",
    "SimulatedFinger",
    "SimulatedFingerprintSensor",
    "Template",
]
