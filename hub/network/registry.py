"""The distributor's network: tenants, their retailers, the retailers' stores, and the counter boxes in them.

A **tenant** is a distributor: it names its loyalty prefix (the first three digits of every loyalty id of its
network, :mod:`core.identity`), its own party code in its ERP (``erp_supplier``: the distributor of the items
the ERP sends and the supplier of reorders that name none), and the tax category given to items whose source
names none. A **retailer** owns stores; a **store** carries everything a box's ``settings`` snapshot says
(time zone, currency, tax jurisdiction, language, receipt text, offline points allowance, wallets) and the
ERP warehouse that serves it, and where it is (country, region, municipality, postal code, coordinates) with the
**distribution centre** that supplies it. A **device** (counter box) belongs to one store and has a range of loyalty
numbers it may hand out while offline, so two boxes never enrol the same number.

Loyalty ranges: unless told otherwise, device ``<name>-<n>`` gets numbers ``n * 10,000`` to
``n * 10,000 + 9,999``, the block the box itself uses before the hub has assigned one (both sides apply
:func:`core.identity.device_block` and :func:`core.identity.block_numbers`), so numbers it enrolled offline
stay inside its range. A device
whose id ends in no number, or whose block is taken, gets the lowest free block that no device of the tenant
would take by its number. Block 0 (numbers below 10,000) is left to the hub and to pre-printed stickers.

Every ``add_*`` function creates the row or updates it (running a provisioning script twice is harmless)
inside the caller's transaction, and raises :class:`core.errors.InvalidInput` naming the field and the fix.

Command line (``python -m hub --db URL network ...``): ``add-tenant``, ``add-store``, ``add-dc``, ``add-device``,
``list`` and ``publish`` (settings, catalogue and stock rules to every box of a tenant, see
:mod:`hub.publishing.snapshots`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core import identity, wire
from core.errors import InvalidInput
from core.identity import LOYALTY_BLOCK_SIZE, MAX_BLOCK
from hub import db

__all__ = [
    "LANGUAGES",
    "LOYALTY_BLOCK_SIZE",
    "MAX_BLOCK",
    "MAX_LISTED",
    "MAX_NAME_CHARS",
    "Device",
    "DistributionCentre",
    "Store",
    "Tenant",
    "add_dc",
    "add_device",
    "add_postal_area",
    "add_retailer",
    "add_store",
    "add_tenant",
    "countries",
    "devices",
    "distribution_centres",
    "get_device",
    "get_store",
    "get_tenant",
    "stores",
]

LANGUAGES: Final = ("es", "en", "zh")


MAX_NAME_CHARS: Final = 120


MAX_LISTED: Final = 10_000
"""Stores or devices one listing returns."""


@dataclass(frozen=True)
class Tenant:
    """A distributor and its network-wide settings."""

    tenant: str
    name: str
    loyalty_prefix: int
    erp_supplier: str | None
    default_tax_category: str


@dataclass(frozen=True)
class Store:
    """A retailer's store as its boxes' settings describe it."""

    tenant: str
    store: str
    retailer: str
    name: str
    timezone: str
    currency: str
    jurisdiction: str
    language: str
    receipt_header: tuple[str, ...] = ()
    receipt_footer: tuple[str, ...] = ()
    offline_allowance_points: int = 0
    wallets_enabled: bool = False
    warehouse: str | None = None
    country: str | None = None
    region: str = ""
    municipality: str | None = None
    postal_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    dc: str | None = None
    """The ERP warehouse (its code) that serves this store; None: the ERP connector's default."""


@dataclass(frozen=True)
class DistributionCentre:
    """A distributor's warehouse that supplies stores, in a region."""

    tenant: str
    dc: str
    name: str
    region: str


@dataclass(frozen=True)
class Device:
    """A counter box, the store it serves and its loyalty number range (inclusive)."""

    tenant: str
    device: str
    store: str
    loyalty_first: int
    loyalty_last: int


