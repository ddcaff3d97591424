"""USB HID scanner: decoding recorded key events (golden files), layouts, and the evdev reader loop.

The ``golden/scanner/*.events`` files are key-event recordings in evtest's notation (``EV_KEY KEY_A 1``),
with the scanner's layout in a header line. Each ``*.expected.json`` holds the codes decoded from it; a
normal run compares, and ``MOSTRADOR_UPDATE_GOLDEN=1`` rewrites the expected files from the decoder.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest
from evdev import ecodes
from hypothesis import given
from hypothesis import strategies as st

from hardware.errors import DeviceNotFound
from hardware.scanner import ES, LAYOUTS, US, HidScanner, KeyboardLayout, KeyDecoder, KeyEvent, ReplayKeyboard

GOLDEN = Path(__file__).parent / "golden" / "scanner"
UPDATE_GOLDEN = os.environ.get("MOSTRADOR_UPDATE_GOLDEN") == "1"
READ_TIMEOUT_S = 2.0


def load_recording(path: Path) -> tuple[KeyboardLayout, list[KeyEvent]]:
    layout = US
    events: list[KeyEvent] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# layout:"):
            layout = LAYOUTS[line.split(":", 1)[1].strip()]
        elif line and not line.startswith("#"):
            type_name, code_name, value = line.split()
            events.append(KeyEvent(ecodes.ecodes[type_name], ecodes.ecodes[code_name], int(value)))
    return layout, events


def key_events(layout: KeyboardLayout, text: str) -> list[KeyEvent]:
    """Type ``text`` as a scanner would on ``layout``: Shift/AltGr held around the key, Enter at the end."""
    by_symbol: dict[str, tuple[int, int | None]] = {}
    for code, symbols in sorted(layout.keys.items()):
        for symbol, modifier in ((symbols.plain, None), (symbols.shift, 42), (symbols.altgr, 100)):
            if symbol and symbol not in by_symbol:
                by_symbol[symbol] = (code, modifier)
    events: list[KeyEvent] = []
    for char in text:
        code, modifier = by_symbol[char]
        if modifier is not None:
            events.append(KeyEvent(1, modifier, 1))
        events += [KeyEvent(1, code, 1), KeyEvent(0, 0, 0), KeyEvent(1, code, 0)]
        if modifier is not None:
            events.append(KeyEvent(1, modifier, 0))
    return [*events, KeyEvent(1, 28, 1), KeyEvent(1, 28, 0)]


@pytest.mark.parametrize("recording", sorted(GOLDEN.glob("*.events")), ids=lambda path: path.stem)
def test_recorded_key_events_decode_to_the_golden_codes(recording: Path) -> None:
    layout, events = load_recording(recording)
    decoded = KeyDecoder(layout).decode(events)
    expected_path = recording.with_suffix(".expected.json")
    if UPDATE_GOLDEN:
        expected_path.write_text(json.dumps({"codes": decoded}, ensure_ascii=False, indent=1) + "\n", "utf-8")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))["codes"]
    assert decoded == expected


def test_every_golden_recording_has_an_expected_file() -> None:
    recordings = {path.stem for path in GOLDEN.glob("*.events")}
    expected = {path.name.removesuffix(".expected.json") for path in GOLDEN.glob("*.expected.json")}
    assert recordings and recordings == expected


def test_spanish_recording_read_with_the_us_layout_gives_other_characters() -> None:
    # Why the layout must match the scanner's: the same keys mean "/" in es and "&" in us.
    _, events = load_recording(GOLDEN / "es_qr_url.events")
    assert KeyDecoder(ES).decode(events)[0].startswith("https://")
    assert KeyDecoder(US).decode(events)[0] == "https>&&mostrador.example&c&MX/00042/7_s)1"


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # Caps Lock upper-cases letters only; digits keep their plain symbol.
        ([(58, 1), (58, 0), (30, 1), (30, 0), (2, 1), (2, 0), (28, 1)], ["A1"]),
        # Caps Lock plus Shift gives lower case again.
        ([(58, 1), (42, 1), (30, 1), (30, 0), (42, 0), (28, 1)], ["a"]),
        # Backspace removes the character before it.
        ([(30, 1), (48, 1), (14, 1), (46, 1), (28, 1)], ["ac"]),
        # Enter alone is no code.
        ([(28, 1), (28, 0)], []),
        # Auto-repeat events are ignored.
        ([(30, 1), (30, 2), (30, 2), (30, 0), (28, 1)], ["a"]),
    ],
)
def test_decoder_state_machine(events: list[tuple[int, int]], expected: list[str]) -> None:
    assert KeyDecoder(US).decode(KeyEvent(1, code, value) for code, value in events) == expected


def test_spanish_dead_key_before_a_digit_types_the_accent_and_the_digit() -> None:
    events = [KeyEvent(1, 40, 1), KeyEvent(1, 40, 0), KeyEvent(1, 2, 1), KeyEvent(1, 2, 0), KeyEvent(1, 28, 1)]
    assert KeyDecoder(ES).decode(events) == ["\u00b41"]


def test_a_code_with_a_key_the_layout_cannot_type_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    decoder = KeyDecoder(US)
    events = [KeyEvent(1, 30, 1), KeyEvent(1, 59, 1), KeyEvent(1, 28, 1), KeyEvent(1, 31, 1), KeyEvent(1, 28, 1)]
    with caplog.at_level(logging.WARNING):
        assert decoder.decode(events) == ["s"]
    assert decoder.dropped_codes == 1
    assert "[59]" in caplog.text and "layout" in caplog.text


def test_a_code_longer_than_the_bound_is_dropped() -> None:
    decoder = KeyDecoder(US, max_code_chars=3)
    assert decoder.decode(key_events(US, "1234") + key_events(US, "123")) == ["123"]
    assert decoder.dropped_codes == 1


def test_a_code_without_enter_is_dropped_after_the_timeout() -> None:
    decoder = KeyDecoder(US, partial_timeout_s=0.5)
    for event in key_events(US, "999")[:-2]:
        assert decoder.feed(event, 0.0) is None
    decoder.expire(0.6)
    assert decoder.dropped_codes == 1
    assert [decoder.feed(event, 0.7) for event in key_events(US, "12")][-2] == "12"


@given(st.text(st.characters(codec="ascii", min_codepoint=32, max_codepoint=126), min_size=1, max_size=30))
def test_any_printable_ascii_typed_on_us_decodes_back(text: str) -> None:
    assert KeyDecoder(US).decode(key_events(US, text)) == [text]


@given(st.text(alphabet="abcñçABCÑ0123456789-.,:;_/()=?¡¿!@#€+*<>ºª", min_size=1, max_size=30))
def test_spanish_text_typed_on_es_decodes_back(text: str) -> None:
    assert KeyDecoder(ES).decode(key_events(ES, text)) == [text]


def test_hid_driver_grabs_the_device_and_emits_scans() -> None:
    _, events = load_recording(GOLDEN / "us_two_scans_keypad_enter.events")
    keyboard = ReplayKeyboard(path="/dev/input/event7")
    with HidScanner(input_device=keyboard, layout="us") as scanner:
        assert keyboard.grabbed
        keyboard.play(events)
        first = scanner.read(timeout_s=READ_TIMEOUT_S)
        second = scanner.read(timeout_s=READ_TIMEOUT_S)
    assert first is not None and second is not None
    assert (first.code, first.source, second.code) == ("4006381333931", "hid", "0012345")
    assert scanner.device == "scanner /dev/input/event7"
    assert not keyboard.grabbed and keyboard.closed


def test_hid_driver_drops_a_code_left_without_enter() -> None:
    keyboard = ReplayKeyboard()
    with HidScanner(input_device=keyboard, partial_timeout_s=0.1) as scanner:
        keyboard.play(key_events(US, "123")[:-2])
        deadline = time.monotonic() + READ_TIMEOUT_S
        while scanner.dropped_codes == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        keyboard.play(key_events(US, "45"))
        scan = scanner.read(timeout_s=READ_TIMEOUT_S)
    assert scanner.dropped_codes == 1
    assert scan is not None and scan.code == "45"


def test_unknown_layout_is_refused() -> None:
    keyboard = ReplayKeyboard()
    try:
        with pytest.raises(ValueError, match="unknown keyboard layout 'fr'"):
            HidScanner(input_device=keyboard, layout="fr")
    finally:
        keyboard.close()


def test_missing_hid_path_is_device_not_found() -> None:
    with pytest.raises(DeviceNotFound, match="/dev/input/event999"):
        HidScanner(path="/dev/input/event999")


def test_no_matching_hid_device_names_what_was_searched() -> None:
    with pytest.raises(DeviceNotFound, match="name containing 'No Such Scanner'"):
        HidScanner(name="No Such Scanner")
