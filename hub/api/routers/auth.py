"""Logging in and out: a bearer token for a tenant, email and password; the caller's own profile."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from ..accounts import Authenticator, Role, revoke_token
from ..errors import ERROR_RESPONSES, TooManyAttempts, Unauthorized
from ..scope import ALL_ROLES, Scope, allow
from ..settings import PASSWORD_MAX_CHARS

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginIn(BaseModel):
    """Credentials: the tenant, the user's email and password."""

    tenant: str = Field(min_length=1, max_length=64, description="the distributor's tenant id")
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX_CHARS)


class TokenOut(BaseModel):
    """Send ``access_token`` as ``Authorization: Bearer <access_token>`` until ``expires_at``."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret
    expires_at: datetime


class MeOut(BaseModel):
    """The caller as the hub knows it."""

    id: uuid.UUID
    tenant: str
    email: str
    role: Role
    retailer: str | None
    devices: list[str]
    token_expires_at: datetime | None = None


@router.post(
    "/login",
    response_model=TokenOut,
    summary="Exchange credentials for a bearer token",
    responses={
        401: {"description": "Wrong tenant, email or password, or an inactive user (code `invalid_credentials`)"},
        429: {"description": "Too many failed logins for this account or address; see Retry-After"},
    },
)
def login(body: LoginIn, request: Request) -> TokenOut:
    auth: Authenticator = request.app.state.authenticator
    engine: Engine = request.app.state.engine
    address = request.client.host if request.client is not None else "unknown"
    wait_s = auth.address_wait_s(address)
    if wait_s:
        raise TooManyAttempts(
            f"too many failed logins from your address: try again in {wait_s} s", retry_after_s=wait_s
        )
    # Its own transaction: a failed attempt must be counted (committed) even though the answer is an error.
    with engine.begin() as conn:
        outcome = auth.login(conn, tenant=body.tenant, email=body.email, password=body.password, address=address)
    if outcome.locked_for_s:
        raise TooManyAttempts(
            f"this account is locked after too many failed logins: try again in {outcome.locked_for_s} s, "
            "or ask your distributor admin to unlock it",
            retry_after_s=outcome.locked_for_s,
        )
    if outcome.token is None or outcome.expires_at is None:
        raise Unauthorized("wrong tenant, email or password", code="invalid_credentials")
    return TokenOut(access_token=outcome.token, expires_at=outcome.expires_at)


Anyone = Annotated[Scope, Depends(allow(*ALL_ROLES))]


@router.post("/logout", status_code=204, summary="Revoke the token used for this call", responses=ERROR_RESPONSES)
def logout(scope: Anyone) -> None:
    revoke_token(scope.conn, scope.token_sha256, now=scope.now)


@router.get("/me", response_model=MeOut, summary="Who the token belongs to", responses=ERROR_RESPONSES)
def me(scope: Anyone) -> MeOut:
    u = scope.user
    return MeOut(id=u.id, tenant=u.tenant, email=u.email, role=u.role, retailer=u.retailer, devices=list(u.devices))
