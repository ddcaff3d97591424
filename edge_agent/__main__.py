"""``python -m edge_agent``: run the counter box, or set up its cashiers.

    python -m edge_agent --config /etc/mostrador/agent.toml            # run (systemd does this)
    python -m edge_agent --config agent.toml --simulate                # every device simulated
    python -m edge_agent --config agent.toml add-cashier --id ana --name "Ana" --role manager

``add-cashier`` reads the PIN (4 to 8 digits) from the terminal without echo, or from standard input when
it is not a terminal. Exit status: 0 on success, 2 for a bad configuration or bad input, 1 for anything
else; the message says what to fix.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import signal
import sys
import threading
from types import FrameType

from core.errors import InvalidInput
from edge_agent.config import DEFAULT_CONFIG_PATH, AgentConfig, AgentConfigError, load_config
from hardware.errors import ConfigError

log = logging.getLogger("edge_agent")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m edge_agent", description=__doc__.split("\n")[0])
    p.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="the agent's TOML file (docs/install-pi.md)")
    p.add_argument("--simulate", action="store_true", help="simulate every device, whatever the hardware file says")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = p.add_subparsers(dest="command")
    sub.add_parser("run", help="run the box (the default)")
    cashier = sub.add_parser("add-cashier", help="add a cashier or manager who signs in to the mPOS with a PIN")
    cashier.add_argument("--id", required=True, help="the cashier's sign-in id, e.g. ana")
    cashier.add_argument("--name", required=True)
    cashier.add_argument("--role", choices=["cashier", "manager"], default="cashier")
    return p


def _read_pin() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("PIN (4 to 8 digits): ")
        if getpass.getpass("PIN again: ") != first:
            raise InvalidInput("pin", "the two PINs differ")
        return first
    return sys.stdin.readline().strip()


def _add_cashier(config: AgentConfig, args: argparse.Namespace) -> int:
    from edge_agent.store import Store
    from edge_agent.web.auth import create_cashier

    config.data_dir.mkdir(parents=True, exist_ok=True)
    with Store(config.database, tenant=config.tenant, device=config.device) as store:
        create_cashier(store, args.id, args.name, _read_pin(), args.role)
    print(f"{args.role} {args.id!r} added; they sign in at the mPOS with their PIN")
    return 0


def _run(config: AgentConfig, simulate: bool) -> int:
    from edge_agent.app import EdgeAgent

    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    agent = EdgeAgent(config, simulate_all=simulate)
    agent.start()
    try:
        stop.wait()
    finally:
        log.info("stopping")
        agent.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = load_config(args.config)
        if args.command == "add-cashier":
            return _add_cashier(config, args)
        return _run(config, args.simulate)
    except (AgentConfigError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except InvalidInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
