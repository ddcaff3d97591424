"""The ERP loop of one tenant: products, prices and stock in from the ERP, out to the boxes; reorders to the ERP.

Each round of :class:`ERPSync` (every :attr:`SyncConfig.poll_interval_s`):

1. **Products.** Polls :meth:`~hub.erp.base.ERPConnector.products_changed_since` with the cursor stored in
   ``erp_cursor`` (a full read, cursor ``None``, the first time and every :attr:`SyncConfig.full_read_interval_s`),
   following an incomplete answer at most :data:`POLLS_PER_ROUND_MAX` times, and upserts the products into the
   hub catalogue (:func:`hub.catalogue.upsert_erp_products`). Each answer's products and its cursor are
   committed together, so a hub stopped mid-poll resumes where it stood. Products the ERP sent that cannot be
   sold as they are (a price finer than the currency, a name too long) are logged with the fix.
2. **Stock.** Every :attr:`SyncConfig.stock_interval_s`, reads stock per warehouse into ``catalogue_stock``.
3. **Publish.** When an item really changed (an ERP poll repeats products; repeats are no change), the
   ``catalogue`` snapshot of every box of the tenant is published again (:class:`hub.publishing.snapshots.Publisher`:
   boxes of stores whose snapshot is unchanged are skipped). Boxes registered since, which have never had a
   snapshot, get settings, catalogue and stock rules. A publish that failed is tried again next round.
4. **Reorders.** ``reorder_request`` business events not yet applied (oldest first, at most
   :attr:`SyncConfig.reorder_batch` a round) become purchase orders: one per supplier
   (:func:`hub.erp.base.purchase_requests_from_reorder`; lines naming no distributor go to the tenant's
   ``erp_supplier``), delivered to the store's ``warehouse``. Each order is recorded in ``purchase_order``
   with the ERP's reference, then the event is marked applied (and the store's on-hand counts it carried are
   kept in ``catalogue_stock``). The request's reference is the idempotency key both here and in the ERP:
   a hub stopped between placing an order and recording it finds the same order again and places no second.
   An order the ERP refuses is recorded as ``rejected`` with the ERP's reason, raised as an alert, and the
   event is applied (retrying would be refused again); an ERP that is down leaves the event for a later round.

Failures of the ERP or the broker never end the loop: it logs them and waits, doubling the pause up to
:data:`ERROR_PAUSE_MAX_S`.

Command line: ``python -m hub --db URL erp-sync --tenant T [--once] --mqtt-...``, Tryton settings from the
``MOSTRADOR_TRYTON_*`` environment (docs/erp.md).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from pydantic import ValidationError

from core.errors import InvalidInput
from core.wire import ReorderRequestData
from hub import catalogue, db, network
from hub.erp.base import (
    ERPConnector,
    ERPError,
    ERPRejected,
    ProductProblem,
    PurchaseRequest,
    purchase_requests_from_reorder,
)
from hub.publishing.retained import PublishError
from hub.publishing.snapshots import BUILT_KINDS, Outcome, Publisher

__all__ = [
    "ERROR_PAUSE_MAX_S",
    "FULL_READ_INTERVAL_S",
    "POLLS_PER_ROUND_MAX",
    "POLL_INTERVAL_S",
    "REORDER_BATCH_MAX",
    "REORDER_TYPE",
    "STOCK_INTERVAL_S",
    "ERPSync",
    "Problem",
    "ProductsResult",
    "ReorderResult",
    "RoundResult",
    "SyncConfig",
]

log = logging.getLogger(__name__)


Problem = ProductProblem | catalogue.ItemProblem
"""A product the ERP sent that the hub did not take: the connector's or the catalogue's reason."""


POLL_INTERVAL_S: Final = 2.0


STOCK_INTERVAL_S: Final = 300.0


FULL_READ_INTERVAL_S: Final = 24 * 3600.0


POLLS_PER_ROUND_MAX: Final = 50
"""Incomplete answers (pages of a full read) followed in one round; the rest waits for the next round."""


REORDER_BATCH_MAX: Final = 50


ERROR_PAUSE_MAX_S: Final = 60.0


REORDER_TYPE: Final = ReorderRequestData.TYPE


@dataclass(frozen=True)
class SyncConfig:
    """One tenant's ERP loop settings. ``source`` names the ERP in ``erp_cursor`` (one cursor per source)."""

    tenant: str
    source: str = "erp"
    poll_interval_s: float = POLL_INTERVAL_S
    stock_interval_s: float = STOCK_INTERVAL_S
    full_read_interval_s: float = FULL_READ_INTERVAL_S
    reorder_batch: int = REORDER_BATCH_MAX

    def __post_init__(self) -> None:
        if not 1 <= self.reorder_batch <= REORDER_BATCH_MAX:
            raise InvalidInput("reorder_batch", f"{self.reorder_batch} must be from 1 to {REORDER_BATCH_MAX}")
        if self.poll_interval_s <= 0:
            raise InvalidInput("poll_interval_s", "must be above 0 seconds")


