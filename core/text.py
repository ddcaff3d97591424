"""Text that may be stored: the NUL rule the box, the wire and the hub apply alike.

PostgreSQL refuses a NUL character (U+0000) in ``text`` and ``jsonb`` values, and SQLite's C API silently
cuts a string at one in places. A NUL never has a meaning in a name, a code or a note, so it is refused where
text enters, naming the field, before any database sees it: in wire messages (:mod:`core.wire`), in the
hub's API parameters and bodies, and in the box's forms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

NUL: Final = "\x00"
MAX_WALK_DEPTH: Final = 64
"""Deepest nesting :func:`nul_path` looks into (wire JSON is far shallower; deeper structures are refused)."""


def nul_path(value: object, path: str = "") -> str | None:
    """The dotted path of the first string (or mapping key) in ``value`` holding a NUL; None when none does.

    Lists are walked by index (``lines.0.name``). A key that holds a NUL is reported as its parent's path
    plus the key with the NUL shown as ``\\x00``. Structures nested deeper than :data:`MAX_WALK_DEPTH` are
    reported at the depth where the walk stopped, so a caller refuses them too.
    """
    stack: list[tuple[object, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return where or "(root)"
            continue
        if isinstance(item, bytes | bytearray):
            continue
        if depth >= MAX_WALK_DEPTH and isinstance(item, Mapping | Sequence):
            return where or "(root)"
        if isinstance(item, Mapping):
            children: list[tuple[object, str, int]] = []
            for key, child in item.items():
                name = str(key)
                if NUL in name:
                    return _join(where, name.replace(NUL, "\\x00"))
                children.append((child, _join(where, name), depth + 1))
            stack.extend(reversed(children))
        elif isinstance(item, Sequence):
            stack.extend((child, _join(where, str(i)), depth + 1) for i, child in reversed(list(enumerate(item))))
    return None


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name
