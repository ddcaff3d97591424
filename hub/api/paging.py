"""Paging of list endpoints: ``limit`` and ``offset`` in, ``items`` and ``next_offset`` out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
from fastapi import Query
from pydantic import BaseModel
from sqlalchemy.engine import Connection

from .settings import OFFSET_MAX, PAGE_DEFAULT, PAGE_MAX

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list. ``next_offset`` is the ``offset`` of the next page, null on the last one."""

    items: list[T]
    limit: int
    offset: int
    next_offset: int | None


class PageParams(BaseModel):
    """The page a caller asked for."""

    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX, description=f"rows per page, at most {PAGE_MAX}")] = PAGE_DEFAULT,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX, description="rows to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


def fetch_page(conn: Connection, stmt: sa.Select[Any], params: PageParams, convert: Callable[[Any], T]) -> Page[T]:
    """Run ``stmt`` (already ordered) for one page; one extra row tells whether another page follows."""
    rows: Sequence[Any] = conn.execute(stmt.limit(params.limit + 1).offset(params.offset)).all()
    more = len(rows) > params.limit
    return Page[T](
        items=[convert(r) for r in rows[: params.limit]],
        limit=params.limit,
        offset=params.offset,
        next_offset=params.offset + params.limit if more else None,
    )
