"""Keyboard layouts for USB HID scanners: Linux key codes to characters, with Shift and AltGr.

A keyboard-wedge scanner types each code as key presses for the keyboard layout it is programmed for. The
box must decode with the same layout: a US-programmed scanner's "/" is a Spanish keyboard's "-". Key codes
are the kernel's (``linux/input-event-codes.h``), a stable ABI, so decoding needs no evdev import. Dead keys
(Spanish acute, grave, circumflex, diaeresis) combine with the next letter as the console would.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

# Kernel key codes used below (linux/input-event-codes.h).
KEY_ESC: Final = 1
KEY_BACKSPACE: Final = 14
KEY_TAB: Final = 15
KEY_ENTER: Final = 28
KEY_LEFTCTRL: Final = 29
KEY_LEFTSHIFT: Final = 42
KEY_RIGHTSHIFT: Final = 54
KEY_LEFTALT: Final = 56
KEY_SPACE: Final = 57
KEY_CAPSLOCK: Final = 58
KEY_KPENTER: Final = 96
KEY_RIGHTCTRL: Final = 97
KEY_RIGHTALT: Final = 100

SHIFT_KEYS: Final = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
ALTGR_KEYS: Final = frozenset({KEY_RIGHTALT})
ENTER_KEYS: Final = frozenset({KEY_ENTER, KEY_KPENTER})
#: Keys that carry no character and are ignored inside a code (a scanner may press Ctrl for some prefixes).
IGNORED_KEYS: Final = frozenset({KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTALT, KEY_ESC})

_ROW_NUMBERS = (2, 3, 4, 5, 6, 7, 8, 9, 10, 11)  # KEY_1 .. KEY_0
_LETTERS = {
    16: "q", 17: "w", 18: "e", 19: "r", 20: "t", 21: "y", 22: "u", 23: "i", 24: "o", 25: "p",
    30: "a", 31: "s", 32: "d", 33: "f", 34: "g", 35: "h", 36: "j", 37: "k", 38: "l",
    44: "z", 45: "x", 46: "c", 47: "v", 48: "b", 49: "n", 50: "m",
}  # fmt: skip
# Keypad with NumLock on, which is how scanners that use the keypad send digits.
_KEYPAD = {
    71: "7", 72: "8", 73: "9", 74: "-", 75: "4", 76: "5", 77: "6", 78: "+", 79: "1", 80: "2", 81: "3",
    82: "0", 83: ".", 55: "*", 98: "/",
}  # fmt: skip

# Dead keys are written as the combining mark they add; alone (or before a space) they type the spacing form.
DEAD_GRAVE: Final = "\u0300"
DEAD_ACUTE: Final = "\u0301"
DEAD_CIRCUMFLEX: Final = "\u0302"
DEAD_DIAERESIS: Final = "\u0308"
_SPACING_FORM = {DEAD_GRAVE: "`", DEAD_ACUTE: "\u00b4", DEAD_CIRCUMFLEX: "^", DEAD_DIAERESIS: "¨"}
DEAD_KEYS: Final = frozenset(_SPACING_FORM)


@dataclass(frozen=True, slots=True)
class KeySymbols:
    """What one key types: plain, with Shift, with AltGr (empty: nothing)."""

    plain: str
    shift: str = ""
    altgr: str = ""


@dataclass(frozen=True)
class KeyboardLayout:
    """A layout: key code to symbols; letters follow Shift and Caps Lock, other keys only Shift."""

    name: str
    keys: MappingProxyType[int, KeySymbols] = field(repr=False)

    def symbol(self, key_code: int, *, shift: bool, altgr: bool, caps_lock: bool) -> str | None:
        """The character (or dead-key mark) ``key_code`` types in this state; ``None`` if it types nothing."""
        symbols = self.keys.get(key_code)
        if symbols is None:
            return None
        if altgr:
            return symbols.altgr or None
        is_letter = symbols.plain.isalpha() and symbols.shift == symbols.plain.upper()
        upper = shift != caps_lock if is_letter else shift
        text = symbols.shift if upper else symbols.plain
        return text or None


def combine_dead_key(mark: str, following: str) -> str:
    """Combine a dead key's mark with the next character.

    Acute then "a" gives "á"; acute then "1" gives the spacing accent and "1"; acute then space the accent.
    """
    if following == " ":
        return _SPACING_FORM[mark]
    composed = unicodedata.normalize("NFC", following + mark)
    return composed if len(composed) == 1 else _SPACING_FORM[mark] + following


def _common(numbers_shifted: str, numbers_altgr: str = "") -> dict[int, KeySymbols]:
    keys: dict[int, KeySymbols] = {}
    altgr = numbers_altgr.ljust(10)
    for index, code in enumerate(_ROW_NUMBERS):
        digit = "1234567890"[index]
        keys[code] = KeySymbols(digit, numbers_shifted[index], altgr[index].strip())
    for code, letter in _LETTERS.items():
        keys[code] = KeySymbols(letter, letter.upper())
    for code, char in _KEYPAD.items():
        keys[code] = KeySymbols(char, char)
    keys[KEY_SPACE] = KeySymbols(" ", " ")
    keys[KEY_TAB] = KeySymbols("\t", "\t")
    return keys


def _us() -> KeyboardLayout:
    keys = _common("!@#$%^&*()")
    keys.update({
        12: KeySymbols("-", "_"), 13: KeySymbols("=", "+"), 26: KeySymbols("[", "{"), 27: KeySymbols("]", "}"),
        39: KeySymbols(";", ":"), 40: KeySymbols("'", '"'), 41: KeySymbols("`", "~"), 43: KeySymbols("\\", "|"),
        51: KeySymbols(",", "<"), 52: KeySymbols(".", ">"), 53: KeySymbols("/", "?"), 86: KeySymbols("\\", "|"),
    })  # fmt: skip
    return KeyboardLayout("us", MappingProxyType(keys))


def _es() -> KeyboardLayout:
    # Spanish (Spain) ISO layout, as xkb "es" and the Linux console "es" map it.
    keys = _common('!"·$%&/()=', "|@#~€¬")
    keys[18] = KeySymbols("e", "E", "€")
    keys.update({
        12: KeySymbols("'", "?", "\\"), 13: KeySymbols("¡", "¿"),
        26: KeySymbols(DEAD_GRAVE, DEAD_CIRCUMFLEX, "["), 27: KeySymbols("+", "*", "]"),
        39: KeySymbols("ñ", "Ñ"), 40: KeySymbols(DEAD_ACUTE, DEAD_DIAERESIS, "{"), 41: KeySymbols("º", "ª", "\\"),
        43: KeySymbols("ç", "Ç", "}"), 51: KeySymbols(",", ";"), 52: KeySymbols(".", ":"), 53: KeySymbols("-", "_"),
        86: KeySymbols("<", ">"),
    })  # fmt: skip
    return KeyboardLayout("es", MappingProxyType(keys))


US: Final = _us()
ES: Final = _es()

#: Layouts by configuration name.
LAYOUTS: Final = MappingProxyType({layout.name: layout for layout in (US, ES)})
