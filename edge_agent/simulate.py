"""A simulated counter box: rings up random sales from a demo catalogue and relays them to the hub.

Used by ``make demo``, the fault tests and the benchmarks; it runs the real store and relay, only the cashier
is simulated. ``python -m edge_agent.simulate --help`` lists the options. On SIGTERM or SIGINT it stops
selling, waits up to ``--drain-s`` for the hub to acknowledge everything, and exits: 0 when the outbox is
empty, 3 when events are still waiting (they stay in the database and go out at the next start).

With ``--stats FILE`` it rewrites FILE (atomically, every ``--stats-every-s``) with its counters as JSON:
``device, sales, totals_minor, outbox_depth, acked, rejected, connected, published, republished``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from edge_agent.relay import Relay, RelayConfig
from edge_agent.store import LineDraft, OutboxFull, SaleDraft, Store

log = logging.getLogger("edge_agent.simulate")


@dataclass(frozen=True)
class CatalogueItem:
    """An item of the demo catalogue; the price is in minor units of the box's currency."""

    sku: str
    name: str
    price_minor: int


DEMO_CATALOGUE: tuple[CatalogueItem, ...] = (
    CatalogueItem("7501055300075", "Refresco cola 600 ml", 1800),
    CatalogueItem("7501011115678", "Papas fritas 45 g", 1950),
    CatalogueItem("7501030400012", "Pan de caja grande", 4900),
    CatalogueItem("7501020510015", "Leche entera 1 L", 2850),
    CatalogueItem("7501000100016", "Tortillas 1 kg", 2200),
    CatalogueItem("7501003120019", "Huevo 12 piezas", 4300),
    CatalogueItem("7501045400013", "Frijol negro 1 kg", 3600),
    CatalogueItem("7501052471115", "Agua natural 1.5 L", 1500),
    CatalogueItem("7501008042010", "Galletas surtidas", 2450),
    CatalogueItem("7501058612345", "Jabón de barra", 1700),
)
MAX_LINES = 6


def random_sale(rng: random.Random, store: str, currency: str) -> SaleDraft:
    """A plausible small-shop ticket: one to six distinct items, mostly one of each."""
    items = rng.sample(DEMO_CATALOGUE, rng.randint(1, MAX_LINES))
    lines = [LineDraft(it.sku, rng.choice((1, 1, 1, 2, 3)), it.price_minor, name=it.name) for it in items]
    return SaleDraft(store=store, currency=currency, lines=lines)


