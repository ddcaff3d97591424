"""Waiting in tests for a state, never for a fixed time: :func:`wait_until`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

POLL_S: Final = 0.05
"""How often the state is looked at again."""


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Return once ``check()`` is true (the seconds it took); fail naming ``what`` after ``timeout_s``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if check():
            return time.monotonic() - start
        time.sleep(POLL_S)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
