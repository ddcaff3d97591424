"""Promotions (:mod:`hub.programs.promotions`): define (validated with core), list, read, withdraw, preview against
the last days of sales, and publish to the boxes of the stores concerned.

A distributor admin manages every promotion of the tenant. A retailer manages its own: a promotion it
defines is owned by it, funded by it alone and runs only at its own stores (``promotions_admin`` enforces the
funding; this router checks the stores and the owner first, so no answer names another retailer's store or
promotion). A retailer reads its own promotions and the distributor's that run at its stores; an analyst
reads everything. Publishing sends each store's whole active set, so it needs the broker of
:class:`hub.api.settings.ApiSettings`; without one it answers 503.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query, Request, status
from pydantic import BaseModel, Field

from core.errors import InvalidInput
from hub import db
from hub.programs import promotions as pa
from hub.publishing.retained import PublishError
from hub.publishing.snapshots import connect_broker

from ..accounts import Role
from ..errors import ERROR_RESPONSES, ApiError, Conflict, Forbidden, NotFound
from ..paging import Page, PageParams, page_params
from ..scope import ADMIN, SHOP_READERS, Conn, Scope, allow
from ..settings import ApiSettings
from .customers import tenant_program

router = APIRouter(prefix="/promotions", tags=["promotions"], responses=ERROR_RESPONSES)
Reader = Annotated[Scope, Depends(allow(*SHOP_READERS))]
Manager = Annotated[Scope, Depends(allow(Role.DISTRIBUTOR_ADMIN, Role.RETAILER))]
PromotionId = Annotated[str, Path(min_length=1, max_length=64, description="the promotion's id")]


class ServiceUnavailable(ApiError):
    """Something the hub needs for this request is not configured or not reachable (503)."""

    status = 503
    code = "service_unavailable"


class PromotionOut(BaseModel):
    """A promotion: the core Promotion JSON (``body``, without the schedule), its owner (``distributor`` or a
    retailer id), schedule, stores (empty: every store of the owner), whether it is enabled, and its revision."""

    promotion_id: str
    owner: str
    body: dict[str, Any]
    starts_at: datetime | None
    ends_at: datetime | None
    stores: list[str]
    enabled: bool
    revision: int


def _out(r: pa.PromotionRecord) -> PromotionOut:
    return PromotionOut(
        promotion_id=r.promotion_id,
        owner=r.owner,
        body=dict(r.body),
        starts_at=r.starts_at,
        ends_at=r.ends_at,
        stores=list(r.stores),
        enabled=r.enabled,
        revision=r.revision,
    )


def _own_stores(scope: Scope) -> list[str]:
    return sorted(scope.conn.execute(scope.retailer_stores()).scalars())


def _visible(scope: Scope, record: pa.PromotionRecord) -> bool:
    """An admin or analyst sees every promotion; a retailer its own and the distributor's at its stores."""
    if scope.role is not Role.RETAILER:
        return True
    if record.owner == scope.retailer:
        return True
    if record.owner != pa.DISTRIBUTOR:
        return False
    return not record.stores or bool(set(record.stores) & set(_own_stores(scope)))


def _stored(scope: Scope, promotion_id: str) -> pa.PromotionRecord | None:
    p = db.promotion
    found = scope.conn.execute(
        sa.select(p.c.promotion_id).where(p.c.tenant == scope.tenant, p.c.promotion_id == promotion_id)
    ).first()
    return None if found is None else pa.get(scope.conn, scope.tenant, promotion_id)


def check_promotion(scope: Scope, promotion_id: str, *, manage: bool = False) -> pa.PromotionRecord:
    """The promotion if the caller may see it (``manage``: change it); 404 if not visible, 403 if visible but
    the distributor's and the caller a retailer."""
    record = _stored(scope, promotion_id)
    if record is None or not _visible(scope, record):
        raise NotFound(f"no promotion {promotion_id!r} in your scope", code="promotion_not_found", field="promotion_id")
    if manage and scope.role is Role.RETAILER and record.owner != scope.retailer:
        raise Forbidden("this is the distributor's promotion: a retailer may change only its own")
    return record


