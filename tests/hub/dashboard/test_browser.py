"""The dashboard in a real headless Chromium against the hub served by uvicorn (SQLite).

Every role signs in through the form and visits every page; a retailer's pages never show the other
retailer's figures or store; a wrong password is refused on the page; sign-out ends the session; the overview
updates itself (htmx polling) when a sale arrives. Screenshots of every page at 1366x900 and 390x844, in
es, en and zh, go to ``test-artifacts/dashboard/``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from hub.api.accounts import Role
from tests.hub.dashboard.conftest import NOW, PASSWORD, World, _insert_sale, build_world, cheap_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "dashboard"
CSS = Path(__file__).resolve().parents[3] / "hub" / "dashboard" / "static" / "dashboard.css"
WAIT_S = 10.0
SIZES = {"laptop": (1366, 900), "phone": (390, 844)}
PAGES = {
    "overview": "/?period=7d",
    "live": "/live?period=7d",
    "sellers": "/sellers?period=30d",
    "top": "/top?period=30d",
    "heatmap": "/heatmap?period=30d",
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed; the browser test needs it"),
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str]]:
    world = build_world(f"sqlite:///{tmp_path_factory.mktemp('dash-browser') / 'hub.sqlite3'}")
    # Poll each second so the test sees an update quickly; the hub's default is ten.
    from hub.api import create_app

    world.settings = cheap_settings(dashboard_poll_s=1)
    world.app = create_app(world.engine, world.settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield world, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(WAIT_S)
        world.engine.dispose()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    os.environ["SE_OFFLINE"] = "1"  # selenium-manager must never download a driver or a browser
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=1366,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(2)
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """The driver with the few steps these tests take."""

    def __init__(self, driver: object, base: str) -> None:
        from selenium.webdriver.remote.webdriver import WebDriver

        assert isinstance(driver, WebDriver)
        self.driver = driver
        self.base = base

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)
        self.settled()

    def settled(self, old: Any = None) -> None:
        """Wait until the document is loaded; after a click that navigates, first until ``old`` (the previous
        page's ``<html>``) is gone, so the wait is for the new page and never the old one still complete."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.wait import WebDriverWait

        transient = (WebDriverException,)  # chromedriver's passing errors while a document goes
        if old is not None:
            WebDriverWait(self.driver, WAIT_S, ignored_exceptions=transient).until(
                expected_conditions.staleness_of(old)
            )
        WebDriverWait(self.driver, WAIT_S, ignored_exceptions=transient).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )

    def _html(self) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "html")

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        from selenium.webdriver.common.by import By

        self.driver.delete_all_cookies()
        self.open("/login")
        for name, value in (("tenant", "t1"), ("email", email), ("password", password)):
            field = self.driver.find_element(By.NAME, name)
            field.clear()
            field.send_keys(value)
        old = self._html()
        self.driver.find_element(By.CSS_SELECTOR, ".signin button[type=submit]").click()
        self.settled(old)

    def sign_out(self) -> None:
        from selenium.webdriver.common.by import By

        old = self._html()
        self.driver.find_element(By.CSS_SELECTOR, ".logout button").click()
        self.settled(old)

    def language(self, code: str) -> None:
        from selenium.webdriver.common.by import By

        old = self._html()
        self.driver.find_element(By.CSS_SELECTOR, f'.langs a[lang="{code}"]').click()
        self.settled(old)

    def shot(self, name: str, size: tuple[int, int]) -> Path:
        self.driver.set_window_size(*size)
        width, height = size
        # The whole page, not only the first screen: grow the window to the document's height.
        full = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
        self.driver.set_window_size(width, max(height, min(full + 140, 4000)))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}-{width}x{height}.png"
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(*size)
        return path

    def overflows(self) -> bool:
        """Whether the page scrolls sideways (something is wider than the window)."""
        return bool(
            self.driver.execute_script(
                "return document.documentElement.scrollWidth > document.documentElement.clientWidth + 1"
            )
        )

    def script_errors(self) -> list[str]:
        logs = self.driver.get_log("browser")  # type: ignore[attr-defined]  # Chrome's driver has it, the base type not
        # A 403 or 404 the test asked for is logged too; a script error or a refused resource is what counts.
        return [
            str(e["message"]) for e in logs if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
        ]


