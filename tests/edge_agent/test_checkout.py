"""The checkout end to end on a real box database: ring up, price, tender, commit, print, refund."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from core import wire
from core.errors import InvalidInput
from core.points import PointsOverBalance
from core.pricing import MAX_BASKET_LINES
from core.tenders import CardNumberRefused, WalletOffline
from edge_agent import checkout as checkout_module
from edge_agent import stock
from edge_agent.catalogue import UnknownBarcode
from edge_agent.checkout import MAX_SALE_TENDERS, Checkout, PaymentDeclined, SaleClosed
from edge_agent.customers import CachedCustomer, EnrolmentForm
from edge_agent.payments import PaymentTimeout, SimulatedAcquirer
from edge_agent.receipts import paid_screen
from edge_agent.store import Store, Transaction
from edge_agent.web.auth import Cashier, SessionRegistry, create_cashier
from hardware.display import SimulatedDisplay
from hardware.printer import SimulatedPrinter
from tests.edge_agent.conftest import MEMBER_BALANCE, MEMBER_ID, Network, add_member
from tests.edge_agent.web.conftest import CHEAP_HASHER

COLA = "7501234000017"  # REF-COLA-600, 18.00, refrescos (double points for members)
MARIAS = "7501234000291"  # GALLETA-MARIAS-170, 16.00, galletas 2x1
LECHE = "7501234000109"  # LECHE-ENTERA-1L, 29.00, lacteos 10 % off
WECHAT_OK = "134567890123456789"
WECHAT_EXPIRED = "134567890123450000"
WECHAT_SLOW = "134567890123450408"
VISA_TEST_PAN = "4111 1111 1111 1111"


def _on_hand(box: Store, sku: str) -> int:
    return int(box.conn.execute("SELECT on_hand FROM stock WHERE sku = ?", (sku,)).fetchone()[0])


def _outbox(box: Store) -> list[tuple[str, dict[str, object]]]:
    rows = box.conn.execute("SELECT type, payload FROM outbox ORDER BY seq").fetchall()
    return [(t, json.loads(bytes(p))["data"]) for t, p in rows]


def _counts(box: Store) -> tuple[int, ...]:
    return tuple(
        int(box.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        for table in ("sale", "sale_line", "stock_movement", "outbox", "refund")
    )


def test_defaults_barcodes_used_here_are_what_the_tests_assume(checkout: Checkout) -> None:
    assert checkout.catalogue.by_barcode(COLA).sku == "REF-COLA-600"
    assert checkout.catalogue.by_barcode(MARIAS).sku == "GALLETA-MARIAS-170"
    assert checkout.catalogue.by_barcode(LECHE).sku == "LECHE-ENTERA-1L"


def test_a_cash_sale_commits_rows_stock_and_one_event_then_prints(
    checkout: Checkout, box: Store, printer: SimulatedPrinter, display: SimulatedDisplay
) -> None:
    before = _on_hand(box, "REF-COLA-600")
    sale = checkout.start(cashier="ana")
    sale.add_barcode(COLA)
    sale.add_barcode(COLA + "\r\n")
    assert len(sale.lines) == 1 and sale.lines[0].qty == 2
    sale.add_cash(5000)
    done = sale.complete()
    assert done.printed and done.settlement.change_minor == 1400
    assert _on_hand(box, "REF-COLA-600") == before - 2
    row = box.conn.execute(
        "SELECT total_minor, cashier, customer, tax_added_minor, detail FROM sale WHERE sale_id = ?", (done.sale_id,)
    ).fetchone()
    assert row[:4] == (3600, "ana", None, 0)
    line = box.conn.execute("SELECT sku, qty, category, cost_minor FROM sale_line").fetchone()
    assert line == ("REF-COLA-600", 2, "refrescos", 1350)
    events = _outbox(box)
    assert [t for t, _ in events] == ["sale"]
    data = wire.SaleData.model_validate(events[0][1])
    assert data.tenders == [wire.TenderRecord(kind="cash", amount_minor=3600)]
    assert data.promotion_set_version == 0 and data.offline is False
    assert data.tax_included_minor > 0
    assert b"TOTAL" in printer.output and b"$36.00" in printer.output
    assert display.frames, "the customer saw the paid screen"
    with pytest.raises(SaleClosed):
        sale.add_barcode(COLA)


def test_an_unknown_barcode_asks_to_add_the_item_and_then_sells_it(checkout: Checkout) -> None:
    sale = checkout.start()
    with pytest.raises(UnknownBarcode) as caught:
        sale.add_barcode("7501234999991")
    item = checkout.catalogue.add_local_item(
        name="Tamal verde",
        unit_price_minor=2200,
        category="comida",
        tax_category="alimentos",
        barcode=caught.value.barcode,
    )
    sale.add_barcode(caught.value.barcode)
    sale.add_cash(2200)
    done = sale.complete()
    assert done.priced.lines[0].item_id == item.sku


def test_a_promotion_is_applied_and_explained(checkout: Checkout) -> None:
    sale = checkout.start()
    sale.add_barcode(MARIAS, qty=2)
    sale.add_barcode(LECHE)
    priced = sale.price()
    applied = {p.promotion_id: p for p in priced.promotions if p.status == "applied"}
    assert applied["galletas-2x1"].discount_minor == 1600
    assert applied["lacteos-10"].discount_minor == 290
    assert applied["galletas-2x1"].reason
    assert priced.totals.total_minor == 3200 - 1600 + 2900 - 290
    sale.add_cash(5000)
    done = sale.complete()
    event = wire.SaleData.model_validate(_outbox(checkout.store)[0][1])
    assert {p.promotion_id: p.discount_minor for p in event.promotions} == {"galletas-2x1": 1600, "lacteos-10": 290}
    assert done.settlement.change_minor == 5000 - 4210


def test_split_cash_and_points_gives_change_and_the_balance_after(
    checkout: Checkout, member: CachedCustomer, box: Store, printer: SimulatedPrinter
) -> None:
    sale = checkout.start()
    sale.identify("222 123 4567")
    assert sale.customer == member
    sale.add_barcode(COLA, qty=3)
    sale.use_points(200)  # 200 points pay 20.00 MXN
    sale.add_cash(5000)
    done = sale.complete()
    assert done.settlement.points_spent == 200 and done.settlement.points_value_minor == 2000
    assert done.settlement.change_minor == 5000 - (5400 - 2000)
    assert done.customer is not None
    earned = done.customer.points_earned
    assert earned > 0
    assert done.customer.balance_after == MEMBER_BALANCE - 200 + earned
    assert checkout.customers.balance(member) == MEMBER_BALANCE - 200 + earned
    event = wire.SaleData.model_validate(_outbox(box)[0][1])
    assert (event.customer, event.points_redeemed, event.points_earned) == (MEMBER_ID, 200, earned)
    assert [t.kind for t in event.tenders] == ["points", "cash"]
    assert f"{done.customer.balance_after}".encode() in printer.output
    assert b"Puntos (200)" in printer.output


def test_a_card_tender_records_the_approval_code_and_never_a_card_number(checkout: Checkout, box: Store) -> None:
    sale = checkout.start()
    sale.add_barcode(COLA)
    with pytest.raises(CardNumberRefused):
        sale.add_card(1800, VISA_TEST_PAN.replace(" ", ""))
    with pytest.raises(CardNumberRefused):
        sale.add_card(1800, "A1B2C3", terminal_reference="4111-1111-1111-1111")
    sale.add_card(1800, "A1B2C3", terminal_reference="T-0042")
    done = sale.complete()
    event = wire.SaleData.model_validate(_outbox(box)[0][1])
    assert event.tenders == [wire.TenderRecord(kind="card", amount_minor=1800, reference="A1B2C3")]
    dump = box.conn.execute("SELECT detail FROM sale WHERE sale_id = ?", (done.sale_id,)).fetchone()[0]
    assert "4111" not in dump and "4111" not in json.dumps(_outbox(box))
    with pytest.raises(CardNumberRefused):
        checkout.refund(done.sale_id, reason=f"customer card {VISA_TEST_PAN}")


def test_a_wallet_code_is_refused_offline_and_approved_online(
    checkout: Checkout, network: Network, acquirer: SimulatedAcquirer, box: Store
) -> None:
    sale = checkout.start()
    sale.add_barcode(COLA, qty=2)
    network.up = False
    with pytest.raises(WalletOffline):
        sale.add_wallet(WECHAT_OK)
    network.up = True
    sale.add_wallet(WECHAT_OK)
    done = sale.complete()
    event = wire.SaleData.model_validate(_outbox(box)[0][1])
    (tender,) = event.tenders
    assert tender.kind == "wallet" and tender.provider == "wechat_pay" and tender.amount_minor == 3600
    assert tender.reference is not None and tender.reference.startswith("SIM")
    detail = box.conn.execute("SELECT detail FROM sale WHERE sale_id = ?", (done.sale_id,)).fetchone()[0]
    assert WECHAT_OK not in detail, "single-use payment codes are not kept"
    assert acquirer.authorisations == 1


def test_a_declined_wallet_code_drops_the_tender_and_writes_nothing(
    checkout: Checkout, box: Store, display: SimulatedDisplay
) -> None:
    sale = checkout.start()
    sale.add_barcode(COLA)
    sale.add_wallet(WECHAT_EXPIRED)
    with pytest.raises(PaymentDeclined) as caught:
        sale.complete()
    assert caught.value.reason == "code_expired"
    assert sale.tenders == []
    assert _counts(box)[:4] == (0, 0, 42, 0)
    sale.add_cash(2000)
    assert sale.complete().settlement.change_minor == 200


def test_a_wallet_timeout_is_retried_without_charging_twice(
    checkout: Checkout, acquirer: SimulatedAcquirer, box: Store
) -> None:
    sale = checkout.start()
    sale.add_barcode(COLA)
    sale.add_wallet(WECHAT_SLOW)
    with pytest.raises(PaymentTimeout):
        sale.complete()
    done = sale.complete()
    assert acquirer.authorisations == 2
    assert wire.SaleData.model_validate(_outbox(box)[0][1]).tenders[0].kind == "wallet"
    assert done.sale_id


class _CrashingStock:
    """The real stock book, then a crash: the sale's transaction must take the stock rows back with it."""

    def apply_sale(self, tx: Transaction, sale_id: str, lines: Sequence[tuple[str, int]]) -> None:
        stock.apply_sale(tx, sale_id, lines)
        raise RuntimeError("power cut in the middle of the sale")

    def apply_refund(self, tx: Transaction, refund_id: str, lines: Sequence[tuple[str, int]]) -> None:
        stock.apply_refund(tx, refund_id, lines)
        raise RuntimeError("power cut in the middle of the refund")


