"""Loading promotions from JSON: what is accepted, and errors that name the field and the problem."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

import pytest

from core.errors import InvalidInput
from core.promotions import (
    BuyGetDiscount,
    PercentOff,
    load_promotion_set,
    load_promotions,
    promotion_schema,
)


def valid(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "p1",
        "name": "10% off",
        "scope": {"kind": "ticket"},
        "effect": {"type": "percent_off", "percent": "10%"},
        "funding": {"distributor_bp": 10_000, "retailer_bp": 0},
    }
    data.update(fields)
    return data


def problem(data: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        load_promotions(json.dumps(data) if not isinstance(data, str) else data)
    return caught.value


def test_a_complete_promotion_loads_with_exact_rates_and_dates() -> None:
    (loaded,) = load_promotions(
        [
            valid(
                effect={"type": "buy_get_discount", "buy": 2, "get": 1, "percent": "0.25"},
                conditions={
                    "valid_from": "2026-03-01",
                    "valid_until": "2026-03-31",
                    "days_of_week": ["sat", "sun"],
                    "hours": [{"start": "09:00", "end": "14:00"}],
                    "event": {"kind": "birthday", "days_before": 7, "days_after": 7},
                    "min_spend_minor": 10_000,
                },
                currency="MXN",
                audience={"kind": "tiers", "ids": ["gold"]},
                limits={"max_uses_per_customer": 1},
                stacking="exclusive",
                priority=5,
            )
        ]
    )
    assert isinstance(loaded.effect, BuyGetDiscount)
    assert loaded.effect.percent == Fraction(1, 4)
    assert loaded.conditions.valid_from == date(2026, 3, 1)
    assert loaded.conditions.days_of_week[0].iso == 6


def test_an_object_with_a_promotions_list_is_accepted_too() -> None:
    assert len(load_promotions({"promotions": [valid(), valid(id="p2")]})) == 2


def test_rates_round_trip_as_decimal_strings() -> None:
    (loaded,) = load_promotions([valid(effect={"type": "percent_off", "percent": "12.5%"})])
    assert isinstance(loaded.effect, PercentOff)
    dumped = loaded.model_dump(mode="json")
    assert dumped["effect"]["percent"] == "0.125"
    assert load_promotions([dumped]) == (loaded,)


def test_date_times_keep_their_offset() -> None:
    (loaded,) = load_promotions([valid(conditions={"valid_from": "2026-03-01T09:00:00-06:00"})])
    assert loaded.conditions.valid_from == datetime(2026, 3, 1, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ([valid(effect={"type": "percent_off", "percent": 0.1})], "promotions.0.effect.percent", "decimal string"),
        ([valid(effect={"type": "percent_off", "percent": "150%"})], "promotions.0.effect.percent", "at most 100%"),
        ([valid(effect={"type": "percent_off", "percent": "diez"})], "promotions.0.effect.percent", "not a rate"),
        (
            [valid(effect={"type": "amount_off", "amount_minor": 12.5}, currency="MXN")],
            "promotions.0.effect.amount_minor",
            "integer",
        ),
        (
            [valid(effect={"type": "amount_off", "amount_minor": "500"}, currency="MXN")],
            "promotions.0.effect.amount_minor",
            "integer",
        ),
        ([valid(effect={"type": "amount_off", "amount_minor": 500})], "promotions.0.currency", "required"),
        ([valid(effect={"type": "free_lunch"})], "promotions.0.effect", "does not match"),
        ([valid(funding={"distributor_bp": 6000, "retailer_bp": 3000})], "promotions.0.funding.retailer_bp", "10000"),
        ([valid(scope={"kind": "ticket", "ids": ["x"]})], "promotions.0.scope.ids", "takes no ids"),
        ([valid(scope={"kind": "category"})], "promotions.0.scope.ids", "at least one id"),
        ([valid(scope={"kind": "aisle", "ids": ["x"]})], "promotions.0.scope.kind", "Input should be"),
        ([valid(colour="red")], "promotions.0.colour", "not a known field"),
        ([valid(name=None)], "promotions.0.name", "string"),
        ([{"id": "p1"}], "promotions.0.name", "required"),
        ([valid(), valid(id="p1")], "promotions.1.id", "repeats"),
        ([valid(id="has space")], "promotions.0.id", "pattern"),
        (
            [valid(conditions={"valid_from": "2026-03-10", "valid_until": "2026-03-01"})],
            "promotions.0.conditions.valid_until",
            "before valid_from",
        ),
        (
            [valid(conditions={"valid_from": "2026-03-10T10:00:00"})],
            "promotions.0.conditions.valid_from",
            "no UTC offset",
        ),
        (
            [valid(conditions={"valid_from": "2026-03-10", "valid_until": "2026-03-11T00:00:00Z"})],
            "promotions.0.conditions.valid_until",
            "the same way",
        ),
        (
            [valid(conditions={"hours": [{"start": "10:00", "end": "10:00"}]})],
            "promotions.0.conditions.hours.0.end",
            "differ",
        ),
        ([valid(conditions={"days_of_week": ["sat", "sat"]})], "promotions.0.conditions.days_of_week", "repeat"),
        (
            [valid(conditions={"event": {"kind": "birthday", "days_before": 400}})],
            "promotions.0.conditions.event.days_before",
            "less than or equal",
        ),
        (
            [valid(effect={"type": "buy_get_free", "buy": 0, "get": 1})],
            "promotions.0.effect.max_applications",
            "needs max_applications",
        ),
        (
            [valid(effect={"type": "points_multiplier", "multiplier": "1"})],
            "promotions.0.effect.multiplier",
            "more than 1",
        ),
        ([valid(audience={"kind": "tiers"})], "promotions.0.audience.ids", "at least one id"),
        ([valid(currency="XXX")], "promotions.0.currency", "ISO 4217"),
        ({"promotions": [], "extra": 1}, "extra", "not a known field"),
        ("[{", "promotions", "not valid JSON"),
        ('[{"percent": NaN}]', "promotions", "NaN"),
        ('"just a string"', "promotions", "list of promotions"),
    ],
)
def test_bad_promotions_name_the_field_and_the_problem(data: object, field: str, fragment: str) -> None:
    error = problem(data)
    assert error.field == field
    assert fragment in error.problem
    assert error.code == "invalid_input"


def test_several_problems_are_counted_in_the_message() -> None:
    error = problem([valid(name="", priority=-1)])
    assert error.field == "promotions.0.name"
    assert "and 1 more problem" in error.problem


def test_the_indexed_set_keeps_evaluation_order() -> None:
    book = load_promotion_set([valid(id="b", priority=2), valid(id="a", priority=2), valid(id="z", priority=1)])
    assert [p.id for p in book.promotions] == ["z", "a", "b"]
    assert len(book) == 3
    assert "a" in book
    assert book.get("missing") is None


def test_the_promotion_schema_describes_rates_as_strings() -> None:
    schema = promotion_schema()
    percent = schema["$defs"]["PercentOff"]["properties"]["percent"]
    assert percent["type"] == "string"
