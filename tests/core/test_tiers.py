"""Tier classification by points and by activity, the defaults, and scheme validation."""

from __future__ import annotations

from fractions import Fraction

import pytest

from core.errors import InvalidInput
from core.tiers import (
    DEFAULT_ACTIVITY_TIERS,
    DEFAULT_POINTS_TIERS,
    TierBasis,
    classify,
    load_tier_scheme,
)


@pytest.mark.parametrize(
    ("points", "tier_id", "next_id", "to_next"),
    [
        (0, None, "bronze", 500),
        (499, None, "bronze", 1),
        (500, "bronze", "silver", 500),
        (999, "bronze", "silver", 1),
        (1000, "silver", "gold", 1000),
        (2000, "gold", None, None),
        (1_000_000, "gold", None, None),
    ],
)
def test_default_points_tiers(points: int, tier_id: str | None, next_id: str | None, to_next: int | None) -> None:
    standing = classify(DEFAULT_POINTS_TIERS, points)
    assert (standing.tier.id if standing.tier else None) == tier_id
    assert (standing.next_tier.id if standing.next_tier else None) == next_id
    assert standing.to_next == to_next
    assert standing.basis is TierBasis.POINTS


@pytest.mark.parametrize(
    ("transactions", "tier_id"),
    [
        (0, "level_1"),
        (50, "level_1"),
        (51, "level_2"),
        (100, "level_2"),
        (101, "level_2"),
        (150, "level_2"),
        (151, "level_3"),
    ],
)
def test_default_activity_levels_keep_the_undefined_101_to_150_at_level_2(transactions: int, tier_id: str) -> None:
    standing = classify(DEFAULT_ACTIVITY_TIERS, transactions)
    assert standing.tier is not None
    assert standing.tier.id == tier_id


def test_a_program_can_move_the_gap_into_level_3() -> None:
    scheme = load_tier_scheme(
        {
            "basis": "activity",
            "tiers": [
                {"id": "level_1", "name": "Nivel 1", "min_value": 0},
                {"id": "level_2", "name": "Nivel 2", "min_value": 51},
                {"id": "level_3", "name": "Nivel 3", "min_value": 101, "earn_multiplier": "1.5"},
            ],
        }
    )
    standing = classify(scheme, 120)
    assert standing.tier is not None
    assert standing.tier.id == "level_3"
    assert standing.tier.earn_multiplier == Fraction(3, 2)


@pytest.mark.parametrize(
    ("tiers", "field", "fragment"),
    [
        ([], "tiers.tiers", "at least 1"),
        (
            [{"id": "a", "name": "A", "min_value": 10}, {"id": "b", "name": "B", "min_value": 10}],
            "tiers.tiers",
            "rise strictly",
        ),
        (
            [{"id": "a", "name": "A", "min_value": 10}, {"id": "a", "name": "A2", "min_value": 20}],
            "tiers.tiers",
            "unique",
        ),
        ([{"id": "a", "name": "A", "min_value": -1}], "tiers.tiers.0.min_value", "greater than or equal"),
        (
            [{"id": "a", "name": "A", "min_value": 0, "earn_multiplier": "0.5"}],
            "tiers.tiers.0.earn_multiplier",
            "at least 1",
        ),
    ],
)
def test_bad_schemes_name_the_field(tiers: list[dict[str, object]], field: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_tier_scheme({"basis": "points", "tiers": tiers})
    assert caught.value.field == field
    assert fragment in caught.value.problem


def test_a_scheme_loads_from_json_text() -> None:
    scheme = load_tier_scheme('{"basis": "points", "tiers": [{"id": "vip", "name": "VIP", "min_value": 5000}]}')
    assert classify(scheme, 4999).tier is None
    assert scheme.tier("vip") is not None


@pytest.mark.parametrize("value", [-1, True, "10"])
def test_the_measured_value_must_be_a_non_negative_integer(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        classify(DEFAULT_POINTS_TIERS, value, field="customer.tier_points")  # type: ignore[arg-type]
    assert caught.value.field == "customer.tier_points"
