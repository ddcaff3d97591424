"""A pytest plugin that writes what collection selected, for ``tests/test_markers.py`` to check.

Loaded with ``-p tests.collected_items`` in a separate ``pytest --collect-only`` run; the path of the JSON file
to write is in the environment variable :data:`OUTPUT_ENV`. Each selected test is one object: its node id, its
module's path (relative to the root), its function's name, its markers, the fixtures it uses (the closure) and
its string-valued parameters.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

import pytest

OUTPUT_ENV: Final = "MOSTRADOR_COLLECTED_ITEMS"


def pytest_collection_finish(session: pytest.Session) -> None:
    output = os.environ.get(OUTPUT_ENV)
    if not output:
        raise pytest.UsageError(f"tests.collected_items needs {OUTPUT_ENV} set to the JSON file to write")
    root = Path(str(session.config.rootpath))
    rows = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        function = getattr(item, "originalname", item.name)
        rows.append(
            {
                "nodeid": item.nodeid,
                "path": Path(item.path).relative_to(root).as_posix(),
                "function": function,
                "markers": sorted({mark.name for mark in item.iter_markers()}),
                "fixturenames": sorted(getattr(item, "fixturenames", ())),
                "params": {name: value for name, value in params.items() if isinstance(value, str)},
            }
        )
    Path(output).write_text(json.dumps(rows), encoding="utf-8")
