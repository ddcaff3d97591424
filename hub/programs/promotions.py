"""Promotions as the distributor or a retailer defines them, the versioned sets published to each store, and a
preview of a promotion against the last days of real baskets.

A promotion is the core Promotion JSON (:mod:`core.promotions`, validated by core on every change) plus what
the hub manages around it:

* **owner**: ``"distributor"`` or a retailer id. A retailer's promotion runs only at its own stores and is
  funded by that retailer alone; the distributor's may run anywhere and be funded by either or split.
* **schedule**: ``starts_at`` and ``ends_at`` (aware datetimes, either open). They are written into the
  promotion's ``conditions.valid_from``/``valid_until`` when a set is published, so a box applies the
  promotion exactly within them even offline; the body itself must not carry those two conditions.
* **stores**: the stores it runs at (empty: every store of the owner).
* **targeting** and **funding** are the core ``audience`` (``everyone``, ``members``, listed ``customers``,
  ``tiers``, ``segments``) and ``funding`` (basis points for distributor and retailer); :func:`define` takes
  them separately too, so an admin screen can set them without editing the JSON.

:func:`publish` computes each store's active set (enabled, not ended, owned by the distributor or the store's
retailer, listing the store or no store) and, when it differs from the store's last published set, records a
new version (versions rise across the tenant, never per store alone). Every version is kept: a box reports
``promotion_set_version`` in each sale, and :func:`promotion_set` gives back the exact set a sale was priced
with. The version of a store's set is the config version of its ``promotions`` snapshot
(:func:`promotions_snapshot`).

:func:`preview` prices the last ``days`` days of sales at the stores concerned with the promotion alone, with
``core.pricing`` and the catalogue facts of the hub catalogue, and reports how many sales it would have
touched, the discount and the points it would have given, and what each funder would have paid.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core import wire
from core.errors import InvalidInput
from core.money import allocate
from core.points import PointsProgram
from core.pricing import Basket, BasketLine, Customer, Store, price
from core.promotions import PromotionSet, load_promotion, load_promotions
from core.tax import Jurisdiction, shipped_jurisdiction
from hub import customers as cu
from hub import db, network
from hub import ledger as lg
from hub.publishing.retained import PublishError, VersionRefused, publish_config, read_retained

__all__ = [
    "DISTRIBUTOR",
    "MAX_PREVIEW_DAYS",
    "MAX_PREVIEW_SALES",
    "MAX_PROMOTIONS_PER_SET",
    "PREVIEW_DAYS",
    "UNCATEGORISED",
    "BoxOutcome",
    "FunderShare",
    "PreviewReport",
    "PromotionRecord",
    "PublishedSet",
    "active_promotions",
    "define",
    "get",
    "latest_set",
    "list_promotions",
    "preview",
    "promotion_set",
    "promotions_body",
    "promotions_snapshot",
    "publish",
    "publish_to_boxes",
    "withdraw",
]

DISTRIBUTOR: Final = lg.DISTRIBUTOR
"""The owner name of the distributor's promotions; a retailer's are owned by its retailer id."""
MAX_PROMOTIONS_PER_SET: Final = 10_000
"""Most promotions active at one store; more is refused at publication."""
MAX_LISTED: Final = 10_000
"""Most promotions one :func:`list_promotions` call returns."""
MAX_STORES_PER_PROMOTION: Final = 10_000
PREVIEW_DAYS: Final = 30
MAX_PREVIEW_DAYS: Final = 90
MAX_PREVIEW_SALES: Final = 20_000
"""Most sales one preview prices (the newest); the report says when it stopped there."""
UNCATEGORISED: Final = "uncategorised"
"""The category of a sold sku the hub catalogue does not know."""
_SCHEDULE_CONDITIONS: Final = ("valid_from", "valid_until")


@dataclass(frozen=True, slots=True)
class PromotionRecord:
    """A promotion as stored: the core JSON (without the schedule), owner, schedule, stores, state."""

    promotion_id: str
    owner: str
    body: Mapping[str, Any]
    starts_at: datetime | None
    ends_at: datetime | None
    stores: tuple[str, ...]
    enabled: bool
    revision: int

    def published_json(self) -> dict[str, Any]:
        """The promotion JSON a box receives: the body with the schedule as validity conditions."""
        out = copy.deepcopy(dict(self.body))
        conditions = dict(out.get("conditions") or {})
        if self.starts_at is not None:
            conditions["valid_from"] = self.starts_at.isoformat()
        if self.ends_at is not None:
            conditions["valid_until"] = self.ends_at.isoformat()
        if conditions:
            out["conditions"] = conditions
        return out


@dataclass(frozen=True, slots=True)
class PublishedSet:
    """One published version of a store's promotion set; ``changed`` says this call made it."""

    store: str
    version: int
    sha256: str
    body: Mapping[str, Any]
    published_at: datetime
    changed: bool = False


