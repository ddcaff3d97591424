"""The network's default rules, shipped as package data: the points program, the promotions and the settings.

A box with no configuration from the hub sells with these (they are its embedded demo configuration, config
version 0), and the hub uses the very same files: it registers the default program for a tenant that has
none, prices again a sale made under promotion-set version 0, and takes the default settings for a store it
does not know yet. Reading them from one place keeps both sides agreeing on what "the default" is.

Each file is the JSON body of the config snapshot of its kind (see :mod:`core.wire`): :func:`default_body`
gives its text, :func:`default_json` the parsed value. Files only the box uses (its demo catalogue and
stock) stay with the box.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Final

from core.errors import InvalidInput

__all__ = ["SHARED_KINDS", "default_body", "default_json"]

SHARED_KINDS: Final = ("settings", "program", "promotions")
"""The config kinds whose defaults are shared rules, one ``<kind>.json`` file each in this package."""


def default_body(kind: str) -> str:
    """The text of the default ``kind`` body (one of :data:`SHARED_KINDS`)."""
    if kind not in SHARED_KINDS:
        raise InvalidInput("kind", f"{kind!r} has no shared default; use one of {', '.join(SHARED_KINDS)}")
    return resources.files(__name__).joinpath(f"{kind}.json").read_text(encoding="utf-8")


def default_json(kind: str) -> Any:
    """The default ``kind`` body, parsed afresh (callers that read it often keep their own copy)."""
    return json.loads(default_body(kind))
