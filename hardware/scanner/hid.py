"""USB HID keyboard-wedge scanners through evdev: key events in, codes out.

A wedge scanner is a keyboard to the kernel: for each code it sends key down/up events (with Shift, and
AltGr on some layouts) and then Enter. ``HidScanner`` finds the scanner's event device by path, name or
USB vendor id, grabs it so the keystrokes never reach the console or a login prompt, and decodes the events
with ``KeyDecoder`` and the configured ``KeyboardLayout``. ``ReplayKeyboard`` plays recorded events through
the same reader, for tests and demonstrations without a scanner.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hardware.errors import DeviceNotFound, DevicePermissionDenied, DriverUnavailable
from hardware.scanner.base import (
    MAX_CODE_CHARS,
    PARTIAL_CODE_TIMEOUT_S,
    SCAN_QUEUE_MAX,
    BarcodeScanner,
    ScanClock,
    ScanSource,
)
from hardware.scanner.layouts import (
    ALTGR_KEYS,
    DEAD_KEYS,
    ENTER_KEYS,
    IGNORED_KEYS,
    KEY_BACKSPACE,
    KEY_CAPSLOCK,
    LAYOUTS,
    SHIFT_KEYS,
    US,
    KeyboardLayout,
    combine_dead_key,
)

log = logging.getLogger(__name__)

EV_SYN = 0
EV_KEY = 1
KEY_UP = 0
KEY_DOWN = 1
KEY_REPEAT = 2

#: How long ``close`` waits for the reader thread to notice; it polls every ``READ_POLL_S``.
CLOSE_JOIN_S = 1.0

#: How long the reader waits for events before checking whether it was closed and expiring a partial code.
READ_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """One input event as evdev reports it (type, code, value); timestamps are the reader's own."""

    type: int
    code: int
    value: int


class KeyDecoder:
    """Turn EV_KEY events into codes: tracks Shift, AltGr, Caps Lock and dead keys; Enter ends a code.

    A code with a key the layout does not know is dropped whole at Enter (with a log naming the key): a code
    with a character missing is worse than no code. Codes longer than ``max_code_chars`` and codes left
    without Enter for ``partial_timeout_s`` are dropped too.
    """

    def __init__(
        self,
        layout: KeyboardLayout = US,
        *,
        max_code_chars: int = MAX_CODE_CHARS,
        partial_timeout_s: float = PARTIAL_CODE_TIMEOUT_S,
        device: str = "scanner",
    ) -> None:
        self.layout = layout
        self.max_code_chars = max_code_chars
        self.partial_timeout_s = partial_timeout_s
        self._device = device
        self._chars: list[str] = []
        self._shift_down: set[int] = set()
        self._altgr_down: set[int] = set()
        self._caps_lock = False
        self._dead: str | None = None
        self._bad_keys: list[int] = []
        self._overflow = False
        self._last_key_s: float | None = None
        self.dropped_codes = 0

    def feed(self, event: KeyEvent, now_s: float = 0.0) -> str | None:
        """Process one event; return a finished code when this event was its Enter key."""
        if event.type != EV_KEY or event.value == KEY_REPEAT:
            # Scanners do not auto-repeat; a repeat would only come from a key held by a stuck trigger.
            return None
        self.expire(now_s)
        code, down = event.code, event.value == KEY_DOWN
        if code in SHIFT_KEYS:
            (self._shift_down.add if down else self._shift_down.discard)(code)
            return None
        if code in ALTGR_KEYS:
            (self._altgr_down.add if down else self._altgr_down.discard)(code)
            return None
        if not down:
            return None
        self._last_key_s = now_s
        if code == KEY_CAPSLOCK:
            self._caps_lock = not self._caps_lock
            return None
        if code in ENTER_KEYS:
            return self._finish()
        if code in IGNORED_KEYS:
            return None
        if code == KEY_BACKSPACE:
            if self._chars:
                self._chars.pop()
            return None
        symbol = self.layout.symbol(
            code, shift=bool(self._shift_down), altgr=bool(self._altgr_down), caps_lock=self._caps_lock
        )
        if symbol is None:
            self._bad_keys.append(code)
            return None
        if symbol in DEAD_KEYS:
            if self._dead is not None:
                self._append(combine_dead_key(self._dead, " "))
            self._dead = symbol
            return None
        if self._dead is not None:
            symbol, self._dead = combine_dead_key(self._dead, symbol), None
        self._append(symbol)
        return None

    def expire(self, now_s: float) -> None:
        """Drop a code still waiting for Enter ``partial_timeout_s`` after its last key."""
        if self._last_key_s is None or now_s - self._last_key_s < self.partial_timeout_s:
            return
        if self._chars or self._dead or self._bad_keys:
            self.dropped_codes += 1
            log.warning(
                "%s: dropped a partial code %r: no Enter within %.2f s (is the scanner set to send Enter?)",
                self._device,
                "".join(self._chars)[:64],
                self.partial_timeout_s,
            )
        self._reset()

    def _append(self, text: str) -> None:
        if len(self._chars) + len(text) > self.max_code_chars:
            self._overflow = True
            return
        self._chars.extend(text)

    def _finish(self) -> str | None:
        if self._dead is not None:
            self._append(combine_dead_key(self._dead, " "))
        text = "".join(self._chars)
        bad_keys, overflow = self._bad_keys, self._overflow
        self._reset()
        if bad_keys:
            self.dropped_codes += 1
            log.warning(
                "%s: dropped code %r: key codes %s type nothing in the %r layout (does the scanner's keyboard "
                "layout match the configured one?)",
                self._device,
                text[:64],
                sorted(set(bad_keys)),
                self.layout.name,
            )
            return None
        if overflow:
            self.dropped_codes += 1
            log.warning("%s: dropped a code longer than %d characters", self._device, self.max_code_chars)
            return None
        return text or None

    def _reset(self) -> None:
        self._chars = []
        self._dead = None
        self._bad_keys = []
        self._overflow = False
        self._last_key_s = None

    def decode(self, events: Iterable[KeyEvent]) -> list[str]:
        """Decode a whole recorded sequence (no timing): the codes it contains, in order."""
        return [code for event in events if (code := self.feed(event, 0.0)) is not None]


