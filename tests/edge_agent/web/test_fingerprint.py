"""Fingerprints at the counter UI on a simulated sensor: 1:N at the sale, 1:1 verification, capture, withdrawal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from edge_agent.customers import EnrolmentForm
from edge_agent.identify import Identifier
from edge_agent.web import WebAppSettings, WebServices, create_app
from hardware.fingerprint import SimulatedFingerprintSensor
from hardware.fingerprint.emulator import FingerprintEmulator
from tests.edge_agent.web.conftest import CHEAP_HASHER, Box, build_services, csrf_of, sign_in

T = TypeVar("T")

FINGER_WAIT_S = 0.6
"""The page's wait for a finger in these tests: short, so 'no finger' answers quickly."""
CAPACITY = 4
BLINK_S = 0.12
"""How long the simulated customer keeps the finger down, then up, at enrolment (place, lift, place again)."""


@pytest.fixture
def sensor() -> Iterator[SimulatedFingerprintSensor]:
    with SimulatedFingerprintSensor(capacity=CAPACITY, reply_timeout_s=0.3) as s:
        yield s


@pytest.fixture
def emulator(sensor: SimulatedFingerprintSensor) -> FingerprintEmulator:
    return sensor.emulator


@pytest.fixture
def fbox(tmp_path: Path, sensor: SimulatedFingerprintSensor) -> Box:
    db_path = tmp_path / "fingerprint-box.sqlite3"

    def services() -> WebServices:
        built = build_services(db_path)
        built.identifier = Identifier(built.store, sensor, built.customers)
        built.finger_wait_s = FINGER_WAIT_S
        return built

    return Box(create_app(services, WebAppSettings(pin_hasher=CHEAP_HASHER)), db_path)


