"""The distributor's questions about members, baskets and levels (:mod:`hub.segments`), each as JSON or CSV
(``?format=csv``): products bought together, the KPI scorecard and levels by transactions per month.

Periods are store-local dates, both ends included (``date_from``, ``date_to``; by default the 30 days up to
today in the tenant's zone). Combinations and cross-selling are scoped by store like the sales (a retailer
sees its own stores' tickets); the member figures (returns, the loyal profile, look-alikes, seasons, levels)
are the tenant's, for distributor admins and analysts.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hub import db
from hub.segments import baskets, levels, scorecard
from hub.segments import saved as sg

from ..errors import ERROR_RESPONSES
from ..scope import ADMIN, READERS, SHOP_READERS, Scope, allow
from ..tabular import Format, rows_response

router = APIRouter(prefix="/analytics", tags=["analytics"], responses=ERROR_RESPONSES)
Reader = Annotated[Scope, Depends(allow(*READERS))]
ShopReader = Annotated[Scope, Depends(allow(*SHOP_READERS))]
Admin = Annotated[Scope, Depends(allow(*ADMIN))]
DEFAULT_DAYS = 30
FormatQ = Annotated[Format, Query(description="json or csv")]
DateFrom = Annotated[date | None, Query(description="first store-local day (default: 29 days before date_to)")]
DateTo = Annotated[date | None, Query(description="last store-local day (default: today in the tenant's zone)")]
Regions = Annotated[list[str], Query(max_length=100, description="only the stores of these regions")]
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


def _period(scope: Scope, date_from: date | None, date_to: date | None) -> tuple[date, date]:
    end = date_to or scope.now.astimezone(sg.tenant_zone(scope.conn, scope.tenant)).date()
    return (date_from or end - timedelta(days=DEFAULT_DAYS - 1)), end


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@router.get("/combinations", summary="Pairs or triples of items bought together", responses=CSV)
def combinations(
    scope: ShopReader,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    size: Annotated[int, Query(ge=2, le=3, description="2: pairs, 3: triples")] = 2,
    region: Regions = [],  # noqa: B006 (FastAPI reads the default, never mutates it)
    min_tickets: Annotated[int, Query(ge=1, le=1_000_000)] = 2,
    limit: Annotated[int, Query(ge=1, le=baskets.MAX_COMBINATIONS)] = 100,
    format: FormatQ = Format.JSON,
) -> Response:
    start, end = _period(scope, date_from, date_to)
    report = baskets.combinations(
        scope.conn,
        scope.tenant,
        date_from=start,
        date_to=end,
        size=size,
        regions=region,
        stores=scope.stores_clause(db.sale_line_fact.c.store),
        min_tickets=min_tickets,
        limit=limit,
    )
    rows = [
        {
            "items": " + ".join(c.items),
            "tickets": c.tickets,
            "support": c.support,
            "confidence": " / ".join(str(x) for x in c.confidence),
            "lift": c.lift,
        }
        for c in report.combinations
    ]
    body = _plain(asdict(report))
    body["max_basket_items"] = baskets.MAX_BASKET_ITEMS
    body["rows"] = rows
    return rows_response(format, body, "rows", ["items", "tickets", "support", "confidence", "lift"], "combinations")


@router.get("/scorecard/returns", summary="The share of the enrolled who came back 2, 3, 4 times", responses=CSV)
def returns(
    scope: Reader,
    party: Annotated[Literal["member", "retailer"], Query()] = "member",
    date_from: DateFrom = None,
    date_to: DateTo = None,
    format: FormatQ = Format.JSON,
) -> Response:
    start, end = _period(scope, date_from, date_to)
    r = scorecard.returns(scope.conn, scope.tenant, party=party, date_from=start, date_to=end)
    rows = [
        {"visits_at_least": k + 1, "count": r.came[k], "share": r.shares[k], "enrolled": r.enrolled} for k in range(4)
    ]
    body: dict[str, Any] = {
        "party": party,
        "date_from": start.isoformat(),
        "date_to": end.isoformat(),
        "enrolled": r.enrolled,
    }
    body["rows"] = rows
    return rows_response(format, body, "rows", ["visits_at_least", "count", "share", "enrolled"], "returns")


@router.get("/scorecard/loyal-profile", summary="The loyal members' profile against everyone's", responses=CSV)
def loyal_profile(
    scope: Reader,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    loyal_min_tickets: Annotated[int, Query(ge=1, le=100_000)] = 4,
    format: FormatQ = Format.JSON,
) -> Response:
    start, end = _period(scope, date_from, date_to)
    profile = scorecard.loyal_profile(
        scope.conn, scope.tenant, date_from=start, date_to=end, loyal_min_tickets=loyal_min_tickets
    )
    rows = [asdict(row) for rows in profile.values() for row in rows]
    body: dict[str, Any] = {
        "date_from": start.isoformat(),
        "date_to": end.isoformat(),
        "loyal_min_tickets": loyal_min_tickets,
    }
    body["rows"] = rows
    columns = ["dimension", "value", "loyal", "loyal_share", "everyone", "everyone_share"]
    return rows_response(format, body, "rows", columns, "loyal-profile")


@router.get(
    "/scorecard/lapsed-lookalikes",
    summary="Lapsed members who match the loyal members' profile: a campaign list",
    responses=CSV,
)
def lapsed_lookalikes(
    scope: Reader,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    lapsed_days: Annotated[int, Query(ge=1, le=3660)] = 60,
    loyal_min_tickets: Annotated[int, Query(ge=1, le=100_000)] = 4,
    limit: Annotated[int, Query(ge=1, le=scorecard.MAX_LIST)] = 1_000,
    format: FormatQ = Format.JSON,
) -> Response:
    start, end = _period(scope, date_from, date_to)
    wanted, found = scorecard.lapsed_lookalikes(
        scope.conn,
        scope.tenant,
        date_from=start,
        date_to=end,
        lapsed_days=lapsed_days,
        loyal_min_tickets=loyal_min_tickets,
        limit=limit,
    )
    body = {"profile": wanted, "members": [_plain(asdict(m)) for m in found]}
    return rows_response(format, body, "members", ["loyalty_id", "last_visit", "marketing_consent"], "lookalikes")


@router.get("/scorecard/seasons", summary="Returns by month and quarter; the season of most returns", responses=CSV)
def seasons(
    scope: Reader,
    party: Annotated[Literal["member", "retailer"], Query()] = "member",
    date_from: DateFrom = None,
    date_to: DateTo = None,
    format: FormatQ = Format.JSON,
) -> Response:
    start, end = _period(scope, date_from, date_to)
    body = scorecard.seasons(scope.conn, scope.tenant, party=party, date_from=start, date_to=end)
    return rows_response(format, body, "months", ["month", "returns"], "seasons")


@router.get("/scorecard/cross-selling", summary="Distinct categories per ticket, per store", responses=CSV)
def cross_selling(
    scope: ShopReader,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    format: FormatQ = Format.JSON,
) -> Response:
    start, end = _period(scope, date_from, date_to)
    stores = scorecard.cross_selling(
        scope.conn,
        scope.tenant,
        date_from=start,
        date_to=end,
        stores=scope.stores_clause(db.sale_line_fact.c.store),
    )
    body = {"date_from": start.isoformat(), "date_to": end.isoformat(), "stores": [asdict(s) for s in stores]}
    columns = ["store", "retailer", "region", "tickets", "ticket_categories", "categories_per_ticket"]
    return rows_response(format, body, "stores", columns, "cross-selling")


class SchemeIn(BaseModel):
    """Level 1 up to ``level1_max`` transactions a month, level 2 up to ``level2_max``, level 3 above
    ``level3_over``; in between, level 2."""

    level1_max: int = Field(ge=0, le=levels.MAX_THRESHOLD)
    level2_max: int = Field(ge=0, le=levels.MAX_THRESHOLD)
    level3_over: int = Field(ge=0, le=levels.MAX_THRESHOLD)


@router.get("/levels/scheme", response_model=SchemeIn, summary="The tenant's level thresholds")
def get_scheme(scope: Reader) -> SchemeIn:
    return SchemeIn(**asdict(levels.get_scheme(scope.conn, scope.tenant)))


@router.put("/levels/scheme", response_model=SchemeIn, summary="Set the tenant's level thresholds")
def put_scheme(body: SchemeIn, scope: Admin) -> SchemeIn:
    scheme = levels.LevelScheme(body.level1_max, body.level2_max, body.level3_over)
    return SchemeIn(**asdict(levels.set_scheme(scope.conn, scope.tenant, scheme, now=scope.now)))


@router.get("/levels", summary="Counts per level and the moves from the month before", responses=CSV)
def level_report(
    scope: Reader,
    party: Annotated[Literal["member", "retailer"], Query()] = "member",
    month: Annotated[date | None, Query(description="any day of the month (default: last complete month)")] = None,
    format: FormatQ = Format.JSON,
) -> Response:
    if month is None:
        today = scope.now.astimezone(sg.tenant_zone(scope.conn, scope.tenant)).date()
        month = levels.previous_month(levels.first_of_month(today))
    report = levels.level_report(scope.conn, scope.tenant, party, month)
    body = _plain(asdict(report))
    if format is Format.CSV:
        return rows_response(format, body, "moves", ["from_level", "to_level", "count"], "level-moves")
    return JSONResponse(body)
