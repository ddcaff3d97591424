"""Signing in and out, and the language of a session."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from edge_agent.checkout import Sale, SaleState
from edge_agent.web.app import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    checked_form,
    new_login_token,
    read_form,
    redirect,
    session_of,
    set_session_cookie,
    web,
)
from edge_agent.web.auth import LoginRefused, authenticate, csrf_matches
from edge_agent.web.forms import FieldErrors, text
from edge_agent.web.i18n import LANGUAGES, N_

router = APIRouter()


async def _login_page(
    request: Request, errors: FieldErrors | None = None, values: dict[str, str] | None = None, status: int = 200
) -> Response:
    state = web(request)
    token = new_login_token()
    tr = await state.translator(None, request)
    response = await state.render(
        request,
        "login.html",
        None,
        status_code=status,
        login_csrf=token,
        errors=(errors or FieldErrors()).render(tr),
        values={"cashier_id": (values or {}).get("cashier_id", "")},
        lang_query=request.query_params.get("lang", ""),
    )
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=state.settings.secure_cookies, path="/login"
    )
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    if web(request).sessions.get(request.cookies.get(SESSION_COOKIE)) is not None:
        return redirect("/sale")
    return await _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    state = web(request)
    form = await read_form(request)
    if not csrf_matches(request.cookies.get(LOGIN_COOKIE, ""), form.get("csrf")):
        raise HTTPException(status_code=403, detail="the sign-in form is out of date; reload the page")
    errors = FieldErrors()
    cashier_id = text(form, "cashier_id", errors, max_chars=32)
    pin = text(form, "pin", errors, max_chars=8)
    if pin and not (pin.isascii() and pin.isdigit()):
        errors.add("pin", N_("A PIN is digits only."))
    if errors:
        return await _login_page(request, errors, form, status=422)
    hasher = state.hasher
    try:
        cashier = await state.run(lambda s: authenticate(s.store, cashier_id, pin, hasher=hasher))
    except LoginRefused as refused:
        if refused.reason == "locked":
            until = refused.locked_until or datetime.now(UTC)
            minutes = max(1, int((until - datetime.now(until.tzinfo)).total_seconds() + 59) // 60)
            errors.add("", N_("Too many wrong PINs. Try again in %(minutes)s minutes."), minutes=minutes)
        else:
            errors.add("pin", N_("Wrong cashier or PIN."))
        return await _login_page(request, errors, form, status=401)
    language = request.query_params.get("lang") or form.get("lang")
    session = state.sessions.open(cashier, language if language in LANGUAGES else None)
    response = redirect("/sale")
    set_session_cookie(response, session, state.settings)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    state = web(request)
    session = session_of(request)
    await checked_form(request, session)
    state.sessions.close(session.token)
    sale = session.sale
    if isinstance(sale, Sale) and sale.state is SaleState.OPEN:
        # Nothing of an open sale is written yet; cancelling gives back any wallet payment already approved.
        await state.run(lambda _s: sale.cancel())
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/language")
async def set_language(request: Request) -> Response:
    session = session_of(request)
    form = await checked_form(request, session)
    language = form.get("language", "")
    if language not in LANGUAGES:
        raise HTTPException(status_code=422, detail=f"language must be one of {', '.join(LANGUAGES)}")
    web(request).sessions.set_language(session, language)
    back = form.get("next", "/sale")
    return redirect(back if back.startswith("/") and not back.startswith("//") else "/sale")


@router.get("/")
async def home(request: Request) -> Response:
    session_of(request)
    return redirect("/sale")
