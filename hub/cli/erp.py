"""``erp-sync`` and ``erp-import``: the distributor's ERP and its files.

``python -m hub erp-sync --tenant T`` polls the ERP (Tryton, settings from ``MOSTRADOR_TRYTON_*``) for
products, prices and stock and publishes what changed to the boxes (:class:`hub.erp.sync.ERPSync`).

``python -m hub [--db URL] erp-import FILE [--tenant T]`` validates a products or stock file (see
:mod:`hub.erp.importer` and docs/erp.md), shows a progress bar, prints a summary, and writes the row errors as
CSV (``--errors``, default ``FILE.errors.csv`` beside the file). ``--json`` prints the good records as JSON
Lines on standard output instead of the summary. With ``--tenant`` the good records are loaded into that
tenant's catalogue in the hub's database (:func:`hub.catalogue.load_import`); ``python -m hub network
publish`` then sends them to the boxes. Its exit status: 0 every row is good; 1 some rows have errors (the
report says which); 2 the file or the options cannot be used at all.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from core.errors import InvalidInput
from hub import catalogue, db
from hub.cli.options import add_broker_arguments, password
from hub.erp.base import (
    ERPError,
    ERPRejected,
)
from hub.erp.importer import ImportedProduct, ImportedStock, ImportKind, ImportResult, import_file, write_error_report
from hub.erp.sync import POLL_INTERVAL_S, STOCK_INTERVAL_S, ERPSync, SyncConfig
from hub.publishing.retained import PublishError
from hub.publishing.snapshots import Publisher, connect_broker

__all__ = [
    "add_arguments",
]

log = logging.getLogger(__name__)


def add_arguments(sub: Any) -> None:
    """Add ``erp-sync`` to the hub's command line (``sub`` is its subparsers object)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "erp-sync", help="poll the ERP (Tryton, from MOSTRADOR_TRYTON_*) and publish changes to the boxes"
    )
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--once", action="store_true", help="run one round, print what it did, and stop")
    parser.add_argument("--poll-interval-s", type=float, default=POLL_INTERVAL_S)
    parser.add_argument("--stock-interval-s", type=float, default=STOCK_INTERVAL_S)
    parser.add_argument("--no-publish", action="store_true", help="update the hub only, publish nothing")
    add_broker_arguments(parser)
    parser.set_defaults(run=run_cli)


def run_cli(engine: sa.Engine, args: argparse.Namespace) -> int:
    """Run ``erp-sync``: 0 on a clean stop, 1 when the ERP or the broker cannot be used at start, 2 bad input."""
    from hub.erp.tryton import TrytonConnector, TrytonSettings

    try:
        config = SyncConfig(args.tenant, source="tryton", poll_interval_s=args.poll_interval_s)
        config = dataclasses.replace(config, stock_interval_s=args.stock_interval_s)
        settings = TrytonSettings.from_env()
    except (InvalidInput, ERPRejected, OSError) as exc:
        log.error("%s", exc)
        return 2
    db.migrate(engine)
    client = None
    try:
        if not args.no_publish:
            client = connect_broker(args.mqtt_host, args.mqtt_port, args.mqtt_user, password(args))
        with TrytonConnector(settings) as connector:
            sync = ERPSync(engine, connector, config, Publisher(engine, client) if client else None)
            if args.once:
                done = sync.run_once()
                print(json.dumps(dataclasses.asdict(done), default=str, ensure_ascii=False))
                return 0
            connector.login()
            stop = threading.Event()

            def _on_signal(signum: int, _frame: FrameType | None) -> None:
                log.info("signal %d: stopping after the current round", signum)
                stop.set()

            signal.signal(signal.SIGTERM, _on_signal)
            signal.signal(signal.SIGINT, _on_signal)
            log.info("ERP sync of %s every %.1f s", args.tenant, config.poll_interval_s)
            sync.run(until=stop.is_set, sleep=stop.wait)
            return 0
    except (ERPError, PublishError, InvalidInput) as exc:
        log.error("%s", exc)
        return 1
    finally:
        if client is not None:
            client.disconnect()
            client.loop_stop()


def add_import_arguments(sub: Any) -> None:
    """Add ``erp-import`` to the hub's command line (``sub`` is its subparsers object)."""
    imp = sub.add_parser("erp-import", help="validate a products or stock file (CSV, JSON, JSON Lines); load it")
    imp.add_argument("file", type=Path)
    imp.add_argument("--kind", choices=[k.value for k in ImportKind], default=ImportKind.PRODUCTS.value)
    imp.add_argument("--currency", default="MXN", help="ISO 4217 code of the prices (default MXN)")
    imp.add_argument("--errors", type=Path, help="where to write the row errors (default FILE.errors.csv)")
    imp.add_argument("--json", action="store_true", help="print the good records as JSON Lines")
    imp.add_argument("--tenant", help="load the good records into this tenant's catalogue in the hub's database")
    imp.set_defaults(run=import_command, uses_db=False)


def _load(url: str, tenant: str, result: ImportResult) -> str:
    """Load ``result`` into the hub catalogue; a one-line summary."""
    engine = db.make_engine(url)
    try:
        db.migrate(engine)
        with engine.begin() as conn:
            loaded = catalogue.load_import(conn, tenant, result)
    finally:
        engine.dispose()
    summary = f"loaded into {tenant}: {len(loaded.changed)} items changed, {loaded.stock_rows} stock rows changed"
    for problem in loaded.problems:
        summary += f"\n  {problem.sku}: {problem.field}: {problem.problem}"
    return summary


def import_command(_engine: sa.Engine, args: argparse.Namespace) -> int:
    """Run ``erp-import`` (module docstring)."""
    err = Console(stderr=True)
    path: Path = args.file
    kind = ImportKind(args.kind)
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task(f"reading {path.name}", total=None)

            def progress(rows: int, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=f"{rows} rows of {path.name}")

            result = import_file(path, kind, currency=args.currency.upper(), progress=progress)
    except InvalidInput as exc:
        err.print(f"[red]cannot import:[/red] {exc}", markup=True, highlight=False)
        return 2
    report: Path = args.errors or path.with_name(path.name + ".errors.csv")
    if result.errors:
        write_error_report(result.errors, report)
    if args.json:
        records: list[ImportedProduct | ImportedStock] = [*result.products, *result.stock]
        for record in records:
            sys.stdout.write(json.dumps(dataclasses.asdict(record), ensure_ascii=False) + "\n")
    good = len(result.products) + len(result.stock)
    summary = f"{path.name}: {result.rows} rows, {good} good, {len(result.errors)} with errors"
    if result.errors:
        summary += f"; report written to {report}"
    err.print(summary, highlight=False, markup=False)
    if args.tenant is not None:
        try:
            err.print(_load(args.db, args.tenant, result), highlight=False, markup=False)
        except InvalidInput as exc:
            err.print(f"cannot load: {exc}", highlight=False, markup=False)
            return 2
        except sa.exc.OperationalError as exc:
            err.print(f"cannot use the database: {exc.orig}", highlight=False, markup=False)
            return 2
    return 1 if result.errors else 0
