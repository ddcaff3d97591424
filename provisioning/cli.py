"""``python -m provisioning``: the technician's commands for a box's broker credentials and the broker's ACL.

``add-box``      a new box: its password (the agent's credentials file), its line in the broker's password
                 file, and the ACL
``remove-box``   a box taken out of service: its line leaves the password file
``broker-acl``   (re)write the ACL; with ``--tenant`` and ``--device``, also give that box a new password
                 (its credentials file and password-file line), for a box replaced or a password exposed

Files and their defaults (each also from the environment):

=============  ==============================  ==========================================
option         environment                     default
=============  ==============================  ==========================================
``--passwd``   ``MOSTRADOR_BROKER_PASSWD``      ``/etc/mosquitto/mostrador-boxes.passwd``
``--acl``      ``MOSTRADOR_BROKER_ACL``         ``/etc/mosquitto/mostrador.acl``
``--out``      ``MOSTRADOR_PROVISIONING_OUT``   ``./boxes`` (``{out}/{tenant}/{device}/mqtt-password``)
``--hub-user`` ``MOSTRADOR_HUB_MQTT_USER``      ``hub``
=============  ==============================  ==========================================

The broker reads its files again when told to (``systemctl reload mosquitto``); every command that changed
one says so. The exit status is 0, or the :class:`provisioning.errors.ProvisioningError` code.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Final

from provisioning import broker
from provisioning.errors import ProvisioningError

DEFAULT_PASSWD: Final = "/etc/mosquitto/mostrador-boxes.passwd"  # noqa: S105 - a path, not a password
DEFAULT_ACL: Final = "/etc/mosquitto/mostrador.acl"
DEFAULT_OUT: Final = "boxes"
DEFAULT_HUB_USER: Final = "hub"
RELOAD_HINT: Final = "reload the broker so it reads its files again: systemctl reload mosquitto"


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--passwd", type=Path, default=Path(env("MOSTRADOR_BROKER_PASSWD", DEFAULT_PASSWD)))
    common.add_argument("--acl", type=Path, default=Path(env("MOSTRADOR_BROKER_ACL", DEFAULT_ACL)))
    common.add_argument("--hub-user", default=env("MOSTRADOR_HUB_MQTT_USER", DEFAULT_HUB_USER))
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument(
        "--out",
        type=Path,
        default=Path(env("MOSTRADOR_PROVISIONING_OUT", DEFAULT_OUT)),
        help="where box credentials files are written: OUT/TENANT/DEVICE/mqtt-password",
    )
    box = argparse.ArgumentParser(add_help=False)
    box.add_argument("--tenant", required=True, help="the distributor's tenant id")
    box.add_argument("--device", required=True, help="the box's device id")

    parser = argparse.ArgumentParser(prog="python -m provisioning", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "add-box", parents=[common, out, box], help="give a new box its broker credentials and write the ACL"
    )
    sub.add_parser("remove-box", parents=[common, box], help="take a box's credentials out of the password file")
    acl = sub.add_parser(
        "broker-acl", parents=[common, out], help="write the ACL; with --tenant/--device, give that box a new password"
    )
    acl.add_argument("--tenant", help="with --device: the box whose password is renewed")
    acl.add_argument("--device")
    return parser


def _issued(creds: broker.BoxCredentials, verb: str) -> None:
    print(f"{verb} broker credentials for {creds.username}")
    print(f"  credentials file: {creds.credentials_file}")
    print("  copy it to the box as /etc/mostrador/mqtt-password (mode 0600, owner mostrador), and in")
    print('  /etc/mostrador/agent.toml set [mqtt] password_file = "/etc/mostrador/mqtt-password"')
    print(f"  (the box's username is {creds.username}, the agent's default)")


def run(args: argparse.Namespace) -> int:
    if args.command == "add-box":
        creds = broker.issue_box(args.passwd, args.tenant, args.device, args.out, rotate=False)
        broker.write_acl(args.acl, args.hub_user)
        _issued(creds, "issued")
        print(f"password file {args.passwd} and ACL {args.acl} written; {RELOAD_HINT}")
    elif args.command == "remove-box":
        username = broker.remove_box(args.passwd, args.tenant, args.device)
        print(f"removed {username} from {args.passwd}; {RELOAD_HINT}")
        print("at the reload the broker also ends the box's connection if it is connected")
    else:
        if (args.tenant is None) != (args.device is None):
            raise SystemExit("broker-acl: give both --tenant and --device (a box to renew), or neither")
        if args.tenant is not None:
            creds = broker.issue_box(args.passwd, args.tenant, args.device, args.out, rotate=True)
            _issued(creds, "renewed")
            print("  the old password stops working at the reload: the box is offline until it has the new file")
        broker.write_acl(args.acl, args.hub_user)
        print(f"ACL {args.acl} written; {RELOAD_HINT}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except ProvisioningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
