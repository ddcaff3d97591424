"""The dashboard's web plumbing: sessions over the API's tokens, CSRF, languages, rendering, HTML errors.

* **Session.** Signing in runs the API's own login (:class:`hub.api.accounts.Authenticator`, with its limits
  and lockouts) and puts the bearer token it hands out in the ``mo_dash`` cookie: ``HttpOnly`` (no script
  reads it), ``SameSite=Strict`` (no other site's page sends it), ``Path=/``, lasting as long as the token.
  Every request resolves the cookie with :func:`hub.api.accounts.resolve_token` into the API's
  :class:`~hub.api.scope.Scope`, so the dashboard sees exactly what the caller's API token sees.
* **CSRF.** Each form carries a token: for a signed-in user an HMAC of the session token (nothing to store;
  it changes with every sign-in), for the sign-in form a random double-submit value also set as a cookie.
* **Headers.** A content security policy allowing only the hub's own scripts and styles (every asset is
  served from ``/static``; nothing comes from a CDN), no framing, no caching of pages.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.engine import Connection, Engine

from hub.api.accounts import Authenticator, Role, resolve_token
from hub.api.scope import Scope
from hub.api.settings import ApiSettings
from hub.errors import HubError

from .i18n import LANGUAGE_NAMES, LANGUAGES, N_, Languages, Translator

HERE: Final = Path(__file__).parent
SESSION_COOKIE: Final = "mo_dash"
LOGIN_COOKIE: Final = "mo_dash_login"
LANGUAGE_COOKIE: Final = "mo_dash_lang"
LANGUAGE_COOKIE_MAX_AGE_S: Final = 365 * 24 * 3600
DASHBOARD_ROLES: Final = frozenset({Role.DISTRIBUTOR_ADMIN, Role.ANALYST, Role.RETAILER})
"""Roles that may use the dashboard; a technician's tools are elsewhere."""

NAV: Final = (
    ("/", N_("Overview")),
    ("/live", N_("Live")),
    ("/sellers", N_("Best sellers")),
    ("/top", N_("Top")),
    ("/heatmap", N_("Hours")),
)
"""The navigation, in order: path and label."""
ROLE_NAMES: Final = {
    Role.DISTRIBUTOR_ADMIN.value: N_("Distributor admin"),
    Role.ANALYST.value: N_("Analyst"),
    Role.RETAILER.value: N_("Retailer"),
    Role.TECHNICIAN.value: N_("Technician"),
    Role.MANUFACTURER.value: N_("Manufacturer"),
}
"""Each role as the page header names it."""

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class DashboardError(HubError):
    """Root of the dashboard's own errors."""

    code = "dashboard_error"


class NotSignedIn(DashboardError, PermissionError):
    """No session cookie, or one whose token is unknown, expired or revoked: sign in again."""

    code = "not_signed_in"


class NotForRole(DashboardError, PermissionError):
    """The caller's role has no dashboard (a technician)."""

    code = "role_has_no_dashboard"


class BadCsrf(DashboardError, PermissionError):
    """A form posted without the token of the page it came from: reload the page and send it again."""

    code = "bad_csrf"


@dataclass(frozen=True)
class Dashboard:
    """Everything a request needs, kept on ``app.state.dashboard`` (nothing in module globals)."""

    engine: Engine
    settings: ApiSettings
    authenticator: Authenticator
    languages: Languages
    templates: jinja2.Environment
    secure_cookies: bool


def build_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env


# Jinja's new-style gettext fills the ``%(name)s`` placeholders itself, escaping the values.
@jinja2.pass_context
def _gettext(context: jinja2.runtime.Context, message: str) -> str:
    return str(context["tr"].gettext(message))


@jinja2.pass_context
def _ngettext(context: jinja2.runtime.Context, singular: str, plural: str, n: int) -> str:
    return str(context["tr"].ngettext(singular, plural, n))


def dashboard(request: Request) -> Dashboard:
    state: Dashboard = request.app.state.dashboard
    return state


def translator(request: Request) -> Translator:
    d = dashboard(request)
    language = d.languages.pick(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    return d.languages.translator(language)


def csrf_for(token: str) -> str:
    """The CSRF token of a session: an HMAC of its bearer token, so nothing has to be stored for it."""
    return hmac.new(token.encode("utf-8"), b"mostrador-dashboard-csrf", hashlib.sha256).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def session_scope(request: Request) -> Iterator[Scope]:
    """The signed-in caller's :class:`Scope` in a read transaction; :class:`NotSignedIn` without a session,
    :class:`NotForRole` for a role that has no dashboard."""
    d = dashboard(request)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NotSignedIn("sign in to see the dashboard")
    with d.engine.begin() as conn:
        scope = scope_for(conn, d, token)
        yield scope


def scope_for(conn: Connection, d: Dashboard, token: str) -> Scope:
    now = d.settings.clock()
    owner = resolve_token(conn, token, now=now)
    if owner is None:
        raise NotSignedIn("your session has ended: sign in again")
    if owner.user.role not in DASHBOARD_ROLES:
        raise NotForRole(f"the {owner.user.role.value} role has no dashboard")
    return Scope(owner.user, owner.token_sha256, conn, now)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never ``//host`` or a full address)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def render(
    request: Request, template: str, *, scope: Scope | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    d = dashboard(request)
    tr = translator(request)
    token = request.cookies.get(SESSION_COOKIE)
    body = d.templates.get_template(template).render(
        request=request,
        tr=tr,
        user=scope.user if scope is not None else None,
        csrf=csrf_for(token) if scope is not None and token else context.pop("login_csrf", ""),
        languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        path=request.url.path,
        here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        poll_s=d.settings.dashboard_poll_s,
        role_names=ROLE_NAMES,
        nav=context.pop("nav", NAV),
        **context,
    )
    return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def to_sign_in(request: Request) -> HTMLResponse | RedirectResponse:
    """Send a caller without a session to the sign-in page; an htmx request is told to go there itself."""
    target = "/login?next=" + _quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    if request.headers.get("hx-request"):
        response: HTMLResponse | RedirectResponse = HTMLResponse("", status_code=401, headers={"HX-Redirect": target})
    else:
        response = redirect(target)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="/")
