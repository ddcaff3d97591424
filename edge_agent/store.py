"""The box's SQLite store: business rows and their outbox, written together.

Every business event is written in the same transaction as its outbox row, so an event exists exactly when
its effect does (DESIGN.md, "Exactly-once effects"). The database runs in WAL mode with
``synchronous=FULL``: once a :meth:`Store.transaction` block returns, what it wrote survives a power cut.
Sales are written by the checkout (:mod:`edge_agent.checkout`) and by nothing else: the store has no
sale writer of its own, so every sale on the box is priced, earns its points and moves its stock.

A :class:`Store` holds one connection and belongs to one thread; the relay opens its own on the same file.
Schema changes are numbered migrations applied in order at open, tracked by ``PRAGMA user_version``.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core import wire
from edge_agent.errors import EdgeError

MAX_OUTBOX_ROWS = 1_000_000
"""Events a box keeps while it cannot reach the hub (weeks of a busy shop) before it refuses new ones."""
BUSY_TIMEOUT_MS = 10_000


class StoreError(EdgeError):
    """Root of the box store's errors."""

    code = "store_error"


class OutboxFull(StoreError, OSError):
    """The outbox reached its bound: the box has been cut off from the hub for too long."""


class SchemaTooNew(StoreError, RuntimeError):
    """The database was written by a newer edge agent than this one."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


# Each migration is a list of statements; the index + 1 is the schema version it produces.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
        """CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL)""",
        """CREATE TABLE sale (
            id INTEGER PRIMARY KEY,
            sale_id TEXT NOT NULL UNIQUE,
            event_id TEXT NOT NULL UNIQUE,
            store TEXT NOT NULL,
            currency TEXT NOT NULL,
            total_minor INTEGER NOT NULL CHECK (total_minor >= 0),
            created_at TEXT NOT NULL)""",
        """CREATE TABLE sale_line (
            sale_pk INTEGER NOT NULL REFERENCES sale(id),
            line_no INTEGER NOT NULL,
            sku TEXT NOT NULL,
            name TEXT NOT NULL,
            qty INTEGER NOT NULL CHECK (qty > 0),
            unit_price_minor INTEGER NOT NULL CHECK (unit_price_minor >= 0),
            discount_minor INTEGER NOT NULL CHECK (discount_minor >= 0),
            amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
            PRIMARY KEY (sale_pk, line_no))""",
        """CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            topic TEXT NOT NULL,
            payload BLOB NOT NULL,
            created_at TEXT NOT NULL)""",
        """CREATE TABLE outbox_rejected (
            seq INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            topic TEXT NOT NULL,
            payload BLOB NOT NULL,
            created_at TEXT NOT NULL,
            rejected_at TEXT NOT NULL,
            reason TEXT NOT NULL)""",
    ),
    (
        # The counter application: catalogue, stock, customers, cashiers, config from the hub, refunds,
        # reorders. Money is integer minor units; times are UTC ISO 8601 text; JSON bodies are UTF-8 text.
        """CREATE TABLE config (
            kind TEXT PRIMARY KEY,
            version INTEGER NOT NULL CHECK (version >= 0),
            sha256 TEXT NOT NULL,
            body TEXT NOT NULL,
            applied_at TEXT NOT NULL)""",
        """CREATE TABLE setting (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL)""",
        """CREATE TABLE item (
            sku TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            category TEXT NOT NULL,
            tax_category TEXT NOT NULL,
            brand TEXT,
            distributor TEXT,
            unit_price_minor INTEGER NOT NULL CHECK (unit_price_minor >= 0),
            cost_minor INTEGER CHECK (cost_minor >= 0),
            measure_per_unit_milli INTEGER NOT NULL DEFAULT 0 CHECK (measure_per_unit_milli >= 0),
            active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
            origin TEXT NOT NULL CHECK (origin IN ('hub', 'local')),
            updated_at TEXT NOT NULL)""",
        """CREATE TABLE item_barcode (
            barcode TEXT PRIMARY KEY,
            sku TEXT NOT NULL REFERENCES item(sku) ON DELETE CASCADE)""",
        """CREATE INDEX ix_item_barcode_sku ON item_barcode (sku)""",
        """CREATE TABLE item_distributor (
            sku TEXT NOT NULL REFERENCES item(sku) ON DELETE CASCADE,
            distributor TEXT NOT NULL,
            PRIMARY KEY (sku, distributor))""",
        """CREATE TABLE stock (
            sku TEXT PRIMARY KEY REFERENCES item(sku),
            on_hand INTEGER NOT NULL,
            updated_at TEXT NOT NULL)""",
        """CREATE TABLE stock_movement (
            id INTEGER PRIMARY KEY,
            sku TEXT NOT NULL,
            delta INTEGER NOT NULL,
            on_hand_after INTEGER NOT NULL,
            reason TEXT NOT NULL,
            ref TEXT,
            at TEXT NOT NULL)""",
        """CREATE INDEX ix_stock_movement_sku ON stock_movement (sku, id)""",
        """CREATE TABLE stock_rule (
            sku TEXT PRIMARY KEY REFERENCES item(sku),
            low_at INTEGER CHECK (low_at >= 0),
            reorder_point INTEGER CHECK (reorder_point >= 0),
            order_up_to INTEGER CHECK (order_up_to >= 0),
            preferred_distributor TEXT,
            alert_level TEXT NOT NULL DEFAULT 'ok' CHECK (alert_level IN ('ok', 'low', 'out')),
            CHECK (order_up_to IS NULL OR reorder_point IS NULL OR order_up_to > reorder_point))""",
        """CREATE TABLE reorder_request (
            request_id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            origin TEXT NOT NULL,
            body TEXT NOT NULL)""",
        """CREATE TABLE customer (
            loyalty_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            phone_e164 TEXT UNIQUE,
            sticker TEXT UNIQUE,
            gender TEXT,
            birth_date TEXT,
            wechat_id TEXT,
            whatsapp_e164 TEXT,
            enrolled_on TEXT,
            tier_points INTEGER NOT NULL DEFAULT 0,
            transactions_this_month INTEGER NOT NULL DEFAULT 0,
            balance_points INTEGER NOT NULL DEFAULT 0,
            balance_at TEXT,
            offline_allowance_points INTEGER NOT NULL DEFAULT 0 CHECK (offline_allowance_points >= 0),
            held_points INTEGER NOT NULL DEFAULT 0 CHECK (held_points >= 0),
            segment_ids TEXT NOT NULL DEFAULT '[]',
            last_birthday_bonus_year INTEGER,
            last_anniversary_bonus_year INTEGER,
            marketing_consent INTEGER CHECK (marketing_consent IN (0, 1)),
            marketing_consent_at TEXT,
            fingerprint_consent INTEGER CHECK (fingerprint_consent IN (0, 1)),
            fingerprint_consent_at TEXT,
            origin TEXT NOT NULL CHECK (origin IN ('hub', 'local')),
            updated_at TEXT NOT NULL)""",
        # Biometrics, sealed with the box's key; a sensor slot when the template sits on the sensor (LRU).
        """CREATE TABLE biometric (
            loyalty_id TEXT PRIMARY KEY REFERENCES customer(loyalty_id) ON DELETE CASCADE,
            fingerprint_sealed BLOB,
            face_sealed BLOB,
            signature_svg TEXT,
            sensor_slot INTEGER UNIQUE,
            last_seen_at TEXT)""",
        """CREATE TABLE cashier (
            cashier_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            pin_hash TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('cashier', 'manager')),
            active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT)""",
        """ALTER TABLE sale ADD COLUMN customer TEXT""",
        """ALTER TABLE sale ADD COLUMN cashier TEXT""",
        """ALTER TABLE sale ADD COLUMN tax_added_minor INTEGER NOT NULL DEFAULT 0""",
        """ALTER TABLE sale ADD COLUMN points_earned INTEGER NOT NULL DEFAULT 0""",
        """ALTER TABLE sale ADD COLUMN points_redeemed INTEGER NOT NULL DEFAULT 0""",
        """ALTER TABLE sale ADD COLUMN refunded_minor INTEGER NOT NULL DEFAULT 0""",
        # The priced receipt and the settlement, as JSON: reprints and refunds work from these.
        """ALTER TABLE sale ADD COLUMN detail TEXT""",
        """CREATE INDEX ix_sale_created ON sale (created_at)""",
        """CREATE INDEX ix_sale_customer ON sale (customer)""",
        """ALTER TABLE sale_line ADD COLUMN category TEXT""",
        """ALTER TABLE sale_line ADD COLUMN cost_minor INTEGER""",
        """ALTER TABLE sale_line ADD COLUMN refunded_qty INTEGER NOT NULL DEFAULT 0""",
        """CREATE INDEX ix_sale_line_sku ON sale_line (sku)""",
        """CREATE TABLE refund (
            refund_id TEXT PRIMARY KEY,
            sale_id TEXT NOT NULL REFERENCES sale(sale_id),
            event_id TEXT NOT NULL UNIQUE,
            total_minor INTEGER NOT NULL CHECK (total_minor >= 0),
            points_reversed INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            detail TEXT NOT NULL)""",
        """CREATE INDEX ix_refund_sale ON refund (sale_id)""",
    ),
)

# Work in progress at the counter that must survive a restart (SIGTERM, SIGKILL, a power cut): the signed-in
# browsers of the mPOS (edge_agent.web.auth) and the sale each is ringing up (edge_agent.checkout).
OPEN_WORK_MIGRATION: tuple[str, ...] = (
    # A session is named by the SHA-256 of its cookie token: the token itself is never written down.
    """CREATE TABLE web_session (
        session_key TEXT PRIMARY KEY,
        cashier_id TEXT NOT NULL REFERENCES cashier(cashier_id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        language TEXT,
        started_at TEXT NOT NULL,
        seen_at TEXT NOT NULL,
        expires_at TEXT NOT NULL)""",
    """CREATE INDEX ix_web_session_seen ON web_session (seen_at)""",
    # The open sale of a session: basket lines, customer, points and tenders as JSON (Checkout.resume reads
    # it). It goes with its session, and is deleted in the transaction that commits the sale.
    """CREATE TABLE open_sale (
        sale_id TEXT PRIMARY KEY,
        owner TEXT NOT NULL UNIQUE REFERENCES web_session(session_key) ON DELETE CASCADE,
        cashier TEXT,
        state TEXT NOT NULL,
        updated_at TEXT NOT NULL)""",
)
MIGRATIONS = (*MIGRATIONS, OPEN_WORK_MIGRATION)

# The box's own points movements per customer (edge_agent.customers.record_points): one row per sale or
# refund event that redeemed, earned, gave back or took back points, kept after the hub's ack until a
# customers snapshot whose watermark covers its seq sets the customer's balance (``customer.balance_seq``).
# ``redeemed`` and ``earned`` are negative for a refund (points given back, earned points taken back).
POINTS_JOURNAL_MIGRATION: tuple[str, ...] = (
    """CREATE TABLE points_journal (
        seq INTEGER PRIMARY KEY,
        loyalty_id TEXT NOT NULL,
        redeemed INTEGER NOT NULL,
        earned INTEGER NOT NULL,
        created_at TEXT NOT NULL)""",
    """CREATE INDEX ix_points_journal_customer ON points_journal (loyalty_id, seq)""",
    # The watermark of the snapshot that last set the customer's balance_points (0: none stated).
    """ALTER TABLE customer ADD COLUMN balance_seq INTEGER NOT NULL DEFAULT 0""",
    # What the box counted before the journal: its sales and refunds still waiting in the outbox.
    """INSERT INTO points_journal (seq, loyalty_id, redeemed, earned, created_at)
        SELECT o.seq, s.customer, s.points_redeemed, s.points_earned, s.created_at
        FROM sale s JOIN outbox o ON o.event_id = s.event_id
        WHERE s.customer IS NOT NULL AND (s.points_redeemed <> 0 OR s.points_earned <> 0)""",
    """INSERT INTO points_journal (seq, loyalty_id, redeemed, earned, created_at)
        SELECT o.seq, s.customer,
            -(SELECT coalesce(sum(json_extract(t.value, '$.points')), 0)
              FROM json_each(CAST(o.payload AS TEXT), '$.data.tenders') t
              WHERE json_extract(t.value, '$.kind') = 'points'),
            -r.points_reversed, r.created_at
        FROM refund r JOIN outbox o ON o.event_id = r.event_id JOIN sale s ON s.sale_id = r.sale_id
        WHERE s.customer IS NOT NULL""",
)
MIGRATIONS = (*MIGRATIONS, POINTS_JOURNAL_MIGRATION)


@dataclass(frozen=True)
class OutboxRow:
    """One event waiting for the hub's commit acknowledgement."""

    seq: int
    event_id: uuid.UUID
    type: str
    topic: str
    payload: bytes


@dataclass(frozen=True)
class Totals:
    """What the box has sold, for reconciliation with the hub."""

    sales: int
    by_currency: dict[str, int]
    outbox_depth: int
    acked: int
    rejected: int


class Transaction:
    """An open write transaction of :meth:`Store.transaction`: ``conn`` for rows, :meth:`emit` for events."""

    def __init__(self, store: Store, conn: sqlite3.Connection, now: datetime) -> None:
        self.store = store
        self.conn = conn
        self.now = now
        """The transaction's clock reading: every row and event of it carries this time."""
        self.last_seq = 0
        self.emitted = 0

    def emit(self, data: wire.EventData, *, event_id: uuid.UUID | None = None) -> tuple[uuid.UUID, int]:
        """Queue ``data`` for the hub in this transaction; returns its event id and sequence number.

        Raises :class:`OutboxFull` when the outbox is at its bound, and ``InvalidInput`` when the event would
        exceed the payload size bound; either way the caller's block rolls back.
        """
        return self.store._emit(self, data, event_id)


class Store:
    """The box's database. ``tenant`` and ``device`` are fixed at first open and checked after."""

    def __init__(
        self,
        path: Path | str,
        *,
        tenant: str,
        device: str,
        clock: Callable[[], datetime] = _utc_now,
        entropy: Callable[[int], bytes] = os.urandom,
        max_outbox_rows: int = MAX_OUTBOX_ROWS,
        durable: bool = True,
        threads: bool = False,
    ) -> None:
        self.path = Path(path)
        self.tenant = wire.check_name(tenant, "tenant")
        self.device = wire.check_name(device, "device")
        self._clock = clock
        self._entropy = entropy
        self.max_outbox_rows = max_outbox_rows
        self._last_seq = 0
        self._depth_estimate = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # ``threads=True``: the connection may be used from several threads, one at a time (the web UI
        # serialises its requests); each other thread of the agent (relay, config sync) opens its own Store.
        self._db = sqlite3.connect(
            self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=not threads
        )
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(f"{self.path}: could not enable WAL (got {mode!r}); is it on a network filesystem?")
        # ``durable=False`` exists for bulk-built test and benchmark fixtures only; a box never uses it.
        self._db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._migrate()
        self._bind_identity()
        self._load_positions()

    def close(self) -> None:
        self._db.close()

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection, for reads. Writes go through :meth:`transaction`."""
        return self._db

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ schema

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version
        if current > len(MIGRATIONS):
            raise SchemaTooNew(
                f"{self.path} has schema {current}, this edge agent knows {len(MIGRATIONS)}: upgrade the agent"
            )
        for version, statements in enumerate(MIGRATIONS[current:], start=current + 1):
            with self._write():
                for statement in statements:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {version}")

    def _bind_identity(self) -> None:
        with self._write():
            rows = dict(self._db.execute("SELECT key, value FROM meta WHERE key IN ('tenant', 'device')"))
            if not rows:
                self._db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("tenant", self.tenant), ("device", self.device)],
                )
                self._db.executemany(
                    "INSERT INTO counter (name, value) VALUES (?, 0)",
                    [("seq",), ("connection",), ("acked",), ("rejected",)],
                )
            elif rows != {"tenant": self.tenant, "device": self.device}:
                raise StoreError(
                    f"{self.path} belongs to {rows.get('tenant')}/{rows.get('device')}, "
                    f"not {self.tenant}/{self.device}: wrong database file for this box"
                )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at BEGIN so concurrent writers queue instead of failing late."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _next(self, name: str) -> int:
        row = self._db.execute(
            "UPDATE counter SET value = value + 1 WHERE name = ? RETURNING value", (name,)
        ).fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ events

    def new_event_id(self) -> uuid.UUID:
        return wire.uuid7(int(self._clock().timestamp() * 1000), self._entropy(10))

    def next_connection(self) -> int:
        """Number this connection to the broker: the ``seq`` of its status messages."""
        with self._write():
            return self._next("connection")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One write transaction for business rows and the events that announce them (all or nothing).

        Write the rows with ``tx.conn`` and announce them with ``tx.emit(data)``; an exception inside the
        block rolls everything back, events included.
        """
        now = self._clock()
        with self._write() as db:
            tx = Transaction(self, db, now)
            yield tx
        if tx.last_seq:
            self._last_seq = max(self._last_seq, tx.last_seq)
            self._depth_estimate += tx.emitted

    def _emit(self, tx: Transaction, data: wire.EventData, event_id: uuid.UUID | None) -> tuple[uuid.UUID, int]:
        db = tx.conn
        if tx.last_seq == 0:
            # Read under the write lock: another connection to this file may have written since.
            row = db.execute(
                "SELECT max((SELECT value FROM counter WHERE name = 'seq'), "
                "coalesce((SELECT max(seq) FROM outbox), 0), coalesce((SELECT max(seq) FROM outbox_rejected), 0))"
            ).fetchone()
            tx.last_seq = int(row[0])
        self._check_room(tx.emitted + 1)
        if event_id is None:
            event_id = wire.uuid7(int(tx.now.timestamp() * 1000), self._entropy(10))
        seq = tx.last_seq + 1
        payload = wire.encode(id=event_id, seq=seq, ts=tx.now, device=self.device, data=data)
        topic = str(wire.event_topic(self.tenant, self.device, data.TYPE))
        db.execute(
            "INSERT INTO outbox (seq, event_id, type, topic, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (seq, str(event_id), data.TYPE, topic, payload, tx.now.isoformat()),
        )
        tx.last_seq = seq
        tx.emitted += 1
        return event_id, seq

    def _check_room(self, adding: int) -> None:
        """Refuse with :class:`OutboxFull` when ``adding`` more events would pass the outbox bound.

        Checked against an in-memory estimate that only grows between counts; the relay's deletes (on its
        own connection) are seen by counting again, which happens only near the bound.
        """
        if self._depth_estimate + adding > self.max_outbox_rows:
            self._depth_estimate = self.outbox_depth()
            if self._depth_estimate + adding > self.max_outbox_rows:
                raise OutboxFull(
                    f"{self.max_outbox_rows} events are waiting for the hub; check the box's network "
                    "connection and broker credentials before going on"
                )

    # ------------------------------------------------------------------ outbox

    def outbox_depth(self) -> int:
        """Events waiting for the hub."""
        return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def _load_positions(self) -> None:
        """The last sequence number used, and the outbox depth, kept in memory between writes.

        The ``seq`` counter row is raised by :meth:`settle` before it deletes events, so the largest of the
        counter and the sequence numbers still in the outbox tables is the last one ever used.
        """
        row = self._db.execute(
            "SELECT max((SELECT value FROM counter WHERE name = 'seq'), "
            "coalesce((SELECT max(seq) FROM outbox), 0), coalesce((SELECT max(seq) FROM outbox_rejected), 0))"
        ).fetchone()
        self._last_seq = int(row[0])
        self._depth_estimate = self.outbox_depth()

    def outbox_after(self, seq: int, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` waiting events with a sequence number above ``seq``, oldest first."""
        rows = self._db.execute(
            "SELECT seq, event_id, type, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [OutboxRow(s, uuid.UUID(e), t, tp, bytes(p)) for s, e, t, tp, p in rows]

    def settle(self, results: Sequence[wire.AckResult]) -> int:
        """Apply the hub's verdicts: committed or duplicate events leave the outbox; rejected ones move to
        ``outbox_rejected`` with the hub's reason (kept, never silently dropped). Returns rows settled."""
        done = [str(r.id) for r in results if r.status in ("committed", "duplicate")]
        rejected = [(str(r.id), r.reason or "rejected") for r in results if r.status == "rejected"]
        now = self._clock().isoformat()
        with self._write() as db:
            keys = [(e,) for e in done] + [(e,) for e, _ in rejected]
            for start in range(0, len(keys), 500):
                chunk = [k[0] for k in keys[start : start + 500]]
                marks = ",".join("?" * len(chunk))
                db.execute(
                    "UPDATE counter SET value = max(value, coalesce((SELECT max(seq) FROM outbox "  # noqa: S608
                    f"WHERE event_id IN ({marks})), 0)) WHERE name = 'seq'",
                    chunk,
                )
            settled = db.executemany("DELETE FROM outbox WHERE event_id = ?", [(e,) for e in done]).rowcount
            db.execute("UPDATE counter SET value = value + ? WHERE name = 'acked'", (settled,))
            moved = 0
            for event_id, reason in rejected:
                moved += db.execute(
                    "INSERT INTO outbox_rejected (seq, event_id, type, topic, payload, created_at, rejected_at, "
                    "reason) SELECT seq, event_id, type, topic, payload, created_at, ?, ? FROM outbox "
                    "WHERE event_id = ?",
                    (now, reason, event_id),
                ).rowcount
                db.execute("DELETE FROM outbox WHERE event_id = ?", (event_id,))
            db.execute("UPDATE counter SET value = value + ? WHERE name = 'rejected'", (moved,))
        return settled + moved

    def totals(self) -> Totals:
        by_currency = dict(
            self._db.execute("SELECT currency, sum(total_minor) FROM sale GROUP BY currency ORDER BY currency")
        )
        counters = dict(self._db.execute("SELECT name, value FROM counter"))
        sales = int(self._db.execute("SELECT count(*) FROM sale").fetchone()[0])
        return Totals(sales, by_currency, self.outbox_depth(), counters["acked"], counters["rejected"])


# ---------------------------------------------------------------------------------------------- open sales


def save_open_sale(store: Store, sale_id: str, owner: str, cashier: str | None, state: str) -> bool:
    """Keep the open sale ``sale_id`` of session ``owner`` (its ``state`` as JSON), replacing what was kept.

    Returns False, writing nothing, when the owner's session no longer exists (it ended meanwhile).
    """
    with store.transaction() as tx:
        if tx.conn.execute("SELECT 1 FROM web_session WHERE session_key = ?", (owner,)).fetchone() is None:
            return False
        tx.conn.execute("DELETE FROM open_sale WHERE owner = ? AND sale_id <> ?", (owner, sale_id))
        tx.conn.execute(
            "INSERT INTO open_sale (sale_id, owner, cashier, state, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (sale_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            (sale_id, owner, cashier, state, tx.now.isoformat()),
        )
    return True


def load_open_sale(store: Store, owner: str) -> tuple[str, str | None, str] | None:
    """The open sale kept for session ``owner``: (sale id, cashier, state JSON), or None."""
    row = store.conn.execute("SELECT sale_id, cashier, state FROM open_sale WHERE owner = ?", (owner,)).fetchone()
    return None if row is None else (str(row[0]), row[1], str(row[2]))


def drop_open_sale(conn: sqlite3.Connection, sale_id: str) -> None:
    """Forget the open sale ``sale_id`` (completed or cancelled); inside the caller's transaction."""
    conn.execute("DELETE FROM open_sale WHERE sale_id = ?", (sale_id,))
