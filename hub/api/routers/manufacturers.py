"""Manufacturers (:mod:`hub.segments.manufacturers`): the brands a distributor grants each, and the
sell-out of the granted brands.

A distributor admin grants and revokes brands; admins and analysts read the grants and any manufacturer's
sell-out. A manufacturer user reads ``GET /manufacturers/me/sell-out`` only, for its own manufacturer and
its granted brands: units and revenue by region, store, brand, item, day or month. No answer of this router
carries a consumer's name, phone or loyalty id.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import BaseModel

from hub.segments import manufacturers as mf
from hub.segments import saved as sg

from ..accounts import Role
from ..errors import ERROR_RESPONSES, NotFound
from ..scope import ADMIN, READERS, Scope, allow
from ..tabular import Format, rows_response

router = APIRouter(prefix="/manufacturers", tags=["manufacturers"], responses=ERROR_RESPONSES)
Reader = Annotated[Scope, Depends(allow(*READERS))]
Admin = Annotated[Scope, Depends(allow(*ADMIN))]
Maker = Annotated[Scope, Depends(allow(Role.MANUFACTURER))]
ManufacturerId = Annotated[str, Path(min_length=1, max_length=64)]
BrandId = Annotated[str, Path(min_length=1, max_length=64)]


class GrantOut(BaseModel):
    """A brand granted to a manufacturer, when and by whom."""

    manufacturer: str
    brand: str
    granted_at: datetime
    granted_by: str


@router.get("/{manufacturer}/grants", response_model=list[GrantOut], summary="The brands granted")
def list_grants(manufacturer: ManufacturerId, scope: Reader) -> list[GrantOut]:
    mf.check_manufacturer(scope.conn, scope.tenant, manufacturer)
    return [GrantOut(**asdict(g)) for g in mf.grants(scope.conn, scope.tenant, manufacturer)]


@router.put("/{manufacturer}/grants/{brand}", response_model=GrantOut, summary="Let it see a brand's sell-out")
def put_grant(manufacturer: ManufacturerId, brand: BrandId, scope: Admin) -> GrantOut:
    g = mf.grant(scope.conn, scope.tenant, manufacturer, brand, by=scope.user.email, now=scope.now)
    return GrantOut(**asdict(g))


@router.delete(
    "/{manufacturer}/grants/{brand}", status_code=status.HTTP_204_NO_CONTENT, summary="Withdraw a brand grant"
)
def delete_grant(manufacturer: ManufacturerId, brand: BrandId, scope: Admin) -> Response:
    mf.check_manufacturer(scope.conn, scope.tenant, manufacturer)
    if not mf.revoke(scope.conn, scope.tenant, manufacturer, brand):
        raise NotFound(f"{manufacturer!r} has no grant of {brand!r}", code="grant_not_found", field="brand")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _answer(
    scope: Scope,
    manufacturer: str,
    date_from: date | None,
    date_to: date | None,
    group_by: list[str],
    region: list[str],
    fmt: Format,
) -> Response:
    mf.check_manufacturer(scope.conn, scope.tenant, manufacturer)
    end = date_to or scope.now.astimezone(sg.tenant_zone(scope.conn, scope.tenant)).date()
    start = date_from or end - timedelta(days=29)
    groups = tuple(group_by or ["brand"])
    rows = mf.sell_out(
        scope.conn,
        scope.tenant,
        manufacturer,
        date_from=start,
        date_to=end,
        group_by=groups,  # type: ignore[arg-type]
        regions=tuple(region),
    )
    flat = [{**r.key, "currency": r.currency, "units": r.units, "revenue_minor": r.revenue_minor} for r in rows]
    body = {
        "manufacturer": manufacturer,
        "brands": mf.granted_brands(scope.conn, scope.tenant, manufacturer),
        "date_from": start.isoformat(),
        "date_to": end.isoformat(),
        "group_by": list(groups),
        "rows": flat,
    }
    return rows_response(fmt, body, "rows", [*groups, "currency", "units", "revenue_minor"], "sell-out")


GroupQ = Annotated[list[str], Query(max_length=6, description=f"any of {', '.join(mf.GROUPS)} (default brand)")]
RegionQ = Annotated[list[str], Query(max_length=100)]
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


@router.get("/me/sell-out", summary="Your granted brands' sell-out (manufacturer users)", responses=CSV)
def my_sell_out(
    scope: Maker,
    date_from: Annotated[date | None, Query()] = None,
    date_to: Annotated[date | None, Query()] = None,
    group_by: GroupQ = [],  # noqa: B006 (FastAPI reads the default, never mutates it)
    region: RegionQ = [],  # noqa: B006
    format: Annotated[Format, Query()] = Format.JSON,
) -> Response:
    assert scope.manufacturer is not None  # the role requires it (database check)
    return _answer(scope, scope.manufacturer, date_from, date_to, group_by, region, format)


@router.get("/{manufacturer}/sell-out", summary="A manufacturer's granted brands' sell-out", responses=CSV)
def sell_out(
    manufacturer: ManufacturerId,
    scope: Reader,
    date_from: Annotated[date | None, Query()] = None,
    date_to: Annotated[date | None, Query()] = None,
    group_by: GroupQ = [],  # noqa: B006
    region: RegionQ = [],  # noqa: B006
    format: Annotated[Format, Query()] = Format.JSON,
) -> Response:
    return _answer(scope, manufacturer, date_from, date_to, group_by, region, format)
