"""Command line of the ERP tools: ``python -m hub.erp import FILE [--tenant T --db URL]``.

``import`` validates a products or stock file (see :mod:`hub.erp.importer` and docs/erp.md), shows a progress
bar, prints a summary, and writes the row errors as CSV (``--errors``, default ``FILE.errors.csv`` beside the
file). ``--json`` prints the good records as JSON Lines on standard output instead of the summary. With
``--tenant`` and ``--db`` the good records are loaded into that tenant's hub catalogue
(:func:`hub.catalogue.load_import`); ``python -m hub network publish`` then sends them to the boxes.

Exit status: 0 every row is good; 1 some rows have errors (the report says which); 2 the file or the
options cannot be used at all.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from core.errors import InvalidInput
from hub.erp.importer import (
    ImportedProduct,
    ImportedStock,
    ImportKind,
    ImportResult,
    import_file,
    write_error_report,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hub.erp", description="ERP tools of the Mostrador hub")
    commands = parser.add_subparsers(dest="command", required=True)
    imp = commands.add_parser("import", help="validate a products or stock file (CSV, JSON, JSON Lines)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--kind", choices=[k.value for k in ImportKind], default=ImportKind.PRODUCTS.value)
    imp.add_argument("--currency", default="MXN", help="ISO 4217 code of the prices (default MXN)")
    imp.add_argument("--errors", type=Path, help="where to write the row errors (default FILE.errors.csv)")
    imp.add_argument("--json", action="store_true", help="print the good records as JSON Lines")
    imp.add_argument("--tenant", help="load the good records into this tenant's hub catalogue (needs --db)")
    imp.add_argument("--db", help="the hub database URL (with --tenant)")
    return parser


def _load(url: str, tenant: str, result: ImportResult) -> str:
    """Load ``result`` into the hub catalogue; a one-line summary."""
    from hub import catalogue, db

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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    err = Console(stderr=True)
    path: Path = args.file
    kind = ImportKind(args.kind)
    if (args.tenant is None) != (args.db is None):
        err.print("cannot import: give both --tenant and --db to load into the hub, or neither", highlight=False)
        return 2
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


if __name__ == "__main__":
    raise SystemExit(main())