def test_a_crash_inside_complete_leaves_nothing_half_written(
    checkout: Checkout, box: Store, acquirer: SimulatedAcquirer
) -> None:
    before = (_counts(box), _on_hand(box, "REF-COLA-600"))
    checkout.stock = _CrashingStock()
    sale = checkout.start()
    sale.add_barcode(COLA, qty=5)
    sale.add_wallet(WECHAT_OK, 5000)
    sale.add_cash(4000)
    with pytest.raises(RuntimeError, match="power cut"):
        sale.complete()
    assert (_counts(box), _on_hand(box, "REF-COLA-600")) == before
    transaction = next(iter(acquirer._by_transaction))
    assert acquirer.refunded_minor(transaction) == 5000, "the approved wallet payment was given back"


def test_a_printer_fault_after_commit_keeps_the_sale_and_allows_a_reprint(
    checkout: Checkout, box: Store, printer: SimulatedPrinter
) -> None:
    printer.model.run_out_of_paper()
    sale = checkout.start()
    sale.add_barcode(COLA)
    sale.add_cash(2000)
    done = sale.complete()
    assert not done.printed and done.print_error is not None and "paper" in done.print_error
    assert _counts(box)[0] == 1 and len(_outbox(box)) == 1
    printer.model.load_paper()
    printer.model.clear()
    assert checkout.reprint(done.sale_id) is None
    assert b"$18.00" in printer.output


