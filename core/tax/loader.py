"""Reading and validating jurisdiction files (TOML), and the jurisdictions shipped with Mostrador.

A jurisdiction file is written by a distributor's administrator; its format is documented in
``docs/taxes.md``. Every problem is reported as :class:`~core.tax.model.InvalidJurisdiction` naming the file,
the dotted path of the offending field (``taxes.iva.rate``) and what is wrong with it. Unknown keys are errors
too: a misspelt ``compund = true`` silently ignored would be a wrong price.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
from collections.abc import Mapping
from fractions import Fraction
from importlib import resources
from typing import Any, Final, TypeVar

from core.errors import InvalidInput, UnknownCurrency
from core.money import Rounding, currency, parse_rate
from core.tax.model import (
    Category,
    InvalidJurisdiction,
    Jurisdiction,
    Pricing,
    RoundingScope,
    Tax,
    TaxKind,
)

__all__ = [
    "FORMAT_VERSION",
    "MAX_CATEGORIES",
    "MAX_JURISDICTION_TEXT_CHARS",
    "MAX_TAXES",
    "load_jurisdiction",
    "shipped_jurisdiction",
    "shipped_jurisdiction_ids",
]

FORMAT_VERSION: Final = 1
# Bounds on what a file may declare; real jurisdictions use a handful of taxes and a few dozen categories.
MAX_JURISDICTION_TEXT_CHARS: Final = 256_000
MAX_TAXES: Final = 64
MAX_CATEGORIES: Final = 2_000
MAX_TEXT_FIELD_CHARS: Final = 500

_ID_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_COUNTRY_RE: Final = re.compile(r"[A-Z]{2}")
_SHIPPED_PACKAGE: Final = "core.tax.jurisdictions"

_TOP_REQUIRED: Final = (
    "format_version",
    "id",
    "name",
    "country",
    "currency",
    "pricing",
    "rounding",
    "rounding_mode",
    "effective_from",
    "taxes",
    "categories",
)
_TOP_OPTIONAL: Final = ("region", "sources", "effective_until")
_TAX_KEYS: Final = ("name", "kind", "rate", "amount_minor", "measure_unit", "compound", "note", "group")
_CATEGORY_KEYS: Final = ("taxes", "exempt_from", "description")

_E = TypeVar("_E", Pricing, RoundingScope, Rounding, TaxKind)


class _Reader:
    """Typed access to parsed TOML that raises InvalidJurisdiction with the file and dotted field path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field: str, problem: str) -> InvalidJurisdiction:
        return InvalidJurisdiction(self.source, field, problem)

    def check_keys(
        self, table: Mapping[str, Any], path: str, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> None:
        prefix = f"{path}." if path else ""
        allowed = set(required) | set(optional)
        for key in table:
            if key not in allowed:
                raise self.fail(f"{prefix}{key}", f"unknown key; allowed keys here: {', '.join(sorted(allowed))}")
        for key in required:
            if key not in table:
                raise self.fail(f"{prefix}{key}", "is required")

    def table(self, value: object, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field, f"must be a table, not {_toml_type(value)}")
        return value

    def text(self, value: object, field: str, *, allow_empty: bool = False) -> str:
        if not isinstance(value, str):
            raise self.fail(field, f"must be a string, not {_toml_type(value)}")
        if not allow_empty and not value.strip():
            raise self.fail(field, "must not be empty")
        if len(value) > MAX_TEXT_FIELD_CHARS:
            raise self.fail(field, f"is longer than {MAX_TEXT_FIELD_CHARS} characters")
        return value

    def ident(self, value: object, field: str) -> str:
        text = self.text(value, field)
        if not _ID_RE.fullmatch(text):
            raise self.fail(
                field,
                f"{text!r} is not a valid id: use 1 to 64 lowercase letters, digits, '_' or '-', "
                "starting with a letter or digit",
            )
        return text

    def boolean(self, value: object, field: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(field, f"must be true or false, not {_toml_type(value)}")
        return value

    def choice(self, value: object, field: str, enum_type: type[_E]) -> _E:
        allowed = ", ".join(f'"{member.value}"' for member in enum_type)
        if not isinstance(value, str):
            raise self.fail(field, f"must be one of {allowed}, not {_toml_type(value)}")
        try:
            return enum_type(value)
        except ValueError:
            raise self.fail(field, f"{value!r} is not one of {allowed}") from None

    def id_list(self, value: object, field: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(field, f"must be a list of tax ids, not {_toml_type(value)}")
        ids = tuple(self.ident(item, f"{field}[{i}]") for i, item in enumerate(value))
        for i, item in enumerate(ids):
            if item in ids[:i]:
                raise self.fail(f"{field}[{i}]", f"{item!r} is listed twice")
        return ids


def _toml_type(value: object) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
        dt.datetime: "a date-time",
        dt.date: "a date",
        dt.time: "a time",
    }
    return names.get(type(value), type(value).__name__)


def load_jurisdiction(text: str, *, source: str = "<string>") -> Jurisdiction:
    """Parse and validate a jurisdiction file's text; ``source`` names the file in error messages."""
    reader = _Reader(source)
    if not isinstance(text, str):
        raise reader.fail("", f"the jurisdiction must be given as text, not {type(text).__name__}")
    if len(text) > MAX_JURISDICTION_TEXT_CHARS:
        raise reader.fail("", f"the file is longer than {MAX_JURISDICTION_TEXT_CHARS} characters")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise reader.fail("", f"not valid TOML: {exc}") from exc
    reader.check_keys(data, "", _TOP_REQUIRED, _TOP_OPTIONAL)

    version = data["format_version"]
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise reader.fail(
            "format_version",
            f"this version of Mostrador reads format_version = {FORMAT_VERSION}, got {version!r}",
        )
    jurisdiction_id = reader.ident(data["id"], "id")
    name = reader.text(data["name"], "name")
    country = reader.text(data["country"], "country")
    if not _COUNTRY_RE.fullmatch(country):
        raise reader.fail("country", f'{country!r} is not an ISO 3166-1 alpha-2 code such as "MX"')
    region = reader.text(data.get("region", ""), "region", allow_empty=True)
    currency_code = reader.text(data["currency"], "currency")
    try:
        currency(currency_code)
    except UnknownCurrency as exc:
        raise reader.fail("currency", exc.message) from exc
    pricing = reader.choice(data["pricing"], "pricing", Pricing)
    rounding = reader.choice(data["rounding"], "rounding", RoundingScope)
    rounding_mode = reader.choice(data["rounding_mode"], "rounding_mode", Rounding)
    effective_from = data["effective_from"]
    if type(effective_from) is not dt.date:
        raise reader.fail(
            "effective_from",
            f"must be a date written as 2025-01-01 (no quotes), not {_toml_type(effective_from)}",
        )
    effective_until = data.get("effective_until")
    if effective_until is not None:
        if type(effective_until) is not dt.date:
            raise reader.fail(
                "effective_until",
                f"must be a date written as 2025-12-31 (no quotes), not {_toml_type(effective_until)}",
            )
        if effective_until < effective_from:
            raise reader.fail("effective_until", f"{effective_until} is before effective_from {effective_from}")
    raw_sources = data.get("sources", [])
    if not isinstance(raw_sources, list):
        raise reader.fail("sources", f"must be a list of strings, not {_toml_type(raw_sources)}")
    sources = tuple(reader.text(s, f"sources[{i}]") for i, s in enumerate(raw_sources))

    taxes = _read_taxes(reader, data["taxes"])
    categories = _read_categories(reader, data["categories"], {t.tax_id: t for t in taxes})
    return Jurisdiction(
        jurisdiction_id=jurisdiction_id,
        name=name,
        country=country,
        region=region,
        currency=currency_code,
        pricing=pricing,
        rounding=rounding,
        rounding_mode=rounding_mode,
        effective_from=effective_from,
        taxes=taxes,
        categories=categories,
        sources=sources,
        effective_until=effective_until,
    )


def _read_taxes(reader: _Reader, raw: object) -> tuple[Tax, ...]:
    table = reader.table(raw, "taxes")
    if len(table) > MAX_TAXES:
        raise reader.fail("taxes", f"declares {len(table)} taxes; at most {MAX_TAXES} are allowed")
    taxes: list[Tax] = []
    for tax_id, raw_body in table.items():
        path = f"taxes.{tax_id}"
        reader.ident(tax_id, path)
        body = reader.table(raw_body, path)
        reader.check_keys(body, path, ("name", "kind"), tuple(k for k in _TAX_KEYS if k not in ("name", "kind")))
        name = reader.text(body["name"], f"{path}.name")
        kind = reader.choice(body["kind"], f"{path}.kind", TaxKind)
        compound = reader.boolean(body.get("compound", False), f"{path}.compound")
        note = reader.text(body.get("note", ""), f"{path}.note", allow_empty=True)
        group = reader.ident(body["group"], f"{path}.group") if "group" in body else ""
        if group and (kind is not TaxKind.PERCENTAGE or compound):
            raise reader.fail(f"{path}.group", "only non-compound percentage taxes can be rounded together as a group")
        if kind is TaxKind.PERCENTAGE:
            for key in ("amount_minor", "measure_unit"):
                if key in body:
                    raise reader.fail(f"{path}.{key}", 'belongs to kind = "per_unit" taxes; a percentage has rate')
            if "rate" not in body:
                raise reader.fail(f"{path}.rate", 'is required for kind = "percentage" (e.g. rate = "16%")')
            rate = _parse(reader, body["rate"], f"{path}.rate")
            taxes.append(Tax(tax_id, name, kind, rate=rate, compound=compound, note=note, group=group))
        else:
            if "rate" in body:
                raise reader.fail(f"{path}.rate", 'belongs to kind = "percentage"; a per-unit tax has amount_minor')
            for key in ("amount_minor", "measure_unit"):
                if key not in body:
                    raise reader.fail(f"{path}.{key}", 'is required for kind = "per_unit"')
            per_unit = _per_unit_amount(reader, body["amount_minor"], f"{path}.amount_minor")
            unit = reader.text(body["measure_unit"], f"{path}.measure_unit")
            taxes.append(
                Tax(
                    tax_id,
                    name,
                    kind,
                    per_unit_minor=per_unit,
                    measure_unit=unit,
                    compound=compound,
                    note=note,
                )
            )
    return tuple(taxes)


def _parse(reader: _Reader, value: object, field: str) -> Fraction:
    if isinstance(value, float | int) and not isinstance(value, bool):
        # TOML floats are binary: 0.16 would not be 16/100 exactly. Insist on the written decimal.
        raise reader.fail(field, f'write the rate as a quoted string such as "16%" or "0.16", not {value!r}')
    try:
        return parse_rate(value, field)  # type: ignore[arg-type]
    except InvalidInput as exc:
        raise reader.fail(field, exc.problem) from exc


def _per_unit_amount(reader: _Reader, value: object, field: str) -> Fraction:
    if isinstance(value, bool | float):
        raise reader.fail(
            field, f'must be an integer or a quoted decimal of minor units such as "164.51", not {value!r}'
        )
    if isinstance(value, int):
        if value < 0:
            raise reader.fail(field, f"must not be negative, got {value}")
        return Fraction(value)
    if isinstance(value, str) and "%" in value:
        raise reader.fail(field, f"{value!r} is a percentage; a per-unit amount is minor units per measure unit")
    try:
        return parse_rate(value, field)  # type: ignore[arg-type]
    except InvalidInput as exc:
        raise reader.fail(field, f'{value!r} is not an amount of minor units such as 150 or "164.51"') from exc


def _read_categories(reader: _Reader, raw: object, taxes: Mapping[str, Tax]) -> tuple[Category, ...]:
    table = reader.table(raw, "categories")
    if not table:
        raise reader.fail("categories", "declares no category; every item needs one")
    if len(table) > MAX_CATEGORIES:
        raise reader.fail("categories", f"declares {len(table)} categories; at most {MAX_CATEGORIES} are allowed")
    known = ", ".join(taxes) or "(none declared)"
    categories: list[Category] = []
    for category_id, raw_body in table.items():
        path = f"categories.{category_id}"
        reader.ident(category_id, path)
        body = reader.table(raw_body, path)
        reader.check_keys(body, path, ("taxes",), ("exempt_from", "description"))
        applied = reader.id_list(body["taxes"], f"{path}.taxes")
        exempt = reader.id_list(body.get("exempt_from", []), f"{path}.exempt_from")
        for key, ids in (("taxes", applied), ("exempt_from", exempt)):
            for i, tax_id in enumerate(ids):
                if tax_id not in taxes:
                    raise reader.fail(f"{path}.{key}[{i}]", f"no tax {tax_id!r} is declared; declared taxes: {known}")
        for i, tax_id in enumerate(exempt):
            if tax_id in applied:
                raise reader.fail(
                    f"{path}.exempt_from[{i}]",
                    f"{tax_id!r} is also in taxes; a category bears a tax or is exempt from it, not both",
                )
        for tax_id in applied:
            group = taxes[tax_id].group
            members = [t.tax_id for t in taxes.values() if group and t.group == group]
            missing = [m for m in members if m not in applied]
            if missing:
                raise reader.fail(
                    f"{path}.taxes",
                    f"lists {tax_id!r} of group {group!r} but not {', '.join(repr(m) for m in missing)}; "
                    "a group is rounded as one rate, so a category bears all of its taxes or none",
                )
        description = reader.text(body.get("description", ""), f"{path}.description", allow_empty=True)
        categories.append(Category(category_id, applied, exempt, description))
    return tuple(categories)


def shipped_jurisdiction_ids() -> list[str]:
    """The ids of the jurisdictions shipped in ``core/tax/jurisdictions``, sorted."""
    folder = resources.files(_SHIPPED_PACKAGE)
    return sorted(entry.name.removesuffix(".toml") for entry in folder.iterdir() if entry.name.endswith(".toml"))


def shipped_jurisdiction(jurisdiction_id: str) -> Jurisdiction:
    """A jurisdiction shipped with Mostrador, by id (see :func:`shipped_jurisdiction_ids`)."""
    if not isinstance(jurisdiction_id, str) or not _ID_RE.fullmatch(jurisdiction_id):
        raise InvalidInput("jurisdiction_id", f"{jurisdiction_id!r} is not a jurisdiction id")
    shipped = shipped_jurisdiction_ids()
    if jurisdiction_id not in shipped:
        raise InvalidInput(
            "jurisdiction_id",
            f"no shipped jurisdiction {jurisdiction_id!r}; shipped: {', '.join(shipped)}",
            code="unknown_jurisdiction",
        )
    return _load_shipped(jurisdiction_id)


@functools.cache
def _load_shipped(jurisdiction_id: str) -> Jurisdiction:
    # Shipped files never change at run time and a Jurisdiction is immutable, so one parse is shared.
    name = f"{jurisdiction_id}.toml"
    text = resources.files(_SHIPPED_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    jurisdiction = load_jurisdiction(text, source=f"core/tax/jurisdictions/{name}")
    if jurisdiction.jurisdiction_id != jurisdiction_id:
        raise InvalidJurisdiction(
            name, "id", f"is {jurisdiction.jurisdiction_id!r} but the file is named after {jurisdiction_id!r}"
        )
    return jurisdiction
