"""A simulated ESC/POS printer: python-escpos's ``Dummy`` that keeps what it prints and answers ``DLE EOT``.

``PrinterModel`` is the printer's side of the wire: it takes the byte stream, executes the real-time status
requests ``DLE EOT n`` the moment they arrive (as a real printer does, wherever they appear in the stream)
and keeps everything else as printed output. It can be told to run out of paper, to have its cover opened
or to report an error; while it cannot print it holds incoming bytes, as a printer's input buffer does, and
prints them when the fault is cleared. When the hold buffer is full it stops taking bytes, and a write
times out, as a USB or serial write to a stuck printer does.

``SimulatedPrinter`` wires the model behind the ``Printer`` interface through a ``Dummy`` subclass, so the
same code path (``write``, ``status``, ``print_job``) runs against it as against a real backend. The same
model can serve a pseudo-terminal or a TCP socket to exercise the real serial and network backends.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from escpos.printer import Dummy

from hardware.errors import DeviceTimeout
from hardware.printer.base import Printer
from hardware.printer.status import DLE_EOT, STATUS_REQUESTS, PaperLevel, PrinterStatus

#: Printed bytes a model keeps: the newest ones (a day of receipts at a busy counter is a few megabytes).
#: Older paper is torn off and gone, as at a real counter, so a simulated box can print for weeks.
MAX_PRINTED_BYTES = 16 * 1024 * 1024

#: Bytes a model holds while it cannot print (paper out, cover open) before it stops taking more. Real
#: printers have input buffers of 4 KB to 64 KB; beyond that flow control stalls the host.
HOLD_BUFFER_BYTES = 64 * 1024

#: Status answers queued for the host and not yet read. A host that sends more unanswered requests than
#: this is not reading its answers; the oldest are dropped.
MAX_PENDING_ANSWERS = 64


class PrinterModel:
    """The printer's side of the ESC/POS byte stream: prints, holds, answers ``DLE EOT n``. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._printed = bytearray()
        self._held = bytearray()
        self._partial = b""  # the start of a DLE EOT n split across two writes
        self._answers: deque[int] = deque(maxlen=MAX_PENDING_ANSWERS)
        self._paper = PaperLevel.OK
        self._cover_open = False
        self._cutter_error = False
        self._unrecoverable_error = False
        self._recoverable_error = False
        self.status_requests = 0

    # -- what a person does to the printer -------------------------------------------------------------
    def run_out_of_paper(self) -> None:
        """The roll runs out: printing stops and incoming bytes are held."""
        with self._lock:
            self._paper = PaperLevel.OUT

    def paper_near_end(self) -> None:
        """The near-end sensor trips: still prints, reports ``PaperLevel.NEAR_END``."""
        with self._lock:
            self._paper = PaperLevel.NEAR_END

    def load_paper(self) -> None:
        """A new roll goes in: held bytes are printed."""
        with self._lock:
            self._paper = PaperLevel.OK
            self._release_held()

    def open_cover(self) -> None:
        with self._lock:
            self._cover_open = True

    def close_cover(self) -> None:
        with self._lock:
            self._cover_open = False
            self._release_held()

    def jam_cutter(self) -> None:
        """The auto-cutter jams: an error the printer reports until ``clear_errors``."""
        with self._lock:
            self._cutter_error = True

    def clear_errors(self) -> None:
        with self._lock:
            self._cutter_error = self._unrecoverable_error = self._recoverable_error = False
            self._release_held()

    # -- what the host sees ------------------------------------------------------------------------------
    @property
    def status(self) -> PrinterStatus:
        with self._lock:
            return self._status()

    @property
    def printed(self) -> bytes:
        """Every byte printed so far, status requests excluded (they are executed, never printed)."""
        with self._lock:
            return bytes(self._printed)

    @property
    def held(self) -> bytes:
        """Bytes received while the printer could not print."""
        with self._lock:
            return bytes(self._held)

    def clear(self) -> None:
        """Forget what was printed (tear the paper off)."""
        with self._lock:
            self._printed.clear()

    def receive(self, data: bytes) -> bytes:
        """Take bytes from the host; return the status answers to send back.

        Raises ``BufferError`` when the printer cannot take the bytes (its hold buffer is full while it cannot
        print).
        """
        with self._lock:
            stream = self._partial + data
            self._partial = b""
            out = bytearray()
            answers = bytearray()
            i = 0
            while i < len(stream):
                if stream.startswith(DLE_EOT, i) or stream[i:] == DLE_EOT[:1]:
                    if len(stream) - i < 3:
                        self._partial = stream[i:]
                        break
                    n = stream[i + 2]
                    if n in STATUS_REQUESTS:
                        self.status_requests += 1
                        answers.append(self._status().to_bytes()[STATUS_REQUESTS.index(n)])
                        i += 3
                        continue
                out.append(stream[i])
                i += 1
            self._accept(bytes(out))
            self._answers.extend(answers)
            return bytes(answers)

    def take_answer(self) -> bytes:
        """The oldest unread status answer, or ``b""``."""
        with self._lock:
            return bytes([self._answers.popleft()]) if self._answers else b""

    # -- internals (lock held) --------------------------------------------------------------------------
    def _status(self) -> PrinterStatus:
        stopped = self._paper is PaperLevel.OUT or self._cover_open
        return PrinterStatus(
            online=not stopped and not (self._cutter_error or self._unrecoverable_error),
            paper=self._paper,
            cover_open=self._cover_open,
            cutter_error=self._cutter_error,
            unrecoverable_error=self._unrecoverable_error,
            recoverable_error=self._recoverable_error,
        )

    def _accept(self, data: bytes) -> None:
        if not data:
            return
        if self._status().ready:
            self._printed += data
            excess = len(self._printed) - MAX_PRINTED_BYTES
            if excess > 0:
                del self._printed[:excess]
        else:
            if len(self._held) + len(data) > HOLD_BUFFER_BYTES:
                raise BufferError(f"input buffer full ({HOLD_BUFFER_BYTES} bytes held while not ready)")
            self._held += data

    def _release_held(self) -> None:
        if self._status().ready and self._held:
            self._printed += self._held
            self._held.clear()


