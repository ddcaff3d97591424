"""Each box's configuration snapshots built from the hub's data, published with versions that only increase.

Three kinds are built here from the network (:mod:`hub.network`) and catalogue (:mod:`hub.catalogue`) tables:

* ``settings``: the box's store (id, retailer, time zone), currency, tax jurisdiction, language, the tenant's
  loyalty prefix, receipt text, offline points allowance, wallets, and the box's own ``loyalty_range``;
* ``catalogue``: every item of the tenant priced in the store's currency, with barcodes and carriers;
* ``stock_rules``: the tenant's rules, overridden by the store's own.

:class:`Publisher` publishes any kind's body to a box with :func:`hub.publishing.retained.publish_config` and
keeps, per (tenant, device, kind), the last version and the SHA-256 of its body in ``config_version``. A body
equal to the last one published is skipped without touching the broker (``recheck=True`` asks the broker
whether it still retains it, and publishes it again under the same version if not). A changed body gets the
next version. If the broker retains a higher version than the table knows (the hub's database was restored
from a backup, say), the publisher reads it and publishes above it, so a box never sees a version go back.

Bounds: one :meth:`Publisher.publish_tenant` call reaches at most :data:`hub.network.MAX_LISTED` boxes; each
publish waits at most :data:`hub.publishing.retained.PUBLISH_TIMEOUT_S` per acknowledgement.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core import wire
from core.errors import InvalidInput
from hub import catalogue, db, network
from hub import mqtt as hub_mqtt
from hub.publishing.retained import PUBLISH_TIMEOUT_S, PublishError, VersionRefused, publish_config, read_retained

__all__ = [
    "BUILT_KINDS",
    "PUBLISHER_CLIENT_PREFIX",
    "Outcome",
    "Publisher",
    "build",
    "catalogue_body",
    "connect_broker",
    "settings_body",
    "stock_rules_body",
]

log = logging.getLogger(__name__)


BUILT_KINDS: Final = ("settings", "catalogue", "stock_rules")
"""The kinds this module builds from hub data (promotions, program and customers are built elsewhere)."""


PUBLISHER_CLIENT_PREFIX: Final = "hub-publish"


@dataclass(frozen=True)
class Outcome:
    """What publishing one kind to one box did. ``error`` names a body the hub could not build or publish."""

    tenant: str
    device: str
    kind: str
    version: int | None
    unchanged: bool
    error: str | None = None


def settings_body(conn: Connection, tenant: str, device: str) -> dict[str, Any]:
    """The ``settings`` snapshot of ``device``: its store's settings and its loyalty number range."""
    box = network.get_device(conn, tenant, device)
    store = network.get_store(conn, tenant, box.store)
    owner = network.get_tenant(conn, tenant)
    return {
        "store": {"store_id": store.store, "retailer_id": store.retailer, "timezone": store.timezone},
        "currency": store.currency,
        "jurisdiction": store.jurisdiction,
        "language": store.language,
        "loyalty_prefix": owner.loyalty_prefix,
        "loyalty_range": {"first": box.loyalty_first, "last": box.loyalty_last},
        "receipt": {"header": list(store.receipt_header), "footer": list(store.receipt_footer)},
        "offline_allowance_points": store.offline_allowance_points,
        "wallets_enabled": store.wallets_enabled,
    }


def catalogue_body(conn: Connection, tenant: str, store: str) -> dict[str, Any]:
    """The ``catalogue`` snapshot of ``store``: the tenant's items priced in the store's currency.

    Items priced in another currency are left out (and logged): a till cannot charge them.
    """
    currency = network.get_store(conn, tenant, store).currency
    chosen: list[dict[str, Any]] = []
    other = 0
    for item in catalogue.items(conn, tenant):
        if item.currency == currency:
            chosen.append(item.wire_item())
        else:
            other += 1
    if other:
        log.warning(
            "%s/%s: %d items are priced in another currency than %s and left out", tenant, store, other, currency
        )
    return {"items": chosen}


def stock_rules_body(conn: Connection, tenant: str, store: str) -> dict[str, Any]:
    """The ``stock_rules`` snapshot of ``store``."""
    network.get_store(conn, tenant, store)
    return {"rules": [rule.wire_rule() for rule in catalogue.stock_rules(conn, tenant, store)]}


def build(conn: Connection, tenant: str, device: str, kind: str) -> dict[str, Any]:
    """The body of ``kind`` (one of :data:`BUILT_KINDS`) for ``device``."""
    if kind == "settings":
        return settings_body(conn, tenant, device)
    store = network.get_device(conn, tenant, device).store
    if kind == "catalogue":
        return catalogue_body(conn, tenant, store)
    if kind == "stock_rules":
        return stock_rules_body(conn, tenant, store)
    raise InvalidInput("kind", f"{kind!r} is not built from hub data here; one of {', '.join(BUILT_KINDS)}")


