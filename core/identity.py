"""Loyalty ids: the number on a customer's sticker, its check digit, and what the sticker's barcode says.

The id
------
A loyalty id is twelve digits, ``PPP NNNNNNNN C``:

* ``PPP``: the distributor's prefix, 100 to 999. Every distributor (tenant) has one, so an id names the
  network it belongs to and two networks never hand out the same id. It never starts with 0, because
  spreadsheets and some keypads drop leading zeros.
* ``NNNNNNNN``: the customer's sequence number within the distributor, 1 to 99,999,999, zero-padded.
* ``C``: a Damm check digit over the eleven digits before it.

Digits only, because cashiers key ids on the till's numeric keypad and read them to customers over the
phone. Twelve digits, because that length is neither a card number (13 to 19 digits, see
:mod:`core.tenders`) nor a WeChat Pay or Alipay payment code (16 to 24 digits), so a typed id is never
mistaken for either.

Printed on a sticker the id is grouped for reading, ``481-0000-0042-6``; :func:`parse` accepts it with or
without spaces and dashes.

Why Damm
--------
The two errors people make copying a number are one wrong digit and two neighbouring digits swapped. The
Luhn mod-10 scheme (used on card numbers) catches every wrong digit but misses the swap ``09`` <-> ``90``.
The Damm algorithm (H. Michael Damm, 2004) catches **every** single-digit substitution and **every**
adjacent transposition, including swaps with the check digit itself. It uses a 10x10 quasigroup table that
is weakly totally anti-symmetric: ``T[T[c][x]][y] == T[T[c][y]][x]`` only when ``x == y``, and ``T[i][i]
== 0``. Verhoeff catches the same errors but needs three tables and a permutation per position; Damm needs
one table and no position, which is simpler to reimplement on the satellite or in a spreadsheet.

The sticker's barcode
---------------------
The barcode (Code 128) or QR code on a sticker encodes ``MO1:`` followed by the twelve digits, for example
``MO1:481000000426``. ``MO`` marks it as Mostrador's, ``1`` is the format version (a later format gets a new
digit; this module refuses versions it does not know), and every character is in the QR alphanumeric set
(digits, upper-case letters, ``:``), so the QR code stays small. A scanner may send the scheme in lower case
(a keyboard-wedge scanner with Caps Lock on) and a trailing CR or LF; both are accepted. Without the scheme a
scanned twelve-digit number is a product barcode (UPC-A), never a loyalty id.

Blocks of numbers
-----------------
A box enrols customers offline, so it hands out numbers from a block of its own: :data:`LOYALTY_BLOCK_SIZE`
numbers, block ``n`` being ``n * 10,000`` to ``n * 10,000 + 9,999``. A box whose device id ends in ``n``
(``box-7``) uses block ``n`` until the hub assigns it a range (:func:`device_block`, :func:`block_numbers`);
the hub gives each device that same block when it is free, so numbers enrolled before the assignment stay
inside the assigned range. Block 0 (numbers below 10,000) is never implied by a device id.

Every problem raises :class:`core.errors.InvalidInput` with a stable ``code``: ``loyalty_id_length``,
``loyalty_id_characters``, ``loyalty_id_prefix``, ``loyalty_id_check_digit``, ``loyalty_id_network``
(another distributor's id) and ``loyalty_sticker_format``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from core.errors import InvalidInput

__all__ = [
    "ID_DIGITS",
    "LOYALTY_BLOCK_SIZE",
    "MAX_BLOCK",
    "MAX_NUMBER",
    "MAX_PREFIX",
    "MIN_NUMBER",
    "MIN_PREFIX",
    "STICKER_SCHEME",
    "LoyaltyId",
    "block_numbers",
    "check_digit",
    "device_block",
    "is_valid",
    "make",
    "parse",
    "parse_sticker",
    "sticker_payload",
]

PREFIX_DIGITS: Final = 3
NUMBER_DIGITS: Final = 8
ID_DIGITS: Final = PREFIX_DIGITS + NUMBER_DIGITS + 1
MIN_PREFIX: Final = 100
MAX_PREFIX: Final = 999
MIN_NUMBER: Final = 1
MAX_NUMBER: Final = 10**NUMBER_DIGITS - 1
STICKER_SCHEME: Final = "MO1:"
LOYALTY_BLOCK_SIZE: Final = 10_000
"""Loyalty numbers in one box's block."""
MAX_BLOCK: Final = MAX_NUMBER // LOYALTY_BLOCK_SIZE
"""The highest block number: the last block whose numbers all fit in :data:`NUMBER_DIGITS` digits."""

