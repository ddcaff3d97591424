"""Command line of the hub: ``python -m hub {migrate,ingest,stats,publish-config,network,erp-sync,serve,add-user}``.

Settings come from options or environment variables (options win):

========================  ===============================  =====================================
option                    environment                      default
========================  ===============================  =====================================
``--db``                  ``MOSTRADOR_HUB_DB``             ``sqlite:///var/hub.sqlite3``
``--mqtt-host``           ``MOSTRADOR_MQTT_HOST``          ``127.0.0.1``
``--mqtt-port``           ``MOSTRADOR_MQTT_PORT``          ``1883``
``--mqtt-user``           ``MOSTRADOR_MQTT_USER``          ``hub``
``--mqtt-password-file``  ``MOSTRADOR_MQTT_PASSWORD_FILE``  (none: ``MOSTRADOR_MQTT_PASSWORD``)
========================  ===============================  =====================================

Exit status: 0 on a clean stop, 1 on a runtime failure, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType

import sqlalchemy as sa

from hub import config_publish, db, erp_sync, jobs, network
from hub.api import cli as api_cli
from hub.config_publish import read_password
from hub.ingest import BATCH_MAX, BATCH_WAIT_S, IngestConfig, IngestWorker
from hub.supervisor import supervise

log = logging.getLogger("hub")


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hub", description="Mostrador hub")
    parser.add_argument("--db", default=_env("MOSTRADOR_HUB_DB", db.default_url()), help="SQLAlchemy URL")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create or upgrade the database schema")
    ingest = sub.add_parser("ingest", help="run an ingest worker until SIGTERM/SIGINT")
    ingest.add_argument("--mqtt-host", default=_env("MOSTRADOR_MQTT_HOST", "127.0.0.1"))
    ingest.add_argument("--mqtt-port", type=int, default=int(_env("MOSTRADOR_MQTT_PORT", "1883") or 1883))
    ingest.add_argument("--mqtt-user", default=_env("MOSTRADOR_MQTT_USER", "hub"))
    ingest.add_argument("--mqtt-password-file", default=_env("MOSTRADOR_MQTT_PASSWORD_FILE"))
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
    sub.add_parser("stats", help="print sales, dead letters and devices as JSON")
    config_publish.add_arguments(sub)
    network.add_arguments(sub)
    erp_sync.add_arguments(sub)
    api_cli.add_arguments(sub)
    jobs.add_arguments(sub)
    return parser


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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command == "publish-config":
        return config_publish.run_cli(args, read_password(args.mqtt_password_file))
    engine = db.make_engine(args.db)
    try:
        if args.command == "migrate":
            db.migrate(engine)
            log.info("database at the newest schema")
            return 0
        if args.command == "stats":
            print(json.dumps(stats(engine), indent=2))
            return 0
        if args.command == "network":
            return network.run_cli(engine, args, read_password(getattr(args, "mqtt_password_file", None)))
        if args.command in ("serve", "add-user"):
            return api_cli.run_cli(engine, args)
        if args.command == "jobs":
            return jobs.run_cli(engine, args, read_password(args.mqtt_password_file))
        if args.command == "erp-sync":
            return erp_sync.run_cli(engine, args, read_password(args.mqtt_password_file))
        return _ingest(engine, args)
    except sa.exc.OperationalError as exc:
        log.error("cannot use the database %s: %s", engine.url, exc.orig)
        return 1


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
        password=read_password(args.mqtt_password_file),
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


if __name__ == "__main__":
    sys.exit(main())
