"""Tests for reading jurisdiction files: the format, its validation errors, and the shipped files."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from core.errors import InvalidInput
from core.money import Rounding
from core.tax import (
    InvalidJurisdiction,
    Pricing,
    RoundingScope,
    TaxKind,
    load_jurisdiction,
    shipped_jurisdiction,
    shipped_jurisdiction_ids,
)

HEADER = """
format_version = 1
id = "test"
name = "Test jurisdiction"
country = "MX"
currency = "MXN"
pricing = "exclusive"
rounding = "per_line"
rounding_mode = "half_up"
effective_from = 2026-01-01
"""

BODY = """
[taxes.ieps]
name = "IEPS cuota"
kind = "per_unit"
amount_minor = "308.18"
measure_unit = "litre"

[taxes.iva]
name = "IVA"
kind = "percentage"
rate = "16%"
compound = true

[categories.general]
taxes = ["iva"]

[categories.refresco]
description = "Sugared drink"
taxes = ["ieps", "iva"]

[categories.libro]
taxes = []
exempt_from = ["iva"]
"""


def error_for(text: str) -> InvalidJurisdiction:
    with pytest.raises(InvalidJurisdiction) as info:
        load_jurisdiction(text, source="test.toml")
    return info.value


def test_a_complete_file_loads_into_typed_values() -> None:
    j = load_jurisdiction(HEADER + 'region = "MX-CMX"\nsources = ["LIVA art. 1"]\n' + BODY, source="t.toml")
    assert j.jurisdiction_id == "test"
    assert j.country == "MX"
    assert j.region == "MX-CMX"
    assert j.currency == "MXN"
    assert j.pricing is Pricing.EXCLUSIVE
    assert j.rounding is RoundingScope.PER_LINE
    assert j.rounding_mode is Rounding.HALF_UP
    assert j.effective_from == dt.date(2026, 1, 1)
    assert j.effective_until is None
    assert j.sources == ("LIVA art. 1",)
    ieps, iva = j.taxes
    assert ieps.kind is TaxKind.PER_UNIT
    assert ieps.per_unit_minor == Fraction(30818, 100)
    assert ieps.measure_unit == "litre"
    assert iva.rate == Fraction(16, 100)
    assert iva.compound
    assert j.category("refresco").taxes == ("ieps", "iva")
    assert j.category("refresco").description == "Sugared drink"
    assert j.category("libro").exempt_from == ("iva",)
    assert j.category_ids() == ["general", "refresco", "libro"]


def test_errors_name_the_file_the_field_and_the_problem() -> None:
    err = error_for(HEADER + BODY.replace('rate = "16%"', 'rate = "sixteen"'))
    assert err.source == "test.toml"
    assert err.field == "taxes.iva.rate"
    assert "sixteen" in err.problem
    assert str(err).startswith("test.toml: taxes.iva.rate: ")
    assert err.code == "invalid_jurisdiction"
    assert isinstance(err, InvalidInput)


def test_invalid_toml_syntax_is_reported_with_the_parser_position() -> None:
    err = error_for(HEADER + "[taxes\n")
    assert "not valid TOML" in err.problem
    assert "line" in err.problem
    assert isinstance(err.__cause__, Exception)


@pytest.mark.parametrize(
    "key",
    [
        "format_version",
        "id",
        "name",
        "country",
        "currency",
        "pricing",
        "rounding",
        "rounding_mode",
        "effective_from",
    ],
)
def test_each_required_top_level_key_is_required(key: str) -> None:
    lines = [line for line in HEADER.splitlines() if not line.startswith(f"{key} =")]
    err = error_for("\n".join(lines) + BODY)
    assert err.field == key
    assert err.problem == "is required"


def test_missing_taxes_and_categories_tables_are_required() -> None:
    assert error_for(HEADER).field == "taxes"
    assert error_for(HEADER + "[taxes]\n").field == "categories"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (HEADER + "rouding = 'per_line'\n" + BODY, "rouding"),
        (HEADER + BODY.replace("compound = true", "compund = true"), "taxes.iva.compund"),
        (
            HEADER + BODY.replace('description = "Sugared drink"', 'descripton = "x"'),
            "categories.refresco.descripton",
        ),
    ],
)
def test_unknown_keys_are_errors_so_typos_are_never_silently_ignored(text: str, field: str) -> None:
    err = error_for(text)
    assert err.field == field
    assert "unknown key" in err.problem


@pytest.mark.parametrize(
    ("old", "new", "field", "fragment"),
    [
        ("format_version = 1", "format_version = 2", "format_version", "format_version = 1"),
        ("format_version = 1", "format_version = true", "format_version", "format_version = 1"),
        ('id = "test"', 'id = "Test Jurisdiction"', "id", "not a valid id"),
        ('country = "MX"', 'country = "MEX"', "country", "ISO 3166-1"),
        ('currency = "MXN"', 'currency = "XYZ"', "currency", "unknown currency"),
        ('pricing = "exclusive"', 'pricing = "gross"', "pricing", '"inclusive", "exclusive"'),
        ('rounding = "per_line"', 'rounding = "per_item"', "rounding", '"per_line", "per_document"'),
        ('rounding_mode = "half_up"', 'rounding_mode = "bankers"', "rounding_mode", '"half_even"'),
        ('rounding_mode = "half_up"', "rounding_mode = 1", "rounding_mode", "not an integer"),
        ("effective_from = 2026-01-01", 'effective_from = "2026-01-01"', "effective_from", "no quotes"),
        (
            "effective_from = 2026-01-01",
            "effective_from = 2026-01-01T00:00:00",
            "effective_from",
            "date-time",
        ),
        ('name = "Test jurisdiction"', 'name = ""', "name", "must not be empty"),
    ],
)
def test_top_level_values_are_validated(old: str, new: str, field: str, fragment: str) -> None:
    err = error_for(HEADER.replace(old, new) + BODY)
    assert err.field == field
    assert fragment in err.problem


def test_effective_until_must_be_a_date_not_before_effective_from() -> None:
    assert error_for(HEADER + "effective_until = 2025-12-31\n" + BODY).field == "effective_until"
    assert error_for(HEADER + 'effective_until = "2027-01-01"\n' + BODY).field == "effective_until"
    j = load_jurisdiction(HEADER + "effective_until = 2026-12-31\n" + BODY)
    assert j.in_force(dt.date(2026, 6, 1))
    assert not j.in_force(dt.date(2027, 1, 1))
    assert not j.in_force(dt.date(2025, 12, 31))


@pytest.mark.parametrize(
    ("old", "new", "field", "fragment"),
    [
        ('rate = "16%"', "rate = 0.16", "taxes.iva.rate", "quoted string"),
        ('rate = "16%"', "rate = 16", "taxes.iva.rate", "quoted string"),
        ('rate = "16%"', 'rate = "-16%"', "taxes.iva.rate", "not a rate"),
        ('rate = "16%"\n', "", "taxes.iva.rate", "is required"),
        ('kind = "percentage"', 'kind = "percent"', "taxes.iva.kind", '"per_unit"'),
        ("compound = true", 'compound = "yes"', "taxes.iva.compound", "true or false"),
        ('amount_minor = "308.18"', "amount_minor = 3.0818", "taxes.ieps.amount_minor", "quoted decimal"),
        ('amount_minor = "308.18"', "amount_minor = -5", "taxes.ieps.amount_minor", "negative"),
        ('amount_minor = "308.18"', 'amount_minor = "3%"', "taxes.ieps.amount_minor", "percentage"),
        ('amount_minor = "308.18"', 'amount_minor = "lots"', "taxes.ieps.amount_minor", "not an amount"),
        ('measure_unit = "litre"\n', "", "taxes.ieps.measure_unit", "is required"),
        ('measure_unit = "litre"', 'measure_unit = "litre"\nrate = "1%"', "taxes.ieps.rate", "percentage"),
        ("compound = true", "compound = true\namount_minor = 5", "taxes.iva.amount_minor", "per_unit"),
        ("[taxes.iva]", "[taxes.IVA]", "taxes.IVA", "not a valid id"),
        ('name = "IVA"', "name = 5", "taxes.iva.name", "must be a string"),
    ],
)
def test_tax_definitions_are_validated(old: str, new: str, field: str, fragment: str) -> None:
    err = error_for(HEADER + BODY.replace(old, new, 1))
    assert err.field == field
    assert fragment in err.problem


def test_an_integer_per_unit_amount_is_accepted() -> None:
    j = load_jurisdiction(HEADER + BODY.replace('amount_minor = "308.18"', "amount_minor = 150"))
    assert j.tax("ieps").per_unit_minor == Fraction(150)


@pytest.mark.parametrize(
    ("old", "new", "field", "fragment"),
    [
        ('taxes = ["iva"]', 'taxes = ["vat"]', "categories.general.taxes[0]", "no tax 'vat' is declared"),
        ('taxes = ["iva"]', 'taxes = ["iva", "iva"]', "categories.general.taxes[1]", "listed twice"),
        ('taxes = ["iva"]', 'taxes = "iva"', "categories.general.taxes", "must be a list"),
        ('taxes = ["iva"]\n', "", "categories.general.taxes", "is required"),
        ('exempt_from = ["iva"]', 'exempt_from = ["isr"]', "categories.libro.exempt_from[0]", "no tax 'isr'"),
        (
            'taxes = []\nexempt_from = ["iva"]',
            'taxes = ["iva"]\nexempt_from = ["iva"]',
            "categories.libro.exempt_from[0]",
            "not both",
        ),
        ("[categories.general]", "[categories.General]", "categories.General", "not a valid id"),
    ],
)
def test_category_definitions_are_validated(old: str, new: str, field: str, fragment: str) -> None:
    err = error_for(HEADER + BODY.replace(old, new, 1))
    assert err.field == field
    assert fragment in err.problem


def test_a_file_with_no_category_is_rejected() -> None:
    text = HEADER + BODY.split("[categories.general]", maxsplit=1)[0] + "[categories]\n"
    assert error_for(text).field == "categories"


GROUPED = """
[taxes.state]
name = "State"
kind = "percentage"
rate = "6.25%"
group = "sales"

