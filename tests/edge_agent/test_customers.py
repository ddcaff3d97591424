"""The customer book: lookup, enrolment, duplicates, validation, consent, erasure and pending points."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from core import identity, wire
from core.errors import InvalidInput
from edge_agent.customers import (
    MAX_JOURNAL_ROWS_PER_CUSTOMER,
    CustomerBook,
    CustomerChanges,
    EnrolmentForm,
    NotConfigured,
    NumbersExhausted,
    PointsJournalFull,
    UnknownCustomer,
    number_range,
    pending_points,
    record_points,
    region_for,
)
from edge_agent.sealing import Sealer, WrongKey
from edge_agent.store import Store

NOW = datetime(2026, 3, 14, 17, 30, tzinfo=UTC)
BOX_KEY = b"\x11" * 32
TENANT_KEY = b"\x22" * 32
PREFIX = 481
TEMPLATE = b"\x4d\x54\x01" + bytes(range(200))
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100
SETTINGS: dict[str, Any] = {
    "store": {"store_id": "tienda-7", "retailer_id": "abarrotes-lupita", "timezone": "America/Mexico_City"},
    "currency": "MXN",
    "jurisdiction": "mx-general",
    "language": "es",
    "loyalty_prefix": PREFIX,
    "receipt": {"header": [], "footer": []},
    "offline_allowance_points": 150,
    "wallets_enabled": False,
}


def _configure(store: Store, settings: dict[str, Any]) -> None:
    with store.transaction() as tx:
        tx.conn.execute(
            "INSERT INTO config (kind, version, sha256, body, applied_at) VALUES ('settings', 1, 'x', ?, ?) "
            "ON CONFLICT (kind) DO UPDATE SET body = excluded.body",
            (json.dumps(settings), NOW.isoformat()),
        )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "box.sqlite3", tenant="acme", device="box-42", clock=lambda: NOW)
    _configure(s, SETTINGS)
    return s


@pytest.fixture
def book(store: Store) -> CustomerBook:
    return CustomerBook(store, box_key=BOX_KEY, tenant_key=TENANT_KEY, clock=lambda: NOW)


def _events(store: Store) -> list[object]:
    return [wire.decode(row.topic, row.payload).data for row in store.outbox_after(0, 100)]


def _count(store: Store, table: str) -> int:
    return int(store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# -- enrolment ------------------------------------------------------------------------------------------------


def test_enrolment_normalises_the_phone_and_issues_a_checked_id_from_the_box_block(
    store: Store, book: CustomerBook
) -> None:
    result = book.enrol(EnrolmentForm(name="  Lupita   Ramírez ", phone="55 1234 5678", gender="female"))
    c = result.customer
    assert not result.existing
    assert c.name == "Lupita Ramírez" and c.phone_e164 == "+525512345678"
    assert c.loyalty_id == identity.make(PREFIX, 420_000)
    assert identity.is_valid(c.loyalty_id, prefix=PREFIX)
    assert c.enrolled_on == NOW.date() and c.offline_allowance_points == 150
    [event] = _events(store)
    assert isinstance(event, wire.EnrolmentData)
    assert event.customer == c.loyalty_id and event.store == "tienda-7"
    assert event.fields.phone_e164 == "+525512345678" and event.fields.gender == "female"
    assert event.fingerprint_template is None


def test_consecutive_enrolments_take_consecutive_numbers(book: CustomerBook) -> None:
    a = book.enrol(EnrolmentForm(name="Ana", phone="5512345678")).customer
    b = book.enrol(EnrolmentForm(name="Beto", phone="5587654321")).customer
    assert (identity.parse(a.loyalty_id).number, identity.parse(b.loyalty_id).number) == (420_000, 420_001)


def test_a_phone_already_enrolled_is_found_not_enrolled_again(store: Store, book: CustomerBook) -> None:
    first = book.enrol(EnrolmentForm(name="Lupita", phone="55 1234 5678")).customer
    again = book.enrol(EnrolmentForm(name="Lupe R.", phone="+52 (55) 1234-5678"))
    assert again.existing and again.event_id is None
    assert again.customer == first
    assert _count(store, "customer") == 1 and store.outbox_depth() == 1


def test_a_hub_assigned_range_takes_precedence_over_the_device_block(store: Store, book: CustomerBook) -> None:
    _configure(store, {**SETTINGS, "loyalty_range": {"first": 5_000_000, "last": 5_000_001}})
    ids = [book.enrol(EnrolmentForm(name=f"C{i}", issue_sticker=True)).customer.loyalty_id for i in range(2)]
    assert [identity.parse(i).number for i in ids] == [5_000_000, 5_000_001]
    with pytest.raises(NumbersExhausted, match="new loyalty_range"):
        book.enrol(EnrolmentForm(name="C3", issue_sticker=True))


def test_a_number_already_in_the_cache_is_skipped(store: Store, book: CustomerBook) -> None:
    taken = identity.make(PREFIX, 420_000)
    with store.transaction() as tx:
        tx.conn.execute(
            "INSERT INTO customer (loyalty_id, name, origin, updated_at) VALUES (?, 'Hub', 'hub', ?)",
            (taken, NOW.isoformat()),
        )
    assert book.enrol(EnrolmentForm(name="Nuevo", phone="5512345678")).customer.loyalty_id == identity.make(
        PREFIX, 420_001
    )


def test_boxes_with_different_numbers_get_disjoint_blocks_and_an_unnumbered_box_needs_a_range() -> None:
    assert number_range("box-1", None) == (10_000, 19_999)
    assert number_range("box-2", None) == (20_000, 29_999)
    assert number_range("anything", (7, 9)) == (7, 9)
    with pytest.raises(NotConfigured, match="assign this box a range"):
        number_range("counter", None)


def test_an_issued_sticker_is_bound_and_finds_the_customer(book: CustomerBook) -> None:
    c = book.enrol(EnrolmentForm(name="Sin Teléfono", issue_sticker=True)).customer
    assert c.sticker == "MO1:" + c.loyalty_id and c.phone_e164 is None
    assert book.find(c.sticker.lower() + "\r\n") == c


def test_a_preprinted_sticker_gives_the_customer_its_id(store: Store, book: CustomerBook) -> None:
    payload = identity.sticker_payload(PREFIX, 77)
    c = book.enrol(EnrolmentForm(name="Rollo", sticker=payload)).customer
    assert c.loyalty_id == identity.make(PREFIX, 77) and c.sticker == payload
    assert book.enrol(EnrolmentForm(name="Otra", sticker=payload)).existing
    assert _count(store, "customer") == 1


def test_enrolment_without_a_settings_configuration_is_refused_clearly(tmp_path: Path) -> None:
    bare = Store(tmp_path / "b.sqlite3", tenant="acme", device="box-1")
    with pytest.raises(NotConfigured, match="no settings"):
        CustomerBook(bare, box_key=BOX_KEY).enrol(EnrolmentForm(name="A", phone="+525512345678"))


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (EnrolmentForm(name="Ana", phone="12"), "phone"),
        (EnrolmentForm(name="Ana", phone="call me"), "phone"),
        (EnrolmentForm(name="Ana", phone="5512345678", birth_date="1990-13-01"), "birth_date"),
        (EnrolmentForm(name="Ana", phone="5512345678", birth_date="2030-01-01"), "birth_date"),
        (EnrolmentForm(name="Ana", phone="5512345678", birth_date=date(1850, 1, 1)), "birth_date"),
        (EnrolmentForm(name="x" * 121, phone="5512345678"), "name"),
        (EnrolmentForm(name="   ", phone="5512345678"), "name"),
        (EnrolmentForm(name="Ana\x00", phone="5512345678"), "name"),
        (EnrolmentForm(name="Ana", phone="5512345678", gender="robot"), "gender"),
        (EnrolmentForm(name="Ana", phone="5512345678", wechat_id="has space"), "wechat_id"),
        (EnrolmentForm(name="Ana", phone="5512345678", whatsapp="123"), "whatsapp"),
        (EnrolmentForm(name="Ana", phone="5512345678", face_image=b"GIF89a"), "face_image"),
        (EnrolmentForm(name="Ana", phone="5512345678", signature="<script>alert(1)</script>"), "signature"),
        (EnrolmentForm(name="Ana", phone="5512345678", signature='M0 0" onload="x'), "signature"),
        (EnrolmentForm(name="Ana", phone="5512345678", signature="M0 0 " + "L1 1 " * 8000), "signature"),
        (EnrolmentForm(name="Ana", phone="5512345678", fingerprint_template=TEMPLATE), "fingerprint_consent"),
        (EnrolmentForm(name="Ana"), "phone"),
        (EnrolmentForm(name="Ana", sticker="MO1:481000000420"), "sticker"),
    ],
)
def test_bad_form_input_names_the_field_and_writes_nothing(
    store: Store, book: CustomerBook, form: EnrolmentForm, field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        book.enrol(form)
    assert err.value.field == field
    assert _count(store, "customer") == _count(store, "biometric") == store.outbox_depth() == 0


def test_a_national_number_needs_a_country_when_the_store_has_none(store: Store, book: CustomerBook) -> None:
    _configure(store, {**SETTINGS, "store": {"store_id": "tienda-7", "timezone": "Etc/UTC"}})
    with pytest.raises(InvalidInput, match="country code"):
        book.enrol(EnrolmentForm(name="Ana", phone="55 1234 5678"))
    assert book.enrol(EnrolmentForm(name="Ana", phone="+52 55 1234 5678")).customer.phone_e164 == "+525512345678"


def test_the_phone_region_comes_from_the_country_or_the_time_zone() -> None:
    assert region_for({"timezone": "America/Mexico_City"}) == "MX"
    assert region_for({"timezone": "Asia/Shanghai"}) == "CN"
    assert region_for({"timezone": "America/Mexico_City", "country": "us"}) == "US"
    assert region_for({"timezone": "Nowhere/Special"}) is None


def test_fingerprint_consent_is_recorded_with_its_time_and_the_template_sealed(
    store: Store, book: CustomerBook
) -> None:
    form = EnrolmentForm(
        name="Huella",
        phone="5512345678",
        fingerprint_template=TEMPLATE,
        fingerprint_consent=True,
        marketing_consent=False,
        face_image=JPEG,
        signature="M 10 10 L 20 20\nC 1,2 3,4 5,6 z",
    )
    c = book.enrol(form).customer
    assert c.fingerprint_consent is True and c.fingerprint_consent_at == NOW
    assert c.marketing_consent is False and c.marketing_consent_at == NOW
    assert c.has_fingerprint and c.has_face and c.has_signature
    sealed, face, svg = store.conn.execute(
        "SELECT fingerprint_sealed, face_sealed, signature_svg FROM biometric WHERE loyalty_id = ?", (c.loyalty_id,)
    ).fetchone()
    assert TEMPLATE[3:40] not in sealed and JPEG not in face
    assert book.fingerprint_template(c.loyalty_id) == TEMPLATE and book.face_image(c.loyalty_id) == JPEG
    assert 'd="M 10 10 L 20 20 C 1,2 3,4 5,6 z"' in svg and "script" not in svg
    [event] = _events(store)
    assert isinstance(event, wire.EnrolmentData)
    assert event.fields.fingerprint_consent == wire.Consent(granted=True, at=NOW)
    assert event.has_face and event.has_signature
    assert event.fingerprint_template is not None
    tenant = Sealer(TENANT_KEY, "transport")
    assert tenant.open_text(event.fingerprint_template, loyalty_id=c.loyalty_id, kind="fingerprint") == TEMPLATE


def test_without_a_tenant_key_the_template_stays_on_the_box(store: Store) -> None:
    book = CustomerBook(store, box_key=BOX_KEY, clock=lambda: NOW)
    c = book.enrol(
        EnrolmentForm(name="Local", phone="5512345678", fingerprint_template=TEMPLATE, fingerprint_consent=True)
    ).customer
    [event] = _events(store)
    assert isinstance(event, wire.EnrolmentData) and event.fingerprint_template is None
    assert event.fields.fingerprint_consent is not None and book.fingerprint_template(c.loyalty_id) == TEMPLATE


def test_enrolment_at_checkout_rolls_back_with_the_sale(store: Store, book: CustomerBook) -> None:
    def sale_that_fails() -> None:
        with store.transaction() as tx:
            book.enrol(EnrolmentForm(name="Ana", phone="5512345678"), tx=tx)
            raise RuntimeError("payment declined")

    with pytest.raises(RuntimeError):
        sale_that_fails()
    assert _count(store, "customer") == 0 and store.outbox_depth() == 0


def test_the_box_key_file_is_created_beside_the_database(store: Store) -> None:
    CustomerBook(store)
    assert (store.path.parent / "biometric.key").stat().st_size == 32


# -- lookup ---------------------------------------------------------------------------------------------------


def test_find_reads_phones_in_any_format_stickers_and_typed_ids(book: CustomerBook) -> None:
    c = book.enrol(EnrolmentForm(name="Ana", phone="5512345678")).customer
    lid = identity.parse(c.loyalty_id)
    for text in ("55 1234 5678", "+52 55 1234 5678", "(55) 1234-5678", lid.printed, lid.digits, lid.sticker):
        assert book.find(text) == c, text
    assert book.find("55 8765 4321") is None
    assert book.find(identity.sticker_payload(999, 1)) is None  # another network's sticker
    assert book.find("") is None and book.find("hola") is None
    with pytest.raises(InvalidInput, match="text"):
        book.find("9" * 65)


# -- updates --------------------------------------------------------------------------------------------------


def test_an_update_emits_only_the_fields_that_changed(store: Store, book: CustomerBook) -> None:
    c = book.enrol(EnrolmentForm(name="Ana", phone="5512345678", gender="female")).customer
    updated = book.update(c.loyalty_id, CustomerChanges(name="Ana", gender="female", wechat_id="ana_88"))
    assert updated.wechat_id == "ana_88"
    event = _events(store)[-1]
    assert isinstance(event, wire.CustomerUpdateData)
    assert event.fields.model_dump(exclude_none=True) == {"wechat_id": "ana_88"}
    book.update(c.loyalty_id, CustomerChanges(name="Ana"))
    assert store.outbox_depth() == 2  # nothing changed: no event


def test_an_update_to_another_customers_phone_is_refused(store: Store, book: CustomerBook) -> None:
    book.enrol(EnrolmentForm(name="Ana", phone="5512345678"))
    beto = book.enrol(EnrolmentForm(name="Beto", phone="5587654321")).customer
    with pytest.raises(InvalidInput) as err:
        book.update(beto.loyalty_id, CustomerChanges(phone="55 1234 5678", name="Roberto"))
    assert err.value.field == "phone"
    assert book.get(beto.loyalty_id) == beto and store.outbox_depth() == 2


def test_an_update_of_an_unknown_customer_is_refused(book: CustomerBook) -> None:
    with pytest.raises(UnknownCustomer):
        book.update(identity.make(PREFIX, 5), CustomerChanges(name="X"))


def test_a_template_added_later_needs_the_consent_in_the_same_update_or_before(book: CustomerBook) -> None:
    c = book.enrol(EnrolmentForm(name="Ana", phone="5512345678")).customer
    with pytest.raises(InvalidInput) as err:
        book.update(c.loyalty_id, CustomerChanges(fingerprint_template=TEMPLATE))
    assert err.value.field == "fingerprint_consent"
    after = book.update(c.loyalty_id, CustomerChanges(fingerprint_template=TEMPLATE, fingerprint_consent=True))
    assert after.has_fingerprint and after.fingerprint_consent_at == NOW


def test_withdrawing_fingerprint_consent_erases_the_template_everywhere(store: Store, book: CustomerBook) -> None:
    erased: list[tuple[str, int]] = []
    book.on_fingerprint_erased(lambda lid, slot: erased.append((lid, slot)))
    c = book.enrol(
        EnrolmentForm(name="Ana", phone="5512345678", fingerprint_template=TEMPLATE, fingerprint_consent=True)
    ).customer
    with store.transaction() as tx:
        tx.conn.execute("UPDATE biometric SET sensor_slot = 3 WHERE loyalty_id = ?", (c.loyalty_id,))
    after = book.update(c.loyalty_id, CustomerChanges(fingerprint_consent=False))
    assert after.fingerprint_consent is False and not after.has_fingerprint
    assert book.fingerprint_template(c.loyalty_id) is None
    assert store.conn.execute("SELECT sensor_slot FROM biometric").fetchone() == (None,)
    assert erased == [(c.loyalty_id, 3)]
    event = _events(store)[-1]
    assert isinstance(event, wire.CustomerUpdateData)
    assert event.erase_fingerprint and event.fields.fingerprint_consent == wire.Consent(granted=False, at=NOW)
    assert event.fingerprint_template is None


def test_a_customer_erased_by_the_hub_leaves_no_row_and_no_template(store: Store, book: CustomerBook) -> None:
    erased: list[tuple[str, int]] = []
    book.on_fingerprint_erased(lambda lid, slot: erased.append((lid, slot)))
    c = book.enrol(
        EnrolmentForm(name="Ana", phone="5512345678", fingerprint_template=TEMPLATE, fingerprint_consent=True)
    ).customer
    with store.transaction() as tx:
        tx.conn.execute("UPDATE biometric SET sensor_slot = 0")
        assert book.erase(tx, c.loyalty_id)
    assert _count(store, "customer") == _count(store, "biometric") == 0
    assert erased == [(c.loyalty_id, 0)] and book.find("5512345678") is None


def test_a_template_from_the_hub_is_kept_sealed_with_the_box_key(store: Store, book: CustomerBook) -> None:
    c = book.enrol(EnrolmentForm(name="Ana", phone="5512345678", fingerprint_consent=True)).customer
    text = Sealer(TENANT_KEY, "transport").seal_text(TEMPLATE, loyalty_id=c.loyalty_id, kind="fingerprint")
    with store.transaction() as tx:
        book.keep_hub_template(tx, c.loyalty_id, text)
    assert book.fingerprint_template(c.loyalty_id) == TEMPLATE


# -- points ---------------------------------------------------------------------------------------------------


def _movement(store: Store, customer: str, *, redeemed: int, earned: int) -> int:
    """A sale (or, with negative figures, a refund) of this box moving ``customer``'s points; its seq."""
    with store.transaction() as tx:
        data = wire.SaleData(
            sale_id=str(store.new_event_id()),
            store="tienda-7",
            currency="MXN",
            lines=[wire.SaleLine(sku="a", qty=1, unit_price_minor=1000, amount_minor=1000)],
            total_minor=1000,
            customer=customer,
        )
        _, seq = tx.emit(data)
        record_points(tx, customer, seq, redeemed=redeemed, earned=earned)
    return seq


