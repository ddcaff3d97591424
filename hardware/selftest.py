"""The hardware self-test a technician (or provisioning) runs on a box: every device, pass or fail, and why.

``run_selftest`` prints a test receipt, shows a test pattern on the display, beeps and blinks, waits a
bounded time for a barcode scan (a simulated scanner scans by itself), checks the fingerprint sensor's
handshake and capacity and captures a camera frame. Each device gets a ``CheckResult``: ``pass``, ``fail``
(the device is configured but does not work; the reason says what to do) or ``not_available`` (its driver
or library is missing here). One device failing never stops the others. ``python -m hardware selftest``
is the command line (see ``hardware.__main__``).
"""

from __future__ import annotations

import enum
import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from PIL import Image, ImageDraw

from hardware.config import DEVICES, DeviceFactory
from hardware.errors import DeviceFault, DeviceTimeout, DriverUnavailable, HardwareError

log = logging.getLogger(__name__)

#: What the simulated scanner scans during the self-test.
SIMULATED_SCAN_CODE = "MOSTRADOR-SELFTEST-0001"

#: A short LED pattern (seconds on, seconds off, flashes): visible to a technician, quick to run.
LED_FLASH_S = 0.15
LED_FLASHES = 3


class Status(enum.StrEnum):
    """The outcome of one device's check."""

    PASSED = "pass"
    FAILED = "fail"
    NOT_AVAILABLE = "not_available"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One device's outcome; ``code`` is the ``HardwareError`` code when it failed."""

    device: str
    status: Status
    reason: str
    duration_s: float
    code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "status": str(self.status),
            "reason": self.reason,
            "code": self.code,
            "duration_s": round(self.duration_s, 3),
        }


@dataclass(frozen=True, slots=True)
class SelfTestReport:
    """All devices' outcomes; ``passed`` only when every device passed."""

    results: tuple[CheckResult, ...]
    simulated: tuple[str, ...] = ()
    config_source: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def passed(self) -> bool:
        return all(result.status is Status.PASSED for result in self.results)

    def to_json(self) -> str:
        return json.dumps(
            {
                "passed": self.passed,
                "started_at": self.started_at.isoformat(),
                "config": self.config_source,
                "simulated": list(self.simulated),
                "devices": [result.to_dict() for result in self.results],
            },
            ensure_ascii=False,
            indent=2,
        )

    def to_text(self) -> str:
        width = max(len(result.device) for result in self.results) if self.results else 0
        lines = [f"{result.status.upper():<13} {result.device:<{width}}  {result.reason}" for result in self.results]
        verdict = "all devices passed" if self.passed else "some devices did NOT pass"
        failing = sum(result.status is not Status.PASSED for result in self.results)
        lines.append(f"self-test: {verdict} ({len(self.results) - failing}/{len(self.results)})")
        return "\n".join(lines)


