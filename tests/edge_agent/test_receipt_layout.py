"""The sale receipt and the loyalty sticker as printed: exact ESC/POS bytes (golden files), columns, previews.

Golden files live in tests/edge_agent/golden/receipts/. A normal run compares byte for byte; after a
deliberate layout change, regenerate them with ``MOSTRADOR_UPDATE_GOLDEN=1`` and review the diff of the .txt
previews. PNG previews are written to test-artifacts/printer/ for a person to look at. The printer's own
encoding (code pages, code symbols, rasters) is tested in tests/hardware/test_printer_document.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from edge_agent.receipt_layout import (
    CHINESE,
    MAX_FREE_LINES,
    MAX_ITEMS,
    Charge,
    CodeKind,
    Item,
    Loyalty,
    LoyaltySticker,
    Minor,
    NumberFormat,
    Receipt,
    layout_receipt,
    layout_sticker,
)
from hardware.printer import (
    CHINESE_80MM,
    PAPER_58MM,
    PAPER_80MM,
    PrinterProfile,
    SimulatedPrinter,
    encode,
    render_png,
    render_text,
)
from hardware.printer.compose import FEED_BEFORE_CUT_LINES
from hardware.printer.document import Cut, Document, Feed, Raster, Text

GOLDEN = Path(__file__).parent / "golden" / "receipts"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "printer"
UPDATE = os.environ.get("MOSTRADOR_UPDATE_GOLDEN") == "1"


def _logo() -> Image.Image:
    image = Image.new("L", (300, 90), 255)
    draw = ImageDraw.Draw(image)
    draw.ellipse([5, 5, 85, 85], fill=0)
    draw.rectangle([100, 20, 290, 70], outline=0, width=6)
    draw.line([100, 45, 290, 45], fill=128, width=10)
    return image


def spanish_receipt(logo: bool = False) -> Receipt:
    return Receipt(
        header=("Ferretería Ñandú", "Av. Corrientes 1234, CABA", "Ticket 0001-00012345"),
        logo=_logo() if logo else None,
        items=(
            Item("Tornillo autorroscante 8x1 1/2 (caja de 100 unidades)", 2, Minor(123450), Minor(246900)),
            Item("Acción café molido 500 g", 1, "$12.00", "$12.00"),
            Item("Cable unipolar 2,5 mm² por metro", "3.5 m", Minor(89900), Minor(314650)),
        ),
        discounts=(Charge("Descuento socio 10%", Minor(-57355)),),
        taxes=(Charge("IVA 21% incluido", Minor(89610)),),
        totals=(Charge("Subtotal", Minor(573550)), Charge("TOTAL", Minor(516195))),
        tenders=(Charge("Efectivo", Minor(520000)),),
        change=Minor(3805),
        loyalty=Loyalty("ML-0001234-7", 516, 12480, "Oro", CodeKind.BOTH),
        footer=("¡Gracias por su compra!", "Cambios dentro de los 30 días con este ticket", "Precio en €: 49,90 €"),
    )


def chinese_receipt() -> Receipt:
    return Receipt(
        header=("小卖部 欢迎光临", "北京市朝阳区建国路 88 号"),
        items=(
            Item("可口可乐 330毫升 罐装 六瓶一组特价", 2, "¥21.00", "¥42.00"),
            Item("康师傅红烧牛肉面", 5, "¥4.50", "¥22.50"),
        ),
        totals=(Charge("合计", "¥64.50"),),
        tenders=(Charge("现金", "¥100.00"),),
        change="¥35.50",
        loyalty=Loyalty("ML-0001234-7", 64, 1530, "金卡", CodeKind.QR),
        footer=("谢谢惠顾 欢迎再次光临",),
        labels=CHINESE,
    )


CASES: dict[str, Document] = {
    "spanish_58mm": layout_receipt(spanish_receipt(), PAPER_58MM),
    "spanish_80mm_logo": layout_receipt(spanish_receipt(logo=True), PAPER_80MM),
    "chinese_80mm": layout_receipt(chinese_receipt(), CHINESE_80MM),
    "sticker_58mm": layout_sticker(
        LoyaltySticker("María Fernanda Ñúñez", "ML-0001234-7", CodeKind.BOTH, "Red Mostrador"), PAPER_58MM
    ),
}


def _compare(path: Path, actual: bytes) -> None:
    if UPDATE:
        path.write_bytes(actual)
    assert path.exists(), f"{path} missing: run with MOSTRADOR_UPDATE_GOLDEN=1 to create it"
    expected = path.read_bytes()
    if actual != expected:
        first = next((i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b), None)
        first = min(len(actual), len(expected)) if first is None else first
        pytest.fail(f"{path.name}: differs at byte {first} ({len(actual)} vs {len(expected)} bytes)")


@pytest.mark.parametrize("name", sorted(CASES))
def test_escpos_bytes_match_the_golden_file(name: str) -> None:
    _compare(GOLDEN / f"{name}.bin", encode(CASES[name]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_text_preview_matches_the_golden_file_and_png_is_written(name: str) -> None:
    document = CASES[name]
    text = render_text(document)
    _compare(GOLDEN / f"{name}.txt", text.encode())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image = render_png(document)
    image.save(ARTIFACTS / f"{name}.png")
    assert image.width == document.profile.width_px + 16
    with Image.open(ARTIFACTS / f"{name}.png") as saved:
        assert saved.size == image.size


def test_job_selects_the_profile_code_page_once_at_the_start() -> None:
    data = encode(CASES["spanish_58mm"])
    assert data.startswith(b"\x1b@\x1bt\x13")  # ESC @, ESC t 19 (CP858 in the default escpos profile)
    assert data.count(b"\x1bt") == 1
    assert "Ferretería Ñandú".encode("cp858") in data


def test_chinese_printer_gets_fs_ampersand_and_gb18030() -> None:
    data = encode(CASES["chinese_80mm"])
    assert data.startswith(b"\x1b@\x1c&")
    assert data.endswith(b"\x1c.")
    assert "小卖部 欢迎光临".encode("gb18030") in data
    assert b"\x1bt" not in data


def test_chinese_characters_take_two_columns_and_rows_stay_aligned() -> None:
    lines = render_text(CASES["chinese_80mm"]).splitlines()
    item_line = next(line for line in lines if line.startswith("可口可乐"))
    header = next(line for line in lines if line.startswith("商品"))
    assert CHINESE_80MM.cells(item_line) == CHINESE_80MM.cells(header) == 48
    assert item_line.endswith("￥42.00")


def test_long_names_wrap_without_losing_words() -> None:
    lines = render_text(CASES["spanish_58mm"]).splitlines()
    start = lines.index("Tornillo autorroscante 8x1 1/2")
    assert lines[start + 1] == "(caja de 100 unidades)"
    assert lines[start + 2] == "  2 x $1,234.50        $2,469.00"


def test_80mm_table_columns_line_up() -> None:
    lines = render_text(CASES["spanish_80mm_logo"]).splitlines()
    rows = [line for line in lines if line.endswith(("$2,469.00", "$12.00", "$3,146.50", "Importe"))]
    assert len(rows) == 4
    assert {len(row) for row in rows} == {48}


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(st.text(st.sampled_from("abcñáé 漢字€ABC0123456789-"), min_size=1, max_size=70), max_size=5),
    amounts=st.lists(st.integers(-(10**9), 10**9), min_size=5, max_size=5),
    profile=st.sampled_from([PAPER_58MM, PAPER_80MM, CHINESE_80MM]),
)
def test_every_line_fits_the_paper_and_amounts_are_never_cut(
    names: list[str], amounts: list[int], profile: PrinterProfile
) -> None:
    items = tuple(Item(name, i + 1, Minor(amounts[i]), Minor(amounts[i] * 2)) for i, name in enumerate(names))
    receipt = Receipt(items=items, totals=(Charge("TOTAL", Minor(amounts[-1])),))
    document = layout_receipt(receipt, profile)
    for block in document.blocks:
        if isinstance(block, Text):
            assert profile.cells(block.text) <= profile.columns
    text = render_text(document)
    fmt = NumberFormat()
    for item in items:
        assert fmt.amount(item.amount) in text
    assert fmt.amount(Minor(amounts[-1])) in text


def test_minor_units_are_formatted_without_float() -> None:
    fmt = NumberFormat()
    assert fmt.amount(Minor(123450)) == "$1,234.50"
    assert fmt.amount(Minor(-5)) == "-$0.05"
    assert fmt.amount(Minor(1500, 0)) == "$1,500"
    assert fmt.amount(Minor(1234567, 3)) == "$1,234.567"
    spain = NumberFormat(decimal=",", thousands=".", symbol="€", symbol_after=True)
    assert spain.amount(Minor(123450)) == "1.234,50 €"
    with pytest.raises(ValueError, match="int amount_minor"):
        Minor(1.5)  # type: ignore[arg-type]


def test_logo_is_scaled_to_the_paper_and_dithered() -> None:
    block = CASES["spanish_80mm_logo"].blocks[0]
    assert isinstance(block, Raster)
    assert block.image.width == PAPER_80MM.width_px and block.image.mode == "1"


def test_simulated_printer_prints_the_receipt_bytes() -> None:
    data = encode(CASES["sticker_58mm"])
    with SimulatedPrinter() as printer:
        printer.print_job(data)
        assert printer.output == data


def test_receipt_is_fed_past_the_cutter_and_cut_unless_told_not_to() -> None:
    assert CASES["spanish_58mm"].blocks[-2:] == (Feed(FEED_BEFORE_CUT_LINES), Cut())
    assert CASES["sticker_58mm"].blocks[-2:] == (Feed(FEED_BEFORE_CUT_LINES), Cut())
    uncut = layout_receipt(Receipt(header=("Kiosco",), cut=False), PAPER_58MM)
    assert not any(isinstance(block, Feed | Cut) for block in uncut.blocks)


def test_receipt_bounds_are_enforced() -> None:
    with pytest.raises(ValueError, match="MAX_FREE_LINES"):
        Receipt(header=("x",) * (MAX_FREE_LINES + 1))
    with pytest.raises(ValueError, match="MAX_ITEMS"):
        Receipt(items=(Item("x", 1, Minor(1), Minor(1)),) * (MAX_ITEMS + 1))
    with pytest.raises(ValueError, match="too long for a CODE128"):
        layout_sticker(LoyaltySticker("x", "ML-" + "9" * 21, CodeKind.CODE128), PrinterProfile("label", 16, 192))
    with pytest.raises(ValueError, match="CODE128 content must be 1 to 24"):
        layout_sticker(LoyaltySticker("x", "ML-" + "9" * 22, CodeKind.CODE128), PAPER_58MM)
