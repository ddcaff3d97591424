"""Tests for compute_taxes: pricing styles, compound and per-unit taxes, rounding, groups and reporting."""

from __future__ import annotations

import dataclasses

import pytest

from core.errors import InvalidInput
from core.money import Rounding
from core.tax import (
    MAX_LINES,
    Jurisdiction,
    Pricing,
    RoundingScope,
    TaxableLine,
    UnknownTaxCategory,
    compute_taxes,
    load_jurisdiction,
)

TEXT = """
format_version = 1
id = "demo"
name = "Demo"
country = "MX"
currency = "MXN"
pricing = "exclusive"
rounding = "per_line"
rounding_mode = "half_up"
effective_from = 2026-01-01

[taxes.excise]
name = "Excise per litre"
kind = "per_unit"
amount_minor = "308.18"
measure_unit = "litre"

[taxes.ad_valorem]
name = "Excise 8%"
kind = "percentage"
rate = "8%"

[taxes.vat]
name = "VAT 16%"
kind = "percentage"
rate = "16%"
compound = true

[taxes.vat_zero]
name = "VAT 0%"
kind = "percentage"
rate = "0%"
compound = true

[taxes.state]
name = "State"
kind = "percentage"
rate = "6.25%"
group = "sales"

[taxes.city]
name = "City"
kind = "percentage"
rate = "2%"
group = "sales"

[categories.general]
taxes = ["vat"]

[categories.drink]
taxes = ["excise", "vat"]

[categories.snack]
taxes = ["ad_valorem", "vat_zero"]

[categories.food]
taxes = ["vat_zero"]

[categories.book]
taxes = []
exempt_from = ["vat"]

[categories.untaxed]
taxes = []

[categories.us]
taxes = ["state", "city"]
"""

BASE = load_jurisdiction(TEXT, source="demo.toml")


def variant(
    pricing: Pricing = Pricing.EXCLUSIVE,
    rounding: RoundingScope = RoundingScope.PER_LINE,
    mode: Rounding = Rounding.HALF_UP,
) -> Jurisdiction:
    return dataclasses.replace(BASE, pricing=pricing, rounding=rounding, rounding_mode=mode)


EXCL = variant()
INCL = variant(Pricing.INCLUSIVE)
EXCL_DOC = variant(rounding=RoundingScope.PER_DOCUMENT)
INCL_DOC = variant(Pricing.INCLUSIVE, RoundingScope.PER_DOCUMENT)


def line(line_id: str, category: str, amount: int, quantity: int = 1, measure: int = 0) -> TaxableLine:
    return TaxableLine(line_id, category, quantity, amount, measure)


# --- pricing styles -------------------------------------------------------------------------------


def test_exclusive_pricing_adds_tax_to_the_net_amount() -> None:
    result = compute_taxes([line("a", "general", 1234)], EXCL)
    (lt,) = result.lines
    assert (lt.net_minor, lt.tax_minor, lt.gross_minor) == (1234, 197, 1431)  # 197.44 rounds to 197
    assert lt.taxes[0].base_minor == 1234
    assert lt.taxes[0].rate == "0.16"


def test_inclusive_pricing_backs_the_tax_out_of_the_gross_amount() -> None:
    # 1431 * 0.16 / 1.16 = 197.379... -> 197 ; net = 1431 - 197
    (lt,) = compute_taxes([line("a", "general", 1431)], INCL).lines
    assert (lt.net_minor, lt.tax_minor, lt.gross_minor) == (1234, 197, 1431)


def test_inclusive_and_exclusive_agree_for_a_single_tax_at_a_half() -> None:
    # net 3125 * 0.16 = 500 exactly; net 3128 * 0.16 = 500.48 -> 500 ; both grosses must back out to the same.
    for net in (3125, 3128, 3131):
        excl = compute_taxes([line("a", "general", net)], EXCL).lines[0]
        incl = compute_taxes([line("a", "general", excl.gross_minor)], INCL).lines[0]
        assert (incl.net_minor, incl.tax_minor) == (excl.net_minor, excl.tax_minor)


# --- compound and per-unit taxes ------------------------------------------------------------------


