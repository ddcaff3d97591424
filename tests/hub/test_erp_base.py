"""Exact money conversion, reorder grouping, and the Tryton connector's retry and error mapping (no server)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import pytest

from core.wire import ReorderLine, ReorderRequestData
from hub.erp import (
    ERPAuthFailed,
    ERPConnector,
    ERPDataError,
    ERPProtocolError,
    ERPRejected,
    ERPUnavailable,
    OrderLine,
    PurchaseRequest,
    purchase_requests_from_reorder,
    to_minor,
)
from hub.erp.tryton import TrytonConnector, TrytonSettings

# --- money ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "code", "minor"),
    [
        (Decimal("18.5000"), "MXN", 1850),
        (Decimal("0.01"), "MXN", 1),
        ("22", "MXN", 2200),
        (Decimal("-3.10"), "USD", -310),
        (Decimal("1500"), "JPY", 1500),
        (Decimal("1.234"), "KWD", 1234),
    ],
)
def test_decimal_prices_convert_exactly_to_minor_units(value: Decimal | str, code: str, minor: int) -> None:
    assert to_minor(value, code) == minor


@pytest.mark.parametrize(
    ("value", "code", "problem"),
    [
        (Decimal("1.2345"), "MXN", "more than 2 decimal places"),
        (Decimal("10.5"), "JPY", "more than 0 decimal places"),
        ("12,50", "MXN", "not a decimal number"),
        (Decimal("NaN"), "MXN", "not a finite amount"),
        (Decimal("1.00"), "XXQ", "unknown currency"),
    ],
)
def test_inexact_or_malformed_prices_are_refused(value: Decimal | str, code: str, problem: str) -> None:
    with pytest.raises(ERPDataError, match=problem):
        to_minor(value, code)


# --- purchase requests ------------------------------------------------------------------------------------


def test_reorder_lines_are_grouped_per_distributor_with_stable_references() -> None:
    event = ReorderRequestData(
        request_id="rr-9",
        store="tienda-1",
        lines=[
            ReorderLine(sku="A", qty=2, on_hand=0),
            ReorderLine(sku="B", qty=3, on_hand=1, distributor="Lácteos SA"),
            ReorderLine(sku="A", qty=1, on_hand=0),
        ],
    )

    requests = purchase_requests_from_reorder(event, default_supplier="SUP-EV")

    assert {(r.reference, r.supplier, r.lines) for r in requests} == {
        ("rr-9/SUP-EV", "SUP-EV", (OrderLine("A", 3),)),
        ("rr-9/Lácteos SA", "Lácteos SA", (OrderLine("B", 3),)),
    }


def test_purchase_request_refuses_empty_or_nonpositive_lines() -> None:
    with pytest.raises(ERPRejected, match="no lines"):
        PurchaseRequest("r1", "SUP", ())
    with pytest.raises(ERPRejected, match="at least 1"):
        OrderLine("A", 0)


# --- the Tryton connector against a scripted transport --------------------------------------------------------

Handler = Callable[[str, list[Any], Mapping[str, str]], tuple[int, dict[str, Any]]]


def ok(result: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"result": result}


def _settings(**overrides: Any) -> TrytonSettings:
    values: dict[str, Any] = {"url": "http://erp.test:8000/", "database": "db", "login": "hub", "password": "pw"}
    values.update(overrides)
    return TrytonSettings(**values)


class FakeTryton:
    """A transport answering like trytond: login, preferences, company currency, then ``handler`` for the rest."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.calls: list[str] = []
        self.logins = 0

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> tuple[int, bytes]:
        assert url == "http://erp.test:8000/db/rpc/"
        request = json.loads(body)
        method, params = request["method"], request["params"]
        self.calls.append(method)
        if method == "common.db.login":
            self.logins += 1
            status, payload = ok([7, f"key{self.logins}", None])
        elif method == "model.res.user.get_preferences":
            status, payload = ok({"company": 1, "language": "en"})
        elif method == "model.company.company.read":
            status, payload = ok([{"id": 1, "currency.": {"code": "MXN", "id": 1}}])
        else:
            assert self.handler is not None, method
            status, payload = self.handler(method, params, headers)
        return status, json.dumps({"id": request["id"], **payload}).encode()


def test_connector_satisfies_the_interface() -> None:
    assert isinstance(TrytonConnector(_settings(), transport=FakeTryton()), ERPConnector)