class InputDeviceLike(Protocol):
    """What ``HidScanner`` uses of ``evdev.InputDevice``."""

    path: str
    name: str

    def fileno(self) -> int: ...
    def read(self) -> Iterable[Any]: ...
    def grab(self) -> None: ...
    def ungrab(self) -> None: ...
    def close(self) -> None: ...


def _import_evdev() -> Any:
    try:
        import evdev
    except ImportError as exc:
        raise DriverUnavailable(
            "evdev is not installed; install the 'devices' extra (pip install 'mostrador[devices]')",
            device="scanner",
        ) from exc
    return evdev


def _open_input(path: str, evdev: Any) -> Any:
    try:
        return evdev.InputDevice(path)
    except PermissionError as exc:
        raise DevicePermissionDenied(
            f"may not open {path}: add the user to the input group: sudo usermod -aG input $USER (then log in again)",
            device=f"scanner {path}",
        ) from exc
    except FileNotFoundError as exc:
        raise DeviceNotFound(
            f"no input device {path}: check the scanner's USB cable and the udev rule for /dev/scanner",
            device=f"scanner {path}",
        ) from exc


def find_hid_device(
    *, path: str | None = None, name: str | None = None, vendor_id: int | None = None, product_id: int | None = None
) -> Any:
    """Open the scanner's evdev device: by ``path``, else the first whose name contains ``name`` and whose
    USB vendor (and product) id match. Raises ``DeviceNotFound`` listing the input devices it saw."""
    evdev = _import_evdev()
    if path is not None:
        return _open_input(path, evdev)
    if name is None and vendor_id is None:
        raise DeviceNotFound("configure a path, a name or a vendor id for the HID scanner", device="scanner")
    seen: list[str] = []
    unreadable: list[str] = []
    for candidate in sorted(evdev.list_devices(writable=False)):
        try:
            device = evdev.InputDevice(candidate)
        except OSError:
            unreadable.append(candidate)
            continue
        info = device.info
        matches = (
            (name is None or name.lower() in device.name.lower())
            and (vendor_id is None or info.vendor == vendor_id)
            and (product_id is None or info.product == product_id)
        )
        if matches:
            return device
        seen.append(f"{candidate} {device.name!r} {info.vendor:04x}:{info.product:04x}")
        device.close()
    wanted = ", ".join(
        part
        for part in (
            f"name containing {name!r}" if name else "",
            f"vendor {vendor_id:04x}" if vendor_id is not None else "",
            f"product {product_id:04x}" if product_id is not None else "",
        )
        if part
    )
    hint = (
        "; some devices are unreadable: add the user to the input group: sudo usermod -aG input $USER"
        if unreadable
        else "; check the scanner's USB cable and that it is in USB HID keyboard mode"
    )
    raise DeviceNotFound(f"no input device with {wanted}; found: {'; '.join(seen) or 'none'}{hint}", device="scanner")


