"""The receipt printer: one ``Printer`` interface (bytes out, status back), ESC/POS backends and a simulator.

- ``Printer``, ``PrinterStatus``, ``PaperLevel``: the interface (``hardware.printer.base``, ``.status``).
- ``UsbPrinter``, ``SerialPrinter``, ``NetworkPrinter``, ``FilePrinter``: real connections via python-escpos.
- ``SimulatedPrinter`` and ``PrinterModel``: a printer that records bytes and can run out of paper.
- ``open_printer``: the backend chosen by configuration.
- ``Document`` and ``DocumentBuilder``: a print job laid out for a ``PrinterProfile`` (text fitted to the
  columns, codes and images sized for the paper); ``encode``, ``render_text``, ``render_png``: that job as
  ESC/POS bytes and as previews. What a document says (a shop's receipt, a label) is the business of
  the application that prints it, which lays it out with these.
"""

from hardware.printer.base import MAX_JOB_BYTES, STATUS_TIMEOUT_S, WRITE_CHUNK_BYTES, Printer
from hardware.printer.compose import DocumentBuilder
from hardware.printer.config import open_printer, printer_from_config
from hardware.printer.document import Document
from hardware.printer.encode import encode
from hardware.printer.escpos_backends import FilePrinter, NetworkPrinter, SerialPrinter, UsbPrinter
from hardware.printer.preview import render_png, render_text
from hardware.printer.profile import CHINESE_80MM, PAPER_58MM, PAPER_80MM, PrinterProfile, TextMode
from hardware.printer.simulated import PrinterModel, SimulatedPrinter
from hardware.printer.status import PaperLevel, PrinterStatus

__all__ = [
    "CHINESE_80MM",
    "MAX_JOB_BYTES",
    "PAPER_58MM",
    "PAPER_80MM",
    "STATUS_TIMEOUT_S",
    "WRITE_CHUNK_BYTES",
    "Document",
    "DocumentBuilder",
    "FilePrinter",
    "NetworkPrinter",
    "PaperLevel",
    "Printer",
    "PrinterModel",
    "PrinterProfile",
    "PrinterStatus",
    "SerialPrinter",
    "SimulatedPrinter",
    "TextMode",
    "UsbPrinter",
    "encode",
    "open_printer",
    "printer_from_config",
    "render_png",
    "render_text",
]
