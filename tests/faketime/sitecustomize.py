"""Loaded by every Python process of the faked-clock test runs (``make test-dates`` puts this folder first on
``PYTHONPATH``): makes ``time.sleep`` work under libfaketime.

libfaketime 0.9.10 (Debian's) mistranslates ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ...)``, which
``time.sleep`` uses from Python 3.11: with the monotonic clock left alone it hands the kernel a negative time
(EINVAL), with it faked the sleep never ends. Every other wait (``select``, condition variables, asyncio)
works, so ``time.sleep`` waits in ``select`` on the real monotonic clock instead. Outside a libfaketime run
this module changes nothing.
"""

from __future__ import annotations

import os
import select
import time
from typing import SupportsIndex


def _sleep(value: float | SupportsIndex, /) -> None:
    seconds = float(value)
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


if "faketime" in os.environ.get("LD_PRELOAD", ""):
    time.sleep = _sleep
