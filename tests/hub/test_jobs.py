"""The hub's jobs loop against a real broker: enrolments applied, and every box given its store's settings and
the network's customers, once per change."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa

from core import identity, wire
from devkit.services import MosquittoServer
from hub import db, jobs, network
from hub.cli import jobs as jobs_cli
from hub.ingest.worker import Incoming, apply_batch
from hub.jobs import HubJobs
from hub.publishing.retained import read_retained
from hub.publishing.snapshots import connect_broker

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
TENANT = "acme"


@pytest.fixture
def client(broker: MosquittoServer) -> Iterator[mqtt.Client]:
    c = connect_broker("127.0.0.1", broker.port, broker.hub.username, broker.hub.password)
    try:
        yield c
    finally:
        c.disconnect()
        c.loop_stop()


def setup(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        network.add_tenant(conn, TENANT, "Acme", 481, now=NOW)
        for n, store in ((1, "centro"), (2, "norte")):
            network.add_store(
                conn,
                network.Store(
                    tenant=TENANT,
                    store=store,
                    retailer=f"retailer-{n}",
                    name=store.title(),
                    timezone="America/Mexico_City",
                    currency="MXN",
                    jurisdiction="mx-general",
                    language="es",
                ),
                now=NOW,
            )
            network.add_device(conn, TENANT, f"box-{n}", store, now=NOW)


def enrol_at_box_1(engine: sa.Engine) -> str:
    """A member enrolled at box-1, who buys there at once (earning points)."""
    member = identity.make(481, 10_001)
    enrolment = wire.EnrolmentData(
        customer=member,
        store="centro",
        fields=wire.CustomerFields(name="Rosa Flores", phone_e164="+525512345678"),
    )
    sale = wire.SaleData(
        sale_id="s-1",
        store="centro",
        currency="MXN",
        lines=[wire.SaleLine(sku="a", qty=1, unit_price_minor=5000, amount_minor=5000, category="abarrotes")],
        total_minor=5000,
        customer=member,
        tenders=[wire.TenderRecord(kind="cash", amount_minor=5000)],
        points_earned=5,
    )
    batch = []
    for seq, data in ((1, enrolment), (2, sale)):
        raw = wire.encode(id=wire.uuid7(1_795_000_000_000 + seq, bytes(10)), seq=seq, ts=NOW, device="box-1", data=data)
        batch.append(Incoming(str(wire.event_topic(TENANT, "box-1", data.TYPE)), raw, NOW))
    with engine.begin() as conn:
        apply_batch(conn, batch)
    return member


def test_a_member_enrolled_at_one_store_reaches_every_box_with_its_store_settings(
    hub_engine: sa.Engine, client: mqtt.Client
) -> None:
    setup(hub_engine)
    member = enrol_at_box_1(hub_engine)
    jobs = HubJobs(hub_engine, client, TENANT, box_kinds=("settings",), promotions=False, clock=lambda: NOW)
    first = jobs.run_once()
    assert first.problems == []
    assert first.tiers_reviewed == 1
    assert first.published == 4  # settings and customers, for each of the two boxes
    assert first.fact_lines == 1  # the sale's line, into the analytics fact and rollups
    for device in ("box-1", "box-2"):
        for kind in ("settings", "customers"):
            state = read_retained(client, TENANT, device, kind)
            assert state.manifest is not None and state.manifest.version == 1
    with hub_engine.connect() as conn:
        name = conn.execute(sa.select(db.customer.c.name).where(db.customer.c.loyalty_id == member)).scalar_one()
    assert name == "Rosa Flores"
    # Nothing changed: nothing is sent again, nothing loaded again.
    again = jobs.run_once()
    assert (again.published, again.fact_lines) == (0, 0)


def test_the_jobs_process_waits_for_a_broker_that_is_not_up_yet_instead_of_exiting(
    hub_engine: sa.Engine,
    broker: MosquittoServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    setup(hub_engine)
    password_file = tmp_path / "hub.password"
    password_file.write_text(broker.hub.password + "\n")
    broker.kill()
    monkeypatch.setattr(jobs, "CONNECT_RETRY_MIN_S", 0.1)
    monkeypatch.setattr(jobs, "CONNECT_RETRY_MAX_S", 0.4)
    caplog.set_level(logging.WARNING, logger="hub.jobs")
    args = argparse.Namespace(
        tenant=TENANT,
        every_s=1.0,
        once=True,
        box_kinds="settings",
        no_promotions=True,
        mqtt_host="127.0.0.1",
        mqtt_port=broker.port,
        mqtt_user=broker.hub.username,
        mqtt_password_file=str(password_file),
    )
    late_start = threading.Timer(1.5, broker.start)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    late_start.start()
    try:
        status = jobs_cli.run_cli(hub_engine, args)
    finally:
        late_start.join()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert status == 0
    retries = [r.getMessage() for r in caplog.records if "broker not reached" in r.getMessage()]
    assert len(retries) >= 2, retries
    assert "attempt 1" in retries[0] and "attempt 2" in retries[1]
    with hub_engine.connect() as conn:  # the round ran once the broker was up: box-1 got its settings
        versions = conn.execute(sa.select(db.config_version).where(db.config_version.c.device == "box-1")).all()
    assert versions