def display_test_pattern(size_px: tuple[int, int]) -> Image.Image:
    """A 1-bit pattern that shows dead pixels and a shifted image: border, diagonals, a checker block."""
    width_px, height_px = size_px
    image = Image.new("1", size_px, 0)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width_px - 1, height_px - 1), outline=1)
    draw.line((0, 0, width_px - 1, height_px - 1), fill=1)
    draw.line((0, height_px - 1, width_px - 1, 0), fill=1)
    block = min(width_px, height_px) // 4
    for y in range(2, 2 + block):
        for x in range(2, 2 + block):
            if (x // 2 + y // 2) % 2 == 0:
                image.putpixel((x, y), 1)
    draw.rectangle((width_px - 2 - block, 2, width_px - 3, 1 + block), fill=1)
    draw.text((block + 6, height_px // 2 - 5), "TEST", fill=1)
    return image


def _test_receipt_bytes(factory: DeviceFactory, now: datetime) -> bytes:
    from hardware.printer import Document, encode
    from hardware.printer.document import Barcode, Cut, Feed, Qr, Text, pad

    profile = factory.printer_profile()
    columns = profile.columns

    def centred(text: str, *, bold: bool = False) -> Text:
        return Text(pad(profile, text, columns, "center"), bold=bold)

    document = Document(
        profile,
        (
            centred("MOSTRADOR", bold=True),
            centred("hardware self-test"),
            centred(now.strftime("%Y-%m-%d %H:%M UTC")),
            Text("-" * columns),
            Text(pad(profile, f"paper {factory.config.printer.paper_width_mm} mm, {columns} columns", columns)),
            Text(pad(profile, "Ñandú ¿Sí? ¡Olé! 1.234,56 €", columns)),
            Text("0123456789" * (columns // 10) + "0123456789"[: columns % 10]),
            Qr("MOSTRADOR-SELFTEST"),
            Barcode("SELFTEST-0001"),
            centred("SELFTEST-0001"),
            Feed(4),
            Cut(),
        ),
    )
    return bytes(encode(document))


def check_printer(factory: DeviceFactory) -> str:
    data = _test_receipt_bytes(factory, datetime.now(UTC))
    with factory.printer() as printer:
        printer.print_job(data)
        status = printer.status()
    state = "no status on this connection" if status is None else f"status {status.paper.value}, ready"
    return f"printed a {len(data)}-byte test receipt ({state}); check it printed cleanly and was cut"


def check_display(factory: DeviceFactory) -> str:
    with factory.display() as display:
        display.show_image(display_test_pattern(display.size_px))
    width_px, height_px = display.size_px
    return f"showed a {width_px}x{height_px} test pattern; check the border and diagonals are complete"


def check_gpio(factory: DeviceFactory) -> str:
    from hardware.indicators import BlinkPattern

    flash = BlinkPattern(on_s=LED_FLASH_S, off_s=LED_FLASH_S, count=LED_FLASHES)
    with factory.indicators() as indicators:
        indicators.beep("ok", wait=True)
        indicators.blink("green", flash, wait=True)
        indicators.blink("red", flash, wait=True)
        indicators.beep("attention", wait=True)
        indicators.all_off()
    buttons = factory.buttons()
    names = ", ".join(f"{name} (GPIO {factory.config.gpio.buttons[name]})" for name in buttons)
    for button in buttons.values():
        button.close()
    return f"beeped twice, flashed green then red {LED_FLASHES} times; buttons ready: {names or 'none'}"


def check_scanner(factory: DeviceFactory, scan_timeout_s: float, prompt: Callable[[str], None]) -> str:
    with factory.scanner() as scanner:
        simulate = getattr(scanner, "scan", None)
        if factory.config.scanner.simulate and callable(simulate):
            simulate(SIMULATED_SCAN_CODE)
        else:
            prompt(f"scan any barcode within {scan_timeout_s:g} s...")
        scan = scanner.read(timeout_s=scan_timeout_s)
    if scan is None:
        raise DeviceTimeout(
            f"no scan within {scan_timeout_s:g} s: check the cable, the configured port or HID name, and the "
            "scanner's suffix (CR/LF) and keyboard layout",
            device=scanner.device,
        )
    symbology = f", {scan.symbology.value}" if scan.symbology else ""
    return f"read {scan.code!r} ({scan.source}{symbology})"


def check_fingerprint(factory: DeviceFactory) -> str:
    sensor = factory.fingerprint()
    handshake_note = "handshake ok"
    try:
        handshake = getattr(sensor, "handshake", None)
        if callable(handshake):
            try:
                handshake()
            except DeviceFault:
                # R307 and AS608 firmware may refuse HandShake (an R503 command); the module still answered,
                # and the password and parameter checks below prove it works.
                handshake_note = "handshake not supported by this module"
        info = sensor.self_check()
        stored = sensor.template_count()
    finally:
        sensor.close()
    if info.capacity <= 0:
        raise DeviceFault(f"sensor reports a capacity of {info.capacity} templates", device="fingerprint")
    return (
        f"{handshake_note}, password ok, capacity {info.capacity} templates, {stored} stored, "
        f"security level {info.security_level}"
    )


def check_camera(factory: DeviceFactory) -> str:
    with factory.camera() as camera:
        data = camera.capture_jpeg()
        expected = camera.resolution
    with Image.open(io.BytesIO(data)) as image:
        if image.format != "JPEG" or image.size != tuple(expected):
            raise HardwareError(
                f"frame is {image.format} {image.size[0]}x{image.size[1]}, expected JPEG "
                f"{expected.width_px}x{expected.height_px}",
                device="camera",
            )
    return f"captured a {expected.width_px}x{expected.height_px} JPEG frame ({len(data)} bytes)"


@contextmanager
def _timed() -> Iterator[Callable[[], float]]:
    started = time.monotonic()
    yield lambda: time.monotonic() - started


def _run_one(device: str, check: Callable[[], str]) -> CheckResult:
    with _timed() as elapsed:
        try:
            reason = check()
        except DriverUnavailable as exc:
            return CheckResult(device, Status.NOT_AVAILABLE, f"not available: {exc}", elapsed(), exc.code)
        except HardwareError as exc:
            return CheckResult(device, Status.FAILED, str(exc), elapsed(), exc.code)
        except ImportError as exc:
            # A device package that is missing or unfinished on this box.
            return CheckResult(device, Status.NOT_AVAILABLE, f"not available: {exc}", elapsed(), "driver_unavailable")
        except Exception as exc:
            # The self-test is a top-level loop: one device's bug must not hide the others' results.
            log.exception("self-test of %s failed unexpectedly", device)
            return CheckResult(device, Status.FAILED, f"unexpected {type(exc).__name__}: {exc}", elapsed(), "bug")
        return CheckResult(device, Status.PASSED, reason, elapsed())


def run_selftest(
    factory: DeviceFactory,
    *,
    scan_timeout_s: float | None = None,
    prompt: Callable[[str], None] = lambda message: None,
    on_result: Callable[[CheckResult], None] = lambda result: None,
) -> SelfTestReport:
    """Check every device in turn; ``prompt`` tells the technician what to do, ``on_result`` reports
    progress. ``scan_timeout_s`` defaults to the configuration's ``[selftest] scan_timeout_s``."""
    config = factory.config
    started_at = datetime.now(UTC)
    timeout_s = config.selftest.scan_timeout_s if scan_timeout_s is None else scan_timeout_s
    checks: dict[str, Callable[[], str]] = {
        "printer": lambda: check_printer(factory),
        "display": lambda: check_display(factory),
        "gpio": lambda: check_gpio(factory),
        "scanner": lambda: check_scanner(factory, timeout_s, prompt),
        "fingerprint": lambda: check_fingerprint(factory),
        "camera": lambda: check_camera(factory),
    }
    results: list[CheckResult] = []
    try:
        for device, check in checks.items():
            result = _run_one(device, check)
            results.append(result)
            on_result(result)
    finally:
        factory.close()
    return SelfTestReport(
        tuple(results),
        simulated=tuple(device for device in DEVICES if config.is_simulated(device)),
        config_source=str(config.source) if config.source else None,
        started_at=started_at,
    )
