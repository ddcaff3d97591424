"""The sale, customer, receipt, stock and manager pages through the app, with field-level refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edge_agent.web import WebAppSettings, create_app
from tests.edge_agent.web.conftest import CHEAP_HASHER, Box, build_services, sign_in

GALLETAS = "7501234000291"
LECHE = "7501234000109"


def _value(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', html)
    assert found, f"no #{element_id} on the page"
    return found.group(1)


def _ring(client: TestClient, csrf: str, *codes: str) -> None:
    for code in codes:
        assert client.post("/sale/scan", data={"csrf": csrf, "code": code}).status_code == 303


def _enrol(client: TestClient, csrf: str, box: Box, balance: int = 0) -> str:
    response = client.post(
        "/customers/new",
        data={"csrf": csrf, "name": "María Gómez", "phone": "55 1234 5678", "signature": "M1 1 L5 5"},
    )
    assert response.status_code == 303, response.text
    loyalty_id = str(response.headers["location"]).rsplit("/", 1)[1]
    if balance:
        import sqlite3

        conn = sqlite3.connect(box.db_path)
        with conn:
            conn.execute("UPDATE customer SET balance_points = ? WHERE loyalty_id = ?", (balance, loyalty_id))
        conn.close()
    return loyalty_id


def _complete_cash(client: TestClient, csrf: str, amount: str) -> str:
    assert client.post("/sale/tender", data={"csrf": csrf, "kind": "cash", "amount": amount}).status_code == 303
    response = client.post("/sale/complete", data={"csrf": csrf})
    assert response.status_code == 303, response.text
    return str(response.headers["location"]).rsplit("/", 1)[1]


# -- sale ----------------------------------------------------------------------------------------------------


def test_scanning_the_same_item_twice_applies_the_two_for_one_and_explains_it(client: TestClient, cashier: str) -> None:
    _ring(client, cashier, GALLETAS, GALLETAS)
    page = client.get("/sale").text
    assert _value(page, "total") == "$16.00"
    assert _value(page, "total-discount") == "\N{MINUS SIGN}$16.00"
    assert "Galletas 2x1" in page


def test_an_unknown_barcode_is_refused_by_the_field_and_a_manager_is_offered_to_add_it(
    client: TestClient, manager: str
) -> None:
    response = client.post("/sale/scan", data={"csrf": manager, "code": "7501234999991"})
    assert response.status_code == 422
    assert 'id="code-error"' in response.text
    assert "/items/new?barcode=7501234999991" in response.text


def test_typing_a_name_searches_and_a_result_can_be_added(client: TestClient, cashier: str) -> None:
    response = client.post("/sale/scan", data={"csrf": cashier, "code": "arroz"})
    assert response.status_code == 200
    assert 'id="search-results"' in response.text and "Arroz 1 kg" in response.text
    assert client.post("/sale/add", data={"csrf": cashier, "sku": "ARROZ-1KG"}).status_code == 303
    assert 'data-sku="ARROZ-1KG"' in client.get("/sale").text


def test_quantity_buttons_change_the_line_and_zero_voids_it(client: TestClient, cashier: str) -> None:
    _ring(client, cashier, LECHE)
    assert client.post("/sale/lines/L1/qty", data={"csrf": cashier, "qty": "3"}).status_code == 303
    assert '<span class="qty-value">3</span>' in client.get("/sale").text
    assert client.post("/sale/lines/L1/qty", data={"csrf": cashier, "qty": "0"}).status_code == 303
    assert 'id="empty-sale"' in client.get("/sale").text


def test_a_bad_quantity_is_refused_by_its_field(client: TestClient, cashier: str) -> None:
    _ring(client, cashier, LECHE)
    response = client.post("/sale/lines/L1/qty", data={"csrf": cashier, "qty": "dos"})
    assert response.status_code == 422
    assert 'id="qty-error"' in response.text


def test_void_removes_the_line(client: TestClient, cashier: str) -> None:
    _ring(client, cashier, LECHE)
    assert client.post("/sale/lines/L1/void", data={"csrf": cashier}).status_code == 303
    assert 'id="empty-sale"' in client.get("/sale").text


def test_cash_over_the_total_shows_the_change_and_completes_into_a_receipt(
    client: TestClient, cashier: str, box: Box
) -> None:
    _ring(client, cashier, LECHE)
    assert client.post("/sale/tender", data={"csrf": cashier, "kind": "cash", "amount": "50"}).status_code == 303
    page = client.get("/sale").text
    assert _value(page, "change") == "$23.90"
    response = client.post("/sale/complete", data={"csrf": cashier})
    receipt = client.get(response.headers["location"]).text
    assert _value(receipt, "receipt-total") == "$26.10"
    assert _value(receipt, "receipt-change") == "$23.90"
    assert box.query("SELECT count(*), sum(total_minor) FROM sale") == [(1, 2610)]
    printed = box.app.state.web.gate.call(lambda s: s.checkout.printer.output)
    assert b"$26.10" in printed


def test_a_card_needs_its_approval_code_and_never_more_than_is_due(client: TestClient, cashier: str) -> None:
    _ring(client, cashier, LECHE)
    missing = client.post("/sale/tender", data={"csrf": cashier, "kind": "card", "amount": "26.10"})
    assert missing.status_code == 422 and 'id="approval_code-error"' in missing.text
    over = client.post(
        "/sale/tender", data={"csrf": cashier, "kind": "card", "amount": "30", "approval_code": "A1B2C3"}
    )
    assert over.status_code == 422
    assert 'id="tenders"' not in client.get("/sale").text
    card = client.post(
        "/sale/tender", data={"csrf": cashier, "kind": "card", "amount": "26.10", "approval_code": "A1B2C3"}
    )
    assert card.status_code == 303
    assert 'id="complete"' in client.get("/sale").text


def test_a_malformed_amount_is_refused_by_its_field(client: TestClient, cashier: str) -> None:
    _ring(client, cashier, LECHE)
    response = client.post("/sale/tender", data={"csrf": cashier, "kind": "cash", "amount": "12.345"})
    assert response.status_code == 422
    assert 'id="amount-error"' in response.text


def test_completing_an_unpaid_sale_writes_nothing(client: TestClient, cashier: str, box: Box) -> None:
    _ring(client, cashier, LECHE)
    response = client.post("/sale/complete", data={"csrf": cashier})
    assert response.status_code == 422
    assert box.query("SELECT count(*) FROM sale") == [(0,)]
    assert box.query("SELECT count(*) FROM outbox") == [(0,)]


def test_a_member_pays_with_points_and_the_event_carries_both_tenders(
    client: TestClient, cashier: str, box: Box
) -> None:
    loyalty_id = _enrol(client, cashier, box, balance=300)
    _ring(client, cashier, LECHE)
    assert client.post("/sale/customer", data={"csrf": cashier, "customer": loyalty_id}).status_code == 303
    assert client.post("/sale/points", data={"csrf": cashier, "points": "100"}).status_code == 303
    _complete_cash(client, cashier, "20")
    (payload,) = box.query("SELECT payload FROM outbox WHERE type = 'sale'")[0]
    assert isinstance(payload, bytes)
    data = json.loads(payload)["data"]
    assert {t["kind"] for t in data["tenders"]} == {"points", "cash"}
    assert data["customer"] == loyalty_id


def test_more_points_than_the_member_may_spend_are_refused_and_the_sale_keeps_none(
    client: TestClient, cashier: str, box: Box
) -> None:
    loyalty_id = _enrol(client, cashier, box, balance=10)
    _ring(client, cashier, LECHE)
    client.post("/sale/customer", data={"csrf": cashier, "customer": loyalty_id})
    response = client.post("/sale/points", data={"csrf": cashier, "points": "5000"})
    assert response.status_code == 422
    assert 'id="points-error"' in response.text
    assert 'id="total-points"' not in client.get("/sale").text


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("es", "No alcanzan los puntos: el cliente tiene 0 puntos disponibles."),
        ("en", "Not enough points: the customer has 0 points available."),
        ("zh", "积分不足：该顾客可用积分为 0。"),  # noqa: RUF001 (Chinese punctuation)
    ],
)
def test_a_new_customer_with_no_points_is_refused_points_offline_with_the_points_available(
    client: TestClient, cashier: str, box: Box, language: str, message: str
) -> None:
    # This box has no hub (offline) and the store's offline allowance is 200 points: none of them spendable.
    loyalty_id = _enrol(client, cashier, box)
    assert client.post("/language", data={"csrf": cashier, "language": language, "next": "/sale"}).status_code == 303
    _ring(client, cashier, LECHE)
    client.post("/sale/customer", data={"csrf": cashier, "customer": loyalty_id})
    response = client.post("/sale/points", data={"csrf": cashier, "points": "50"})
    assert response.status_code == 422
    assert message in response.text
    assert 'id="total-points"' not in client.get("/sale").text


def test_an_unknown_customer_is_refused_by_the_field(client: TestClient, cashier: str) -> None:
    response = client.post("/sale/customer", data={"csrf": cashier, "customer": "55 9999 0000"})
    assert response.status_code == 422
    assert 'id="customer-error"' in response.text


def test_cancel_drops_the_sale(client: TestClient, cashier: str, box: Box) -> None:
    _ring(client, cashier, LECHE)
    assert client.post("/sale/cancel", data={"csrf": cashier}).status_code == 303
    assert 'id="empty-sale"' in client.get("/sale").text
    assert box.query("SELECT count(*) FROM sale") == [(0,)]


# -- customers -----------------------------------------------------------------------------------------------


def test_enrolment_keeps_both_consents_apart_and_the_signature(client: TestClient, cashier: str, box: Box) -> None:
    response = client.post(
        "/customers/new",
        data={
            "csrf": cashier,
            "name": "Wei Zhang",
            "phone": "55 2222 3333",
            "gender": "male",
            "birth_date": "1990-05-01",
            "wechat_id": "wei_zhang",
            "whatsapp": "55 2222 3333",
            "fingerprint_consent": "on",
            "signature": "M1 1 L9 9 L12 4",
        },
    )
    assert response.status_code == 303
    rows = box.query(
        "SELECT c.marketing_consent, c.fingerprint_consent, c.wechat_id, b.signature_svg "
        "FROM customer c JOIN biometric b USING (loyalty_id)"
    )
    assert rows[0][:3] == (0, 1, "wei_zhang")
    assert "M1 1 L9 9 L12 4" in str(rows[0][3])
    assert box.query("SELECT count(*) FROM outbox WHERE type = 'enrolment'") == [(1,)]


def test_enrolment_refusals_are_shown_by_their_fields_and_nothing_is_written(
    client: TestClient, cashier: str, box: Box
) -> None:
    response = client.post(
        "/customers/new",
        data={"csrf": cashier, "name": "", "phone": "55 1234 5678", "birth_date": "2999-01-01", "gender": "x"},
    )
    assert response.status_code == 422
    for name in ("name", "birth_date", "gender"):
        assert f'id="{name}-error"' in response.text
    bad_phone = client.post("/customers/new", data={"csrf": cashier, "name": "Ana", "phone": "12"})
    assert bad_phone.status_code == 422 and 'id="phone-error"' in bad_phone.text
    assert box.query("SELECT count(*) FROM customer") == [(0,)]


def test_a_box_without_a_number_range_refuses_enrolment_with_a_clear_message(tmp_path: Path) -> None:
    # Its device id ends in no box number and the hub has not assigned it a loyalty range yet.
    db_path = tmp_path / "unnumbered.sqlite3"
    app = create_app(lambda: build_services(db_path, device="caja-norte"), WebAppSettings(pin_hasher=CHEAP_HASHER))
    with TestClient(app, follow_redirects=False) as client:
        csrf = sign_in(client)
        response = client.post("/customers/new", data={"csrf": csrf, "name": "Ana Ruiz", "phone": "55 2222 3333"})
    assert response.status_code == 422
    assert 'id="form-error"' in response.text and "rango de números de lealtad" in response.text
    assert 'value="Ana Ruiz"' in response.text  # what the cashier typed is kept
    box = Box(app, db_path)
    assert box.query("SELECT count(*) FROM customer") == [(0,)]
    assert box.query("SELECT count(*) FROM outbox WHERE type = 'enrolment'") == [(0,)]


def test_lookup_finds_a_customer_by_phone_and_offers_enrolment_otherwise(
    client: TestClient, cashier: str, box: Box
) -> None:
    loyalty_id = _enrol(client, cashier, box)
    found = client.get("/customers", params={"q": "+52 55 1234 5678"})
    assert loyalty_id in found.text
    missing = client.get("/customers", params={"q": "55 0000 1111"})
    assert 'id="not-found"' in missing.text
    assert client.get(f"/customers/{loyalty_id}").status_code == 200
    assert client.get("/customers/000000000000").status_code == 404


def test_enrolling_from_the_sale_puts_the_customer_on_it(client: TestClient, cashier: str) -> None:
    response = client.post(
        "/customers/new", data={"csrf": cashier, "name": "Luz", "phone": "55 4444 5555", "for_sale": "1"}
    )
    assert response.headers["location"] == "/sale"
    assert 'id="sale-customer"' in client.get("/sale").text


# -- receipts ------------------------------------------------------------------------------------------------


def test_receipts_list_reprint_and_partial_then_full_refund(client: TestClient, cashier: str, box: Box) -> None:
    _ring(client, cashier, LECHE, LECHE)
    sale_id = _complete_cash(client, cashier, "60")
    assert sale_id in client.get("/receipts").text
    printer = box.app.state.web.gate
    before = len(printer.call(lambda s: s.checkout.printer.output))
    assert client.post(f"/receipts/{sale_id}/reprint", data={"csrf": cashier}).status_code == 303
    assert len(printer.call(lambda s: s.checkout.printer.output)) > before
    assert client.get(f"/receipts/{sale_id}/refund").status_code == 200
    too_many = client.post(f"/receipts/{sale_id}/refund", data={"csrf": cashier, "qty_1": "3", "reason": "x"})
    assert too_many.status_code == 422 and 'id="qty_1-error"' in too_many.text
    no_reason = client.post(f"/receipts/{sale_id}/refund", data={"csrf": cashier, "qty_1": "1"})
    assert no_reason.status_code == 422 and 'id="reason-error"' in no_reason.text
    assert box.query("SELECT count(*) FROM refund") == [(0,)]
    one = client.post(f"/receipts/{sale_id}/refund", data={"csrf": cashier, "qty_1": "1", "reason": "caducada"})
    assert one.status_code == 303
    rest = client.post(f"/receipts/{sale_id}/refund", data={"csrf": cashier, "all": "1", "reason": "caducada"})
    assert rest.status_code == 303
    assert box.query("SELECT refunded_minor, total_minor FROM sale") == [(5220, 5220)]
    assert box.query("SELECT on_hand FROM stock WHERE sku = 'LECHE-ENTERA-1L'") == [(8,)]


def test_an_unknown_receipt_is_not_found(client: TestClient, cashier: str) -> None:
    assert client.get("/receipts/nope").status_code == 404


# -- stock ---------------------------------------------------------------------------------------------------


def test_stock_list_shows_alerts_and_a_count_sets_the_figure(client: TestClient, cashier: str, box: Box) -> None:
    page = client.get("/stock").text
    assert 'data-sku="JABON-BARRA-150"' in page
    response = client.post("/stock/adjust", data={"csrf": cashier, "sku": "ARROZ-1KG", "kind": "count", "qty": "9"})
    assert response.status_code == 303
    assert box.query("SELECT on_hand FROM stock WHERE sku = 'ARROZ-1KG'") == [(9,)]
    received = client.post(
        "/stock/adjust", data={"csrf": cashier, "sku": "ARROZ-1KG", "kind": "received", "qty": "3", "note": "x"}
    )
    assert received.status_code == 303
    assert box.query("SELECT on_hand FROM stock WHERE sku = 'ARROZ-1KG'") == [(12,)]
    assert box.query("SELECT count(*) FROM outbox WHERE type = 'stock_adjustment'") == [(2,)]


def test_a_bad_adjustment_is_refused_by_its_field(client: TestClient, cashier: str, box: Box) -> None:
    bad_qty = client.post("/stock/adjust", data={"csrf": cashier, "sku": "ARROZ-1KG", "kind": "lost", "qty": "-2"})
    assert bad_qty.status_code == 422 and 'id="qty-error"' in bad_qty.text
    bad_sku = client.post("/stock/adjust", data={"csrf": cashier, "sku": "NOPE", "kind": "count", "qty": "2"})
    assert bad_sku.status_code == 422 and 'id="sku-error"' in bad_sku.text
    assert box.query("SELECT count(*) FROM outbox") == [(0,)]


def test_reorder_suggestions_can_be_sent_as_a_request(client: TestClient, cashier: str, box: Box) -> None:
    page = client.get("/stock/reorder").text
    assert 'data-sku="ARROZ-1KG"' in page
    response = client.post("/stock/reorder", data={"csrf": cashier, "pick_ARROZ-1KG": "on", "qty_ARROZ-1KG": "9"})
    assert response.status_code == 303
    assert box.query("SELECT count(*) FROM outbox WHERE type = 'reorder_request'") == [(1,)]
    nothing = client.post("/stock/reorder", data={"csrf": cashier})
    assert nothing.status_code == 422


def test_reports_rank_what_sold(client: TestClient, cashier: str) -> None:
    _ring(client, cashier, LECHE)
    _complete_cash(client, cashier, "30")
    page = client.get("/reports", params={"days": "7"}).text
    assert 'id="best-sellers"' in page and 'data-sku="LECHE-ENTERA-1L"' in page
    assert 'id="best-margins"' in page


# -- manager pages -------------------------------------------------------------------------------------------


def test_a_cashier_cannot_open_manager_pages(client: TestClient, cashier: str) -> None:
    assert client.get("/items/new").status_code == 403
    assert client.get("/cashiers").status_code == 403
    assert client.post("/cashiers", data={"csrf": cashier}).status_code == 403


def test_a_manager_adds_an_item_that_then_scans(client: TestClient, manager: str, box: Box) -> None:
    form = {"csrf": manager, "barcode": "7501234999991", "name": "Mole 250 g", "price": "45.50"}
    bad = client.post("/items/new", data={**form, "price": "cuarenta", "category": "abarrotes"})
    assert bad.status_code == 422 and 'id="price-error"' in bad.text
    good = client.post("/items/new", data={**form, "category": "abarrotes", "tax_category": "alimentos"})
    assert good.status_code == 303, good.text
    assert box.query("SELECT unit_price_minor, origin FROM item WHERE name = 'Mole 250 g'") == [(4550, "local")]
    _ring(client, manager, "7501234999991")


def test_a_manager_adds_a_cashier_who_can_sign_in(client: TestClient, manager: str) -> None:
    form = {"csrf": manager, "cashier_id": "bea", "name": "Bea", "pin": "2468", "role": "cashier"}
    mismatch = client.post("/cashiers", data={**form, "pin_again": "2469"})
    assert mismatch.status_code == 422 and 'id="pin_again-error"' in mismatch.text
    assert client.post("/cashiers", data={**form, "pin_again": "2468"}).status_code == 303
    client.cookies.clear()
    sign_in(client, "bea", "2468")
