"""What a fingerprint sensor offers the counter application, whatever module or emulator backs it.

Slots are numbered from 0 to ``capacity - 1``, as the module numbers its template library ("page ID").
Templates leave the module as opaque :class:`Template` bytes; the caller encrypts them at rest.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

MAX_TEMPLATE_SIZE_BYTES = 4096
"""Upper bound of a template: R30x/AS608 templates are 512 bytes, R503 ones 1536; anything larger is not one."""

DEFAULT_FINGER_TIMEOUT_S = 10.0
"""How long enrolment, identification and verification wait for a finger before giving up."""


@dataclass(frozen=True)
class Template:
    """A fingerprint template as the module exports it: opaque bytes, 1 to MAX_TEMPLATE_SIZE_BYTES long."""

    data: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise TypeError(f"template data must be bytes, not {type(self.data).__name__}")
        if not 1 <= len(self.data) <= MAX_TEMPLATE_SIZE_BYTES:
            raise ValueError(f"template of {len(self.data)} bytes; expected 1..{MAX_TEMPLATE_SIZE_BYTES}")

    def __repr__(self) -> str:
        # Never print biometric data into logs.
        return f"Template({len(self.data)} bytes)"


@dataclass(frozen=True)
class Match:
    """A 1:N search hit: the library slot and the module's confidence score (higher is surer)."""

    slot: int
    confidence: int


@dataclass(frozen=True)
class SensorInfo:
    """What the module says about itself (its system parameters)."""

    capacity: int
    security_level: int
    packet_size_bytes: int
    baudrate: int
    system_id: int
    status_register: int
    address: int


class EnrolStep(enum.Enum):
    """Enrolment progress, reported so a UI can prompt the customer."""

    PLACE_FINGER = "place your finger on the sensor"
    FIRST_CAPTURED = "first image taken"
    LIFT_FINGER = "lift your finger"
    PLACE_AGAIN = "place the same finger again"
    SECOND_CAPTURED = "second image taken"
    MODEL_CREATED = "fingerprint model created"
    STORED = "fingerprint stored"


EnrolCallback = Callable[[EnrolStep], None]


class LedColour(enum.IntEnum):
    """R503 aura LED colour index (newer firmware has seven colours; older ones stop at purple)."""

    RED = 1
    BLUE = 2
    PURPLE = 3
    GREEN = 4
    YELLOW = 5
    CYAN = 6
    WHITE = 7


class LedMode(enum.IntEnum):
    """R503 aura LED control code."""

    BREATHING = 1
    FLASHING = 2
    ON = 3
    OFF = 4
    FADE_ON = 5
    FADE_OFF = 6


@runtime_checkable
class FingerprintSensor(Protocol):
    """One fingerprint module: enrol, identify (1:N on the module), verify (1:1), move templates in and out.

    Errors are those of :mod:`hardware.errors`: no finger within the wait is a ``DeviceTimeout`` with code
    ``no_finger``; a module that does not answer is a ``DeviceTimeout``; a garbled answer a
    ``DeviceProtocolError``; a refusal (bad slot, merge failed, library full) a ``DeviceFault``.
    """

    @property
    def capacity(self) -> int:
        """Library size in templates, as the module reports it."""
        ...

    def self_check(self) -> SensorInfo: ...

    def enrol(
        self,
        slot: int | None = None,
        *,
        on_step: EnrolCallback | None = None,
        finger_timeout_s: float = DEFAULT_FINGER_TIMEOUT_S,
    ) -> int: ...

    def identify(self, *, finger_timeout_s: float = DEFAULT_FINGER_TIMEOUT_S) -> Match | None: ...

    def verify(self, template: Template, *, finger_timeout_s: float = DEFAULT_FINGER_TIMEOUT_S) -> int | None: ...

    def export_template(self, slot: int) -> Template: ...

    def import_template(self, slot: int, template: Template) -> None: ...

    def delete(self, slot: int) -> None: ...

    def empty(self) -> None: ...

    def used_slots(self) -> frozenset[int]: ...

    def template_count(self) -> int: ...

    def set_led(self, colour: LedColour, mode: LedMode, *, speed: int = 0x80, cycles: int = 0) -> None: ...

    def close(self) -> None: ...
