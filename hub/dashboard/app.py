"""The dashboard as an ASGI application: :func:`create_dashboard` builds it; the API's ``create_app`` mounts it
at ``/`` after its own routes, so ``python -m hub serve`` serves both from one process.

Paths the API does not answer reach the dashboard. Its errors are pages for a browser; a caller that does
not ask for HTML (an API client hitting an unknown path) still gets the API's JSON error body.
"""

from __future__ import annotations

import logging
from typing import Final

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import InvalidInput
from hub.api.accounts import Authenticator
from hub.api.settings import ApiSettings

from . import insights, pages
from .i18n import Languages
from .web import (
    HERE,
    BadCsrf,
    Dashboard,
    NotForRole,
    NotSignedIn,
    build_templates,
    render,
    to_sign_in,
    translator,
)

log = logging.getLogger(__name__)

STATIC_DIR: Final = HERE / "static"
VENDOR_FILES: Final = ("htmx.min.js", "chart.umd.js")
"""The npm packages' files ``make bootstrap`` copies into ``static/vendor`` (see package.json)."""


def missing_assets() -> list[str]:
    """The vendored front-end files that are not there (run ``make assets``)."""
    return [name for name in VENDOR_FILES if not (STATIC_DIR / "vendor" / name).is_file()]


def create_dashboard(
    engine: Engine, settings: ApiSettings, authenticator: Authenticator, *, secure_cookies: bool = False
) -> FastAPI:
    """The dashboard over ``engine``, signing users in with the API's ``authenticator`` (shared, so the
    login limits count attempts at the API and at the dashboard together)."""
    missing = missing_assets()
    if missing:
        log.warning("dashboard assets missing from %s: %s; run `make assets`", STATIC_DIR / "vendor", missing)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dashboard = Dashboard(engine, settings, authenticator, Languages(), build_templates(), secure_cookies)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages.router)
    app.include_router(insights.router)

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        return to_sign_in(request)

    @app.exception_handler(NotForRole)
    async def not_for_role(request: Request, _exc: NotForRole) -> Response:
        tr = translator(request)
        return _error(request, 403, tr.gettext("The dashboard is for the distributor's staff and its retailers."))

    @app.exception_handler(BadCsrf)
    async def bad_csrf(request: Request, _exc: BadCsrf) -> Response:
        tr = translator(request)
        return _error(request, 403, tr.gettext("The form had expired. Reload the page and try again."))

    @app.exception_handler(InvalidInput)
    async def bad_filter(request: Request, exc: InvalidInput) -> Response:
        tr = translator(request)
        message = tr.gettext("This filter cannot be used: %(problem)s. Change it and try again.")
        return _error(request, 400, message % {"problem": f"{exc.field}: {exc.problem}"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if "text/html" not in request.headers.get("accept", ""):
            code = "not_found" if exc.status_code == 404 else "http_error"
            return JSONResponse({"code": code, "message": str(exc.detail), "field": None}, status_code=exc.status_code)
        tr = translator(request)
        text = tr.gettext("There is no page here.") if exc.status_code == 404 else str(exc.detail)
        return _error(request, exc.status_code, text)

    return app


def _error(request: Request, status_code: int, message: str) -> HTMLResponse:
    return render(request, "error.html", scope=None, status_code=status_code, message=message, nav=())
