"""Box commit rate: a sale and its outbox event through the store, against plain SQLite inserts.

Ours: ``Store.record_sale`` (validation, envelope, one transaction with WAL and ``synchronous=FULL``).
Baseline: the same rows (sale, lines, outbox with the same payload bytes) inserted with plain ``sqlite3``,
one transaction per sale, same schema and pragmas (WAL, ``synchronous=FULL``, foreign keys). Target: >= 0.8x.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.report import Figure
from edge_agent.simulate import random_sale
from edge_agent.store import MIGRATIONS, SaleDraft, Store

TARGET_RATIO = 0.8
ROUNDS = 3


def _drafts(n: int) -> list[SaleDraft]:
    rng = random.Random(11)
    return [random_sale(rng, "store-1", "MXN") for _ in range(n)]


def _ours(path: Path, drafts: list[SaleDraft]) -> tuple[float, list[tuple[str, bytes]]]:
    with Store(path, tenant="bench", device="box-1") as store:
        started = time.perf_counter()
        for draft in drafts:
            store.record_sale(draft)
        elapsed = time.perf_counter() - started
        rows = [(str(r.event_id), r.payload) for r in store.outbox_after(0, len(drafts))]
    return len(drafts) / elapsed, rows


def _baseline(path: Path, drafts: list[SaleDraft], payloads: list[tuple[str, bytes]]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")  # the same schema, enforced the same way
    for migration in MIGRATIONS:  # the box's whole schema, indexes included
        for statement in migration:
            conn.execute(statement)
    started = time.perf_counter()
    for seq, (draft, (event_id, payload)) in enumerate(zip(drafts, payloads, strict=True), start=1):
        total = sum(ln.qty * ln.unit_price_minor for ln in draft.lines)
        conn.execute("BEGIN")
        cur = conn.execute(
            "INSERT INTO sale (sale_id, event_id, store, currency, total_minor, created_at) VALUES (?,?,?,?,?,?)",
            (event_id, event_id, draft.store, draft.currency, total, "2026-01-01T00:00:00+00:00"),
        )
        conn.executemany(
            "INSERT INTO sale_line (sale_pk, line_no, sku, name, qty, unit_price_minor, discount_minor, "
            "amount_minor) VALUES (?,?,?,?,?,?,?,?)",
            [
                (
                    cur.lastrowid,
                    i,
                    ln.sku,
                    ln.name,
                    ln.qty,
                    ln.unit_price_minor,
                    0,
                    ln.qty * ln.unit_price_minor,
                )
                for i, ln in enumerate(draft.lines, start=1)
            ],
        )
        conn.execute(
            "INSERT INTO outbox (seq, event_id, type, topic, payload, created_at) VALUES (?,?,?,?,?,?)",
            (seq, event_id, "sale", "mo/v1/bench/box-1/evt/sale", payload, "2026-01-01T00:00:00+00:00"),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(drafts) / elapsed


def run(quick: bool) -> list[Figure]:
    n = 200 if quick else 3000
    drafts = _drafts(n)
    with tempfile.TemporaryDirectory(prefix="mostrador-bench-") as tmp:
        # Interleaved rounds, best of each: the machine is shared and fsync times wander.
        ours_rates, base_rates = [], []
        for round_ in range(ROUNDS):
            rate, payloads = _ours(Path(tmp) / f"ours{round_}.sqlite3", drafts)
            ours_rates.append(rate)
            base_rates.append(_baseline(Path(tmp) / f"plain{round_}.sqlite3", drafts, payloads))
    value, baseline = max(ours_rates), max(base_rates)
    return [
        Figure(
            name=f"box commit (sale + outbox, WAL, synchronous=FULL), {n} sales",
            value=value,
            unit="sales/s",
            baseline_name="plain sqlite3 inserts of the same rows",
            baseline=baseline,
            target=f">= {TARGET_RATIO}x",
            met=None if quick else value / baseline >= TARGET_RATIO,
        )
    ]
