"""Hub ingest end to end, against a raw-insert baseline in the same run.

Ours: box outboxes -> relays -> Mosquitto -> hub ingest (validate, inbox, sales and lines, the customers'
enrolments and the points ledger's postings) -> PostgreSQL, committed and acked back to every box, timed from
the relays' start until every outbox is empty. Each box's outbox is filled beforehand by a simulated cashier
at the box's real checkout (:func:`bench.box_rows.fill_box`): sales with and without members, points earned
and spent, enrolments, refunds and stock alerts, the mix a shop sends. Rates count every event.
Baseline: the same payloads published by plain paho clients to a fresh broker, and a minimal paho subscriber
inserting each raw payload into one PostgreSQL table with executemany, timed until the last row is in.
Both use the same PostgreSQL cluster (durable: fsync on). Target: >= 0.7x the baseline and >= 5,000 events/s.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.box_rows import fill_box
from bench.report import Figure
from devkit.services import BoxProcess, HubProcess, MosquittoServer, PostgresServer
from edge_agent.store import Store
from hub import db

TENANT = "bench"
TARGET_RATIO = 0.7
TARGET_RATE = 5000.0
TIMEOUT_S = 600.0


def _fill(directory: Path, boxes: int, per_box: int) -> tuple[list[Path], int, int]:
    """Boxes with ``per_box`` checkout sales each; returns their files, the sales and the events in all."""
    paths = []
    events = 0
    for i in range(1, boxes + 1):
        path = directory / f"box-{i}" / f"box-{i}.sqlite3"
        events += fill_box(path, tenant=TENANT, device=f"box-{i}", sales=per_box, seed=7 + i)
        paths.append(path)
    return paths, boxes * per_box, events


def _copy_boxes(src: list[Path], dest: Path) -> None:
    for path in src:
        target = dest / path.parent.name
        target.mkdir(parents=True, exist_ok=True)
        with Store(path, tenant=TENANT, device=path.parent.name) as store:
            store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (target / path.name).write_bytes(path.read_bytes())


def wait_log(path: Path, text: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{path} never said {text!r}")


def _ours(work: Path, filled: list[Path], pg: PostgresServer, sales: int, total: int, workers: int = 1) -> float:
    run_dir = work / f"ours-{workers}"
    _copy_boxes(filled, run_dir)
    url = pg.create_database(f"hub_ingest_{workers}")
    engine = db.make_engine(url)
    db.migrate(engine)
    with MosquittoServer() as broker:
        hub = HubProcess(run_dir / "hub", broker, url, worker_id="hub", workers=workers).start()
        try:
            for n in range(1, workers + 1):
                wait_log(hub.log, f"hub-{n} connected" if workers > 1 else "connected")
            boxes = [BoxProcess(run_dir / p.parent.name, broker, tenant=TENANT, device=p.parent.name) for p in filled]
            started = time.monotonic()
            for box in boxes:
                box.relay_only("--window", "2000", "--ack-timeout-s", "30")
            for box in boxes:
                if box.wait(TIMEOUT_S) != 0:
                    raise RuntimeError(f"{box.name} did not drain:\n{box.tail()}")
            elapsed = time.monotonic() - started
        finally:
            hub.stop()
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(db.sale)).scalar_one()
    engine.dispose()
    if stored != sales:
        raise RuntimeError(f"hub stored {stored} sales, expected {sales}")
    return total / elapsed


def _baseline(work: Path, filled: list[Path], pg: PostgresServer, total: int) -> float:
    pg.create_database("raw_ingest")
    dsn = pg.url("raw_ingest", driver="postgresql")
    with MosquittoServer() as broker:
        hub_pw = work / "raw-hub.pw"
        hub_pw.write_text(broker.hub.password)
        box_pws = {}
        for p in filled:
            cred = broker.box_credentials(TENANT, p.parent.name)
            box_pws[p] = (cred.username, work / f"raw-{p.parent.name}.pw")
            box_pws[p][1].write_text(cred.password)
        sub = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.raw_subscriber",
                dsn,
                str(broker.port),
                "hub",
                str(hub_pw),
                str(total),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert sub.stdout is not None
            sub.stdout.readline()  # "ready": subscribed
            time.sleep(0.2)
            started = time.monotonic()
            pubs = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.raw_publisher",
                        str(p),
                        str(broker.box_port),
                        box_pws[p][0],
                        str(box_pws[p][1]),
                    ]
                )
                for p in filled
            ]
            for pub in pubs:
                pub.wait(TIMEOUT_S)
            if sub.wait(TIMEOUT_S) != 0:
                raise RuntimeError("baseline subscriber failed")
            return total / (time.monotonic() - started)
        finally:
            if sub.poll() is None:
                sub.kill()
                sub.wait()
            if sub.stdout is not None:
                sub.stdout.close()


def run(quick: bool) -> list[Figure]:
    boxes, per_box = (2, 150) if quick else (10, 5000)
    with tempfile.TemporaryDirectory(prefix="mostrador-bench-") as tmp, PostgresServer() as pg:
        work = Path(tmp)
        filled, sales, total = _fill(work / "filled", boxes, per_box)
        baseline = _baseline(work, filled, pg, total)
        ours = _ours(work, filled, pg, sales, total)
        ours_two = _ours(work, filled, pg, sales, total, workers=2)
    return [
        Figure(
            name=f"hub ingest end to end, {boxes} boxes x {per_box} checkout sales, {total} events (PostgreSQL)",
            value=ours,
            unit="events/s",
            baseline_name="raw paho subscriber + executemany",
            baseline=baseline,
            target=f">= {TARGET_RATIO}x and >= {TARGET_RATE:,.0f} events/s",
            met=None if quick else (ours / baseline >= TARGET_RATIO and ours >= TARGET_RATE),
        ),
        Figure(
            name="the same, hub run with --workers 2 (one per core, sharing $share/hub)",
            value=ours_two,
            unit="events/s",
            baseline_name="raw paho subscriber + executemany",
            baseline=baseline,
            target=f">= {TARGET_RATIO}x and >= {TARGET_RATE:,.0f} events/s",
            met=None if quick else (ours_two / baseline >= TARGET_RATIO and ours_two >= TARGET_RATE),
        ),
    ]