def test_offline_points_beyond_the_known_balance_are_refused_whatever_the_allowance(
    checkout: Checkout, network: Network, box: Store
) -> None:
    add_member(box, balance_points=50, allowance_points=100)
    network.up = False
    sale = checkout.start()
    sale.identify(MEMBER_ID)
    sale.add_barcode(COLA, qty=3)
    sale.use_points(60)  # 50 in the snapshot; the allowance of 100 is not points to spend
    before = _counts(box)
    with pytest.raises(PointsOverBalance) as caught:
        sale.complete()
    assert caught.value.field == "redeem_points" and caught.value.available_points == 50
    assert "60 points asked, the customer has 50 points available" in caught.value.problem
    assert _counts(box) == before
    sale.use_points(50)
    sale.add_cash(5000)
    done = sale.complete()
    assert done.offline and done.settlement.offline_hold_points == 50
    event = wire.SaleData.model_validate(_outbox(box)[0][1])
    assert event.offline and event.offline_hold_points == 50 and event.points_redeemed == 50
    assert done.customer is not None and done.customer.balance_after == done.customer.points_earned >= 0


def test_a_customer_enrolled_offline_with_no_points_cannot_pay_with_points(
    checkout: Checkout, network: Network, box: Store, printer: SimulatedPrinter
) -> None:
    network.up = False
    enrolled = checkout.customers.enrol(EnrolmentForm(name="Rosa Díaz", phone="222 765 4321")).customer
    assert enrolled.balance_points == 0 and enrolled.offline_allowance_points > 0
    sale = checkout.start()
    sale.identify("222 765 4321")
    sale.add_barcode(COLA, qty=10)
    sale.use_points(50)
    with pytest.raises(PointsOverBalance) as caught:
        sale.price()
    assert caught.value.available_points == 0
    with pytest.raises(PointsOverBalance):
        sale.complete()
    sale.use_points(0)
    sale.add_cash(20000)
    done = sale.complete()
    assert done.customer is not None and done.customer.balance_after == done.customer.points_earned > 0
    assert b"-" + str(done.customer.points_earned).encode() not in printer.output