def test_pending_points_count_the_movements_above_the_watermark_acked_or_not(store: Store, book: CustomerBook) -> None:
    c = book.enrol(EnrolmentForm(name="Ana", phone="5512345678")).customer
    included = _movement(store, c.loyalty_id, redeemed=0, earned=40)
    later = [
        _movement(store, c.loyalty_id, redeemed=100, earned=10),
        _movement(store, c.loyalty_id, redeemed=0, earned=5),
    ]
    _movement(store, identity.make(PREFIX, 9), redeemed=999, earned=999)
    with store.transaction() as tx:
        # The hub's snapshot includes the first sale; the box has since heard the hub ack every event.
        tx.conn.execute(
            "UPDATE customer SET balance_points = 540, balance_seq = ? WHERE loyalty_id = ?", (included, c.loyalty_id)
        )
    store.settle(
        [wire.AckResult(id=row.event_id, seq=row.seq, status="committed") for row in store.outbox_after(0, 10)]
    )
    assert store.outbox_depth() == 0
    assert pending_points(store.conn, c.loyalty_id) == (100, 15) and later[0] > included
    fresh = book.get(c.loyalty_id)
    assert fresh is not None
    assert book.balance(fresh) == 540 - 100 + 15
    priced = book.pricing_customer(fresh)
    assert priced.points_balance == 455 and priced.customer_id == c.loyalty_id


