"""The Raspberry Pi camera modules through picamera2 (libcamera), imported only when used.

picamera2 ships with Raspberry Pi OS (``python3-picamera2``) and is not on PyPI in a usable form, so the
venv must see the system packages. The camera is opened and started on the first capture and kept running
(auto-exposure needs ``warmup_s`` of frames to settle), and released by ``close``.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any

from hardware.camera.base import (
    CAPTURE_TIMEOUT_S,
    DEFAULT_JPEG_QUALITY,
    DEFAULT_RESOLUTION,
    Camera,
    Resolution,
    check_resolution,
)
from hardware.errors import DeviceFault, DeviceNotFound, DeviceTimeout, DriverUnavailable

#: How long the camera runs before the first frame is kept, so exposure and white balance have settled.
WARMUP_S = 1.0

INSTALL_HINT = (
    "install python3-picamera2 from Raspberry Pi OS (apt install python3-picamera2) and create the venv with "
    "--system-site-packages"
)


def import_picamera2() -> Any:
    """The ``Picamera2`` class, or ``DriverUnavailable`` saying how to install it."""
    try:
        from picamera2 import Picamera2
    except ImportError as exc:
        raise DriverUnavailable(INSTALL_HINT, device="camera") from exc
    return Picamera2


class PiCamera(Camera):
    """A Raspberry Pi camera module (v1.3, v2, v3, HQ) read with picamera2."""

    def __init__(
        self,
        resolution: Resolution = DEFAULT_RESOLUTION,
        *,
        camera_num: int = 0,
        jpeg_quality: int = DEFAULT_JPEG_QUALITY,
        warmup_s: float = WARMUP_S,
        capture_timeout_s: float = CAPTURE_TIMEOUT_S,
    ) -> None:
        self._resolution = check_resolution(resolution)
        self.camera_num = camera_num
        self.device = f"camera {camera_num}"
        self._jpeg_quality = jpeg_quality
        self._warmup_s = warmup_s
        self._capture_timeout_s = capture_timeout_s
        # Import now, so a missing picamera2 is reported when the box starts, not at the first capture.
        self._picamera2_class = import_picamera2()
        self._camera: Any = None
        self._lock = threading.Lock()

    @property
    def resolution(self) -> Resolution:
        return self._resolution

    def _open(self) -> Any:
        cameras = self._picamera2_class.global_camera_info()
        if self.camera_num >= len(cameras):
            raise DeviceNotFound(
                f"libcamera sees {len(cameras)} camera(s); check the ribbon cable (contacts facing the right "
                "way, latch closed) and run rpicam-hello --list-cameras",
                device=self.device,
            )
        try:
            camera = self._picamera2_class(self.camera_num)
        except (RuntimeError, IndexError) as exc:
            raise DeviceFault(
                f"cannot open the camera ({exc}); is another program (rpicam-*, a second agent) using it?",
                device=self.device,
            ) from exc
        try:
            config = camera.create_still_configuration(main={"size": tuple(self._resolution), "format": "RGB888"})
            camera.configure(config)
            camera.start()
        except RuntimeError as exc:
            camera.close()
            raise DeviceFault(f"cannot start the camera ({exc})", device=self.device) from exc
        time.sleep(self._warmup_s)
        return camera

    def capture_jpeg(self) -> bytes:
        with self._lock:
            if self._camera is None:
                self._camera = self._open()
            try:
                job = self._camera.capture_image("main", wait=False)
                image = self._camera.wait(job, timeout=self._capture_timeout_s)
            except TimeoutError as exc:
                raise DeviceTimeout(
                    f"no frame within {self._capture_timeout_s} s; reseat the ribbon cable and restart",
                    device=self.device,
                ) from exc
            except RuntimeError as exc:
                raise DeviceFault(f"capture failed ({exc})", device=self.device) from exc
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=self._jpeg_quality)
        return buffer.getvalue()

    def close(self) -> None:
        with self._lock:
            camera, self._camera = self._camera, None
        if camera is not None:
            camera.stop()
            camera.close()
