"""Cameras: the simulated test card, and the picamera2 driver's mapping of what libcamera does."""

from __future__ import annotations

import io
import sys
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image

from hardware.camera import Resolution, SimulatedCamera, render_test_card
from hardware.errors import DeviceNotFound, DeviceTimeout, DriverUnavailable

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_simulated_camera_returns_a_jpeg_of_its_resolution() -> None:
    with SimulatedCamera(Resolution(320, 240), clock=lambda: NOON) as camera:
        data = camera.capture_jpeg()
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        assert image.size == (320, 240)


def test_test_card_depends_only_on_the_timestamp_passed_in() -> None:
    times = iter([NOON, NOON, datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)])
    camera = SimulatedCamera(Resolution(320, 240), clock=lambda: next(times))
    first, again, later = camera.capture_jpeg(), camera.capture_jpeg(), camera.capture_jpeg()
    assert first == again
    assert later != first
    assert camera.captures == 3


def test_test_card_has_colour_bars_in_order() -> None:
    card = render_test_card(Resolution(700, 300), NOON)
    # Sample the middle of the first and last bars, away from the grid lines and circle.
    assert card.getpixel((20, 20)) == (255, 255, 255)
    assert card.getpixel((680, 20)) == (0, 0, 255)
    ARTIFACTS.mkdir(exist_ok=True)
    card.save(ARTIFACTS / "camera_test_card.png")


@pytest.mark.parametrize("resolution", [Resolution(8, 240), Resolution(320, 10_000)])
def test_impossible_resolutions_are_refused(resolution: Resolution) -> None:
    with pytest.raises(ValueError, match=r"outside 16\.\.4608 px"):
        SimulatedCamera(resolution)


def test_missing_picamera2_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from hardware.camera.picamera import PiCamera

    # None in sys.modules makes the import raise ImportError, as on a system without python3-picamera2.
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(DriverUnavailable, match=r"apt install python3-picamera2.*--system-site-packages") as info:
        PiCamera()
    assert isinstance(info.value, ImportError)


class FakePicamera2:
    """Stands in for picamera2.Picamera2 (Raspberry Pi OS only): the calls the driver makes, same shapes."""

    cameras: ClassVar[list[dict[str, Any]]] = [{"Model": "imx708", "Num": 0}]
    hang = False
    instances: ClassVar[list[FakePicamera2]] = []

    def __init__(self, camera_num: int = 0) -> None:
        self.camera_num = camera_num
        self.calls: list[str] = []
        self.size: tuple[int, int] = (0, 0)
        FakePicamera2.instances.append(self)

    @classmethod
    def global_camera_info(cls) -> list[dict[str, Any]]:
        return cls.cameras

    def create_still_configuration(self, main: dict[str, Any]) -> dict[str, Any]:
        return {"main": main}

    def configure(self, config: dict[str, Any]) -> None:
        self.size = config["main"]["size"]
        self.calls.append("configure")

    def start(self) -> None:
        self.calls.append("start")

    def capture_image(self, name: str, wait: bool) -> str:
        assert (name, wait) == ("main", False)
        return "job"

    def wait(self, job: str, timeout: float) -> Image.Image:
        if self.hang:
            raise TimeoutError("timed out")
        return Image.new("RGB", self.size, (10, 200, 30))

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")


@pytest.fixture
def fake_picamera2(monkeypatch: pytest.MonkeyPatch) -> type[FakePicamera2]:
    module = types.ModuleType("picamera2")
    module.Picamera2 = FakePicamera2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "picamera2", module)
    monkeypatch.setattr(FakePicamera2, "instances", [])
    return FakePicamera2


def test_pi_camera_captures_at_the_configured_size_and_releases_the_camera(
    fake_picamera2: type[FakePicamera2],
) -> None:
    from hardware.camera.picamera import PiCamera

    with PiCamera(Resolution(640, 480), warmup_s=0) as camera:
        first = camera.capture_jpeg()
        camera.capture_jpeg()
    with Image.open(io.BytesIO(first)) as image:
        assert image.size == (640, 480)
    (instance,) = fake_picamera2.instances  # opened once, kept running between captures
    assert instance.calls == ["configure", "start", "stop", "close"]


def test_pi_camera_without_a_detected_camera_points_at_the_ribbon_cable(
    fake_picamera2: type[FakePicamera2], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hardware.camera.picamera import PiCamera

    monkeypatch.setattr(fake_picamera2, "cameras", [])
    with PiCamera(warmup_s=0) as camera, pytest.raises(DeviceNotFound, match="ribbon cable"):
        camera.capture_jpeg()


def test_pi_camera_that_hangs_times_out(fake_picamera2: type[FakePicamera2], monkeypatch: pytest.MonkeyPatch) -> None:
    from hardware.camera.picamera import PiCamera

    monkeypatch.setattr(fake_picamera2, "hang", True)
    with PiCamera(warmup_s=0, capture_timeout_s=0.5) as camera, pytest.raises(DeviceTimeout, match=r"0\.5 s"):
        camera.capture_jpeg()
