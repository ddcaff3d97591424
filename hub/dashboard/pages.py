"""The dashboard's pages: sign-in and out, the language switch, the overview and the live event feed.

Each page is a plain URL whose query string carries its filters (:mod:`hub.dashboard.periods`); the parts
that refresh themselves are fragments under ``/fragments/`` that htmx polls and swaps in place.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import db
from hub.api.accounts import revoke_token
from hub.api.scope import Scope
from hub.api.settings import PASSWORD_MAX_CHARS

from . import figures
from .i18n import LANGUAGES, N_
from .periods import PRESETS, Filters, filters_of
from .web import (
    LANGUAGE_COOKIE,
    LANGUAGE_COOKIE_MAX_AGE_S,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    BadCsrf,
    csrf_for,
    dashboard,
    new_login_csrf,
    redirect,
    render,
    safe_next,
    same,
    session_scope,
    translator,
)

router = APIRouter(include_in_schema=False)
Session = Annotated[Scope, Depends(session_scope)]
FORM_FIELD_MAX_CHARS: Final = max(PASSWORD_MAX_CHARS, 2048)
"""Longest value a dashboard form field may carry."""


EVENT_LABELS: Final = {
    "sale": N_("Sale"),
    "refund": N_("Refund"),
    "enrolment": N_("New member"),
    "customer_update": N_("Member updated"),
    "stock_count": N_("Stock count"),
    "stock_alert": N_("Stock alert"),
    "reorder_request": N_("Reorder request"),
    "consent": N_("Consent"),
}
"""What the live feed calls each kind of event; other kinds show their wire name."""


async def _form(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=20)
    return {k: v[:FORM_FIELD_MAX_CHARS] for k, v in form.items() if isinstance(v, str)}


def _single_tenant(request: Request) -> str:
    with dashboard(request).engine.begin() as conn:
        tenants = conn.execute(sa.select(db.tenant.c.tenant).limit(2)).scalars().all()
    return tenants[0] if len(tenants) == 1 else ""


def _login_page(
    request: Request, *, error: str | None = None, status_code: int = 200, tenant: str = "", email: str = ""
) -> HTMLResponse:
    token = new_login_csrf()
    response = render(
        request,
        "login.html",
        scope=None,
        status_code=status_code,
        login_csrf=token,
        error=error,
        tenant=tenant or request.query_params.get("tenant", "") or _single_tenant(request),
        email=email,
        next=safe_next(request.query_params.get("next")),
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=dashboard(request).secure_cookies,
        path="/login",
        max_age=3600,
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return _login_page(request)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await _form(request)
    tr = translator(request)
    if not same(form.get("csrf"), request.cookies.get(LOGIN_COOKIE)):
        return _login_page(request, error=tr.gettext("The form had expired. Please sign in again."), status_code=403)
    d = dashboard(request)
    tenant, email, password = form.get("tenant", "").strip(), form.get("email", "").strip(), form.get("password", "")
    address = request.client.host if request.client is not None else "unknown"
    wait_s = d.authenticator.address_wait_s(address)
    if wait_s:
        message = tr.gettext("Too many failed sign-ins from this address. Try again in %(seconds)s s.")
        return _login_page(request, error=message % {"seconds": wait_s}, status_code=429, tenant=tenant, email=email)
    if not tenant or not email or not password:
        return _login_page(
            request, error=tr.gettext("Fill in the network, email and password."), status_code=400, tenant=tenant
        )
    with d.engine.begin() as conn:
        outcome = d.authenticator.login(conn, tenant=tenant, email=email, password=password, address=address)
    if outcome.locked_for_s:
        message = tr.gettext("This account is locked after too many failed sign-ins. Try again in %(seconds)s s.")
        return _login_page(
            request, error=message % {"seconds": outcome.locked_for_s}, status_code=429, tenant=tenant, email=email
        )
    if outcome.token is None or outcome.expires_at is None:
        return _login_page(
            request,
            error=tr.gettext("Wrong network, email or password."),
            status_code=401,
            tenant=tenant,
            email=email,
        )
    response = redirect(safe_next(form.get("next")))
    max_age = max(1, int((outcome.expires_at - d.settings.clock()).total_seconds()))
    response.set_cookie(
        SESSION_COOKIE,
        outcome.token,
        httponly=True,
        samesite="strict",
        secure=d.secure_cookies,
        path="/",
        max_age=max_age,
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, scope: Session) -> RedirectResponse:
    form = await _form(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    if not same(form.get("csrf"), csrf_for(token)):
        raise BadCsrf("the sign-out form had expired: reload the page and sign out again")
    revoke_token(scope.conn, scope.token_sha256, now=scope.now)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{language}")
def switch_language(language: str, request: Request) -> RedirectResponse:
    """Remember the language in a cookie and go back where the switch was pressed."""
    response = redirect(safe_next(request.query_params.get("next")))
    if language in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE, language, samesite="strict", path="/", max_age=LANGUAGE_COOKIE_MAX_AGE_S, httponly=True
        )
    return response


def _page_context(scope: Scope, filters: Filters) -> dict[str, Any]:
    return {
        "filters": filters,
        "presets": PRESETS,
        "stores": figures.scope_stores(scope),
        "retailers": figures.scope_retailers(scope),
    }


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, scope: Session) -> HTMLResponse:
    filters = filters_of(scope, request.query_params)
    return render(request, "overview.html", scope=scope, **_page_context(scope, filters), **_overview(scope, filters))


@router.get("/fragments/overview", response_class=HTMLResponse)
def overview_fragment(request: Request, scope: Session) -> HTMLResponse:
    filters = filters_of(scope, request.query_params)
    return render(request, "_overview_figures.html", scope=scope, filters=filters, **_overview(scope, filters))


def _overview(scope: Scope, filters: Filters) -> dict[str, Any]:
    period = filters.period
    return {
        "period_figures": figures.headline(scope, filters, period.start, period.end),
        "comparison": figures.today_against_last_week(scope, filters),
        "updated_at": scope.now,
    }


@router.get("/live", response_class=HTMLResponse)
def live(request: Request, scope: Session) -> HTMLResponse:
    filters = filters_of(scope, request.query_params)
    return render(
        request,
        "live.html",
        scope=scope,
        **_page_context(scope, filters),
        items=figures.feed(scope, filters),
        labels=EVENT_LABELS,
        updated_at=scope.now,
    )


@router.get("/fragments/feed", response_class=HTMLResponse)
def feed_fragment(request: Request, scope: Session) -> HTMLResponse:
    filters = filters_of(scope, request.query_params)
    return render(
        request,
        "_feed.html",
        scope=scope,
        filters=filters,
        items=figures.feed(scope, filters),
        labels=EVENT_LABELS,
        updated_at=scope.now,
    )
