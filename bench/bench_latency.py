"""Box commit to hub ack latency under a steady load of many boxes, against a raw broker round trip.

Ours: 100 boxes (10 processes of 10), each ringing up a ticket at its real checkout every second (100 sales/s
in all; every box's checkout runs on this machine's shared cores, where a Raspberry Pi would run one), the sale
committed with its stock movements and outbox row (WAL, ``synchronous=FULL``); the relay publishes it, the
hub's ingest commits it (postings included) to PostgreSQL and acks, and the relay settles the ack in the box's
store. The time is from the start of the ticket to the end of that settlement. Baseline, measured in the same
run on the same broker: the same boxes as plain paho clients publishing at the same rate, each payload echoed
back at once by a subscriber that does nothing else (``bench.raw_echo``). Target: p99 <= 500 ms.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.bench_ingest import wait_log
from bench.report import Figure, median, percentile
from devkit.services import HubProcess, MosquittoServer, PostgresServer
from hub import db

TENANT = "bench"
TARGET_P99_MS = 500.0
BOXES_PER_PROCESS = 10
RATE_PER_BOX = 1.0


def _children(
    mode: str, work: Path, broker: MosquittoServer, boxes: int, seconds: float
) -> list[subprocess.Popen[str]]:
    secrets = work / "secrets"
    secrets.mkdir(exist_ok=True)
    for n in range(1, boxes + 1):
        _secret(secrets / f"box-{n}.pw", broker.box_credentials(TENANT, f"box-{n}").password)
    procs = []
    for first in range(1, boxes + 1, BOXES_PER_PROCESS):
        count = min(BOXES_PER_PROCESS, boxes - first + 1)
        argv = [
            sys.executable,
            "-m",
            "bench.latency_boxes",
            mode,
            str(work),
            TENANT,
            str(first),
            str(count),
            str(RATE_PER_BOX),
            str(seconds),
            str(broker.box_port),
            str(secrets),
        ]
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def _collect(procs: list[subprocess.Popen[str]], timeout_s: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    lost = 0
    for proc in procs:
        out, err = proc.communicate(timeout=timeout_s)
        if proc.returncode != 0:
            raise RuntimeError(f"latency child failed:\n{err[-2000:]}")
        doc = json.loads(out.strip().splitlines()[-1])
        latencies.extend(doc["latencies_ms"])
        lost += int(doc["lost"])
    return latencies, lost


def _secret(path: Path, password: str) -> Path:
    path.write_text(password + "\n")
    path.chmod(0o600)
    return path


def _ours(work: Path, pg: PostgresServer, boxes: int, seconds: float) -> tuple[list[float], int]:
    url = pg.create_database("hub_latency")
    engine = db.make_engine(url)
    db.migrate(engine)
    engine.dispose()
    with MosquittoServer() as broker:
        hub = HubProcess(work / "hub", broker, url, worker_id="hub").start()
        try:
            wait_log(hub.log, "connected")
            boxes_dir = work / "boxes"
            boxes_dir.mkdir()
            procs = _children("ours", boxes_dir, broker, boxes, seconds)
            return _collect(procs, seconds + 120)
        finally:
            hub.stop()


def _raw(work: Path, boxes: int, seconds: float) -> tuple[list[float], int]:
    with MosquittoServer() as broker:
        echo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.raw_echo",
                str(broker.port),
                broker.hub.username,
                str(_secret(work / "hub.pw", broker.hub.password)),
                str(seconds + 60),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert echo.stdout is not None
            echo.stdout.readline()  # "ready"
            procs = _children("raw", work, broker, boxes, seconds)
            return _collect(procs, seconds + 120)
        finally:
            echo.kill()
            echo.wait()
            if echo.stdout is not None:
                echo.stdout.close()


def run(quick: bool) -> list[Figure]:
    boxes, seconds = (10, 4.0) if quick else (100, 60.0)
    with tempfile.TemporaryDirectory(prefix="mo-bench-latency-") as tmp, PostgresServer() as pg:
        work = Path(tmp)
        (work / "raw").mkdir()
        (work / "ours").mkdir()
        raw, raw_lost = _raw(work / "raw", boxes, seconds)
        ours, lost = _ours(work / "ours", pg, boxes, seconds)
    if lost or raw_lost:
        raise RuntimeError(f"{lost} sales (raw: {raw_lost}) were never acknowledged within the drain time")
    p99 = percentile(ours, 99)
    return [
        Figure(
            f"box commit to hub ack, {boxes} boxes x {RATE_PER_BOX:g} sales/s (PostgreSQL): p99",
            p99,
            "ms",
            "raw paho publish to echo: p99",
            percentile(raw, 99),
            higher_is_better=False,
            target=f"p99 <= {TARGET_P99_MS:.0f} ms",
            met=None if quick else p99 <= TARGET_P99_MS,
        ),
        Figure(
            "the same: median",
            median(ours),
            "ms",
            "raw paho publish to echo: median",
            median(raw),
            higher_is_better=False,
        ),
    ]
