"""LEDs, buzzer and buttons on the box's GPIO header, through gpiozero.

Everything takes ``pin_factory=`` (gpiozero's backend interface), chosen by ``make_pin_factory``: lgpio on
the Raspberry Pi 5 (its GPIO sits behind the RP1 chip, which RPi.GPIO cannot drive), RPi.GPIO on older Pis,
and gpiozero's ``MockFactory`` for the simulator and tests, where ``factory.pin(5).drive_low()`` presses a
button and ``factory.pin(17).states`` is the LED's recorded history. Pins are BCM GPIO numbers.

Patterns are values (``BlinkPattern``, ``BeepPattern``) with bounded repeats: the buzzer never sounds
continuously, and only LEDs may blink until told to stop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final, Literal, Self

from hardware.errors import ConfigError, DeviceNotFound, DevicePermissionDenied, DriverUnavailable

log = logging.getLogger(__name__)

PinFactoryName = Literal["auto", "lgpio", "rpigpio", "mock"]
PIN_FACTORIES: Final[tuple[PinFactoryName, ...]] = ("auto", "lgpio", "rpigpio", "mock")

#: Where the kernel names the board; "Raspberry Pi 5 Model B Rev 1.0" and the like.
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")

#: Most repeats one pattern may ask for; a pattern is a signal to a person, not a background task.
MAX_PATTERN_REPEATS = 20

#: Longest single on or off phase of a pattern, in seconds.
MAX_PHASE_S = 5.0

#: Edges closer than this to the last accepted press are contact bounce, not presses. Typical tactile
#: switches settle in 5-20 ms; a person cannot press twice within 50 ms.
DEBOUNCE_S = 0.05

#: How long a button must be held for ``on_hold``.
HOLD_S = 2.0


def detect_board_model(model_path: Path = DEVICE_TREE_MODEL) -> str | None:
    """The board's model string from the device tree, or ``None`` when this is not a device-tree board."""
    try:
        return model_path.read_bytes().rstrip(b"\x00").decode("ascii", "replace")
    except OSError:
        return None


def choose_backend(name: PinFactoryName, model_path: Path = DEVICE_TREE_MODEL) -> Literal["lgpio", "rpigpio", "mock"]:
    """Resolve ``auto`` from the board model: lgpio on a Pi 5, RPi.GPIO on older Pis."""
    if name != "auto":
        return name
    model = detect_board_model(model_path)
    if model is None or not model.startswith("Raspberry Pi"):
        raise DeviceNotFound(
            f'this is not a Raspberry Pi ({model_path}: {model or "missing"}); set gpio.pin_factory = "mock" or '
            "run with --simulate",
            device="gpio",
        )
    return "lgpio" if model.startswith(("Raspberry Pi 5", "Raspberry Pi Compute Module 5")) else "rpigpio"


def make_pin_factory(name: PinFactoryName = "auto", *, model_path: Path = DEVICE_TREE_MODEL) -> Any:
    """Build the gpiozero pin factory for ``name``, converting import and open errors with the fix."""
    if name not in PIN_FACTORIES:
        raise ConfigError(f"unknown pin factory {name!r}; use one of {', '.join(PIN_FACTORIES)}", device="gpio")
    backend = choose_backend(name, model_path)
    if backend == "mock":
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    if backend == "lgpio":
        try:
            from gpiozero.pins.lgpio import LGPIOFactory
        except ImportError as exc:
            raise DriverUnavailable(
                "lgpio is not installed: apt install python3-lgpio (venv with --system-site-packages) or "
                "pip install 'mostrador[pi]'",
                device="gpio",
            ) from exc
        factory_class: Any = LGPIOFactory
    else:
        try:
            from gpiozero.pins.rpigpio import RPiGPIOFactory
        except ImportError as exc:
            raise DriverUnavailable(
                "RPi.GPIO is not installed: apt install python3-rpi.gpio (venv with --system-site-packages) or "
                "pip install 'mostrador[pi]'",
                device="gpio",
            ) from exc
        factory_class = RPiGPIOFactory
    try:
        return factory_class()
    except PermissionError as exc:
        raise DevicePermissionDenied(
            "may not open /dev/gpiochip*: add the user to the gpio group: sudo usermod -aG gpio $USER",
            device="gpio",
        ) from exc
    except (OSError, RuntimeError) as exc:
        # lgpio raises its own error type (a RuntimeError subclass) for "can not open gpiochip".
        raise DeviceNotFound(f"cannot open the GPIO chip with {backend} ({exc})", device="gpio") from exc


def _check_phase(name: str, value_s: float) -> None:
    if not 0 <= value_s <= MAX_PHASE_S:
        raise ValueError(f"{name} must be within 0..{MAX_PHASE_S} s, got {value_s}")


@dataclass(frozen=True, slots=True)
class BlinkPattern:
    """An LED pattern: ``on_s`` lit, ``off_s`` dark, ``count`` times (``None``: until changed)."""

    on_s: float
    off_s: float
    count: int | None = None

    def __post_init__(self) -> None:
        _check_phase("on_s", self.on_s)
        _check_phase("off_s", self.off_s)
        if self.count is not None and not 1 <= self.count <= MAX_PATTERN_REPEATS:
            raise ValueError(f"count must be within 1..{MAX_PATTERN_REPEATS} or None, got {self.count}")


@dataclass(frozen=True, slots=True)
class BeepPattern:
    """A buzzer pattern: ``count`` beeps of ``on_s`` separated by ``off_s`` of silence; always finite."""

    on_s: float
    off_s: float
    count: int

    def __post_init__(self) -> None:
        _check_phase("on_s", self.on_s)
        _check_phase("off_s", self.off_s)
        if not 1 <= self.count <= MAX_PATTERN_REPEATS:
            raise ValueError(f"count must be within 1..{MAX_PATTERN_REPEATS}, got {self.count}")

    @property
    def duration_s(self) -> float:
        return self.count * self.on_s + (self.count - 1) * self.off_s


