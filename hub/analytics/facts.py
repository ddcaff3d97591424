"""The sale-line fact and its rollups, loaded incrementally from a watermark.

:func:`load_facts` reads the sales (``sale``/``sale_line``) and refunds (``business_event`` of type
``refund``) that arrived since the tenant's watermark, writes one ``sale_line_fact`` row per line (refund
lines negative, ``refund`` true), and adds the same lines to every rollup in the same transaction: so a
question never scans the raw sales and nothing is rebuilt per query. The periodic round
(:class:`hub.jobs.HubJobs`) calls it; so do the tests.

Late rows: ingest workers commit in any order, so a sale may become visible after a newer one was loaded.
Each load therefore re-reads :data:`LOAD_OVERLAP` before the watermark and skips the events already in the
fact. Two loads of one tenant never run at once: the first statement locks the tenant's watermark rows (on
SQLite the caller's write transaction, :func:`hub.db.writing`, already does).

Dimensions are taken at load time: the store's retailer, distribution centre, region and zone; the item's
category, brand, manufacturer (the item's own, else its brand's) and cost. A sale from a store or an item the
hub does not know yet is loaded all the same, with empty dimensions (region ``''``, category ``''``), UTC as
its zone and no cost.

On PostgreSQL ``sale_line_fact`` is partitioned by month on ``sold_at``; :func:`ensure_partitions` makes the
partitions of this month and :data:`PARTITION_MONTHS_AHEAD` ahead, and moves rows that landed in the default
partition (a box whose clock is off, a month the job did not prepare) into their month's partition.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from hub import db

__all__ = [
    "LOAD_BATCH_MAX",
    "LOAD_OVERLAP",
    "PARTITION_MONTHS_AHEAD",
    "PARTITION_MONTHS_BACK",
    "ROLLUPS",
    "SOURCES",
    "LoadReport",
    "PartitionReport",
    "ensure_partitions",
    "load_facts",
    "month_start",
    "partition_name",
]

log = logging.getLogger(__name__)

LOAD_BATCH_MAX: Final = 2_000
"""Events (sales, and separately refunds) loaded per call at most; the rest at the next call
(``LoadReport.more`` says there is more)."""

LOAD_OVERLAP: Final = timedelta(minutes=10)
"""How far before the watermark each load looks again for events committed late (an ingest transaction
outliving this is not expected: a batch commits in well under a second, retries within a minute)."""

PARTITION_MONTHS_AHEAD: Final = 3
"""Monthly partitions made ahead of the current month (PostgreSQL)."""

PARTITION_MONTHS_BACK: Final = 24
"""Rows of the default partition older than this many months are left there (a box clock far off) rather
than given a partition of their own each; the same bound applies ahead (:data:`PARTITION_MONTHS_AHEAD`)."""

SOURCES: Final = ("sale", "refund")
"""The watermark rows of a tenant, one per source the fact is loaded from."""

ROLLUPS: Final = (
    db.analytics_day_store_item,
    db.analytics_day_store,
    db.analytics_day_store_hour,
    db.analytics_day_store_member,
    db.analytics_member_month,
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ROLLUP_KEYS: Final = {t.name: tuple(c.name for c in t.primary_key.columns) for t in ROLLUPS}
_ROLLUP_SUMS: Final = {
    db.analytics_day_store_item.name: ("qty", "amount_minor", "cost_minor", "costed_amount_minor", "tickets"),
    db.analytics_day_store.name: (
        "tickets",
        "identified_tickets",
        "refunds",
        "sales_minor",
        "refunds_minor",
        "amount_minor",
        "points_earned",
        "points_spent",
    ),
    db.analytics_day_store_hour.name: ("tickets", "amount_minor"),
    db.analytics_day_store_member.name: ("tickets", "amount_minor", "points_earned", "points_spent"),
    db.analytics_member_month.name: ("tickets", "amount_minor", "points_earned", "points_spent"),
}


@dataclass
class LoadReport:
    """What one :func:`load_facts` call loaded."""

    sales: int = 0
    refunds: int = 0
    lines: int = 0
    more: bool = False


@dataclass
class PartitionReport:
    """What :func:`ensure_partitions` did: partitions made, rows moved out of the default partition, and rows
    left there because their month is beyond the bounds."""

    created: list[str] = field(default_factory=list)
    moved_rows: int = 0
    left_in_default: int = 0


def month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    """The partition of ``sale_line_fact`` holding ``month`` (``sale_line_fact_p202612``)."""
    return f"sale_line_fact_p{month.year:04d}{month.month:02d}"


def _utc(value: datetime) -> datetime:
    # SQLite gives timestamps back without their zone; the hub writes them in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class _Store:
    retailer: str
    dc: str | None
    region: str
    zone: ZoneInfo


@dataclass(frozen=True)
class _Item:
    category: str
    brand: str | None
    manufacturer: str | None
    cost_minor: int | None


@dataclass
class _Ticket:
    """One sale or refund about to be loaded."""

    event_id: uuid.UUID
    store: str
    currency: str
    sold_at: datetime
    received_at: datetime
    customer: str | None
    refund: bool
    lines: list[tuple[int, str, int, int]]  # (line_no, sku, qty, amount_minor), signed
    points_earned: int = 0
    points_spent: int = 0


_UNKNOWN_ZONE: Final = ZoneInfo("UTC")


class _Dimensions:
    """Store and item facts of one tenant, read once per load."""

    def __init__(self, conn: sa.Connection, tenant: str) -> None:
        self.conn = conn
        self.tenant = tenant
        self.stores: dict[str, _Store] = {}
        self.items: dict[str, _Item] = {}
        self.aliases: dict[str, str] = {}

    def read(self, stores: Iterable[str], skus: Iterable[str], customers: Iterable[str]) -> None:
        s = db.store
        wanted = sorted(set(stores) - self.stores.keys())
        for part in db.chunks(wanted):
            for row in self.conn.execute(
                sa.select(s.c.store, s.c.retailer, s.c.dc, s.c.region, s.c.timezone).where(
                    s.c.tenant == self.tenant, s.c.store.in_(part)
                )
            ):
                try:
                    zone = ZoneInfo(row.timezone)
                except (ZoneInfoNotFoundError, ValueError):
                    log.warning(
                        "%s: store %s has an unknown time zone %r; UTC used", self.tenant, row.store, row.timezone
                    )
                    zone = _UNKNOWN_ZONE
                self.stores[row.store] = _Store(row.retailer, row.dc, row.region, zone)
        i, b = db.catalogue_item, db.brand
        wanted = sorted(set(skus) - self.items.keys())
        for part in db.chunks(wanted):
            query = (
                sa.select(
                    i.c.sku, i.c.category, i.c.brand, i.c.manufacturer, i.c.cost_minor, b.c.manufacturer.label("bm")
                )
                .select_from(i.outerjoin(b, sa.and_(b.c.tenant == i.c.tenant, b.c.brand == i.c.brand)))
                .where(i.c.tenant == self.tenant, i.c.sku.in_(part))
            )
            for item in self.conn.execute(query):
                self.items[item.sku] = _Item(item.category, item.brand, item.manufacturer or item.bm, item.cost_minor)
        a = db.customer_alias
        wanted = sorted(set(customers) - self.aliases.keys())
        for part in db.chunks(wanted):
            for alias in self.conn.execute(
                sa.select(a.c.alias, a.c.loyalty_id).where(a.c.tenant == self.tenant, a.c.alias.in_(part))
            ):
                self.aliases[alias.alias] = alias.loyalty_id

    def store(self, store: str) -> _Store:
        return self.stores.get(store) or _Store("", None, "", _UNKNOWN_ZONE)

    def item(self, sku: str) -> _Item:
        return self.items.get(sku) or _Item("", None, None, None)

    def member(self, customer: str | None) -> str | None:
        return None if customer is None else self.aliases.get(customer, customer)


def _lock_watermarks(conn: sa.Connection, tenant: str, now: datetime) -> dict[str, datetime]:
    w = db.analytics_watermark
    conn.execute(
        db.insert(conn, w)
        .values(
            [
                {"tenant": tenant, "source": s, "received_at": _EPOCH, "rows_loaded": 0, "updated_at": now}
                for s in SOURCES
            ]
        )
        .on_conflict_do_nothing(index_elements=["tenant", "source"])
    )
    rows = conn.execute(
        sa.select(w.c.source, w.c.received_at).where(w.c.tenant == tenant).order_by(w.c.source).with_for_update()
    )
    return {row.source: _utc(row.received_at) for row in rows}


def _not_loaded(tenant: str, event_id: Any) -> sa.ColumnElement[bool]:
    f = db.sale_line_fact
    return ~sa.exists().where(f.c.tenant == tenant, f.c.event_id == event_id)


def _read_sales(conn: sa.Connection, tenant: str, since: datetime, limit: int) -> list[_Ticket]:
    s, p = db.sale, db.posting
    rows = conn.execute(
        sa.select(
            s.c.event_id,
            s.c.store,
            s.c.currency,
            s.c.customer,
            s.c.box_ts,
            s.c.received_at,
            p.c.hub_points,
            p.c.redeemed_points,
        )
        .select_from(s.outerjoin(p, sa.and_(p.c.event_id == s.c.event_id, p.c.type == "sale")))
        .where(s.c.tenant == tenant, s.c.received_at >= since, _not_loaded(tenant, s.c.event_id))
        .order_by(s.c.received_at, s.c.event_id)
        .limit(limit)
    ).all()
    tickets = {
        row.event_id: _Ticket(
            event_id=row.event_id,
            store=row.store,
            currency=row.currency,
            sold_at=_utc(row.box_ts),
            received_at=_utc(row.received_at),
            customer=row.customer,
            refund=False,
            lines=[],
            points_earned=row.hub_points or 0,
            points_spent=row.redeemed_points or 0,
        )
        for row in rows
    }
    sl = db.sale_line
    for part in db.chunks(list(tickets)):
        for line in conn.execute(
            sa.select(sl.c.event_id, sl.c.line_no, sl.c.sku, sl.c.qty, sl.c.amount_minor)
            .where(sl.c.event_id.in_(part))
            .order_by(sl.c.event_id, sl.c.line_no)
        ):
            tickets[line.event_id].lines.append((line.line_no, line.sku, line.qty, line.amount_minor))
    return list(tickets.values())


def _read_refunds(conn: sa.Connection, tenant: str, since: datetime, limit: int) -> list[_Ticket]:
    e = db.business_event
    rows = conn.execute(
        sa.select(e.c.event_id, e.c.device, e.c.store, e.c.data, e.c.box_ts, e.c.received_at)
        .where(
            e.c.tenant == tenant,
            e.c.type == "refund",
            e.c.received_at >= since,
            _not_loaded(tenant, e.c.event_id),
        )
        .order_by(e.c.received_at, e.c.event_id)
        .limit(limit)
    ).all()
    # A refund that names no customer is the sale's customer's, when the sale is at the hub.
    s = db.sale
    wanted = {(row.device, str(row.data.get("sale_id", ""))) for row in rows if not row.data.get("customer")}
    sale_customer: dict[tuple[str, str], str | None] = {}
    for part in db.chunks(sorted(wanted)):
        for found in conn.execute(
            sa.select(s.c.device, s.c.sale_id, s.c.customer).where(
                s.c.tenant == tenant, sa.tuple_(s.c.device, s.c.sale_id).in_(list(part))
            )
        ):
            sale_customer[(found.device, found.sale_id)] = found.customer
    tickets: list[_Ticket] = []
    for row in rows:
        data: dict[str, Any] = row.data
        customer = data.get("customer") or sale_customer.get((row.device, str(data.get("sale_id", ""))))
        tenders = data.get("tenders") or []
        tickets.append(
            _Ticket(
                event_id=row.event_id,
                store=str(data.get("store") or row.store),
                currency=str(data.get("currency", "")),
                sold_at=_utc(row.box_ts),
                received_at=_utc(row.received_at),
                customer=customer,
                refund=True,
                lines=[
                    (no, str(line["sku"]), -int(line["qty"]), -int(line["amount_minor"]))
                    for no, line in enumerate(data.get("lines") or [], start=1)
                ],
                points_earned=-int(data.get("points_reversed") or 0),
                points_spent=-sum(int(t.get("points") or 0) for t in tenders),
            )
        )
    return tickets


class _Rollups:
    """The increments one load adds to each rollup, summed by key before they are written."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {t.name: {} for t in ROLLUPS}

    def add(self, table: sa.Table, attrs: dict[str, Any], **sums: int) -> None:
        key = tuple(attrs[k] for k in _ROLLUP_KEYS[table.name])
        row = self.rows[table.name].get(key)
        if row is None:
            row = dict(attrs)
            for name in _ROLLUP_SUMS[table.name]:
                row[name] = 0
            self.rows[table.name][key] = row
        for name, value in sums.items():
            row[name] += value

    def write(self, conn: sa.Connection) -> None:
        for table in ROLLUPS:
            rows = list(self.rows[table.name].values())
            for part in db.chunks(rows):
                stmt = db.insert(conn, table)
                stmt = stmt.on_conflict_do_update(
                    index_elements=list(_ROLLUP_KEYS[table.name]),
                    set_={name: table.c[name] + stmt.excluded[name] for name in _ROLLUP_SUMS[table.name]},
                )
                conn.execute(stmt, list(part))


