"""The camera interface: one JPEG frame on demand, at a fixed resolution."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import NamedTuple, Self

#: Largest frame a camera may be configured for, in pixels per side; the Camera Module 3 is 4608x2592.
MAX_SIDE_PX = 4608

#: The longest a capture may take before ``DeviceTimeout``: a still capture takes well under a second once
#: the camera runs; longer means the camera or its driver has hung.
CAPTURE_TIMEOUT_S = 5.0

#: JPEG quality used unless configured otherwise (Pillow's 1..95 scale); receipts of faces and shelves do
#: not need more, and the file stays under ~200 kB at 1280x720.
DEFAULT_JPEG_QUALITY = 85


class Resolution(NamedTuple):
    """A frame size in pixels."""

    width_px: int
    height_px: int


#: What the real camera captures unless configured otherwise: enough to read a face or a shelf label.
DEFAULT_RESOLUTION = Resolution(1280, 720)


def check_resolution(resolution: Resolution) -> Resolution:
    """Refuse sizes no Pi camera produces, with the bound in the message."""
    width_px, height_px = resolution
    if not (16 <= width_px <= MAX_SIDE_PX and 16 <= height_px <= MAX_SIDE_PX):
        raise ValueError(f"resolution {width_px}x{height_px} px is outside 16..{MAX_SIDE_PX} px per side")
    return Resolution(width_px, height_px)


class Camera(ABC):
    """A still camera: ``capture_jpeg()`` returns one JPEG frame of ``resolution``."""

    device: str = "camera"

    @property
    @abstractmethod
    def resolution(self) -> Resolution:
        """The size of the frames ``capture_jpeg`` returns."""

    @abstractmethod
    def capture_jpeg(self) -> bytes:
        """Capture one frame and return it JPEG-encoded."""

    @abstractmethod
    def close(self) -> None:
        """Release the camera. Idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