#: One short chirp: a scan or a fingerprint was accepted.
BEEP_OK: Final = BeepPattern(on_s=0.08, off_s=0.0, count=1)
#: Three long beeps: something failed and the cashier must look at the screen.
BEEP_ERROR: Final = BeepPattern(on_s=0.3, off_s=0.1, count=3)
#: Two quick beeps: the box is waiting for the cashier (place a finger, take the receipt).
BEEP_ATTENTION: Final = BeepPattern(on_s=0.06, off_s=0.06, count=2)
BEEPS: Final = MappingProxyType({"ok": BEEP_OK, "error": BEEP_ERROR, "attention": BEEP_ATTENTION})

#: Slow green blink: working (syncing, printing).
BLINK_BUSY: Final = BlinkPattern(on_s=0.5, off_s=0.5)
#: Fast red blink: a device fault needs a technician.
BLINK_FAULT: Final = BlinkPattern(on_s=0.1, off_s=0.1)
#: Three green flashes: the last operation succeeded.
BLINK_OK: Final = BlinkPattern(on_s=0.15, off_s=0.15, count=3)

LedName = Literal["green", "red"]


class Indicators:
    """The green and red LEDs and the buzzer.

    ``active_buzzer=True`` for a buzzer with its own oscillator (on/off is enough); passive piezo buzzers
    need PWM and are not supported. ``buzzer_active_high=False`` for a buzzer switched by a PNP transistor.
    """

    def __init__(
        self,
        *,
        green_pin: int,
        red_pin: int,
        buzzer_pin: int,
        buzzer_active_high: bool = True,
        pin_factory: Any,
    ) -> None:
        from gpiozero import LED, Buzzer

        self.pin_factory = pin_factory
        self._devices: list[Any] = []
        try:
            self.green = self._add(LED(green_pin, pin_factory=pin_factory))
            self.red = self._add(LED(red_pin, pin_factory=pin_factory))
            self.buzzer = self._add(Buzzer(buzzer_pin, active_high=buzzer_active_high, pin_factory=pin_factory))
        except BaseException:
            self.close()
            raise

    def _add(self, device: Any) -> Any:
        self._devices.append(device)
        return device

    def _led(self, name: LedName) -> Any:
        return self.green if name == "green" else self.red

    def set_led(self, name: LedName, lit: bool) -> None:
        """Turn an LED steadily on or off (stops any blinking)."""
        led = self._led(name)
        led.on() if lit else led.off()

    def blink(self, name: LedName, pattern: BlinkPattern, *, wait: bool = False) -> None:
        """Blink an LED; ``wait=True`` blocks until a finite pattern has played."""
        if wait and pattern.count is None:
            raise ValueError("cannot wait for a pattern that repeats until changed")
        self._led(name).blink(on_time=pattern.on_s, off_time=pattern.off_s, n=pattern.count, background=not wait)

    def beep(self, pattern: BeepPattern | str, *, wait: bool = False) -> None:
        """Sound a pattern (``BEEP_OK`` or its name "ok", "error", "attention")."""
        if isinstance(pattern, str):
            if pattern not in BEEPS:
                raise ValueError(f"unknown beep {pattern!r}; known: {', '.join(BEEPS)}")
            pattern = BEEPS[pattern]
        self.buzzer.beep(on_time=pattern.on_s, off_time=pattern.off_s, n=pattern.count, background=not wait)

    def all_off(self) -> None:
        for device in self._devices:
            device.off()

    def close(self) -> None:
        for device in reversed(self._devices):
            device.close()
        self._devices.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class CounterButton:
    """A push button between a GPIO and ground (internal pull-up), with press and hold callbacks.

    Debouncing is done here, on the edge times, rather than by the pin backend: mock pins do not debounce
    and RPi.GPIO's debounce drops releases, so the same rule then holds on every backend. Callbacks run on
    gpiozero's thread; an exception in one is logged with its traceback and does not stop the button.
    """

    def __init__(
        self,
        pin: int,
        *,
        name: str = "button",
        pull_up: bool = True,
        debounce_s: float = DEBOUNCE_S,
        hold_s: float = HOLD_S,
        pin_factory: Any,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        from gpiozero import Button

        self.name = name
        self.debounce_s = debounce_s
        self.on_press: Callable[[], None] | None = None
        self.on_hold: Callable[[], None] | None = None
        self._monotonic = monotonic
        self._last_press_s: float | None = None
        self._lock = threading.Lock()
        self.presses = 0
        self.ignored_bounces = 0
        self._button = Button(pin, pull_up=pull_up, bounce_time=None, hold_time=hold_s, pin_factory=pin_factory)
        self._button.when_pressed = self._pressed
        self._button.when_held = self._held

    @property
    def is_pressed(self) -> bool:
        return bool(self._button.is_pressed)

    def _pressed(self) -> None:
        now_s = self._monotonic()
        with self._lock:
            if self._last_press_s is not None and now_s - self._last_press_s < self.debounce_s:
                self.ignored_bounces += 1
                return
            self._last_press_s = now_s
            self.presses += 1
        self._call(self.on_press, "press")

    def _held(self) -> None:
        self._call(self.on_hold, "hold")

    def _call(self, callback: Callable[[], None] | None, what: str) -> None:
        if callback is None:
            return
        try:
            callback()
        except Exception:
            log.exception("%s: %s callback failed", self.name, what)

    def close(self) -> None:
        self._button.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