def test_points_earned_in_a_sale_not_yet_acked_can_be_spent_offline_and_no_more(
    checkout: Checkout, network: Network, box: Store
) -> None:
    network.up = False
    add_member(box, balance_points=0, allowance_points=500)
    first = checkout.start()
    first.identify(MEMBER_ID)
    first.add_barcode(COLA, qty=20)
    first.add_cash(40000)
    earned = first.complete().settlement
    known = checkout.customers.balance(checkout.customers.get(MEMBER_ID))  # type: ignore[arg-type]
    assert earned.points_spent == 0 and known > 0
    spendable = known // 10 * 10  # the program spends points in steps of 10
    second = checkout.start()
    second.identify(MEMBER_ID)
    second.add_barcode(COLA, qty=20)
    second.use_points(spendable + 10)
    with pytest.raises(PointsOverBalance) as caught:
        second.complete()
    assert caught.value.available_points == known
    second.use_points(spendable)
    second.add_cash(40000)
    done = second.complete()
    assert done.settlement.points_spent == spendable
    assert done.customer is not None and done.customer.balance_after >= 0
    assert checkout.customers.balance(checkout.customers.get(MEMBER_ID)) >= 0  # type: ignore[arg-type]


def test_a_receipt_never_shows_a_negative_balance(checkout: Checkout, box: Store, printer: SimulatedPrinter) -> None:
    # The hub's snapshot shows an overdraft (points spent at two stores at once while offline).
    add_member(box, balance_points=-33, allowance_points=100)
    sale = checkout.start()
    sale.identify(MEMBER_ID)
    sale.add_barcode(COLA)
    sale.use_points(10)
    with pytest.raises(PointsOverBalance) as caught:
        sale.complete()
    assert caught.value.available_points == 0
    sale.use_points(0)
    sale.add_cash(2000)
    done = sale.complete()
    assert done.customer is not None and done.customer.balance_after < 0
    assert done.receipt.loyalty is not None and done.receipt.loyalty.balance == 0
    assert b"Saldo de puntos" in printer.output and b"-3" not in printer.output
    screen = paid_screen(done.settlement, "es", done.customer)
    assert not any("-" in line for line in screen.lines if line.startswith("Saldo"))