def test_every_role_signs_in_and_sees_every_page_in_its_scope(served: tuple[World, str], browser: object) -> None:
    world, base = served
    page = Page(browser, base)
    expectations = {
        (Role.DISTRIBUTOR_ADMIN, ""): ("$1,224.31", ()),
        (Role.ANALYST, ""): ("$1,224.31", ()),
        (Role.RETAILER, "r1"): ("$236.66", ("Miscelánea Don Pepe", "987.65", "666.66", "555.55", "501000000037")),
        (Role.RETAILER, "r2"): ("$987.65", ("Abarrotes Lupita", "123.45", "236.66", "555.55")),
    }
    for (role, who), (sales, never) in expectations.items():
        page.sign_in(world.emails[("t1", role, who)])
        for name, path in PAGES.items():
            page.open(path)
            text = page.text()
            assert "Sign in" not in text.split("\n")[0], f"{role} {name}: sent back to sign-in"
            for hidden in never:
                assert hidden not in text, f"{role} {who} sees {hidden!r} on {name}"
            if name == "overview":
                assert sales in text, f"{role} {who}: {sales} not on the overview"
            if name in ("sellers", "top"):
                drawn = page.driver.execute_script(
                    "const c = document.querySelector('canvas[data-chart]');"
                    "return !!(c && window.Chart && window.Chart.getChart(c));"
                )
                assert drawn, f"Chart.js drew no chart on {name}"
        page.sign_out()
        assert "/login" in page.driver.current_url
    page.sign_in(world.emails[("t1", Role.TECHNICIAN, "")])
    assert "distributor's staff" in page.text()  # Chromium asks for English first
    assert not page.script_errors(), "the browser reported errors (a blocked script or style?)"


def test_a_wrong_password_stays_on_the_sign_in_page_with_a_message(served: tuple[World, str], browser: object) -> None:
    world, base = served
    page = Page(browser, base)
    page.sign_in(world.emails[("t1", Role.ANALYST, "")], password="wrong password entirely")
    assert "Wrong network, email or password." in page.text()
    assert page.driver.current_url.endswith("/login")
    page.open("/")
    assert page.driver.current_url.startswith(base + "/login")


def test_signing_out_ends_the_session(served: tuple[World, str], browser: object) -> None:
    world, base = served
    page = Page(browser, base)
    page.sign_in(world.emails[("t1", Role.ANALYST, "")])
    page.sign_out()
    page.open("/live")
    assert page.driver.current_url.startswith(base + "/login?next=/live")


def test_the_overview_updates_itself_when_a_sale_arrives(served: tuple[World, str], browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    world, base = served
    page = Page(browser, base)
    page.sign_in(world.emails[("t1", Role.RETAILER, "r1")])
    page.open("/?period=today")

    def tickets() -> str:
        return str(page.driver.find_element(By.CSS_SELECTOR, '[data-figure="tickets"]').text)

    before = tickets()
    marker = page.driver.find_element(By.TAG_NAME, "html")
    with world.engine.begin() as conn:
        _insert_sale(conn, "t1", "s1", "box-1", NOW - timedelta(minutes=5), 1_000, None, 1, 0)
    WebDriverWait(page.driver, WAIT_S).until(lambda _d: tickets() != before, "the figures did not refresh")
    assert int(tickets()) == int(before) + 1
    assert page.driver.find_element(By.TAG_NAME, "html") == marker, "the page reloaded instead of swapping"


def test_screenshots_of_every_page_in_every_language_at_laptop_and_phone_size(
    served: tuple[World, str], browser: object
) -> None:
    world, base = served
    page = Page(browser, base)
    page.driver.delete_all_cookies()
    page.open("/login")
    for language in ("es", "en", "zh"):
        page.open("/login")
        page.language(language)
        for size_name, size in SIZES.items():
            page.shot(f"login-{language}-{size_name}", size)
    page.sign_in(world.emails[("t1", Role.ANALYST, "")])
    wide = []
    for language in ("es", "en", "zh"):
        page.open("/")
        page.language(language)
        for name, path in PAGES.items():
            page.open(path)
            assert f'lang="{language}"' in page.driver.page_source[:200]
            for size_name, size in SIZES.items():
                page.driver.set_window_size(*size)
                if page.overflows():
                    wide.append(f"{name} {language} {size_name}")
                page.shot(f"{name}-{language}-{size_name}", size)
    page.sign_in(world.emails[("t1", Role.RETAILER, "r1")])
    page.open(PAGES["overview"])
    page.shot("overview-retailer-es-phone", SIZES["phone"])
    assert not wide, f"pages wider than the window: {wide}"
    shots = sorted(p.name for p in ARTIFACTS.glob("*.png"))
    assert (
        len([s for s in shots if s.startswith(("overview-", "live-", "login-", "sellers-", "top-", "heatmap-"))]) >= 36
    )


def test_the_chinese_font_the_stylesheet_names_is_installed() -> None:
    families = re.search(r"body\.lang-zh \{ font-family: ([^;]+);", CSS.read_text())
    assert families is not None
    named = [f.strip().strip('"') for f in families.group(1).split(",")]
    installed = subprocess.run(
        ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=True
    ).stdout  # fontconfig's families that cover Chinese
    found = [f for f in named if f in installed]
    assert found, f"none of {named} is installed: install fonts-wqy-zenhei (make system does)"
