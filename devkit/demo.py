"""``make demo``: a broker, the hub and three simulated boxes on this machine, then a reconciliation.

It starts a private Mosquitto on loopback (a listener for the hub, and one for the boxes, where each box has a
user and password of its own, as provisioning gives them), the hub (SQLite file under ``var/demo/``) and three
simulated boxes, each bound to its retailer's store, ringing up random sales from a small demo catalogue, and
shows a live table (per box: sales made, outbox depth, acknowledged; hub: sales stored, dead letters) for
``--seconds`` (``DEMO_SECONDS``, default 60) or until Ctrl-C. Then it stops the boxes, lets them drain, and
compares the totals at the boxes with the totals at the hub, sale by sale count and amount by currency. Exit
status 0 when they agree, 1 when they do not. Every process it started is stopped before it returns, whatever happens.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import sqlalchemy as sa
from rich.console import Console
from rich.live import Live
from rich.logging import RichHandler
from rich.table import Table

from devkit.services import BoxProcess, HubProcess, LocalServiceError, MosquittoServer, free_port
from hub import db, network
from hub.api import ApiSettings, create_app
from hub.api.accounts import Role, create_user
from hub.jobs import HubJobs
from hub.ledger import reports as ledger_reports
from hub.programs import points as program_points
from hub.publishing.retained import PublishError
from hub.publishing.snapshots import connect_broker

TENANT = "demo"
BOX_RATES = {"box-1": 3.0, "box-2": 2.0, "box-3": 1.0}
"""Sales per second at each simulated box: a busy shop, an average one and a quiet one."""
DEMO_STORES = {
    "box-1": ("tienda-centro", "abarrotes-lupita", "Abarrotes Doña Lupita"),
    "box-2": ("tienda-norte", "miscelanea-juarez", "Miscelánea Juárez"),
    "box-3": ("tienda-sur", "tiendita-rosy", "La Tiendita de Rosy"),
}
"""Each box's store and retailer: three retailers, so points earned at one and spent at another are settled."""
LOYALTY_PREFIX = 481
JOBS_EVERY_S = 2.0
"""How often the hub applies enrolments and sends each box the network's customers and their balances."""
DRAIN_TIMEOUT_S = 60.0
REFRESH_S = 0.5
PLAIN_EVERY_S = 5.0


DEMO_USERS = (
    ("analyst@demo.example.com", Role.ANALYST, None),
    ("lupita@demo.example.com", Role.RETAILER, "abarrotes-lupita"),
)
"""The dashboard users the demo creates; each gets a fresh random password, printed at the start."""
SERVER_START_S = 10.0


