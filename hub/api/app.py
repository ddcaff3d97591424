"""The FastAPI application of the hub's API: :func:`create_app` wires settings, the database and routers."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from . import errors
from .accounts import Authenticator
from .routers import (
    auth,
    customers,
    events,
    insights,
    manufacturers,
    network,
    operations,
    points,
    promotions,
    sales,
    segments,
    users,
)
from .settings import ApiSettings
from .text_guard import RejectNul

API_VERSION = "1"
ROUTERS = (
    auth.router,
    sales.router,
    events.router,
    operations.router,
    points.router,
    users.router,
    customers.router,
    promotions.router,
    network.router,
    segments.router,
    insights.router,
    manufacturers.router,
)
"""Every router of the API, in the order they are mounted."""
DESCRIPTION = """\
The distributor's hub: sales, business events, counter boxes, the points ledger, customers, promotions,
stores, the catalogue and stock, and the tenant's users.

Log in with `POST /auth/login` and send the token as `Authorization: Bearer <token>`. Everything is scoped
to the caller's tenant; a retailer sees only its own stores and customers; a technician only its assigned boxes; a
manufacturer only the sell-out of the brands granted to it. Ids
outside your scope answer 404, like ids that do not exist. Errors are `{"code", "message", "field"}` with a
stable `code`; schema errors are 422 with FastAPI's `detail` list naming each field (`loc`, `msg`).
"""


def create_app(engine: Engine, settings: ApiSettings | None = None) -> FastAPI:
    """The API over ``engine`` (already migrated). ``/openapi.json`` is the OpenAPI document; ``/docs`` its
    pages, unless ``settings.docs`` is false."""
    settings = settings or ApiSettings()
    app = FastAPI(
        title="Mostrador hub API",
        version=API_VERSION,
        description=DESCRIPTION,
        docs_url="/docs" if settings.docs else None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.authenticator = Authenticator(settings)
    errors.install(app)
    app.add_middleware(RejectNul)
    for router in ROUTERS:
        app.include_router(router)
    return app