def connect_broker(
    host: str, port: int, username: str | None, password: str | None, *, timeout_s: float = PUBLISH_TIMEOUT_S
) -> mqtt.Client:
    """A connected MQTT 5 client with its network loop running, for :class:`Publisher`."""
    client = hub_mqtt.new_client(f"{PUBLISHER_CLIENT_PREFIX}-{uuid.uuid4().hex[:12]}", username or None, password)
    try:
        hub_mqtt.connect_now(client, host, port, timeout_s=timeout_s)
    except hub_mqtt.BrokerUnavailable as exc:
        raise PublishError(str(exc)) from exc
    return client


class Publisher:
    """Publishes snapshots to boxes over a connected client (borrowed), tracking versions in ``config_version``."""

    def __init__(
        self, engine: sa.Engine, client: mqtt.Client, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.engine = engine
        self.client = client
        self._clock = clock
        self._lock = threading.Lock()

    def publish(
        self, tenant: str, device: str, kind: str, body: Mapping[str, Any], *, recheck: bool = False
    ) -> Outcome:
        """Publish ``body`` as ``device``'s ``kind`` unless it is the last body published (module docstring).

        Raises ``InvalidInput`` for a body the kind's schema refuses and ``PublishError`` when the broker
        cannot be used; the recorded version changes only after the broker acknowledged the snapshot.
        """
        raw = wire.config_body_json(body)
        sha = hashlib.sha256(raw).hexdigest()
        v = db.config_version
        key = (v.c.tenant == tenant, v.c.device == device, v.c.kind == kind)
        with self._lock:
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(v.c.version, v.c.sha256).where(*key)).first()
            if row is not None and row.sha256 == sha and not recheck:
                return Outcome(tenant, device, kind, int(row.version), True)
            # The same body again (a recheck) keeps its version; a new body takes the next one.
            version = 1 if row is None else int(row.version) + (0 if row.sha256 == sha else 1)
            try:
                done = publish_config(self.client, tenant, device, kind, raw, version)
            except VersionRefused:
                state = read_retained(self.client, tenant, device, kind)
                if state.manifest is None:
                    raise
                version = state.manifest.version + 1
                log.warning(
                    "%s/%s %s: the broker retains version %d, above the hub's record; publishing %d",
                    tenant,
                    device,
                    kind,
                    state.manifest.version,
                    version,
                )
                done = publish_config(self.client, tenant, device, kind, raw, version)
            with self.engine.begin() as conn:
                values = {"version": version, "sha256": sha, "published_at": self._clock()}
                if row is None:
                    conn.execute(sa.insert(v).values(tenant=tenant, device=device, kind=kind, **values))
                else:
                    conn.execute(sa.update(v).where(*key).values(**values))
            return Outcome(tenant, device, kind, version, done.unchanged)

    def publish_device(
        self, tenant: str, device: str, kinds: Sequence[str] = BUILT_KINDS, *, recheck: bool = False
    ) -> list[Outcome]:
        """Build and publish ``kinds`` for one box."""
        return self._publish_many(tenant, [device], kinds, recheck)

    def publish_tenant(
        self,
        tenant: str,
        kinds: Sequence[str] = BUILT_KINDS,
        *,
        store: str | None = None,
        recheck: bool = False,
    ) -> list[Outcome]:
        """Build and publish ``kinds`` for every box of ``tenant`` (of one store if given)."""
        with self.engine.connect() as conn:
            boxes = [d.device for d in network.devices(conn, tenant, store=store)]
        return self._publish_many(tenant, boxes, kinds, recheck)

    def _publish_many(self, tenant: str, boxes: Sequence[str], kinds: Sequence[str], recheck: bool) -> list[Outcome]:
        outcomes: list[Outcome] = []
        by_store: dict[tuple[str, str], dict[str, Any]] = {}
        for device in boxes:
            for kind in kinds:
                try:
                    with self.engine.connect() as conn:
                        if kind == "settings":
                            body = settings_body(conn, tenant, device)
                        else:
                            store = network.get_device(conn, tenant, device).store
                            if (store, kind) not in by_store:
                                by_store[store, kind] = build(conn, tenant, device, kind)
                            body = by_store[store, kind]
                    outcomes.append(self.publish(tenant, device, kind, body, recheck=recheck))
                except InvalidInput as exc:
                    log.error("%s/%s %s not published: %s", tenant, device, kind, exc)
                    outcomes.append(Outcome(tenant, device, kind, None, False, str(exc)))
        return outcomes