class DemoDashboard:
    """The hub's API and dashboard served by uvicorn in a thread of the demo, on a free loopback port."""

    def __init__(self, engine: sa.Engine) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(engine, ApiSettings()), host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, name="demo-dashboard", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> DemoDashboard:
        self.thread.start()
        deadline = time.monotonic() + SERVER_START_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise LocalServiceError(f"the dashboard did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(SERVER_START_S)


def dashboard_users(engine: sa.Engine) -> list[tuple[str, str, str]]:
    """Create the demo's dashboard users with random passwords: (email, role, password) of each."""
    settings = ApiSettings()
    made = []
    with db.writing(engine) as conn:  # the hub process writes too: wait for SQLite's writer lock
        for email, role, retailer in DEMO_USERS:
            password = secrets.token_urlsafe(12)
            create_user(conn, settings, tenant=TENANT, email=email, password=password, role=role, retailer=retailer)
            made.append((email, role.value, password))
    return made


@dataclass(frozen=True)
class HubFigures:
    """What the hub database holds now."""

    sales: int
    by_device: dict[str, tuple[int, dict[str, int]]]
    dead_letters: int
    events: dict[tuple[str, str], int]
    """Other business events per (device, type): refunds, enrolments, stock alerts, reorders..."""


def hub_figures(engine: sa.Engine) -> HubFigures:
    """The hub's figures, all read in one transaction: one snapshot, taken at its first statement, so it holds
    every commit made before the call (the boxes are told a sale is stored only after its commit)."""
    with engine.connect() as conn, conn.begin():
        rows = conn.execute(
            sa.select(db.sale.c.device, db.sale.c.currency, sa.func.count(), sa.func.sum(db.sale.c.total_minor))
            .where(db.sale.c.tenant == TENANT)
            .group_by(db.sale.c.device, db.sale.c.currency)
        ).all()
        dead = int(conn.execute(sa.select(sa.func.count()).select_from(db.dead_letter)).scalar_one())
        events = {
            (str(device), str(type_)): int(n)
            for device, type_, n in conn.execute(
                sa.select(db.business_event.c.device, db.business_event.c.type, sa.func.count())
                .where(db.business_event.c.tenant == TENANT)
                .group_by(db.business_event.c.device, db.business_event.c.type)
            ).all()
        }
    by_device: dict[str, tuple[int, dict[str, int]]] = {}
    for device, currency, count, total in rows:
        n, totals = by_device.get(device, (0, {}))
        by_device[device] = (n + int(count), {**totals, currency: int(total)})
    return HubFigures(sum(n for n, _ in by_device.values()), by_device, dead, events)


def money(amount_minor: int, currency: str | None = None) -> str:
    """An amount of the demo's pesos (two decimals), with its currency code unless a table's title gives it."""
    sign = "-" if amount_minor < 0 else ""
    amount = f"{sign}{abs(amount_minor) // 100:,}.{abs(amount_minor) % 100:02d}"
    return f"{currency} {amount}" if currency else amount


def _table(title: str, columns: tuple[str, ...], caption: str | None = None) -> Table:
    """A table of short right-aligned cells that never wrap (every table here fits an 80-column terminal)."""
    table = Table(title=title, caption=caption, caption_justify="left")
    for col in columns:
        table.add_column(col, justify="left" if col in ("box", "party") else "right", no_wrap=True)
    return table


def live_table(boxes: list[BoxProcess], hub: HubFigures, elapsed_s: float, total_s: float) -> Table:
    others = sum(hub.events.values())
    table = _table(
        f"Mostrador demo: {elapsed_s:.0f} s of {total_s:.0f} s (Ctrl-C stops early)",
        ("box", "sales", "members", "refunds", "outbox", "acked", "online", "at hub"),
        caption=f"hub: {hub.sales} sales, {others} other events, {hub.dead_letters} dead letters",
    )
    for box in boxes:
        s = box.stats()
        table.add_row(
            box.name,
            str(s.get("sales", "-")),
            str(s.get("enrolments", "-")),
            str(s.get("refunds", "-")),
            str(s.get("outbox_depth", "-")),
            str(s.get("acked", "-")),
            "yes" if s.get("connected") else "no",
            str(hub.by_device.get(box.name, (0, {}))[0]),
        )
    return table


def _amounts(totals: dict[str, int]) -> str:
    return ", ".join(money(v, c) for c, v in sorted(totals.items())) or "-"


@dataclass(frozen=True)
class BoxCheck:
    """One box's figures against the hub's."""

    box: str
    sales: tuple[int, int]
    totals: tuple[dict[str, int], dict[str, int]]
    refunds: tuple[int, int]
    outbox_depth: int

    @property
    def agree(self) -> bool:
        return (
            self.sales[0] == self.sales[1]
            and self.totals[0] == self.totals[1]
            and self.refunds[0] == self.refunds[1]
            and self.outbox_depth == 0
        )

    def problem(self) -> str:
        """What differs, as one line."""
        parts = []
        if self.sales[0] != self.sales[1] or self.totals[0] != self.totals[1]:
            parts.append(
                f"the hub has {self.sales[1]} of its {self.sales[0]} sales "
                f"({_amounts(self.totals[1])} of {_amounts(self.totals[0])})"
            )
        if self.refunds[0] != self.refunds[1]:
            parts.append(f"the hub has {self.refunds[1]} of its {self.refunds[0]} refunds")
        if self.outbox_depth:
            parts.append(f"{self.outbox_depth} events never reached the hub")
        return f"{self.box}: " + "; ".join(parts)


def check_boxes(boxes: list[BoxProcess], hub: HubFigures) -> list[BoxCheck]:
    checks = []
    for box in boxes:
        s = box.stats()
        hub_sales, hub_totals = hub.by_device.get(box.name, (0, {}))
        checks.append(
            BoxCheck(
                box=box.name,
                sales=(int(s.get("sales", 0)), hub_sales),
                totals=({str(k): int(v) for k, v in dict(s.get("totals_minor", {})).items()}, hub_totals),
                refunds=(int(s.get("refunds", 0)), hub.events.get((box.name, "refund"), 0)),
                outbox_depth=int(s.get("outbox_depth", 1)),
            )
        )
    return checks


def reconciliation_table(checks: list[BoxCheck]) -> Table:
    table = _table(
        "Reconciliation: boxes against the hub",
        ("box", "sales box/hub", "total at box", "total at hub", "refunds", "verdict"),
    )
    for c in checks:
        table.add_row(
            c.box,
            f"{c.sales[0]}/{c.sales[1]}",
            _amounts(c.totals[0]),
            _amounts(c.totals[1]),
            f"{c.refunds[0]}/{c.refunds[1]}",
            "[green]agree[/]" if c.agree else "[red]DIFFER[/]",
        )
    return table


def reconcile(console: Console, boxes: list[BoxProcess], hub: HubFigures) -> bool:
    checks = check_boxes(boxes, hub)
    console.print(reconciliation_table(checks))
    for c in checks:
        if not c.agree:
            console.print(f"[red]{c.problem()}[/]")
    if hub.dead_letters:
        console.print(f"[yellow]{hub.dead_letters} dead letters at the hub (see the dead_letter table)[/]")
    return all(c.agree for c in checks)


def run(seconds: float, workdir: Path, console: Console) -> int:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    db_url = f"sqlite:///{workdir / 'hub.sqlite3'}"
    engine = db.make_engine(db_url)
    db.migrate(engine)
    stop_requested = False

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    previous = signal.signal(signal.SIGINT, _on_signal), signal.signal(signal.SIGTERM, _on_signal)
    broker = MosquittoServer()
    hub: HubProcess | None = None
    boxes: list[BoxProcess] = []
    jobs_stop = threading.Event()
    jobs_thread: threading.Thread | None = None
    client = None
    dashboard: DemoDashboard | None = None
    started_at = datetime.now(UTC)
    try:
        broker.start()
        console.print(f"broker on 127.0.0.1:{broker.port}, hub database {workdir / 'hub.sqlite3'}")
        setup_network(engine, started_at)
        client = connect_broker("127.0.0.1", broker.port, broker.hub.username, broker.hub.password)
        # The boxes keep the embedded demo catalogue and promotions; the hub sends each its store's settings
        # and, every few seconds, the network's customers with their balances from the ledger.
        jobs = HubJobs(engine, client, TENANT, box_kinds=("settings",), promotions=False)
        jobs.run_once()
        jobs_thread = threading.Thread(target=jobs.run, args=(jobs_stop, JOBS_EVERY_S), name="hub-jobs", daemon=True)
        jobs_thread.start()
        hub = HubProcess(workdir / "hub", broker, db_url).start()
        boxes = [
            BoxProcess(
                workdir / name, broker, tenant=TENANT, device=name, rate=rate, seed=i, extra=["--counter"]
            ).start()
            for i, (name, rate) in enumerate(BOX_RATES.items(), start=1)
        ]
        users = ", ".join(broker.box_credentials(TENANT, name).username for name in BOX_RATES)
        console.print(f"boxes log in on port {broker.box_port}, one user each: {users}")
        _print_mpos(console, boxes)
        logins = dashboard_users(engine)
        dashboard = DemoDashboard(engine).start()
        console.print(f"dashboard at {dashboard.url} (network: {TENANT}; up while the demo runs)")
        for email, role, password in logins:
            console.print(f"  sign in as {email} ({role}), password {password}")
        started = time.monotonic()
        _watch(console, boxes, hub, engine, started, seconds, lambda: stop_requested)
        console.print("stopping the boxes and waiting for the hub to acknowledge everything...")
        for box in boxes:
            box.terminate()
        for box in boxes:
            code = box.wait(DRAIN_TIMEOUT_S)
            if code != 0:
                console.print(f"[red]{box.name} could not drain its outbox (exit {code}); log: {box.log}[/]")
        ok = reconcile(console, boxes, hub_figures(engine))
        settlement(console, engine, started_at)
    except (LocalServiceError, PublishError) as exc:
        console.print(f"[red]demo could not start: {exc}[/]")
        return 1
    finally:
        if dashboard is not None:
            dashboard.stop()
        jobs_stop.set()
        if jobs_thread is not None:
            jobs_thread.join(30)
        if client is not None:
            client.disconnect()
            client.loop_stop()
        for proc in [*boxes, *([hub] if hub else [])]:
            proc.stop()
        broker.close()
        engine.dispose()
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    if ok:
        console.print("[green]Reconciled: every sale made at the boxes is at the hub exactly once.[/]")
        return 0
    console.print(f"[red]Reconciliation FAILED: the hub and the boxes differ. Logs are in {workdir}.[/]")
    return 1


def setup_network(engine: sa.Engine, now: datetime) -> None:
    """The demo distributor, its three retailers' stores and their boxes, and its points program."""
    with engine.begin() as conn:
        network.add_tenant(conn, TENANT, "Distribuidora Demo", LOYALTY_PREFIX, now=now)
        for device, (store, retailer, name) in DEMO_STORES.items():
            network.add_store(
                conn,
                network.Store(
                    tenant=TENANT,
                    store=store,
                    retailer=retailer,
                    name=name,
                    timezone="America/Mexico_City",
                    currency="MXN",
                    jurisdiction="mx-general",
                    language="es",
                    receipt_header=(name,),
                    receipt_footer=("¡Gracias por su compra!",),
                    offline_allowance_points=200,
                    wallets_enabled=True,
                ),
                retailer_name=name,
                now=now,
            )
            network.add_device(conn, TENANT, device, store, now=now)
        program_points.tenant_program(conn, TENANT, now=now)


def settlement(console: Console, engine: sa.Engine, started_at: datetime) -> None:
    """Close the demo's period and print who owes whom for points earned at one store and spent at another."""
    now = datetime.now(UTC)
    with db.writing(engine) as conn:
        program = program_points.tenant_program(conn, TENANT, now=now)
        statement = ledger_reports.settle_period(
            conn, TENANT, program.id, period_start=started_at, period_end=now, now=now
        )
        travellers = conn.execute(
            sa.select(sa.func.count()).select_from(
                sa.select(db.sale.c.customer)
                .where(db.sale.c.tenant == TENANT, db.sale.c.customer.is_not(None))
                .group_by(db.sale.c.customer)
                .having(sa.func.count(sa.distinct(db.sale.c.store)) > 1)
                .subquery()
            )
        ).scalar_one()
    console.print(settlement_table(statement))
    console.print(
        f"{travellers} members bought at more than one store; points they earned at one store and spent at "
        "another are in the lines above: points accepted and funded, pesos owed to and by each party "
        "(docs/ledger.md explains each column)."
    )


def settlement_table(statement: ledger_reports.Statement) -> Table:
    """Who owes whom: points accepted and funded, and the money owed to and by each party, net."""
    table = _table(
        f"Points settlement for the demo period ({statement.currency})",
        ("party", "accepted", "funded", "owed to", "owed by", "net"),
    )
    for line in statement.lines:
        table.add_row(
            line.party,
            f"{line.accepted_points:,}",
            f"{line.funded_points:,}",
            money(line.owed_to_party_minor),
            money(line.owed_by_party_minor),
            money(line.net_minor),
        )
    return table


def _watch(
    console: Console,
    boxes: list[BoxProcess],
    hub: HubProcess,
    engine: sa.Engine,
    started: float,
    seconds: float,
    stopped: Callable[[], bool],
) -> None:
    def done() -> bool:
        return stopped() or time.monotonic() - started >= seconds

    if console.is_terminal:
        with Live(console=console, refresh_per_second=4) as live:
            while not done():
                live.update(live_table(boxes, hub_figures(engine), time.monotonic() - started, seconds))
                _check_alive(hub, boxes)
                time.sleep(REFRESH_S)
        return
    next_print = 0.0
    while not done():
        now = time.monotonic()
        if now >= next_print:
            console.print(live_table(boxes, hub_figures(engine), now - started, seconds))
            next_print = now + PLAIN_EVERY_S
        _check_alive(hub, boxes)
        time.sleep(REFRESH_S)


def _print_mpos(console: Console, boxes: list[BoxProcess]) -> None:
    """Each box's mPOS address, so a person can watch a shop's screens in a browser while the demo runs."""
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and not all(box.stats().get("mpos_url") for box in boxes):
        time.sleep(0.1)
    for box in boxes:
        url = box.stats().get("mpos_url")
        if url:
            console.print(f"{box.name}: mPOS at {url} (simulated cashier)")


def _check_alive(hub: HubProcess, boxes: list[BoxProcess]) -> None:
    for proc in [hub, *boxes]:
        if not proc.running:
            raise LocalServiceError(f"{proc.name} stopped unexpectedly; last log lines:\n{proc.tail()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the boxes sell (default 60)")
    parser.add_argument("--workdir", type=Path, default=Path("var/demo"), help="where the demo keeps its files")
    args = parser.parse_args(argv)
    console = Console()
    # Log lines (a jobs round that failed, say) print as one line above the live table, not through it.
    logging.basicConfig(
        level=logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False, rich_tracebacks=False)],
    )
    return run(args.seconds, args.workdir, console)


if __name__ == "__main__":
    sys.exit(main())
