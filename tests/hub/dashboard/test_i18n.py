"""The dashboard's languages: every marked string translated in es, en and zh, every page in Spanish and
Chinese without English left over, and money and dates in each locale."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from hub.api.accounts import Role
from hub.dashboard.i18n import LANGUAGES, Languages, catalogue_path
from hub.dashboard.periods import zone_named
from tests.hub.dashboard.conftest import World, sign_in

DASHBOARD = Path(__file__).resolve().parents[3] / "hub" / "dashboard"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _marked() -> set[str]:
    found = extract_from_dir(
        DASHBOARD,
        [("**.py", "python"), ("templates/**.html", "jinja2")],
        {"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        KEYWORDS,
    )
    return {message if isinstance(message, str) else message[0] for _, _, message, _, _ in found}


MARKED = _marked()


def test_the_extraction_finds_the_dashboards_strings() -> None:
    assert {"Sign in", "Members identified", "Last 90 days", "Distributor admin"} <= MARKED


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_catalogue_translates_exactly_the_marked_strings(language: str) -> None:
    with catalogue_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    entries = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
    assert set(entries) == MARKED, "extract the strings again and update the catalogue"
    for msgid, message in entries.items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings) and not message.fuzzy, f"{language}: {msgid!r} is not translated"
        for text in strings:
            assert set(PLACEHOLDER.findall(str(text))) == set(PLACEHOLDER.findall(str(msgid))), f"{language}: {msgid!r}"


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.chunks.append(data.strip())


@pytest.mark.parametrize("language", ["es", "zh"])
def test_every_page_shows_no_english_ui_text(world: World, language: str) -> None:
    translations = Languages().catalogues[language]
    english = {m for m in MARKED if translations.gettext(m) != m and len(m) > 2}
    client = world.client()
    client.get(f"/lang/{language}")
    pages = ["/login"]
    sign_in(client, world.emails[("t1", Role.ANALYST, "")])
    pages += ["/", "/live", "/?period=today", "/fragments/overview", "/fragments/feed", "/no-such-page"]
    pages += ["/sellers?period=30d", "/sellers?by=brand&order=margin", "/top?period=30d", "/heatmap?period=30d"]
    for path in pages:
        response = client.get(path)
        assert f'lang="{language}"' in response.text or path.startswith("/fragments"), path
        parser = _Text()
        parser.feed(response.text)
        leftover = [chunk for chunk in parser.chunks if chunk in english]
        assert not leftover, f"{path} in {language} shows {leftover}"


def test_money_numbers_and_dates_follow_each_locale() -> None:
    languages = Languages()
    es, en, zh = (languages.translator(code) for code in ("es", "en", "zh"))
    assert es.money(123_456, "MXN") == "$1,234.56"
    assert en.money(123_456, "MXN") == "MX$1,234.56"
    assert zh.money(123_456, "CNY") == "¥1,234.56"
    assert en.money(1_234, "JPY") == "¥1,234"
    assert es.percent(1, 3) == "33.3%" and es.percent(1, 0) == "-"
    when = datetime(2025, 3, 5, 18, 0, tzinfo=UTC)
    zone = zone_named("America/Mexico_City")
    assert "12:00" in es.moment(when, zone, when) and "2025" not in es.moment(when, zone, when)
    assert es.weekday(when.astimezone(zone).date()) == "miércoles"
    assert zh.weekday(when.astimezone(zone).date()) == "星期三"
