"""Money as integer minor units, exact rounding, proportional allocation and cash rounding.

Every amount in Mostrador is an ``int`` count of the currency's minor unit (cents, centavos, fen; yen have
none, so JPY counts whole yen) together with an ISO 4217 code. Floats never come near money, rates or points:
a rate is a :class:`fractions.Fraction`, parsed from a decimal string such as ``"0.16"`` or ``"16%"`` by
:func:`parse_rate`, and every product of an amount and a rate is an exact rational until one explicit rounding
step turns it back into minor units.

The rounding rule
-----------------
There is exactly one place where a rational becomes an integer: :func:`round_fraction`. Its modes are

* ``HALF_UP``: to the nearest integer; an exact half goes *away from zero* (2.5 -> 3, -2.5 -> -3). This is
  the commercial rule most tax authorities publish, and the default everywhere.
* ``HALF_EVEN``: to the nearest integer; an exact half goes to the even neighbour (2.5 -> 2, 3.5 -> 4,
  -2.5 -> -2). Banker's rounding; unbiased over many amounts.
* ``DOWN``: towards zero (2.9 -> 2, -2.9 -> -2): truncation.
* ``UP``: away from zero (2.1 -> 3, -2.1 -> -3).

Because ``HALF_UP``, ``DOWN`` and ``UP`` are defined by distance from zero, rounding is symmetric:
``round_fraction(-x, m) == -round_fraction(x, m)`` for every mode, so a refund rounds exactly like the sale it
reverses. Integers are returned unchanged by every mode.

Allocation
----------
:func:`allocate` splits a total into parts proportional to integer weights with the largest remainder method:
each part first gets ``floor(total * weight / sum(weights))``, then the minor units still missing go one each
to the parts with the largest remainders, ties to the earliest index. The parts always sum exactly to the
total and each differs from its exact proportional share by less than one minor unit. A negative total is
allocated as the mirror image of the positive one.

Cash rounding
-------------
Some currencies have no coin for the smallest unit, and cash totals are rounded to a coarser increment
(Canada rounds cash to 5 cents since the penny was withdrawn in 2013; Switzerland to 5 Rappen). The increment
lives on :class:`Currency` and :func:`cash_round` applies it; it is the identity when the increment is 1.
Only a cash *payment total* is cash-rounded, never a line, a tax or a card payment.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from core.errors import CurrencyMismatch, InvalidInput, UnknownCurrency

__all__ = [
    "Currency",
    "Money",
    "Rounding",
    "allocate",
    "apply_rate",
    "cash_round",
    "currency",
    "format_rate",
    "known_currency_codes",
    "parse_rate",
    "round_fraction",
]


@dataclass(frozen=True)
class Currency:
    """An ISO 4217 currency: its code, its minor-unit exponent and its cash rounding increment.

    ``exponent`` is the number of decimal places of the minor unit (2 for MXN, 0 for JPY, 3 for KWD).
    ``cash_increment_minor`` is the smallest amount, in minor units, that can be paid in cash; 1 when the
    currency has no cash rounding.
    """

    code: str
    exponent: int
    cash_increment_minor: int = 1


# Exponents per ISO 4217. Cash increments only where the issuing country rounds cash payments by rule:
# CAD 5 (penny withdrawn 2013), CHF 5 (smallest coin 5 Rappen), AUD 5 (1c and 2c withdrawn 1992),
# NZD 10 (5c withdrawn 2006), SEK 100 (ore coins withdrawn 2010), NOK 100 (50 ore withdrawn 2012),
# DKK 50 (25 ore withdrawn 2008).
_CURRENCIES: Final[dict[str, Currency]] = {
    c.code: c
    for c in (
        Currency("MXN", 2),
        Currency("CNY", 2),
        Currency("USD", 2),
        Currency("EUR", 2),
        Currency("JPY", 0),
        Currency("CAD", 2, 5),
        Currency("CHF", 2, 5),
        Currency("GBP", 2),
        Currency("AUD", 2, 5),
        Currency("NZD", 2, 10),
        Currency("SEK", 2, 100),
        Currency("NOK", 2, 100),
        Currency("DKK", 2, 50),
        Currency("HKD", 2),
        Currency("SGD", 2),
        Currency("KRW", 0),
        Currency("INR", 2),
        Currency("BRL", 2),
        Currency("ARS", 2),
        Currency("CLP", 0),
        Currency("COP", 2),
        Currency("PEN", 2),
        Currency("GTQ", 2),
        Currency("CRC", 2),
        Currency("DOP", 2),
        Currency("UYU", 2),
        Currency("PHP", 2),
        Currency("PLN", 2),
        Currency("CZK", 2),
        Currency("HUF", 2),
        Currency("BHD", 3),
        Currency("KWD", 3),
        Currency("JOD", 3),
        Currency("TND", 3),
    )
}


def currency(code: str) -> Currency:
    """The :class:`Currency` for an ISO 4217 alphabetic code; raises :class:`UnknownCurrency`."""
    found = _CURRENCIES.get(code) if isinstance(code, str) else None
    if found is None:
        known = ", ".join(sorted(_CURRENCIES))
        raise UnknownCurrency(f"unknown currency code {code!r}; known codes: {known}")
    return found


def known_currency_codes() -> list[str]:
    """The ISO 4217 codes :func:`currency` knows, sorted."""
    return sorted(_CURRENCIES)


def _require_int(value: object, field: str) -> int:
    # bool is an int subclass; True as an amount is always a bug upstream.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be an integer number of minor units, not {type(value).__name__}")
    return value


@dataclass(frozen=True, order=False)
class Money:
    """An amount in integer minor units of one currency.

    Supports ``+`` and ``-`` between amounts of the same currency, unary ``-``, ``abs`` and multiplication by
    an ``int``. Ordering comparisons work within one currency; mixing currencies in arithmetic or ordering
    raises :class:`CurrencyMismatch`. Equality never raises: amounts in different currencies are simply not
    equal.
    """

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        _require_int(self.amount_minor, "amount_minor")
        currency(self.currency)

    @classmethod
    def zero(cls, currency_code: str) -> Money:
        return cls(0, currency_code)

    def _same(self, other: Money, op: str) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot {op} {self.currency} and {other.currency}")

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "add")
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "subtract")
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount_minor), self.currency)

    def __mul__(self, factor: object) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            # Multiplying by a rate needs an explicit rounding: use apply_rate.
            return NotImplemented
        return Money(self.amount_minor * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "compare")
        return self.amount_minor < other.amount_minor

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "compare")
        return self.amount_minor <= other.amount_minor

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "compare")
        return self.amount_minor > other.amount_minor

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "compare")
        return self.amount_minor >= other.amount_minor


class Rounding(enum.StrEnum):
    """How :func:`round_fraction` turns a rational into an integer (see the module docstring)."""

    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    DOWN = "down"
    UP = "up"


def round_fraction(value: Fraction, mode: Rounding = Rounding.HALF_UP) -> int:
    """Round a rational exactly to an integer with ``mode``; ``HALF_UP`` sends halves away from zero."""
    if isinstance(value, bool) or not isinstance(value, Fraction | int):
        raise InvalidInput("value", f"must be a fractions.Fraction or int, not {type(value).__name__}")
    try:
        mode = Rounding(mode)
    except ValueError:
        allowed = ", ".join(m.value for m in Rounding)
        raise InvalidInput("mode", f"{mode!r} is not a rounding mode; use one of {allowed}") from None
    value = Fraction(value)
    # Work on the magnitude so every mode is symmetric around zero.
    sign = -1 if value < 0 else 1
    quotient, remainder = divmod(abs(value.numerator), value.denominator)
    if remainder == 0:
        return sign * quotient
    twice = 2 * remainder
    if mode is Rounding.DOWN:
        bump = False
    elif mode is Rounding.UP:
        bump = True
    elif twice != value.denominator:
        bump = twice > value.denominator
    elif mode is Rounding.HALF_UP:
        bump = True
    else:
        bump = quotient % 2 == 1
    return sign * (quotient + 1 if bump else quotient)


def apply_rate(amount_minor: int, rate: Fraction, mode: Rounding = Rounding.HALF_UP) -> int:
    """``amount_minor * rate`` rounded once, exactly, to minor units."""
    _require_int(amount_minor, "amount_minor")
    if isinstance(rate, bool) or not isinstance(rate, Fraction | int):
        raise InvalidInput("rate", f"must be a fractions.Fraction, not {type(rate).__name__}")
    return round_fraction(amount_minor * Fraction(rate), mode)


def allocate(total_minor: int, weights: Sequence[int]) -> list[int]:
    """Split ``total_minor`` into parts proportional to ``weights``, summing exactly to the total.

    Largest remainder method; ties go to the earliest index. Zero weights get zero unless every weight is
    zero, in which case the total is split evenly with the remainder to the earliest parts. Negative weights
    raise :class:`InvalidInput`. A negative total is allocated as the mirror image of its absolute value.
    """
    _require_int(total_minor, "total_minor")
    checked = list(weights)
    # Plain ints need no per-weight check; anything else is checked one by one to name the first bad weight.
    if not all(type(w) is int for w in checked):
        checked = [_require_int(w, f"weights[{i}]") for i, w in enumerate(checked)]
    if checked and min(checked) < 0:
        for i, w in enumerate(checked):
            if w < 0:
                raise InvalidInput(f"weights[{i}]", f"must not be negative, got {w}")
    if not checked:
        if total_minor == 0:
            return []
        raise InvalidInput("weights", f"cannot allocate {total_minor} over no parts")
    if total_minor < 0:
        return [-part for part in allocate(-total_minor, checked)]
    weight_sum = sum(checked)
    if weight_sum == 0:
        checked = [1] * len(checked)
        weight_sum = len(checked)
    parts: list[int] = []
    remainders: list[int] = []
    for w in checked:
        part, rem = divmod(total_minor * w, weight_sum)
        parts.append(part)
        remainders.append(rem)
    missing = total_minor - sum(parts)
    if not missing:
        # An exact split needs no ranking of remainders, and exact splits are common.
        return parts
    # Each remainder is < weight_sum and they add up to missing * weight_sum, so at least `missing` parts
    # have a non-zero remainder: zero-weight parts never receive a leftover unit.
    order = sorted(range(len(parts)), key=lambda i: (-remainders[i], i))
    for i in order[:missing]:
        parts[i] += 1
    return parts


def cash_round(amount_minor: int, currency: Currency, mode: Rounding = Rounding.HALF_UP) -> int:
    """Round to the currency's cash increment (CAD and CHF: 5); the identity when the increment is 1."""
    _require_int(amount_minor, "amount_minor")
    increment = currency.cash_increment_minor
    if increment == 1:
        return amount_minor
    return round_fraction(Fraction(amount_minor, increment), mode) * increment


