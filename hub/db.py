"""The hub's database: SQLAlchemy 2 tables, engines for SQLite and PostgreSQL, and Alembic migrations.

An SQLite file is the embedded default (the demo, one small distributor); PostgreSQL is production. The same
code and the same tests run on both. The schema is changed only by the Alembic revisions in
``hub/migrations/versions``; :func:`migrate` brings a database to the newest one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
DEFAULT_SQLITE_PATH = Path("var/hub.sqlite3")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Timestamp = sa.DateTime(timezone=True)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("event_id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("device", sa.String(64), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("payload_sha256", sa.String(64), nullable=False),
    sa.Column("box_ts", Timestamp, nullable=False),
    sa.Column("received_at", Timestamp, nullable=False),
    sa.Index("ix_inbox_tenant_device_seq", "tenant", "device", "seq"),
)

sale = sa.Table(
    "sale",
    metadata,
    sa.Column("event_id", sa.Uuid, sa.ForeignKey("inbox.event_id"), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("device", sa.String(64), nullable=False),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("sale_id", sa.String(64), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("total_minor", sa.BigInteger, nullable=False),
    sa.Column("line_count", sa.Integer, nullable=False),
    sa.Column("customer", sa.String(12)),
    sa.Column("box_ts", Timestamp, nullable=False),
    sa.Column("received_at", Timestamp, nullable=False),
    sa.CheckConstraint("total_minor >= 0", name="total_not_negative"),
    sa.Index("ix_sale_tenant_device", "tenant", "device"),
    sa.Index("ix_sale_tenant_customer", "tenant", "customer"),
)

sale_line = sa.Table(
    "sale_line",
    metadata,
    sa.Column("event_id", sa.Uuid, sa.ForeignKey("sale.event_id"), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("sku", sa.String(64), nullable=False),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("qty", sa.Integer, nullable=False),
    sa.Column("unit_price_minor", sa.BigInteger, nullable=False),
    sa.Column("discount_minor", sa.BigInteger, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
)

dead_letter = sa.Table(
    "dead_letter",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("received_at", Timestamp, nullable=False),
    sa.Column("topic", sa.String(256), nullable=False),
    sa.Column("tenant", sa.String(64)),
    sa.Column("device", sa.String(64)),
    sa.Column("event_id", sa.Uuid),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("payload_size", sa.Integer, nullable=False),
    sa.Column("payload_sha256", sa.String(64), nullable=False),
    sa.Index("ix_dead_letter_reason", "reason"),
)

alert = sa.Table(
    "alert",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("tenant", sa.String(64)),
    sa.Column("device", sa.String(64)),
    sa.Column("event_id", sa.Uuid),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("resolved_at", Timestamp),
)

business_event = sa.Table(
    # Every accepted box event other than a sale, as it arrived: the ledger, stock and customer services
    # apply them from here in order (``applied_at`` set when done).
    "business_event",
    metadata,
    sa.Column("event_id", sa.Uuid, sa.ForeignKey("inbox.event_id"), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("device", sa.String(64), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("box_ts", Timestamp, nullable=False),
    sa.Column("received_at", Timestamp, nullable=False),
    sa.Column("applied_at", Timestamp),
    sa.Index("ix_business_event_pending", "tenant", "type", "applied_at"),
)

device = sa.Table(
    "device",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("device", sa.String(64), primary_key=True),
    sa.Column("online", sa.Boolean, nullable=False),
    sa.Column("status_seq", sa.BigInteger, nullable=False),
    sa.Column("status_reason", sa.String(32), nullable=False),
    sa.Column("software", sa.String(64), nullable=False),
    sa.Column("status_ts", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)


def default_url() -> str:
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


SQLITE_BUSY_TIMEOUT_MS: Final = 10_000
"""How long an SQLite connection waits for another writer (the ingest, the jobs) before it gives up."""

WRITES: Final = "mostrador_writes"
"""Execution option: on SQLite, this connection's transactions read and then write, so they take the write
lock at BEGIN (``BEGIN IMMEDIATE``, waiting up to the busy timeout). See :func:`writing`."""


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # The busy timeout first: even switching to WAL takes a lock another process may hold.
    dbapi_conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    dbapi_conn.execute("PRAGMA journal_mode=WAL")
    dbapi_conn.execute("PRAGMA synchronous=FULL")
    dbapi_conn.execute("PRAGMA foreign_keys=ON")
    # SQLAlchemy, not Python's sqlite3, opens and ends transactions (see _sqlite_begin).
    dbapi_conn.isolation_level = None


def _sqlite_begin(conn: sa.Connection) -> None:
    # Python's sqlite3 on its own begins a transaction lazily, at the first write: the reads before it each
    # see whatever was committed at that statement, and a SAVEPOINT taken first starts (and its RELEASE
    # commits) a transaction of its own. So every transaction begins here, explicitly, and reads one snapshot.
    # A deferred transaction that reads and then writes fails at once ("database is locked", no wait) when
    # another process committed in between: such transactions take the write lock at BEGIN instead.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITES) else "BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get WAL, full sync, foreign keys, a busy timeout, and transactions
    that begin explicitly (``BEGIN``; ``BEGIN IMMEDIATE`` on a :data:`WRITES` connection)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


@contextmanager
def writing(engine: Engine) -> Iterator[sa.Connection]:
    """One transaction that reads and then writes: on SQLite it holds the write lock from its first statement
    (waiting for another writer up to the busy timeout), so what it read is still true when it writes."""
    with engine.connect().execution_options(**{WRITES: True}) as conn, conn.begin():
        yield conn


def one_line(exc: BaseException) -> str:
    """A database error as one line a person can read: the driver's message, without the SQL and its
    parameters SQLAlchemy appends (they belong in a debug log, not on an operator's screen)."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        text = f"{type(exc.orig).__name__}: {exc.orig}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split("\n", 1)[0].split())


IN_CHUNK: Final = 500
"""Values bound into one ``IN (...)`` list (or rows read back per query): statements stay small on both
databases, far below SQLite's and PostgreSQL's limits on bound parameters."""

_T = TypeVar("_T")


def chunks(values: Sequence[_T], size: int = IN_CHUNK) -> Iterator[Sequence[_T]]:
    """``values`` in consecutive slices of at most ``size`` (the last one may be shorter; none when empty)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    for start in range(0, len(values), size):
        yield values[start : start + size]


def insert(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT for ``table`` in ``conn``'s dialect, so ``on_conflict_do_nothing`` / ``on_conflict_do_update``
    are available on SQLite and PostgreSQL alike (the result is the dialect's own ``Insert``)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database {dialect!r}: the hub runs on SQLite or PostgreSQL")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine, revision: str = "heads") -> None:
    """Upgrade the database behind ``engine`` to ``revision`` (default: the newest of every branch).

    Features that add tables independently of each other may do so on parallel migration branches from a
    common revision; ``heads`` applies them all.
    """
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


# --- points ledger (hub/ledger/engine.py) -------------------------------------------------------------------------

ledger_program = sa.Table(
    # What the ledger needs to know of a points program: its money value and how long earned points last.
    "ledger_program",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("program", sa.String(64), primary_key=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("points_per_step", sa.BigInteger, nullable=False),
    sa.Column("value_minor_per_step", sa.BigInteger, nullable=False),
    sa.Column("lot_expiry_months", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.CheckConstraint("points_per_step > 0 AND value_minor_per_step > 0", name="positive_rate"),
    sa.CheckConstraint("lot_expiry_months >= 0", name="expiry_not_negative"),
)

ledger_account = sa.Table(
    # One account per (tenant, program, kind, owner). Running totals are kept on the row and changed only in
    # the transaction that writes the transfers behind them.
    "ledger_account",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("program", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("floor_points", sa.BigInteger, nullable=False),
    sa.Column("flags", sa.Integer, nullable=False),
    sa.Column("debits_pending", sa.BigInteger, nullable=False),
    sa.Column("debits_posted", sa.BigInteger, nullable=False),
    sa.Column("credits_pending", sa.BigInteger, nullable=False),
    sa.Column("credits_posted", sa.BigInteger, nullable=False),
    sa.Column("lot_debt_points", sa.BigInteger, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.CheckConstraint("floor_points <= 0", name="floor_not_positive"),
    sa.CheckConstraint(
        "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 AND credits_posted >= 0 "
        "AND lot_debt_points >= 0",
        name="totals_not_negative",
    ),
    sa.UniqueConstraint("tenant", "program", "kind", "owner", name="uq_ledger_account_key"),
)

ledger_transfer = sa.Table(
    # Immutable: a row is written once and never updated. ``pending_id`` is unique, so a pending transfer is
    # posted or voided at most once. The account columns carry no foreign key: the ledger writes a transfer
    # only after reading and locking both accounts, and a per-row key check would halve the apply rate.
    "ledger_transfer",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("program", sa.String(64), nullable=False),
    sa.Column("debit_account_id", sa.Uuid, nullable=False),
    sa.Column("credit_account_id", sa.Uuid, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("code", sa.String(8), nullable=False),
    sa.Column("ref", sa.String(64), nullable=False),
    sa.Column("pending_id", sa.Uuid),
    sa.Column("flags", sa.Integer, nullable=False),
    sa.Column("state", sa.String(8), nullable=False),
    sa.Column("effective_at", Timestamp, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
    sa.CheckConstraint("debit_account_id <> credit_account_id", name="accounts_differ"),
    # Partial indexes: only posts/voids and reversals are looked up this way, and most rows are neither.
    sa.Index(
        "uq_ledger_transfer_pending_id",
        "pending_id",
        unique=True,
        postgresql_where=sa.text("pending_id IS NOT NULL"),
        sqlite_where=sa.text("pending_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_ledger_transfer_reversed",
        "ref",
        postgresql_where=sa.text("code = 'reverse'"),
        sqlite_where=sa.text("code = 'reverse'"),
    ),
    sa.Index("ix_ledger_transfer_period", "tenant", "program", "created_at"),
)

ledger_lot = sa.Table(
    # Points credited to a customer account, spent oldest expiry first and expired when their time comes.
    # Written, like transfers, under the account's lock: no per-row foreign key check.
    "ledger_lot",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("account_id", sa.Uuid, nullable=False),
    sa.Column("transfer_id", sa.Uuid, nullable=False),
    sa.Column("funder", sa.String(64), nullable=False),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("remaining", sa.BigInteger, nullable=False),
    sa.Column("expired_points", sa.BigInteger, nullable=False),
    sa.Column("earned_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp),
    sa.CheckConstraint("points > 0 AND remaining >= 0 AND remaining <= points", name="remaining_in_range"),
    sa.Index("ix_ledger_lot_account", "account_id"),
    sa.Index("ix_ledger_lot_expiry", "expires_at"),
)

ledger_lot_use = sa.Table(
    # Which lots a transfer spent (positive) or gave back (negative, a reversal). ``for_transfer_id`` is the
    # spending transfer; a reversal's rows carry the id of the transfer it reverses.
    "ledger_lot_use",
    metadata,
    sa.Column("for_transfer_id", sa.Uuid, primary_key=True),
    sa.Column("lot_id", sa.Uuid, primary_key=True),
    sa.Column("transfer_id", sa.Uuid, primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
)

ledger_overdraft = sa.Table(
    # Follow-up list: an offline redemption the box already honoured took a customer below its floor.
    "ledger_overdraft",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("transfer_id", sa.Uuid, nullable=False, unique=True),
    sa.Column("account_id", sa.Uuid, sa.ForeignKey("ledger_account.id"), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("program", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("available_points", sa.BigInteger, nullable=False),
    sa.Column("floor_points", sa.BigInteger, nullable=False),
    sa.Column("shortfall_points", sa.BigInteger, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("resolved_at", Timestamp),
    sa.Index("ix_ledger_overdraft_open", "tenant", "resolved_at"),
)

ledger_settlement = sa.Table(
    # One line per party of a closed settlement period, in points and in money.
    "ledger_settlement",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("program", sa.String(64), primary_key=True),
    sa.Column("period_start", Timestamp, primary_key=True),
    sa.Column("party", sa.String(64), primary_key=True),
    sa.Column("period_end", Timestamp, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("accepted_points", sa.BigInteger, nullable=False),
    sa.Column("funded_points", sa.BigInteger, nullable=False),
    sa.Column("owed_to_party_minor", sa.BigInteger, nullable=False),
    sa.Column("owed_by_party_minor", sa.BigInteger, nullable=False),
    sa.Column("net_minor", sa.BigInteger, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)


# --- network, catalogue, ERP sync and config publishing (hub/network, catalogue, erp/sync.py, publishing) ---

tenant = sa.Table(
    # A distributor running a network. ``erp_supplier`` is its own party code in its ERP: the distributor of
    # items the ERP sends, and the supplier of reorders whose lines name none.
    "tenant",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("loyalty_prefix", sa.Integer, nullable=False, unique=True),
    sa.Column("erp_supplier", sa.String(64)),
    sa.Column("default_tax_category", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("loyalty_prefix BETWEEN 100 AND 999", name="prefix_in_range"),
)

retailer = sa.Table(
    "retailer",
    metadata,
    sa.Column("tenant", sa.String(64), sa.ForeignKey("tenant.tenant"), primary_key=True),
    sa.Column("retailer", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

store = sa.Table(
    # What a box's ``settings`` snapshot says about its store. ``warehouse`` is the ERP warehouse (by code)
    # that serves the store: purchase orders for its reorders are delivered there.
    "store",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("store", sa.String(64), primary_key=True),
    sa.Column("retailer", sa.String(64), nullable=False),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("jurisdiction", sa.String(64), nullable=False),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("receipt", sa.JSON, nullable=False),
    sa.Column("offline_allowance_points", sa.BigInteger, nullable=False),
    sa.Column("wallets_enabled", sa.Boolean, nullable=False),
    sa.Column("warehouse", sa.String(64)),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    # Where the store is, for the distributor's analytics: ISO 3166-1 alpha-2 country, region (state or
    # province), municipality, postal code, optional coordinates, and the distribution centre that supplies it.
    sa.Column("country", sa.String(2)),
    sa.Column("region", sa.String(64), nullable=False, server_default=""),
    sa.Column("municipality", sa.String(120)),
    sa.Column("postal_code", sa.String(16)),
    sa.Column("latitude", sa.Float),
    sa.Column("longitude", sa.Float),
    sa.Column("dc", sa.String(64)),
    sa.ForeignKeyConstraint(["tenant", "retailer"], ["retailer.tenant", "retailer.retailer"]),
    sa.ForeignKeyConstraint(["tenant", "dc"], ["distribution_centre.tenant", "distribution_centre.dc"]),
    sa.CheckConstraint("offline_allowance_points >= 0", name="allowance_not_negative"),
    sa.CheckConstraint(
        "(latitude IS NULL OR latitude BETWEEN -90 AND 90) AND (longitude IS NULL OR longitude BETWEEN -180 AND 180)",
        name="coordinates_in_range",
    ),
    sa.Index("ix_store_region", "tenant", "region"),
)

distribution_centre = sa.Table(
    # A distributor's warehouse that supplies stores (``store.dc``), in a region.
    "distribution_centre",
    metadata,
    sa.Column("tenant", sa.String(64), sa.ForeignKey("tenant.tenant"), primary_key=True),
    sa.Column("dc", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

manufacturer = sa.Table(
    # A manufacturer whose brands the distributor carries (it may fund promotions for them).
    "manufacturer",
    metadata,
    sa.Column("tenant", sa.String(64), sa.ForeignKey("tenant.tenant"), primary_key=True),
    sa.Column("manufacturer", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

brand = sa.Table(
    # A brand and the manufacturer that owns it (``catalogue_item.brand`` names it).
    "brand",
    metadata,
    sa.Column("tenant", sa.String(64), sa.ForeignKey("tenant.tenant"), primary_key=True),
    sa.Column("brand", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("manufacturer", sa.String(64)),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.ForeignKeyConstraint(["tenant", "manufacturer"], ["manufacturer.tenant", "manufacturer.manufacturer"]),
    sa.Index("ix_brand_manufacturer", "tenant", "manufacturer"),
)

postal_area = sa.Table(
    # What the hub knows of a postal code: its region (a member's zone) and municipality.
    "postal_area",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("postal_code", sa.String(16), primary_key=True),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("municipality", sa.String(120)),
    sa.Column("updated_at", Timestamp, nullable=False),
)

store_device = sa.Table(
    # Which store a counter box serves, and the loyalty numbers it may hand out offline.
    "store_device",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("device", sa.String(64), primary_key=True),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("loyalty_first", sa.BigInteger, nullable=False),
    sa.Column("loyalty_last", sa.BigInteger, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.ForeignKeyConstraint(["tenant", "store"], ["store.tenant", "store.store"]),
    sa.CheckConstraint("loyalty_first >= 1 AND loyalty_first <= loyalty_last", name="range_ordered"),
    sa.Index("ix_store_device_store", "tenant", "store"),
)

catalogue_item = sa.Table(
    # The distributor's items and prices; ``source`` says what last wrote the row (erp, import, admin).
    "catalogue_item",
    metadata,
    sa.Column("tenant", sa.String(64), sa.ForeignKey("tenant.tenant"), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("tax_category", sa.String(64), nullable=False),
    sa.Column("brand", sa.String(64)),
    sa.Column("manufacturer", sa.String(64)),
    sa.Column("distributor", sa.String(64)),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("unit_price_minor", sa.BigInteger, nullable=False),
    sa.Column("cost_minor", sa.BigInteger),
    sa.Column("measure_per_unit_milli", sa.BigInteger, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(8), nullable=False),
    sa.Column("erp_id", sa.String(64)),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("unit_price_minor >= 0 AND (cost_minor IS NULL OR cost_minor >= 0)", name="money_positive"),
)

catalogue_barcode = sa.Table(
    # A barcode names one item of the tenant.
    "catalogue_barcode",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("barcode", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(64), nullable=False),
    sa.ForeignKeyConstraint(["tenant", "sku"], ["catalogue_item.tenant", "catalogue_item.sku"]),
    sa.Index("ix_catalogue_barcode_sku", "tenant", "sku"),
)

catalogue_carrier = sa.Table(
    # The distributors that carry an item (a box may reorder it from any of them).
    "catalogue_carrier",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("distributor", sa.String(64), primary_key=True),
    sa.ForeignKeyConstraint(["tenant", "sku"], ["catalogue_item.tenant", "catalogue_item.sku"]),
)

catalogue_stock = sa.Table(
    # Quantities on hand per ERP warehouse (``location_kind`` 'warehouse') or per store ('store').
    "catalogue_stock",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("location_kind", sa.String(9), primary_key=True),
    sa.Column("location", sa.String(64), primary_key=True),
    sa.Column("on_hand", sa.BigInteger, nullable=False),
    sa.Column("forecast", sa.BigInteger),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("location_kind IN ('warehouse', 'store')", name="location_kind_known"),
)

stock_rule = sa.Table(
    # Alert and auto-reorder rules; ``store`` '' is the tenant's default, a store's own row overrides it.
    "stock_rule",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("store", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("low_at", sa.BigInteger),
    sa.Column("reorder_point", sa.BigInteger),
    sa.Column("order_up_to", sa.BigInteger),
    sa.Column("preferred_distributor", sa.String(64)),
    sa.Column("updated_at", Timestamp, nullable=False),
)

erp_cursor = sa.Table(
    # Where the ERP poll of a tenant stands: the connector's opaque cursor and the last full read.
    "erp_cursor",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("cursor", sa.Text),
    sa.Column("full_read_at", Timestamp),
    sa.Column("stock_read_at", Timestamp),
    sa.Column("updated_at", Timestamp, nullable=False),
)

purchase_order = sa.Table(
    # A purchase order placed in the ERP for a box's reorder request (or refused by it). ``reference`` is
    # the idempotency key sent to the ERP.
    "purchase_order",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("reference", sa.String(160), primary_key=True),
    sa.Column("event_id", sa.Uuid, nullable=False),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("supplier", sa.String(64), nullable=False),
    sa.Column("lines", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("erp_id", sa.String(64)),
    sa.Column("erp_number", sa.String(64)),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_purchase_order_event", "event_id"),
)

config_version = sa.Table(
    # The last configuration snapshot published to each box, per kind: versions only increase.
    "config_version",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("device", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("published_at", Timestamp, nullable=False),
)


# --- API users and tokens (hub/api/) -----------------------------------------------------------------------

api_user = sa.Table(
    # A person who uses the hub's HTTP API. ``retailer`` is set for the retailer role only, ``manufacturer`` for
    # the manufacturer role only (hub.segments.manufacturers grants it brands); ``devices`` (a JSON
    # list of device ids) for the technician role only. ``locked_until`` is the login lockout after too many
    # failed attempts, kept here so every API process honours it and a restart does not lift it.
    "api_user",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("role", sa.String(24), nullable=False),
    sa.Column("retailer", sa.String(64)),
    sa.Column("manufacturer", sa.String(64)),
    sa.Column("devices", sa.JSON, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("failed_logins", sa.Integer, nullable=False),
    sa.Column("locked_until", Timestamp),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint(
        "role IN ('distributor_admin', 'analyst', 'retailer', 'technician', 'manufacturer')", name="role_known"
    ),
    sa.CheckConstraint("(role = 'retailer') = (retailer IS NOT NULL)", name="retailer_iff_role"),
    sa.CheckConstraint("(role = 'manufacturer') = (manufacturer IS NOT NULL)", name="manufacturer_iff_role"),
    sa.UniqueConstraint("tenant", "email", name="uq_api_user_tenant_email"),
)

api_token = sa.Table(
    # A bearer token: only its SHA-256 is kept, so a copy of the database gives no usable token.
    "api_token",
    metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Uuid, sa.ForeignKey("api_user.id"), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp),
    sa.Index("ix_api_token_user", "user_id"),
)


# --- customers and promotions admin (hub/customers/, hub/programs/promotions.py) ------------------------------

customer = sa.Table(
    # A consumer of the distributor's network, usable at every store. ``state`` is active, merged (see
    # ``merged_into``) or erased (personal columns emptied). ``field_times`` maps each personal field to the
    # box time of the event that last set it, so events applied out of order keep the newest value. The tier
    # columns hold the tier decision (:mod:`hub.customers` tier rules), not a recomputation.
    "customer",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("loyalty_id", sa.String(12), primary_key=True),
    sa.Column("state", sa.String(8), nullable=False),
    sa.Column("name", sa.String(120)),
    sa.Column("phone_e164", sa.String(16)),
    sa.Column("sticker", sa.String(64)),
    sa.Column("gender", sa.String(12)),
    sa.Column("birth_date", sa.Date),
    sa.Column("wechat_id", sa.String(64)),
    sa.Column("whatsapp_e164", sa.String(16)),
    sa.Column("has_face", sa.Boolean, nullable=False),
    sa.Column("has_signature", sa.Boolean, nullable=False),
    sa.Column("field_times", sa.JSON, nullable=False),
    sa.Column("enrolled_on", sa.Date),
    sa.Column("enrolled_store", sa.String(64)),
    sa.Column("enrolled_device", sa.String(64)),
    sa.Column("marketing_consent", sa.Boolean),
    sa.Column("marketing_consent_at", Timestamp),
    sa.Column("fingerprint_consent", sa.Boolean),
    sa.Column("fingerprint_consent_at", Timestamp),
    sa.Column("last_birthday_bonus_year", sa.Integer),
    sa.Column("last_anniversary_bonus_year", sa.Integer),
    sa.Column("tier_id", sa.String(64)),
    sa.Column("tier_since", Timestamp),
    sa.Column("tier_value", sa.BigInteger, nullable=False),
    sa.Column("tier_grace_used", sa.Integer, nullable=False),
    sa.Column("tier_reviewed_at", Timestamp),
    sa.Column("merged_into", sa.String(12)),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("erased_at", Timestamp),
    sa.Column("postal_code", sa.String(16)),
    sa.Column("occupation", sa.String(64)),
    sa.CheckConstraint("state IN ('active', 'merged', 'erased')", name="state_known"),
    sa.Index("ix_customer_phone", "tenant", "phone_e164"),
)

customer_alias = sa.Table(
    # A loyalty id merged into another customer: events naming it apply to ``loyalty_id``.
    "customer_alias",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("alias", sa.String(12), primary_key=True),
    sa.Column("loyalty_id", sa.String(12), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_customer_alias_target", "tenant", "loyalty_id"),
)

customer_consent = sa.Table(
    # Append-only: every consent given or withdrawn, when (at the counter) and from where.
    "customer_consent",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("loyalty_id", sa.String(12), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),
    sa.Column("granted", sa.Boolean, nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("store", sa.String(64)),
    sa.Column("device", sa.String(64)),
    sa.Column("event_id", sa.Uuid),
    sa.Column("recorded_at", Timestamp, nullable=False),
    sa.CheckConstraint("kind IN ('marketing', 'fingerprint')", name="kind_known"),
    sa.Index("ix_customer_consent_customer", "tenant", "loyalty_id"),
)

customer_template = sa.Table(
    # A fingerprint template exactly as the box sent it: sealed with the tenant's key, base64. Deleted when
    # the consent is withdrawn or the customer erased.
    "customer_template",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("loyalty_id", sa.String(12), primary_key=True),
    sa.Column("sealed", sa.Text, nullable=False),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("device", sa.String(64), nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

customer_event = sa.Table(
    # Which box events (enrolments, updates) were applied to a customer: its history, and what an erasure
    # scrubs of personal data in ``business_event``.
    "customer_event",
    metadata,
    sa.Column("event_id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("loyalty_id", sa.String(12), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("device", sa.String(64), nullable=False),
    sa.Column("box_ts", Timestamp, nullable=False),
    sa.Index("ix_customer_event_customer", "tenant", "loyalty_id"),
    sa.Index("ix_customer_event_store", "tenant", "store", "box_ts"),
)

customer_erased = sa.Table(
    # Loyalty ids every box must forget (erased, or merged into another id): sent in each customers snapshot.
    "customer_erased",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("loyalty_id", sa.String(12), primary_key=True),
    sa.Column("reason", sa.String(8), nullable=False),
    sa.Column("erased_at", Timestamp, nullable=False),
    sa.Index("ix_customer_erased_at", "tenant", "erased_at"),
)

customer_duplicate = sa.Table(
    # Two active customers that look like one person (``loyalty_id`` < ``other_id``), until merged or dismissed.
    "customer_duplicate",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("loyalty_id", sa.String(12), primary_key=True),
    sa.Column("other_id", sa.String(12), primary_key=True),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("detected_at", Timestamp, nullable=False),
    sa.Column("resolution", sa.String(16)),
    sa.Column("resolved_at", Timestamp),
)

customer_merge = sa.Table(
    # One merge: the survivor, and the points moved (or still to move) by ledger transfer, per program.
    "customer_merge",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("merged", sa.String(12), primary_key=True),
    sa.Column("survivor", sa.String(12), nullable=False),
    sa.Column("transfers", sa.JSON, nullable=False),
    sa.Column("merged_at", Timestamp, nullable=False),
)

promotion = sa.Table(
    # A promotion as the distributor or a retailer (``owner``) defined it: the core Promotion JSON, its
    # schedule, and the stores it runs at (empty: every store of the owner). ``revision`` counts edits.
    "promotion",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("promotion_id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("starts_at", Timestamp),
    sa.Column("ends_at", Timestamp),
    sa.Column("stores", sa.JSON, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

promotion_set = sa.Table(
    # Every promotion set ever published to a store; ``version`` is the promotion_set_version a box reports
    # in its sales, so a sale's points can be recomputed with the exact set it used.
    "promotion_set",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("store", sa.String(64), primary_key=True),
    sa.Column("version", sa.BigInteger, primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("published_at", Timestamp, nullable=False),
    sa.CheckConstraint("version >= 1", name="version_positive"),
)


# --- postings: box events applied to the points ledger (hub/ingest/postings.py) -------------------------------------

points_program = sa.Table(
    # The tenant's consumer points program, the body the boxes' ``program`` snapshot carries (core PointsProgram
    # JSON). The ledger's ``ledger_program`` row keeps only what the ledger needs of it.
    "points_program",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("program", sa.String(64), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

merchant_rules = sa.Table(
    # The tenant's merchant program: points per enrolment, per purchase from the distributor, and the period
    # targets on the count or value of a retailer's transactions (hub.programs.merchant.MerchantRules JSON).
    "merchant_rules",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

posting = sa.Table(
    # One row per box event the ledger postings applied (written in the ingest's transaction): what the box
    # said, what the hub posted, and its verdict on a sale's points (match, mismatch, unverified). A refund
    # finds its sale here by (tenant, device, sale_id).
    "posting",
    metadata,
    sa.Column("event_id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("device", sa.String(64), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("retailer", sa.String(64), nullable=False),
    sa.Column("customer", sa.String(12)),
    sa.Column("program", sa.String(64)),
    sa.Column("sale_id", sa.String(64)),
    sa.Column("total_minor", sa.BigInteger, nullable=False),
    sa.Column("box_points", sa.BigInteger, nullable=False),
    sa.Column("hub_points", sa.BigInteger, nullable=False),
    sa.Column("distributor_points", sa.BigInteger, nullable=False),
    sa.Column("retailer_points", sa.BigInteger, nullable=False),
    sa.Column("redeemed_points", sa.BigInteger, nullable=False),
    sa.Column("hold_points", sa.BigInteger, nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("box_ts", Timestamp, nullable=False),
    sa.Column("posted_at", Timestamp, nullable=False),
    sa.Index("ix_posting_sale", "tenant", "device", "sale_id"),
)

points_voided = sa.Table(
    # The part of an offline redemption the hub did not post (hub.ingest.postings): the customer's account may go no
    # lower than minus the store's offline allowance, and the rest of the hold was voided. One row per sale
    # event, kept for the distributor's follow-up; the store that honoured the sale is paid the posted points.
    "points_voided",
    metadata,
    sa.Column("event_id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("device", sa.String(64), nullable=False),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("retailer", sa.String(64), nullable=False),
    sa.Column("customer", sa.String(12), nullable=False),
    sa.Column("program", sa.String(64), nullable=False),
    sa.Column("sale_id", sa.String(64), nullable=False),
    sa.Column("hold_points", sa.BigInteger, nullable=False),
    sa.Column("posted_points", sa.BigInteger, nullable=False),
    sa.Column("voided_points", sa.BigInteger, nullable=False),
    sa.Column("available_points", sa.BigInteger, nullable=False),
    sa.Column("allowance_points", sa.BigInteger, nullable=False),
    sa.Column("box_ts", Timestamp, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.CheckConstraint(
        "voided_points > 0 AND posted_points >= 0 AND hold_points = posted_points + voided_points",
        name="voided_adds_up",
    ),
    sa.Index("ix_points_voided_tenant", "tenant", "created_at"),
)

posting_unverified = sa.Table(
    # A customer's sale posted with the box's figure because its customer was not known at the hub yet (the
    # enrolment was on its way, through another worker): the sale as the box sent it, verified with the hub's
    # recomputation once the customer is known (hub.ingest.postings.verify_sales), then deleted.
    "posting_unverified",
    metadata,
    sa.Column("event_id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("device", sa.String(64), nullable=False),
    sa.Column("customer", sa.String(12), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("box_ts", Timestamp, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_posting_unverified_customer", "tenant", "customer"),
)

refund_waiting = sa.Table(
    # A refund whose sale the hub has not posted yet (another worker has it, or it is still on its way): the
    # refund itself is in business_event; it is posted when its sale lands (hub.ingest.postings), and alerted
    # ``refund_unmatched`` if it waits too long (``alerted_at``).
    "refund_waiting",
    metadata,
    sa.Column("event_id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("device", sa.String(64), nullable=False),
    sa.Column("sale_id", sa.String(64), nullable=False),
    sa.Column("box_ts", Timestamp, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("alerted_at", Timestamp),
    sa.Index("ix_refund_waiting_sale", "tenant", "device", "sale_id"),
)


# --- analytics: facts and rollups (hub/analytics/facts.py) ----------------------------------------------------

FACT_PARTITIONED_TABLES: Final = ("sale_line_fact",)
"""Tables declaratively partitioned by month on PostgreSQL; their partitions (``<table>_pYYYYMM`` and
``<table>_default``) are made by :func:`hub.analytics.facts.ensure_partitions`, not by the schema."""


def is_partition(name: str) -> bool:
    """Whether ``name`` is a partition of a partitioned table (not part of the declared schema)."""
    return any(name.startswith(f"{parent}_p") or name == f"{parent}_default" for parent in FACT_PARTITIONED_TABLES)


def include_object(obj: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
    """Alembic's filter when it compares the database with :data:`metadata`: partitions and their indexes
    are made at run time, not declared, so they are left out."""
    if type_ == "table":
        return name is None or not is_partition(name)
    table = getattr(obj, "table", None)
    return table is None or not is_partition(table.name)


sale_line_fact = sa.Table(
    # One row per sale line and per refund line (negative qty, amount and cost; ``refund`` true), loaded from
    # ``sale``/``sale_line`` and the refund events by hub.analytics.facts.load_facts. ``sold_at`` is the box's
    # time (UTC); ``local_date``, ``hour`` and ``weekday`` (ISO, Monday 1) in the store's zone. The store's
    # retailer, distribution centre and region, and the item's category, brand and manufacturer, are as they
    # were at load time. ``cost_minor`` is qty times the item's cost, NULL when the cost is not known.
    # On PostgreSQL: partitioned by month on ``sold_at`` (hence ``sold_at`` in the key), BRIN on ``sold_at``.
    "sale_line_fact",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.Uuid, primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("sold_at", Timestamp, primary_key=True),
    sa.Column("local_date", sa.Date, nullable=False),
    sa.Column("hour", sa.SmallInteger, nullable=False),
    sa.Column("weekday", sa.SmallInteger, nullable=False),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("retailer", sa.String(64), nullable=False),
    sa.Column("dc", sa.String(64)),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("customer", sa.String(12)),
    sa.Column("sku", sa.String(64), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("brand", sa.String(64)),
    sa.Column("manufacturer", sa.String(64)),
    sa.Column("qty", sa.Integer, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("cost_minor", sa.BigInteger),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("refund", sa.Boolean, nullable=False),
    sa.Column("loaded_at", Timestamp, nullable=False),
    sa.Index("ix_sale_line_fact_sold_at", "sold_at", postgresql_using="brin"),
    sa.Index("ix_sale_line_fact_event", "event_id"),
    sa.Index("ix_sale_line_fact_tenant_date", "tenant", "local_date"),
    postgresql_partition_by="RANGE (sold_at)",
)

analytics_watermark = sa.Table(
    # How far the fact load of a tenant has read each source (``sale``, ``refund``): the ``received_at`` of the
    # newest row loaded. Each load re-reads a short overlap before it (hub.analytics.facts.LOAD_OVERLAP) and
    # skips what is already loaded, so a row committed late by a slow ingest transaction is not missed.
    "analytics_watermark",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(16), primary_key=True),
    sa.Column("received_at", Timestamp, nullable=False),
    sa.Column("rows_loaded", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

analytics_day_store_item = sa.Table(
    # Per store-local day, store and item: units, revenue and cost net of refunds, tickets (sales) with the item.
    # The dimensions are those of the day's first fact. Maintained by the fact load, never rebuilt per query.
    "analytics_day_store_item",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("local_date", sa.Date, primary_key=True),
    sa.Column("store", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("retailer", sa.String(64), nullable=False),
    sa.Column("dc", sa.String(64)),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("brand", sa.String(64)),
    sa.Column("manufacturer", sa.String(64)),
    sa.Column("qty", sa.BigInteger, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("cost_minor", sa.BigInteger, nullable=False),
    sa.Column("costed_amount_minor", sa.BigInteger, nullable=False),
    sa.Column("tickets", sa.BigInteger, nullable=False),
    sa.Index("ix_analytics_day_store_item_date", "tenant", "local_date"),
)

analytics_day_store = sa.Table(
    # Per store-local day and store: what live activity shows. ``amount_minor`` is sales net of refunds;
    # ``identified_tickets`` the sales with a member; points as posted by the hub for those sales.
    "analytics_day_store",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("local_date", sa.Date, primary_key=True),
    sa.Column("store", sa.String(64), primary_key=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("retailer", sa.String(64), nullable=False),
    sa.Column("dc", sa.String(64)),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("tickets", sa.BigInteger, nullable=False),
    sa.Column("identified_tickets", sa.BigInteger, nullable=False),
    sa.Column("refunds", sa.BigInteger, nullable=False),
    sa.Column("sales_minor", sa.BigInteger, nullable=False),
    sa.Column("refunds_minor", sa.BigInteger, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("points_earned", sa.BigInteger, nullable=False),
    sa.Column("points_spent", sa.BigInteger, nullable=False),
    sa.Index("ix_analytics_day_store_date", "tenant", "local_date"),
)

analytics_day_store_hour = sa.Table(
    # Per store-local day, store and hour: tickets and net amount (the hour x weekday heatmap).
    "analytics_day_store_hour",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("local_date", sa.Date, primary_key=True),
    sa.Column("store", sa.String(64), primary_key=True),
    sa.Column("hour", sa.SmallInteger, primary_key=True),
    sa.Column("weekday", sa.SmallInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("retailer", sa.String(64), nullable=False),
    sa.Column("tickets", sa.BigInteger, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
)

analytics_day_store_member = sa.Table(
    # Per store-local day, store and member: tickets and net amount (members identified, top members).
    "analytics_day_store_member",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("local_date", sa.Date, primary_key=True),
    sa.Column("store", sa.String(64), primary_key=True),
    sa.Column("customer", sa.String(12), primary_key=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("retailer", sa.String(64), nullable=False),
    sa.Column("tickets", sa.BigInteger, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("points_earned", sa.BigInteger, nullable=False),
    sa.Column("points_spent", sa.BigInteger, nullable=False),
    sa.Index("ix_analytics_day_store_member_customer", "tenant", "customer"),
)

analytics_member_month = sa.Table(
    # Per member and month (the first day of the month, in the zone of the store of each sale): tickets, net
    # amount and points earned and spent, across every store of the network.
    "analytics_member_month",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("customer", sa.String(12), primary_key=True),
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("tickets", sa.BigInteger, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("points_earned", sa.BigInteger, nullable=False),
    sa.Column("points_spent", sa.BigInteger, nullable=False),
    sa.Index("ix_analytics_member_month_month", "tenant", "month"),
)


# --- segments, levels and the manufacturer's grants (hub/segments/) -------------------------------------------

segment = sa.Table(
    # A saved, named rule over members (hub.segments.rules). ``evaluated_at`` and ``member_count`` say when the
    # member list (``segment_member``) was last computed and how long it is; ``evaluated_version`` is the
    # ``version`` of the rule it was computed from (an edit bumps ``version``, so the jobs round re-evaluates).
    # ``last_error`` is why the last evaluation stored nothing (too many members), NULL when it succeeded.
    "segment",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("segment", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("rule", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("evaluated_version", sa.Integer),
    sa.Column("evaluated_at", Timestamp),
    sa.Column("member_count", sa.BigInteger),
    sa.Column("last_error", sa.String(240)),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

segment_member = sa.Table(
    # The members a segment's last evaluation found; what the boxes receive in the customers snapshot.
    "segment_member",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("segment", sa.String(64), primary_key=True),
    sa.Column("loyalty_id", sa.String(12), primary_key=True),
    sa.ForeignKeyConstraint(["tenant", "segment"], ["segment.tenant", "segment.segment"], ondelete="CASCADE"),
    sa.Index("ix_segment_member_customer", "tenant", "loyalty_id"),
)

level_scheme = sa.Table(
    # A tenant's levels by transactions per month (hub.segments.levels): level 1 up to ``level1_max``,
    # level 2 up to ``level2_max``, level 3 above ``level3_over``; between ``level2_max`` and ``level3_over``
    # a buyer stays at level 2.
    "level_scheme",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("level1_max", sa.Integer, nullable=False),
    sa.Column("level2_max", sa.Integer, nullable=False),
    sa.Column("level3_over", sa.Integer, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("0 <= level1_max AND level1_max < level2_max AND level2_max <= level3_over", name="ordered"),
)

manufacturer_grant = sa.Table(
    # A brand whose sell-out the distributor lets a manufacturer see (hub.segments.manufacturers).
    "manufacturer_grant",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("manufacturer", sa.String(64), primary_key=True),
    sa.Column("brand", sa.String(64), primary_key=True),
    sa.Column("granted_at", Timestamp, nullable=False),
    sa.Column("granted_by", sa.String(254), nullable=False),
)
