"""The hub's HTTP API (FastAPI): users, tokens, roles and tenant scoping over sales, events, devices and the
points ledger. ``create_app(engine, settings)`` builds the application; ``python -m hub serve`` runs it.

Modules: :mod:`~hub.api.settings` (bounds and costs), :mod:`~hub.api.accounts` (users, argon2id passwords,
tokens, login limiter), :mod:`~hub.api.scope` (who may see what: the one place scoping is enforced),
:mod:`~hub.api.errors` (error bodies and codes), :mod:`~hub.api.paging`, and one router per subject in
:mod:`hub.api.routers`. The integrator's guide is ``docs/api.md``.

The API may import every domain package of the hub and its foundation; only :mod:`hub.cli` imports it.
"""

from __future__ import annotations

from .app import create_app
from .settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
