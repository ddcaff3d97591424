"""Reading and checking the counter UI's form fields, with a message per field.

Every field a page posts is checked here before any service is called, and each problem is kept against
its field (:class:`FieldErrors`), so the page is shown again with the message next to the field and the
values the cashier typed. Messages are marked with :func:`edge_agent.web.i18n.N_` and translated when the
page is rendered. Services check again (they are the authority); their :class:`core.errors.InvalidInput`
is mapped to a field by :meth:`FieldErrors.from_invalid`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from core.errors import InvalidInput
from edge_agent.customers import MAX_SIGNATURE_CHARS as CUSTOMER_MAX_SIGNATURE_CHARS
from edge_agent.web.i18n import N_, Translator

MAX_FIELD_CHARS: Final = 500
"""Longest ordinary text field accepted; longer input is refused, not cut."""
MAX_SIGNATURE_CHARS: Final = CUSTOMER_MAX_SIGNATURE_CHARS
"""Longest signature path data accepted: what the customer book keeps."""
MAX_QTY: Final = 9999
"""Most units of one line typed at once."""

_AMOUNT = re.compile(r"^\d{1,12}(?:[.,]\d{1,3})?$")


@dataclass(frozen=True)
class Problem:
    """A field's problem: a translatable message, its named values, and a detail from a service (as given)."""

    message: str
    values: tuple[tuple[str, str | int], ...] = ()
    detail: str = ""

    def render(self, tr: Translator) -> str:
        text = tr.gettext(self.message) % dict(self.values) if self.values else tr.gettext(self.message)
        return f"{text} ({self.detail})" if self.detail else text


@dataclass
class FieldErrors:
    """Problems by field name; ``""`` is the form as a whole."""

    problems: dict[str, Problem] = field(default_factory=dict)

    def add(self, name: str, message: str, detail: str = "", **values: str | int) -> None:
        self.problems.setdefault(name, Problem(message, tuple(values.items()), detail))

    def add_invalid(self, exc: InvalidInput, fields: dict[str, str] | None = None) -> None:
        """Keep a service's refusal against the form field it names (``fields`` maps service names to form names)."""
        name = exc.field.split(".")[0] if exc.field else ""
        name = (fields or {}).get(name, name)
        self.add(name, N_("This value was refused."), detail=exc.problem)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def render(self, tr: Translator) -> dict[str, str]:
        return {name: problem.render(tr) for name, problem in self.problems.items()}


def text(
    form: dict[str, str],
    name: str,
    errors: FieldErrors,
    *,
    required: bool = True,
    max_chars: int = MAX_FIELD_CHARS,
) -> str:
    """The trimmed text of ``name``; a problem if required and empty, or longer than ``max_chars``."""
    value = form.get(name, "").strip()
    if not value and required:
        errors.add(name, N_("This field is required."))
    elif len(value) > max_chars:
        errors.add(name, N_("At most %(count)s characters."), count=max_chars)
    return value


def integer(form: dict[str, str], name: str, errors: FieldErrors, *, low: int, high: int) -> int | None:
    """A whole number between ``low`` and ``high``; a problem otherwise."""
    value = form.get(name, "").strip()
    if not value:
        errors.add(name, N_("This field is required."))
        return None
    if not re.fullmatch(r"-?\d{1,12}", value):
        errors.add(name, N_("Enter a whole number."))
        return None
    number = int(value)
    if not low <= number <= high:
        errors.add(name, N_("Enter a number from %(low)s to %(high)s."), low=low, high=high)
        return None
    return number


def amount_minor(form: dict[str, str], name: str, errors: FieldErrors, *, exponent: int) -> int | None:
    """A money amount typed in major units (``12.50`` or ``12,50``) as integer minor units of ``exponent``."""
    value = form.get(name, "").strip().replace(" ", "")
    if not value:
        errors.add(name, N_("This field is required."))
        return None
    if not _AMOUNT.fullmatch(value):
        errors.add(name, N_("Enter an amount such as 12.50."))
        return None
    whole, _, fraction = value.replace(",", ".").partition(".")
    if len(fraction) > exponent:
        errors.add(name, N_("This currency has %(count)s decimals."), count=exponent)
        return None
    scale = int(10**exponent)
    return int(whole) * scale + int((fraction or "0").ljust(exponent, "0") or "0")


def optional_date(form: dict[str, str], name: str, errors: FieldErrors, *, today: date) -> date | None:
    """A date ``YYYY-MM-DD`` not after ``today``, or None when empty."""
    value = form.get(name, "").strip()
    if not value:
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        errors.add(name, N_("Enter a date as YYYY-MM-DD."))
        return None
    if parsed > today or parsed.year < 1900:
        errors.add(name, N_("Enter a real date in the past."))
        return None
    return parsed


def checkbox(form: dict[str, str], name: str) -> bool:
    return form.get(name, "") in ("on", "1", "true", "yes")


def choice(form: dict[str, str], name: str, errors: FieldErrors, options: tuple[str, ...], *, required: bool) -> str:
    value = form.get(name, "").strip()
    if not value and not required:
        return ""
    if value not in options:
        errors.add(name, N_("Pick one of the options."))
    return value


_SVG_PATH = re.compile(r"^[MLmlZz0-9.,\- ]*$")


def signature_path(form: dict[str, str], name: str, errors: FieldErrors) -> str:
    """SVG path data drawn on the signature canvas (only ``M``/``L``/``Z`` commands and numbers)."""
    value = form.get(name, "").strip()
    if len(value) > MAX_SIGNATURE_CHARS:
        errors.add(name, N_("The signature is too long; clear it and sign again."))
        return ""
    if value and (not _SVG_PATH.fullmatch(value) or not value.startswith(("M", "m"))):
        errors.add(name, N_("The signature could not be read; clear it and sign again."))
        return ""
    return value
