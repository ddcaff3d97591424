"""The dashboard's languages: Spanish, English and Chinese catalogues, and numbers, money and dates per locale.

The catalogues are the ``.po`` files under ``locale/<lang>/LC_MESSAGES/messages.po``, compiled in memory
when the dashboard starts (Babel's ``write_mo``: the bytes ``pybabel compile`` would write), so there is no
``.mo`` file that can drift from its source. Strings are marked with ``_()`` in templates and :func:`N_` in
Python; the test suite extracts every marked string and checks that each catalogue translates all of them.

Money is integer minor units: it is written with the locale's currency pattern and the number of decimals
the currency really has (:mod:`core.money`), never through a float.
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent, parse_pattern
from babel.support import Translations

from core.money import currency as core_currency

LANGUAGES: Final[tuple[str, ...]] = ("es", "en", "zh")
"""The languages the dashboard speaks, in the order the switch lists them; the first is the default."""
LOCALES: Final[dict[str, str]] = {"es": "es_MX", "en": "en_US", "zh": "zh_Hans_CN"}
"""The Babel locale of each language for numbers, money and dates."""
LANGUAGE_NAMES: Final[dict[str, str]] = {"es": "Español", "en": "English", "zh": "中文"}
"""Each language named in itself (never translated)."""
LOCALE_DIR: Final = Path(__file__).parent / "locale"
DOMAIN: Final = "messages"


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext no-op marker
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def _compile(language: str) -> Translations:
    with catalogue_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


@dataclass(frozen=True)
class Translator:
    """One request's language: its strings, and figures written the way its locale writes them."""

    language: str
    locale: Locale
    translations: Translations

    def gettext(self, message: str) -> str:
        return str(self.translations.gettext(message))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return str(self.translations.ngettext(singular, plural, n))

    def money(self, amount_minor: int, currency_code: str) -> str:
        """``amount_minor`` of ``currency_code`` in this locale's money format (``$1,234.50``)."""
        exponent = core_currency(currency_code).exponent
        pattern = copy.copy(parse_pattern(self.locale.currency_formats["standard"]))
        pattern.frac_prec = (exponent, exponent)
        value = Decimal(amount_minor).scaleb(-exponent)
        return str(pattern.apply(value, self.locale, currency=currency_code, currency_digits=False))

    def number(self, value: int) -> str:
        return str(format_decimal(value, locale=self.locale))

    def percent(self, numerator: int, denominator: int) -> str:
        """``numerator / denominator`` as a percentage with one decimal, computed in decimals."""
        if denominator == 0:
            return "-"
        ratio = (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.001"))
        return str(format_percent(ratio, "#,##0.0%", locale=self.locale))

    def day(self, value: date) -> str:
        return str(format_date(value, "medium", locale=self.locale))

    def weekday(self, value: date) -> str:
        return str(format_date(value, "EEEE", locale=self.locale))

    def moment(self, value: datetime, zone: ZoneInfo, now: datetime) -> str:
        """An aware time shown in ``zone``: the time alone when it is ``now``'s day there, else date and time."""
        if value.astimezone(zone).date() == now.astimezone(zone).date():
            return str(format_time(value, "short", tzinfo=zone, locale=self.locale))
        return str(format_datetime(value, "short", tzinfo=zone, locale=self.locale))

    def clock(self, value: datetime, zone: ZoneInfo) -> str:
        return str(format_time(value, "medium", tzinfo=zone, locale=self.locale))


class Languages:
    """The compiled catalogues and locales, shared by every request (read-only after start)."""

    def __init__(self) -> None:
        self.catalogues = {language: _compile(language) for language in LANGUAGES}
        self.locales = {language: Locale.parse(LOCALES[language]) for language in LANGUAGES}

    def translator(self, language: str | None) -> Translator:
        """The translator for ``language``; an unknown or missing one falls back to Spanish."""
        if language not in self.catalogues:
            language = LANGUAGES[0]
        return Translator(language, self.locales[language], self.catalogues[language])

    def pick(self, cookie: str | None, accept_language: str | None) -> str:
        """The language of a request: the switch's cookie, else the browser's first language we speak."""
        if cookie in LANGUAGES:
            return cookie
        for part in (accept_language or "").split(","):
            code = part.split(";")[0].strip().lower()[:2]
            if code in LANGUAGES:
                return code
        return LANGUAGES[0]