# Bounds on raw text before any work is done on it: twelve digits with a separator between each pair is 23
# characters; 64 leaves room for doubled separators and stray spaces and still refuses a pasted paragraph.
MAX_ID_TEXT_CHARS: Final = 64
MAX_STICKER_CHARS: Final = 64

# Separators printed on stickers or typed by people; anything else is a bad character.
_SEPARATORS: Final = frozenset(" -")
# The box number a device id ends in: ``box-7`` is box 7.
_TRAILING_NUMBER: Final = re.compile(r"([0-9]+)$")
# ASCII digits only: str.isdigit() also accepts other scripts' digits and superscripts.
_DIGITS: Final = frozenset("0123456789")

# Damm's weakly totally anti-symmetric quasigroup of order 10 (Damm 2004, the table in his thesis).
_DAMM: Final = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def _damm_interim(digits: str) -> int:
    interim = 0
    for char in digits:
        interim = _DAMM[interim][ord(char) - 48]
    return interim


def check_digit(digits: str) -> str:
    """The Damm check digit of a string of ASCII digits."""
    if not digits or not set(digits) <= _DIGITS:
        raise InvalidInput("digits", "must be one or more ASCII digits")
    # With a zero diagonal, appending the interim digit brings the interim back to 0.
    return str(_damm_interim(digits))