def _text(field: str, value: str, max_chars: int = MAX_NAME_CHARS) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field, "is empty; give a name")
    if len(value) > max_chars:
        raise InvalidInput(field, f"has {len(value)} characters; at most {max_chars}")
    return value.strip()


def _id(field: str, value: str) -> str:
    try:
        return wire.check_name(value, field)
    except InvalidInput as exc:
        raise InvalidInput(
            field, f"{value!r} is not an id: use 1 to 64 lower-case letters, digits, '-' or '_'"
        ) from exc


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _upsert(conn: Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any], now: datetime) -> None:
    where = sa.and_(*(table.c[k] == v for k, v in key.items()))
    if conn.execute(sa.select(sa.literal(1)).select_from(table).where(where)).first() is None:
        conn.execute(sa.insert(table).values(**key, **values, created_at=now, updated_at=now))
    else:
        conn.execute(sa.update(table).where(where).values(**values, updated_at=now))


def add_tenant(
    conn: Connection,
    tenant: str,
    name: str,
    loyalty_prefix: int,
    *,
    erp_supplier: str | None = None,
    default_tax_category: str = "general",
    now: datetime | None = None,
) -> Tenant:
    """Create or update a distributor. Its loyalty prefix must be unused by any other tenant."""
    tenant = _id("tenant", tenant)
    name = _text("name", name)
    if isinstance(loyalty_prefix, bool) or not identity.MIN_PREFIX <= loyalty_prefix <= identity.MAX_PREFIX:
        raise InvalidInput(
            "loyalty_prefix", f"{loyalty_prefix!r} must be from {identity.MIN_PREFIX} to {identity.MAX_PREFIX}"
        )
    other = conn.execute(
        sa.select(db.tenant.c.tenant).where(db.tenant.c.loyalty_prefix == loyalty_prefix, db.tenant.c.tenant != tenant)
    ).scalar()
    if other is not None:
        raise InvalidInput("loyalty_prefix", f"{loyalty_prefix} already belongs to tenant {other!r}; pick another")
    if erp_supplier is not None:
        erp_supplier = _text("erp_supplier", erp_supplier, 64)
    default_tax_category = _text("default_tax_category", default_tax_category, 64)
    values = {
        "name": name,
        "loyalty_prefix": loyalty_prefix,
        "erp_supplier": erp_supplier,
        "default_tax_category": default_tax_category,
    }
    _upsert(conn, db.tenant, {"tenant": tenant}, values, _now(now))
    return Tenant(tenant, name, loyalty_prefix, erp_supplier, default_tax_category)


def get_tenant(conn: Connection, tenant: str) -> Tenant:
    """The tenant, or InvalidInput saying how to add it."""
    row = conn.execute(sa.select(db.tenant).where(db.tenant.c.tenant == tenant)).mappings().first()
    if row is None:
        raise InvalidInput("tenant", f"no tenant {tenant!r}; add it first with `network add-tenant`")
    return Tenant(row["tenant"], row["name"], row["loyalty_prefix"], row["erp_supplier"], row["default_tax_category"])


def add_retailer(conn: Connection, tenant: str, retailer: str, name: str, *, now: datetime | None = None) -> None:
    """Create or rename a retailer of ``tenant``."""
    get_tenant(conn, tenant)
    _upsert(
        conn,
        db.retailer,
        {"tenant": tenant, "retailer": _id("retailer", retailer)},
        {"name": _text("name", name)},
        _now(now),
    )


