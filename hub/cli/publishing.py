"""``publish-config``: publish one configuration snapshot, read from a JSON file, to one box, retained and
versioned (:func:`hub.publishing.publish_config`); for operators and integrators who build a body themselves.

Exit status: 0 published (or already there), 1 broker failure, 2 bad input or a version the box would refuse.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from core import wire
from core.errors import InvalidInput
from hub.cli.options import add_broker_arguments, password
from hub.publishing.retained import MAX_BODY_FILE_BYTES, PublishError, VersionRefused, publish_config

__all__ = [
    "add_arguments",
]

log = logging.getLogger(__name__)


def add_arguments(sub: Any) -> None:
    """Add ``publish-config`` to the hub's command line (``sub`` is its subparsers object)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "publish-config", help="publish a configuration snapshot to one box (retained, versioned)"
    )
    add_broker_arguments(parser)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--kind", required=True, choices=wire.CONFIG_KINDS)
    parser.add_argument("--file", required=True, type=Path, help="the snapshot body, a JSON object")
    parser.add_argument("--version", required=True, type=int, help="higher than the version the box has")
    parser.add_argument("--no-compress", action="store_true", help="send the body uncompressed")
    parser.set_defaults(run=run_cli, uses_db=False)


def run_cli(_engine: sa.Engine | None, args: argparse.Namespace) -> int:
    """Run ``publish-config``: 0 published (or already there), 1 broker failure, 2 bad input or version."""
    try:
        size = args.file.stat().st_size
        if size > MAX_BODY_FILE_BYTES:
            raise InvalidInput("--file", f"{size} bytes exceeds the {MAX_BODY_FILE_BYTES}-byte snapshot bound")
        body = json.loads(args.file.read_bytes())
    except OSError as exc:
        log.error("cannot read %s: %s", args.file, exc)
        return 2
    except (ValueError, InvalidInput) as exc:
        log.error("%s is not a JSON snapshot body: %s", args.file, exc)
        return 2
    if not isinstance(body, dict):
        log.error("%s: a snapshot body is a JSON object, not a %s", args.file, type(body).__name__)
        return 2
    user = f"{args.mqtt_user}@" if args.mqtt_user else ""
    url = f"mqtt://{user}{args.mqtt_host}:{args.mqtt_port}"
    try:
        done = publish_config(
            url,
            args.tenant,
            args.device,
            args.kind,
            body,
            args.version,
            password=password(args),
            compress=not args.no_compress,
        )
    except VersionRefused as exc:
        log.error("%s", exc)
        return 2
    except InvalidInput as exc:
        log.error("refused: %s", exc)
        return 2
    except PublishError as exc:
        log.error("%s", exc)
        return 1
    print(
        json.dumps(
            {
                "kind": done.kind,
                "version": done.version,
                "parts": done.parts,
                "cleared": done.cleared,
                "body_bytes": done.body_bytes,
                "transfer_bytes": done.transfer_bytes,
                "unchanged": done.unchanged,
            }
        )
    )
    return 0
