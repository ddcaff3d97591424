"""Fixtures shared by the hub's test modules: one Tryton database template per test run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def tryton_template(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Any:
    """A Tryton database with the modules and the company installed, built once per run (and kept in pytest's
    cache between runs when the cache is on); every ERP test module starts its server from a copy of it."""
    from tests.hub.tryton_server import cached_template  # imports trytond: only when an ERP test runs

    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    cache_dir = Path(cache.mkdir("mostrador-tryton")) if cache is not None else None
    return cached_template(tmp_path_factory.mktemp("tryton-template"), cache_dir)
