"""Hub ingest: box events in, exactly-once effects in the database, commit acks out.

Workers are stateless and share the load through the MQTT shared subscription ``$share/hub/...``. Each
worker collects messages into a batch (at most ``batch_max`` messages, or whatever arrived within
``batch_wait_s`` of the first) and applies the whole batch in one database transaction:

* every message is decoded against the wire contract; a bad one becomes a dead letter with its reason;
* every good event id is inserted into the ``inbox`` (``ON CONFLICT DO NOTHING``): an id that goes in is new
  and its effects are applied in the same transaction; an id already there with the same payload hash is a
  duplicate (re-acked, no effect); with a different hash it is refused, dead-lettered and raised as an alert;
* the transaction commits; only then are acks published to each box and the MQTT messages acknowledged
  to the broker (manual PUBACK), so a hub killed at any instant loses nothing: the broker redelivers what
  was not acknowledged, and the box republishes what the hub never acked.

A batch that fails to commit (database down, say) is retried with backoff; the worker never dies of one.
A batch that meets a concurrent worker's transaction (a deadlock, a serialization failure) is tried again at
once, a bounded number of times with a short backoff (:data:`CONFLICT_RETRIES`). An event whose ledger
postings cannot be made is left out of its batch, neither committed nor acked (its box sends it again) and
alerted ``posting_failed``: an event is never committed without its postings.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import re
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import sqlalchemy as sa
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.engine import Connection, Engine

from core import wire
from core.errors import CoreError
from hub import customers, db
from hub import ledger as lg
from hub import mqtt as hub_mqtt
from hub.ingest import postings

log = logging.getLogger(__name__)

BATCH_MAX = 1000
"""Most messages applied in one database transaction."""
BATCH_WAIT_S = 0.02
"""How long a batch waits for more messages after its first one."""
QUEUE_MAX = 20_000
"""Messages received and not yet applied; paho's thread blocks when it is full, which slows the broker."""
DEAD_LETTER_KEEP_BYTES = wire.MAX_PAYLOAD_BYTES
"""Bytes of a refused payload kept in the dead-letter table (its full size and hash are kept too)."""
RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0
CONFLICT_RETRIES = 5
"""Times a batch is tried again at once after a deadlock or serialization failure before it is left to the
worker's slower retry loop."""
CONFLICT_RETRY_MIN_S = 0.05
CONFLICT_RETRY_MAX_S = 1.0
"""Bounds of the pause (doubling, with jitter) between two tries of a batch that met a conflict."""
RECEIVE_MAXIMUM = 4000
"""MQTT 5 Receive Maximum: unacknowledged messages the broker may have in flight to one worker."""
MAX_INFLIGHT = 1000
"""Ack messages a worker has published at QoS 1 and the broker has not yet acknowledged."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message as received, before decoding."""

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    qos: int = 0


@dataclass
class BatchResult:
    """What one batch did: acks to send per (tenant, device), and counts."""

    acks: dict[tuple[str, str], list[wire.AckResult]] = field(default_factory=lambda: defaultdict(list))
    committed: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    conflicts: int = 0
    statuses: int = 0


_PG_TYPES = {
    sa.Uuid: "uuid",
    sa.String: "text",
    sa.BigInteger: "bigint",
    sa.Integer: "integer",
    sa.DateTime: "timestamptz",
}


def _pg_type(column: sa.Column[Any]) -> str:
    for kind, name in _PG_TYPES.items():
        if isinstance(column.type, kind):
            return name
    raise TypeError(f"no PostgreSQL type for {column}")


