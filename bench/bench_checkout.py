"""A full checkout at the counter, the agent's memory after many sales, and its start-up time.

* **Checkout**: 20 items scanned by barcode, a customer identified by phone, the demo promotions, a split
  tender of points and cash with change, the receipt's ESC/POS bytes on the simulated printer, the OLED
  screen, and the sale, its lines, the stock movements and the outbox event in one durable transaction
  (WAL, ``synchronous=FULL``). Median time per checkout, beside the same rows of each of those sales written
  with plain ``sqlite3`` into the box's whole schema (same disk, same pragmas; :mod:`bench.box_rows`),
  measured in the same run.
* **Memory**: the resident set of a running agent (web UI, relay, config sync, simulated devices) after
  10,000 checkouts through its service thread, beside its resident set when it became ready. Target
  <= 150 MB. The box is offline throughout, so the outbox holds every event: the worst case.
* **Start to ready**: a fresh ``python`` process from exec to a listening mPOS with the relay running,
  beside a fresh ``python`` that only opens the box's store. Target <= 3 s.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.box_rows import BENCH_STOCK, PlainBox, sale_rows
from bench.report import Figure, median
from core import identity
from edge_agent import stock
from edge_agent.catalogue import Catalogue
from edge_agent.checkout import Checkout
from edge_agent.context import ContextProvider, load_defaults
from edge_agent.customers import CustomerBook
from edge_agent.payments import SimulatedAcquirer
from edge_agent.store import Store
from hardware.display import SimulatedDisplay
from hardware.printer import SimulatedPrinter

ITEMS_PER_SALE = 20
MEMORY_SALES = 10_000
TARGET_RSS_MB = 150.0
TARGET_READY_S = 3.0
MEMBERS = 40
"""Members the checkouts take turns with. Offline, a box keeps at most ``customers.MAX_JOURNAL_ROWS_PER_CUSTOMER``
points movements of one customer before it refuses points: the memory run's 10,000 offline sales with points
are spread so that no member reaches it, as in a shop."""
MEMBER_PHONES = tuple(f"+5222212{n:05d}" for n in range(MEMBERS))


def _add_member(store: Store) -> None:
    with store.transaction() as tx:
        for n, phone in enumerate(MEMBER_PHONES):
            tx.conn.execute(
                "INSERT INTO customer (loyalty_id, name, phone_e164, tier_points, balance_points, balance_at, "
                "origin, updated_at) VALUES (?, 'María López', ?, 1500, 1000000000, ?, 'hub', ?)",
                (identity.make(481, 4242 + n), phone, tx.now.isoformat(), tx.now.isoformat()),
            )


def _checkout(store: Store) -> tuple[Checkout, SimulatedPrinter, list[str]]:
    context = ContextProvider(store)
    catalogue = Catalogue(store, tax_categories=context.tax_categories)
    customers = CustomerBook(store, box_key=bytes(range(32)))
    printer = SimulatedPrinter()
    checkout = Checkout(
        store,
        context,
        stock,
        customers,
        SimulatedAcquirer(),
        printer,
        SimulatedDisplay(),
        lambda: datetime.now(UTC),
        online=lambda: True,
        catalogue=catalogue,
    )
    barcodes = [
        row[0]
        for row in store.conn.execute(
            "SELECT min(b.barcode) FROM item_barcode b JOIN item i ON i.sku = b.sku WHERE i.active = 1 "
            "GROUP BY b.sku ORDER BY b.sku"
        )
    ]
    return checkout, printer, barcodes


def full_checkout(checkout: Checkout, barcodes: list[str], rng: random.Random) -> str:
    """One complete counter sale; returns its id."""
    sale = checkout.start(cashier="bench")
    for code in rng.sample(barcodes, ITEMS_PER_SALE):
        sale.add_barcode(code, rng.choice((1, 1, 2)))
    sale.identify(rng.choice(MEMBER_PHONES))
    sale.use_points(100)
    settlement = sale.settlement()
    sale.add_cash(settlement.cash_due_minor + 5_000)
    done = sale.complete()
    if done.print_error:
        raise RuntimeError(f"the simulated printer failed: {done.print_error}")
    return done.sale_id


def _checkout_figure(quick: bool) -> Figure:
    runs = 30 if quick else 400
    rng = random.Random(5)
    with tempfile.TemporaryDirectory(prefix="mo-bench-checkout-") as tmp:
        store = Store(Path(tmp) / "box.sqlite3", tenant="bench", device="box-1")
        load_defaults(store)
        _add_member(store)
        # No alert or reorder during the run: each sale's transaction is the sale alone, as the baseline's.
        store.conn.execute("UPDATE stock SET on_hand = ?", (BENCH_STOCK,))
        checkout, printer, barcodes = _checkout(store)
        plain = PlainBox(Path(tmp) / "plain.sqlite3", store)
        ours: list[float] = []
        baseline: list[float] = []
        for _ in range(5):
            plain.write(sale_rows(store, full_checkout(checkout, barcodes, rng)))
        for _ in range(runs):
            started = time.perf_counter()
            sale_id = full_checkout(checkout, barcodes, rng)
            ours.append((time.perf_counter() - started) * 1000)
            rows = sale_rows(store, sale_id)
            started = time.perf_counter()
            plain.write(rows)
            baseline.append((time.perf_counter() - started) * 1000)
        if not printer.output:
            raise RuntimeError("no receipt bytes were printed")
        store.close()
        plain.close()
    return Figure(
        f"full checkout ({ITEMS_PER_SALE} items, member, promotions, points + cash, receipt, outbox): median",
        median(ours),
        "ms",
        "plain sqlite3 writing the same rows",
        median(baseline),
        higher_is_better=False,
    )


# --------------------------------------------------------------------------- child processes


def _child(argv: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_checkout", *argv], capture_output=True, text=True, check=False, timeout=3600
    )
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child {argv[0]} failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _agent(data_dir: Path) -> Any:
    from devkit.services import free_port
    from edge_agent.app import EdgeAgent
    from edge_agent.config import AgentConfig, HardwareSettings, MqttSettings, WebSettings

    config = AgentConfig(
        tenant="bench",
        device="box-1",
        data_dir=data_dir,
        # Nothing listens there: the box sells offline and keeps every event.
        mqtt=MqttSettings(host="127.0.0.1", port=free_port()),
        web=WebSettings(host="127.0.0.1", port=0),
        hardware=HardwareSettings(simulate=("all",)),
    )
    return EdgeAgent(config)


def child_ready(data_dir: str, exec_s: float) -> dict[str, Any]:
    agent = _agent(Path(data_dir))
    agent.start()
    ready = time.time() - exec_s
    agent.stop()
    return {"ready_s": ready}


def child_store(data_dir: str, exec_s: float) -> dict[str, Any]:
    Store(Path(data_dir) / "box.sqlite3", tenant="bench", device="box-1").close()
    return {"ready_s": time.time() - exec_s}


def child_memory(data_dir: str, sales: int) -> dict[str, Any]:
    agent = _agent(Path(data_dir))
    agent.start()
    with Store(agent.config.database, tenant="bench", device="box-1") as store:
        _add_member(store)
    at_ready = _rss_mb()
    rng = random.Random(9)

    def one(services: Any) -> None:
        barcodes = services.store.conn.execute(
            "SELECT min(b.barcode) FROM item_barcode b JOIN item i ON i.sku = b.sku WHERE i.active = 1 GROUP BY b.sku"
        ).fetchall()
        full_checkout(services.checkout, [b[0] for b in barcodes], rng)

    started = time.monotonic()
    for _ in range(sales):
        agent.call(one)
    elapsed = time.monotonic() - started
    after = _rss_mb()
    agent.stop()
    return {"rss_ready_mb": at_ready, "rss_after_mb": after, "sales": sales, "seconds": elapsed}


def run(quick: bool) -> list[Figure]:
    figures = [_checkout_figure(quick)]
    with tempfile.TemporaryDirectory(prefix="mo-bench-ready-") as tmp:
        readies: list[float] = []
        bases: list[float] = []
        for n in range(1 if quick else 5):
            base_dir = Path(tmp) / f"base-{n}"
            agent_dir = Path(tmp) / f"agent-{n}"
            base_dir.mkdir()
            agent_dir.mkdir()
            bases.append(_child(["store", str(base_dir), repr(time.time())])["ready_s"])
            readies.append(_child(["ready", str(agent_dir), repr(time.time())])["ready_s"])
    ready = median(readies)
    figures.append(
        Figure(
            "agent start to ready (fresh process, mPOS listening, relay running)",
            ready,
            "s",
            "fresh python opening the store",
            median(bases),
            higher_is_better=False,
            target=f"<= {TARGET_READY_S:.0f} s",
            met=ready <= TARGET_READY_S,
        )
    )
    sales = 200 if quick else MEMORY_SALES
    with tempfile.TemporaryDirectory(prefix="mo-bench-memory-") as tmp:
        memory = _child(["memory", tmp, str(sales)])
    figures.append(
        Figure(
            f"agent RSS after {sales:,} checkouts (offline: every event kept)",
            memory["rss_after_mb"],
            "MB",
            "agent RSS at ready",
            memory["rss_ready_mb"],
            higher_is_better=False,
            target=f"<= {TARGET_RSS_MB:.0f} MB",
            met=memory["rss_after_mb"] <= TARGET_RSS_MB,
        )
    )
    return figures


def main(argv: list[str]) -> int:
    kind, data_dir, arg = argv
    if kind == "ready":
        result = child_ready(data_dir, float(arg))
    elif kind == "store":
        result = child_store(data_dir, float(arg))
    elif kind == "memory":
        result = child_memory(data_dir, int(arg))
    else:
        raise SystemExit(f"unknown child {kind!r}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