@dataclass
class FunderShare:
    """What one funder pays: money off and points given."""

    discount_minor: int = 0
    points: int = 0


@dataclass
class PreviewReport:
    """What a promotion would have done to the sales of the last ``days`` days at the stores concerned."""

    promotion_id: str
    since: datetime
    until: datetime
    stores: tuple[str, ...]
    sales_considered: int = 0
    sales_touched: int = 0
    sales_skipped: int = 0
    """Sales that could not be priced again (an unknown tax category, say); ``skip_reasons`` has examples."""
    truncated: bool = False
    """True when more than :data:`MAX_PREVIEW_SALES` sales fell in the window (the newest were priced)."""
    discount_minor: dict[str, int] = field(default_factory=dict)
    """Money off, per currency."""
    points: int = 0
    funders: dict[str, FunderShare] = field(default_factory=dict)
    by_store: dict[str, int] = field(default_factory=dict)
    """Sales touched per store."""
    skip_reasons: list[str] = field(default_factory=list)


def _now(now: datetime | None) -> datetime:
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        raise InvalidInput("now", "must be a timezone-aware datetime (UTC)")
    return moment.astimezone(UTC)


def _when(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(name, "must be a timezone-aware datetime, e.g. 2026-05-01T06:00:00-06:00")
    return value.astimezone(UTC)


def _record(r: Any) -> PromotionRecord:
    return PromotionRecord(
        promotion_id=r.promotion_id,
        owner=r.owner,
        body=r.body,
        starts_at=lg.as_utc(r.starts_at) if r.starts_at is not None else None,
        ends_at=lg.as_utc(r.ends_at) if r.ends_at is not None else None,
        stores=tuple(r.stores),
        enabled=bool(r.enabled),
        revision=int(r.revision),
    )


def _stores(conn: Connection, tenant: str) -> dict[str, str]:
    """store -> retailer, for every store of the tenant."""
    s = db.store
    return {
        store: retailer
        for store, retailer in conn.execute(sa.select(s.c.store, s.c.retailer).where(s.c.tenant == tenant))
    }


def _check_owner(conn: Connection, tenant: str, owner: str) -> None:
    if owner == DISTRIBUTOR:
        return
    r = db.retailer
    known = conn.execute(sa.select(r.c.retailer).where(r.c.tenant == tenant, r.c.retailer == owner)).first()
    if known is None:
        raise InvalidInput("owner", f"{owner!r} is neither {DISTRIBUTOR!r} nor a retailer of tenant {tenant!r}")


def define(
    conn: Connection,
    tenant: str,
    body: Mapping[str, Any],
    *,
    owner: str = DISTRIBUTOR,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    stores: Sequence[str] = (),
    audience: Mapping[str, Any] | None = None,
    funding: Mapping[str, Any] | None = None,
    enabled: bool = True,
    now: datetime | None = None,
) -> PromotionRecord:
    """Create a promotion, or change the one with the same id (its revision goes up).

    ``body`` is core Promotion JSON; ``audience`` and ``funding``, when given, replace the body's (core JSON:
    ``{"kind": "tiers", "ids": ["gold"]}``, ``{"distributor_bp": 5000, "retailer_bp": 5000}``). Everything is
    validated with core; errors name the field (``body.effect.percent``, ``stores.2``...).
    """
    moment = _now(now)
    if not isinstance(body, Mapping):
        raise InvalidInput("body", "must be a promotion JSON object")
    data = copy.deepcopy(dict(body))
    if audience is not None:
        data["audience"] = dict(audience)
    if funding is not None:
        data["funding"] = dict(funding)
    conditions = data.get("conditions") or {}
    for name in _SCHEDULE_CONDITIONS:
        if isinstance(conditions, Mapping) and name in conditions:
            raise InvalidInput(f"body.conditions.{name}", "give the schedule as starts_at / ends_at instead")
    promotion = load_promotion(data, "body")
    start, end = _when(starts_at, "starts_at"), _when(ends_at, "ends_at")
    if start is not None and end is not None and end <= start:
        raise InvalidInput("ends_at", "must be after starts_at")
    _check_owner(conn, tenant, owner)
    if owner != DISTRIBUTOR and promotion.funding.retailer_bp != 10_000:
        raise InvalidInput("funding", "a retailer's promotion is funded by the retailer alone (retailer_bp 10000)")
    if len(stores) > MAX_STORES_PER_PROMOTION:
        raise InvalidInput("stores", f"at most {MAX_STORES_PER_PROMOTION} stores; leave it empty for all")
    known = _stores(conn, tenant)
    for i, store in enumerate(stores):
        if store not in known:
            raise InvalidInput(f"stores.{i}", f"{store!r} is not a store of tenant {tenant!r}")
        if owner != DISTRIBUTOR and known[store] != owner:
            raise InvalidInput(f"stores.{i}", f"{store!r} belongs to retailer {known[store]!r}, not {owner!r}")
    if len(set(stores)) != len(stores):
        raise InvalidInput("stores", "lists a store twice")
    if promotion.audience.kind == "customers":
        for i, lid in enumerate(promotion.audience.ids):
            cu.check_loyalty_id(lid, f"body.audience.ids.{i}")
    record = PromotionRecord(promotion.id, owner, data, start, end, tuple(sorted(stores)), enabled, 1)
    load_promotion(record.published_json(), "body")  # the schedule must fit the promotion's other conditions
    p = db.promotion
    existing = conn.execute(
        sa.select(p.c.revision, p.c.owner).where(p.c.tenant == tenant, p.c.promotion_id == promotion.id)
    ).first()
    values = {
        "owner": owner,
        "body": data,
        "starts_at": start,
        "ends_at": end,
        "stores": list(record.stores),
        "enabled": enabled,
        "updated_at": moment,
    }
    if existing is None:
        conn.execute(
            sa.insert(p).values(tenant=tenant, promotion_id=promotion.id, revision=1, created_at=moment, **values)
        )
        return record
    if existing.owner != owner:
        raise InvalidInput("owner", f"promotion {promotion.id!r} belongs to {existing.owner!r}; choose another id")
    revision = int(existing.revision) + 1
    conn.execute(
        sa.update(p).where(p.c.tenant == tenant, p.c.promotion_id == promotion.id).values(revision=revision, **values)
    )
    return PromotionRecord(promotion.id, owner, data, start, end, record.stores, enabled, revision)


def get(conn: Connection, tenant: str, promotion_id: str) -> PromotionRecord:
    """A stored promotion; InvalidInput if there is none with that id."""
    p = db.promotion
    r = conn.execute(sa.select(p).where(p.c.tenant == tenant, p.c.promotion_id == promotion_id)).first()
    if r is None:
        raise InvalidInput("promotion_id", f"no promotion {promotion_id!r} in tenant {tenant!r}")
    return _record(r)


def list_promotions(conn: Connection, tenant: str, *, owner: str | None = None) -> list[PromotionRecord]:
    """The tenant's promotions (a retailer's only, when ``owner`` is given), by id."""
    p = db.promotion
    query = sa.select(p).where(p.c.tenant == tenant)
    if owner is not None:
        query = query.where(p.c.owner == owner)
    return [_record(r) for r in conn.execute(query.order_by(p.c.promotion_id).limit(MAX_LISTED))]


def withdraw(conn: Connection, tenant: str, promotion_id: str, *, now: datetime | None = None) -> PromotionRecord:
    """Stop a promotion: it leaves every store's set at the next :func:`publish` (history is kept)."""
    record = get(conn, tenant, promotion_id)
    p = db.promotion
    conn.execute(
        sa.update(p)
        .where(p.c.tenant == tenant, p.c.promotion_id == promotion_id)
        .values(enabled=False, revision=record.revision + 1, updated_at=_now(now))
    )
    return get(conn, tenant, promotion_id)


def _runs_at(record: PromotionRecord, store: str, retailer: str | None) -> bool:
    if record.owner not in (DISTRIBUTOR, retailer):
        return False
    return not record.stores or store in record.stores


def active_promotions(
    conn: Connection, tenant: str, store: str, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The promotion JSONs a store's boxes should hold now: enabled, not ended, running at the store."""
    moment = _now(now)
    retailer = _stores(conn, tenant).get(store)
    if retailer is None:
        raise InvalidInput("store", f"{store!r} is not a store of tenant {tenant!r}")
    p = db.promotion
    rows = conn.execute(
        sa.select(p)
        .where(
            p.c.tenant == tenant,
            p.c.enabled.is_(True),
            sa.or_(p.c.ends_at.is_(None), p.c.ends_at > moment),
            p.c.owner.in_([DISTRIBUTOR, retailer]),
        )
        .order_by(p.c.promotion_id)
    )
    chosen = [r.published_json() for r in map(_record, rows) if _runs_at(r, store, retailer)]
    if len(chosen) > MAX_PROMOTIONS_PER_SET:
        raise InvalidInput("promotions", f"{len(chosen)} active at {store!r}; at most {MAX_PROMOTIONS_PER_SET}")
    return chosen


def _published(r: Any, changed: bool = False) -> PublishedSet:
    return PublishedSet(r.store, int(r.version), r.sha256, r.body, lg.as_utc(r.published_at), changed)


def latest_set(conn: Connection, tenant: str, store: str) -> PublishedSet | None:
    """The last set published to ``store``, or None."""
    ps = db.promotion_set
    r = conn.execute(
        sa.select(ps).where(ps.c.tenant == tenant, ps.c.store == store).order_by(ps.c.version.desc()).limit(1)
    ).first()
    return None if r is None else _published(r)


def _publish_store(
    conn: Connection, tenant: str, store: str, now: datetime, *, above: int | None = None
) -> PublishedSet:
    body = {"promotions": active_promotions(conn, tenant, store, now=now)}
    wire.PromotionsBody.model_validate(body)  # the box refuses what core refuses: so do we, first
    digest = hashlib.sha256(wire.config_body_json(body)).hexdigest()
    last = latest_set(conn, tenant, store)
    if last is not None and last.sha256 == digest and above is None:
        return last
    # Versions rise across the whole tenant, so a box moved to another store still sees its version rise.
    ps = db.promotion_set
    highest = conn.execute(sa.select(sa.func.max(ps.c.version)).where(ps.c.tenant == tenant)).scalar_one()
    version = max(int(highest or 0), above or 0) + 1
    conn.execute(
        sa.insert(db.promotion_set).values(
            tenant=tenant, store=store, version=version, sha256=digest, body=body, published_at=now
        )
    )
    return PublishedSet(store, version, digest, body, now, changed=True)


def publish(
    conn: Connection, tenant: str, *, stores: Sequence[str] | None = None, now: datetime | None = None
) -> list[PublishedSet]:
    """Compute the active set of each store (all of the tenant's by default) and record a new version for
    each store whose set changed. Returns every store's current set, ``changed`` on the new ones: those are
    the snapshots to send to the stores' boxes."""
    moment = _now(now)
    known = _stores(conn, tenant)
    chosen = sorted(known) if stores is None else list(stores)
    for i, store in enumerate(chosen):
        if store not in known:
            raise InvalidInput(f"stores.{i}", f"{store!r} is not a store of tenant {tenant!r}")
    return [_publish_store(conn, tenant, store, moment) for store in chosen]


def promotions_snapshot(conn: Connection, tenant: str, store: str, *, now: datetime | None = None) -> PublishedSet:
    """The store's current set, publishing a new version first if the active set changed. Send ``body`` as
    the ``promotions`` config snapshot with ``version`` as its config version."""
    return _publish_store(conn, tenant, store, _now(now))


def promotions_body(conn: Connection, tenant: str, store: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The ``promotions`` snapshot body (core.wire.PromotionsBody) for ``store``; see :func:`promotions_snapshot`
    for its version."""
    return dict(promotions_snapshot(conn, tenant, store, now=now).body)


def promotion_set(conn: Connection, tenant: str, store: str, version: int) -> PromotionSet:
    """The exact promotion set a store's boxes priced with at ``version`` (as a sale reports it)."""
    ps = db.promotion_set
    r = conn.execute(
        sa.select(ps.c.body).where(ps.c.tenant == tenant, ps.c.store == store, ps.c.version == version)
    ).first()
    if r is None:
        raise InvalidInput("promotion_set_version", f"store {store!r} was never sent promotion set {version}")
    return PromotionSet(load_promotions(r.body))


@dataclass(frozen=True, slots=True)
class BoxOutcome:
    """What sending a store's set to one box did: the version sent, unchanged, or the error."""

    device: str
    store: str
    version: int | None
    unchanged: bool
    error: str | None = None


def publish_to_boxes(
    engine: sa.Engine,
    client: mqtt.Client,
    tenant: str,
    *,
    stores: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[BoxOutcome]:
    """:func:`publish`, then send each store's set to every box of the store as its retained ``promotions``
    snapshot, with the set's version as the config version (so sales report it). A box already holding that
    version and body is skipped (``config_version`` says so). A box holding a higher version (moved from
    another store, say) gets the store's set again under a new version. Broker failures are reported per
    box, not raised: publish again later."""
    moment = _now(now)
    with engine.begin() as conn:
        sets = publish(conn, tenant, stores=stores, now=moment)
        boxes = {s.store: [d.device for d in network.devices(conn, tenant, store=s.store)] for s in sets}
    outcomes: list[BoxOutcome] = []
    v = db.config_version
    for current in sets:
        for device in boxes[current.store]:
            key = (v.c.tenant == tenant, v.c.device == device, v.c.kind == "promotions")
            with engine.connect() as conn:
                row = conn.execute(sa.select(v.c.version, v.c.sha256).where(*key)).first()
            if row is not None and int(row.version) == current.version and row.sha256 == current.sha256:
                outcomes.append(BoxOutcome(device, current.store, current.version, True))
                continue
            sent = current
            try:
                try:
                    publish_config(client, tenant, device, "promotions", dict(sent.body), sent.version)
                except VersionRefused:
                    retained = read_retained(client, tenant, device, "promotions").manifest
                    with engine.begin() as conn:
                        sent = _publish_store(
                            conn, tenant, current.store, moment, above=retained.version if retained else current.version
                        )
                    publish_config(client, tenant, device, "promotions", dict(sent.body), sent.version)
            except PublishError as exc:
                outcomes.append(BoxOutcome(device, current.store, None, False, str(exc)))
                continue
            with engine.begin() as conn:
                values = {"version": sent.version, "sha256": sent.sha256, "published_at": moment}
                if row is None:
                    conn.execute(sa.insert(v).values(tenant=tenant, device=device, kind="promotions", **values))
                else:
                    conn.execute(sa.update(v).where(*key).values(**values))
            outcomes.append(BoxOutcome(device, current.store, sent.version, False))
    return outcomes


# --- preview ------------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _jurisdiction(jurisdiction_id: str) -> Jurisdiction:
    return shipped_jurisdiction(jurisdiction_id)


def preview(
    conn: Connection,
    tenant: str,
    promotion: str | PromotionRecord,
    *,
    days: int = PREVIEW_DAYS,
    program: PointsProgram | None = None,
    now: datetime | None = None,
) -> PreviewReport:
    """Run ``promotion`` (a stored id, or a record not yet saved) over the sales of the last ``days`` days
    at the stores it would run at, alone, at each sale's own time (the schedule is ignored: the question is
    what it would have done). ``program`` gives points effects their base; without it only money counts.
    Customers are known for sales that earned or redeemed points (through the ledger)."""
    if isinstance(days, bool) or not 1 <= days <= MAX_PREVIEW_DAYS:
        raise InvalidInput("days", f"must be 1 to {MAX_PREVIEW_DAYS}")
    moment = _now(now)
    record = get(conn, tenant, promotion) if isinstance(promotion, str) else promotion
    body = copy.deepcopy(dict(record.body))
    promo = load_promotion(body, "promotion")
    known = _stores(conn, tenant)
    stores = tuple(s for s in sorted(known) if _runs_at(record, s, known[s]))
    since = moment - timedelta(days=days)
    report = PreviewReport(promo.id, since, moment, stores)
    report.funders = {"distributor": FunderShare(), "retailer": FunderShare()}
    if not stores:
        return report
    s = db.sale
    sales = conn.execute(
        sa.select(s.c.event_id, s.c.store, s.c.currency, s.c.box_ts)
        .where(s.c.tenant == tenant, s.c.store.in_(stores), s.c.box_ts >= since, s.c.box_ts < moment)
        .order_by(s.c.box_ts.desc())
        .limit(MAX_PREVIEW_SALES + 1)
    ).all()
    if len(sales) > MAX_PREVIEW_SALES:
        report.truncated = True
        sales = sales[:MAX_PREVIEW_SALES]
    lines = _lines(conn, [r.event_id for r in sales])
    facts = _catalogue(conn, tenant, {line.sku for rows in lines.values() for line in rows})
    default_tax = _default_tax_category(conn, tenant)
    shoppers = _shoppers(conn, tenant, [r.event_id for r in sales], since)
    store_rows = _store_rows(conn, tenant, stores)
    for sale in sales:
        report.sales_considered += 1
        store = store_rows[sale.store]
        try:
            basket = Basket(
                currency=sale.currency,
                store=Store(store_id=sale.store, retailer_id=store.retailer, timezone=store.timezone),
                lines=tuple(
                    _basket_line(line, facts.get(line.sku), default_tax) for line in lines.get(sale.event_id, [])
                ),
            )
            receipt = price(
                basket,
                shoppers.get(sale.event_id),
                program if program is not None and program.currency == sale.currency else None,
                [promo],
                _jurisdiction(store.jurisdiction),
                lg.as_utc(sale.box_ts),
            )
        except (InvalidInput, ValueError) as exc:
            report.sales_skipped += 1
            if len(report.skip_reasons) < 10:
                report.skip_reasons.append(f"{sale.event_id}: {exc}")
            continue
        explained = next((e for e in receipt.promotions if e.promotion_id == promo.id), None)
        if explained is None or explained.status != "applied":
            continue
        report.sales_touched += 1
        report.by_store[sale.store] = report.by_store.get(sale.store, 0) + 1
        report.discount_minor[sale.currency] = report.discount_minor.get(sale.currency, 0) + explained.discount_minor
        report.points += explained.points
        for discount in receipt.discounts:
            if discount.promotion_id == promo.id:
                for share in discount.funders:
                    report.funders[str(share.funder)].discount_minor += share.amount_minor
        distributor_points, retailer_points = allocate(explained.points, promo.funding.weights)
        report.funders["distributor"].points += distributor_points
        report.funders["retailer"].points += retailer_points
    return report


def _lines(conn: Connection, event_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    sl = db.sale_line
    out: dict[uuid.UUID, list[Any]] = {}
    for chunk in db.chunks(list(event_ids)):
        for r in conn.execute(sa.select(sl).where(sl.c.event_id.in_(chunk)).order_by(sl.c.event_id, sl.c.line_no)):
            out.setdefault(r.event_id, []).append(r)
    return out


def _catalogue(conn: Connection, tenant: str, skus: set[str]) -> dict[str, Any]:
    ci = db.catalogue_item
    out: dict[str, Any] = {}
    for chunk in db.chunks(sorted(skus)):
        for r in conn.execute(sa.select(ci).where(ci.c.tenant == tenant, ci.c.sku.in_(chunk))):
            out[r.sku] = r
    return out


def _default_tax_category(conn: Connection, tenant: str) -> str:
    t = db.tenant
    value = conn.execute(sa.select(t.c.default_tax_category).where(t.c.tenant == tenant)).scalar_one_or_none()
    return value or "general"


def _store_rows(conn: Connection, tenant: str, stores: Sequence[str]) -> dict[str, Any]:
    s = db.store
    return {r.store: r for r in conn.execute(sa.select(s).where(s.c.tenant == tenant, s.c.store.in_(stores)))}


def _basket_line(line: Any, fact: Any, default_tax: str) -> BasketLine:
    return BasketLine(
        line_id=str(line.line_no),
        item_id=line.sku,
        description=line.name,
        category=fact.category if fact is not None else UNCATEGORISED,
        tax_category=fact.tax_category if fact is not None else default_tax,
        brand=fact.brand if fact is not None else None,
        distributor=fact.distributor if fact is not None else None,
        quantity=line.qty,
        unit_price_minor=line.unit_price_minor,
        measure_per_unit_milli=fact.measure_per_unit_milli if fact is not None else 0,
    )


def _shoppers(
    conn: Connection, tenant: str, event_ids: Sequence[uuid.UUID], since: datetime
) -> dict[uuid.UUID, Customer]:
    """The customer of each sale that earned or redeemed points, with the facts pricing needs."""
    t, a = db.ledger_transfer, db.ledger_account
    customer_side = sa.or_(
        sa.and_(t.c.code == lg.Code.EARN.value, a.c.id == t.c.credit_account_id),
        sa.and_(t.c.code == lg.Code.REDEEM.value, a.c.id == t.c.debit_account_id),
    )
    owners: dict[uuid.UUID, str] = {}
    for chunk in db.chunks([str(e) for e in event_ids]):
        for ref, owner in conn.execute(
            sa.select(t.c.ref, a.c.owner)
            .join(a, customer_side)
            .where(
                t.c.tenant == tenant, t.c.ref.in_(chunk), a.c.kind == lg.Kind.CUSTOMER.value, t.c.created_at >= since
            )
        ):
            owners[uuid.UUID(ref)] = cu.resolve(conn, tenant, owner)
    c = db.customer
    facts: dict[str, Customer] = {}
    for chunk in db.chunks(sorted(set(owners.values()))):
        for r in conn.execute(sa.select(c).where(c.c.tenant == tenant, c.c.loyalty_id.in_(chunk))):
            facts[r.loyalty_id] = Customer(
                customer_id=r.loyalty_id,
                tier_points=int(r.tier_value),
                birth_date=r.birth_date,
                enrolled_on=r.enrolled_on,
                last_birthday_bonus_year=r.last_birthday_bonus_year,
                last_anniversary_bonus_year=r.last_anniversary_bonus_year,
            )
    return {event: facts.get(lid) or Customer(customer_id=lid) for event, lid in owners.items()}
