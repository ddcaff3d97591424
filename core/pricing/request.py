"""Requests as documents: resolving the jurisdiction a request names, pricing it, and the JSON schemas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import InvalidInput
from core.pricing.engine import price
from core.pricing.model import InlineJurisdiction, PricedReceipt, PricingRequest
from core.promotions.base import load_json, validate_model
from core.promotions.engine import PromotionSet
from core.tax import Jurisdiction, load_jurisdiction, shipped_jurisdiction

__all__ = ["price_request", "resolve_jurisdiction", "schemas"]


def resolve_jurisdiction(reference: str | InlineJurisdiction) -> Jurisdiction:
    """The jurisdiction a request names: a shipped id, or an inline TOML file."""
    if isinstance(reference, InlineJurisdiction):
        try:
            return load_jurisdiction(reference.toml, source="request.jurisdiction.toml")
        except InvalidInput as exc:
            field = f"jurisdiction.toml.{exc.field}" if exc.field else "jurisdiction.toml"
            raise InvalidInput(field, exc.problem, code=exc.code) from exc
    try:
        return shipped_jurisdiction(reference)
    except InvalidInput as exc:
        raise InvalidInput("jurisdiction", exc.problem, code=exc.code) from exc


def price_request(request: PricingRequest | str | bytes | Mapping[str, Any]) -> PricedReceipt:
    """Price a request given as a model, JSON text or parsed JSON; bad input raises InvalidInput."""
    if isinstance(request, str | bytes):
        request = load_json(request)
    checked = validate_model(PricingRequest, request)
    return price(
        checked.basket,
        checked.customer,
        checked.program,
        PromotionSet(checked.promotions),
        resolve_jurisdiction(checked.jurisdiction),
        checked.now,
        usage=checked.usage,
        redeem_points=checked.redeem_points,
        explain_unmatched=checked.explain_unmatched,
    )


def schemas() -> dict[str, Any]:
    """The JSON schemas of the request and of the receipt."""
    return {
        "request": PricingRequest.model_json_schema(),
        "response": PricedReceipt.model_json_schema(mode="serialization"),
    }
