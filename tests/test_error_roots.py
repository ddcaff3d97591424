"""One error root per package: every exception the hub defines is a ``HubError``, every one the counter
application defines an ``EdgeError``, each with a stable code, beside ``CoreError`` and ``HardwareError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from core.errors import CoreError, http_status_for
from edge_agent.errors import EdgeError
from hardware.errors import HardwareError
from hub.errors import HubError

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 fork for its test client; httpx (a project dependency) still works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

ROOTS: dict[str, type[BaseException]] = {
    "core": CoreError,
    "hardware": HardwareError,
    "edge_agent": EdgeError,
    "hub": HubError,
}


def defined_exceptions(package: str) -> list[type[BaseException]]:
    """Every exception class defined in ``package``'s modules (migrations and entry points aside)."""
    root = importlib.import_module(package)
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        found += [
            value
            for value in vars(module).values()
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name
        ]
    return found


@pytest.mark.parametrize("package", sorted(ROOTS))
def test_every_exception_of_a_package_derives_from_its_root_and_has_a_code(package: str) -> None:
    classes = defined_exceptions(package)
    assert classes, f"{package} defines no exception: is the walk broken?"
    outside = [c.__qualname__ for c in classes if not issubclass(c, ROOTS[package])]
    assert outside == [], f"{package} exceptions outside {ROOTS[package].__name__}: {outside}"
    without_code = [
        c.__qualname__ for c in classes if not isinstance(code := getattr(c, "code", None), str) or not code
    ]
    assert without_code == [], f"{package} exceptions without a stable code: {without_code}"


def test_a_packages_own_kind_of_bad_input_is_still_bad_input() -> None:
    from edge_agent.catalogue import UnknownBarcode
    from hub.customers import UnknownCustomer

    assert issubclass(UnknownBarcode, CoreError) and issubclass(UnknownBarcode, EdgeError)
    assert issubclass(UnknownCustomer, CoreError) and issubclass(UnknownCustomer, HubError)
    assert UnknownBarcode.code != EdgeError.code  # the leaf's own code wins over the root's


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (PermissionError("no"), 403),
        (KeyError("k"), 404),
        (ValueError("v"), 400),
        (RuntimeError("r"), 409),
        (TimeoutError("t"), 503),
        (OSError("o"), 503),
        (Exception("e"), 500),
    ],
)
def test_an_error_answers_with_the_status_of_its_kind(error: BaseException, status: int) -> None:
    assert http_status_for(error) == status


def test_the_hub_api_maps_every_hub_error_in_one_place() -> None:
    from fastapi import FastAPI

    from hub.api import errors
    from hub.ledger import UnknownProgram
    from hub.mqtt import BrokerUnavailable

    app = FastAPI()
    errors.install(app)

    @app.get("/broker")
    def broker() -> None:
        raise BrokerUnavailable("the broker at 127.0.0.1:1 does not answer")

    @app.get("/program")
    def program() -> None:
        raise UnknownProgram("no program 'p'")

    with TestClient(app) as client:
        answer = client.get("/broker")
        assert (answer.status_code, answer.json()["code"]) == (503, "broker_unavailable")
        answer = client.get("/program")
        assert (answer.status_code, answer.json()["code"]) == (404, UnknownProgram.code)


def test_the_mpos_shows_its_error_page_for_an_error_no_page_handled(tmp_path: Path) -> None:
    from edge_agent.store import OutboxFull
    from edge_agent.web import WebAppSettings, create_app
    from tests.edge_agent.web.conftest import CHEAP_HASHER, build_services

    app = create_app(lambda: build_services(tmp_path / "box.sqlite3"), WebAppSettings(pin_hasher=CHEAP_HASHER))

    @app.get("/full")
    def full() -> None:
        raise OutboxFull("the outbox holds 1,000,000 events")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/full")
    assert answer.status_code == 503
    assert "<html" in answer.text and "/sale" in answer.text  # the error page, with its way back
