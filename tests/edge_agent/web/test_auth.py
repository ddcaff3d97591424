"""Signing in: PIN hashing, lockout, sessions and their cookie, CSRF, and pages closed without a session."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.edge_agent.web.conftest import CASHIER_PIN, Box, csrf_of


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
