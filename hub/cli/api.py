"""``serve`` and ``add-user``, the API's commands.

``python -m hub --db URL serve --host H --port P`` runs the API with uvicorn;
``python -m hub --db URL add-user --tenant T --email E --role R [--retailer ID] [--manufacturer ID]
[--device ID ...]`` adds a user, asking for its password on the terminal (twice, not echoed; never from an
option or standard input).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from core.errors import InvalidInput
from hub import db
from hub.api.accounts import Role, create_user
from hub.api.settings import ApiSettings, BrokerSettings
from hub.cli.options import add_broker_arguments, password

log = logging.getLogger("hub.api")

__all__ = ["add_arguments", "add_user", "serve_command"]


def add_arguments(sub: Any) -> None:
    """Add ``serve`` and ``add-user`` to the hub's command line (``sub`` is its subparsers object)."""
    serve = sub.add_parser(
        "serve", help="run the HTTP API and the dashboard (dashboard at /, OpenAPI at /openapi.json)"
    )
    serve.add_argument("--host", default=os.environ.get("MOSTRADOR_API_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("MOSTRADOR_API_PORT", "8080")))
    serve.add_argument("--no-migrate", action="store_true", help="do not upgrade the schema at start")
    # Without --mqtt-host the API cannot publish promotions to the boxes (publishing answers 503).
    add_broker_arguments(serve, host_default=None)
    serve.set_defaults(run=serve_command)
    user = sub.add_parser("add-user", help="add an API user; its password is asked on the terminal")
    user.add_argument("--tenant", required=True)
    user.add_argument("--email", required=True)
    user.add_argument("--role", required=True, choices=[r.value for r in Role])
    user.add_argument("--retailer", help="the retailer id a retailer user acts for")
    user.add_argument("--manufacturer", help="the manufacturer id a manufacturer user acts for")
    user.add_argument("--device", action="append", default=[], help="a device a technician looks after (repeat)")
    user.set_defaults(run=add_user)


def _terminal_password(prompt: str) -> str:
    """Read a password from the controlling terminal without echo; refuse when there is none (a password on
    standard input would end up in shell histories and scripts)."""
    try:
        with open("/dev/tty"):
            pass
    except OSError as exc:
        raise SystemExit("add-user needs a terminal to ask for the password; run it interactively") from exc
    return getpass.getpass(prompt)


def add_user(engine: sa.Engine, args: argparse.Namespace, ask: Callable[[str], str] = _terminal_password) -> int:
    """Create the user named by ``args``; ``ask`` reads the password (twice)."""
    password = ask(f"password for {args.email}: ")
    if ask("again: ") != password:
        log.error("the two passwords differ: nothing was changed")
        return 2
    try:
        with engine.begin() as conn:
            user = create_user(
                conn,
                ApiSettings(),
                tenant=args.tenant,
                email=args.email,
                password=password,
                role=Role(args.role),
                retailer=args.retailer,
                manufacturer=args.manufacturer,
                devices=args.device,
            )
    except InvalidInput as exc:
        log.error("%s", exc)
        return 2
    print(f"{user.id} {user.email} {user.role.value}")
    return 0


def serve_command(engine: sa.Engine, args: argparse.Namespace) -> int:
    """Run the API until SIGINT/SIGTERM (uvicorn handles both)."""
    import uvicorn

    from hub.api.app import create_app

    if not args.no_migrate:
        db.migrate(engine)
    log.info("API and dashboard on http://%s:%d (dashboard at /, OpenAPI at /openapi.json)", args.host, args.port)
    broker = None
    if args.mqtt_host:
        broker = BrokerSettings(args.mqtt_host, args.mqtt_port, args.mqtt_user, password(args))
    uvicorn.run(create_app(engine, ApiSettings(broker=broker)), host=args.host, port=args.port, log_level="info")
    return 0