[taxes.city]
name = "City"
kind = "percentage"
rate = "1%"
group = "sales"

[categories.general]
taxes = ["state", "city"]
"""


def test_a_group_is_declared_per_tax() -> None:
    j = load_jurisdiction(HEADER + GROUPED)
    assert j.tax("state").group == "sales"
    assert j.tax("state").rounding_unit == j.tax("city").rounding_unit


def test_a_category_must_bear_all_of_a_groups_taxes_or_none() -> None:
    err = error_for(HEADER + GROUPED.replace('taxes = ["state", "city"]', 'taxes = ["state"]'))
    assert err.field == "categories.general.taxes"
    assert "'city'" in err.problem


def test_only_plain_percentage_taxes_can_be_grouped() -> None:
    err = error_for(HEADER + GROUPED.replace('group = "sales"', 'group = "sales"\ncompound = true', 1))
    assert err.field == "taxes.state.group"


def test_oversized_text_is_refused_before_parsing() -> None:
    err = error_for(HEADER + "#" * 300_000)
    assert "longer than" in err.problem


def test_non_text_input_is_refused() -> None:
    with pytest.raises(InvalidJurisdiction):
        load_jurisdiction(b"format_version = 1")  # type: ignore[arg-type]


# --- shipped jurisdictions ------------------------------------------------------------------------


def test_every_shipped_jurisdiction_loads_and_is_named_after_its_file() -> None:
    ids = shipped_jurisdiction_ids()
    assert {
        "mx-general",
        "mx-frontera-norte",
        "cn-vat",
        "us-tx-el-paso",
        "ca-bc",
        "ca-on",
        "ca-qc",
        "es-iva",
    } <= set(ids)
    for jurisdiction_id in ids:
        j = shipped_jurisdiction(jurisdiction_id)
        assert j.jurisdiction_id == jurisdiction_id
        assert j.sources, f"{jurisdiction_id} cites no source for its rates"


def test_shipped_jurisdiction_is_loaded_once_and_shared() -> None:
    assert shipped_jurisdiction("ca-qc") is shipped_jurisdiction("ca-qc")


def test_unknown_shipped_jurisdiction_lists_the_shipped_ones() -> None:
    with pytest.raises(InvalidInput) as info:
        shipped_jurisdiction("mx-sur")
    assert info.value.code == "unknown_jurisdiction"
    assert "mx-general" in info.value.problem


def test_shipped_jurisdiction_ids_cannot_escape_the_package_folder() -> None:
    with pytest.raises(InvalidInput) as info:
        shipped_jurisdiction("../loader")
    assert info.value.field == "jurisdiction_id"