class _ModelDummy(Dummy):  # type: ignore[misc]  # escpos is untyped
    """escpos's Dummy whose bytes go to a ``PrinterModel`` and whose reads return the model's answers."""

    def __init__(self, model: PrinterModel, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model

    def _raw(self, msg: bytes) -> None:
        self.model.receive(bytes(msg))
        super()._raw(msg)

    def _read(self) -> bytes:
        return self.model.take_answer()


class SimulatedPrinter(Printer):
    """A printer that records bytes and reports status, built on python-escpos's ``Dummy``.

    ``printer.model`` is the simulated device: ``run_out_of_paper()``, ``open_cover()``, ``printed``...
    """

    def __init__(self, model: PrinterModel | None = None, *, name: str = "simulated") -> None:
        self.model = model or PrinterModel()
        self.device_name = f"printer {name}"
        self._dummy = _ModelDummy(self.model)
        self._closed = False

    @property
    def output(self) -> bytes:
        """What the printer printed (status requests excluded)."""
        return self.model.printed

    @property
    def reports_status(self) -> bool:
        return True

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ValueError(f"{self.device_name} is closed")
        try:
            self._dummy._raw(data)
        except BufferError as exc:
            raise DeviceTimeout(
                f"printer stopped taking data ({exc}): {self.model.status.problem() or 'clear the record'}",
                device=self.device_name,
            ) from exc
        # The Dummy's own record would grow without bound; the model keeps the bounded one.
        self._dummy.clear()

    def _read_answer(self, timeout_s: float) -> bytes:
        return bytes(self._dummy._read())

    def close(self) -> None:
        self._closed = True


#: Bytes an emulator reads from its connection at once.
READ_CHUNK_BYTES = 4096

#: How often an emulator's thread checks whether it was asked to stop, in seconds.
POLL_INTERVAL_S = 0.05


class _StreamEmulator:
    """Serves a ``PrinterModel`` over a file descriptor on a thread of its own (the printer's firmware)."""

    def __init__(self, model: PrinterModel | None) -> None:
        self.model = model or PrinterModel()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    def _serve(self, read: Any, write: Any, ready: Any) -> None:
        import select

        while not self._stop.is_set():
            fd = ready()
            if fd is None:
                continue
            if not select.select([fd], [], [], POLL_INTERVAL_S)[0]:
                continue
            try:
                data = read()
            except OSError:
                data = b""
            if not data:
                self._disconnected()
                continue
            try:
                answers = self.model.receive(data)
            except BufferError as exc:
                # A full printer stops reading; the host's write then times out, as with a real one.
                self.errors.append(str(exc))
                self._stop.wait(POLL_INTERVAL_S)
                continue
            if answers:
                write(answers)

    def _disconnected(self) -> None:
        self._stop.wait(POLL_INTERVAL_S)

    def _start(self, target: Any) -> None:
        self._thread = threading.Thread(target=target, name=type(self).__name__, daemon=True)
        self._thread.start()

    def _join(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class PtyPrinterEmulator(_StreamEmulator):
    """A serial printer on a pseudo-terminal: open ``port`` with ``SerialPrinter`` as if it were a real one."""

    def __init__(self, model: PrinterModel | None = None) -> None:
        import os
        import tty

        super().__init__(model)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no newline translation: a serial line carries bytes as they are
        self.port = os.ttyname(self._slave)
        master = self._master
        self._start(
            lambda: self._serve(
                lambda: os.read(master, READ_CHUNK_BYTES), lambda b: os.write(master, b), lambda: master
            )
        )

    def close(self) -> None:
        import os

        self._join()
        for fd in (self._master, self._slave):
            os.close(fd)

    def __enter__(self) -> PtyPrinterEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TcpPrinterEmulator(_StreamEmulator):
    """A network printer on a loopback TCP port (raw port 9100 protocol), one connection at a time."""

    def __init__(self, model: PrinterModel | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket

        super().__init__(model)
        self._server = socket.create_server((host, port))
        self._server.settimeout(POLL_INTERVAL_S)
        self.host, self.port = self._server.getsockname()[:2]
        self._conn: socket.socket | None = None
        self._start(lambda: self._serve(self._recv, self._send, self._ready))

    def _ready(self) -> Any:
        if self._conn is None:
            try:
                self._conn, _ = self._server.accept()
            except TimeoutError:
                return None
        return self._conn

    def _recv(self) -> bytes:
        assert self._conn is not None
        return self._conn.recv(READ_CHUNK_BYTES)

    def _send(self, data: bytes) -> None:
        assert self._conn is not None
        self._conn.sendall(data)

    def _disconnected(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        self._join()
        self._disconnected()
        self._server.close()

    def __enter__(self) -> TcpPrinterEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
