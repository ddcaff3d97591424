"""The demo end to end, the hub's command line, and the migrations against the models."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from rich.console import Console

from devkit import demo
from hub import db
from hub.ledger.reports import Statement, StatementLine


def run(*argv: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout_s, check=False)


def test_the_demo_reconciles_and_leaves_no_process_behind(tmp_path: Path) -> None:
    result = run("-m", "devkit.demo", "--seconds", "4", "--workdir", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Reconciled" in result.stdout
    assert result.stdout.count("agree") == 3
    assert "demo/box-1, demo/box-2, demo/box-3" in result.stdout  # each box its own broker user
    assert "dashboard at http://127.0.0.1:" in result.stdout
    assert "sign in as analyst@demo.example.com (analyst), password " in result.stdout
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False)
    assert leftovers.stdout == "", f"processes left behind: {leftovers.stdout}"


def test_migrations_produce_exactly_the_models(hub_engine: sa.Engine) -> None:
    with hub_engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"include_object": db.include_object}), db.metadata
        )
    assert diff == []


def test_migrate_is_repeatable_and_stats_reads_an_empty_hub(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    assert run("-m", "hub", "--db", url, "migrate").returncode == 0
    assert run("-m", "hub", "--db", url, "migrate").returncode == 0
    stats = run("-m", "hub", "--db", url, "stats")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout) == {"sales": 0, "totals_minor": {}, "dead_letters": {}, "devices": []}


def test_an_unreachable_database_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    result = run("-m", "hub", "--db", "postgresql+psycopg://nobody:secret@127.0.0.1:1/none", "stats")
    assert result.returncode == 1
    assert "cannot use the database" in result.stderr
    assert "secret" not in result.stderr and "Traceback" not in result.stderr


def test_a_missing_password_file_is_named(tmp_path: Path) -> None:
    result = run(
        "-m", "hub", "--db", f"sqlite:///{tmp_path / 'h.db'}", "ingest", "--mqtt-password-file", str(tmp_path / "nope")
    )
    assert result.returncode != 0
    assert "password file" in result.stderr


# -- the demo's tables on an 80-column terminal -----------------------------------------------------------


class StatsOnly:
    """What the demo's tables read of a box: its name and its last stats."""

    def __init__(self, name: str, stats: dict[str, object]) -> None:
        self.name = name
        self._stats = stats

    def stats(self) -> dict[str, object]:
        return self._stats


def rendered(table: object) -> list[str]:
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    console.print(table)
    return console.export_text().splitlines()


def assert_fits(lines: list[str], rows: int) -> None:
    assert max(len(line) for line in lines) <= 80
    header = [line for line in lines if line.startswith("┃")]
    body = [line for line in lines if line.startswith("│")]
    assert (len(header), len(body)) == (1, rows), "a cell wrapped onto a second line:\n" + "\n".join(lines)
    assert not any("…" in line for line in lines), "a cell was cut short:\n" + "\n".join(lines)


BIG_BOX = {
    "sales": 123_456,
    "enrolments": 12_345,
    "refunds": 1_234,
    "outbox_depth": 10_000,
    "acked": 136_000,
    "connected": True,
    "totals_minor": {"MXN": 98_765_432_10},
}


def test_the_live_and_reconciliation_tables_fit_80_columns_without_wrapping() -> None:
    boxes = [StatsOnly(f"box-{n}", BIG_BOX) for n in (1, 2, 3)]
    hub = demo.HubFigures(
        sales=370_368,
        by_device={"box-1": (123_456, {"MXN": 98_765_432_10}), "box-2": (123_000, {"MXN": 98_765_000_00})},
        dead_letters=12,
        events={("box-1", "refund"): 1_234},
    )
    lines = rendered(demo.live_table(boxes, hub, 1234.0, 3600.0))  # type: ignore[arg-type]
    assert_fits(lines, rows=3)
    assert any("hub: 370368 sales, 1234 other events, 12 dead letters" in line for line in lines)
    # A demo of an hour at the busiest box's rate: thousands of sales, hundreds of thousands of pesos.
    busy = {**BIG_BOX, "sales": 9_999, "refunds": 999, "totals_minor": {"MXN": 999_999_99}}
    checks = demo.check_boxes(
        [StatsOnly(f"box-{n}", busy) for n in (1, 2, 3)],  # type: ignore[misc]
        demo.HubFigures(9_999, {"box-1": (9_998, {"MXN": 999_999_98})}, 0, {("box-1", "refund"): 999}),
    )
    assert_fits(rendered(demo.reconciliation_table(checks)), rows=3)


def test_a_difference_is_reported_as_one_line_naming_what_differs() -> None:
    boxes = [StatsOnly("box-1", {**BIG_BOX, "outbox_depth": 0, "totals_minor": {"MXN": 100_00}, "sales": 3})]
    hub = demo.HubFigures(sales=2, by_device={"box-1": (2, {"MXN": 60_00})}, dead_letters=0, events={})
    (check,) = demo.check_boxes(boxes, hub)  # type: ignore[arg-type]
    assert not check.agree
    assert check.problem() == (
        "box-1: the hub has 2 of its 3 sales (MXN 60.00 of MXN 100.00); the hub has 0 of its 1234 refunds"
    )


def test_the_settlement_table_fits_80_columns_without_wrapping() -> None:
    big = 99_999_99  # far more than a demo of minutes settles
    lines = [
        StatementLine("abarrotes-lupita", 99_999, 0, big, 0, big),
        StatementLine("miscelanea-juarez", 99_999, 1_000, big, big, 0),
        StatementLine("distributor", 0, 99_999, 0, big, -big),
    ]
    statement = Statement(
        "demo", "p", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), "MXN", tuple(lines)
    )
    text = rendered(demo.settlement_table(statement))
    assert_fits(text, rows=3)
    assert any("-99,999.99" in line for line in text)
