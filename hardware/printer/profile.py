"""What a receipt printer can print: paper width, columns, and how it takes text (code page or Chinese mode).

Spanish text goes out in one code page chosen by the profile, selected once per job with ``ESC t n``; ``n``
comes from python-escpos's capability database for the printer model, so a printer whose table numbers
CP858 differently gets the right number. CP858 is the default because it is CP850 (every Spanish letter,
``¿`` and ``¡``) plus ``€`` at 0xD5. python-escpos's "magic" encoding, which switches code pages character
by character, is not used: one fixed code page keeps jobs byte-for-byte predictable and works on clones
whose code page tables are incomplete. A character the code page lacks is transliterated (``€`` -> ``EUR``
on CP850, accents dropped) and only then replaced by ``?``.

Chinese printers (GB18030 firmware) are put in Chinese mode with ``FS &`` and take GB18030 bytes: ASCII is
one byte and one column, a Chinese character two bytes and two columns (a 24x24 glyph beside 12x24 Latin).
Characters outside the two-byte part of GB18030 have no glyph in printer fonts and become ``?``.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

from hardware.errors import ConfigError

#: Width of one column at font A, in printer dots (203 dpi: 12 x 24 dot characters).
CELL_WIDTH_PX = 12
MAX_CACHED_CHARS = 8192
"""Characters whose printable form is remembered per code page (a shop's receipts use a few hundred)."""
CELL_HEIGHT_PX = 24

#: Last-resort spellings for characters a code page lacks, before ``?``.
_TRANSLITERATIONS = {
    "€": "EUR",
    "¥": "￥",
    "\u201c": '"',  # quotation marks
    "\u201d": '"',
    "\u2018": "'",
    "\u2019": "'",
    "\u2013": "-",  # dashes
    "\u2014": "-",
    "\u2026": "...",  # ellipsis
    "\u2022": "*",  # bullet
    "\u00a0": " ",  # no-break space
}


class TextMode(enum.StrEnum):
    """How the printer takes text."""

    CODE_PAGE = "code_page"
    CHINESE = "chinese"


@dataclass(frozen=True, slots=True)
class PrinterProfile:
    """A printer model's paper and text settings; the receipt layout and encoder read nothing else."""

    name: str
    columns: int
    width_px: int
    text_mode: TextMode = TextMode.CODE_PAGE
    code_page: str = "CP858"
    escpos_profile: str = "default"
    native_qr: bool = True
    native_barcode: bool = True
    partial_cut: bool = False

    def __post_init__(self) -> None:
        if self.columns < 16 or self.width_px < self.columns * CELL_WIDTH_PX or self.width_px % 8:
            raise ConfigError(
                f"printer profile {self.name!r}: {self.columns} columns need width_px >= "
                f"{self.columns * CELL_WIDTH_PX} and a multiple of 8, got {self.width_px}"
            )
        if self.text_mode is TextMode.CODE_PAGE:
            self.code_page_number()  # fail at configuration time, not at the first receipt

    def code_page_number(self) -> int:
        """``n`` of ``ESC t n`` for this profile's code page, from python-escpos's capability database."""
        return _code_page_number(self.escpos_profile, self.code_page)

    @property
    def codec(self) -> str:
        return "gb18030" if self.text_mode is TextMode.CHINESE else self.code_page.lower()

    def printable(self, text: str) -> str:
        """``text`` as the printer will show it: every character it cannot print replaced."""
        if text.isascii() and text.isprintable():
            return text  # every code page and GB18030 print ASCII as it is
        chinese = self.text_mode is TextMode.CHINESE
        return "".join(_printable_char(self.codec, chinese, ch) for ch in text)

    def encode(self, text: str) -> bytes:
        """The bytes that print ``text`` (call ``printable`` first; anything left unprintable becomes ``?``)."""
        return self.printable(text).encode(self.codec, errors="replace")

    def cells(self, text: str) -> int:
        """Columns ``text`` takes on paper (printable text: a Chinese character takes two)."""
        if self.text_mode is TextMode.CHINESE:
            return sum(2 if ord(ch) > 0x7F else 1 for ch in text)
        return len(text)


@lru_cache(maxsize=MAX_CACHED_CHARS)
def _printable_char(codec: str, chinese: bool, ch: str) -> str:
    if ch in {"\n", "\t"}:
        return " "
    if unicodedata.category(ch).startswith("C"):
        return "?"
    if _encodes(codec, ch, two_bytes_max=chinese):
        return ch
    spelled = _TRANSLITERATIONS.get(ch)
    if spelled is not None and not all(_encodes(codec, c, two_bytes_max=True) for c in spelled):
        spelled = None
    if spelled is None:
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        spelled = base if base and base != ch else "?"
    return "".join(c if _encodes(codec, c, two_bytes_max=False) else "?" for c in spelled)


@cache
def _encodes(codec: str, ch: str, *, two_bytes_max: bool) -> bool:
    try:
        encoded = ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return len(encoded) <= 2 if two_bytes_max else True


@cache
def _code_page_number(escpos_profile: str, code_page: str) -> int:
    from escpos.capabilities import get_profile

    try:
        table: dict[str, int | str] = get_profile(escpos_profile).get_code_pages()
    except Exception as exc:  # escpos raises a bare KeyError-like error for unknown models
        raise ConfigError(f"unknown python-escpos printer profile {escpos_profile!r}") from exc
    if code_page not in table:
        raise ConfigError(
            f"printer profile {escpos_profile!r} has no code page {code_page!r}; it has {', '.join(sorted(table))}"
        )
    try:
        "".encode(code_page.lower())
    except LookupError as exc:
        raise ConfigError(f"code page {code_page!r} has no Python codec") from exc
    return int(table[code_page])


#: 58 mm paper: 48 mm printable, 384 dots, 32 columns at font A.
PAPER_58MM = PrinterProfile(name="58mm", columns=32, width_px=384)
#: 80 mm paper: 72 mm printable, 576 dots, 48 columns at font A.
PAPER_80MM = PrinterProfile(name="80mm", columns=48, width_px=576)
#: An 80 mm printer with Chinese (GB18030) firmware.
CHINESE_80MM = PrinterProfile(name="80mm-zh", columns=48, width_px=576, text_mode=TextMode.CHINESE)
