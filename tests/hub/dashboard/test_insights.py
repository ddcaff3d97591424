"""The analytics pages over h1's questions, on SQLite and PostgreSQL: best sellers and margins, top retailers
and members with their trend charts, the hour x weekday heatmap; every role, a retailer kept to its own
stores, sorting and grouping from the query string, and the CSV download of the same rows."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from fastapi.testclient import TestClient

from hub.api.accounts import Role
from tests.hub.dashboard.conftest import World, sign_in

PAGES = ("/sellers", "/top", "/heatmap")
ROLES = ((Role.DISTRIBUTOR_ADMIN, ""), (Role.ANALYST, ""), (Role.RETAILER, "r1"), (Role.RETAILER, "r2"))


def signed_in(world: World, role: Role, who: str = "") -> TestClient:
    client = world.client()
    assert sign_in(client, world.emails[("t1", role, who)]).status_code == 303
    return client


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(("role", "who"), ROLES)
def test_every_analytics_page_answers_for_every_role_and_period(world: World, role: Role, who: str) -> None:
    client = signed_in(world, role, who)
    for path in PAGES:
        for period in ("today", "7d", "30d", "90d", "month", "quarter", "year"):
            response = client.get(f"{path}?period={period}")
            assert response.status_code == 200, (path, period, response.text[:300])
    for by in ("sku", "category", "brand", "manufacturer", "region", "dc", "retailer", "store"):
        for order in ("amount", "qty", "margin", "margin_rate"):
            assert client.get(f"/sellers?by={by}&order={order}").status_code == 200, (by, order)


def test_the_top_retailers_are_ranked_by_revenue_with_a_trend_chart(world: World) -> None:
    client = signed_in(world, Role.ANALYST)
    html = client.get("/top?period=30d").text
    table = html[html.index('id="top-retailers"') :]
    # r2: 987.65 + 666.66; r1: 123.45 + 43.21 + 50.00 + 70.00.
    assert table.index("$1,654.31") < table.index("$286.66")
    spec = json.loads(re.search(r'id="trend-retailer">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert spec["type"] == "line" and len(spec["labels"]) == 30
    assert {d["label"] for d in spec["datasets"]} >= {"Grupo Lupita", "Comercial Don Pepe"}
    assert sum(sum(d["data"]) for d in spec["datasets"]) == pytest.approx(1654.31 + 286.66)
    members = rows_of(client.get("/top?period=30d&format=csv&csv=members").text)
    assert [m["member"] for m in members][:1] == ["501000000037"]
    assert members[0]["amount_minor"] == "98765"


def test_a_retailer_sees_only_its_own_stores_on_every_analytics_page_and_csv(world: World) -> None:
    client = signed_in(world, Role.RETAILER, "r1")
    for path in (*PAGES, "/sellers?by=store", "/sellers?by=retailer", "/top?period=90d"):
        html = client.get(path + ("&" if "?" in path else "?") + "period=90d").text
        for other in ("Don Pepe", "987.65", "1,654.31", "666.66", "501000000037", "555.55", "Otra Red"):
            assert other not in html, f"r1 sees {other!r} on {path}"
    by_store = rows_of(client.get("/sellers?period=90d&by=store&format=csv").text)
    assert [r["store"] for r in by_store] == ["s1"]
    assert by_store[0]["amount_minor"] == str(12_345 + 4_321 + 5_000 + 7_000)
    retailers = rows_of(client.get("/top?period=90d&format=csv").text)
    assert [r["retailer"] for r in retailers] == ["r1"]
    assert client.get("/sellers?store=s2").status_code == 400
    assert client.get("/top?retailer=r2").status_code == 400


def test_best_sellers_group_and_sort_from_the_query_string(world: World) -> None:
    client = signed_in(world, Role.ANALYST)
    html = client.get("/sellers?period=30d&by=brand&order=qty").text
    assert 'aria-sort="descending"' in html and "Unidades ▼" in html
    assert 'href="/sellers?by=brand&amp;order=margin&amp;period=30d"' in html
    rows = rows_of(client.get("/sellers?period=30d&by=brand&format=csv").text)
    assert {r["brand"] for r in rows} == {"gamesa", "lala"}
    total = sum(int(r["amount_minor"]) for r in rows)
    assert total == 12_345 + 4_321 + 5_000 + 7_000 + 98_765 + 66_666
    narrowed = rows_of(client.get("/sellers?period=30d&by=brand&brand=lala&format=csv").text)
    assert [r["brand"] for r in narrowed] == ["lala"]


def test_the_heatmap_counts_tickets_by_local_weekday_and_hour(world: World) -> None:
    client = signed_in(world, Role.RETAILER, "r1")
    cells = rows_of(client.get("/heatmap?period=7d&format=csv").text)
    wednesday = cells[2]
    assert wednesday["weekday"] == "3"
    # Today (Wednesday) at 10:00 and 11:00 in Mexico City; last Wednesday is outside the 7 days.
    assert (wednesday["10"], wednesday["11"], wednesday["9"]) == ("1", "1", "0")
    assert sum(int(v) for row in cells for k, v in row.items() if k != "weekday") == 3
    html = client.get("/heatmap?period=7d").text
    assert 'class="heat-' in html and "mié" in html
    assert client.get("/heatmap?brand=lala").status_code == 400
