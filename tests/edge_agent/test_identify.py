"""Fingerprint identification against the real driver on the emulated sensor: 1:N LRU, 1:1, erasure, faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.errors import InvalidInput
from edge_agent.customers import CustomerBook, CustomerChanges, EnrolmentForm
from edge_agent.identify import Identifier, NoFinger, NotEnrolled, SensorUnavailable
from edge_agent.store import Store
from hardware.fingerprint import EnrolStep, SimulatedFingerprintSensor

START = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
FINGER_TIMEOUT_S = 1.0
CAPACITY = 3  # two regulars and the scratch slot
SETTINGS = {
    "store": {"store_id": "tienda-7", "timezone": "America/Mexico_City"},
    "currency": "MXN",
    "loyalty_prefix": 481,
}


class Ticking:
    """A clock one second later at every reading, so 'least recently seen' is well defined."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "box.sqlite3", tenant="acme", device="box-42", clock=Ticking())
    with s.transaction() as tx:
        tx.conn.execute(
            "INSERT INTO config (kind, version, sha256, body, applied_at) VALUES ('settings', 1, 'x', ?, ?)",
            (json.dumps(SETTINGS), START.isoformat()),
        )
    return s


@pytest.fixture
def sensor() -> Iterator[SimulatedFingerprintSensor]:
    with SimulatedFingerprintSensor(capacity=CAPACITY, reply_timeout_s=0.3) as s:
        yield s


@pytest.fixture
def book(store: Store) -> CustomerBook:
    return CustomerBook(store, box_key=b"\x01" * 32)


@pytest.fixture
def ident(store: Store, sensor: SimulatedFingerprintSensor, book: CustomerBook) -> Identifier:
    return Identifier(store, sensor, book)


def _enrol(book: CustomerBook, sensor: SimulatedFingerprintSensor, finger: str, phone: str) -> str:
    form = EnrolmentForm(
        name=finger.title(),
        phone=phone,
        fingerprint_template=sensor.emulator.template_for(finger),
        fingerprint_consent=True,
    )
    return book.enrol(form).customer.loyalty_id


def _identify(ident: Identifier, sensor: SimulatedFingerprintSensor, finger: str) -> str | None:
    sensor.emulator.place(finger)
    try:
        return ident.identify_by_finger(FINGER_TIMEOUT_S)
    finally:
        sensor.emulator.lift()


def _verify(ident: Identifier, sensor: SimulatedFingerprintSensor, loyalty_id: str, finger: str) -> bool:
    sensor.emulator.place(finger)
    try:
        return ident.verify(loyalty_id, FINGER_TIMEOUT_S)
    finally:
        sensor.emulator.lift()


def test_one_slot_is_kept_for_capture_and_the_rest_for_regulars(ident: Identifier) -> None:
    assert (ident.regular_slots, ident.scratch_slot) == (CAPACITY - 1, CAPACITY - 1)


def test_a_regular_on_the_sensor_is_identified_by_finger(
    ident: Identifier, sensor: SimulatedFingerprintSensor, book: CustomerBook
) -> None:
    alice = _enrol(book, sensor, "alice", "5511111111")
    ident.load(alice)
    assert _identify(ident, sensor, "alice") == alice
    assert _identify(ident, sensor, "mallory") is None


def test_loading_past_capacity_evicts_the_least_recently_seen_regular(
    ident: Identifier, sensor: SimulatedFingerprintSensor, book: CustomerBook
) -> None:
    alice = _enrol(book, sensor, "alice", "5511111111")
    bob = _enrol(book, sensor, "bob", "5522222222")
    carol = _enrol(book, sensor, "carol", "5533333333")
    ident.load(alice)
    ident.load(bob)
    assert _identify(ident, sensor, "alice") == alice  # alice seen after bob
    bob_slot = ident.slot_of(bob)
    assert ident.load(carol) == bob_slot
    assert ident.slot_of(bob) is None
    assert len(sensor.emulator.library) == CAPACITY - 1
    assert _identify(ident, sensor, "bob") is None
    assert _identify(ident, sensor, "carol") == carol
    assert _identify(ident, sensor, "alice") == alice


def test_verification_accepts_the_right_finger_and_makes_a_regular(
    ident: Identifier, sensor: SimulatedFingerprintSensor, book: CustomerBook
) -> None:
    alice = _enrol(book, sensor, "alice", "5511111111")
    assert ident.slot_of(alice) is None
    assert _verify(ident, sensor, alice, "alice")
    assert ident.slot_of(alice) is not None
    assert _identify(ident, sensor, "alice") == alice


def test_verification_refuses_the_wrong_finger(
    ident: Identifier, sensor: SimulatedFingerprintSensor, book: CustomerBook
) -> None:
    alice = _enrol(book, sensor, "alice", "5511111111")
    assert not _verify(ident, sensor, alice, "bob")
    assert ident.slot_of(alice) is None and not sensor.emulator.library