def _write_stats(path: Path, store: Store, relay: Relay, extra: dict[str, object] | None = None) -> None:
    totals = store.totals()
    stats = relay.stats
    doc: dict[str, object] = {
        **(extra or {}),
        "device": store.device,
        "sales": totals.sales,
        "totals_minor": totals.by_currency,
        "outbox_depth": totals.outbox_depth,
        "acked": totals.acked,
        "rejected": totals.rejected,
        "connected": stats.connected,
        "published": stats.published,
        "republished": stats.republished,
        "updated": time.time(),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(path)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m edge_agent.simulate", description="a simulated counter box")
    p.add_argument("--db", required=True, help="the box's SQLite file (created if missing)")
    p.add_argument("--tenant", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--store", default="store-1")
    p.add_argument("--currency", default="MXN")
    p.add_argument("--mqtt-host", default="127.0.0.1")
    p.add_argument("--mqtt-port", type=int, default=1883)
    p.add_argument("--mqtt-user", default=None, help="the box's broker user (default: TENANT/DEVICE)")
    p.add_argument("--mqtt-password-file", default=os.environ.get("MOSTRADOR_MQTT_PASSWORD_FILE"))
    p.add_argument("--rate", type=float, default=2.0, help="sales per second (0: only relay what is waiting)")
    p.add_argument("--max-sales", type=int, default=0, help="stop selling after this many (0: no limit)")
    p.add_argument("--seconds", type=float, default=0, help="stop selling after this long (0: until a signal)")
    p.add_argument("--drain-s", type=float, default=30.0, help="at stop, wait this long for the hub's acks")
    p.add_argument("--exit-when-drained", action="store_true", help="exit once done selling and drained")
    p.add_argument("--seed", type=int, default=None, help="random seed for reproducible tickets")
    p.add_argument("--stats", type=Path, default=None, help="JSON stats file to keep up to date")
    p.add_argument("--stats-every-s", type=float, default=0.5)
    p.add_argument("--ack-timeout-s", type=float, default=5.0)
    p.add_argument("--window", type=int, default=256)
    p.add_argument(
        "--counter",
        action="store_true",
        help="run the whole counter application (checkout, customers, stock, mPOS, simulated devices) with a "
        "simulated cashier, instead of writing bare sales",
    )
    p.add_argument("--web-port", type=int, default=0, help="with --counter: the mPOS port (0: any free port)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.device} %(levelname)s %(message)s")
    password = None
    if args.mqtt_password_file:
        password = Path(args.mqtt_password_file).read_text().splitlines()[0]
    password = password or os.environ.get("MOSTRADOR_MQTT_PASSWORD")
    config = RelayConfig(
        host=args.mqtt_host,
        port=args.mqtt_port,
        tenant=args.tenant,
        device=args.device,
        username=args.mqtt_user,
        password=password,
        ack_timeout_s=args.ack_timeout_s,
        window=args.window,
        software="mostrador-sim",
    )
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if args.counter:
        return _run_counter(args, password, stop)
    store = Store(args.db, tenant=args.tenant, device=args.device)
    relay = Relay(args.db, config)
    relay.start()
    rng = random.Random(args.seed)
    refused = 0

    def sell_bare() -> bool:
        nonlocal refused
        try:
            store.record_sale(random_sale(rng, args.store, args.currency))
        except OutboxFull as exc:
            refused += 1
            if refused == 1 or refused % 100 == 0:
                log.error("sale refused (%d so far): %s", refused, exc)
            return False
        return True

    _sell(args, stop, store, relay, sell_bare, dict)
    relay.stop(drain_s=args.drain_s)
    return _finish(args, store, relay, dict)


def _sell(
    args: argparse.Namespace,
    stop: threading.Event,
    store: Store,
    relay: Relay,
    sell_one: Callable[[], bool],
    extra: Callable[[], dict[str, object]],
) -> None:
    """Sell at ``--rate`` until ``--max-sales``, ``--seconds`` or a signal; keep the stats file up to date."""
    started = time.monotonic()
    next_sale = next_stats = started
    sold = 0
    selling = args.rate > 0
    while not stop.is_set():
        now = time.monotonic()
        if selling and (
            (args.max_sales and sold >= args.max_sales) or (args.seconds and now - started >= args.seconds)
        ):
            selling = False
        if selling and now >= next_sale:
            sold += sell_one()
            relay.notify()
            next_sale += 1.0 / args.rate
        if args.stats and now >= next_stats:
            _write_stats(args.stats, store, relay, extra())
            next_stats = now + args.stats_every_s
        if not selling and args.exit_when_drained and store.outbox_depth() == 0:
            break
        wait = min(next_sale - time.monotonic() if selling else 0.05, 0.05)
        stop.wait(max(wait, 0.0))


def _finish(args: argparse.Namespace, store: Store, relay: Relay, extra: Callable[[], dict[str, object]]) -> int:
    """Last stats, then the exit status: 0 when the outbox is empty, 3 when events still wait."""
    if args.stats:
        _write_stats(args.stats, store, relay, extra())
    depth = store.outbox_depth()
    store.close()
    if depth:
        log.warning("%d events still wait for the hub; they go out at the next start", depth)
        return 3
    return 0


def _run_counter(args: argparse.Namespace, password: str | None, stop: threading.Event) -> int:
    """The demo's shops: the real counter application, every device simulated, a simulated cashier."""
    from edge_agent.app import EdgeAgent
    from edge_agent.config import AgentConfig, HardwareSettings, MqttSettings, WebSettings
    from edge_agent.counter_sim import SimulatedCashier

    db = Path(args.db)
    config = AgentConfig(
        tenant=args.tenant,
        device=args.device,
        data_dir=db.parent,
        database_name=db.name,
        mqtt=MqttSettings(host=args.mqtt_host, port=args.mqtt_port, username=args.mqtt_user, password=password),
        web=WebSettings(host="127.0.0.1", port=args.web_port),
        hardware=HardwareSettings(simulate=("all",)),
    )
    agent = EdgeAgent(config)
    agent.start()
    relay = agent.relay
    assert relay is not None
    cashier = SimulatedCashier(random.Random(args.seed))
    store = Store(db, tenant=args.tenant, device=args.device)

    def extra() -> dict[str, object]:
        s = cashier.stats
        return {
            "mpos_url": f"http://127.0.0.1:{agent.port}/",
            "enrolments": s.enrolments,
            "refunds": s.refunds,
            "points_tenders": s.points_tenders,
            "refused": s.refused,
            "last_problem": s.last_problem,
        }

    _sell(args, stop, store, relay, lambda: agent.call(cashier.ring_up) is not None, extra)
    deadline = time.monotonic() + args.drain_s
    while time.monotonic() < deadline and store.outbox_depth() > 0:
        time.sleep(0.05)
    agent.stop()
    if cashier.stats.refused:
        log.info("%d tickets refused by the till; last: %s", cashier.stats.refused, cashier.stats.last_problem)
    return _finish(args, store, relay, extra)


if __name__ == "__main__":
    sys.exit(main())
