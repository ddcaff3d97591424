"""Errors of the hub's HTTP API and how they become responses.

::

    ApiError                   root: an HTTP status, a stable ``code`` and a message for people
     +-- BadRequest      400   a value the schema accepts but the hub cannot use (``field`` names it)
     +-- Unauthorized    401   no token, or one that is unknown, expired or revoked
     +-- Forbidden       403   the caller's role may not use this endpoint
     +-- NotFound        404   nothing with this id in the caller's scope (another tenant's or retailer's
     |                         ids are reported exactly like ids that do not exist)
     +-- Conflict        409   the request clashes with what exists (an email already in use, a closed period)
     +-- TooManyAttempts 429   too many failed logins; ``retry_after_s`` says when to try again

Every error body is ``{"code": ..., "message": ..., "field": ...}`` (``field`` may be null). Schema errors
keep FastAPI's 422 body, ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``, which names each field.
``core.errors.InvalidInput`` raised by the domain becomes a 400 with its field; ledger period conflicts 409.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import CoreError, InvalidInput, http_status_for
from hub.errors import HubError
from hub.ledger.reports import PeriodConflict

log = logging.getLogger(__name__)


class ApiError(HubError):
    """Root of the API's errors."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def body(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class BadRequest(ApiError, ValueError):
    """A value the schema accepts but the hub cannot use."""

    status = 400
    code = "bad_request"


class Unauthorized(ApiError, PermissionError):
    """No token, or an unknown, expired or revoked one."""

    status = 401
    code = "unauthorized"


class Forbidden(ApiError, PermissionError):
    """The caller's role may not use the endpoint."""

    status = 403
    code = "forbidden"


class NotFound(ApiError, LookupError):
    """Nothing with this id in the caller's scope."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """The request clashes with what exists."""

    status = 409
    code = "conflict"


class TooManyAttempts(ApiError):
    """Too many failed logins; ``retry_after_s`` says when to try again."""

    status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"description": "No token, or an unknown, expired or revoked one (code `unauthorized`)"},
    403: {"description": "The caller's role may not use this endpoint (code `forbidden`)"},
}
"""Documented on every authenticated route."""


def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.retry_after_s)
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _invalid_input(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidInput)
    return JSONResponse({"code": exc.code, "message": exc.problem, "field": exc.field or None}, status_code=400)


def _period_conflict(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PeriodConflict)
    return JSONResponse({"code": exc.code, "message": str(exc), "field": None}, status_code=409)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404 and message == "Not Found":
        message = "no such path: see /openapi.json for the routes"
    return JSONResponse(
        {"code": code, "message": message, "field": None}, status_code=exc.status_code, headers=exc.headers
    )


def _hub_error(_request: Request, exc: Exception) -> JSONResponse:
    """Any other error of the hub or of core a route let through: its code and message, the status of its kind."""
    assert isinstance(exc, HubError | CoreError)
    status = http_status_for(exc)
    if status >= 500:
        log.error("request failed: %s (%s)", exc, exc.code)
    return JSONResponse({"code": exc.code, "message": str(exc), "field": None}, status_code=status)


def install(app: FastAPI) -> None:
    """Register the handlers that turn the errors above into their JSON bodies: the one place the API maps
    errors to responses."""
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(CoreError, _hub_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(InvalidInput, _invalid_input)
    app.add_exception_handler(PeriodConflict, _period_conflict)
    app.add_exception_handler(StarletteHTTPException, _http_error)