class HidScanner(BarcodeScanner):
    """A USB HID keyboard-wedge scanner read through evdev, grabbed for exclusive use.

    Pass ``input_device`` (an opened ``evdev.InputDevice`` or a ``ReplayKeyboard``) or let it be found with
    ``path``/``name``/``vendor_id``/``product_id``.
    """

    def __init__(
        self,
        *,
        path: str | None = None,
        name: str | None = None,
        vendor_id: int | None = None,
        product_id: int | None = None,
        layout: KeyboardLayout | str = US,
        grab: bool = True,
        aim_prefix: bool = False,
        max_code_chars: int = MAX_CODE_CHARS,
        partial_timeout_s: float = PARTIAL_CODE_TIMEOUT_S,
        queue_max: int = SCAN_QUEUE_MAX,
        clock: ScanClock | None = None,
        input_device: InputDeviceLike | None = None,
    ) -> None:
        if isinstance(layout, str):
            if layout not in LAYOUTS:
                raise ValueError(f"unknown keyboard layout {layout!r}; known: {', '.join(LAYOUTS)}")
            layout = LAYOUTS[layout]
        dev = (
            input_device
            if input_device is not None
            else find_hid_device(path=path, name=name, vendor_id=vendor_id, product_id=product_id)
        )
        super().__init__(device=f"scanner {dev.path}", clock=clock, queue_max=queue_max)
        self._dev = dev
        self.aim_prefix = aim_prefix
        self._decoder = KeyDecoder(
            layout, max_code_chars=max_code_chars, partial_timeout_s=partial_timeout_s, device=self.device
        )
        self._grabbed = False
        if grab:
            try:
                dev.grab()
            except OSError as exc:
                dev.close()
                raise DevicePermissionDenied(
                    f"cannot grab {dev.path} ({exc}): another program holds it exclusively; stop it, or set "
                    "grab = false (keystrokes would then also reach the console)",
                    device=self.device,
                ) from exc
            self._grabbed = True
        self._thread = threading.Thread(target=self._read_loop, name=f"scanner-{dev.path}", daemon=True)
        self._thread.start()

    @property
    def source(self) -> ScanSource:
        return "hid"

    @property
    def dropped_codes(self) -> int:
        return self._decoder.dropped_codes

    def _read_loop(self) -> None:
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([self._dev.fileno()], [], [], READ_POLL_S)
                events = list(self._dev.read()) if ready else []
            except BlockingIOError:
                events = []
            except (OSError, ValueError) as exc:
                if self._closed.is_set():
                    return
                self._fail(
                    DeviceNotFound(
                        f"reading {self._dev.path} failed ({exc}): the scanner was unplugged; plug it in again",
                        device=self.device,
                    )
                )
                return
            now_s = self._clock.monotonic()
            for event in events:
                code = self._decoder.feed(KeyEvent(event.type, event.code, event.value), now_s)
                if code is not None:
                    self._emit(code, aim_prefix=self.aim_prefix)
            self._decoder.expire(now_s)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._thread.join(timeout=CLOSE_JOIN_S)
        if self._grabbed:
            try:
                self._dev.ungrab()
            except OSError as exc:
                # Unplugged devices cannot be ungrabbed; the kernel released the grab with them.
                if exc.errno not in (errno.ENODEV, errno.EBADF):
                    log.warning("%s: ungrab failed: %s", self.device, exc)
        self._dev.close()


class ReplayKeyboard:
    """An input device that plays recorded key events, for ``HidScanner`` without a scanner.

    It has a real file descriptor (a pipe), so the reader's ``select`` works as with ``/dev/input/eventN``.
    ``play(events)`` queues events as one burst, the way a scanner delivers a code.
    """

    def __init__(self, path: str = "replay", name: str = "Replay keyboard") -> None:
        self.path = path
        self.name = name
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self._pending: list[KeyEvent] = []
        self._lock = threading.Lock()
        self.grabbed = False
        self.closed = False

    def play(self, events: Sequence[KeyEvent]) -> None:
        with self._lock:
            self._pending.extend(events)
            os.write(self._write_fd, b"\x01")

    def fileno(self) -> int:
        return self._read_fd

    def read(self) -> list[KeyEvent]:
        with self._lock:
            with contextlib.suppress(BlockingIOError):
                os.read(self._read_fd, 4096)
            events, self._pending = self._pending, []
        if not events:
            raise BlockingIOError(errno.EAGAIN, "no events")
        return events

    def grab(self) -> None:
        self.grabbed = True

    def ungrab(self) -> None:
        self.grabbed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._read_fd)
            os.close(self._write_fd)
