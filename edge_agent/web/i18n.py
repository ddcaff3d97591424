"""Languages of the counter UI: message catalogues, the per-request translator and money in the local format.

The catalogues are the ``.po`` files under ``locale/<lang>/LC_MESSAGES/messages.po``, read once at start
with :func:`babel.messages.pofile.read_po` into :class:`babel.support.Translations`. Shipping the ``.po``
sources alone means a fresh clone runs without a compile step and there is no ``.mo`` that can drift from
its source; reading three small catalogues takes a few milliseconds at start.

Strings are marked in templates with ``_()`` / ``{% trans %}`` and in Python with ``tr.gettext()`` (or
:func:`N_` for a message built before the request's language is known). The test suite extracts every
marked string with Babel and checks each catalogue translates all of them.

Money is formatted with Babel's currency pattern for the locale, but with the number of decimals the
currency really has in :mod:`core.money` (its minor-unit exponent), so a JPY amount shows no decimals and a
KWD amount three, whatever the locale's default pattern says.
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final

from babel import Locale
from babel.dates import format_datetime, get_timezone
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, parse_pattern
from babel.support import Translations

from core.money import currency as core_currency

LANGUAGES: Final[tuple[str, ...]] = ("es", "en", "zh")
"""The languages the UI speaks, in the order the language picker lists them."""

DEFAULT_LOCALES: Final[dict[str, str]] = {"es": "es_MX", "en": "en_US", "zh": "zh_Hans_CN"}
"""The Babel locale used for numbers, money and dates in each language (a setting may override it)."""

LANGUAGE_NAMES: Final[dict[str, str]] = {"es": "Español", "en": "English", "zh": "中文"}
"""Each language named in itself, for the picker (never translated)."""

LOCALE_DIR: Final = Path(__file__).parent / "locale"
DOMAIN: Final = "messages"


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext no-op marker
    """Mark ``message`` for extraction without translating it now (it is translated when shown)."""
    return message


def catalogue_path(language: str) -> Path:
    """Where the ``.po`` source of ``language`` lives."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_catalogues(languages: tuple[str, ...] = LANGUAGES) -> dict[str, Translations]:
    """Read the ``.po`` catalogue of each language into a gettext ``Translations`` object."""
    found: dict[str, Translations] = {}
    for language in languages:
        with catalogue_path(language).open("rb") as handle:
            catalog = read_po(handle, locale=language, domain=DOMAIN)
        # Compile in memory: the same bytes ``pybabel compile`` would write, without a file to keep in sync.
        # Fuzzy entries are left out, as gettext does.
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        buffer.seek(0)
        translations = Translations(fp=buffer, domain=DOMAIN)
        found[language] = translations
    return found


@dataclass(frozen=True)
class Translator:
    """One request's language: translated strings, money, numbers and dates in its locale."""

    language: str
    locale: Locale
    translations: Translations

    def gettext(self, message: str) -> str:
        return str(self.translations.gettext(message))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return str(self.translations.ngettext(singular, plural, n))

    def money(self, amount_minor: int, currency_code: str) -> str:
        """``amount_minor`` of ``currency_code`` written as this locale writes money (``$1,234.50``)."""
        exponent = core_currency(currency_code).exponent
        pattern = copy.copy(parse_pattern(self.locale.currency_formats["standard"]))
        pattern.frac_prec = (exponent, exponent)
        value = Decimal(amount_minor).scaleb(-exponent)
        return str(pattern.apply(value, self.locale, currency=currency_code, currency_digits=False))

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.locale)

    def datetime(self, text: str, timezone: str | None = None) -> str:
        """An ISO 8601 timestamp from the store, shown in the store's time zone in this locale's medium form."""
        from datetime import datetime as dt

        moment = dt.fromisoformat(text)
        zone = get_timezone(timezone) if timezone else None
        return str(format_datetime(moment, "medium", tzinfo=zone, locale=self.locale))


class Languages:
    """The loaded catalogues and the locales, shared by every request (read-only after start)."""

    def __init__(self, locales: dict[str, str] | None = None) -> None:
        self.catalogues = load_catalogues()
        names = dict(DEFAULT_LOCALES)
        names.update(locales or {})
        self.locales = {language: Locale.parse(names[language]) for language in LANGUAGES}

    def translator(self, language: str) -> Translator:
        """The translator for ``language``; an unknown language falls back to the first one (Spanish)."""
        if language not in self.catalogues:
            language = LANGUAGES[0]
        return Translator(language, self.locales[language], self.catalogues[language])