def _insert_new(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert rows whose primary key is new; return the keys that went in (the others existed already)."""
    key = next(iter(table.primary_key.columns))
    if conn.dialect.name == "postgresql":
        # One statement for the whole batch: columns travel as text arrays (cheap to send), are cast and
        # unnested server-side, and conflicts are skipped.
        cols = list(rows[0])
        arrays = ", ".join(f"%s::text[]::{_pg_type(table.c[c])}[]" for c in cols)
        sql = (
            f"INSERT INTO {table.name} ({', '.join(cols)}) SELECT * FROM unnest({arrays}) "  # noqa: S608
            f"ON CONFLICT ({key.name}) DO NOTHING RETURNING {key.name}"
        )
        with conn.connection.driver_connection.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(sql, [[None if row[c] is None else str(row[c]) for row in rows] for c in cols])
            return {r[0] for r in cur.fetchall()}
    stmt = db.insert(conn, table).on_conflict_do_nothing(index_elements=[key.name])
    return {r[0] for r in conn.execute(stmt.returning(key), rows)}


def _dead_letter_row(
    item: Incoming, reason: str, detail: str, topic: wire.Topic | None, event_id: uuid.UUID | None
) -> dict[str, Any]:
    return {
        "received_at": item.received_at,
        "topic": item.topic[:256],
        "tenant": topic.tenant if topic else None,
        "device": topic.device if topic else None,
        "event_id": event_id,
        "reason": reason,
        "detail": detail[:2000],
        "payload": item.payload[:DEAD_LETTER_KEEP_BYTES],
        "payload_size": len(item.payload),
        "payload_sha256": wire.payload_sha256(item.payload),
    }


def apply_batch(conn: Connection, batch: Sequence[Incoming]) -> BatchResult:
    """Apply ``batch`` inside the caller's transaction; return the acks to publish after it commits."""
    result = BatchResult()
    dead: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    events: dict[uuid.UUID, tuple[wire.Message, Incoming]] = {}
    statuses: list[tuple[wire.Message, Incoming]] = []

    def refuse(item: Incoming, topic: wire.Topic | None, exc: wire.ContractViolation) -> None:
        event_id, seq = wire.peek_id(item.payload)
        dead.append(_dead_letter_row(item, exc.reason, exc.detail, topic, event_id))
        if topic is not None and event_id is not None and topic.kind is wire.Kind.EVT:
            result.acks[topic.tenant, topic.device].append(
                wire.AckResult(id=event_id, seq=seq or 0, status="rejected", reason=exc.reason)
            )

    for item in batch:
        topic: wire.Topic | None = None
        try:
            topic = wire.Topic.parse(item.topic)
            message = wire.decode(topic, item.payload)
        except wire.ContractViolation as exc:
            refuse(item, topic, exc)
            continue
        if topic.kind is wire.Kind.STATUS:
            statuses.append((message, item))
            continue
        if topic.kind is not wire.Kind.EVT:
            refuse(
                item,
                topic,
                wire.ContractViolation(wire.Reason.UNKNOWN_TYPE, f"hub does not take {topic.kind}"),
            )
            continue
        seen = events.get(message.envelope.id)
        if seen is None:
            events[message.envelope.id] = (message, item)
        elif seen[0].sha256 == message.sha256:
            _ack(result, message, "duplicate")
            result.duplicates += 1
        else:
            _conflict(result, message, item, dead, alerts)

    if events:
        _apply_events(conn, events, result, dead, alerts)
    if statuses:
        _apply_statuses(conn, statuses)
        result.statuses = len(statuses)
    if dead:
        conn.execute(db.dead_letter.insert(), dead)
        result.dead_letters = len(dead)
    if alerts:
        conn.execute(db.alert.insert(), alerts)
    return result


def _ack(result: BatchResult, message: wire.Message, status: wire.AckStatus, reason: str | None = None) -> None:
    env = message.envelope
    # Built from values already validated: no need to validate them again on this hot path.
    result.acks[message.topic.tenant, message.topic.device].append(
        wire.AckResult.model_construct(id=env.id, seq=env.seq, status=status, reason=reason)
    )


def _conflict(
    result: BatchResult,
    message: wire.Message,
    item: Incoming,
    dead: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
) -> None:
    detail = f"event {message.envelope.id} was seen before with a different payload"
    dead.append(_dead_letter_row(item, wire.Reason.ID_CONFLICT, detail, message.topic, message.envelope.id))
    alerts.append(
        {
            "created_at": item.received_at,
            "kind": wire.Reason.ID_CONFLICT.value,
            "tenant": message.topic.tenant,
            "device": message.topic.device,
            "event_id": message.envelope.id,
            "detail": detail,
        }
    )
    _ack(result, message, "rejected", wire.Reason.ID_CONFLICT)
    result.conflicts += 1
    log.error("id conflict from %s/%s: %s", message.topic.tenant, message.topic.device, detail)


def _apply_events(
    conn: Connection,
    events: dict[uuid.UUID, tuple[wire.Message, Incoming]],
    result: BatchResult,
    dead: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
) -> None:
    rows = [
        {
            "event_id": event_id,
            "tenant": msg.topic.tenant,
            "device": msg.topic.device,
            "seq": msg.envelope.seq,
            "type": msg.envelope.type,
            "payload_sha256": msg.sha256,
            "box_ts": msg.envelope.ts,
            "received_at": item.received_at,
        }
        for event_id, (msg, item) in events.items()
    ]
    inserted = _insert_new(conn, db.inbox, rows)
    known = [eid for eid in events if eid not in inserted]
    if known:
        found = conn.execute(
            sa.select(db.inbox.c.event_id, db.inbox.c.payload_sha256).where(db.inbox.c.event_id.in_(known))
        )
        hashes: dict[uuid.UUID, str] = {eid: digest for eid, digest in found}
        for event_id in known:
            msg, item = events[event_id]
            if hashes.get(event_id) == msg.sha256:
                _ack(result, msg, "duplicate")
                result.duplicates += 1
            else:
                _conflict(result, msg, item, dead, alerts)
    fresh = _from_bound_stores(conn, [events[eid] for eid in events if eid in inserted], result, dead)
    _apply_sales(conn, [(m, i) for m, i in fresh if isinstance(m.data, wire.SaleData)])
    others = [(m, i) for m, i in fresh if not isinstance(m.data, wire.SaleData)]
    if others:
        conn.execute(
            sa.insert(db.business_event),
            [
                {
                    "event_id": m.envelope.id,
                    "tenant": m.topic.tenant,
                    "device": m.topic.device,
                    "seq": m.envelope.seq,
                    "type": m.envelope.type,
                    "store": getattr(m.data, "store", ""),
                    "data": m.data.model_dump(mode="json"),
                    "box_ts": m.envelope.ts,
                    "received_at": i.received_at,
                }
                for m, i in others
            ],
        )
    if fresh:
        _apply_customers(conn, [m for m, _i in others])
        # The ledger postings of these events, in this transaction: they commit with the inbox rows, once.
        postings.post_events(conn, [(m, i.received_at) for m, i in fresh])
    for msg, _item in fresh:
        _ack(result, msg, "committed")
    result.committed += len(fresh)


def _store_of(message: wire.Message) -> str | None:
    store = getattr(message.data, "store", None)
    return store if isinstance(store, str) else None


def _from_bound_stores(
    conn: Connection, fresh: list[tuple[wire.Message, Incoming]], result: BatchResult, dead: list[dict[str, Any]]
) -> list[tuple[wire.Message, Incoming]]:
    """The new events whose ``store`` is the store their box is bound to; the others are refused.

    A box bound to a store (``store_device``, ``python -m hub network add-device``) may only report that
    store's business; a box bound to none may not name a store the network knows (its boxes are bound). The
    settlement between retailers follows the store of each event, so it is never taken on a box's word. A
    refused event is dead-lettered (``store_mismatch``), acked ``rejected`` so the box stops resending it, and
    its inbox row is taken out again, so a resend is refused the same way and never acked as a duplicate.
    """
    named = {(m.topic.tenant, m.topic.device) for m, _i in fresh if _store_of(m) is not None}
    if not named:
        return fresh
    sd, st = db.store_device, db.store
    tenants = sorted({tenant for tenant, _device in named})
    bound: dict[tuple[str, str], str] = {
        (t, d): s
        for t, d, s in conn.execute(
            sa.select(sd.c.tenant, sd.c.device, sd.c.store).where(
                sd.c.tenant.in_(tenants), sd.c.device.in_(sorted({device for _t, device in named}))
            )
        )
    }
    stores = {
        (m.topic.tenant, store)
        for m, _i in fresh
        if (store := _store_of(m)) is not None and (m.topic.tenant, m.topic.device) not in bound
    }
    known: set[tuple[str, str]] = set()
    if stores:
        known = {
            (t, s)
            for t, s in conn.execute(
                sa.select(st.c.tenant, st.c.store).where(
                    st.c.tenant.in_(tenants), st.c.store.in_(sorted({s for _t, s in stores}))
                )
            )
        }
    kept: list[tuple[wire.Message, Incoming]] = []
    refused: list[uuid.UUID] = []
    for msg, item in fresh:
        store = _store_of(msg)
        key = (msg.topic.tenant, msg.topic.device)
        home = bound.get(key)
        if store is None or store == home or (home is None and (key[0], store) not in known):
            kept.append((msg, item))
            continue
        detail = (
            f"device {key[1]!r} of tenant {key[0]!r} is bound to store {home!r} but the event names store {store!r}; "
            "if the box was moved, bind it to its new store with `python -m hub network add-device`"
            if home is not None
            else f"device {key[1]!r} of tenant {key[0]!r} is bound to no store but the event names the network's "
            f"store {store!r}; bind the box to its store with `python -m hub network add-device`"
        )
        dead.append(_dead_letter_row(item, wire.Reason.STORE_MISMATCH, detail, msg.topic, msg.envelope.id))
        _ack(result, msg, "rejected", wire.Reason.STORE_MISMATCH)
        refused.append(msg.envelope.id)
        log.error("refused event %s: %s", msg.envelope.id, detail)
    if refused:
        conn.execute(sa.delete(db.inbox).where(db.inbox.c.event_id.in_(refused)))
    return kept


def _apply_customers(conn: Connection, events: list[wire.Message]) -> None:
    """Enrolments and customer updates become the distributor's customers before the batch's sales are posted,
    so a customer enrolled at the counter has their first sale's points checked, not taken on trust.

    In a savepoint: should it fail, the events stay pending for the hub's jobs loop and the batch goes on.
    """
    tenants = sorted({m.topic.tenant for m in events if m.envelope.type in customers.CUSTOMER_EVENT_TYPES})
    for tenant in tenants:
        try:
            with conn.begin_nested():
                customers.apply_events(conn, tenant, limit=customers.APPLY_BATCH_MAX)
        except (sa.exc.SQLAlchemyError, CoreError) as exc:
            log.warning("%s: customer events left for the jobs loop: %s", tenant, exc)


def _apply_sales(conn: Connection, sales: list[tuple[wire.Message, Incoming]]) -> None:
    if not sales:
        return
    if conn.dialect.name == "postgresql":
        _copy_sales(conn, sales)
        return
    sale_rows: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    for msg, item in sales:
        data = msg.data
        assert isinstance(data, wire.SaleData)
        sale_rows.append(
            {
                "event_id": msg.envelope.id,
                "tenant": msg.topic.tenant,
                "device": msg.topic.device,
                "store": data.store,
                "sale_id": data.sale_id,
                "currency": data.currency,
                "total_minor": data.total_minor,
                "line_count": len(data.lines),
                "customer": data.customer,
                "box_ts": msg.envelope.ts,
                "received_at": item.received_at,
            }
        )
        line_rows.extend(
            {
                "event_id": msg.envelope.id,
                "line_no": no,
                "sku": line.sku,
                "name": line.name,
                "qty": line.qty,
                "unit_price_minor": line.unit_price_minor,
                "discount_minor": line.discount_minor,
                "amount_minor": line.amount_minor,
            }
            for no, line in enumerate(data.lines, start=1)
        )
    conn.execute(db.sale.insert(), sale_rows)
    conn.execute(db.sale_line.insert(), line_rows)


_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_NULL = "\\N"


def _esc(text: str) -> str:
    """A string in PostgreSQL's COPY text format (backslash, tab, newline and return escaped)."""
    if _COPY_SPECIAL.search(text) is None:
        return text
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_sales(conn: Connection, sales: list[tuple[wire.Message, Incoming]]) -> None:
    """Sales and their lines through COPY, the stream formatted in one pass (the ingest's hottest loop)."""
    sale_text: list[str] = []
    line_text: list[str] = []
    for msg, item in sales:
        data = msg.data
        assert isinstance(data, wire.SaleData)
        eid = str(msg.envelope.id)
        sale_text.append(
            f"{eid}\t{msg.topic.tenant}\t{msg.topic.device}\t{_esc(data.store)}\t{_esc(data.sale_id)}\t"
            f"{data.currency}\t{data.total_minor}\t{len(data.lines)}\t{data.customer or _COPY_NULL}\t"
            f"{msg.envelope.ts.isoformat()}\t{item.received_at.isoformat()}\n"
        )
        line_text.extend(
            f"{eid}\t{no}\t{_esc(ln.sku)}\t{_esc(ln.name)}\t{ln.qty}\t{ln.unit_price_minor}\t{ln.discount_minor}\t"
            f"{ln.amount_minor}\n"
            for no, ln in enumerate(data.lines, start=1)
        )
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        with cur.copy(
            "COPY sale (event_id, tenant, device, store, sale_id, currency, total_minor, line_count, customer, "
            "box_ts, received_at) FROM STDIN"
        ) as copy:
            copy.write("".join(sale_text))
        with cur.copy(
            "COPY sale_line (event_id, line_no, sku, name, qty, unit_price_minor, discount_minor, amount_minor) "
            "FROM STDIN"
        ) as copy:
            copy.write("".join(line_text))


def _apply_statuses(conn: Connection, statuses: list[tuple[wire.Message, Incoming]]) -> None:
    """Newest connection wins; within one connection, offline (its last will or goodbye) follows online."""
    for msg, item in statuses:
        data = msg.data
        assert isinstance(data, wire.StatusData)
        key = (msg.topic.tenant, msg.topic.device)
        current = conn.execute(
            sa.select(db.device.c.status_seq, db.device.c.online).where(
                db.device.c.tenant == key[0], db.device.c.device == key[1]
            )
        ).first()
        online = data.state == "online"
        values = {
            "online": online,
            "status_seq": msg.envelope.seq,
            "status_reason": data.reason,
            "software": data.software,
            "status_ts": msg.envelope.ts,
            "updated_at": item.received_at,
        }
        if current is None:
            conn.execute(db.device.insert().values(tenant=key[0], device=key[1], **values))
        elif msg.envelope.seq > current.status_seq or (msg.envelope.seq == current.status_seq and not online):
            conn.execute(
                db.device.update().where(db.device.c.tenant == key[0], db.device.c.device == key[1]).values(**values)
            )


DATA_ERRORS: tuple[type[Exception], ...] = (
    sa.exc.IntegrityError,
    sa.exc.DataError,
    psycopg.errors.DataError,
    psycopg.errors.IntegrityError,
)
"""Errors that one message's data causes; anything else (a lost connection, say) is retried as it is."""


def commit_batch(engine: Engine, batch: Sequence[Incoming]) -> BatchResult:
    """Apply ``batch`` in one transaction and commit it; the acks to publish come back.

    A deadlock or serialization failure (:func:`hub.lg.transient`) tries the batch again, at most
    :data:`CONFLICT_RETRIES` times, the pause doubling from :data:`CONFLICT_RETRY_MIN_S` with jitter. If the
    database refuses the batch because of one message's data (a constraint the contract did not catch), the
    batch is applied again message by message, and a message that fails on its own becomes a dead letter
    (``apply_failed``) instead of blocking every message behind it. An event whose postings fail
    (:class:`hub.ingest.postings.PostingFailed`) is left out: no ack, nothing applied, a ``posting_failed`` alert.
    Other errors propagate: the caller retries the batch as it is.
    """
    pause_s = CONFLICT_RETRY_MIN_S
    for attempt in range(1, CONFLICT_RETRIES + 2):
        try:
            return _commit_batch(engine, batch)
        except (sa.exc.DBAPIError, psycopg.Error) as exc:
            if not lg.transient(exc) or attempt > CONFLICT_RETRIES:
                raise
            log.warning(
                "batch of %d met a concurrent transaction (try %d of %d): %s; trying again",
                len(batch),
                attempt,
                CONFLICT_RETRIES + 1,
                exc,
            )
            time.sleep(pause_s * (1 + random.random()))  # jitter, so two workers part ways
            pause_s = min(pause_s * 2, CONFLICT_RETRY_MAX_S)
    raise AssertionError("unreachable: the last try returns or raises")


def _commit_batch(engine: Engine, batch: Sequence[Incoming]) -> BatchResult:
    try:
        with db.writing(engine) as conn:
            return apply_batch(conn, batch)
    except postings.PostingFailed as exc:
        return _without_unposted(engine, batch, exc)
    except DATA_ERRORS as exc:
        if len(batch) > 1:
            log.warning("batch of %d refused by the database (%s); applying one by one", len(batch), exc)
            total = BatchResult()
            for item in batch:
                _merge(total, commit_batch(engine, [item]))
            return total
        return _dead_letter_alone(engine, batch[0], exc)


def _without_unposted(engine: Engine, batch: Sequence[Incoming], failure: postings.PostingFailed) -> BatchResult:
    """Commit ``batch`` without the events whose postings failed; those get no ack, so their boxes send them
    again, and a ``posting_failed`` alert each."""
    left_out: list[Incoming] = []
    kept: list[Incoming] = []
    for item in batch:
        (left_out if wire.peek_id(item.payload)[0] in failure.event_ids else kept).append(item)
    with db.writing(engine) as conn:
        for item in left_out:
            event_id = wire.peek_id(item.payload)[0]
            topic = wire.Topic.parse(item.topic)
            assert event_id is not None
            postings.alert_not_posted(conn, topic.tenant, topic.device, event_id, failure.detail)
    log.error("%d event(s) left unacknowledged, to be sent again: %s", len(left_out), failure.detail)
    return commit_batch(engine, kept) if kept else BatchResult()


def _merge(total: BatchResult, part: BatchResult) -> None:
    for key, results in part.acks.items():
        total.acks[key].extend(results)
    total.committed += part.committed
    total.duplicates += part.duplicates
    total.dead_letters += part.dead_letters
    total.conflicts += part.conflicts
    total.statuses += part.statuses


def _dead_letter_alone(engine: Engine, item: Incoming, exc: Exception) -> BatchResult:
    log.error("message on %s could not be applied; dead-lettered: %s", item.topic, exc)
    result = BatchResult(dead_letters=1)
    topic: wire.Topic | None = None
    try:
        topic = wire.Topic.parse(item.topic)
    except wire.ContractViolation:
        topic = None
    event_id, seq = wire.peek_id(item.payload)
    with db.writing(engine) as conn:
        row = _dead_letter_row(item, wire.Reason.APPLY_FAILED, f"{type(exc).__name__}: {exc}", topic, event_id)
        conn.execute(db.dead_letter.insert(), [row])
    if topic is not None and event_id is not None and topic.kind is wire.Kind.EVT:
        result.acks[topic.tenant, topic.device].append(
            wire.AckResult(id=event_id, seq=seq or 0, status="rejected", reason=wire.Reason.APPLY_FAILED)
        )
    return result


def encode_acks(
    result: BatchResult, hub_id: str, next_seq: Callable[[], int], now: datetime
) -> list[tuple[str, bytes]]:
    """The ack messages for a committed batch: one per box, split at the contract's bound."""
    out: list[tuple[str, bytes]] = []
    for (tenant, device), results in result.acks.items():
        topic = str(wire.ack_topic(tenant, device))
        for start in range(0, len(results), wire.MAX_ACK_RESULTS):
            data = wire.AckData(results=results[start : start + wire.MAX_ACK_RESULTS])
            event_id = wire.uuid7(int(now.timestamp() * 1000), os.urandom(10))
            out.append((topic, wire.encode(id=event_id, seq=next_seq(), ts=now, device=hub_id, data=data)))
    return out


@dataclass(frozen=True)
class IngestConfig:
    """Where a worker connects and how it batches. Times in seconds."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tenant: str = "+"
    worker_id: str = field(default_factory=lambda: f"hub-{socket.gethostname()}-{os.getpid()}")
    batch_max: int = BATCH_MAX
    batch_wait_s: float = BATCH_WAIT_S
    queue_max: int = QUEUE_MAX
    session_expiry_s: int = 7 * 24 * 3600
    keepalive_s: int = 30


@dataclass
class IngestStats:
    """Running counters of one worker."""

    batches: int = 0
    committed: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    conflicts: int = 0
    failures: int = 0
    connected: bool = False


class IngestWorker:
    """One ingest worker: an MQTT session, a bounded queue and a batching apply loop."""

    def __init__(self, engine: Engine, config: IngestConfig) -> None:
        if not 1 <= len(config.worker_id) <= 64:
            raise ValueError(f"worker_id must be 1 to 64 characters, got {config.worker_id!r}")
        self.engine = engine
        self.config = config
        self.stats = IngestStats()
        self._queue: queue.Queue[Incoming] = queue.Queue(config.queue_max)
        self._stopping = threading.Event()
        self._seq = 0
        self._client = hub_mqtt.new_client(
            config.worker_id, config.username, config.password, manual_ack=True, max_inflight=MAX_INFLIGHT
        )
        self._client.max_queued_messages_set(0)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _on_connect(
        self,
        client: mqtt.Client,
        _u: object,
        _f: mqtt.ConnectFlags,
        reason: ReasonCode,
        _p: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the hub worker %s: %s", self.config.worker_id, reason)
            return
        client.subscribe(
            [(wire.hub_event_filter(self.config.tenant), 1), (wire.hub_status_filter(self.config.tenant), 1)]
        )
        self.stats.connected = True
        log.info("worker %s connected", self.config.worker_id)

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: mqtt.DisconnectFlags, reason: ReasonCode, _p: Properties | None
    ) -> None:
        self.stats.connected = False
        if not self._stopping.is_set():
            log.warning("worker %s disconnected: %s; reconnecting", self.config.worker_id, reason)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        self._queue.put(Incoming(msg.topic, bytes(msg.payload), datetime.now(UTC), msg.mid, msg.qos))

    def start(self) -> None:
        hub_mqtt.start_session(
            self._client,
            self.config.host,
            self.config.port,
            keepalive_s=self.config.keepalive_s,
            session_expiry_s=self.config.session_expiry_s,
            receive_maximum=RECEIVE_MAXIMUM,
        )

    def stop(self) -> None:
        self._stopping.set()
        self._client.disconnect()
        self._client.loop_stop()

    def run(self, until: Callable[[], bool] = lambda: False) -> None:
        """Apply batches until :meth:`stop` is called or ``until()`` says so."""
        retry_s = RETRY_MIN_S
        batch: list[Incoming] = []
        while not self._stopping.is_set() and not until():
            if not batch:
                batch = self._collect()
                if not batch:
                    continue
            try:
                self._apply(batch)
            except Exception:  # the worker's top-level loop: it must outlive any failure
                # Nothing was acknowledged: keep the batch and try again (the database may be back).
                self.stats.failures += 1
                log.exception("batch of %d failed; retrying in %.1f s", len(batch), retry_s)
                self._stopping.wait(retry_s)
                retry_s = min(retry_s * 2, RETRY_MAX_S)
                continue
            retry_s = RETRY_MIN_S
            batch = []

    def _collect(self) -> list[Incoming]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.config.batch_wait_s
        while len(batch) < self.config.batch_max:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _apply(self, batch: list[Incoming]) -> None:
        result = commit_batch(self.engine, batch)
        for topic, payload in encode_acks(result, self.config.worker_id, self._next_seq, datetime.now(UTC)):
            self._client.publish(topic, payload, qos=1)
        for item in batch:
            if item.qos > 0:
                self._client.ack(item.mid, item.qos)
        self.stats.batches += 1
        self.stats.committed += result.committed
        self.stats.duplicates += result.duplicates
        self.stats.dead_letters += result.dead_letters
        self.stats.conflicts += result.conflicts