@pytest.fixture
def fclient(fbox: Box) -> Iterator[TestClient]:
    with TestClient(fbox.app, follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def csrf(fclient: TestClient) -> str:
    return sign_in(fclient, lang="en")


def _call(app: FastAPI, fn: Callable[[WebServices], T]) -> T:
    """Run ``fn`` on the UI's service thread, where the services live."""
    result: T = app.state.web.gate.call(fn)
    return result


def _enrol(app: FastAPI, emulator: FingerprintEmulator, finger: str, phone: str, *, regular: bool = False) -> str:
    """A customer enrolled with ``finger``'s template; a regular also sits on the sensor for 1:N."""

    def enrol(s: WebServices) -> str:
        form = EnrolmentForm(
            name=finger.title(),
            phone=phone,
            fingerprint_template=emulator.template_for(finger),
            fingerprint_consent=True,
        )
        loyalty_id = s.customers.enrol(form).customer.loyalty_id
        if regular:
            assert s.identifier is not None
            s.identifier.load(loyalty_id)
        return loyalty_id

    return _call(app, enrol)


@contextmanager
def _finger(emulator: FingerprintEmulator, finger: str) -> Iterator[None]:
    emulator.place(finger)
    try:
        yield
    finally:
        emulator.lift()


@contextmanager
def _blinking(emulator: FingerprintEmulator, finger: str) -> Iterator[None]:
    """The customer puts the finger down, lifts it and puts it down again, over and over, as enrolment asks."""
    stop = threading.Event()

    def customer() -> None:
        while not stop.is_set():
            emulator.place(finger)
            if stop.wait(BLINK_S):
                break
            emulator.lift()
            stop.wait(BLINK_S)

    thread = threading.Thread(target=customer, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        emulator.lift()


def _template_on_file(box: Box, loyalty_id: str) -> bool:
    rows = box.query("SELECT fingerprint_sealed IS NOT NULL FROM biometric WHERE loyalty_id = ?", loyalty_id)
    return bool(rows and rows[0][0])


# -- 1:N at the sale -----------------------------------------------------------------------------------------


def test_the_sale_offers_the_fingerprint_button_only_when_the_box_has_a_sensor(
    fclient: TestClient, csrf: str, client: TestClient, cashier: str
) -> None:
    assert 'id="finger-submit"' in fclient.get("/sale").text
    assert 'id="finger-submit"' not in client.get("/sale").text


def test_a_regular_s_finger_puts_them_on_the_sale(
    fclient: TestClient, csrf: str, fbox: Box, emulator: FingerprintEmulator
) -> None:
    alice = _enrol(fbox.app, emulator, "alice", "5511111111", regular=True)
    with _finger(emulator, "alice"):
        response = fclient.post("/sale/customer/finger", data={"csrf": csrf})
    assert response.status_code == 303, response.text
    page = fclient.get("/sale").text
    assert alice in page and 'data-finger="identified"' in page
    assert 'id="verify-finger"' not in page  # identified by finger already: nothing to verify


def test_an_unknown_finger_says_no_match_and_attaches_nobody(
    fclient: TestClient, csrf: str, fbox: Box, emulator: FingerprintEmulator
) -> None:
    _enrol(fbox.app, emulator, "alice", "5511111111", regular=True)
    with _finger(emulator, "mallory"):
        response = fclient.post("/sale/customer/finger", data={"csrf": csrf})
    assert response.status_code == 422
    assert "No customer matches this fingerprint" in response.text
    assert 'id="sale-customer"' not in response.text and 'id="customer-form"' in response.text


def test_no_finger_within_the_wait_is_reported_and_changes_nothing(
    fclient: TestClient, csrf: str, emulator: FingerprintEmulator
) -> None:
    response = fclient.post("/sale/customer/finger", data={"csrf": csrf})
    assert response.status_code == 422
    assert "No finger reached the sensor in time" in response.text
    assert 'id="sale-customer"' not in response.text


def test_a_silent_sensor_sends_the_cashier_to_the_phone_number(
    fclient: TestClient, csrf: str, emulator: FingerprintEmulator
) -> None:
    emulator.silent = True
    with _finger(emulator, "alice"):
        response = fclient.post("/sale/customer/finger", data={"csrf": csrf})
    assert response.status_code == 422
    assert "The fingerprint sensor is not working. Use the phone number or the sticker." in response.text


def test_the_fingerprint_messages_are_translated(fclient: TestClient, emulator: FingerprintEmulator) -> None:
    csrf = sign_in(fclient, lang="es")
    response = fclient.post("/sale/customer/finger", data={"csrf": csrf})
    assert "No se puso ningún dedo en el lector a tiempo" in response.text


# -- 1:1 after a phone number --------------------------------------------------------------------------------


def test_verification_with_the_right_finger_shows_the_customer_verified(
    fclient: TestClient, csrf: str, fbox: Box, emulator: FingerprintEmulator
) -> None:
    alice = _enrol(fbox.app, emulator, "alice", "5511111111")
    assert fclient.post("/sale/customer", data={"csrf": csrf, "customer": "55 1111 1111"}).status_code == 303
    assert 'id="verify-finger"' in fclient.get("/sale").text
    with _finger(emulator, "alice"):
        response = fclient.post("/sale/customer/verify", data={"csrf": csrf})
    assert response.status_code == 303, response.text
    page = fclient.get("/sale").text
    assert alice in page and 'data-finger="verified"' in page and 'id="verify-finger"' not in page


def test_a_wrong_finger_says_it_does_not_match_and_keeps_the_customer(
    fclient: TestClient, csrf: str, fbox: Box, emulator: FingerprintEmulator
) -> None:
    alice = _enrol(fbox.app, emulator, "alice", "5511111111")
    fclient.post("/sale/customer", data={"csrf": csrf, "customer": "55 1111 1111"})
    with _finger(emulator, "bob"):
        response = fclient.post("/sale/customer/verify", data={"csrf": csrf})
    assert response.status_code == 303
    page = fclient.get("/sale").text
    assert 'data-finger="mismatch"' in page and "does not match this customer" in page
    assert 'id="sale-customer"' in page and alice in page
    assert 'id="verify-finger"' in page  # the cashier may ask for another try


def test_a_customer_without_a_fingerprint_is_not_offered_verification(
    fclient: TestClient, csrf: str, fbox: Box
) -> None:
    _call(fbox.app, lambda s: s.customers.enrol(EnrolmentForm(name="Sin Huella", phone="5544444444")))
    fclient.post("/sale/customer", data={"csrf": csrf, "customer": "55 4444 4444"})
    page = fclient.get("/sale").text
    assert 'id="sale-customer"' in page and 'id="verify-finger"' not in page
    response = fclient.post("/sale/customer/verify", data={"csrf": csrf})
    assert response.status_code == 422 and "has no fingerprint on this box" in response.text


def test_a_new_customer_by_phone_drops_the_previous_verification(
    fclient: TestClient, csrf: str, fbox: Box, emulator: FingerprintEmulator
) -> None:
    _enrol(fbox.app, emulator, "alice", "5511111111")
    fclient.post("/sale/customer", data={"csrf": csrf, "customer": "55 1111 1111"})
    with _finger(emulator, "alice"):
        fclient.post("/sale/customer/verify", data={"csrf": csrf})
    fclient.post("/sale/customer/clear", data={"csrf": csrf})
    fclient.post("/sale/customer", data={"csrf": csrf, "customer": "55 1111 1111"})
    assert 'id="finger-status"' not in fclient.get("/sale").text


# -- enrolment -----------------------------------------------------------------------------------------------

ENROLMENT = {"name": "Dana Ruiz", "phone": "55 5555 5555", "signature": "M1 1 L5 5"}


def test_enrolment_with_consent_captures_and_keeps_the_fingerprint(
    fclient: TestClient, csrf: str, fbox: Box, emulator: FingerprintEmulator
) -> None:
    form = fclient.get("/customers/new").text
    assert 'id="fingerprint-hint"' in form
    with _blinking(emulator, "dana"):
        response = fclient.post("/customers/new", data={"csrf": csrf, **ENROLMENT, "fingerprint_consent": "on"})
    assert response.status_code == 303, response.text
    dana = str(response.headers["location"]).rsplit("/", 1)[1]
    assert _template_on_file(fbox, dana)
    assert not emulator.library  # the scratch slot was cleared after the capture
    assert "on file at this box" in fclient.get(f"/customers/{dana}").text
    # The captured finger verifies the new customer.
    fclient.post("/sale/customer", data={"csrf": csrf, "customer": dana})
    with _finger(emulator, "dana"):
        fclient.post("/sale/customer/verify", data={"csrf": csrf})
    assert 'data-finger="verified"' in fclient.get("/sale").text


def test_enrolment_without_consent_reads_no_finger_and_keeps_none(
    fclient: TestClient, csrf: str, fbox: Box, emulator: FingerprintEmulator
) -> None:
    with _finger(emulator, "dana"):
        response = fclient.post("/customers/new", data={"csrf": csrf, **ENROLMENT})
    assert response.status_code == 303, response.text
    dana = str(response.headers["location"]).rsplit("/", 1)[1]
    assert not _template_on_file(fbox, dana)
    assert fbox.query("SELECT fingerprint_consent FROM customer WHERE loyalty_id = ?", dana) == [(None,)]


def test_a_failed_capture_shows_the_form_again_and_writes_nothing(
    fclient: TestClient, csrf: str, fbox: Box, emulator: FingerprintEmulator
) -> None:
    response = fclient.post("/customers/new", data={"csrf": csrf, **ENROLMENT, "fingerprint_consent": "on"})
    assert response.status_code == 422
    assert 'id="fingerprint_consent-error"' in response.text and "The fingerprint was not captured" in response.text
    assert 'value="Dana Ruiz"' in response.text and 'name="fingerprint_consent" checked' in response.text
    assert fbox.query("SELECT count(*) FROM customer") == [(0,)]
    assert fbox.query("SELECT count(*) FROM outbox") == [(0,)]


# -- withdrawal ----------------------------------------------------------------------------------------------


def test_withdrawing_consent_erases_the_fingerprint_here_and_on_the_sensor(
    fclient: TestClient, csrf: str, fbox: Box, emulator: FingerprintEmulator
) -> None:
    alice = _enrol(fbox.app, emulator, "alice", "5511111111", regular=True)
    assert emulator.library
    card = fclient.get(f"/customers/{alice}").text
    assert 'id="withdraw-fingerprint"' in card
    response = fclient.post(f"/customers/{alice}/fingerprint/withdraw", data={"csrf": csrf})
    assert response.status_code == 303
    assert not _template_on_file(fbox, alice)
    assert not emulator.library
    card = fclient.get(f"/customers/{alice}").text
    assert "Fingerprint consent withdrawn" in card and "none on file at this box" in card
    assert 'id="withdraw-fingerprint"' not in card
    with _finger(emulator, "alice"):
        assert fclient.post("/sale/customer/finger", data={"csrf": csrf}).status_code == 422


def test_withdrawal_needs_the_session_s_csrf_token(
    fclient: TestClient, csrf: str, fbox: Box, emulator: FingerprintEmulator
) -> None:
    alice = _enrol(fbox.app, emulator, "alice", "5511111111")
    response = fclient.post(f"/customers/{alice}/fingerprint/withdraw", data={"csrf": "forged"})
    assert response.status_code == 403
    assert _template_on_file(fbox, alice)
    assert csrf_of(fclient.get("/sale").text) == csrf
