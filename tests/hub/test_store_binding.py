"""The hub takes a box's events only for the store the box is bound to, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core import wire
from hub import db, network
from hub.ingest.worker import Incoming, apply_batch

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TENANT = "acme"


def bind(engine: Engine, stores: dict[str, str], devices: dict[str, str]) -> None:
    """Stores (store -> retailer) of the tenant, and boxes bound to them (device -> store)."""
    with engine.begin() as conn:
        network.add_tenant(conn, TENANT, "Acme", 481, now=NOW)
        for store, retailer in stores.items():
            network.add_store(
                conn,
                network.Store(
                    tenant=TENANT,
                    store=store,
                    retailer=retailer,
                    name=store,
                    timezone="America/Mexico_City",
                    currency="MXN",
                    jurisdiction="mx-general",
                    language="es",
                    receipt_header=(store,),
                    receipt_footer=(),
                    offline_allowance_points=0,
                    wallets_enabled=False,
                ),
                now=NOW,
            )
        for device, store in devices.items():
            network.add_device(conn, TENANT, device, store, now=NOW)


def sale(n: int, device: str, store: str) -> Incoming:
    data = wire.SaleData(
        sale_id=f"s-{n}",
        store=store,
        currency="MXN",
        lines=[wire.SaleLine(sku="a", qty=1, unit_price_minor=1000, amount_minor=1000)],
        total_minor=1000,
    )
    event_id = wire.uuid7(1_795_000_000_000 + n, n.to_bytes(10, "big"))
    raw = wire.encode(id=event_id, seq=n, ts=NOW, device=device, data=data)
    return Incoming(str(wire.event_topic(TENANT, device, "sale")), raw, NOW)


def stock_alert(n: int, device: str, store: str) -> Incoming:
    data = wire.StockAlertData(store=store, sku="a", level="low", on_hand=2, threshold=3)
    event_id = wire.uuid7(1_795_000_000_000 + n, n.to_bytes(10, "big"))
    raw = wire.encode(id=event_id, seq=n, ts=NOW, device=device, data=data)
    return Incoming(str(wire.event_topic(TENANT, device, "stock_alert")), raw, NOW)


def apply(engine: Engine, *items: Incoming):  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        return apply_batch(conn, list(items))


def rows(engine: Engine, query: sa.Select[Any]) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def test_a_box_cannot_book_a_sale_at_a_store_it_is_not_bound_to(hub_engine: Engine) -> None:
    bind(hub_engine, {"store-1": "ret-1", "store-2": "ret-2"}, {"box-1": "store-1", "box-2": "store-2"})
    forged, honest = sale(1, "box-1", "store-2"), sale(2, "box-1", "store-1")
    result = apply(hub_engine, forged, honest)
    verdicts = {a.seq: (a.status, a.reason) for a in result.acks[TENANT, "box-1"]}
    assert verdicts == {1: ("rejected", "store_mismatch"), 2: ("committed", None)}
    assert result.committed == 1 and result.dead_letters == 1
    assert rows(hub_engine, sa.select(db.sale.c.sale_id, db.sale.c.store)) == [("s-2", "store-1")]
    [(reason, device, detail)] = rows(
        hub_engine, sa.select(db.dead_letter.c.reason, db.dead_letter.c.device, db.dead_letter.c.detail)
    )
    assert (reason, device) == ("store_mismatch", "box-1")
    assert "bound to store 'store-1'" in str(detail) and "'store-2'" in str(detail)
    # Nothing of the forged sale reached the points ledger or the inbox.
    assert ("store-2",) not in rows(hub_engine, sa.select(db.posting.c.store))
    assert len(rows(hub_engine, sa.select(db.inbox.c.event_id))) == 1


def test_a_refused_event_sent_again_is_refused_again_not_acked_as_a_duplicate(hub_engine: Engine) -> None:
    bind(hub_engine, {"store-1": "ret-1", "store-2": "ret-2"}, {"box-1": "store-1"})
    forged = sale(1, "box-1", "store-2")
    apply(hub_engine, forged)
    again = apply(hub_engine, forged)
    assert [(a.status, a.reason) for a in again.acks[TENANT, "box-1"]] == [("rejected", "store_mismatch")]
    assert again.duplicates == 0
    assert rows(hub_engine, sa.select(sa.func.count()).select_from(db.sale)) == [(0,)]


def test_every_kind_of_event_is_held_to_the_box_store(hub_engine: Engine) -> None:
    bind(hub_engine, {"store-1": "ret-1", "store-2": "ret-2"}, {"box-1": "store-1"})
    result = apply(hub_engine, stock_alert(1, "box-1", "store-2"), stock_alert(2, "box-1", "store-1"))
    assert {a.seq: a.status for a in result.acks[TENANT, "box-1"]} == {1: "rejected", 2: "committed"}
    assert rows(hub_engine, sa.select(db.business_event.c.seq, db.business_event.c.store)) == [(2, "store-1")]


def test_a_box_bound_to_no_store_cannot_name_a_store_of_the_network(hub_engine: Engine) -> None:
    bind(hub_engine, {"store-1": "ret-1"}, {})
    result = apply(hub_engine, sale(1, "box-9", "store-1"), sale(2, "box-9", "pop-up"))
    verdicts = {a.seq: (a.status, a.reason) for a in result.acks[TENANT, "box-9"]}
    assert verdicts == {1: ("rejected", "store_mismatch"), 2: ("committed", None)}
    [(detail,)] = rows(hub_engine, sa.select(db.dead_letter.c.detail))
    assert "bound to no store" in str(detail) and "network add-device" in str(detail)
