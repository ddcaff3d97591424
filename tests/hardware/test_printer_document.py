"""Printer documents: composing lines for the paper, code pages, code symbols and rasters as ESC/POS bytes.

These need no application: documents are built block by block or with ``DocumentBuilder``. The counter's
sale receipt and loyalty sticker, with their golden files, are tested in
tests/edge_agent/test_receipt_layout.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from hardware.printer import (
    CHINESE_80MM,
    PAPER_58MM,
    PAPER_80MM,
    Document,
    DocumentBuilder,
    PrinterProfile,
    encode,
    render_text,
)
from hardware.printer.codes import code128b_modules, qr_image
from hardware.printer.compose import (
    CODE128_HEIGHT_PX,
    CODE128_MODULE_PX,
    FEED_BEFORE_CUT_LINES,
    QR_MODULE_PX_NARROW,
    QR_MODULE_PX_WIDE,
    code128_width_modules,
)
from hardware.printer.document import MAX_IMAGE_HEIGHT_PX, Barcode, Cut, Feed, Qr, Raster, Text, wrap
from hardware.printer.encode import qr, raster

HARDWARE = Path(__file__).resolve().parents[2] / "hardware"

#: Top-level packages a device library must not import: the applications and the shared domain.
APPLICATION_PACKAGES = ("core", "edge_agent", "hub", "provisioning", "firmware")


def test_spanish_text_round_trips_through_cp858() -> None:
    data = PAPER_58MM.encode("Ñandú, acción, €")
    assert data == b"\xa5and\xa3, acci\xa2n, \xd5"
    assert data.decode("cp858") == "Ñandú, acción, €"


def test_job_selects_the_profile_code_page_once_at_the_start() -> None:
    document = Document(PAPER_58MM, (Text("Ferretería Ñandú", bold=True), Text("€ 1,00"), Text("fin")))
    data = encode(document)
    assert data.startswith(b"\x1b@\x1bt\x13")  # ESC @, ESC t 19 (CP858 in the default escpos profile)
    assert data.count(b"\x1bt") == 1
    assert "Ferretería Ñandú".encode("cp858") in data


def test_cp850_printer_spells_the_euro_sign() -> None:
    profile = PrinterProfile("cp850", 32, 384, code_page="CP850")
    assert profile.printable("49,90 € “ok”") == '49,90 EUR "ok"'
    assert encode(Document(profile, (Text("€"),))) == b"\x1b@\x1bt\x02EUR\n"


def test_chinese_printer_gets_fs_ampersand_and_gb18030() -> None:
    data = encode(Document(CHINESE_80MM, (Text("小卖部 欢迎光临"),)))
    assert data.startswith(b"\x1b@\x1c&")
    assert data.endswith(b"\x1c.")
    assert "小卖部 欢迎光临".encode("gb18030") in data
    assert b"\x1bt" not in data


def test_code128_set_b_matches_python_barcode() -> None:
    from barcode.codex import Code128

    # python-barcode keeps code set B for letters, so its symbol must equal ours.
    assert code128b_modules("Hola") == Code128("Hola").build()[0]


def test_native_qr_bytes_follow_gs_paren_k() -> None:
    assert qr("ML-1", 6) == (
        b"\x1d(k\x04\x001A2\x00\x1d(k\x03\x001C\x06\x1d(k\x03\x001E1\x1d(k\x07\x001P0ML-1\x1d(k\x03\x001Q0"
    )


def test_printer_without_native_codes_gets_the_same_qr_as_a_raster() -> None:
    profile = PrinterProfile("plain", 32, 384, native_qr=False, native_barcode=False)
    data = encode(Document(profile, (Qr("ML-0001234-7", 5),)))
    image = qr_image("ML-0001234-7", 5)
    header = b"\x1dv0\x00" + bytes([48, 0, image.height, 0])
    assert data.startswith(b"\x1b@\x1bt\x13" + header)
    body = data[len(b"\x1b@\x1bt\x13" + header) :]
    assert len(body) == 48 * image.height
    # Decode the raster back: ink bits must be exactly the centred QR.
    decoded = Image.frombytes("1", (384, image.height), bytes(b ^ 0xFF for b in body))
    left = (384 - image.width) // 2
    assert decoded.crop((left, 0, left + image.width, image.height)).tobytes() == image.tobytes()


def test_raster_packs_ink_as_one_bits() -> None:
    image = Image.new("1", (8, 1), 1)
    image.putpixel((0, 0), 0)
    assert raster(image) == b"\x1dv0\x00\x01\x00\x01\x00\x80"


def test_wrapping_a_chinese_word_into_a_narrow_column_always_advances() -> None:
    assert wrap(CHINESE_80MM, "欢迎光临", 3) == ["欢", "迎", "光", "临"]
    assert wrap(CHINESE_80MM, "欢迎", 1) == ["欢", "迎"]


def test_builder_centres_wraps_and_spreads_text_to_the_paper_columns() -> None:
    b = DocumentBuilder(PAPER_58MM)
    b.centred("Kiosco", bold=True, tall=True)
    b.centred("una linea de texto que no cabe en treinta y dos columnas")
    b.pair("TOTAL", "$1,234.50", bold=True)
    b.rule()
    document = b.build(cut=False)
    assert document.blocks[0] == Text("             Kiosco", bold=True, tall=True)
    lines = render_text(document).splitlines()
    assert lines[1:3] == [" una linea de texto que no cabe", "   en treinta y dos columnas"]
    assert lines[3] == "TOTAL" + " " * 18 + "$1,234.50"
    assert lines[4] == "-" * PAPER_58MM.columns
    assert all(PAPER_58MM.cells(line) <= PAPER_58MM.columns for line in lines)


def test_builder_feeds_past_the_cutter_before_cutting() -> None:
    b = DocumentBuilder(PAPER_80MM)
    b.line("fin")
    assert b.build(cut=True).blocks == (Text("fin"), Feed(FEED_BEFORE_CUT_LINES), Cut())
    assert b.build(cut=False).blocks == (Text("fin"),)


def test_builder_sizes_qr_modules_for_the_paper_width() -> None:
    for profile, module_px in ((PAPER_58MM, QR_MODULE_PX_NARROW), (PAPER_80MM, QR_MODULE_PX_WIDE)):
        b = DocumentBuilder(profile)
        b.qr("MO1:ML-0001234-7")
        assert b.build(cut=False).blocks == (Qr("MO1:ML-0001234-7", module_px=module_px),)


def test_builder_narrows_a_long_code128_and_refuses_one_that_cannot_fit() -> None:
    b = DocumentBuilder(PAPER_58MM)
    b.code128("ML-0001234-7")
    b.code128("ML-" + "9" * 13)  # too wide at two dots per module on 384 dots, fits at one
    assert code128_width_modules("ML-" + "9" * 13) * CODE128_MODULE_PX > PAPER_58MM.width_px
    assert b.build(cut=False).blocks == (
        Barcode("ML-0001234-7", module_px=CODE128_MODULE_PX, height_px=CODE128_HEIGHT_PX),
        Barcode("ML-" + "9" * 13, module_px=1, height_px=CODE128_HEIGHT_PX),
    )
    with pytest.raises(ValueError, match="too long for a CODE128 on label"):
        DocumentBuilder(PrinterProfile("label", 16, 192)).code128("ML-" + "9" * 21)


def test_builder_scales_an_image_to_the_paper_and_dithers_it() -> None:
    logo = Image.new("L", (1200, 900), 255)
    ImageDraw.Draw(logo).ellipse([100, 100, 800, 800], fill=90)
    b = DocumentBuilder(PAPER_58MM)
    b.image(logo)
    (block,) = b.build(cut=False).blocks
    assert isinstance(block, Raster)
    assert block.image.mode == "1"
    assert block.image.width == PAPER_58MM.width_px and block.image.height <= MAX_IMAGE_HEIGHT_PX


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_hardware_imports_no_application_or_domain_package() -> None:
    offenders = {
        str(path.relative_to(HARDWARE.parent)): sorted(_imported_packages(path) & set(APPLICATION_PACKAGES))
        for path in sorted(HARDWARE.rglob("*.py"))
    }
    assert {path: found for path, found in offenders.items() if found} == {}
