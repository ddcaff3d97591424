"""The UI's languages: complete catalogues, every page in es/en/zh, money in each locale, the session's choice."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from edge_agent.web.i18n import LANGUAGES, Languages, catalogue_path
from tests.edge_agent.web.conftest import Box, sign_in

WEB = Path(__file__).resolve().parents[3] / "edge_agent" / "web"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _marked() -> set[str]:
    found = extract_from_dir(
        WEB,
        [("**.py", "python"), ("templates/**.html", "jinja2")],
        {"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        KEYWORDS,
    )
    return {message if isinstance(message, str) else message[0] for _, _, message, _, _ in found}


MARKED = _marked()


def test_the_extraction_finds_the_ui_strings() -> None:
    assert {"Sign in", "Complete sale", "This field is required."} <= MARKED


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_catalogue_translates_exactly_the_marked_strings(language: str) -> None:
    with catalogue_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    entries = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
    assert set(entries) == MARKED, "run the extraction and update the catalogue"
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


PAGES = ("/sale", "/customers", "/customers/new", "/receipts", "/stock", "/stock/reorder", "/reports", "/items/new")


@pytest.mark.parametrize("language", ["es", "zh"])
def test_every_page_renders_without_english_ui_text(client: TestClient, box: Box, language: str) -> None:
    translations = Languages().catalogues[language]
    english = {m for m in MARKED if translations.gettext(m) != m and len(m) > 2}
    sign_in(client, "lupita", "987654", lang=language)
    pages = [*PAGES, "/cashiers"]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert f'<html lang="{language}">' in response.text
        parser = _Text()
        parser.feed(response.text)
        leftover = [chunk for chunk in parser.chunks if chunk in english]
        assert not leftover, f"{path} in {language} shows {leftover}"


def test_the_sign_in_page_speaks_the_language_asked_for(client: TestClient) -> None:
    assert "登录" in client.get("/login", params={"lang": "zh"}).text
    assert "Entrar" in client.get("/login").text  # the shop's settings say Spanish


def test_a_session_can_switch_its_language(client: TestClient, cashier: str) -> None:
    assert client.post("/language", data={"csrf": cashier, "language": "en", "next": "/stock"}).status_code == 303
    assert "Stock on hand" in client.get("/stock").text
    assert client.post("/language", data={"csrf": cashier, "language": "fr"}).status_code == 422


@pytest.mark.parametrize(
    ("language", "amount_minor", "currency", "expected"),
    [
        ("es", 123450, "MXN", "$1,234.50"),
        ("en", 123450, "USD", "$1,234.50"),
        ("zh", 123450, "CNY", "¥1,234.50"),
        ("en", 1234, "JPY", "¥1,234"),
        ("en", 1234, "KWD", "KWD1.234"),
    ],
)
def test_money_uses_the_locale_and_the_currency_minor_units(
    language: str, amount_minor: int, currency: str, expected: str
) -> None:
    assert Languages().translator(language).money(amount_minor, currency) == expected
