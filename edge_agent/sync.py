"""Configuration from the hub: receive snapshots, assemble their parts, validate them, apply each atomically.

The hub publishes one retained, versioned snapshot per kind (settings, promotions, program, catalogue,
stock_rules, customers) as a manifest on ``cfg/{kind}`` and parts on ``cfg/{kind}/{n}`` (see
``docs/protocol.md``, "Configuration snapshots"). :class:`ConfigSync` receives them on the box's one MQTT
session (:meth:`edge_agent.relay.Relay.subscribe`: the broker's ACL ties a box's subtree to the box's own
username, which is also its client id, so a second connection would end the relay's), and for each complete snapshot:

1. assembles the parts of the manifest's version (parts of any other version are ignored, so a retained part
   left over from an older snapshot is never mixed in) and checks sizes and SHA-256;
2. refuses a version older than the one applied (anti-rollback) and a known version with another body;
3. validates the body against its kind's schema (``core.wire``);
4. applies it with :func:`apply_config` in one ``store.transaction()``: the ``config`` row and, for the
   catalogue, stock rules and customers, their tables. Anything wrong rolls the whole snapshot back.

A refused snapshot is logged with its reason and kept in :meth:`ConfigSync.status` for the UI; the previous
configuration stays in force. Partial snapshots are held in memory within :data:`MAX_BUFFERED_BYTES` and at
most :data:`MAX_PENDING_VERSIONS` versions per kind.

Threads: the relay's paho thread only puts messages on a bounded queue (:meth:`ConfigSync.offer`); the sync's
own thread owns its SQLite connection, assembles and applies. ``on_erased`` is called on that thread after
the commit.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from core import wire
from core.errors import InvalidInput
from edge_agent.customers import CustomerError, forget_points
from edge_agent.errors import EdgeError
from edge_agent.sealing import SealingError
from edge_agent.store import Store, Transaction

if TYPE_CHECKING:
    from edge_agent.relay import Relay

log = logging.getLogger(__name__)

INCOMING_QUEUE_MAX: Final = 2 * wire.MAX_CONFIG_PARTS
"""Configuration messages received and not yet handled; the MQTT thread waits when it is full."""
MAX_PENDING_VERSIONS: Final = 2
"""Versions of one kind being assembled at once (the newest win)."""
MAX_BUFFERED_BYTES: Final = 48 * 1024 * 1024
"""Base64 characters of parts held for incomplete snapshots, all kinds together."""
_STOP: Final = ("", b"")

ErasedCallback = Callable[[Mapping[str, int | None]], None]
"""Called with ``{loyalty_id: former sensor slot or None}`` for every customer whose fingerprint template
must leave the sensor: customers erased by the hub, and customers whose fingerprint consent the hub reports
withdrawn. Iterating it gives the loyalty ids."""
TemplateKeeper = Callable[[Transaction, str, str], None]
"""Keeps a fingerprint template the hub sent, ``(tx, loyalty_id, tenant-sealed base64)``, resealed with the
box key in ``biometric``: :meth:`edge_agent.customers.CustomerBook.keep_hub_template`."""


class ConfigRefused(InvalidInput, EdgeError):
    """A configuration snapshot the box will not apply; the previous one stays in force.

    ``reason`` is a short stable code: ``rollback`` (older than the applied version), ``version_conflict``
    (the applied version number with a different body), or a :class:`core.wire.Reason` value.
    """

    code = "config_refused"

    def __init__(self, kind: str, version: int, reason: str, detail: str) -> None:
        super().__init__(f"cfg/{kind}", f"version {version} refused ({reason}): {detail}", code=reason)
        self.kind = kind
        self.version = version
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class AppliedConfig:
    """What :func:`apply_config` did. ``changed`` is False when that exact snapshot was already applied."""

    kind: str
    version: int
    sha256: str
    applied_at: datetime
    changed: bool
    erased: Mapping[str, int | None]
    skipped: int = 0
    """Stock rules not applied because their sku is not in the catalogue yet (applied when it arrives)."""


@dataclass(frozen=True)
class KindStatus:
    """The state of one configuration kind, for the UI and the technician's screen."""

    kind: str
    version: int | None
    sha256: str | None
    applied_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    receiving: tuple[int, int] | None
    """(parts held, parts expected) of a newer snapshot being assembled, if any."""


# ---------------------------------------------------------------------------------------------- apply