@dataclass
class ReorderResult:
    """Reorder events handled in one round."""

    applied: int = 0
    placed: list[str] = field(default_factory=list)
    """References of the purchase orders placed (or found already placed) in the ERP."""
    rejected: list[str] = field(default_factory=list)
    pending: int = 0
    """Events left for a later round (the ERP was unavailable)."""


@dataclass(frozen=True)
class ProductsResult:
    """One products poll: the skus that really changed and the products refused."""

    changed: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()


@dataclass
class RoundResult:
    """What one round did."""

    changed: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    stock_changed: int = 0
    published: list[Outcome] = field(default_factory=list)
    reorders: ReorderResult = field(default_factory=ReorderResult)


class ERPSync:
    """Runs the rounds of the module docstring for one tenant. ``publisher`` None: the hub data only."""

    def __init__(
        self,
        engine: sa.Engine,
        connector: ERPConnector,
        config: SyncConfig,
        publisher: Publisher | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.connector = connector
        self.config = config
        self.publisher = publisher
        self._clock = clock
        self._publish_pending = False

    # ------------------------------------------------------------------ state

    def _cursor_row(self, conn: sa.Connection) -> Any:
        c = db.erp_cursor
        return (
            conn.execute(sa.select(c).where(c.c.tenant == self.config.tenant, c.c.source == self.config.source))
            .mappings()
            .first()
        )

    def _save_cursor(self, conn: sa.Connection, **values: Any) -> None:
        c = db.erp_cursor
        key = (c.c.tenant == self.config.tenant, c.c.source == self.config.source)
        values["updated_at"] = self._clock()
        if conn.execute(sa.select(c.c.tenant).where(*key)).first() is None:
            conn.execute(sa.insert(c).values(tenant=self.config.tenant, source=self.config.source, **values))
        else:
            conn.execute(sa.update(c).where(*key).values(**values))

    def _due(self, stamp: datetime | None, interval_s: float) -> bool:
        if stamp is None:
            return True
        if stamp.tzinfo is None:  # SQLite returns naive datetimes for timezone-aware columns
            stamp = stamp.replace(tzinfo=UTC)
        return self._clock() - stamp >= timedelta(seconds=interval_s)

    # ------------------------------------------------------------------ products and stock

    def sync_products(self) -> ProductsResult:
        """Poll the ERP and upsert what changed (step 1); returns the changed skus and refused products."""
        with self.engine.connect() as conn:
            owner = network.get_tenant(conn, self.config.tenant)
            row = self._cursor_row(conn)
        full = row is None or row["cursor"] is None or self._due(row["full_read_at"], self.config.full_read_interval_s)
        cursor: str | None = None if full else row["cursor"]
        changed: set[str] = set()
        problems: list[Problem] = []
        for _ in range(POLLS_PER_ROUND_MAX):
            changes = self.connector.products_changed_since(cursor)
            with self.engine.begin() as conn:
                done = catalogue.upsert_erp_products(
                    conn,
                    self.config.tenant,
                    changes.products,
                    erp_supplier=owner.erp_supplier,
                    tax_category=owner.default_tax_category,
                    now=self._clock(),
                )
                values: dict[str, Any] = {"cursor": changes.cursor}
                if full and changes.complete:
                    values["full_read_at"] = self._clock()
                self._save_cursor(conn, **values)
            changed.update(done.changed)
            problems += [*changes.problems, *done.problems]
            cursor = changes.cursor
            if changes.complete:
                break
        for problem in problems:
            log.warning(
                "%s: ERP product %s not taken: %s: %s", self.config.tenant, problem.sku, problem.field, problem.problem
            )
        if changed:
            log.info("%s: %d items changed in the ERP", self.config.tenant, len(changed))
        return ProductsResult(tuple(sorted(changed)), tuple(problems))

    def sync_stock(self, *, force: bool = False) -> int:
        """Read stock per warehouse when due (step 2); returns the stock rows that changed."""
        with self.engine.connect() as conn:
            row = self._cursor_row(conn)
        if not force and row is not None and not self._due(row["stock_read_at"], self.config.stock_interval_s):
            return 0
        levels = self.connector.stock_levels()
        by_warehouse: dict[str, list[tuple[str, int, int | None]]] = {}
        for level in levels:
            by_warehouse.setdefault(level.warehouse, []).append((level.sku, level.on_hand, level.forecast))
        with self.engine.begin() as conn:
            changed = sum(
                catalogue.set_stock(conn, self.config.tenant, "warehouse", w, rows, now=self._clock())
                for w, rows in by_warehouse.items()
            )
            self._save_cursor(conn, stock_read_at=self._clock())
        return changed

    # ------------------------------------------------------------------ publishing

    def _never_published(self) -> list[str]:
        d, v = db.store_device, db.config_version
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(d.c.device)
                    .outerjoin(v, sa.and_(v.c.tenant == d.c.tenant, v.c.device == d.c.device, v.c.kind == "catalogue"))
                    .where(d.c.tenant == self.config.tenant, v.c.device.is_(None))
                    .order_by(d.c.device)
                    .limit(network.MAX_LISTED)
                ).scalars()
            )

    def publish(self, catalogue_changed: bool) -> list[Outcome]:
        """Step 3: the catalogue to every box when it changed (or a publish is owed); new boxes get everything."""
        if self.publisher is None:
            return []
        outcomes: list[Outcome] = []
        try:
            for device in self._never_published():
                outcomes += self.publisher.publish_device(self.config.tenant, device, BUILT_KINDS, recheck=True)
            if catalogue_changed or self._publish_pending:
                self._publish_pending = True
                outcomes += self.publisher.publish_tenant(self.config.tenant, ("catalogue",))
                self._publish_pending = False
        except PublishError:
            self._publish_pending = self._publish_pending or catalogue_changed
            raise
        return outcomes

    # ------------------------------------------------------------------ reorders

    def place_reorders(self) -> ReorderResult:
        """Step 4: turn pending ``reorder_request`` events into purchase orders (see the module docstring)."""
        result = ReorderResult()
        e = db.business_event
        with self.engine.connect() as conn:
            owner = network.get_tenant(conn, self.config.tenant)
            events = conn.execute(
                sa.select(e.c.event_id, e.c.store, e.c.data)
                .where(e.c.tenant == self.config.tenant, e.c.type == REORDER_TYPE, e.c.applied_at.is_(None))
                .order_by(e.c.received_at, e.c.seq)
                .limit(self.config.reorder_batch)
            ).all()
        for index, (event_id, store_id, data) in enumerate(events):
            try:
                if not self._place_one(event_id, store_id, data, owner.erp_supplier or "", result):
                    result.pending = len(events) - index
                    break
            except ERPError as exc:
                log.warning("%s: reorder %s waits: %s", self.config.tenant, event_id, exc)
                result.pending = len(events) - index
                break
        return result

    def _place_one(self, event_id: Any, store_id: str, data: Any, supplier: str, result: ReorderResult) -> bool:
        now = self._clock()
        try:
            request = ReorderRequestData.model_validate(data)
            with self.engine.connect() as conn:
                warehouse = network.get_store(conn, self.config.tenant, request.store).warehouse
        except (ValidationError, InvalidInput) as exc:
            self._finish(event_id, None, now, alert=f"reorder event {event_id} cannot be placed: {exc}")
            result.applied += 1
            return True
        try:
            orders = [
                dataclasses.replace(r, warehouse=warehouse) for r in purchase_requests_from_reorder(request, supplier)
            ]
        except ERPRejected as exc:
            self._finish(
                event_id, request, now, alert=f"reorder {request.request_id}: {exc}; set the tenant's erp_supplier"
            )
            result.applied += 1
            return True
        for order in orders:
            if self._recorded(order.reference):
                result.placed.append(order.reference)
                continue
            try:
                ref = self.connector.create_purchase_order(order)
            except ERPRejected as exc:
                self._record(event_id, store_id, order, "rejected", None, None, str(exc), now)
                self._alert(event_id, f"purchase order {order.reference} refused by the ERP: {exc}", now)
                result.rejected.append(order.reference)
                continue
            self._record(event_id, store_id, order, ref.state, ref.erp_id, ref.number, "", now)
            result.placed.append(order.reference)
            log.info("%s: reorder %s placed in the ERP as %s", self.config.tenant, order.reference, ref.erp_id)
        self._finish(event_id, request, now)
        result.applied += 1
        return True

    def _recorded(self, reference: str) -> bool:
        p = db.purchase_order
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    sa.select(p.c.reference).where(p.c.tenant == self.config.tenant, p.c.reference == reference)
                ).first()
                is not None
            )

    def _record(
        self,
        event_id: Any,
        store_id: str,
        order: PurchaseRequest,
        state: str,
        erp_id: str | None,
        number: str | None,
        detail: str,
        now: datetime,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(db.purchase_order).values(
                    tenant=self.config.tenant,
                    reference=order.reference,
                    event_id=event_id,
                    store=store_id,
                    supplier=order.supplier,
                    lines=[{"sku": line.sku, "qty": line.qty} for line in order.lines],
                    state=state,
                    erp_id=erp_id,
                    erp_number=number,
                    detail=detail[:2000],
                    created_at=now,
                )
            )

    def _alert(self, event_id: Any, detail: str, now: datetime, conn: sa.Connection | None = None) -> None:
        log.error("%s: %s", self.config.tenant, detail)
        statement = sa.insert(db.alert).values(
            created_at=now, kind="reorder_refused", tenant=self.config.tenant, event_id=event_id, detail=detail
        )
        if conn is not None:
            conn.execute(statement)
            return
        with self.engine.begin() as own:
            own.execute(statement)

    def _finish(self, event_id: Any, request: ReorderRequestData | None, now: datetime, *, alert: str = "") -> None:
        e = db.business_event
        with self.engine.begin() as conn:
            if alert:
                self._alert(event_id, alert, now, conn)
            if request is not None:
                levels = [(line.sku, line.on_hand, None) for line in request.lines]
                catalogue.set_stock(conn, self.config.tenant, "store", request.store, levels, now=now)
            conn.execute(sa.update(e).where(e.c.event_id == event_id).values(applied_at=now))

    # ------------------------------------------------------------------ the loop

    def run_once(self) -> RoundResult:
        """One round: products, stock when due, publishing, reorders. ERP and broker errors propagate."""
        products = self.sync_products()
        stock_changed = self.sync_stock()
        published = self.publish(bool(products.changed))
        reorders = self.place_reorders()
        return RoundResult(products.changed, products.problems, stock_changed, published, reorders)

    def run(self, until: Callable[[], bool], *, sleep: Callable[[float], object] | None = None) -> None:
        """Run rounds until ``until()`` is true; failures are logged and the pause doubles while they last."""
        wait = sleep or time.sleep
        pause = self.config.poll_interval_s
        while not until():
            try:
                self.run_once()
                pause = self.config.poll_interval_s
            except (ERPError, PublishError, sa.exc.OperationalError) as exc:
                log.warning("%s: ERP sync round failed, next try in %.1f s: %s", self.config.tenant, pause, exc)
                pause = min(ERROR_PAUSE_MAX_S, pause * 2)
            except Exception:  # the loop outlives any one round; the traceback goes to the log
                log.exception("%s: ERP sync round failed", self.config.tenant)
                pause = min(ERROR_PAUSE_MAX_S, pause * 2)
            wait(pause)
