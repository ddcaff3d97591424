"""Command line of the hub: ``python -m hub COMMAND``, one entry for every command.

=================  ==========================================================  ======================
command            what it does                                                module
=================  ==========================================================  ======================
``migrate``        create or upgrade the database schema                       :mod:`hub.cli.ingest`
``ingest``         run ingest workers until SIGTERM/SIGINT                     :mod:`hub.cli.ingest`
``stats``          print sales, dead letters and devices as JSON               :mod:`hub.cli.ingest`
``network``        tenants, stores and boxes; publish their config             :mod:`hub.cli.network`
``publish-config`` publish one snapshot file to one box                        :mod:`hub.cli.publishing`
``jobs``           the periodic round for one tenant                           :mod:`hub.cli.jobs`
``erp-sync``       poll the ERP and publish what changed                       :mod:`hub.cli.erp`
``erp-import``     validate and load a products or stock file                  :mod:`hub.cli.erp`
``serve``          run the HTTP API                                            :mod:`hub.cli.api`
``add-user``       add an API user                                             :mod:`hub.cli.api`
=================  ==========================================================  ======================

Each command module adds its parsers in ``add_arguments(sub)`` and sets ``run(engine, args) -> int``
(``uses_db=False`` when the command opens no database of the hub's). Commands import their domain packages;
no domain package imports this one.

Settings come from options or environment variables (options win):

========================  ===============================  =====================================
option                    environment                      default
========================  ===============================  =====================================
``--db``                  ``MOSTRADOR_HUB_DB``             ``sqlite:///var/hub.sqlite3``
``--mqtt-host``           ``MOSTRADOR_MQTT_HOST``          ``127.0.0.1``
``--mqtt-port``           ``MOSTRADOR_MQTT_PORT``          ``1883``
``--mqtt-user``           ``MOSTRADOR_MQTT_USER``          ``hub``
``--mqtt-password-file``  ``MOSTRADOR_MQTT_PASSWORD_FILE``  (none: ``MOSTRADOR_MQTT_PASSWORD``)
========================  ===============================  =====================================

Exit status: 0 on a clean stop, 1 on a runtime failure, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import sqlalchemy as sa

from hub import db
from hub.cli import api, erp, ingest, jobs, network, publishing
from hub.cli.options import env

__all__ = ["main", "parser"]

log = logging.getLogger("hub")


def parser() -> argparse.ArgumentParser:
    """The hub's whole command line."""
    top = argparse.ArgumentParser(prog="python -m hub", description="Mostrador hub")
    top.add_argument("--db", default=env("MOSTRADOR_HUB_DB", db.default_url()), help="SQLAlchemy URL")
    top.add_argument("-v", "--verbose", action="store_true")
    sub = top.add_subparsers(dest="command", required=True)
    ingest.add_arguments(sub)
    publishing.add_arguments(sub)
    network.add_arguments(sub)
    erp.add_arguments(sub)
    erp.add_import_arguments(sub)
    api.add_arguments(sub)
    jobs.add_arguments(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run its command: 0 done, 1 a runtime failure, 2 a usage error."""
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if not getattr(args, "uses_db", True):
        code: int = args.run(None, args)
        return code
    engine = db.make_engine(args.db)
    try:
        code = args.run(engine, args)
    except sa.exc.OperationalError as exc:
        log.error("cannot use the database %s: %s", engine.url, exc.orig)
        return 1
    finally:
        engine.dispose()
    return code
