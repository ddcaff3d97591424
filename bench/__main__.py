"""Run every benchmark module in ``bench/`` and print its figures (``make bench``)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all), e.g. ingest pricing")
    parser.add_argument("--quick", action="store_true", help="short run: proves the benchmark works")
    args = parser.parse_args(argv)
    # The hub's end-to-end ingest is the headline figure: it runs first.
    modules = sorted(
        (m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")),
        key=lambda name: (name != "bench_ingest", name),
    )
    wanted = [f"bench_{n}" for n in args.names] if args.names else modules
    unknown = sorted(set(wanted) - set(modules))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(modules)}", file=sys.stderr)
        return 2
    missed = 0
    for name in wanted:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name[len('bench_') :]} ==", flush=True)
        started = time.monotonic()
        for fig in module.run(quick=args.quick):
            print("  " + fig.line(), flush=True)
            missed += fig.met is False
        print(f"  ({time.monotonic() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
