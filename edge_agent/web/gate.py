"""The one thread on which the web UI touches the box's services.

The box's :class:`edge_agent.store.Store` holds one SQLite connection that belongs to the thread that opened
it, and the checkout, customer and stock services sit on that store. The web server, on the other hand,
answers requests on an event loop and a thread pool. :class:`ServiceGate` bridges the two: it builds the
services on its own single worker thread (from a factory the caller gives) and runs every service call
there, one at a time, which is also the order SQLite would impose on writers anyway. Services built elsewhere
may be given ready-made instead of a factory, provided their store was opened with ``threads=True``.

Waiting callers are bounded: past :data:`MAX_WAITING_CALLS` calls queued the gate refuses new ones with
:class:`GateBusy` rather than letting a stuck request pile work up without limit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, Generic, TypeVar

from edge_agent.errors import EdgeError

T = TypeVar("T")
S = TypeVar("S")

MAX_WAITING_CALLS: Final = 64
"""Service calls queued behind the running one before new requests are refused (a counter has a few phones)."""


class GateBusy(EdgeError, RuntimeError):
    """Too many requests are waiting for the services; the client should retry in a moment."""

    code = "busy"


class ServiceGate(Generic[S]):
    """Builds the services with ``factory`` on one worker thread and runs every call to them there."""

    def __init__(self, factory: Callable[[], S] | S, close: Callable[[S], None] | None = None) -> None:
        self._factory = factory
        self._close = close
        self._executor: ThreadPoolExecutor | None = None
        self._services: S | None = None
        self._waiting = 0
        self._lock = threading.Lock()

    def _start(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mostrador-web-services")
                factory = self._factory
                built = executor.submit(factory).result() if callable(factory) else factory
                self._services = built
                self._executor = executor
            return self._executor

    def _admit(self) -> None:
        with self._lock:
            if self._waiting >= MAX_WAITING_CALLS:
                raise GateBusy(f"{self._waiting} requests are already waiting for the till; try again shortly")
            self._waiting += 1

    def _leave(self) -> None:
        with self._lock:
            self._waiting -= 1

    def call(self, fn: Callable[[S], T]) -> T:
        """Run ``fn(services)`` on the service thread and wait for it (for code that is not async)."""
        executor = self._start()
        self._admit()
        try:
            return executor.submit(self._run, fn).result()
        finally:
            self._leave()

    async def run(self, fn: Callable[[S], T]) -> T:
        """Run ``fn(services)`` on the service thread without blocking the event loop."""
        executor = self._executor if self._executor is not None else await asyncio.to_thread(self._start)
        self._admit()
        try:
            return await asyncio.wrap_future(executor.submit(self._run, fn))
        finally:
            self._leave()

    def _run(self, fn: Callable[[S], T]) -> T:
        assert self._services is not None
        return fn(self._services)

    def shutdown(self) -> None:
        """Close the services (on their own thread) and stop the worker."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is None:
            return
        if self._close is not None and self._services is not None:
            services = self._services
            close = self._close
            executor.submit(close, services).result()
        executor.shutdown(wait=True)
        self._services = None