def test_a_compound_tax_is_charged_on_the_net_plus_the_earlier_rounded_taxes() -> None:
    # 2 bottles of 600 ml at 3.0818/litre: 1.2 l * 308.18 = 369.816 -> 370 ; VAT on 2000 + 370 = 379.2 -> 379
    (lt,) = compute_taxes([line("a", "drink", 2000, quantity=2, measure=600)], EXCL).lines
    excise, vat = lt.taxes
    assert (excise.amount_minor, excise.measure_milli, excise.per_unit_minor) == (370, 1200, "308.18")
    assert excise.measure_unit == "litre"
    assert (vat.base_minor, vat.amount_minor) == (2370, 379)
    assert lt.gross_minor == 2000 + 370 + 379


def test_a_per_unit_tax_does_not_depend_on_the_price() -> None:
    cheap = compute_taxes([line("a", "drink", 100, quantity=1, measure=1000)], EXCL).lines[0]
    dear = compute_taxes([line("a", "drink", 10_000, quantity=1, measure=1000)], EXCL).lines[0]
    assert cheap.taxes[0].amount_minor == dear.taxes[0].amount_minor == 308


def test_a_per_unit_tax_needs_the_measure_of_the_item() -> None:
    with pytest.raises(InvalidInput) as info:
        compute_taxes([line("a", "drink", 2000)], EXCL)
    assert info.value.field == "lines[0].measure_per_unit_milli"
    assert "litre" in info.value.problem


def test_an_inclusive_price_below_its_fixed_taxes_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        compute_taxes([line("a", "drink", 300, quantity=1, measure=1000)], INCL)
    assert info.value.field == "lines[0].amount_minor"
    assert "308.18" in info.value.problem


def test_inclusive_compound_chain_backs_out_every_tax() -> None:
    excl = compute_taxes([line("a", "drink", 2000, quantity=2, measure=600)], EXCL).lines[0]
    incl = compute_taxes([line("a", "drink", excl.gross_minor, quantity=2, measure=600)], INCL).lines[0]
    assert [t.amount_minor for t in incl.taxes] == [t.amount_minor for t in excl.taxes]
    assert incl.net_minor == 2000


# --- zero-rated and exempt ------------------------------------------------------------------------


def test_zero_rated_and_exempt_are_both_untaxed_but_reported_apart() -> None:
    result = compute_taxes([line("bread", "food", 500), line("book", "book", 300), line("tv", "general", 1000)], EXCL)
    assert result.tax_minor == 160
    assert result.zero_rated_base_minor == 500
    assert result.exempt_base_minor == 300
    vat = result.total("vat")
    assert (vat.base_minor, vat.amount_minor, vat.exempt_base_minor) == (1000, 160, 300)
    vat_zero = result.total("vat_zero")
    assert vat_zero.zero_rated
    assert (vat_zero.base_minor, vat_zero.amount_minor) == (500, 0)
    assert result.line("book").exempt_from == ("vat",)
    assert result.line("book").taxes == ()


@pytest.mark.parametrize("jurisdiction", [INCL, EXCL_DOC, INCL_DOC])
def test_zero_rated_lines_compute_in_every_pricing_and_rounding_style(jurisdiction: Jurisdiction) -> None:
    result = compute_taxes([line("bread", "food", 500), line("rice", "food", 700)], jurisdiction)
    assert (result.tax_minor, result.net_minor, result.zero_rated_base_minor) == (0, 1200, 1200)


def test_a_zero_rated_tax_on_top_of_an_excise_reports_the_excise_inclusive_base() -> None:
    result = compute_taxes([line("chips", "snack", 1000)], EXCL)
    ad_valorem, vat_zero = result.line("chips").taxes
    assert ad_valorem.amount_minor == 80
    assert (vat_zero.base_minor, vat_zero.amount_minor) == (1080, 0)
    assert result.zero_rated_base_minor == 1000


def test_a_category_with_no_tax_and_no_exemption_is_neither_exempt_nor_zero_rated() -> None:
    result = compute_taxes([line("gift", "untaxed", 700)], EXCL)
    assert (result.tax_minor, result.exempt_base_minor, result.zero_rated_base_minor) == (0, 0, 0)
    assert result.taxes == ()


# --- rounding scopes ------------------------------------------------------------------------------


def test_per_document_rounding_rounds_each_tax_once_on_the_total() -> None:
    # Three lines of 3: 0.48 each -> 0 per line, but 1.44 -> 1 on the document.
    lines = [line(str(i), "general", 3) for i in range(3)]
    assert compute_taxes(lines, EXCL).tax_minor == 0
    per_doc = compute_taxes(lines, EXCL_DOC)
    assert per_doc.tax_minor == 1
    assert [lt.tax_minor for lt in per_doc.lines] == [1, 0, 0]
    assert per_doc.total("vat").amount_minor == 1