def test_online_points_beyond_the_balance_are_refused(checkout: Checkout, member: CachedCustomer) -> None:
    sale = checkout.start()
    sale.set_customer(member)
    sale.add_barcode(COLA, qty=40)
    sale.use_points(MEMBER_BALANCE + 10)
    with pytest.raises(InvalidInput):
        sale.complete()


def test_a_full_refund_gives_back_money_points_and_stock(
    checkout: Checkout, member: CachedCustomer, box: Store
) -> None:
    before = _on_hand(box, "REF-COLA-600")
    sale = checkout.start()
    sale.set_customer(member)
    sale.add_barcode(COLA, qty=3)
    sale.use_points(100)
    sale.add_cash(5000)
    done = sale.complete()
    assert done.customer is not None
    earned = done.customer.points_earned
    refund = checkout.refund(done.sale_id, reason="producto caducado")
    assert refund.refund.refund_minor == 5400
    assert refund.refund.points_returned == 100
    assert refund.points_reversed == earned
    assert _on_hand(box, "REF-COLA-600") == before
    assert checkout.customers.balance(member) == MEMBER_BALANCE
    events = _outbox(box)
    assert [t for t, _ in events] == ["sale", "refund"]
    data = wire.RefundData.model_validate(events[1][1])
    assert data.total_minor == 5400 and data.points_reversed == earned and data.customer == MEMBER_ID
    assert [(t.kind, t.amount_minor, t.points) for t in data.tenders] == [("points", 1000, 100), ("cash", 4400, 0)]
    with pytest.raises(InvalidInput, match="already refunded in full"):
        checkout.refund(done.sale_id)


def test_partial_refunds_reverse_points_in_proportion_and_never_exceed_the_sale(
    checkout: Checkout, member: CachedCustomer, box: Store
) -> None:
    sale = checkout.start()
    sale.set_customer(member)
    sale.add_barcode(COLA, qty=4)
    sale.add_barcode(LECHE, qty=1)
    sale.add_cash(10000)
    done = sale.complete()
    assert done.customer is not None
    earned = done.customer.points_earned
    total = done.priced.totals.total_minor
    first = checkout.refund(done.sale_id, [(1, 1)])
    assert first.refund.refund_minor == 1800
    assert first.points_reversed == earned * 1800 // total
    with pytest.raises(InvalidInput) as caught:
        checkout.refund(done.sale_id, [(1, 4)])
    assert caught.value.code == "refund_over_sold"
    rest = checkout.refund(done.sale_id)
    assert first.refund.refund_minor + rest.refund.refund_minor == total
    assert first.points_reversed + rest.points_reversed == earned
    refunded = box.conn.execute("SELECT refunded_minor FROM sale WHERE sale_id = ?", (done.sale_id,)).fetchone()
    assert refunded == (total,)
    assert [r[0] for r in box.conn.execute("SELECT refunded_qty FROM sale_line ORDER BY line_no")] == [4, 1]