@router.get("", response_model=Page[PromotionOut], summary="List promotions, by id")
def list_promotions(
    scope: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    owner: Annotated[str | None, Query(max_length=64, description="`distributor` or a retailer id")] = None,
    enabled: Annotated[bool | None, Query()] = None,
) -> Page[PromotionOut]:
    p = db.promotion
    stmt = sa.select(p.c.promotion_id).where(scope.tenant_is(p.c.tenant))
    if scope.role is Role.RETAILER:
        stmt = stmt.where(p.c.owner.in_([pa.DISTRIBUTOR, scope.retailer]))
    if owner is not None:
        stmt = stmt.where(p.c.owner == owner)
    if enabled is not None:
        stmt = stmt.where(p.c.enabled.is_(enabled))
    ids = scope.conn.execute(stmt.order_by(p.c.promotion_id).limit(pa.MAX_LISTED)).scalars().all()
    records = [r for r in (pa.get(scope.conn, scope.tenant, i) for i in ids) if _visible(scope, r)]
    rows = records[paging.offset : paging.offset + paging.limit + 1]
    more = len(rows) > paging.limit
    return Page[PromotionOut](
        items=[_out(r) for r in rows[: paging.limit]],
        limit=paging.limit,
        offset=paging.offset,
        next_offset=paging.offset + paging.limit if more else None,
    )


class PromotionIn(BaseModel):
    """A promotion to create, or to change (same id: its revision goes up).

    ``promotion`` is core Promotion JSON (id, name, scope, effect, conditions, audience, funding; the schedule
    goes in ``starts_at``/``ends_at``, not in its conditions). ``audience`` and ``funding``, when given,
    replace the promotion's (``{"kind": "tiers", "ids": ["gold"]}``, ``{"distributor_bp": 5000,
    "retailer_bp": 5000}``). ``owner``: ``distributor`` (default) or a retailer id; a retailer caller may
    leave it out (it is always the owner of what it defines). Errors name the field:
    ``promotion.effect.percent``, ``stores.1``, ``funding``...
    """

    promotion: dict[str, Any]
    owner: str | None = Field(default=None, max_length=64)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    stores: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=pa.MAX_STORES_PER_PROMOTION
    )
    audience: dict[str, Any] | None = None
    funding: dict[str, Any] | None = None
    enabled: bool = True


def _field(name: str) -> str:
    """``define`` names the body ``body``; the API names it ``promotion``."""
    return "promotion" + name[len("body") :] if name == "body" or name.startswith("body.") else name


@router.post(
    "",
    response_model=PromotionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create or change a promotion (validated with core)",
    responses={
        400: {"description": "The promotion, schedule, stores, audience or funding is not valid (`field` says which)"},
        409: {"description": "The id is another owner's promotion (code `promotion_id_taken`)"},
    },
)
def define_promotion(data: PromotionIn, scope: Manager) -> PromotionOut:
    owner = data.owner or pa.DISTRIBUTOR
    if scope.role is Role.RETAILER:
        assert scope.retailer is not None
        if data.owner not in (None, scope.retailer):
            raise InvalidInput(
                "owner", f"a retailer defines its own promotions: leave it out or give {scope.retailer!r}"
            )
        owner = scope.retailer
        mine = set(_own_stores(scope))
        for i, store in enumerate(data.stores):
            if store not in mine:
                raise InvalidInput(f"stores.{i}", f"{store!r} is not one of your stores")
    promotion_id = data.promotion.get("id")
    if isinstance(promotion_id, str):
        existing = _stored(scope, promotion_id)
        if existing is not None and existing.owner != owner:
            raise Conflict(
                f"promotion id {promotion_id!r} is taken by another owner; choose another id",
                code="promotion_id_taken",
                field="promotion.id",
            )
    try:
        record = pa.define(
            scope.conn,
            scope.tenant,
            data.promotion,
            owner=owner,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            stores=data.stores,
            audience=data.audience,
            funding=data.funding,
            enabled=data.enabled,
            now=scope.now,
        )
    except InvalidInput as exc:
        raise InvalidInput(_field(exc.field), exc.problem) from exc
    return _out(record)


@router.get("/{promotion_id}", response_model=PromotionOut, summary="One promotion")
def get_promotion(promotion_id: PromotionId, scope: Reader) -> PromotionOut:
    return _out(check_promotion(scope, promotion_id))


@router.post(
    "/{promotion_id}/withdraw",
    response_model=PromotionOut,
    summary="Withdraw a promotion: it leaves every store's set at the next publication",
)
def withdraw_promotion(promotion_id: PromotionId, scope: Manager) -> PromotionOut:
    check_promotion(scope, promotion_id, manage=True)
    return _out(pa.withdraw(scope.conn, scope.tenant, promotion_id, now=scope.now))


class FunderOut(BaseModel):
    """What one funder would have paid: money off and points given."""

    discount_minor: int
    points: int


