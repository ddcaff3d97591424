"""Signing in: PIN hashing, lockout, sessions and their cookie, CSRF, and pages closed without a session."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.errors import InvalidInput
from edge_agent.store import Store
from edge_agent.web.auth import MAX_FAILED_LOGINS, Cashier, SessionRegistry, create_cashier
from tests.edge_agent.web.conftest import CASHIER_PIN, CHEAP_HASHER, Box, csrf_of, sign_in

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def test_sign_in_with_the_right_pin_opens_a_session_with_a_strict_httponly_cookie(client: TestClient) -> None:
    page = client.get("/login")
    response = client.post("/login", data={"csrf": csrf_of(page.text), "cashier_id": "ana", "pin": CASHIER_PIN})
    assert response.status_code == 303
    assert response.headers["location"] == "/sale"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("mo_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()


def test_pin_is_stored_as_an_argon2_hash(client: TestClient, box: Box) -> None:
    client.get("/login")
    (pin_hash,) = box.query("SELECT pin_hash FROM cashier WHERE cashier_id = 'ana'")[0]
    assert str(pin_hash).startswith("$argon2id$")
    assert CASHIER_PIN not in str(pin_hash)


def _login(client: TestClient, cashier_id: str, pin: str) -> int:
    page = client.get("/login")
    response = client.post("/login", data={"csrf": csrf_of(page.text), "cashier_id": cashier_id, "pin": pin})
    return int(response.status_code)


def test_a_wrong_pin_is_refused_and_counted(client: TestClient, box: Box) -> None:
    assert _login(client, "ana", "0000") == 401
    assert box.query("SELECT failed_logins, locked_until FROM cashier WHERE cashier_id = 'ana'") == [(1, None)]


def test_five_wrong_pins_lock_the_cashier_even_against_the_right_pin(client: TestClient, box: Box) -> None:
    for _ in range(MAX_FAILED_LOGINS):
        assert _login(client, "ana", "0000") == 401
    ((locked_until,),) = box.query("SELECT locked_until FROM cashier WHERE cashier_id = 'ana'")
    assert locked_until is not None
    page = client.get("/login")
    response = client.post("/login", data={"csrf": csrf_of(page.text), "cashier_id": "ana", "pin": CASHIER_PIN})
    assert response.status_code == 401
    assert 'id="form-error"' in response.text
    assert "mo_session" not in response.cookies


def test_a_right_pin_clears_the_failure_count(client: TestClient, box: Box) -> None:
    _login(client, "ana", "0000")
    assert _login(client, "ana", CASHIER_PIN) == 303
    assert box.query("SELECT failed_logins FROM cashier WHERE cashier_id = 'ana'") == [(0,)]


def test_an_unknown_cashier_gets_the_same_answer_as_a_wrong_pin(client: TestClient) -> None:
    assert _login(client, "nobody", CASHIER_PIN) == 401


def test_a_pin_with_letters_is_refused_next_to_the_field(client: TestClient) -> None:
    page = client.get("/login")
    response = client.post("/login", data={"csrf": csrf_of(page.text), "cashier_id": "ana", "pin": "12ab"})
    assert response.status_code == 422
    assert 'id="pin-error"' in response.text


def test_sign_in_without_its_form_token_is_refused(client: TestClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"csrf": "forged", "cashier_id": "ana", "pin": CASHIER_PIN})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/sale",
        "/customers",
        "/customers/new",
        "/customers/481000700001",
        "/receipts",
        "/receipts/x/refund",
        "/receipts/x",
        "/stock",
        "/stock/reorder",
        "/reports",
        "/items/new",
        "/cashiers",
    ],
)
def test_every_page_but_sign_in_sends_a_stranger_to_sign_in(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


@pytest.mark.parametrize(
    "path",
    [
        "/logout",
        "/language",
        "/sale/scan",
        "/sale/add",
        "/sale/lines/L1/qty",
        "/sale/lines/L1/void",
        "/sale/customer",
        "/sale/customer/clear",
        "/sale/points",
        "/sale/tender",
        "/sale/tender/0/remove",
        "/sale/complete",
        "/sale/cancel",
        "/customers/new",
        "/receipts/x/reprint",
        "/receipts/x/refund",
        "/stock/adjust",
        "/stock/reorder",
        "/items/new",
        "/cashiers",
    ],
)
def test_every_form_post_needs_a_session_and_its_csrf_token(client: TestClient, path: str) -> None:
    assert client.post(path, data={"csrf": "x"}).status_code == 303
    sign_in(client)
    assert client.post(path, data={"csrf": "forged"}).status_code == 403


def test_signing_out_ends_the_session(client: TestClient, cashier: str) -> None:
    assert client.post("/logout", data={"csrf": cashier}).status_code == 303
    assert client.get("/sale").status_code == 303


def test_pages_forbid_framing_and_caching(client: TestClient, cashier: str) -> None:
    response = client.get("/sale")
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


def test_create_cashier_refuses_a_short_pin_and_a_taken_id(box: Box, client: TestClient) -> None:
    gate = box.app.state.web.gate
    with pytest.raises(InvalidInput) as short:
        gate.call(lambda s: create_cashier(s.store, "bea", "Bea", "123", "cashier", hasher=CHEAP_HASHER))
    assert short.value.field == "pin"
    with pytest.raises(InvalidInput) as taken:
        gate.call(lambda s: create_cashier(s.store, "ana", "Ana", "5555", "cashier", hasher=CHEAP_HASHER))
    assert taken.value.field == "cashier_id"
    assert box.query("SELECT count(*) FROM cashier") == [(2,)]


def _cashiers_db(tmp_path: Path) -> Path:
    path = tmp_path / "sessions.sqlite3"
    with Store(path, tenant="acme", device="box-1", durable=False) as store:
        create_cashier(store, "ana", "Ana", "2468", "cashier", hasher=CHEAP_HASHER)
    return path


@pytest.mark.parametrize("kept", [False, True], ids=["memory", "database"])
def test_sessions_expire_after_idling_and_the_oldest_gives_way_when_full(tmp_path: Path, kept: bool) -> None:
    now = [T0]
    database = _cashiers_db(tmp_path) if kept else None
    registry = SessionRegistry(database, max_sessions=2, idle_s=10, max_age_s=100, clock=lambda: now[0])
    who = Cashier("ana", "Ana", "cashier")
    first, second = registry.open(who), registry.open(who)
    third = registry.open(who)
    assert registry.get(first.token) is None
    assert registry.get(second.token) is second
    now[0] = T0 + timedelta(seconds=11)
    assert registry.get(third.token) is None


def test_a_session_outlives_a_restart_until_it_expires_and_only_its_hash_is_kept(tmp_path: Path) -> None:
    database = _cashiers_db(tmp_path)
    now = [T0]
    before = SessionRegistry(database, idle_s=600, max_age_s=3600, clock=lambda: now[0])
    session = before.open(Cashier("ana", "Ana", "cashier"), "zh")
    before.close_database()  # the process ends; nothing of it is in memory any more
    now[0] = T0 + timedelta(seconds=300)
    after = SessionRegistry(database, idle_s=600, max_age_s=3600, clock=lambda: now[0])
    again = after.get(session.token)
    assert again is not None and again is not session
    assert (again.cashier.cashier_id, again.csrf, again.language) == ("ana", session.csrf, "zh")
    assert after.get("not-a-token") is None
    raw = database.read_bytes() + (database.parent / f"{database.name}-wal").read_bytes()
    assert session.token.encode() not in raw
    # Used at 300 s, so it lives to 900 s; a third start at 950 s finds it expired.
    after.close_database()
    now[0] = T0 + timedelta(seconds=950)
    assert SessionRegistry(database, idle_s=600, max_age_s=3600, clock=lambda: now[0]).get(session.token) is None


def test_a_deactivated_cashiers_session_does_not_come_back(tmp_path: Path) -> None:
    database = _cashiers_db(tmp_path)
    session = SessionRegistry(database).open(Cashier("ana", "Ana", "cashier"))
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE cashier SET active = 0 WHERE cashier_id = 'ana'")
    assert SessionRegistry(database).get(session.token) is None


def test_signing_out_mid_sale_cancels_it_and_writes_nothing(client: TestClient, cashier: str, box: Box) -> None:
    assert client.post("/sale/scan", data={"csrf": cashier, "code": "7501234000109"}).status_code == 303
    assert client.post("/logout", data={"csrf": cashier}).status_code == 303
    assert box.query("SELECT count(*) FROM sale") == [(0,)]
