"""Several ingest workers under one supervisor: shared load, restarts, no orphans, exactly once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from devkit.services import BoxProcess, HubProcess, MosquittoServer
from hub import db
from tests.effects import assert_effects_once
from tests.hub.test_faults import REFUND_EVERY, hub_count, stop_and_drain
from tests.waiting import wait_until


def worker_pids(supervisor_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(supervisor_pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def alive(pid: int) -> bool:
    return subprocess.run(["kill", "-0", str(pid)], capture_output=True, check=False).returncode == 0


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    eng = db.make_engine(url)
    db.migrate(eng)
    return eng


def test_two_workers_share_the_load_survive_a_worker_kill_and_apply_each_sale_once(
    tmp_path: Path, broker: MosquittoServer, engine: sa.Engine
) -> None:
    hub = HubProcess(tmp_path / "hub", broker, str(engine.url), worker_id="hub-x", workers=2).start()
    box = BoxProcess(
        tmp_path / "box-1",
        broker,
        tenant="acme",
        device="box-1",
        rate=40,
        seed=1,
        extra=["--ack-timeout-s", "2", "--refund-every", str(REFUND_EVERY)],
    ).start()
    try:
        wait_until(lambda: len(worker_pids(hub.pid)) == 2, 20, "two workers")
        wait_until(lambda: hub_count(engine) >= 30, 30, "the first sales")
        victim = worker_pids(hub.pid)[0]
        subprocess.run(["kill", "-9", str(victim)], check=True)
        wait_until(
            lambda: victim not in worker_pids(hub.pid) and len(worker_pids(hub.pid)) == 2,
            20,
            "the supervisor to restart the killed worker",
        )
        sold = hub_count(engine)
        wait_until(lambda: hub_count(engine) >= sold + 30, 30, "sales after the restart")
        stop_and_drain([box])
        assert_effects_once([box], engine, tenant="acme")
        # The killed worker's own lines may have died with it: its replacement says it too, once connected.
        wait_until(
            lambda: all(f"hub-x-{n} connected" in hub.log.read_text() for n in (1, 2)), 20, "both workers connected"
        )
    finally:
        box.stop()
        hub.stop()


def test_workers_do_not_outlive_a_killed_supervisor(tmp_path: Path, broker: MosquittoServer, engine: sa.Engine) -> None:
    hub = HubProcess(tmp_path / "hub", broker, str(engine.url), worker_id="hub-y", workers=2).start()
    try:
        wait_until(lambda: len(worker_pids(hub.pid)) == 2, 20, "two workers")
        workers = worker_pids(hub.pid)
        hub.kill()
        wait_until(lambda: not any(alive(p) for p in workers), 20, "the workers to stop with their supervisor")
    finally:
        hub.stop()
