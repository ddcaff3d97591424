"""``migrate``, ``ingest`` and ``stats``: the hub's database schema, its ingest workers, and its headline figures.

``python -m hub ingest`` runs one ingest worker until SIGTERM/SIGINT (:class:`hub.ingest.IngestWorker`);
with ``--workers N`` it supervises N worker processes instead (:func:`hub.ingest.supervisor.supervise`).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import socket
import threading
from types import FrameType
from typing import Any

import sqlalchemy as sa

from hub import db
from hub.cli.options import add_broker_arguments, password
from hub.ingest.supervisor import supervise
from hub.ingest.worker import BATCH_MAX, BATCH_WAIT_S, IngestConfig, IngestWorker

__all__ = ["add_arguments", "stats"]

log = logging.getLogger("hub")


def add_arguments(sub: Any) -> None:
    """Add ``migrate``, ``ingest`` and ``stats`` to the hub's command line (``sub`` is its subparsers object)."""
    sub.add_parser("migrate", help="create or upgrade the database schema").set_defaults(run=_migrate)
    ingest = sub.add_parser("ingest", help="run an ingest worker until SIGTERM/SIGINT")
    add_broker_arguments(ingest)
    ingest.add_argument("--tenant", default="+", help="only this tenant's boxes (default: all)")
    ingest.add_argument(
        "--worker-id", default=None, help="MQTT client id (with --workers N: the prefix of N ids); keep it stable"
    )
    ingest.add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the load (about one per CPU core)"
    )
    ingest.add_argument("--batch-max", type=int, default=BATCH_MAX)
    ingest.add_argument("--batch-wait-s", type=float, default=BATCH_WAIT_S)
    ingest.add_argument("--no-migrate", action="store_true", help="do not upgrade the schema at start")
    ingest.set_defaults(run=_ingest)
    sub.add_parser("stats", help="print sales, dead letters and devices as JSON").set_defaults(run=_stats)


def stats(engine: sa.Engine) -> dict[str, object]:
    """Headline figures of the hub database (used by the demo and by operators)."""
    with engine.connect() as conn:
        sales = conn.execute(
            sa.select(db.sale.c.currency, sa.func.count(), sa.func.sum(db.sale.c.total_minor)).group_by(
                db.sale.c.currency
            )
        ).all()
        dead = conn.execute(sa.select(db.dead_letter.c.reason, sa.func.count()).group_by(db.dead_letter.c.reason))
        devices = conn.execute(sa.select(db.device.c.tenant, db.device.c.device, db.device.c.online)).all()
        return {
            "sales": sum(int(n) for _c, n, _t in sales),
            "totals_minor": {c: int(t) for c, _n, t in sales},
            "dead_letters": {r: int(n) for r, n in dead},
            "devices": [{"tenant": t, "device": d, "online": bool(o)} for t, d, o in devices],
        }


def _migrate(engine: sa.Engine, _args: argparse.Namespace) -> int:
    db.migrate(engine)
    log.info("database at the newest schema")
    return 0


def _stats(engine: sa.Engine, _args: argparse.Namespace) -> int:
    print(json.dumps(stats(engine), indent=2))
    return 0


def _ingest(engine: sa.Engine, args: argparse.Namespace) -> int:
    if not args.no_migrate:
        db.migrate(engine)
    if args.workers != 1:
        return _supervise(args)
    kwargs: dict[str, object] = {}
    if args.worker_id:
        kwargs["worker_id"] = args.worker_id
    config = IngestConfig(
        host=args.mqtt_host,
        port=args.mqtt_port,
        username=args.mqtt_user,
        password=password(args),
        tenant=args.tenant,
        batch_max=args.batch_max,
        batch_wait_s=args.batch_wait_s,
        **kwargs,  # type: ignore[arg-type]
    )
    worker = IngestWorker(engine, config)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    worker.start()
    log.info(
        "ingest worker %s on %s:%d, database %s",
        config.worker_id,
        config.host,
        config.port,
        engine.url.render_as_string(hide_password=True),
    )
    worker.run(until=stop.is_set)
    worker.stop()
    log.info("stopped: %s", worker.stats)
    return 0


def _supervise(args: argparse.Namespace) -> int:
    base = args.worker_id or f"hub-{socket.gethostname()}"

    def argv_for(n: int) -> list[str]:
        argv = ["--db", args.db, "ingest", "--workers", "1", "--no-migrate", "--worker-id", f"{base}-{n}"]
        argv += ["--mqtt-host", args.mqtt_host, "--mqtt-port", str(args.mqtt_port), "--mqtt-user", args.mqtt_user]
        argv += ["--tenant", args.tenant, "--batch-max", str(args.batch_max), "--batch-wait-s", str(args.batch_wait_s)]
        if args.mqtt_password_file:
            argv += ["--mqtt-password-file", args.mqtt_password_file]
        return argv

    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping the workers", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    log.info("supervising %d ingest workers %s-1..%s-%d", args.workers, base, base, args.workers)
    try:
        return supervise(argv_for, args.workers, stop)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