def _check_store(store: Store) -> None:
    from core.money import currency
    from core.promotions.timing import store_zone
    from core.tax import shipped_jurisdiction

    _id("store", store.store)
    _text("name", store.name)
    try:
        store_zone(store.timezone)
    except (InvalidInput, ValueError, KeyError) as exc:
        raise InvalidInput(
            "timezone", f"{store.timezone!r} is not an IANA time zone such as America/Mexico_City"
        ) from exc
    try:
        currency(store.currency)
    except (InvalidInput, ValueError, KeyError) as exc:
        raise InvalidInput("currency", f"{store.currency!r} is not an ISO 4217 code such as MXN") from exc
    try:
        shipped_jurisdiction(store.jurisdiction)
    except (InvalidInput, ValueError, KeyError, OSError) as exc:
        raise InvalidInput("jurisdiction", f"{exc}; see docs/taxes.md") from exc
    if store.language not in LANGUAGES:
        raise InvalidInput("language", f"{store.language!r} is not one of {', '.join(LANGUAGES)}")
    for field, lines in (("receipt_header", store.receipt_header), ("receipt_footer", store.receipt_footer)):
        if len(lines) > wire.MAX_RECEIPT_TEXT_LINES:
            raise InvalidInput(field, f"{len(lines)} lines; at most {wire.MAX_RECEIPT_TEXT_LINES}")
        for line in lines:
            if len(line) > 64:
                raise InvalidInput(field, f"{line[:20]!r}... has {len(line)} characters; a receipt line holds 64")
    if isinstance(store.offline_allowance_points, bool) or not 0 <= store.offline_allowance_points <= wire.MAX_POINTS:
        raise InvalidInput("offline_allowance_points", f"{store.offline_allowance_points!r} must be 0 or more")
    if store.warehouse is not None:
        _text("warehouse", store.warehouse, 64)
    _check_place(store)


def _check_place(store: Store) -> None:
    if store.country is not None and store.country not in countries():
        raise InvalidInput("country", f"{store.country!r} is not an ISO 3166-1 alpha-2 code such as MX")
    if store.region and len(store.region) > 64:
        raise InvalidInput("region", f"has {len(store.region)} characters; at most 64")
    if store.municipality is not None:
        _text("municipality", store.municipality)
    if store.postal_code is not None and not _POSTAL_RE.fullmatch(store.postal_code):
        raise InvalidInput("postal_code", f"{store.postal_code!r}: use 2 to 16 letters, digits, spaces or '-'")
    for name, value, bound in (("latitude", store.latitude, 90.0), ("longitude", store.longitude, 180.0)):
        if value is not None and (isinstance(value, bool) or not -bound <= float(value) <= bound):
            raise InvalidInput(name, f"{value!r} must be from {-bound:g} to {bound:g} degrees")


_POSTAL_RE: Final = re.compile(r"[0-9A-Za-z][0-9A-Za-z -]{0,14}[0-9A-Za-z]")


@functools.cache
def countries() -> frozenset[str]:
    """The ISO 3166-1 alpha-2 codes (from Babel's territory list, less its numeric regions)."""
    from babel import Locale

    codes = (str(code) for code in Locale("en").territories)
    return frozenset(code for code in codes if len(code) == 2 and code.isalpha() and code != "ZZ")


def _check_dc(conn: Connection, tenant: str, dc: str | None) -> None:
    if dc is None:
        return
    known = conn.execute(
        sa.select(db.distribution_centre.c.dc).where(
            db.distribution_centre.c.tenant == tenant, db.distribution_centre.c.dc == dc
        )
    ).first()
    if known is None:
        raise InvalidInput("dc", f"no distribution centre {dc!r} in tenant {tenant!r}; add it with `network add-dc`")


def add_dc(
    conn: Connection, tenant: str, dc: str, name: str, region: str, *, now: datetime | None = None
) -> DistributionCentre:
    """Create or update a distribution centre of ``tenant`` (the warehouse that supplies stores of a region)."""
    get_tenant(conn, tenant)
    centre = DistributionCentre(tenant, _id("dc", dc), _text("name", name), _text("region", region, 64))
    _upsert(
        conn,
        db.distribution_centre,
        {"tenant": tenant, "dc": centre.dc},
        {"name": centre.name, "region": centre.region},
        _now(now),
    )
    return centre


def distribution_centres(conn: Connection, tenant: str) -> list[DistributionCentre]:
    """The tenant's distribution centres, by id; at most :data:`MAX_LISTED`."""
    t = db.distribution_centre
    rows = conn.execute(sa.select(t).where(t.c.tenant == tenant).order_by(t.c.dc).limit(MAX_LISTED)).mappings()
    return [DistributionCentre(r["tenant"], r["dc"], r["name"], r["region"]) for r in rows]


