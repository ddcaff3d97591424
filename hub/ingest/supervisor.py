"""Several ingest workers as one service: ``python -m hub ingest --workers N``.

Each worker is its own process (Python runs one thread of Python at a time, so throughput scales with
processes) with a stable MQTT client id ``{base}-{n}``, so the broker keeps each worker's session across
restarts. Workers share the load through the shared subscription. The supervisor restarts a worker that
exits unexpectedly, with a backoff, and on SIGTERM or SIGINT stops them all, each after its current batch.
Workers also stop if the supervisor dies, even by SIGKILL (Linux parent-death signal), so none is orphaned.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_WORKERS = 64
RESTART_MIN_S = 1.0
RESTART_MAX_S = 30.0
STOP_TIMEOUT_S = 30.0
POLL_S = 0.5
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the supervisor goes away."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class _Child:
    index: int
    proc: subprocess.Popen[bytes] | None = None
    restart_s: float = RESTART_MIN_S
    next_start: float = 0.0


def supervise(argv_for: Callable[[int], list[str]], workers: int, stop: threading.Event) -> int:
    """Run ``workers`` processes ``python -m hub <argv_for(n)>`` until ``stop`` is set; 0 on a clean stop."""
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be 1 to {MAX_WORKERS}, got {workers}")
    children = [_Child(n) for n in range(1, workers + 1)]
    while not stop.is_set():
        now = time.monotonic()
        for child in children:
            if child.proc is not None and child.proc.poll() is not None:
                log.error(
                    "worker %d exited with status %d; restarting in %.0f s",
                    child.index,
                    child.proc.returncode,
                    child.restart_s,
                )
                child.proc = None
                child.next_start = now + child.restart_s
                child.restart_s = min(child.restart_s * 2, RESTART_MAX_S)
            if child.proc is None and now >= child.next_start:
                child.proc = subprocess.Popen(
                    [sys.executable, "-m", "hub", *argv_for(child.index)],
                    preexec_fn=_die_with_parent,  # noqa: PLW1509 (it only calls prctl, which is async-signal-safe)
                )
                log.info("worker %d started (pid %d)", child.index, child.proc.pid)
            elif child.proc is not None and now - child.next_start > RESTART_MAX_S:
                child.restart_s = RESTART_MIN_S  # it has run long enough: a later crash restarts quickly
        stop.wait(POLL_S)
    for child in children:
        if child.proc is not None and child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children:
        if child.proc is None:
            continue
        try:
            child.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("worker %d did not stop in %.0f s; killing it", child.index, STOP_TIMEOUT_S)
            child.proc.kill()
            child.proc.wait()
    return 0
