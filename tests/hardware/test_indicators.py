"""LEDs, buzzer and buttons on gpiozero's mock pins: recorded pin histories, debounce, hold, factories."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from hardware.errors import ConfigError, DeviceNotFound
from hardware.indicators import (
    BEEP_ATTENTION,
    BEEP_ERROR,
    BEEP_OK,
    BlinkPattern,
    CounterButton,
    Indicators,
    choose_backend,
    make_pin_factory,
)

GREEN, RED, BUZZER, BUTTON = 17, 27, 22, 5


@pytest.fixture
def factory() -> Iterator[Any]:
    mock = MockFactory()
    yield mock
    mock.reset()


@pytest.fixture
def indicators(factory: Any) -> Iterator[Indicators]:
    with Indicators(green_pin=GREEN, red_pin=RED, buzzer_pin=BUZZER, pin_factory=factory) as panel:
        yield panel


def states(factory: Any, pin: int) -> list[bool]:
    return [bool(change.state) for change in factory.pin(pin).states]


def test_ok_beep_is_one_short_pulse(indicators: Indicators, factory: Any) -> None:
    indicators.beep("ok", wait=True)
    assert states(factory, BUZZER) == [False, True, False]
    on_phase_s = factory.pin(BUZZER).states[2].timestamp
    assert on_phase_s == pytest.approx(BEEP_OK.on_s, abs=0.05)


@pytest.mark.parametrize(("name", "pattern"), [("error", BEEP_ERROR), ("attention", BEEP_ATTENTION)])
def test_named_beeps_pulse_their_count(indicators: Indicators, factory: Any, name: str, pattern: Any) -> None:
    indicators.beep(name, wait=True)
    assert states(factory, BUZZER) == [False] + [True, False] * pattern.count


def test_inverted_buzzer_idles_high(factory: Any) -> None:
    with Indicators(
        green_pin=GREEN, red_pin=RED, buzzer_pin=BUZZER, buzzer_active_high=False, pin_factory=factory
    ) as p:
        p.beep("ok", wait=True)
        assert states(factory, BUZZER)[-3:] == [True, False, True]


def test_finite_blink_leaves_the_led_off(indicators: Indicators, factory: Any) -> None:
    indicators.blink("red", BlinkPattern(on_s=0.01, off_s=0.01, count=3), wait=True)
    assert states(factory, RED) == [False, True, False, True, False, True, False]
    assert states(factory, GREEN) == [False]


def test_continuous_blink_runs_until_the_led_is_set(indicators: Indicators, factory: Any) -> None:
    indicators.blink("green", BlinkPattern(on_s=0.01, off_s=0.01))
    time.sleep(0.1)
    indicators.set_led("green", True)
    history = states(factory, GREEN)
    assert history.count(True) >= 3
    assert factory.pin(GREEN).state is True


def test_waiting_for_an_endless_blink_is_refused(indicators: Indicators) -> None:
    with pytest.raises(ValueError, match="repeats until changed"):
        indicators.blink("green", BlinkPattern(0.1, 0.1), wait=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"on_s": 6.0, "off_s": 0.1}, "on_s must be within"), ({"on_s": 0.1, "off_s": 0.1, "count": 21}, "count")],
)
def test_patterns_are_bounded(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BlinkPattern(**kwargs)


def test_unknown_beep_name_is_refused(indicators: Indicators) -> None:
    with pytest.raises(ValueError, match="unknown beep 'melody'"):
        indicators.beep("melody")


def test_button_press_calls_back_once_despite_contact_bounce(factory: Any) -> None:
    pressed = threading.Event()
    calls: list[str] = []
    with CounterButton(BUTTON, pin_factory=factory, debounce_s=0.05) as button:

        def on_press() -> None:
            calls.append("press")
            pressed.set()

        button.on_press = on_press
        pin = factory.pin(BUTTON)
        # A bouncing contact: low, high, low within a few milliseconds.
        pin.drive_low()
        pin.drive_high()
        pin.drive_low()
        assert pressed.wait(1.0)
        assert button.is_pressed
        pin.drive_high()
        time.sleep(0.06)
        pin.drive_low()
        pin.drive_high()
    assert calls == ["press", "press"]
    assert button.ignored_bounces == 1


def test_button_hold_fires_after_the_hold_time(factory: Any) -> None:
    held = threading.Event()
    with CounterButton(BUTTON, pin_factory=factory, hold_s=0.1) as button:
        button.on_hold = held.set
        factory.pin(BUTTON).drive_low()
        started = time.monotonic()
        assert held.wait(2.0)
        assert time.monotonic() - started >= 0.09
        factory.pin(BUTTON).drive_high()


def test_a_failing_callback_is_logged_and_the_button_keeps_working(
    factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> None:
        raise RuntimeError("boom")

    with CounterButton(BUTTON, name="ok-button", pin_factory=factory, debounce_s=0.0) as button:
        button.on_press = explode
        factory.pin(BUTTON).drive_low()
        factory.pin(BUTTON).drive_high()
        factory.pin(BUTTON).drive_low()
        assert button.presses == 2
        factory.pin(BUTTON).drive_high()
    assert "ok-button: press callback failed" in caplog.text
    assert "RuntimeError: boom" in caplog.text


@pytest.mark.parametrize(
    ("model", "backend"),
    [
        ("Raspberry Pi 5 Model B Rev 1.0", "lgpio"),
        ("Raspberry Pi 4 Model B Rev 1.4", "rpigpio"),
        ("Raspberry Pi 3 Model B Plus Rev 1.3", "rpigpio"),
    ],
)
def test_auto_backend_follows_the_board_model(tmp_path: Path, model: str, backend: str) -> None:
    model_path = tmp_path / "model"
    model_path.write_bytes(model.encode() + b"\x00")
    assert choose_backend("auto", model_path) == backend


def test_auto_backend_off_a_pi_says_to_simulate(tmp_path: Path) -> None:
    with pytest.raises(DeviceNotFound, match=r"not a Raspberry Pi.*--simulate"):
        make_pin_factory("auto", model_path=tmp_path / "missing")


def test_mock_factory_is_gpiozeros(tmp_path: Path) -> None:
    assert isinstance(make_pin_factory("mock"), MockFactory)


def test_unknown_factory_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown pin factory 'pigpio'"):
        make_pin_factory("pigpio")  # type: ignore[arg-type]