def test_per_document_spreads_the_total_to_the_largest_fractions_first() -> None:
    # exact VAT: 0.8 (5), 1.6 (10), 0.32 (2) = 2.72 -> 3 ; floors 0, 1, 0 ; leftovers to .8 then .6
    result = compute_taxes([line("a", "general", 5), line("b", "general", 10), line("c", "general", 2)], EXCL_DOC)
    assert [lt.tax_minor for lt in result.lines] == [1, 2, 0]


def test_per_document_compound_base_uses_the_exact_earlier_taxes() -> None:
    # Two 1 l drinks at net 1000: excise 308.18 each, 616.36 -> 616 ; VAT 0.16 * (2000 + 616.36) = 418.6176
    lines = [line("a", "drink", 1000, 1, 1000), line("b", "drink", 1000, 1, 1000)]
    result = compute_taxes(lines, EXCL_DOC)
    assert result.total("excise").amount_minor == 616
    assert result.total("vat").amount_minor == 419
    per_line = compute_taxes(lines, EXCL)
    assert per_line.total("excise").amount_minor == 616
    assert per_line.total("vat").amount_minor == 2 * 209  # 0.16 * 1308 = 209.28 per line


def test_inclusive_per_document_keeps_net_plus_tax_equal_to_gross() -> None:
    lines = [line("a", "general", 333), line("b", "general", 333), line("c", "general", 334)]
    result = compute_taxes(lines, INCL_DOC)
    assert result.gross_minor == 1000
    assert result.tax_minor == 138  # 1000 * 0.16 / 1.16 = 137.93
    assert result.net_minor == 862
    for lt in result.lines:
        assert lt.net_minor + lt.tax_minor == lt.gross_minor


TEN_PERCENT = load_jurisdiction(
    TEXT.split("[taxes.excise]", maxsplit=1)[0]
    + '[taxes.t]\nname = "T"\nkind = "percentage"\nrate = "10%"\n[categories.general]\ntaxes = ["t"]\n'
)


@pytest.mark.parametrize(
    ("mode", "tax_on_25", "tax_on_35", "tax_on_21"),
    [
        (Rounding.HALF_UP, 3, 4, 2),
        (Rounding.HALF_EVEN, 2, 4, 2),
        (Rounding.DOWN, 2, 3, 2),
        (Rounding.UP, 3, 4, 3),
    ],
)
def test_the_jurisdictions_rounding_mode_decides_halves_and_fractions(
    mode: Rounding, tax_on_25: int, tax_on_35: int, tax_on_21: int
) -> None:
    jurisdiction = dataclasses.replace(TEN_PERCENT, rounding_mode=mode)
    taxes = [compute_taxes([line("a", "general", net)], jurisdiction).tax_minor for net in (25, 35, 21)]
    assert taxes == [tax_on_25, tax_on_35, tax_on_21]


# --- groups ---------------------------------------------------------------------------------------


def test_a_group_is_rounded_at_its_combined_rate_and_split_among_its_taxes() -> None:
    # 8.25% of 1000 = 82.5 -> 83 ; exact shares 62.5 and 20 ; the leftover unit goes to the larger fraction.
    (lt,) = compute_taxes([line("a", "us", 1000)], EXCL).lines
    state, city = lt.taxes
    assert lt.tax_minor == 83
    assert (state.amount_minor, city.amount_minor) == (63, 20)


def test_a_group_can_differ_from_rounding_each_member_alone() -> None:
    # Apart: 6.25% of 40 = 2.5 -> 3 and 2% of 40 = 0.8 -> 1, 4 in all; combined 8.25% of 40 = 3.3 -> 3.
    (lt,) = compute_taxes([line("a", "us", 40)], EXCL).lines
    assert lt.tax_minor == 3
    assert [t.amount_minor for t in lt.taxes] == [2, 1]


def test_a_group_is_rounded_once_per_document_under_per_document_rounding() -> None:
    lines = [line(str(i), "us", 40) for i in range(3)]  # combined 3.3 each -> 9.9 -> 10
    result = compute_taxes(lines, EXCL_DOC)
    assert result.tax_minor == 10
    assert result.total("state").amount_minor + result.total("city").amount_minor == 10
    assert compute_taxes(lines, EXCL).tax_minor == 9


# --- returns, determinism, bookkeeping ------------------------------------------------------------


