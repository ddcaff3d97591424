"""The distributor's analytics (:mod:`hub.analytics`): live activity and feed, best sellers and margins,
seasons, top retailers and members with their trend, and the hour x weekday heatmap.

Every endpoint takes the same filter (``preset`` today/7d/30d/90d/month/quarter/year or ``custom`` with
``from`` and ``to``; ``region``, ``dc``, ``retailer``, ``store``, ``brand``, ``category``) and answers JSON,
or CSV with ``?format=csv`` (one row per line of the answer, nested figures flattened as ``today_tickets``).
A bad filter is a 400 naming the field. Scoped like the other routers: a retailer sees only its own stores
(another retailer's store or retailer id is refused as unknown).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import typing
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from hub.analytics import filters, questions

from ..errors import ERROR_RESPONSES
from ..scope import SHOP_READERS, Scope, allow

router = APIRouter(prefix="/analytics", tags=["analytics"], responses=ERROR_RESPONSES)
Reader = Annotated[Scope, Depends(allow(*SHOP_READERS))]
Format = Annotated[Literal["json", "csv"], Query(description="json (the default) or csv")]
Id = Annotated[str | None, Query(max_length=64)]


def the_filter(
    scope: Reader,
    preset: Annotated[str, Query(max_length=16, description=", ".join(filters.PRESETS))] = "30d",
    date_from: Annotated[date | None, Query(alias="from", description="first day (custom), YYYY-MM-DD")] = None,
    date_to: Annotated[date | None, Query(alias="to", description="last day, included (custom)")] = None,
    region: Id = None,
    dc: Id = None,
    retailer: Id = None,
    store: Id = None,
    brand: Id = None,
    category: Id = None,
) -> filters.Filter:
    """The caller's validated filter; "today" in the store's zone, else the tenant's."""
    return filters.make_filter(
        scope.conn,
        scope.tenant,
        now=scope.now,
        preset=preset,
        date_from=date_from,
        date_to=date_to,
        region=region,
        dc=dc,
        retailer=retailer,
        store=store,
        brand=brand,
        category=category,
        scope_retailer=scope.retailer,
    )


Flt = Annotated[filters.Filter, Depends(the_filter)]


