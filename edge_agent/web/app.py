"""The counter application's web server: the app factory, sessions, CSRF, languages and page rendering.

:func:`create_app` builds a FastAPI application from a factory of the box's services and a
:class:`WebAppSettings`. Nothing lives in module globals: the sessions, the catalogues, the templates and the
services hang off ``app.state.web`` (a :class:`WebApp`), so two apps in one process (tests) never share
state.

Security, in short: every page but the sign-in page needs a session (an unknown or expired one is sent to
``/login``); the session cookie holds only a random token, is ``HttpOnly`` and ``SameSite=Strict``; every
form post carries the session's CSRF token (``csrf`` field or ``X-CSRF-Token`` header), and the sign-in
form a double-submit token of its own; responses forbid framing and caching, and the content security
policy allows only the box's own scripts and styles (nothing is fetched from the internet: the box may be
offline).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import jinja2
from argon2 import PasswordHasher
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import FormData

from core.errors import CoreError, http_status_for
from edge_agent.errors import EdgeError
from edge_agent.web.auth import SessionRegistry, WebSession, csrf_matches
from edge_agent.web.gate import GateBusy, ServiceGate
from edge_agent.web.i18n import LANGUAGE_NAMES, LANGUAGES, Languages, Translator
from edge_agent.web.services import WebServices

log = logging.getLogger(__name__)

T = TypeVar("T")

HERE: Final = Path(__file__).parent
SESSION_COOKIE: Final = "mo_session"
LOGIN_COOKIE: Final = "mo_login"
MAX_FORM_FIELDS: Final = 200
"""Fields one form post may carry (the refund form has one per sale line)."""
MAX_FORM_BYTES: Final = 512 * 1024
"""Largest form body accepted (a signature's path data is the biggest field)."""

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class WebAppSettings:
    """How the counter UI behaves; every field has the box's default.

    ``language`` is used when the shop's ``settings`` config names none; ``locales`` overrides the Babel
    locale of a language (``{"es": "es_ES"}`` for a shop in Spain); ``secure_cookies`` marks cookies
    ``Secure`` (only when the UI is served over HTTPS); ``pin_hasher`` replaces the argon2 parameters
    (tests use cheap ones).
    """

    language: str = "es"
    locales: dict[str, str] = field(default_factory=dict)
    secure_cookies: bool = False
    pin_hasher: PasswordHasher | None = None
    sessions: SessionRegistry | None = None


class WebApp:
    """The state of one counter UI: settings, the service gate, sessions, catalogues and templates."""

    def __init__(self, gate: ServiceGate[WebServices], settings: WebAppSettings) -> None:
        self.gate = gate
        self.settings = settings
        self.sessions = settings.sessions if settings.sessions is not None else SessionRegistry()
        self.languages = Languages(settings.locales)
        self.hasher = settings.pin_hasher or PasswordHasher()
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            extensions=["jinja2.ext.i18n"],
        )
        self.templates.install_gettext_callables(  # type: ignore[attr-defined]
            _context_gettext, _context_ngettext, newstyle=True
        )

    # -- languages -------------------------------------------------------------------------------------
    async def shop_language(self) -> str:
        language = await self.gate.run(lambda s: s.shop_language())
        return language if language in LANGUAGES else self.settings.language

    async def translator(self, session: WebSession | None, request: Request | None = None) -> Translator:
        if session is not None and session.language:
            return self.languages.translator(session.language)
        if request is not None and request.query_params.get("lang") in LANGUAGES:
            return self.languages.translator(str(request.query_params["lang"]))
        return self.languages.translator(await self.shop_language())

    # -- pages -----------------------------------------------------------------------------------------
    async def render(
        self,
        request: Request,
        template: str,
        session: WebSession | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        tr = await self.translator(session, request)
        notes = list(session.notes) if session else []
        if session:
            session.notes.clear()
        body = self.templates.get_template(template).render(
            tr=tr,
            lang=tr.language,
            session=session,
            csrf=session.csrf if session else context.pop("login_csrf", ""),
            notes=notes,
            languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            path=request.url.path,
            errors=context.pop("errors", {}),
            values=context.pop("values", {}),
            **context,
        )
        return HTMLResponse(body, status_code=status_code)

    async def run(self, fn: Callable[[WebServices], T]) -> T:
        return await self.gate.run(fn)


@jinja2.pass_context
def _context_gettext(context: jinja2.runtime.Context, message: str) -> str:
    tr: Translator = context["tr"]
    return tr.gettext(message)


@jinja2.pass_context
def _context_ngettext(context: jinja2.runtime.Context, singular: str, plural: str, n: int) -> str:
    tr: Translator = context["tr"]
    return tr.ngettext(singular, plural, n)


def web(request: Request) -> WebApp:
    """The :class:`WebApp` of the application serving ``request``."""
    state: WebApp = request.app.state.web
    return state


class NotSignedIn(EdgeError):
    """The request has no live session; the handler answers with a redirect to the sign-in page."""

    code = "not_signed_in"


def session_of(request: Request) -> WebSession:
    """The request's live session, or :class:`NotSignedIn`."""
    session = web(request).sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise NotSignedIn()
    return session


def manager_of(request: Request) -> WebSession:
    """The request's session if its cashier is a manager; 403 otherwise."""
    session = session_of(request)
    if not session.cashier.is_manager:
        raise HTTPException(status_code=403, detail="managers only")
    return session


async def read_form(request: Request) -> dict[str, str]:
    """The posted form as plain strings (bounded in fields and size); repeated keys keep the last value."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        raise HTTPException(status_code=413, detail="form too large")
    form: FormData = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def checked_form(request: Request, session: WebSession) -> dict[str, str]:
    """The posted form, after checking its CSRF token against the session's; 403 if it does not match."""
    form = await read_form(request)
    given = form.get("csrf") or request.headers.get("x-csrf-token")
    if not csrf_matches(session.csrf, given):
        raise HTTPException(status_code=403, detail="the form is out of date; reload the page and try again")
    return form


def redirect(url: str) -> RedirectResponse:
    """Post/redirect/get: a 303 so a reload never posts twice."""
    return RedirectResponse(url, status_code=303)


def create_app(
    services: Callable[[], WebServices],
    settings: WebAppSettings | None = None,
    *,
    close_services: Callable[[WebServices], None] | None = None,
) -> FastAPI:
    """The counter UI as a FastAPI application.

    ``services`` is called once, on the UI's service thread, to build the :class:`WebServices` (the store's
    SQLite connection must be opened on the thread that uses it); every service call of every request runs
    on that thread. ``close_services`` is called there when the application shuts down.
    """
    settings = settings or WebAppSettings()
    gate: ServiceGate[WebServices] = ServiceGate(services, close_services)
    state = WebApp(gate, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            if not state.sessions.bound:
                # Sessions live in the box's database, so a restart signs nobody out.
                state.sessions.bind(await gate.run(lambda s: s.store.path))
            yield
        finally:
            gate.shutdown()
            state.sessions.close_database()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = state

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(NotSignedIn)
    async def to_login(request: Request, _exc: NotSignedIn) -> Response:
        response = redirect("/login")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.exception_handler(GateBusy)
    async def busy(request: Request, exc: GateBusy) -> Response:
        return HTMLResponse(str(exc), status_code=503, headers={"Retry-After": "2"})

    @app.exception_handler(EdgeError)
    @app.exception_handler(CoreError)
    async def app_error(request: Request, exc: Exception) -> Response:
        # What a page did not handle itself: the error page, with the status of the error's kind.
        assert isinstance(exc, EdgeError | CoreError)
        status = http_status_for(exc)
        log.warning("%s %s refused: %s (%s)", request.method, request.url.path, exc, exc.code)
        session = state.sessions.get(request.cookies.get(SESSION_COOKIE))
        return await state.render(request, "error.html", session, status_code=status, status=status, detail=str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        session = state.sessions.get(request.cookies.get(SESSION_COOKIE))
        return await state.render(
            request, "error.html", session, status_code=exc.status_code, status=exc.status_code, detail=exc.detail
        )

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    from edge_agent.web import pages_admin, pages_customers, pages_login, pages_receipts, pages_sale, pages_stock

    for module in (pages_login, pages_sale, pages_customers, pages_receipts, pages_stock, pages_admin):
        app.include_router(module.router)
    return app


def set_session_cookie(response: Response, session: WebSession, settings: WebAppSettings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
        path="/",
    )


def new_login_token() -> str:
    return secrets.token_urlsafe(24)