@pytest.mark.parametrize("jurisdiction", [EXCL, INCL, EXCL_DOC, INCL_DOC])
def test_a_return_is_the_mirror_image_of_the_sale(jurisdiction: Jurisdiction) -> None:
    sale = [line("a", "drink", 2999, 2, 600), line("b", "general", 1234), line("c", "us", 40)]
    refund = [line(x.line_id, x.category, -x.amount_minor, -x.quantity, x.measure_per_unit_milli) for x in sale]
    sold, returned = compute_taxes(sale, jurisdiction), compute_taxes(refund, jurisdiction)
    assert (returned.net_minor, returned.tax_minor, returned.gross_minor) == (
        -sold.net_minor,
        -sold.tax_minor,
        -sold.gross_minor,
    )
    for a, b in zip(sold.lines, returned.lines, strict=True):
        assert [t.amount_minor for t in b.taxes] == [-t.amount_minor for t in a.taxes]


def test_an_empty_document_has_zero_totals() -> None:
    result = compute_taxes([], EXCL)
    assert (result.net_minor, result.tax_minor, result.gross_minor, result.lines, result.taxes) == (
        0,
        0,
        0,
        (),
        (),
    )
    assert result.currency == "MXN"
    assert result.jurisdiction_id == "demo"


def test_tax_totals_follow_the_jurisdictions_declaration_order() -> None:
    result = compute_taxes([line("a", "general", 100), line("b", "drink", 100, 1, 500), line("c", "book", 5)], EXCL)
    assert [t.tax_id for t in result.taxes] == ["excise", "vat"]


def test_lookups_by_unknown_id_raise_invalid_input() -> None:
    result = compute_taxes([line("a", "general", 100)], EXCL)
    with pytest.raises(InvalidInput):
        result.line("zz")
    with pytest.raises(InvalidInput):
        result.total("zz")
    with pytest.raises(InvalidInput):
        BASE.tax("zz")
    with pytest.raises(UnknownTaxCategory):
        BASE.category("zz")


# --- validation of lines --------------------------------------------------------------------------


def test_unknown_category_names_the_line_the_category_and_the_known_ones() -> None:
    with pytest.raises(UnknownTaxCategory) as info:
        compute_taxes([line("a", "general", 100), line("b", "beer", 100)], EXCL)
    err = info.value
    assert err.field == "lines[1].category"
    assert "'beer'" in err.problem
    assert "general, drink, snack" in err.problem
    assert err.code == "unknown_tax_category"


@pytest.mark.parametrize(
    ("bad", "field", "fragment"),
    [
        (TaxableLine("a", "general", 0, 100), "lines[0].quantity", "zero"),
        (TaxableLine("a", "general", 1, -100), "lines[0].amount_minor", "opposite sign"),
        (TaxableLine("a", "general", -1, 100), "lines[0].amount_minor", "opposite sign"),
        (TaxableLine("a", "general", 1, 1.5), "lines[0].amount_minor", "integer"),  # type: ignore[arg-type]
        (TaxableLine("a", "general", 1.0, 100), "lines[0].quantity", "integer"),  # type: ignore[arg-type]
        (TaxableLine("a", "general", 1, 100, -1), "lines[0].measure_per_unit_milli", "negative"),
        (TaxableLine("", "general", 1, 100), "lines[0].line_id", "non-empty"),
        (TaxableLine("a", "general", True, 100), "lines[0].quantity", "integer"),
    ],
)
def test_bad_lines_raise_invalid_input_naming_the_field(bad: TaxableLine, field: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        compute_taxes([bad], EXCL)
    assert info.value.field == field
    assert fragment in info.value.problem


def test_duplicate_line_ids_are_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        compute_taxes([line("a", "general", 1), line("a", "general", 2)], EXCL)
    assert info.value.field == "lines[1].line_id"


def test_lines_must_be_taxable_lines_in_a_sequence() -> None:
    with pytest.raises(InvalidInput) as info:
        compute_taxes([{"line_id": "a"}], EXCL)  # type: ignore[list-item]
    assert info.value.field == "lines[0]"
    with pytest.raises(InvalidInput):
        compute_taxes(line("a", "general", 1), EXCL)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        compute_taxes([], "demo")  # type: ignore[arg-type]


def test_documents_longer_than_the_bound_are_refused() -> None:
    lines = [line(str(i), "general", 1) for i in range(MAX_LINES + 1)]
    with pytest.raises(InvalidInput) as info:
        compute_taxes(lines, EXCL)
    assert info.value.field == "lines"
