"""The hub's SQLite engine: explicit transactions, one snapshot per transaction, writers that cannot be
overtaken between their reads and their writes, and database errors as one line."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub import db

OTHER_WRITER_TIMEOUT_S = 10.0


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1), (2), (3)")
    try:
        yield engine
    finally:
        engine.dispose()


def other_process(engine: sa.Engine) -> sqlite3.Connection:
    """A connection of its own, as the ingest process or the jobs process has."""
    path = engine.url.database
    assert path is not None
    return sqlite3.connect(path, timeout=OTHER_WRITER_TIMEOUT_S, isolation_level=None, check_same_thread=False)


def count(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text("SELECT count(*) FROM t")).scalar_one())


def test_a_transaction_reads_one_snapshot(sqlite_engine: sa.Engine) -> None:
    other = other_process(sqlite_engine)
    with sqlite_engine.connect() as conn:
        first = count(conn)
        other.execute("INSERT INTO t VALUES (4)")
        assert count(conn) == first  # the same transaction, the same snapshot
        conn.rollback()
        assert count(conn) == first + 1  # a new transaction sees the commit
    other.close()


def test_a_savepoint_before_any_write_stays_inside_the_transaction(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.connect() as conn:
        with conn.begin_nested():
            conn.exec_driver_sql("INSERT INTO t VALUES (10)")
        conn.rollback()  # releasing the savepoint must not have committed the insert
        assert count(conn) == 3


def test_a_writer_that_read_first_is_not_overtaken_by_another_process(sqlite_engine: sa.Engine) -> None:
    other = other_process(sqlite_engine)
    done = threading.Event()

    def commit_elsewhere() -> None:
        other.execute("INSERT INTO t VALUES (99)")
        done.set()

    with db.writing(sqlite_engine) as conn:
        seen = count(conn)
        thread = threading.Thread(target=commit_elsewhere)
        thread.start()
        assert not done.wait(0.3), "another process wrote between this transaction's read and its write"
        # Without the write lock taken at BEGIN, this write fails at once with "database is locked".
        conn.execute(sa.text("INSERT INTO t VALUES (:x)"), {"x": seen + 1})
    assert done.wait(OTHER_WRITER_TIMEOUT_S)
    thread.join()
    with sqlite_engine.connect() as conn:
        assert count(conn) == 5
    other.close()


def test_a_database_error_reads_as_one_line_without_its_sql(sqlite_engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.OperationalError) as caught, sqlite_engine.connect() as conn:
        conn.execute(sa.text("SELECT x FROM nowhere WHERE x = :s"), {"s": "hunter2"})
    line = db.one_line(caught.value)
    assert line == "OperationalError: no such table: nowhere"
    assert db.one_line(ValueError("two\nlines")) == "ValueError: two"


def test_chunks_cover_every_value_once_in_order_within_the_bound() -> None:
    values = list(range(2 * db.IN_CHUNK + 7))
    parts = list(db.chunks(values))
    assert [len(p) for p in parts] == [db.IN_CHUNK, db.IN_CHUNK, 7]
    assert [v for p in parts for v in p] == values
    assert list(db.chunks([], 3)) == []
    assert list(db.chunks("abcde", 2)) == ["ab", "cd", "e"]
    with pytest.raises(ValueError, match="at least 1"):
        list(db.chunks([1], 0))


def test_insert_skips_conflicts_on_both_databases(hub_db_url: str) -> None:
    engine = db.make_engine(hub_db_url)
    table = sa.Table("t_insert", sa.MetaData(), sa.Column("k", sa.Integer, primary_key=True), sa.Column("v", sa.Text))
    try:
        table.create(engine)
        with engine.begin() as conn:
            conn.execute(db.insert(conn, table), [{"k": 1, "v": "first"}])
            skip = db.insert(conn, table).on_conflict_do_nothing(index_elements=["k"])
            conn.execute(skip, [{"k": 1, "v": "second"}, {"k": 2, "v": "new"}])
            stmt = db.insert(conn, table)
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["k"], set_={"v": stmt.excluded.v}), [{"k": 2, "v": "upd"}]
            )
        with engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.k, table.c.v).order_by(table.c.k)).all()
        assert [tuple(r) for r in rows] == [(1, "first"), (2, "upd")]
    finally:
        engine.dispose()