class PreviewOut(BaseModel):
    """What the promotion alone would have done to the sales of ``[since, until)`` at the stores it runs at.

    ``discount_minor`` is per currency; ``funders`` has ``distributor`` and ``retailer``; ``by_store`` counts
    sales touched per store (a retailer: its own stores). ``sales_skipped`` could not be priced again
    (``skip_reasons`` has examples); ``truncated``: only the newest sales were priced."""

    promotion_id: str
    since: datetime
    until: datetime
    stores: list[str]
    sales_considered: int
    sales_touched: int
    sales_skipped: int
    truncated: bool
    discount_minor: dict[str, int]
    points: int
    funders: dict[str, FunderOut]
    by_store: dict[str, int]
    skip_reasons: list[str]


@router.get(
    "/{promotion_id}/preview",
    response_model=PreviewOut,
    summary="Preview a promotion against the last days of sales (30 by default)",
)
def preview_promotion(
    promotion_id: PromotionId,
    scope: Reader,
    days: Annotated[int, Query(ge=1, le=pa.MAX_PREVIEW_DAYS)] = pa.PREVIEW_DAYS,
) -> PreviewOut:
    record = check_promotion(scope, promotion_id, manage=scope.role is Role.RETAILER)
    report = pa.preview(scope.conn, scope.tenant, record, days=days, program=tenant_program(scope), now=scope.now)
    return PreviewOut(
        promotion_id=report.promotion_id,
        since=report.since,
        until=report.until,
        stores=list(report.stores),
        sales_considered=report.sales_considered,
        sales_touched=report.sales_touched,
        sales_skipped=report.sales_skipped,
        truncated=report.truncated,
        discount_minor=dict(report.discount_minor),
        points=report.points,
        funders={k: FunderOut(discount_minor=v.discount_minor, points=v.points) for k, v in report.funders.items()},
        by_store=dict(report.by_store),
        skip_reasons=list(report.skip_reasons),
    )


class PublishIn(BaseModel):
    """The stores whose sets to publish; null: every store of the tenant (a retailer: every store of its own)."""

    stores: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=pa.MAX_STORES_PER_PROMOTION
    )


class BoxOut(BaseModel):
    """What sending a store's set to one box did: the version sent, ``unchanged`` (the box holds it already),
    or the broker's ``error`` (publish again later)."""

    device: str
    store: str
    version: int | None
    unchanged: bool
    error: str | None


class PublishOut(BaseModel):
    """Each box reached (``boxes``) and whether every one holds its store's current set (``complete``)."""

    complete: bool
    boxes: list[BoxOut]


@router.post(
    "/publish",
    response_model=PublishOut,
    summary="Publish the stores' promotion sets to their boxes (versioned, retained)",
    responses={503: {"description": "The API has no broker configured, or cannot reach it (`service_unavailable`)"}},
)
def publish_promotions(
    request: Request,
    conn: Conn,
    scope: Annotated[Scope, Depends(allow(*ADMIN, Role.RETAILER))],
    data: PublishIn | None = None,
) -> PublishOut:
    settings: ApiSettings = request.app.state.settings
    requested = data.stores if data is not None else None
    if requested is not None:
        if len(set(requested)) != len(requested):
            raise InvalidInput("stores", "lists a store twice")
        for store in requested:
            scope.check_store(store)
        stores: list[str] | None = requested
    else:
        stores = _own_stores(scope) if scope.role is Role.RETAILER else None
    if settings.broker is None:
        raise ServiceUnavailable(
            "this API has no MQTT broker configured, so it cannot publish to the boxes; configure the broker "
            "(ApiSettings.broker) or publish with `python -m hub publish-config`"
        )
    broker = settings.broker
    try:
        client = connect_broker(broker.host, broker.port, broker.username, broker.password)
    except PublishError as exc:
        raise ServiceUnavailable(f"{exc}; try again later") from exc
    # Publishing takes transactions of its own, one per box, around the broker's answers: the request's own
    # (which only read the caller's token) ends here rather than hold the database through the network.
    conn.commit()
    try:
        outcomes = _publish(request, client, scope, stores)
    finally:
        client.loop_stop()
        client.disconnect()
    boxes = [
        BoxOut(device=o.device, store=o.store, version=o.version, unchanged=o.unchanged, error=o.error)
        for o in outcomes
    ]
    return PublishOut(complete=all(b.error is None for b in boxes), boxes=boxes)


def _publish(request: Request, client: mqtt.Client, scope: Scope, stores: list[str] | None) -> list[pa.BoxOutcome]:
    if stores == []:
        return []
    engine: sa.Engine = request.app.state.engine
    return pa.publish_to_boxes(engine, client, scope.tenant, stores=stores, now=scope.now)