def test_a_refund_to_a_wallet_goes_back_through_the_acquirer(
    checkout: Checkout, acquirer: SimulatedAcquirer, box: Store, network: Network
) -> None:
    sale = checkout.start()
    sale.add_barcode(COLA, qty=2)
    sale.add_wallet(WECHAT_OK)
    done = sale.complete()
    network.up = False
    with pytest.raises(InvalidInput, match="offline"):
        checkout.refund(done.sale_id, [(1, 1)])
    network.up = True
    refund = checkout.refund(done.sale_id, [(1, 1)])
    transaction = wire.SaleData.model_validate(_outbox(box)[0][1]).tenders[0].reference
    assert transaction is not None and acquirer.refunded_minor(transaction) == 1800
    assert refund.refund.lines[0].kind == "wallet"


def test_a_crash_inside_a_refund_leaves_the_sale_as_it_was(checkout: Checkout, box: Store) -> None:
    sale = checkout.start()
    sale.add_barcode(COLA, qty=2)
    sale.add_cash(4000)
    done = sale.complete()
    before = (_counts(box), _on_hand(box, "REF-COLA-600"))
    checkout.stock = _CrashingStock()
    with pytest.raises(RuntimeError):
        checkout.refund(done.sale_id)
    assert (_counts(box), _on_hand(box, "REF-COLA-600")) == before
    assert box.conn.execute("SELECT refunded_minor FROM sale").fetchone() == (0,)


def test_void_a_line_and_cancel_a_sale_write_nothing(checkout: Checkout, box: Store) -> None:
    before = _counts(box)
    sale = checkout.start()
    first = sale.add_barcode(COLA)
    sale.add_barcode(LECHE)
    sale.set_qty(first.line_id, 3)
    sale.void_line(first.line_id)
    assert [line.item.sku for line in sale.lines] == ["LECHE-ENTERA-1L"]
    sale.cancel()
    assert _counts(box) == before
    with pytest.raises(SaleClosed):
        sale.complete()


def test_a_sale_is_bounded_in_tenders_counting_the_points_tender(checkout: Checkout, member: CachedCustomer) -> None:
    sale = checkout.start()
    sale.set_customer(member)
    sale.add_barcode(COLA)
    sale.use_points(10)
    for _ in range(MAX_SALE_TENDERS - 1):
        sale.add_cash(100)
    with pytest.raises(InvalidInput, match=f"at most {MAX_SALE_TENDERS} tenders"):
        sale.add_cash(100)