def _require_int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidInput(field, f"must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class LoyaltyId:
    """A valid loyalty id: the distributor's ``prefix`` and the customer's ``number`` within it."""

    prefix: int
    number: int

    def __post_init__(self) -> None:
        _require_int(self.prefix, "prefix", MIN_PREFIX, MAX_PREFIX)
        _require_int(self.number, "number", MIN_NUMBER, MAX_NUMBER)

    @property
    def digits(self) -> str:
        """The canonical twelve digits, check digit last: what is stored and sent on the wire."""
        body = f"{self.prefix:0{PREFIX_DIGITS}d}{self.number:0{NUMBER_DIGITS}d}"
        return body + check_digit(body)

    @property
    def printed(self) -> str:
        """Grouped for people: ``481-0000-0042-6``."""
        d = self.digits
        return f"{d[:3]}-{d[3:7]}-{d[7:11]}-{d[11]}"

    @property
    def sticker(self) -> str:
        """The text the sticker's barcode or QR code encodes: ``MO1:481000000426``."""
        return STICKER_SCHEME + self.digits

    def __str__(self) -> str:
        return self.digits


def make(prefix: int, number: int) -> str:
    """The canonical twelve-digit id for customer ``number`` of the distributor with ``prefix``."""
    return LoyaltyId(prefix, number).digits


def sticker_payload(prefix: int, number: int) -> str:
    """What to encode in the sticker's barcode or QR code: ``MO1:`` and the twelve digits."""
    return LoyaltyId(prefix, number).sticker


def parse(text: str, *, prefix: int | None = None, field: str = "loyalty_id") -> LoyaltyId:
    """Read an id as typed or printed (spaces and dashes allowed); raise InvalidInput naming the problem.

    With ``prefix``, an id of another distributor is refused: a box serves one network.
    """
    if not isinstance(text, str):
        raise InvalidInput(field, f"must be text, not {type(text).__name__}", code="loyalty_id_characters")
    if len(text) > MAX_ID_TEXT_CHARS:
        raise InvalidInput(
            field,
            f"is {len(text)} characters long; a loyalty id is {ID_DIGITS} digits",
            code="loyalty_id_length",
        )
    digits: list[str] = []
    for position, char in enumerate(text.strip(), start=1):
        if char in _DIGITS:
            digits.append(char)
        elif char not in _SEPARATORS:
            raise InvalidInput(
                field,
                f"character {char!r} at position {position} is not allowed; a loyalty id has only digits, "
                "spaces and dashes",
                code="loyalty_id_characters",
            )
    joined = "".join(digits)
    if len(joined) != ID_DIGITS:
        raise InvalidInput(
            field,
            f"has {len(joined)} digits; a loyalty id has {ID_DIGITS}",
            code="loyalty_id_length",
        )
    if _damm_interim(joined) != 0:
        raise InvalidInput(
            field,
            "the check digit does not match: probably a mistyped digit or two digits swapped",
            code="loyalty_id_check_digit",
        )
    found_prefix = int(joined[:PREFIX_DIGITS])
    if found_prefix < MIN_PREFIX:
        raise InvalidInput(
            field,
            f"starts with {joined[:PREFIX_DIGITS]}; loyalty ids start with {MIN_PREFIX} to {MAX_PREFIX}",
            code="loyalty_id_prefix",
        )
    number = int(joined[PREFIX_DIGITS:-1])
    if number < MIN_NUMBER:
        raise InvalidInput(field, "customer number 0 is never issued", code="loyalty_id_prefix")
    if prefix is not None and found_prefix != prefix:
        raise InvalidInput(
            field,
            f"belongs to another network (prefix {found_prefix}; this network's prefix is {prefix})",
            code="loyalty_id_network",
        )
    return LoyaltyId(found_prefix, number)


def is_valid(text: str, *, prefix: int | None = None) -> bool:
    """Whether :func:`parse` accepts ``text``."""
    try:
        parse(text, prefix=prefix)
    except InvalidInput:
        return False
    return True


def parse_sticker(payload: str, *, prefix: int | None = None, field: str = "sticker") -> LoyaltyId:
    """Read the text scanned from a sticker's barcode or QR code (``MO1:<12 digits>``)."""
    if not isinstance(payload, str):
        raise InvalidInput(field, f"must be text, not {type(payload).__name__}", code="loyalty_sticker_format")
    if len(payload) > MAX_STICKER_CHARS:
        raise InvalidInput(
            field,
            f"is {len(payload)} characters long; a loyalty sticker holds {len(STICKER_SCHEME) + ID_DIGITS}",
            code="loyalty_sticker_format",
        )
    # Keyboard-wedge scanners end a scan with CR or LF, and may flip case with Caps Lock.
    text = payload.strip("\r\n")
    scheme, colon, rest = text.partition(":")
    if not colon or not scheme.upper().startswith("MO"):
        raise InvalidInput(field, "is not a Mostrador loyalty sticker", code="loyalty_sticker_format")
    if scheme.upper() + colon != STICKER_SCHEME:
        raise InvalidInput(
            field,
            f"sticker format {scheme!r} is not known here; this box reads {STICKER_SCHEME[:-1]}",
            code="loyalty_sticker_format",
        )
    return parse(rest, prefix=prefix, field=field)


def device_block(device: str) -> int | None:
    """The block a device's id implies (``box-7``: block 7); None when the id ends in no number from 1 to
    :data:`MAX_BLOCK`."""
    match = _TRAILING_NUMBER.search(device)
    if match is None:
        return None
    block = int(match.group(1))
    return block if 1 <= block <= MAX_BLOCK else None


def block_numbers(block: int) -> tuple[int, int]:
    """The first and last loyalty number of ``block``."""
    _require_int(block, "block", 0, MAX_BLOCK)
    first = block * LOYALTY_BLOCK_SIZE
    return first, first + LOYALTY_BLOCK_SIZE - 1