def add_postal_area(
    conn: Connection,
    tenant: str,
    postal_code: str,
    region: str,
    *,
    municipality: str | None = None,
    now: datetime | None = None,
) -> None:
    """Say which region (and municipality) a postal code is in: a member's zone is their postal code's region."""
    get_tenant(conn, tenant)
    if not _POSTAL_RE.fullmatch(postal_code):
        raise InvalidInput("postal_code", f"{postal_code!r}: use 2 to 16 letters, digits, spaces or '-'")
    values = {
        "region": _text("region", region, 64),
        "municipality": municipality and _text("municipality", municipality),
    }
    stmt = db.insert(conn, db.postal_area).values(
        tenant=tenant, postal_code=postal_code, updated_at=_now(now), **values
    )
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["tenant", "postal_code"], set_={**values, "updated_at": _now(now)})
    )


def add_store(
    conn: Connection, store: Store, *, retailer_name: str | None = None, now: datetime | None = None
) -> Store:
    """Create or update ``store``. Its retailer is created (named ``retailer_name`` or its id) when missing."""
    get_tenant(conn, store.tenant)
    _check_store(store)
    _check_dc(conn, store.tenant, store.dc)
    stamp = _now(now)
    known = conn.execute(
        sa.select(db.retailer.c.name).where(
            db.retailer.c.tenant == store.tenant, db.retailer.c.retailer == store.retailer
        )
    ).first()
    if known is None or retailer_name is not None:
        add_retailer(conn, store.tenant, store.retailer, retailer_name or store.retailer, now=stamp)
    values = {
        "retailer": store.retailer,
        "name": store.name.strip(),
        "timezone": store.timezone,
        "currency": store.currency,
        "jurisdiction": store.jurisdiction,
        "language": store.language,
        "receipt": {"header": list(store.receipt_header), "footer": list(store.receipt_footer)},
        "offline_allowance_points": store.offline_allowance_points,
        "wallets_enabled": store.wallets_enabled,
        "warehouse": store.warehouse,
        "country": store.country,
        "region": store.region.strip(),
        "municipality": store.municipality,
        "postal_code": store.postal_code,
        "latitude": store.latitude,
        "longitude": store.longitude,
        "dc": store.dc,
    }
    _upsert(conn, db.store, {"tenant": store.tenant, "store": store.store}, values, stamp)
    return store


