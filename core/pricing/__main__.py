"""``python -m core.pricing [FILE]``: price one JSON request (from FILE or stdin) and print the receipt.

``--schema`` prints the JSON schemas of the request and the receipt instead. Bad input exits with status 2,
a JSON error ``{"error": {"code", "field", "message"}}`` on stdout and one line for people on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.errors import CoreError, InvalidInput
from core.pricing.request import price_request, schemas

EXIT_BAD_INPUT = 2
# A request is a basket and its context; a megabyte-sized one is a mistake, and reading it all is a risk.
MAX_REQUEST_BYTES = 16 * 1024 * 1024


def _fail(error: CoreError) -> int:
    field = error.field if isinstance(error, InvalidInput) else ""
    problem = error.problem if isinstance(error, InvalidInput) else error.message
    body = {"error": {"code": error.code, "field": field, "message": problem}}
    print(json.dumps(body, ensure_ascii=False))
    print(f"error: {error.message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _read(path: str | None) -> bytes:
    if path is None or path == "-":
        data = sys.stdin.buffer.read(MAX_REQUEST_BYTES + 1)
        where = "stdin"
    else:
        try:
            with Path(path).open("rb") as handle:
                data = handle.read(MAX_REQUEST_BYTES + 1)
        except OSError as exc:
            raise InvalidInput("file", f"cannot read {path}: {exc.strerror}", code="unreadable_input") from exc
        where = path
    if len(data) > MAX_REQUEST_BYTES:
        raise InvalidInput("file", f"{where} holds more than {MAX_REQUEST_BYTES} bytes", code="input_too_large")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.pricing", description=__doc__.split("\n", 1)[0])
    parser.add_argument("file", nargs="?", help="request JSON file (default: stdin; '-' is stdin too)")
    parser.add_argument("--schema", action="store_true", help="print the request and receipt JSON schemas")
    args = parser.parse_args(argv)
    if args.schema:
        print(json.dumps(schemas(), indent=2, ensure_ascii=False))
        return 0
    try:
        receipt = price_request(_read(args.file))
    except CoreError as error:
        return _fail(error)
    print(receipt.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