# [0-9], not \d: \d also matches other scripts' digits, which are not a rate anyone meant to type.
_RATE_RE: Final = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,12}))?( *%)?")


def parse_rate(text: str, field: str) -> Fraction:
    """Parse ``"0.16"`` or ``"16%"`` into an exact :class:`Fraction`; anything else raises InvalidInput.

    Only plain non-negative decimals are accepted: no sign, no exponent, no thousands separator, at most 12
    digits on either side of the point. ``field`` names the value in the error.
    """
    if not isinstance(text, str):
        raise InvalidInput(
            field,
            f'a rate must be written as a string such as "0.16" or "16%", not {type(text).__name__}',
        )
    match = _RATE_RE.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(field, f'{text!r} is not a rate; write a decimal such as "0.16" or "16%"')
    whole, decimals, percent = match.groups()
    value = Fraction(int(whole + (decimals or "")), 10 ** len(decimals or ""))
    return value / 100 if percent else value


def format_rate(rate: Fraction) -> str:
    """Write a rate as a plain decimal string: ``Fraction(4, 25)`` -> ``"0.16"``; parse_rate reads it back.

    Rates whose decimal expansion does not terminate are written as ``"n/d"``, which ``parse_rate`` does not
    accept; such rates do not come from data files.
    """
    if isinstance(rate, bool) or not isinstance(rate, Fraction | int):
        raise InvalidInput("rate", f"must be a fractions.Fraction, not {type(rate).__name__}")
    rate = Fraction(rate)
    sign = "-" if rate < 0 else ""
    magnitude = abs(rate)
    denominator = magnitude.denominator
    places = 0
    # A fraction terminates in base 10 exactly when its denominator has no prime factors besides 2 and 5.
    for prime in (2, 5):
        count = 0
        while denominator % prime == 0:
            denominator //= prime
            count += 1
        places = max(places, count)
    if denominator != 1:
        return f"{sign}{magnitude.numerator}/{magnitude.denominator}"
    scaled = magnitude * 10**places
    digits = str(scaled.numerator).rjust(places + 1, "0")
    if places == 0:
        return sign + digits
    return f"{sign}{digits[:-places]}.{digits[-places:]}"