def applied_versions(conn: sqlite3.Connection) -> dict[str, tuple[int, str, datetime]]:
    """The ``config`` table: kind -> (version, sha256, applied_at)."""
    return {
        kind: (int(version), str(sha), datetime.fromisoformat(at))
        for kind, version, sha, at in conn.execute("SELECT kind, version, sha256, applied_at FROM config")
    }


def check_config(kind: str, version: int, body: bytes) -> wire.ConfigBody:
    """Validate ``body`` (UTF-8 JSON) as ``version`` of ``kind``; raises :class:`ConfigRefused`."""
    if kind not in wire.CONFIG_BODIES:
        raise ConfigRefused(kind, version, wire.Reason.UNKNOWN_TYPE, f"known kinds: {', '.join(wire.CONFIG_KINDS)}")
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= wire.MAX_CONFIG_VERSION:
        raise ConfigRefused(kind, -1, "bad_version", f"{version!r} is not an integer 0 to {wire.MAX_CONFIG_VERSION}")
    if len(body) > wire.MAX_CONFIG_BODY_BYTES:
        raise ConfigRefused(kind, version, wire.Reason.OVERSIZED, f"{len(body)} bytes > {wire.MAX_CONFIG_BODY_BYTES}")
    try:
        return wire.decode_config_body(kind, body)
    except wire.ContractViolation as exc:
        raise ConfigRefused(kind, version, exc.reason, exc.detail) from exc


def apply_config_in(
    tx: Transaction,
    kind: str,
    version: int,
    body: bytes,
    *,
    keep_template: TemplateKeeper | None = None,
) -> AppliedConfig:
    """Apply a snapshot inside the caller's transaction (see :func:`apply_config`); the caller commits.

    The erased customers it returns must be given to ``on_erased`` once the caller has committed.
    """
    parsed = check_config(kind, version, body)
    sha = wire.payload_sha256(body)
    row = tx.conn.execute("SELECT version, sha256, applied_at FROM config WHERE kind = ?", (kind,)).fetchone()
    if row is not None:
        current, current_sha, applied_at = int(row[0]), str(row[1]), datetime.fromisoformat(row[2])
        if version < current:
            raise ConfigRefused(kind, version, "rollback", f"version {current} is applied; never go back")
        if version == current:
            if sha == current_sha:
                return AppliedConfig(kind, version, sha, applied_at, False, {})
            raise ConfigRefused(kind, version, "version_conflict", "this version was applied with another body")
    erased: dict[str, int | None] = {}
    skipped = 0
    if isinstance(parsed, wire.CatalogueBody):
        _apply_catalogue(tx, parsed)
        rules = _stored_rules(tx.conn)
        if rules is not None:
            skipped = _apply_stock_rules(tx, rules, rules)
    elif isinstance(parsed, wire.StockRulesBody):
        skipped = _apply_stock_rules(tx, parsed, _stored_rules(tx.conn))
    elif isinstance(parsed, wire.CustomersBody):
        erased = _apply_customers(tx, parsed, keep_template)
    tx.conn.execute(
        "INSERT INTO config (kind, version, sha256, body, applied_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (kind) DO UPDATE SET version = excluded.version, sha256 = excluded.sha256, "
        "body = excluded.body, applied_at = excluded.applied_at",
        (kind, version, sha, body.decode("utf-8"), tx.now.isoformat()),
    )
    return AppliedConfig(kind, version, sha, tx.now, True, erased, skipped)


def apply_config(
    store: Store,
    kind: str,
    version: int,
    body: bytes,
    *,
    on_erased: ErasedCallback | None = None,
    keep_template: TemplateKeeper | None = None,
) -> AppliedConfig:
    """Validate ``body`` (UTF-8 JSON) for ``kind`` and apply it as ``version`` in one transaction.

    Raises :class:`ConfigRefused` for a bad body, an older version than the applied one, or the applied
    version with a different body; nothing is written then. Applying the applied snapshot again changes
    nothing. Version 0 is for the box's embedded defaults: any hub snapshot (version 1 and up) replaces it.
    ``on_erased`` is called after the commit (see :data:`ErasedCallback`); ``keep_template`` stores the
    customers' fingerprint templates (see :data:`TemplateKeeper`; without it they are not kept).
    """
    check_config(kind, version, body)  # refuse a bad body before taking the write lock
    with store.transaction() as tx:
        applied = apply_config_in(tx, kind, version, body, keep_template=keep_template)
    if applied.erased and on_erased is not None:
        try:
            on_erased(applied.erased)
        except Exception:  # the erasure is committed; the sensor's owner must not undo it by failing
            log.exception("on_erased failed for %d customers; their sensor templates may remain", len(applied.erased))
    return applied


