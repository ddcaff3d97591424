"""The dashboard over HTTP, on SQLite and PostgreSQL: sign-in and its cookie, CSRF, bad sign-in, logout, every
page for every role, a retailer's figures never showing another's, the overview's numbers, the polled
fragments, periods and filters from the query string, and the API's JSON answers left as they were."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from hub.api.accounts import Role
from hub.dashboard.periods import BadFilter, period_of, zone_named
from hub.dashboard.web import SESSION_COOKIE, safe_next
from tests.hub.dashboard.conftest import PASSWORD, World, csrf_in, sign_in

PAGES = ("/", "/live")
FRAGMENTS = ("/fragments/overview", "/fragments/feed")
DASHBOARD_ROLES = ((Role.DISTRIBUTOR_ADMIN, ""), (Role.ANALYST, ""), (Role.RETAILER, "r1"), (Role.RETAILER, "r2"))


def figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">(.*?)</(?:p|td)>', html, re.S)
    assert found is not None, f"no figure {name}"
    return re.sub(r"<[^>]+>", " ", found.group(1)).split()[0] if found.group(1).strip() else ""


def signed_in(world: World, role: Role, who: str = "", tenant: str = "t1") -> TestClient:
    client = world.client()
    response = sign_in(client, world.emails[(tenant, role, who)], tenant=tenant)
    assert response.status_code == 303, response.text
    return client


def test_signing_in_sets_an_httponly_strict_session_cookie_and_goes_to_the_overview(world: World) -> None:
    client = world.client()
    response = sign_in(client, world.emails[("t1", Role.ANALYST, "")])
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    page = client.get("/")
    assert page.status_code == 200 and 'data-figure="sales"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_a_page_without_a_session_sends_the_browser_to_sign_in_and_comes_back(world: World) -> None:
    client = world.client()
    response = client.get("/live?period=30d")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/live%3Fperiod%3D30d"
    fragment = client.get("/fragments/feed", headers={"hx-request": "true"})
    assert fragment.status_code == 401 and fragment.headers["hx-redirect"].startswith("/login?next=")


def test_a_wrong_password_is_refused_with_a_message_and_no_cookie(world: World) -> None:
    client = world.client()
    response = sign_in(client, world.emails[("t1", Role.ANALYST, "")], password="not the password at all")
    assert response.status_code == 401
    assert "Red, correo o contraseña incorrectos." in response.text
    assert not any(h.startswith(f"{SESSION_COOKIE}=") for h in response.headers.get_list("set-cookie"))
    assert client.get("/").status_code == 303


def test_a_sign_in_without_the_forms_csrf_token_is_refused(world: World) -> None:
    client = world.client()
    client.get("/login")
    response = client.post(
        "/login",
        data={"tenant": "t1", "email": world.emails[("t1", Role.ANALYST, "")], "password": PASSWORD, "csrf": "x"},
    )
    assert response.status_code == 403
    assert not any(h.startswith(f"{SESSION_COOKIE}=") for h in response.headers.get_list("set-cookie"))


def test_logout_needs_the_csrf_token_and_revokes_the_token_everywhere(world: World) -> None:
    client = signed_in(world, Role.ANALYST)
    token = client.cookies[SESSION_COOKIE]
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert client.get("/").status_code == 200
    csrf = csrf_in(client.get("/").text)
    response = client.post("/logout", data={"csrf": csrf})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    api = TestClient(world.app)
    assert api.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    replay = world.client()
    replay.cookies.set(SESSION_COOKIE, token)
    assert replay.get("/").status_code == 303


@pytest.mark.parametrize(("role", "who"), DASHBOARD_ROLES)
def test_every_page_and_fragment_answers_for_every_dashboard_role(world: World, role: Role, who: str) -> None:
    client = signed_in(world, role, who)
    for path in (*PAGES, *FRAGMENTS):
        for period in ("today", "7d", "30d", "90d", "month", "quarter", "year"):
            response = client.get(f"{path}?period={period}")
            assert response.status_code == 200, (path, period, response.text[:300])
    assert client.get("/?period=custom&from=2025-02-01&to=2025-02-28").status_code == 200


def test_a_technician_is_told_the_dashboard_is_not_for_its_role(world: World) -> None:
    client = signed_in(world, Role.TECHNICIAN)
    response = client.get("/")
    assert response.status_code == 403
    assert "personal del distribuidor" in response.text


def test_the_distributor_sees_its_whole_network_for_the_last_seven_days(world: World) -> None:
    html = signed_in(world, Role.ANALYST).get("/?period=7d").text
    # 123.45 + 43.21 + 70.00 at Abarrotes Lupita, 987.65 at Miscelánea Don Pepe; last Wednesday is outside.
    assert figure(html, "sales") == "$1,224.31"
    assert figure(html, "tickets") == "4"
    assert figure(html, "members") == "3"
    assert figure(html, "earned") == "117"
    assert figure(html, "spent") == "150"
    assert figure(html, "today-sales") == "$1,154.31"
    assert "555.55" not in html, "another tenant's sale shows"


def test_a_retailer_sees_only_its_own_stores_figures_and_names(world: World) -> None:
    mine = signed_in(world, Role.RETAILER, "r1")
    for period in ("today", "7d", "30d", "year"):
        html = mine.get(f"/?period={period}").text + mine.get(f"/live?period={period}").text
        for other in ("987.65", "98,765", "666.66", "Miscelánea Don Pepe", "555.55", "Otra Red", "150"):
            assert other not in html, f"r1 sees {other!r} ({period})"
    html = mine.get("/?period=7d").text
    assert figure(html, "sales") == "$236.66"
    assert figure(html, "tickets") == "3"
    assert figure(html, "members") == "2"
    assert "Abarrotes Lupita" in html
    theirs = signed_in(world, Role.RETAILER, "r2").get("/?period=7d").text
    assert figure(theirs, "sales") == "$987.65" and "Abarrotes Lupita" not in theirs


def test_a_retailer_cannot_filter_on_another_retailers_store_or_itself_into_it(world: World) -> None:
    client = signed_in(world, Role.RETAILER, "r1")
    for query in ("store=s2", "retailer=r2", "store=s9"):
        response = client.get(f"/?{query}")
        assert response.status_code == 400, query
        assert "987.65" not in response.text


def test_the_store_filter_narrows_the_distributors_figures(world: World) -> None:
    html = signed_in(world, Role.DISTRIBUTOR_ADMIN).get("/?period=30d&store=s2").text
    assert figure(html, "sales") == "$1,654.31"  # 987.65 today + 666.66 twenty days ago
    assert figure(html, "tickets") == "2"


def test_today_is_compared_with_the_same_weekday_last_week_up_to_the_same_hour(world: World) -> None:
    html = signed_in(world, Role.RETAILER, "r1").get("/?period=today").text
    assert figure(html, "today-sales") == "$166.66"
    assert "miércoles" in html  # the weekday a week ago, in Spanish
    assert "$50.00" in html  # last Wednesday 09:00, before 12:00
    assert "+233.3" in html  # 166.66 against 50.00


def test_the_overview_and_feed_poll_their_fragments_with_the_same_filters(world: World) -> None:
    client = signed_in(world, Role.ANALYST)
    html = client.get("/?period=30d&store=s1").text
    assert 'hx-get="/fragments/overview?period=30d&amp;store=s1"' in html
    assert 'hx-trigger="every 10s"' in html
    fragment = client.get("/fragments/overview?period=30d&store=s1").text
    assert fragment.lstrip().startswith('<div id="figures"') and "<html" not in fragment
    feed = client.get("/live").text
    assert 'hx-get="/fragments/feed?' in feed and "Miscelánea Don Pepe" in feed and "Devolución" in feed


def test_the_language_switch_is_remembered_and_changes_every_string(world: World) -> None:
    client = signed_in(world, Role.ANALYST)
    response = client.get("/lang/zh?next=/live")
    assert response.status_code == 303 and response.headers["location"] == "/live"
    html = client.get("/").text
    assert '<html lang="zh">' in html and "销售额" in html and "Ventas" not in html
    client.get("/lang/en?next=/")
    assert "Members identified" in client.get("/").text
    assert client.get("/lang/xx?next=//evil.example").headers["location"] == "/"


def test_a_bad_period_is_explained_on_the_page(world: World) -> None:
    client = signed_in(world, Role.ANALYST)
    response = client.get("/?period=custom&from=2025-03-10&to=2025-03-01")
    assert response.status_code == 400 and "swap the dates" in response.text
    assert client.get("/?period=fortnight").status_code == 400


def test_the_api_still_answers_json_and_unknown_paths_a_json_404(world: World) -> None:
    api = TestClient(world.app)
    assert api.get("/openapi.json").status_code == 200
    missing = api.get("/no-such-thing")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    page = world.client().get("/no-such-thing")
    assert page.status_code == 404 and "<html" in page.text


def test_the_vendored_scripts_are_served_from_the_hub_itself(world: World) -> None:
    client = world.client()
    for name in ("htmx.min.js", "chart.umd.js"):
        response = client.get(f"/static/vendor/{name}")
        assert response.status_code == 200, f"{name} missing: run `make assets`"
    assert "https://" not in client.get("/login").text.split("<main>")[0]


def test_only_paths_on_this_site_are_followed_after_sign_in() -> None:
    assert safe_next("/live?period=7d") == "/live?period=7d"
    for bad in ("//evil.example/", "https://evil.example/", "live", None, "/\\evil.example"):
        assert safe_next(bad) == "/"


@pytest.mark.parametrize(
    ("preset", "first", "last"),
    [
        ("today", "2025-03-31", "2025-03-31"),
        ("7d", "2025-03-25", "2025-03-31"),
        ("month", "2025-03-01", "2025-03-31"),
        ("quarter", "2025-01-01", "2025-03-31"),
        ("year", "2025-01-01", "2025-03-31"),
    ],
)
def test_periods_are_whole_days_in_the_zone_not_in_utc(preset: str, first: str, last: str) -> None:
    # 02:00 UTC on 1 April is still 31 March, 20:00, in Mexico City.
    now = datetime(2025, 4, 1, 2, 0, tzinfo=UTC)
    period = period_of(preset, now, zone_named("America/Mexico_City"))
    assert (period.first.isoformat(), period.last.isoformat()) == (first, last)
    assert period.start.utcoffset() is not None and period.end == now


def test_a_custom_period_needs_both_dates_in_order_and_a_bounded_length() -> None:
    now = datetime(2025, 4, 1, 2, 0, tzinfo=UTC)
    zone = zone_named("UTC")
    with pytest.raises(BadFilter, match="both dates"):
        period_of("custom", now, zone, "2025-01-01", None)
    with pytest.raises(BadFilter, match="not a date"):
        period_of("custom", now, zone, "2025-01-01", "tomorrow")
    with pytest.raises(BadFilter, match="at most"):
        period_of("custom", now, zone, "2015-01-01", "2025-01-01")
    period = period_of("custom", now, zone, "2025-02-01", "2025-02-28")
    assert period.days == 28
