"""The distributor's web dashboard: server-rendered pages (Jinja2, htmx, Chart.js) on the hub for the
distributor's admin and analysts and for retailers (their own stores only).

Owns: the sign-in session over the API's users and tokens, the dashboard's pages and fragments, its
templates, static files and es/en/zh catalogues, and the small queries of the overview and live feed.
May import: :mod:`core`, :mod:`hub.db`, :mod:`hub.errors`, :mod:`hub.ledger` (``as_utc``), the API's
accounts, scope and settings (:mod:`hub.api`: who the caller is and what it may see is decided there and
only there), and the analytics' question functions, which the API calls too. It writes nothing but the
tokens of its own sign-ins and sign-outs.

:func:`create_dashboard` builds the ASGI application; :func:`hub.api.create_app` mounts it at ``/``.
``docs/dashboard.md`` is the operator's guide.
"""

from __future__ import annotations

from .app import create_dashboard

__all__ = ["create_dashboard"]
