"""Reading promotions from JSON, with errors that name the offending field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter

from core.errors import InvalidInput
from core.promotions.base import load_json, validate_model
from core.promotions.engine import PromotionSet
from core.promotions.model import Promotion

__all__ = ["load_promotion", "load_promotion_set", "load_promotions", "promotion_schema"]

# A bound on one file: a distributor's whole active catalogue of promotions fits well below it.
MAX_PROMOTIONS = 100_000


def load_promotion(data: object, field: str = "promotion") -> Promotion:
    """One promotion from already-parsed JSON data."""
    return validate_model(Promotion, data, field)


def load_promotions(source: str | bytes | Sequence[object] | Mapping[str, object]) -> tuple[Promotion, ...]:
    """Promotions from JSON text or parsed data: a list, or an object with a ``promotions`` list.

    Every problem raises :class:`core.errors.InvalidInput` naming the field, e.g.
    ``promotions.2.effect.percent``. Ids must be unique.
    """
    data = load_json(source, "promotions") if isinstance(source, str | bytes) else source
    if isinstance(data, Mapping):
        unknown = sorted(set(data) - {"promotions"})
        if unknown:
            raise InvalidInput(unknown[0], "is not a known field (expected only 'promotions')")
        if "promotions" not in data:
            raise InvalidInput("promotions", "is required")
        data = data["promotions"]
    if isinstance(data, str | bytes) or not isinstance(data, Sequence):
        raise InvalidInput("promotions", "must be a list of promotions")
    if len(data) > MAX_PROMOTIONS:
        raise InvalidInput("promotions", f"has {len(data)} entries; at most {MAX_PROMOTIONS} are allowed")
    promotions = tuple(load_promotion(item, f"promotions.{i}") for i, item in enumerate(data))
    # Building the set checks that ids are unique.
    PromotionSet(promotions)
    return promotions


def load_promotion_set(source: str | bytes | Sequence[object] | Mapping[str, object]) -> PromotionSet:
    """:func:`load_promotions`, indexed for evaluation."""
    return PromotionSet(load_promotions(source))


def promotion_schema() -> dict[str, Any]:
    """The JSON schema of one promotion."""
    return TypeAdapter(Promotion).json_schema()
