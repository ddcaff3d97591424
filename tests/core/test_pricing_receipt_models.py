"""A receipt built by the pricing engine is exactly the model that validating its data would give.

The engine builds the receipt's models from values it computed itself, without validating them again; these
tests validate every receipt's data afresh and compare the two down to types, set fields and field order.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from pydantic import BaseModel

from bench import bench_pricing
from core.pricing import Basket, Customer, PricedReceipt, price
from core.promotions import Promotion
from tests.core.test_pricing_properties import SETTINGS, run, scenarios


def assert_same(built: Any, validated: Any, path: str = "receipt") -> None:
    assert type(built) is type(validated), path
    if isinstance(built, BaseModel):
        assert built.model_fields_set == validated.model_fields_set, path
        assert list(vars(built)) == list(vars(validated)), path
        assert built.__pydantic_extra__ == validated.__pydantic_extra__, path
        assert built.__pydantic_private__ == validated.__pydantic_private__, path
        for name, value in vars(built).items():
            assert_same(value, vars(validated)[name], f"{path}.{name}")
    elif isinstance(built, tuple | list):
        assert len(built) == len(validated), path
        for n, (a, b) in enumerate(zip(built, validated, strict=True)):
            assert_same(a, b, f"{path}.{n}")
    else:
        assert built == validated, path


def assert_valid_receipt(receipt: PricedReceipt) -> None:
    validated = PricedReceipt.model_validate(receipt.model_dump(exclude_unset=True))
    assert_same(receipt, validated)
    assert receipt == validated
    assert repr(receipt) == repr(validated)
    assert receipt.model_dump_json() == validated.model_dump_json()


@SETTINGS
@given(scenarios())
def test_every_receipt_is_what_validation_builds(
    scenario: tuple[str, Basket, list[Promotion], Customer | None, int],
) -> None:
    assert_valid_receipt(run(*scenario))


def test_the_benchmark_receipt_is_what_validation_builds() -> None:
    rng = random.Random(bench_pricing.SEED)
    basket = bench_pricing.basket(rng)
    book = bench_pricing.catalogue(rng, 300, basket)
    receipt = price(
        basket,
        Customer(customer_id="c-1", tier_points=1500, points_balance=3000),
        bench_pricing._program(),
        book,
        bench_pricing.jurisdiction(),
        bench_pricing.NOW,
        explain_unmatched=True,
    )
    assert receipt.discounts
    assert {p.status for p in receipt.promotions} == {"applied", "skipped"}
    assert_valid_receipt(receipt)


def test_copying_a_receipt_model_with_changes_leaves_the_others_alone() -> None:
    rng = random.Random(bench_pricing.SEED)
    basket = bench_pricing.basket(rng)
    receipt = price(
        basket,
        None,
        None,
        bench_pricing.catalogue(rng, 50, basket),
        bench_pricing.jurisdiction(),
        bench_pricing.NOW,
        explain_unmatched=True,
    )
    skipped = [p for p in receipt.promotions if p.status == "skipped"]
    before = [set(p.model_fields_set) for p in skipped]
    changed = skipped[0].model_copy(update={"points": 5})
    assert "points" in changed.model_fields_set
    assert [set(p.model_fields_set) for p in skipped] == before
    assert "points" not in skipped[1].model_fields_set
