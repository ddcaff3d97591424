"""Command line for the device libraries: ``python -m hardware selftest [--config FILE] [--simulate] [--json]``.

Exit status: 0 when every device passed, 1 when any did not, 2 when the configuration or the arguments
are wrong. ``--json`` prints one JSON document on stdout (for provisioning); prompts and progress go to
stderr, so stdout stays machine-readable.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from hardware.config import DEVICES, MAX_SCAN_TIMEOUT_S, DeviceFactory, load_config
from hardware.errors import ConfigError
from hardware.selftest import CheckResult, run_selftest

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 0 < seconds <= MAX_SCAN_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"must be within 0..{MAX_SCAN_TIMEOUT_S:g} s")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hardware", description="Mostrador counter-box hardware tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    selftest = commands.add_parser(
        "selftest",
        help="check every device and report pass/fail",
        description="Print a test receipt, show a display test pattern, beep and blink, wait for a scan, check "
        "the fingerprint sensor and capture a camera frame. Exit 0 when all pass, 1 otherwise, 2 on a "
        "configuration error.",
    )
    selftest.add_argument(
        "--config",
        metavar="FILE",
        help="hardware configuration (default: $MOSTRADOR_HARDWARE_CONFIG, then /etc/mostrador/hardware.toml)",
    )
    selftest.add_argument("--simulate", action="store_true", help=f"use every simulator ({', '.join(DEVICES)})")
    selftest.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    selftest.add_argument(
        "--scan-timeout-s", type=_timeout, metavar="S", help="how long to wait for a scan (default: configuration)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config, simulate=DEVICES if args.simulate else ())
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def prompt(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def progress(result: CheckResult) -> None:
        if args.json:
            print(f"{result.device}: {result.status}", file=sys.stderr, flush=True)

    report = run_selftest(DeviceFactory(config), scan_timeout_s=args.scan_timeout_s, prompt=prompt, on_result=progress)
    print(report.to_json() if args.json else report.to_text())
    return EXIT_PASSED if report.passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
