"""Benchmarks, run by ``make bench`` (``python -m bench``).

Every figure is printed beside a baseline measured in the same run, as a ratio: the machine is shared and
noisy, so an absolute time alone means little. A benchmark module is ``bench/bench_<name>.py`` with a
``run(quick: bool) -> list[Figure]`` function; ``quick`` is the short version the test suite uses to prove
the benchmark still works (its numbers are never asserted).
"""