def test_a_refund_gives_back_redeemed_points_and_takes_back_earned_ones(store: Store, book: CustomerBook) -> None:
    c = book.enrol(EnrolmentForm(name="Ana", phone="5512345678")).customer
    _movement(store, c.loyalty_id, redeemed=-300, earned=-20)
    assert book.pending_points(store.conn, c.loyalty_id) == (-300, -20)


def test_a_full_journal_refuses_spending_and_leaves_out_points_given_back(store: Store, book: CustomerBook) -> None:
    c = book.enrol(EnrolmentForm(name="Ana", phone="5512345678")).customer
    with store.transaction() as tx:
        tx.conn.executemany(
            "INSERT INTO points_journal (seq, loyalty_id, redeemed, earned, created_at) VALUES (?, ?, 0, 1, ?)",
            [(1_000_000 + n, c.loyalty_id, NOW.isoformat()) for n in range(MAX_JOURNAL_ROWS_PER_CUSTOMER)],
        )
    depth = store.outbox_depth()
    with pytest.raises(PointsJournalFull, match="customers snapshot"):
        _movement(store, c.loyalty_id, redeemed=10, earned=0)
    assert store.outbox_depth() == depth, "the refused sale left no event"
    _movement(store, c.loyalty_id, redeemed=0, earned=7)
    assert pending_points(store.conn, c.loyalty_id) == (0, MAX_JOURNAL_ROWS_PER_CUSTOMER)


