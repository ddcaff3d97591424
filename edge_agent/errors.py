"""The root of the counter application's own errors.

Every exception the box's application defines derives from :class:`EdgeError` (and, for a leaf, from the
built-in exception it is a kind of), and carries a stable ``code`` a caller may match on. Bad input is
``core.errors.InvalidInput``, shared with the hub; the box's own kinds of it derive from both. The devices'
errors are ``hardware.errors.HardwareError``.
"""

from __future__ import annotations


class EdgeError(Exception):
    """Root of the counter application's errors; ``code`` is stable and safe to match on."""

    code: str = "edge_error"