def _facts_of(
    tenant: str, ticket: _Ticket, dims: _Dimensions, rollups: _Rollups, now: datetime
) -> list[dict[str, Any]]:
    store = dims.store(ticket.store)
    local = ticket.sold_at.astimezone(store.zone)
    day, hour, weekday = local.date(), local.hour, local.isoweekday()
    customer = dims.member(ticket.customer)
    where = {"tenant": tenant, "local_date": day, "store": ticket.store, "currency": ticket.currency}
    placed = {**where, "retailer": store.retailer, "dc": store.dc, "region": store.region}
    facts: list[dict[str, Any]] = []
    skus_seen: set[str] = set()
    amount = 0
    for line_no, sku, qty, amount_minor in ticket.lines:
        item = dims.item(sku)
        cost = None if item.cost_minor is None else item.cost_minor * qty
        amount += amount_minor
        facts.append(
            {
                **placed,
                "event_id": ticket.event_id,
                "line_no": line_no,
                "sold_at": ticket.sold_at,
                "hour": hour,
                "weekday": weekday,
                "customer": customer,
                "sku": sku,
                "category": item.category,
                "brand": item.brand,
                "manufacturer": item.manufacturer,
                "qty": qty,
                "amount_minor": amount_minor,
                "cost_minor": cost,
                "refund": ticket.refund,
                "loaded_at": now,
            }
        )
        first = sku not in skus_seen
        skus_seen.add(sku)
        rollups.add(
            db.analytics_day_store_item,
            {**placed, "sku": sku, "category": item.category, "brand": item.brand, "manufacturer": item.manufacturer},
            qty=qty,
            amount_minor=amount_minor,
            cost_minor=cost or 0,
            costed_amount_minor=amount_minor if cost is not None else 0,
            tickets=int(first and not ticket.refund),
        )
    sale = int(not ticket.refund)
    rollups.add(
        db.analytics_day_store,
        placed,
        tickets=sale,
        identified_tickets=int(sale and customer is not None),
        refunds=int(ticket.refund),
        sales_minor=amount if sale else 0,
        refunds_minor=0 if sale else -amount,
        amount_minor=amount,
        points_earned=ticket.points_earned,
        points_spent=ticket.points_spent,
    )
    rollups.add(
        db.analytics_day_store_hour,
        {**where, "hour": hour, "weekday": weekday, "retailer": store.retailer},
        tickets=sale,
        amount_minor=amount,
    )
    if customer is not None:
        points = {"points_earned": ticket.points_earned, "points_spent": ticket.points_spent}
        rollups.add(
            db.analytics_day_store_member,
            {**where, "customer": customer, "retailer": store.retailer},
            tickets=sale,
            amount_minor=amount,
            **points,
        )
        rollups.add(
            db.analytics_member_month,
            {"tenant": tenant, "customer": customer, "month": month_start(day), "currency": ticket.currency},
            tickets=sale,
            amount_minor=amount,
            **points,
        )
    return facts