def test_a_template_kept_as_the_hub_sealed_it_opens_with_the_tenant_key(store: Store, book: CustomerBook) -> None:
    c = book.enrol(EnrolmentForm(name="Ana", phone="5512345678", fingerprint_consent=True)).customer
    hub_sealed = Sealer(TENANT_KEY, "transport").seal(TEMPLATE, loyalty_id=c.loyalty_id, kind="fingerprint")
    with store.transaction() as tx:
        tx.conn.execute(
            "INSERT INTO biometric (loyalty_id, fingerprint_sealed) VALUES (?, ?)", (c.loyalty_id, hub_sealed)
        )
    assert book.fingerprint_template(c.loyalty_id) == TEMPLATE
    other_box = CustomerBook(store, box_key=b"\x33" * 32, clock=lambda: NOW)
    with pytest.raises(WrongKey):
        other_box.fingerprint_template(c.loyalty_id)


def test_enrolment_sends_the_postal_code_and_occupation_to_the_hub(store: Store, book: CustomerBook) -> None:
    book.enrol(EnrolmentForm(name="Rosa Díaz", phone="55 7654 3210", postal_code=" 06700 ", occupation="  maestra "))
    [event] = _events(store)
    assert isinstance(event, wire.EnrolmentData)
    assert (event.fields.postal_code, event.fields.occupation) == ("06700", "maestra")
    with pytest.raises(InvalidInput) as err:
        book.enrol(EnrolmentForm(name="Beto", phone="55 7654 3211", postal_code="0"))
    assert err.value.field == "postal_code" and store.outbox_depth() == 1
