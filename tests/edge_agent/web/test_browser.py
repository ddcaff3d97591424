"""One sale rung up in a real headless Chromium against the app served by uvicorn.

The cashier signs in with a PIN, enrols a customer (drawing a signature on the canvas), rings up biscuits on
a 2x1 promotion and milk on 10 % off, identifies the customer by phone, pays part with points and the rest
in cash, and completes the sale. The test checks what the screen shows (total, discount, change), the bytes
the simulated printer received (points earned and the balance), and the sale event in the outbox with both
tenders. Screenshots of each step go to ``var/test-artifacts/screens/``.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from tests.edge_agent.web.conftest import CASHIER_PIN, Box

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENS = Path(__file__).resolve().parents[3] / "var" / "test-artifacts" / "screens"
WAIT_S = 10.0

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed; the browser test needs it"),
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(box: Box) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(box.app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(WAIT_S)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
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
        "--window-size=412,1400",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_member_pays_with_points_and_cash_and_the_receipt_and_event_show_both(
    box: Box, served: str, browser: object
) -> None:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    assert isinstance(browser, WebDriver)
    driver = browser
    SCREENS.mkdir(parents=True, exist_ok=True)

    def shot(name: str) -> None:
        driver.save_screenshot(str(SCREENS / f"{name}.png"))

    def fill(element_id: str, value: str) -> None:
        field = driver.find_element(By.ID, element_id)
        field.clear()
        field.send_keys(value)

    def submit(element_id: str, page: str) -> None:
        """Click a submit button and wait until the page it leads to is what a person would see.

        That is: the old document is gone, the new one has finished loading (its deferred script ran), and it
        is the expected page (``<body data-page>``). The next step then acts on a settled document.
        """
        old = driver.find_element(By.TAG_NAME, "html")
        driver.find_element(By.ID, element_id).click()
        # While the old document goes, chromedriver may answer a query with a transient "inspector error";
        # the waits ask again until the timeout (the page's own state decides, never the error).
        transient = (WebDriverException,)
        WebDriverWait(driver, WAIT_S, ignored_exceptions=transient).until(expected_conditions.staleness_of(old))
        WebDriverWait(driver, WAIT_S, ignored_exceptions=transient).until(
            lambda d: (
                d.execute_script(
                    "return document.readyState === 'complete' && document.body ? document.body.dataset.page : null"
                )
                == page
            ),
            f"the page after {element_id} never became {page!r}",
        )

    def text_of(element_id: str) -> str:
        return str(driver.find_element(By.ID, element_id).text)

    # 1. Sign in with the cashier's PIN.
    driver.get(f"{served}/login")
    shot("01-login")
    fill("cashier_id", "ana")
    fill("pin", CASHIER_PIN)
    submit("sign-in", "sale")
    assert "Ana López" in text_of("who")
    shot("02-signed-in")

    # 2. Enrol the customer, with a signature drawn on the canvas.
    driver.get(f"{served}/customers/new")
    fill("name", "María Gómez")
    fill("phone", "55 1234 5678")
    driver.find_element(By.ID, "marketing_consent").click()
    pad = driver.find_element(By.ID, "signature-pad")
    ActionChains(driver).move_to_element_with_offset(pad, -60, 0).click_and_hold().move_by_offset(
        40, -20
    ).move_by_offset(40, 30).move_by_offset(30, -10).release().perform()
    shot("03-enrolment")
    submit("enrol-submit", "customer")
    loyalty_id = text_of("customer-id")
    shot("04-enrolled")
    (signature,) = box.query("SELECT signature_svg FROM biometric WHERE loyalty_id = ?", loyalty_id)[0]
    assert str(signature).startswith("<svg") and " L" in str(signature)
    # The hub's customer snapshot arrives with the member's balance.
    conn = sqlite3.connect(box.db_path)
    with conn:
        conn.execute("UPDATE customer SET balance_points = 500 WHERE loyalty_id = ?", (loyalty_id,))
    conn.close()

    # 3. Ring up two packets of biscuits (2x1) and a litre of milk (10 % off).
    driver.get(f"{served}/sale")
    for barcode in ("7501234000291", "7501234000291", "7501234000109"):
        fill("scan-code", barcode)
        submit("scan-submit", "sale")
    assert "Galletas 2x1" in text_of("promotions")
    shot("05-items")

    # 4. Identify the member by phone and pay 100 points.
    fill("customer", "5512345678")
    submit("customer-submit", "sale")
    assert "María Gómez" in text_of("sale-customer")
    fill("points", "100")
    submit("points-submit", "sale")
    assert text_of("total-points") == "100 = $10.00"
    shot("06-points")

    # 5. The rest in cash: a 50-peso note.
    fill("amount", "50")
    submit("tender-submit", "sale")
    assert text_of("total") == "$42.10"
    assert text_of("total-discount") == "\N{MINUS SIGN}$18.90"
    assert text_of("change") == "$17.90"
    shot("07-tendered")

    # 6. Complete: the receipt page shows the same figures and the points.
    submit("complete", "receipt")
    assert text_of("receipt-total") == "$42.10"
    assert text_of("receipt-change") == "$17.90"
    earned = int(text_of("receipt-points-earned"))
    balance = int(text_of("receipt-points-balance").replace(",", ""))
    assert earned > 0
    assert balance == 500 - 100 + earned
    shot("08-receipt")

    # The simulated printer printed the member's points and balance.
    printed = box.app.state.web.gate.call(lambda s: s.checkout.printer.output).decode("cp437", "replace")
    assert "Puntos ganados" in printed and f"+{earned}" in printed
    assert "Saldo de puntos" in printed and str(balance) in printed
    assert "$42.10" in printed and "$17.90" in printed

    # The outbox holds the sale event with both tenders.
    rows = box.query("SELECT payload FROM outbox WHERE type = 'sale'")
    assert len(rows) == 1
    payload = rows[0][0]
    assert isinstance(payload, bytes)
    data = json.loads(payload)["data"]
    assert data["customer"] == loyalty_id
    assert data["total_minor"] == 4210
    kinds = {tender["kind"]: tender for tender in data["tenders"]}
    assert set(kinds) == {"points", "cash"}
    assert kinds["points"]["points"] == 100
    assert kinds["points"]["amount_minor"] + kinds["cash"]["amount_minor"] == 4210
    assert data["points_redeemed"] == 100 and data["points_earned"] == earned
