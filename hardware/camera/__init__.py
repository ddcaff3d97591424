"""Cameras: ``Camera.capture_jpeg() -> bytes``; the Pi camera through picamera2, and a test-card simulator.

``PiCamera`` lives in ``hardware.camera.picamera`` and imports picamera2 only when constructed, so this
package imports everywhere.
"""

from hardware.camera.base import (
    CAPTURE_TIMEOUT_S,
    DEFAULT_JPEG_QUALITY,
    DEFAULT_RESOLUTION,
    MAX_SIDE_PX,
    Camera,
    Resolution,
)
from hardware.camera.simulated import SimulatedCamera, render_test_card

__all__ = [
    "CAPTURE_TIMEOUT_S",
    "DEFAULT_JPEG_QUALITY",
    "DEFAULT_RESOLUTION",
    "MAX_SIDE_PX",
    "Camera",
    "Resolution",
    "SimulatedCamera",
    "render_test_card",
]