def _store(row: Any) -> Store:
    receipt = row["receipt"] or {}
    return Store(
        tenant=row["tenant"],
        store=row["store"],
        retailer=row["retailer"],
        name=row["name"],
        timezone=row["timezone"],
        currency=row["currency"],
        jurisdiction=row["jurisdiction"],
        language=row["language"],
        receipt_header=tuple(receipt.get("header", ())),
        receipt_footer=tuple(receipt.get("footer", ())),
        offline_allowance_points=int(row["offline_allowance_points"]),
        wallets_enabled=bool(row["wallets_enabled"]),
        warehouse=row["warehouse"],
        country=row["country"],
        region=row["region"],
        municipality=row["municipality"],
        postal_code=row["postal_code"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        dc=row["dc"],
    )


def get_store(conn: Connection, tenant: str, store: str) -> Store:
    """The store, or InvalidInput saying how to add it."""
    row = conn.execute(sa.select(db.store).where(db.store.c.tenant == tenant, db.store.c.store == store)).mappings()
    found = row.first()
    if found is None:
        raise InvalidInput("store", f"no store {store!r} in tenant {tenant!r}; add it first with `network add-store`")
    return _store(found)


def stores(conn: Connection, tenant: str, *, retailer: str | None = None) -> list[Store]:
    """The tenant's stores (of one retailer if given), by id; at most :data:`MAX_LISTED`."""
    query = sa.select(db.store).where(db.store.c.tenant == tenant)
    if retailer is not None:
        query = query.where(db.store.c.retailer == retailer)
    return [_store(r) for r in conn.execute(query.order_by(db.store.c.store).limit(MAX_LISTED)).mappings()]


def _free_block(conn: Connection, tenant: str, device: str) -> tuple[int, int]:
    rows = conn.execute(
        sa.select(db.store_device.c.device, db.store_device.c.loyalty_first, db.store_device.c.loyalty_last).where(
            db.store_device.c.tenant == tenant, db.store_device.c.device != device
        )
    ).all()
    taken = [(int(first), int(last)) for _d, first, last in rows]
    implied_by_others = {b for d, _f, _l in rows if (b := identity.device_block(d)) is not None}

    def free(block: int) -> bool:
        first, last = identity.block_numbers(block)
        return all(last < f or first > la for f, la in taken)

    own = identity.device_block(device)
    if own is not None and free(own):
        return identity.block_numbers(own)
    # Blocks counted down from the top: the ones provisioning numbers (box-1, box-2, ...) imply stay free.
    for block in range(MAX_BLOCK, 0, -1):
        if block not in implied_by_others and free(block):
            return identity.block_numbers(block)
    raise InvalidInput("loyalty_range", f"tenant {tenant!r} has no free block of loyalty numbers left")


def add_device(
    conn: Connection,
    tenant: str,
    device: str,
    store: str,
    *,
    loyalty_range: tuple[int, int] | None = None,
    now: datetime | None = None,
) -> Device:
    """Put box ``device`` in ``store``; give it ``loyalty_range`` (inclusive) or keep / pick one (module doc)."""
    device = _id("device", device)
    get_store(conn, tenant, store)
    existing = conn.execute(
        sa.select(db.store_device.c.loyalty_first, db.store_device.c.loyalty_last).where(
            db.store_device.c.tenant == tenant, db.store_device.c.device == device
        )
    ).first()
    if loyalty_range is not None:
        first, last = loyalty_range
        if not identity.MIN_NUMBER <= first <= last <= identity.MAX_NUMBER:
            raise InvalidInput(
                "loyalty_range",
                f"{first}..{last} must be ordered and within {identity.MIN_NUMBER}..{identity.MAX_NUMBER}",
            )
        clash = conn.execute(
            sa.select(db.store_device.c.device).where(
                db.store_device.c.tenant == tenant,
                db.store_device.c.device != device,
                db.store_device.c.loyalty_first <= last,
                db.store_device.c.loyalty_last >= first,
            )
        ).scalar()
        if clash is not None:
            raise InvalidInput("loyalty_range", f"{first}..{last} overlaps the range of device {clash!r}")
    elif existing is not None:
        first, last = int(existing[0]), int(existing[1])
    else:
        first, last = _free_block(conn, tenant, device)
    _upsert(
        conn,
        db.store_device,
        {"tenant": tenant, "device": device},
        {"store": store, "loyalty_first": first, "loyalty_last": last},
        _now(now),
    )
    return Device(tenant, device, store, first, last)


def _device(row: Any) -> Device:
    return Device(row["tenant"], row["device"], row["store"], int(row["loyalty_first"]), int(row["loyalty_last"]))


def get_device(conn: Connection, tenant: str, device: str) -> Device:
    """The box and its store, or InvalidInput saying how to register it."""
    row = (
        conn.execute(
            sa.select(db.store_device).where(db.store_device.c.tenant == tenant, db.store_device.c.device == device)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise InvalidInput(
            "device", f"device {device!r} of tenant {tenant!r} is in no store; register it with `network add-device`"
        )
    return _device(row)


def devices(conn: Connection, tenant: str, *, store: str | None = None) -> list[Device]:
    """The tenant's boxes (of one store if given), by id; at most :data:`MAX_LISTED`."""
    query = sa.select(db.store_device).where(db.store_device.c.tenant == tenant)
    if store is not None:
        query = query.where(db.store_device.c.store == store)
    return [_device(r) for r in conn.execute(query.order_by(db.store_device.c.device).limit(MAX_LISTED)).mappings()]