def test_a_sale_is_bounded_in_lines(checkout: Checkout, box: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    assert min(MAX_BASKET_LINES, wire.MAX_SALE_LINES) == checkout_module.MAX_SALE_LINES
    monkeypatch.setattr(checkout_module, "MAX_SALE_LINES", 3)
    skus = [s for (s,) in box.conn.execute("SELECT sku FROM item ORDER BY sku LIMIT 4")]
    sale = checkout.start()
    for sku in skus[:3]:
        sale.add_sku(sku)
    sale.add_sku(skus[0])  # the same item again adds to its line
    with pytest.raises(InvalidInput, match="at most 3 lines"):
        sale.add_sku(skus[3])


def test_an_empty_sale_cannot_be_completed(checkout: Checkout) -> None:
    sale = checkout.start()
    with pytest.raises(InvalidInput, match="no items"):
        sale.complete()


def test_the_outbox_sale_event_decodes_as_the_hub_reads_it(checkout: Checkout, box: Store) -> None:
    sale = checkout.start()
    sale.add_barcode(MARIAS, qty=3)
    sale.add_cash(5000)
    sale.complete()
    topic, payload = box.conn.execute("SELECT topic, payload FROM outbox").fetchone()
    message = wire.decode(topic, bytes(payload))
    assert isinstance(message.data, wire.SaleData)
    assert message.data.total_minor == 3200


def test_a_promotion_limited_to_one_use_per_customer_is_skipped_the_second_time(
    checkout: Checkout, member: CachedCustomer, box: Store
) -> None:
    body = json.loads(box.conn.execute("SELECT body FROM config WHERE kind = 'promotions'").fetchone()[0])
    for promotion in body["promotions"]:
        if promotion["id"] == "lacteos-10":
            promotion["limits"] = {"max_uses_per_customer": 1}
    text = json.dumps(body)
    with box.transaction() as tx:
        tx.conn.execute("UPDATE config SET version = 5, body = ?, sha256 = 'x' WHERE kind = 'promotions'", (text,))
    outcomes = []
    for _ in range(2):
        sale = checkout.start()
        sale.set_customer(member)
        sale.add_barcode(LECHE)
        sale.add_cash(5000)
        done = sale.complete()
        (explained,) = [p for p in done.priced.promotions if p.promotion_id == "lacteos-10"]
        outcomes.append((done.priced.totals.discount_minor, explained.status, explained.reason_code))
    assert outcomes == [(290, "applied", None), (0, "skipped", "cap_reached")]


def test_a_bad_cashier_id_is_refused_before_anything_is_rung_up(checkout: Checkout) -> None:
    with pytest.raises(InvalidInput) as caught:
        checkout.start(cashier="")
    assert caught.value.field == "cashier"
    with pytest.raises(CardNumberRefused):
        checkout.start(cashier="4111111111111111")


def test_a_sessions_open_sale_is_kept_after_every_change_and_resumed_once_completed(
    checkout: Checkout, box: Store, member: CachedCustomer
) -> None:
    create_cashier(box, "ana", "Ana", "2468", "cashier", hasher=CHEAP_HASHER)
    session = SessionRegistry(box.path).open(Cashier("ana", "Ana", "cashier"))
    sale = checkout.open_for(session.key, "ana")
    for barcode in (COLA, MARIAS, LECHE):
        sale.add_barcode(barcode)
    sale.set_qty(sale.lines[0].line_id, 2)
    sale.identify(MEMBER_ID)
    sale.use_points(100)
    sale.add_card(1000, "A1B2C3", "T-1")
    sale.add_wallet(WECHAT_OK, 500)  # a single-use code: never written down
    assert WECHAT_OK not in str(box.conn.execute("SELECT state FROM open_sale").fetchone()[0])

    resumed = checkout.open_for(session.key, "ana")  # what a restarted box does for the same session
    assert resumed is not sale and resumed.sale_id == sale.sale_id and resumed.cashier == "ana"
    assert [(line.line_id, line.item.sku, line.qty) for line in resumed.lines] == [
        (line.line_id, line.item.sku, line.qty) for line in sale.lines
    ]
    assert resumed.customer == member and resumed.points_to_redeem == 100
    assert resumed.tenders == sale.tenders[:1]
    resumed.add_barcode(COLA)
    assert resumed.lines[0].qty == 3 and len(resumed.lines) == 3
    resumed.add_cash(20000)
    done = resumed.complete()
    assert box.conn.execute("SELECT count(*) FROM open_sale").fetchone() == (0,)
    assert box.conn.execute("SELECT sale_id FROM sale").fetchall() == [(done.sale_id,)]
    fresh = checkout.open_for(session.key, "ana")
    assert fresh.sale_id != done.sale_id and not fresh.lines


def test_a_cancelled_or_signed_out_open_sale_is_not_kept(checkout: Checkout, box: Store) -> None:
    create_cashier(box, "ana", "Ana", "2468", "cashier", hasher=CHEAP_HASHER)
    registry = SessionRegistry(box.path)
    session = registry.open(Cashier("ana", "Ana", "cashier"))
    sale = checkout.open_for(session.key, "ana")
    sale.add_barcode(COLA)
    sale.cancel()
    assert box.conn.execute("SELECT count(*) FROM open_sale").fetchone() == (0,)
    checkout.open_for(session.key, "ana").add_barcode(COLA)
    registry.close(session.token)
    assert box.conn.execute("SELECT count(*) FROM open_sale").fetchone() == (0,)
    unowned = checkout.start()
    unowned.add_barcode(COLA)
    assert box.conn.execute("SELECT count(*) FROM open_sale").fetchone() == (0,)
