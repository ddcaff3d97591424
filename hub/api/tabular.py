"""Answers as JSON or CSV: the same rows either way (``?format=csv``), so a figure on a page and in a
spreadsheet agree. A CSV cell never starts with a character a spreadsheet would read as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from fastapi.responses import JSONResponse, Response

__all__ = ["Format", "csv_response", "rows_response"]

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


class Format(StrEnum):
    """How an answer is written."""

    JSON = "json"
    CSV = "csv"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA):
        return "'" + text
    return text


def csv_response(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], filename: str) -> Response:
    """``rows`` as a CSV document with a header of ``columns``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def rows_response(
    fmt: Format, body: Mapping[str, Any], rows_key: str, columns: Sequence[str], filename: str
) -> Response:
    """``body`` as JSON, or its list ``body[rows_key]`` as CSV."""
    if fmt is Format.CSV:
        return csv_response(columns, body[rows_key], filename)
    return JSONResponse(body)
