"""The analytics endpoints over the fixed network of ``tests/hub/analytics_data.py``: the figures the
questions give, as JSON and as CSV, scoped like every router (a retailer sees its own stores), and a bad
filter answered 400 naming its field."""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # As in test_api: Starlette prefers the httpx2 fork for its test client; httpx still works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from hub import db
from hub.api import ApiSettings, create_app
from hub.api.accounts import Role, create_user, issue_token
from tests.hub.analytics_data import ANA, TENANT, load_all

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
MARCH = "preset=custom&from=2026-03-01&to=2026-03-31"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    engine = db.make_engine(f"sqlite:///{Path(tmp_path_factory.mktemp('analytics-api')) / 'hub.sqlite3'}")
    db.migrate(engine)
    load_all(engine)
    settings = ApiSettings(argon2_time_cost=1, argon2_memory_kib=8, argon2_parallelism=1, clock=lambda: NOW)
    with engine.begin() as conn:
        analyst = create_user(conn, settings, tenant=TENANT, email="ana@acme.mx", password="x" * 12, role=Role.ANALYST)
        shop = create_user(
            conn, settings, tenant=TENANT, email="b@acme.mx", password="x" * 12, role=Role.RETAILER, retailer="shop-b"
        )
        tokens = [issue_token(conn, settings, user.id)[0] for user in (analyst, shop)]
    with TestClient(create_app(engine, settings)) as test_client:
        yield (
            test_client,
            {"Authorization": f"Bearer {tokens[0]}"},
            {"Authorization": f"Bearer {tokens[1]}"},
        )
    engine.dispose()


def test_best_sellers_answer_json_and_the_same_figures_as_csv(
    client: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    http, analyst, _shop = client
    answer = http.get(f"/analytics/best-sellers?{MARCH}&by=region", headers=analyst)
    assert answer.status_code == 200, answer.text
    assert [(r["key"], r["amount_minor"], r["margin_minor"]) for r in answer.json()] == [
        ("Nuevo León", 4000, 1000),
        ("Jalisco", 2000, 500),
    ]
    as_csv = http.get(f"/analytics/best-sellers?{MARCH}&by=region&format=csv", headers=analyst)
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["key"], r["amount_minor"], r["margin_minor"]) for r in rows] == [
        ("Nuevo León", "4000", "1000"),
        ("Jalisco", "2000", "500"),
    ]


def test_every_question_answers_for_the_analyst(client: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    http, analyst, _shop = client
    members = http.get(f"/analytics/top-members?{MARCH}", headers=analyst).json()
    assert [(m["customer"], m["amount_minor"], m["points_earned"]) for m in members] == [(ANA, 4000, 8)]
    heat = http.get(f"/analytics/heatmap?{MARCH}", headers=analyst).json()
    assert (heat["tickets"][1][9], heat["tickets"][1][21], heat["busiest_weekday"]) == (1, 1, 2)
    heat_csv = list(
        csv.DictReader(io.StringIO(http.get(f"/analytics/heatmap?{MARCH}&format=csv", headers=analyst).text))
    )
    assert len(heat_csv) == 7 * 24 and {"weekday": "2", "hour": "21", "tickets": "1"} in heat_csv
    trend = http.get("/analytics/top-trend?preset=custom&from=2026-03-10&to=2026-03-12&n=1", headers=analyst).json()
    assert (trend["series"], trend["rest"]) == ([{"key": "shop-a", "values": [5500, 0, -1500]}], [2000, 0, 0])
    seasons = http.get(f"/analytics/seasons?{MARCH}&by=quarter", headers=analyst).json()
    assert [(s["label"], s["amount_minor"]) for s in seasons] == [("2026-Q1", 6000)]
    live = http.get("/analytics/activity?preset=today&format=csv", headers=analyst)
    assert live.status_code == 200 and live.text.splitlines()[0].startswith("level,key,retailer,currency,today_tickets")
    assert http.get("/analytics/feed", headers=analyst).json() == []  # nothing within a day of NOW


def test_a_retailer_sees_only_its_own_stores(client: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    http, _analyst, shop = client
    ranked = http.get(f"/analytics/top-retailers?{MARCH}", headers=shop).json()
    assert [(r["retailer"], r["amount_minor"]) for r in ranked] == [("shop-b", 2000)]
    assert http.get(f"/analytics/top-members?{MARCH}", headers=shop).json() == []
    refused = http.get(f"/analytics/best-sellers?{MARCH}&store=store-a", headers=shop)
    assert (refused.status_code, refused.json()["field"]) == (400, "store")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("region=Atlantis", "region"),
        ("preset=custom&from=2026-03-31&to=2026-03-01", "to"),
        ("preset=fortnight", "preset"),
        ("by=colour", "by"),
        ("brand=verde&store=store-z", "store"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_field(
    client: tuple[TestClient, dict[str, str], dict[str, str]], query: str, field: str
) -> None:
    http, analyst, _shop = client
    answer = http.get(f"/analytics/best-sellers?{query}", headers=analyst)
    assert (answer.status_code, answer.json()["field"]) == (400, field), answer.text