def _flat(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flat(f"{prefix}_{key}" if prefix else key, inner)
    else:
        yield prefix, value.isoformat() if hasattr(value, "isoformat") else value


def _columns(cls: type, prefix: str = "") -> list[str]:
    """The CSV columns of dataclass ``cls``: its fields, nested dataclasses' flattened (``today_tickets``)."""
    hints = typing.get_type_hints(cls)
    out: list[str] = []
    for f in dataclasses.fields(cls):
        name = f"{prefix}_{f.name}" if prefix else f.name
        kind = hints[f.name]
        out += _columns(kind, name) if isinstance(kind, type) and dataclasses.is_dataclass(kind) else [name]
    return out


def _csv(rows: Iterable[dict[str, Any]], name: str, columns: list[str]) -> Response:
    flat = [dict(_flat("", row)) for row in rows]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _answer(answer: Any, rows: Iterable[Any], fmt: str, name: str, row_type: type) -> Any:
    if fmt == "csv":
        return _csv((dataclasses.asdict(r) for r in rows), name, _columns(row_type))
    return answer


@router.get("/activity", response_model=questions.Live, summary="Live activity: today against a week ago")
def activity(scope: Reader, flt: Flt, format: Format = "json") -> Any:
    """Per retailer and store: tickets, net amount, members identified, points earned and spent, today (in
    the filter's zone) and on the same weekday last week."""
    live = questions.live_activity(scope.conn, flt, now=scope.now)
    return _answer(live, live.rows, format, "activity", questions.ActivityRow)


@router.get("/feed", response_model=list[questions.FeedEvent], summary="The latest sales and refunds")
def feed(
    scope: Reader,
    flt: Flt,
    limit: Annotated[int, Query(ge=1, le=questions.FEED_MAX)] = 20,
    format: Format = "json",
) -> Any:
    """Newest first, within a day, at most ``limit``."""
    events = questions.live_feed(scope.conn, flt, now=scope.now, limit=limit)
    return _answer(events, events, format, "feed", questions.FeedEvent)


@router.get("/best-sellers", response_model=list[questions.Ranked], summary="Best sellers and best margins")
def best_sellers(
    scope: Reader,
    flt: Flt,
    by: Annotated[str, Query(description=", ".join(questions.BY_DIMENSIONS))] = "sku",
    order: Annotated[str, Query(description=", ".join(questions.ORDERS))] = "amount",
    limit: Annotated[int, Query(ge=1, le=questions.TOP_MAX)] = 20,
    format: Format = "json",
) -> Any:
    """Units, revenue, cost and margin per group ``by``, largest ``order`` first."""
    ranked = questions.best_sellers(scope.conn, flt, by=by, order=order, limit=limit)
    return _answer(ranked, ranked, format, f"best-sellers-by-{by}", questions.Ranked)


@router.get("/seasons", response_model=list[questions.SeasonRow], summary="Sales by season, year over year")
def seasons(
    scope: Reader,
    flt: Flt,
    by: Annotated[str, Query(description=", ".join(questions.SEASONS))] = "month",
    format: Format = "json",
) -> Any:
    """Per month, quarter, ISO week or year of the period, with the same season a year before."""
    rows = questions.seasons(scope.conn, flt, by=by)
    return _answer(rows, rows, format, f"seasons-by-{by}", questions.SeasonRow)


@router.get("/top-retailers", response_model=list[questions.TopRetailer], summary="Top retailers")
def top_retailers(
    scope: Reader,
    flt: Flt,
    limit: Annotated[int, Query(ge=1, le=questions.TOP_MAX)] = 10,
    format: Format = "json",
) -> Any:
    rows = questions.top_retailers(scope.conn, flt, limit=limit)
    return _answer(rows, rows, format, "top-retailers", questions.TopRetailer)


@router.get("/top-members", response_model=list[questions.TopMember], summary="Top members")
def top_members(
    scope: Reader,
    flt: Flt,
    limit: Annotated[int, Query(ge=1, le=questions.TOP_MAX)] = 10,
    format: Format = "json",
) -> Any:
    rows = questions.top_members(scope.conn, flt, limit=limit)
    return _answer(rows, rows, format, "top-members", questions.TopMember)


@router.get("/top-trend", response_model=questions.Trend, summary="The top N against the rest over the period")
def top_trend(
    scope: Reader,
    flt: Flt,
    of: Annotated[Literal["retailer", "member"], Query()] = "retailer",
    n: Annotated[int, Query(ge=1, le=questions.TREND_MAX)] = 5,
    format: Format = "json",
) -> Any:
    """The net amount per day, week or month of the top ``n`` and of the rest together."""
    trend = questions.top_trend(scope.conn, flt, of=of, n=n)
    if format == "csv":
        rows = [
            {"bucket": label, "key": s.key, "amount_minor": s.values[i], "currency": trend.currency}
            for s in trend.series
            for i, label in enumerate(trend.labels)
        ]
        rows += [
            {"bucket": label, "key": "(rest)", "amount_minor": trend.rest[i], "currency": trend.currency}
            for i, label in enumerate(trend.labels)
        ]
        return _csv(rows, f"top-trend-{of}", ["bucket", "key", "amount_minor", "currency"])
    return trend


@router.get("/heatmap", response_model=questions.Heatmap, summary="Tickets by weekday and hour")
def heatmap(scope: Reader, flt: Flt, format: Format = "json") -> Any:
    """``tickets[weekday - 1][hour]``, Monday first, in each store's zone."""
    heat = questions.heatmap(scope.conn, flt)
    if format == "csv":
        rows = [{"weekday": d + 1, "hour": h, "tickets": heat.tickets[d][h]} for d in range(7) for h in range(24)]
        return _csv(rows, "heatmap", ["weekday", "hour", "tickets"])
    return heat
