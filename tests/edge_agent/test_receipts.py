"""Receipts and customer screens built from a priced ticket, its tenders and the member's points."""

from __future__ import annotations

import re

import pytest

from core.pricing import Basket, BasketLine, Customer, PricedReceipt, price
from core.tax import Pricing
from core.tenders import CashTender, PointsTender, Settlement, TenderContext, settle
from edge_agent.context import ContextProvider, ShopContext
from edge_agent.receipt_layout import MAX_FREE_LINES, Minor, layout_receipt
from edge_agent.receipts import (
    CustomerPoints,
    basket_screen,
    build_receipt,
    message_screen,
    number_format,
    paid_screen,
)
from hardware.display import SimulatedDisplay
from hardware.printer import CHINESE_80MM, PAPER_58MM, encode, render_text
from tests.edge_agent.conftest import FIXED_NOW, MEMBER_ID

STICKER = "MO1:" + MEMBER_ID


def _priced(context: ShopContext, *, member: bool = True, points: int = 0) -> PricedReceipt:
    lines = (
        BasketLine(
            line_id="L1",
            item_id="GALLETA-MARIAS-170",
            description="Galletas marías 170 g",
            category="galletas",
            tax_category="alta_densidad",
            quantity=2,
            unit_price_minor=1600,
        ),
        BasketLine(
            line_id="L2",
            item_id="REF-COLA-600",
            description="Refresco de cola 600 ml",
            category="refrescos",
            tax_category="bebida_azucarada",
            quantity=3,
            unit_price_minor=1800,
            measure_per_unit_milli=600,
        ),
    )
    customer = Customer(customer_id=MEMBER_ID, tier_points=1500, points_balance=500) if member else None
    return price(
        Basket(currency="MXN", store=context.store, lines=lines),
        customer,
        context.program,
        context.promotions,
        context.jurisdiction,
        FIXED_NOW,
        redeem_points=points,
    )


def _receipt_text(context: ShopContext, priced: PricedReceipt, settlement: Settlement, language: str) -> str:
    points = None
    if priced.customer_id is not None:
        assert priced.points is not None and priced.points_balance_after is not None and priced.tier is not None
        points = CustomerPoints(
            MEMBER_ID, STICKER, priced.points.total, priced.points_balance_after, priced.tier.tier_name
        )
    receipt = build_receipt(
        priced,
        settlement,
        language=language,
        header=context.settings.receipt.header,
        footer=context.settings.receipt.footer,
        pricing=Pricing.INCLUSIVE,
        sale_id="0190f0aa-0000-7000-8000-000000000001",
        timezone=context.store.timezone,
        customer=points,
    )
    return render_text(layout_receipt(receipt, PAPER_58MM if language != "zh" else CHINESE_80MM))


def test_receipt_prints_items_discount_tenders_points_and_balance(context_provider: ContextProvider) -> None:
    context = context_provider.current()
    priced = _priced(context)
    assert priced.totals.total_minor == 1600 + 3 * 1800
    settlement = settle(priced.totals.total_minor, "MXN", [CashTender(10000)], TenderContext(online=True))
    text = _receipt_text(context, priced, settlement, "es")
    assert "Galletas 2x1" in text and "-$16.00" in text
    assert "TOTAL" in text and "$70.00" in text
    assert "Efectivo" in text and "Cambio" in text and "$30.00" in text
    assert priced.points is not None and priced.points_balance_after is not None
    assert re.search(rf"Puntos ganados +\+{priced.points.total}\n", text)
    assert re.search(rf"Saldo de puntos +{priced.points_balance_after}\n", text)
    assert re.search(r"Nivel +Plata\n", text)
    assert f"Socio {STICKER}" in text
    assert "2026-11-23 12:00" in text  # Mexico City local time


def test_receipt_bytes_carry_the_points_and_the_balance(context_provider: ContextProvider) -> None:
    context = context_provider.current()
    priced = _priced(context, points=100)
    settlement = settle(
        priced.totals.total_minor,
        "MXN",
        [PointsTender(100), CashTender(10000)],
        TenderContext(online=True, program=context.program, balance_points=500),
    )
    assert priced.points is not None and priced.points_balance_after is not None
    receipt = build_receipt(
        priced,
        settlement,
        language="es",
        header=(),
        footer=(),
        pricing=Pricing.INCLUSIVE,
        sale_id="s-1",
        timezone=context.store.timezone,
        customer=CustomerPoints(MEMBER_ID, STICKER, priced.points.total, priced.points_balance_after, "Plata"),
    )
    data = encode(layout_receipt(receipt, PAPER_58MM))
    assert b"Puntos (100)" in data
    assert b"Saldo de puntos" in data and str(priced.points_balance_after).encode() in data
    assert priced.points_balance_after == 500 - 100 + priced.points.total


@pytest.mark.parametrize(
    ("language", "word"), [("en", "Points balance"), ("zh", "积分余额"), ("es", "Saldo de puntos")]
)
def test_labels_follow_the_shop_language(context_provider: ContextProvider, language: str, word: str) -> None:
    context = context_provider.current()
    priced = _priced(context)
    settlement = settle(priced.totals.total_minor, "MXN", [CashTender(7000)], TenderContext(online=True))
    assert word in _receipt_text(context, priced, settlement, language)


def test_a_walk_in_receipt_has_no_loyalty_block(context_provider: ContextProvider) -> None:
    context = context_provider.current()
    priced = _priced(context, member=False)
    settlement = settle(priced.totals.total_minor, "MXN", [CashTender(7000)], TenderContext(online=True))
    text = _receipt_text(context, priced, settlement, "es")
    assert "Socio" not in text and "Puntos ganados" not in text


def test_screens_show_the_amount_due_and_what_the_customer_earns(context_provider: ContextProvider) -> None:
    context = context_provider.current()
    priced = _priced(context)
    screen = basket_screen(priced, "es")
    assert screen.large == "$70.00"
    assert priced.points is not None
    assert f"Gana {priced.points.total} puntos" in screen.lines
    settlement = settle(priced.totals.total_minor, "MXN", [CashTender(10000)], TenderContext(online=True))
    after = paid_screen(settlement, "es", CustomerPoints(MEMBER_ID, STICKER, 7, 507, "Plata"))
    assert after.large == "Cambio $30.00"
    assert after.lines == ("+7 puntos", "Saldo 507", "Plata")
    assert after.qr == STICKER
    display = SimulatedDisplay()
    display.show(after)
    assert display.frame.getbbox() is not None
    assert message_screen("Pago rechazado: el código expiró").large == "Pago"


def test_number_format_puts_the_euro_after_the_amount() -> None:
    assert number_format("EUR").amount(Minor(123456, 2)) == "1.234,56 €"
    assert number_format("MXN").amount(Minor(123456, 2)) == "$1,234.56"


def test_a_long_header_from_the_hub_is_cut_to_what_the_printer_takes(context_provider: ContextProvider) -> None:
    context = context_provider.current()
    priced = _priced(context, member=False)
    settlement = settle(priced.totals.total_minor, "MXN", [CashTender(7000)], TenderContext(online=True))
    receipt = build_receipt(
        priced,
        settlement,
        language="es",
        header=tuple(f"linea {i}" for i in range(20)),
        footer=tuple(f"pie {i}" for i in range(20)),
        pricing=Pricing.INCLUSIVE,
        sale_id="s-2",
        timezone=context.store.timezone,
    )
    assert len(receipt.header) == MAX_FREE_LINES and receipt.header[-1] == "Ticket s-2"
    assert len(receipt.footer) == MAX_FREE_LINES