def load_facts(conn: sa.Connection, tenant: str, *, now: datetime, limit: int = LOAD_BATCH_MAX) -> LoadReport:
    """Load the sales and refunds of ``tenant`` that arrived since its watermark (at most ``limit`` of each)
    into ``sale_line_fact`` and the rollups, and move the watermark; in the caller's transaction (on SQLite
    a :func:`hub.db.writing` one)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    now = _utc(now)
    marks = _lock_watermarks(conn, tenant, now)
    sales = _read_sales(conn, tenant, marks["sale"] - LOAD_OVERLAP, limit)
    refunds = _read_refunds(conn, tenant, marks["refund"] - LOAD_OVERLAP, limit)
    report = LoadReport(sales=len(sales), refunds=len(refunds), more=len(sales) == limit or len(refunds) == limit)
    if not sales and not refunds:
        return report
    dims = _Dimensions(conn, tenant)
    tickets = sales + refunds
    dims.read(
        (t.store for t in tickets),
        (sku for t in tickets for _no, sku, _q, _a in t.lines),
        (t.customer for t in tickets if t.customer is not None),
    )
    rollups = _Rollups()
    facts: list[dict[str, Any]] = []
    for ticket in tickets:
        facts.extend(_facts_of(tenant, ticket, dims, rollups, now))
    for part in db.chunks(facts):
        conn.execute(db.sale_line_fact.insert(), list(part))
    rollups.write(conn)
    report.lines = len(facts)
    w = db.analytics_watermark
    for source, loaded in (("sale", sales), ("refund", refunds)):
        if not loaded:
            continue
        newest = max(t.received_at for t in loaded)
        conn.execute(
            w.update()
            .where(w.c.tenant == tenant, w.c.source == source)
            .values(
                received_at=max(newest, marks[source]),
                rows_loaded=w.c.rows_loaded + len(loaded),
                updated_at=now,
            )
        )
    return report


def _partitions(conn: sa.Connection) -> set[str]:
    rows = conn.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'sale_line_fact'"
        )
    )
    return {row[0] for row in rows}


def ensure_partitions(
    conn: sa.Connection, *, now: datetime, months_ahead: int = PARTITION_MONTHS_AHEAD
) -> PartitionReport:
    """On PostgreSQL, make the monthly partitions of ``sale_line_fact`` from this month (UTC) to
    ``months_ahead`` ahead, and a partition for each month of the rows found in the default partition
    (within :data:`PARTITION_MONTHS_BACK` back and ``months_ahead`` ahead), moving those rows into it. On
    SQLite the fact is a plain table: nothing to do."""
    report = PartitionReport()
    if conn.dialect.name != "postgresql":
        return report
    if not 0 <= months_ahead <= 120:
        raise ValueError(f"months_ahead must be 0 to 120, got {months_ahead}")
    this_month = month_start(_utc(now).date())
    first, last = _add_months(this_month, -PARTITION_MONTHS_BACK), _add_months(this_month, months_ahead)
    months = {_add_months(this_month, n) for n in range(months_ahead + 1)}
    stray = conn.execute(
        sa.text(
            "SELECT date_trunc('month', sold_at AT TIME ZONE 'UTC')::date AS m, count(*) FROM sale_line_fact_default "
            "GROUP BY 1"
        )
    ).all()
    for month, count in stray:
        if first <= month <= last:
            months.add(month)
        else:
            report.left_in_default += count
    existing = _partitions(conn)
    for month in sorted(months):
        name = partition_name(month)
        if name in existing:
            continue
        lo = datetime(month.year, month.month, 1, tzinfo=UTC)
        nxt = _add_months(month, 1)
        hi = datetime(nxt.year, nxt.month, 1, tzinfo=UTC)
        bounds = f"FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
        moving = any(m == month for m, _count in stray)
        if not moving:
            conn.execute(sa.text(f"CREATE TABLE {name} PARTITION OF sale_line_fact FOR VALUES {bounds}"))
        else:
            # Rows of this month sit in the default partition: a new partition may not overlap them, so they
            # are moved into a table of their own first, which is then attached (one transaction).
            conn.execute(sa.text(f"CREATE TABLE {name} (LIKE sale_line_fact INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
            # ``name`` is made from a date by partition_name, never from input.
            move = f"WITH gone AS (DELETE FROM sale_line_fact_default WHERE sold_at >= :lo AND sold_at < :hi RETURNING *) INSERT INTO {name} SELECT * FROM gone"  # noqa: E501, S608
            moved = conn.execute(
                sa.text(move),
                {"lo": lo, "hi": hi},
            )
            report.moved_rows += moved.rowcount
            conn.execute(sa.text(f"ALTER TABLE sale_line_fact ATTACH PARTITION {name} FOR VALUES {bounds}"))
        report.created.append(name)
    if report.created:
        log.info("sale_line_fact partitions made: %s (%d rows moved)", ", ".join(report.created), report.moved_rows)
    return report
