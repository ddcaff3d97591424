"""``jobs``: the hub's periodic round for one tenant (:class:`hub.jobs.HubJobs`), every few seconds or once.

Exit status: 0 when stopped (or the round done with ``--once``), 1 when stopped before the broker was
reached, 2 a bad option or a round with problems (``--once``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType
from typing import Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa

from hub import jobs as hub_jobs
from hub.cli.options import add_broker_arguments, password
from hub.jobs import DEFAULT_EVERY_S, HubJobs
from hub.publishing.retained import PublishError
from hub.publishing.snapshots import BUILT_KINDS, connect_broker

__all__ = [
    "add_arguments",
    "connect_with_retry",
]

log = logging.getLogger("hub.jobs")


def add_arguments(sub: Any) -> None:
    """Add ``jobs`` to the hub's command line (``sub`` is its subparsers object)."""
    jobs = sub.add_parser("jobs", help="apply customer events and keep the boxes' config fresh, every few seconds")
    jobs.add_argument("--tenant", required=True)
    jobs.add_argument("--every-s", type=float, default=DEFAULT_EVERY_S)
    jobs.add_argument("--once", action="store_true", help="one round, then exit")
    jobs.add_argument(
        "--box-kinds",
        default=",".join(BUILT_KINDS),
        help=f"hub-built snapshots to keep fresh (default {','.join(BUILT_KINDS)}; '' for none)",
    )
    jobs.add_argument("--no-promotions", action="store_true", help="do not send the stores' promotion sets")
    add_broker_arguments(jobs)
    jobs.set_defaults(run=run_cli)


def connect_with_retry(
    host: str, port: int, username: str | None, password: str | None, stop: threading.Event
) -> mqtt.Client | None:
    """A connected broker client, trying again (a log line per attempt, the pause doubling from
    :data:`hub.jobs.CONNECT_RETRY_MIN_S` to :data:`hub.jobs.CONNECT_RETRY_MAX_S`) until it connects; None if
    ``stop`` is set first."""
    pause = hub_jobs.CONNECT_RETRY_MIN_S
    attempt = 1
    while not stop.is_set():
        try:
            return connect_broker(host, port, username, password)
        except PublishError as exc:
            log.warning("jobs: broker not reached (attempt %d): %s; trying again in %.1f s", attempt, exc, pause)
        if stop.wait(pause):
            break
        pause = min(pause * 2, hub_jobs.CONNECT_RETRY_MAX_S)
        attempt += 1
    return None


def run_cli(engine: sa.Engine, args: argparse.Namespace) -> int:
    """``jobs``: 0 when stopped (or the round done with --once), 1 when stopped before the broker was reached.

    An unreachable broker is tried again with backoff (:func:`connect_with_retry`) until SIGTERM or SIGINT."""
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    client = connect_with_retry(args.mqtt_host, args.mqtt_port, args.mqtt_user, password(args), stop)
    if client is None:
        log.error(
            "jobs for %s stopped before the broker at %s:%d could be reached",
            args.tenant,
            args.mqtt_host,
            args.mqtt_port,
        )
        return 1
    kinds = tuple(k for k in args.box_kinds.split(",") if k)
    unknown = sorted(set(kinds) - set(BUILT_KINDS))
    if unknown:
        log.error("--box-kinds: unknown %s; known: %s", ", ".join(unknown), ", ".join(BUILT_KINDS))
        client.disconnect()
        client.loop_stop()
        return 2
    jobs = HubJobs(engine, client, args.tenant, box_kinds=kinds, promotions=not args.no_promotions)
    try:
        if args.once:
            report = jobs.run_once()
            return 2 if report.problems else 0
        log.info("jobs for %s running every %.0f s", args.tenant, args.every_s)
        jobs.run(stop, args.every_s)
        return 0
    finally:
        client.disconnect()
        client.loop_stop()
