"""Building blocks shared by the promotion, points, tier and pricing models.

* :class:`Model`: the base of every input and output model: frozen, unknown keys refused.
* Field types with the project's rules built in: integer amounts refuse floats, strings and booleans
  (``StrictInt``), rates are exact :class:`fractions.Fraction` values read from decimal strings ("0.16",
  "15%") and written back as decimal strings, identifiers are short and printable.
* :func:`validate_model` and :func:`validate_json`: the only way input enters a model here. A pydantic
  ``ValidationError`` becomes :class:`core.errors.InvalidInput` whose ``field`` is the dotted path of the
  offending value as the caller wrote it (``promotions.3.effect.percent``), discriminator tags removed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from fractions import Fraction
from functools import lru_cache
from typing import Annotated, Any, Final, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import ErrorDetails

from core.errors import InvalidInput
from core.money import format_rate, parse_rate

__all__ = [
    "MAX_AMOUNT_MINOR",
    "MAX_POINTS",
    "Identifier",
    "MinorAmount",
    "Model",
    "NonNegativeMinor",
    "Points",
    "PositiveInt",
    "Rate",
    "WhenBound",
    "rate",
    "validate_json",
    "validate_model",
]

# Bounds keep arithmetic and JSON sane: 10^15 minor units is ten trillion pesos, far above any ticket.
MAX_AMOUNT_MINOR: Final = 10**15
MAX_POINTS: Final = 10**12
MAX_COUNT: Final = 10**9

# Discriminator keys used by the tagged unions below; their tags appear in pydantic error paths and are
# dropped so the path names what the caller wrote.
_TAG_KEYS: Final = ("type", "kind")


class Model(BaseModel):
    """Base of every model in the pricing domain: immutable, unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


MinorAmount = Annotated[int, Field(strict=True, ge=-MAX_AMOUNT_MINOR, le=MAX_AMOUNT_MINOR)]
NonNegativeMinor = Annotated[int, Field(strict=True, ge=0, le=MAX_AMOUNT_MINOR)]
Points = Annotated[int, Field(strict=True, ge=0, le=MAX_POINTS)]
PositiveInt = Annotated[int, Field(strict=True, ge=1, le=MAX_COUNT)]
Identifier = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$"),
]


@lru_cache(maxsize=4096)
def rate(text: str) -> Fraction:
    """Parse a rate string already accepted by a model (cached: the same rates recur on every ticket)."""
    return parse_rate(text, "rate")


def _validate_rate(value: object) -> Fraction:
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        # Floats are refused on purpose: 0.1 has no exact binary value.
        raise ValueError('a rate is a decimal string such as "0.15" or "15%", not a number')  # noqa: TRY004 (pydantic reports only ValueError as a field error)
    try:
        return rate(value)
    except InvalidInput as exc:
        raise ValueError(exc.problem) from exc


Rate = Annotated[
    Fraction,
    PlainValidator(_validate_rate),
    PlainSerializer(format_rate, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*\d{1,12}(\.\d{1,12})?(\s*%)?\s*$",
            "description": 'exact decimal rate, "0.15" or "15%"',
        }
    ),
]


def _validate_when(value: object) -> datetime | date:
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            when = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{value!r} is neither a date (YYYY-MM-DD) nor a date-time with a UTC offset") from exc
    else:
        raise ValueError(f"must be a date or a date-time string, not {type(value).__name__}")  # noqa: TRY004 (pydantic reports only ValueError as a field error)
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{value!s} has no UTC offset; write one (Z or +HH:MM) or give a plain date")
    return when


WhenBound = Annotated[
    datetime | date,
    PlainValidator(_validate_when),
    PlainSerializer(lambda v: v.isoformat(), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "description": "a local date YYYY-MM-DD (store time zone) or an ISO 8601 date-time with offset",
        }
    ),
]


_M = TypeVar("_M", bound=BaseModel)


def _field_path(loc: Sequence[int | str], data: object, prefix: str) -> str:
    """Dotted path of ``loc`` in ``data``, without the tags pydantic inserts for tagged unions."""
    parts: list[str] = [prefix] if prefix else []
    node: object = data
    for element in loc:
        if isinstance(node, Mapping):
            if element in node:
                node = node[element]
                parts.append(str(element))
                continue
            if any(node.get(key) == element for key in _TAG_KEYS):
                continue
            parts.append(str(element))
            node = None
        elif isinstance(node, Sequence) and not isinstance(node, str) and isinstance(element, int):
            node = node[element] if 0 <= element < len(node) else None
            parts.append(str(element))
        else:
            parts.append(str(element))
            node = None
    return ".".join(parts)


def _problem(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "is not valid"))
    # pydantic prefixes messages of ValueErrors raised by validators; the field already says where.
    for noise in ("Value error, ", "Assertion failed, "):
        if message.startswith(noise):
            message = message[len(noise) :]
    if error.get("type") == "missing":
        return "is required"
    if error.get("type") == "extra_forbidden":
        return "is not a known field"
    return message


# Pydantic reports a container as too short or too long "after validation" when one of its items failed:
# a consequence of the item's problem, not a second problem.
_CONSEQUENCES: Final = frozenset({"too_short", "too_long"})


def _causes(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """The errors that are problems of their own: a container's length complaint caused by an item is dropped."""
    failed_inside = [tuple(e["loc"]) for e in errors]

    def consequence(error: ErrorDetails) -> bool:
        loc = tuple(error["loc"])
        return error["type"] in _CONSEQUENCES and any(
            len(other) > len(loc) and other[: len(loc)] == loc for other in failed_inside
        )

    return [e for e in errors if not consequence(e)]


def invalid_input(exc: ValidationError, data: object, prefix: str = "") -> InvalidInput:
    """The first problem of a pydantic ``ValidationError`` as an :class:`InvalidInput`."""
    errors = _causes(exc.errors(include_url=False))
    if not errors:
        return InvalidInput(prefix, "is not valid")
    first = errors[0]
    field = _field_path(first["loc"], data, prefix)
    problem = _problem(first)
    if len(errors) > 1:
        problem = f"{problem} (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return InvalidInput(field, problem)


def validate_model(model: type[_M], data: object, prefix: str = "") -> _M:
    """Validate plain data (as read from JSON) into ``model``; problems raise InvalidInput."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_input(exc, data, prefix) from exc


def validate_json(model: type[_M], text: str | bytes, prefix: str = "") -> _M:
    """Parse JSON text and validate it into ``model``; bad JSON or bad data raise InvalidInput."""
    return validate_model(model, load_json(text, prefix), prefix)


def load_json(text: str | bytes, field: str = "") -> Any:
    """Parse JSON text; malformed text raises InvalidInput naming where it broke."""

    def refuse_constant(name: str) -> Any:
        # NaN and Infinity are not JSON, and never a valid amount.
        raise InvalidInput(field, f"{name} is not valid JSON")

    try:
        return json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(field, f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(field, "is not UTF-8 text") from exc
