"""The worked example in docs/pricing.md is the real output of the pricing API for the request shown."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from core.pricing import price_request

DOC = Path(__file__).resolve().parents[2] / "docs" / "pricing.md"


def example(name: str) -> Any:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- pricing-example: {name} -->\s*```json\n(.*?)\n```", text, re.DOTALL)
    assert match is not None, f"docs/pricing.md has no {name} example"
    return json.loads(match.group(1))


def test_the_documented_receipt_is_what_the_documented_request_gives() -> None:
    receipt = price_request(example("request"))
    assert json.loads(receipt.model_dump_json()) == example("response")


def test_the_documented_example_shows_every_part_of_a_receipt() -> None:
    response = example("response")
    statuses = {p["status"] for p in response["promotions"]}
    assert statuses == {"applied", "skipped"}
    assert response["points"]["entries"]
    assert response["tier"]["tier_id"] == "silver"
    assert response["totals"]["points_tender_minor"] > 0
    assert {f["funder"] for d in response["discounts"] for f in d["funders"] if f["amount_minor"]} == {
        "distributor",
        "retailer",
    }
