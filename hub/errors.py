"""The root of the hub's own errors.

Every exception the hub defines derives from :class:`HubError` (and, for a leaf, from the built-in exception
it is a kind of: ``LookupError`` for something missing, ``OSError`` for a service out of reach, and so on),
and carries a stable ``code`` a caller may match on. Bad input is ``core.errors.InvalidInput``, shared with
the box; the hub's own kinds of it derive from both.
"""

from __future__ import annotations


class HubError(Exception):
    """Root of the hub's errors; ``code`` is stable and safe to match on."""

    code: str = "hub_error"
