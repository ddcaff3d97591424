"""The tenant's API users (distributor admin only): list, create, read, change (role, scope, password,
active, unlock)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from ..accounts import DEVICES_MAX, EmailTaken, Role, User, create_user, get_user, list_users, update_user
from ..errors import ERROR_RESPONSES, Conflict, NotFound
from ..paging import Page, PageParams, page_params
from ..scope import ADMIN, Scope, allow
from ..settings import PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS, ApiSettings

router = APIRouter(prefix="/users", tags=["users"], responses=ERROR_RESPONSES)
Admin = Annotated[Scope, Depends(allow(*ADMIN))]

DeviceId = Annotated[str, Field(min_length=1, max_length=64)]
Password = Annotated[str, Field(min_length=PASSWORD_MIN_CHARS, max_length=PASSWORD_MAX_CHARS)]


class UserOut(BaseModel):
    """A user as an admin sees it (never its password hash)."""

    id: uuid.UUID
    email: str
    role: Role
    retailer: str | None
    manufacturer: str | None = None
    devices: list[str]
    active: bool
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime


def _out(u: User) -> UserOut:
    return UserOut(
        id=u.id,
        email=u.email,
        role=u.role,
        retailer=u.retailer,
        manufacturer=u.manufacturer,
        devices=list(u.devices),
        active=u.active,
        locked_until=u.locked_until,
        created_at=u.created_at,
        updated_at=u.updated_at,
    )


class UserIn(BaseModel):
    """A new user. ``retailer`` is required for (and only for) the retailer role, ``manufacturer`` for the
    manufacturer role; ``devices`` only for a technician."""

    email: str = Field(min_length=3, max_length=254)
    password: Password
    role: Role
    retailer: str | None = Field(default=None, min_length=1, max_length=64)
    manufacturer: str | None = Field(default=None, min_length=1, max_length=64)
    devices: list[DeviceId] = Field(default_factory=list, max_length=DEVICES_MAX)


class UserPatch(BaseModel):
    """Fields to change; absent fields stay. A new ``role`` takes the ``retailer``/``devices`` sent with it.
    ``active`` false or a new ``password`` revokes the user's tokens; ``unlock`` lifts a login lockout."""

    role: Role | None = None
    retailer: str | None = Field(default=None, min_length=1, max_length=64)
    manufacturer: str | None = Field(default=None, min_length=1, max_length=64)
    devices: list[DeviceId] | None = Field(default=None, max_length=DEVICES_MAX)
    active: bool | None = None
    password: Password | None = None
    unlock: bool = False


def _settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def _get(scope: Scope, user_id: uuid.UUID) -> User:
    try:
        return get_user(scope.conn, scope.tenant, user_id)
    except LookupError:
        raise NotFound(f"no user {user_id} in your tenant", code="user_not_found", field="user_id") from None


@router.get("", response_model=Page[UserOut], summary="List the tenant's users by email")
def users(scope: Admin, paging: Annotated[PageParams, Depends(page_params)]) -> Page[UserOut]:
    rows = list_users(scope.conn, scope.tenant, limit=paging.limit + 1, offset=paging.offset)
    more = len(rows) > paging.limit
    return Page(
        items=[_out(u) for u in rows[: paging.limit]],
        limit=paging.limit,
        offset=paging.offset,
        next_offset=paging.offset + paging.limit if more else None,
    )


@router.post(
    "",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a user",
    responses={409: {"description": "The email already has a user in this tenant (code `email_taken`)"}},
)
def add_user(body: UserIn, scope: Admin, request: Request) -> UserOut:
    try:
        user = create_user(
            scope.conn,
            _settings(request),
            tenant=scope.tenant,
            email=body.email,
            password=body.password,
            role=body.role,
            retailer=body.retailer,
            devices=body.devices,
            manufacturer=body.manufacturer,
        )
    except EmailTaken as exc:
        raise Conflict(exc.problem, code=exc.code, field="email") from None
    return _out(user)


@router.get("/{user_id}", response_model=UserOut, summary="One user")
def user(user_id: uuid.UUID, scope: Admin) -> UserOut:
    return _out(_get(scope, user_id))


@router.patch("/{user_id}", response_model=UserOut, summary="Change a user")
def change_user(user_id: uuid.UUID, body: UserPatch, scope: Admin, request: Request) -> UserOut:
    _get(scope, user_id)
    return _out(
        update_user(
            scope.conn,
            _settings(request),
            scope.tenant,
            user_id,
            role=body.role,
            retailer=body.retailer,
            devices=body.devices,
            active=body.active,
            password=body.password,
            unlock=body.unlock,
            manufacturer=body.manufacturer,
        )
    )