def test_reads_are_retried_with_growing_pauses_then_unavailable() -> None:
    attempts: list[str] = []

    def down(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> tuple[int, bytes]:
        attempts.append(url)
        raise TimeoutError("timed out")

    pauses: list[float] = []
    conn = TrytonConnector(_settings(attempts=4), transport=down, sleep=pauses.append)

    with pytest.raises(ERPUnavailable, match=r"did not answer common.db.login \(timed out\) after 4 attempt"):
        conn.login()
    assert len(attempts) == 4
    assert pauses == [0.25, 0.5, 1.0]


def test_a_busy_gateway_is_retried_and_then_answers() -> None:
    answers = iter([(503, {}), ok([{"id": 1, "code": "WH"}]), ok([])])

    def handler(method: str, params: list[Any], headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        return next(answers)

    conn = TrytonConnector(_settings(), transport=FakeTryton(handler), sleep=lambda _s: None)

    assert conn.stock_levels() == []


def test_a_write_that_timed_out_is_not_repeated() -> None:
    sent: list[str] = []

    def handler(method: str, params: list[Any], headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        sent.append(method)
        raise TimeoutError("read timed out")

    conn = TrytonConnector(_settings(attempts=3), transport=FakeTryton(handler), sleep=lambda _s: None)

    with pytest.raises(ERPUnavailable, match="after 1 attempt"):
        conn.call_model("purchase.purchase", "create", [{}], safe=False)
    assert sent == ["model.purchase.purchase.create"]


def test_an_expired_session_is_reopened_once() -> None:
    def handler(method: str, params: list[Any], headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        if headers["Authorization"] == "Session aHViOjc6a2V5MQ==":  # hub:7:key1, the first session
            return 401, {}
        return ok([1, 2])

    fake = FakeTryton(handler)
    conn = TrytonConnector(_settings(), transport=fake)

    assert conn.call_model("party.party", "search", []) == [1, 2]
    assert fake.logins == 2


def test_user_error_becomes_rejected_and_access_error_auth_failed() -> None:
    def handler(method: str, params: list[Any], headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        if method.endswith(".write"):
            return 200, {"error": ["UserError", ['You are not allowed to write to "Product".', "", None]]}
        return 200, {"error": ["UserError", ["The value of the field Code is not valid.", "", None]]}

    conn = TrytonConnector(_settings(), transport=FakeTryton(handler))

    with pytest.raises(ERPRejected, match=r"refused model\.party\.party\.create: The value of the field Code"):
        conn.call_model("party.party", "create", [{}], safe=False)
    with pytest.raises(ERPAuthFailed, match=r"Give the user the groups listed in docs/erp\.md"):
        conn.call_model("product.product", "write", [1], {}, safe=False)


def test_a_server_that_is_not_tryton_is_a_protocol_error() -> None:
    def html(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> tuple[int, bytes]:
        return 200, b"<html>welcome</html>"

    with pytest.raises(ERPProtocolError, match=r"not JSON; is http://erp\.test:8000/ a trytond server"):
        TrytonConnector(_settings(), transport=html).login()


def test_a_cursor_from_elsewhere_is_rejected_with_what_to_do() -> None:
    conn = TrytonConnector(_settings(), transport=FakeTryton())

    with pytest.raises(ERPRejected, match="poll with no cursor to read everything"):
        conn.products_changed_since("odoo:42")


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"url": "ftp://erp/"}, "must look like http://host:8000/"),
        ({"database": ""}, "database name"),
        ({"attempts": 0}, "attempts 0 must be between 1"),
    ],
)
def test_settings_refuse_unusable_values(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(ERPRejected, match=problem):
        _settings(**overrides)


def test_settings_from_environment_read_the_password_file(tmp_path: Any) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    settings = TrytonSettings.from_env(
        {
            "MOSTRADOR_TRYTON_URL": "https://erp.example/",
            "MOSTRADOR_TRYTON_DATABASE": "norte",
            "MOSTRADOR_TRYTON_LOGIN": "mostrador",
            "MOSTRADOR_TRYTON_PASSWORD_FILE": str(secret),
        }
    )

    assert (settings.rpc_url, settings.password) == ("https://erp.example/norte/rpc/", "s3cret")
    assert "s3cret" not in repr(settings)
