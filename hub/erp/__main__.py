"""``python -m hub.erp import FILE [--tenant T --db URL]``: the file import under its first name.

It is ``python -m hub [--db URL] erp-import FILE [--tenant T]`` (:mod:`hub.cli.erp`), kept so scripts written
for it go on working; new ones should call the hub's command line.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from hub import cli

USAGE = "usage: python -m hub.erp import FILE [--kind K] [--currency C] [--errors F] [--json] [--tenant T --db URL]"


def main(argv: Sequence[str] | None = None) -> int:
    """Translate the first form to ``python -m hub ... erp-import`` and run it."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] != ["import"]:
        print(USAGE, file=sys.stderr)
        return 2
    rest, url = args[1:], None
    for i, arg in enumerate(rest):
        if arg == "--db" and i + 1 < len(rest):
            url, rest = rest[i + 1], rest[:i] + rest[i + 2 :]
            break
        if arg.startswith("--db="):
            url, rest = arg.removeprefix("--db="), rest[:i] + rest[i + 1 :]
            break
    if ("--tenant" in rest or any(a.startswith("--tenant=") for a in rest)) != (url is not None):
        print("cannot import: give both --tenant and --db to load into the hub, or neither", file=sys.stderr)
        return 2
    return cli.main([*(["--db", url] if url else []), "erp-import", *rest])


if __name__ == "__main__":
    raise SystemExit(main())