def test_verifying_a_customer_without_a_fingerprint_says_so(
    ident: Identifier, sensor: SimulatedFingerprintSensor, book: CustomerBook
) -> None:
    plain = book.enrol(EnrolmentForm(name="Sin Huella", phone="5544444444")).customer.loyalty_id
    with pytest.raises(NotEnrolled, match="no fingerprint"):
        ident.verify(plain, FINGER_TIMEOUT_S)


def test_withdrawn_consent_deletes_the_template_from_the_sensor(
    ident: Identifier, sensor: SimulatedFingerprintSensor, book: CustomerBook
) -> None:
    alice = _enrol(book, sensor, "alice", "5511111111")
    slot = ident.load(alice)
    book.update(alice, CustomerChanges(fingerprint_consent=False))
    assert slot not in sensor.emulator.library
    assert _identify(ident, sensor, "alice") is None
    with pytest.raises(NotEnrolled):
        ident.verify(alice, FINGER_TIMEOUT_S)


def test_a_customer_erased_by_the_hub_leaves_the_sensor_too(
    store: Store, ident: Identifier, sensor: SimulatedFingerprintSensor, book: CustomerBook
) -> None:
    alice = _enrol(book, sensor, "alice", "5511111111")
    ident.load(alice)
    with store.transaction() as tx:
        book.erase(tx, alice)
    assert not sensor.emulator.library


def test_a_matched_slot_nobody_owns_is_deleted_and_not_reported(
    ident: Identifier, sensor: SimulatedFingerprintSensor
) -> None:
    sensor.emulator.library[0] = sensor.emulator.template_for("ghost")
    assert _identify(ident, sensor, "ghost") is None
    assert not sensor.emulator.library


def test_reconcile_deletes_stray_templates_and_forgets_lost_slots(
    store: Store, ident: Identifier, sensor: SimulatedFingerprintSensor, book: CustomerBook
) -> None:
    alice = _enrol(book, sensor, "alice", "5511111111")
    ident.load(alice)
    sensor.emulator.library.clear()  # the sensor was swapped or wiped
    sensor.emulator.library[1] = sensor.emulator.template_for("stray")
    result = ident.reconcile()
    assert result.deleted_from_sensor == {1} and result.forgotten_slots == {0}
    assert not sensor.emulator.library and ident.slot_of(alice) is None
    assert ident.load_regulars() == 1
    assert _identify(ident, sensor, "alice") == alice


def test_capture_returns_a_template_that_verifies_and_clears_the_scratch_slot(
    ident: Identifier, sensor: SimulatedFingerprintSensor, book: CustomerBook
) -> None:
    emulator = sensor.emulator

    def follow(step: EnrolStep) -> None:
        if step is EnrolStep.LIFT_FINGER:
            emulator.lift()
        elif step is EnrolStep.PLACE_AGAIN:
            emulator.place("dana")

    emulator.place("dana")
    template = ident.capture(FINGER_TIMEOUT_S, on_step=follow)
    emulator.lift()
    assert not emulator.library
    form = EnrolmentForm(name="Dana", phone="5555555555", fingerprint_template=template, fingerprint_consent=True)
    dana = book.enrol(form).customer.loyalty_id
    assert _verify(ident, sensor, dana, "dana")


def test_no_finger_within_the_wait_is_its_own_error(ident: Identifier) -> None:
    with pytest.raises(NoFinger):
        ident.identify_by_finger(0.2)


def test_a_silent_sensor_is_a_clear_error_not_a_crash(
    ident: Identifier, sensor: SimulatedFingerprintSensor, book: CustomerBook
) -> None:
    alice = _enrol(book, sensor, "alice", "5511111111")
    sensor.emulator.silent = True
    with pytest.raises(SensorUnavailable, match="phone number"):
        ident.identify_by_finger(FINGER_TIMEOUT_S)
    with pytest.raises(SensorUnavailable):
        ident.load(alice)
    assert ident.slot_of(alice) is None


def test_an_erasure_while_the_sensor_is_silent_is_finished_by_reconcile(
    ident: Identifier, sensor: SimulatedFingerprintSensor, book: CustomerBook
) -> None:
    alice = _enrol(book, sensor, "alice", "5511111111")
    slot = ident.load(alice)
    sensor.emulator.silent = True
    book.update(alice, CustomerChanges(fingerprint_consent=False))
    assert slot in sensor.emulator.library
    sensor.emulator.silent = False
    assert ident.reconcile().deleted_from_sensor == {slot}
    assert not sensor.emulator.library


@pytest.mark.parametrize("timeout_s", [0, -1, float("nan")])
def test_a_wait_that_is_not_a_positive_time_is_refused(ident: Identifier, timeout_s: float) -> None:
    with pytest.raises(InvalidInput, match="timeout_s"):
        ident.identify_by_finger(timeout_s)


def test_slots_the_configuration_sync_reports_erased_leave_the_sensor(
    ident: Identifier, sensor: SimulatedFingerprintSensor, book: CustomerBook
) -> None:
    alice = _enrol(book, sensor, "alice", "5511111111")
    slot = ident.load(alice)
    ident.forget({alice: slot, "481000000099": None})
    assert not sensor.emulator.library
