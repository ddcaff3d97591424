"""The receipt printer: one ``Printer`` interface (bytes out, status back), ESC/POS backends and a simulator.

- ``Printer``, ``PrinterStatus``, ``PaperLevel``: the interface (``hardware.printer.base``, ``.status``).
- ``UsbPrinter``, ``SerialPrinter``, ``NetworkPrinter``, ``FilePrinter``: real connections via python-escpos.
- ``SimulatedPrinter`` and ``PrinterModel``: a printer that records bytes and can run out of paper.
- ``open_printer``: the backend chosen by configuration.
- ``Receipt``, ``LoyaltySticker``, ``layout_receipt``, ``layout_sticker``, ``encode``, ``render_text``,
  ``render_png``: what to print, laid out for a ``PrinterProfile``, as bytes and as previews.
"""

from hardware.printer.base import MAX_JOB_BYTES, STATUS_TIMEOUT_S, WRITE_CHUNK_BYTES, Printer
from hardware.printer.config import open_printer, printer_from_config
from hardware.printer.document import Document
from hardware.printer.encode import encode
from hardware.printer.escpos_backends import FilePrinter, NetworkPrinter, SerialPrinter, UsbPrinter
from hardware.printer.preview import render_png, render_text
from hardware.printer.profile import CHINESE_80MM, PAPER_58MM, PAPER_80MM, PrinterProfile, TextMode
from hardware.printer.receipt import (
    CHINESE,
    SPANISH,
    Charge,
    CodeKind,
    Item,
    Labels,
    Loyalty,
    LoyaltySticker,
    Minor,
    NumberFormat,
    Receipt,
    layout_receipt,
    layout_sticker,
)
from hardware.printer.simulated import PrinterModel, SimulatedPrinter
from hardware.printer.status import PaperLevel, PrinterStatus

__all__ = [
    "CHINESE",
    "CHINESE_80MM",
    "MAX_JOB_BYTES",
    "PAPER_58MM",
    "PAPER_80MM",
    "SPANISH",
    "STATUS_TIMEOUT_S",
    "WRITE_CHUNK_BYTES",
    "Charge",
    "CodeKind",
    "Document",
    "FilePrinter",
    "Item",
    "Labels",
    "Loyalty",
    "LoyaltySticker",
    "Minor",
    "NetworkPrinter",
    "NumberFormat",
    "PaperLevel",
    "Printer",
    "PrinterModel",
    "PrinterProfile",
    "PrinterStatus",
    "Receipt",
    "SerialPrinter",
    "SimulatedPrinter",
    "TextMode",
    "UsbPrinter",
    "encode",
    "layout_receipt",
    "layout_sticker",
    "open_printer",
    "printer_from_config",
    "render_png",
    "render_text",
]