def _apply_catalogue(tx: Transaction, body: wire.CatalogueBody) -> None:
    conn, now = tx.conn, tx.now.isoformat()
    conn.executemany(
        "INSERT INTO item (sku, name, category, tax_category, brand, distributor, unit_price_minor, cost_minor, "
        "measure_per_unit_milli, active, origin, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'hub', ?) "
        "ON CONFLICT (sku) DO UPDATE SET name = excluded.name, category = excluded.category, "
        "tax_category = excluded.tax_category, brand = excluded.brand, distributor = excluded.distributor, "
        "unit_price_minor = excluded.unit_price_minor, cost_minor = excluded.cost_minor, "
        "measure_per_unit_milli = excluded.measure_per_unit_milli, active = excluded.active, origin = 'hub', "
        "updated_at = excluded.updated_at",
        [
            (
                i.sku,
                i.name,
                i.category,
                i.tax_category,
                i.brand,
                i.distributor,
                i.unit_price_minor,
                i.cost_minor,
                i.measure_per_unit_milli,
                int(i.active),
                now,
            )
            for i in body.items
        ],
    )
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS cfg_sku (sku TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.cfg_sku")
    conn.executemany("INSERT INTO temp.cfg_sku (sku) VALUES (?)", [(i.sku,) for i in body.items])
    # Hub items the new snapshot leaves out stop being sold; their rows stay for history and stock.
    conn.execute(
        "UPDATE item SET active = 0, updated_at = ? WHERE origin = 'hub' AND active = 1 "
        "AND sku NOT IN (SELECT sku FROM temp.cfg_sku)",
        (now,),
    )
    conn.execute("DELETE FROM item_barcode WHERE sku IN (SELECT sku FROM temp.cfg_sku)")
    conn.execute("DELETE FROM item_distributor WHERE sku IN (SELECT sku FROM temp.cfg_sku)")
    # A barcode the shopkeeper gave a local item goes to the hub's item that carries it: the hub wins.
    conn.executemany(
        "INSERT INTO item_barcode (barcode, sku) VALUES (?, ?) ON CONFLICT (barcode) DO UPDATE SET sku = excluded.sku",
        [(code, i.sku) for i in body.items for code in i.barcodes],
    )
    conn.executemany(
        "INSERT INTO item_distributor (sku, distributor) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(i.sku, d) for i in body.items for d in i.distributors],
    )
    conn.execute("DELETE FROM temp.cfg_sku")


def _stored_rules(conn: sqlite3.Connection) -> wire.StockRulesBody | None:
    row = conn.execute("SELECT body FROM config WHERE kind = 'stock_rules'").fetchone()
    return None if row is None else wire.StockRulesBody.model_validate_json(row[0])


def _apply_stock_rules(tx: Transaction, body: wire.StockRulesBody, previous: wire.StockRulesBody | None) -> int:
    """Upsert the rules of known items (their alert level is kept); drop rules the hub no longer sends.

    Rules for skus not in the item table yet are skipped and counted: they apply with the next catalogue.
    """
    conn = tx.conn
    known = {sku for (sku,) in conn.execute("SELECT sku FROM item")}
    rules = [r for r in body.rules if r.sku in known]
    conn.executemany(
        "INSERT INTO stock_rule (sku, low_at, reorder_point, order_up_to, preferred_distributor) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sku) DO UPDATE SET low_at = excluded.low_at, "
        "reorder_point = excluded.reorder_point, order_up_to = excluded.order_up_to, "
        "preferred_distributor = excluded.preferred_distributor",
        [(r.sku, r.low_at, r.reorder_point, r.order_up_to, r.preferred_distributor) for r in rules],
    )
    if previous is not None:
        gone = {r.sku for r in previous.rules} - {r.sku for r in body.rules}
        conn.executemany("DELETE FROM stock_rule WHERE sku = ?", [(sku,) for sku in sorted(gone)])
    return len(body.rules) - len(rules)


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _apply_customers(
    tx: Transaction, body: wire.CustomersBody, keep_template: TemplateKeeper | None
) -> dict[str, int | None]:
    """Upsert the cache, keep templates, honour withdrawn consent, delete erased customers.

    A listed customer's balance comes with the snapshot's watermark (``balance_seq``), and the box's
    journaled points movements at or below it are forgotten: the balance includes them. Returns the ids
    whose template must leave the sensor, with the slot it occupied. A customer the snapshot does not list
    stays cached (only ``erased`` removes one); the hub's phone or sticker wins over a local customer holding
    the same one.
    """
    conn, now = tx.conn, tx.now.isoformat()
    slots: dict[str, tuple[bool, int | None]] = {
        lid: (sealed is not None, slot)
        for lid, sealed, slot in conn.execute("SELECT loyalty_id, fingerprint_sealed, sensor_slot FROM biometric")
    }
    sensor: dict[str, int | None] = {}
    for c in body.customers:
        if c.phone_e164 is not None:
            conn.execute(
                "UPDATE customer SET phone_e164 = NULL WHERE phone_e164 = ? AND loyalty_id <> ?",
                (c.phone_e164, c.loyalty_id),
            )
        if c.sticker is not None:
            conn.execute(
                "UPDATE customer SET sticker = NULL WHERE sticker = ? AND loyalty_id <> ?", (c.sticker, c.loyalty_id)
            )
        conn.execute(
            "INSERT INTO customer (loyalty_id, name, phone_e164, sticker, gender, birth_date, wechat_id, "
            "whatsapp_e164, enrolled_on, tier_points, transactions_this_month, balance_points, balance_at, "
            "offline_allowance_points, segment_ids, last_birthday_bonus_year, last_anniversary_bonus_year, "
            "marketing_consent, marketing_consent_at, fingerprint_consent, fingerprint_consent_at, balance_seq, "
            "origin, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'hub', ?) "
            "ON CONFLICT (loyalty_id) DO UPDATE SET name = excluded.name, phone_e164 = excluded.phone_e164, "
            "sticker = excluded.sticker, gender = excluded.gender, birth_date = excluded.birth_date, "
            "wechat_id = excluded.wechat_id, whatsapp_e164 = excluded.whatsapp_e164, "
            "enrolled_on = excluded.enrolled_on, tier_points = excluded.tier_points, "
            "transactions_this_month = excluded.transactions_this_month, "
            "balance_points = excluded.balance_points, balance_at = excluded.balance_at, "
            "offline_allowance_points = excluded.offline_allowance_points, segment_ids = excluded.segment_ids, "
            "last_birthday_bonus_year = excluded.last_birthday_bonus_year, "
            "last_anniversary_bonus_year = excluded.last_anniversary_bonus_year, "
            "marketing_consent = excluded.marketing_consent, marketing_consent_at = excluded.marketing_consent_at, "
            "fingerprint_consent = excluded.fingerprint_consent, "
            "fingerprint_consent_at = excluded.fingerprint_consent_at, balance_seq = excluded.balance_seq, "
            "origin = 'hub', "
            "updated_at = excluded.updated_at",
            (
                c.loyalty_id,
                c.name,
                c.phone_e164,
                c.sticker,
                c.gender,
                _iso(c.birth_date),
                c.wechat_id,
                c.whatsapp_e164,
                _iso(c.enrolled_on),
                c.tier_points,
                c.transactions_this_month,
                c.balance_points,
                _iso(c.balance_at),
                c.offline_allowance_points,
                json.dumps(c.segment_ids),
                c.last_birthday_bonus_year,
                c.last_anniversary_bonus_year,
                _flag(c.marketing_consent),
                _iso(c.marketing_consent_at),
                _flag(c.fingerprint_consent),
                _iso(c.fingerprint_consent_at),
                body.watermark_seq,
                now,
            ),
        )
        # The snapshot's balance includes this box's movements up to its watermark: count them no more.
        forget_points(conn, c.loyalty_id, body.watermark_seq)
        held, slot = slots.get(c.loyalty_id, (False, None))
        if c.fingerprint_template is not None:
            if keep_template is None:
                log.warning("a fingerprint template from the hub is not kept: no template keeper is configured")
            else:
                try:
                    keep_template(tx, c.loyalty_id, c.fingerprint_template)
                except (CustomerError, SealingError) as exc:
                    # One unreadable template must not hold back the whole customer cache.
                    log.warning("the hub's fingerprint template for a customer is not kept: %s", exc)
        elif c.fingerprint_consent is False and (held or slot is not None):
            conn.execute(
                "UPDATE biometric SET fingerprint_sealed = NULL, sensor_slot = NULL WHERE loyalty_id = ?",
                (c.loyalty_id,),
            )
            sensor[c.loyalty_id] = slot
    for loyalty_id in body.erased:
        gone = conn.execute("DELETE FROM biometric WHERE loyalty_id = ?", (loyalty_id,)).rowcount
        gone += conn.execute("DELETE FROM customer WHERE loyalty_id = ?", (loyalty_id,)).rowcount
        conn.execute("DELETE FROM points_journal WHERE loyalty_id = ?", (loyalty_id,))
        if gone:
            sensor[loyalty_id] = slots.get(loyalty_id, (False, None))[1]
    return sensor


# ---------------------------------------------------------------------------------------------- receive


@dataclass
class _Pending:
    manifest: wire.ConfigManifestData | None = None
    parts: dict[int, wire.ConfigPartData] | None = None
    chars: int = 0


class ConfigSync:
    """Receives the hub's configuration snapshots for one box and applies them (see the module docstring).

    Use :meth:`attach` with the box's relay before starting it, then :meth:`start`; :meth:`status` is safe
    to call from any thread.
    """

    def __init__(
        self,
        store_path: Path | str,
        *,
        tenant: str,
        device: str,
        on_erased: ErasedCallback | None = None,
        keep_template: TemplateKeeper | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.tenant = wire.check_name(tenant, "tenant")
        self.device = wire.check_name(device, "device")
        self.on_erased = on_erased
        self.keep_template = keep_template
        self._store_path = Path(store_path)
        self._clock = clock
        self._incoming: queue.Queue[tuple[str, bytes]] = queue.Queue(INCOMING_QUEUE_MAX)
        self._pending: OrderedDict[tuple[str, int], _Pending] = OrderedDict()
        self._buffered_chars = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._applied: dict[str, tuple[int, str, datetime]] = {}
        self._errors: dict[str, tuple[str, datetime]] = {}
        self._thread: threading.Thread | None = None
        with Store(self._store_path, tenant=self.tenant, device=self.device) as store, store.transaction() as tx:
            self._applied = applied_versions(tx.conn)

    @property
    def topic_filter(self) -> str:
        return wire.box_config_filter(self.tenant, self.device)

    def attach(self, relay: Relay) -> None:
        """Receive on the relay's session (call before the relay starts)."""
        relay.subscribe(self.topic_filter, self.offer)

    def offer(self, topic: str, payload: bytes) -> None:
        """Hand over one received message (any thread; waits while the queue is full)."""
        self._incoming.put((topic, payload))

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("config sync already started")
        self._thread = threading.Thread(target=self._run, name=f"cfg-{self.device}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._incoming.put(_STOP)
        self._thread.join(30)
        self._thread = None

    def _run(self) -> None:
        with Store(self._store_path, tenant=self.tenant, device=self.device) as store:
            while True:
                topic, payload = self._incoming.get()
                if (topic, payload) == _STOP:
                    return
                try:
                    self.receive(store, topic, payload)
                except Exception:  # the sync loop must outlive any single message; it logs and goes on
                    log.exception("%s: configuration message on %s failed", self.device, topic)

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, KindStatus]:
        """Every kind's applied version, when it was applied, its last error and any snapshot in transit."""
        with self._lock:
            out: dict[str, KindStatus] = {}
            for kind in wire.CONFIG_KINDS:
                applied = self._applied.get(kind)
                error = self._errors.get(kind)
                newest = max((v for k, v in self._pending if k == kind), default=None)
                receiving = None
                if newest is not None:
                    pending = self._pending[kind, newest]
                    held = len(pending.parts or {})
                    receiving = (held, pending.manifest.parts if pending.manifest else 0)
                out[kind] = KindStatus(
                    kind,
                    applied[0] if applied else None,
                    applied[1] if applied else None,
                    applied[2] if applied else None,
                    error[0] if error else None,
                    error[1] if error else None,
                    receiving,
                )
            return out

    def wait_for(self, kind: str, version: int, timeout_s: float) -> bool:
        """Wait until ``kind`` is applied at ``version`` or later; False on timeout."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self._applied.get(kind, (-1, "", None))[0] >= version, timeout=timeout_s
            )

    def _fail(self, kind: str, detail: str) -> None:
        log.warning("%s: configuration %s refused: %s", self.device, kind, detail)
        with self._changed:
            self._errors[kind] = (detail, self._clock())
            self._changed.notify_all()

    # ------------------------------------------------------------------ assemble

    def receive(self, store: Store, topic: str, payload: bytes) -> AppliedConfig | None:
        """Handle one message in the caller's thread with its ``store``; the snapshot applied, if any."""
        if not payload:
            return None  # a cleared retained part: the hub removes parts a shorter snapshot no longer uses
        try:
            message = wire.decode(topic, payload)
        except wire.ContractViolation as exc:
            name = topic.split("/")[5] if topic.count("/") >= 5 else "cfg"
            self._fail(name if name in wire.CONFIG_KINDS else "cfg", f"{exc.reason}: {exc.detail}")
            return None
        data = message.data
        if not isinstance(data, wire.ConfigManifestData | wire.ConfigPartData):
            return None
        kind, version = data.kind, data.version
        with self._lock:
            applied = self._applied.get(kind)
        if isinstance(data, wire.ConfigManifestData):
            if applied is not None and version < applied[0]:
                self._fail(kind, f"rollback: version {version} is older than the applied {applied[0]}")
                return None
            if applied is not None and version == applied[0]:
                if data.sha256 != applied[1]:
                    self._fail(kind, f"version_conflict: version {version} announced with another body")
                return None
            self._drop(kind, below=version)
            self._slot(kind, version).manifest = data
        else:
            if applied is not None and version <= applied[0]:
                return None  # a part of the applied snapshot or an older one
            newest_manifest = max(
                (v for (k, v), p in self._pending.items() if k == kind and p.manifest is not None), default=0
            )
            if version < newest_manifest:
                return None  # stale: a newer snapshot is announced
            pending = self._slot(kind, version)
            parts = pending.parts if pending.parts is not None else {}
            pending.parts = parts
            old = parts.get(data.index)
            grow = len(data.data) - (len(old.data) if old else 0)
            self._make_room(grow, keep=(kind, version))
            parts[data.index] = data
            pending.chars += grow
            self._buffered_chars += grow
        return self._try_complete(store, kind, version)

    def _slot(self, kind: str, version: int) -> _Pending:
        with self._lock:
            key = (kind, version)
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = _Pending()
                versions = sorted(v for k, v in self._pending if k == kind)
                for old in versions[: max(0, len(versions) - MAX_PENDING_VERSIONS)]:
                    self._discard((kind, old))
            self._pending.move_to_end(key)
            return pending

    def _discard(self, key: tuple[str, int]) -> None:
        dropped = self._pending.pop(key, None)
        if dropped is not None:
            self._buffered_chars -= dropped.chars

    def _drop(self, kind: str, *, below: int) -> None:
        with self._lock:
            for key in [k for k in self._pending if k[0] == kind and k[1] < below]:
                self._discard(key)

    def _make_room(self, chars: int, *, keep: tuple[str, int]) -> None:
        with self._lock:
            for key in list(self._pending):
                if self._buffered_chars + chars <= MAX_BUFFERED_BYTES:
                    return
                if key != keep:
                    log.warning("%s: dropping incomplete %s v%d to stay within the buffer", self.device, *key)
                    self._discard(key)

    def _try_complete(self, store: Store, kind: str, version: int) -> AppliedConfig | None:
        pending = self._pending.get((kind, version))
        if pending is None or pending.manifest is None or len(pending.parts or {}) < pending.manifest.parts:
            return None
        manifest, parts = pending.manifest, list((pending.parts or {}).values())
        if any(p.index >= manifest.parts for p in parts):
            parts = [p for p in parts if p.index < manifest.parts]
            if len(parts) < manifest.parts:
                return None
        with self._lock:
            self._discard((kind, version))
        try:
            body = wire.assemble_config(manifest, parts)
            applied = apply_config(
                store, kind, version, body, on_erased=self.on_erased, keep_template=self.keep_template
            )
        except wire.ContractViolation as exc:
            self._fail(kind, f"{exc.reason}: {exc.detail}")
            return None
        except ConfigRefused as exc:
            self._fail(kind, f"{exc.reason}: {exc.detail}")
            return None
        self._drop(kind, below=version + 1)
        with self._changed:
            self._applied[kind] = (applied.version, applied.sha256, applied.applied_at)
            self._errors.pop(kind, None)
            self._changed.notify_all()
        log.info("%s: applied %s version %d%s", self.device, kind, version, "" if applied.changed else " (again)")
        if applied.skipped:
            log.info("%s: %d stock rules wait for their items in the catalogue", self.device, applied.skipped)
        return applied
