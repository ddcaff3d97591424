"""The demo end to end, the hub's command line, and the migrations against the models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hub import db


def run(*argv: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout_s, check=False)


def test_the_demo_reconciles_and_leaves_no_process_behind(tmp_path: Path) -> None:
    result = run("-m", "hub.demo", "--seconds", "4", "--workdir", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Reconciled" in result.stdout
    assert result.stdout.count("agree") == 3
    assert "demo/box-1, demo/box-2, demo/box-3" in result.stdout  # each box its own broker user
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False)
    assert leftovers.stdout == "", f"processes left behind: {leftovers.stdout}"


def test_migrations_produce_exactly_the_models(hub_engine: sa.Engine) -> None:
    with hub_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
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
