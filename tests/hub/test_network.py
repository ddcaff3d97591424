"""The network model: tenants, retailers, stores and boxes, loyalty ranges, the settings a box gets, the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from core import wire
from core.errors import InvalidInput
from hub import db, network
from hub.cli import main as hub_main
from hub.network import Store
from hub.publishing import snapshots as publish

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def a_store(**changes: object) -> Store:
    values: dict[str, object] = {
        "tenant": "acme",
        "store": "tienda-centro",
        "retailer": "lupita",
        "name": "Abarrotes Doña Lupita",
        "timezone": "America/Mexico_City",
        "currency": "MXN",
        "jurisdiction": "mx-general",
        "language": "es",
        "receipt_header": ("Abarrotes Doña Lupita",),
        "receipt_footer": ("¡Gracias!",),
        "offline_allowance_points": 200,
        "wallets_enabled": True,
        "warehouse": "WH",
    }
    values.update(changes)
    return Store(**values)  # type: ignore[arg-type]


@pytest.fixture
def acme(hub_engine: sa.Engine) -> sa.Engine:
    with hub_engine.begin() as conn:
        network.add_tenant(conn, "acme", "Distribuidora Acme", 481, erp_supplier="SUP-EV", now=NOW)
        network.add_store(conn, a_store(), retailer_name="Doña Lupita", now=NOW)
    return hub_engine


def test_a_store_and_its_box_are_read_back_and_adding_again_updates(acme: sa.Engine) -> None:
    with acme.begin() as conn:
        device = network.add_device(conn, "acme", "box-3", "tienda-centro", now=NOW)
        network.add_store(conn, a_store(name="Lupita Centro", language="en"), now=NOW)
        again = network.add_device(conn, "acme", "box-3", "tienda-centro", now=NOW)

    with acme.connect() as conn:
        store = network.get_store(conn, "acme", "tienda-centro")
        assert (store.name, store.language, store.warehouse, store.receipt_footer) == (
            "Lupita Centro",
            "en",
            "WH",
            ("¡Gracias!",),
        )
        assert network.get_device(conn, "acme", "box-3") == device == again
        assert [s.store for s in network.stores(conn, "acme", retailer="lupita")] == ["tienda-centro"]
        assert conn.execute(sa.select(db.retailer.c.name)).scalar() == "Doña Lupita"


def test_a_box_takes_the_loyalty_block_its_number_implies(acme: sa.Engine) -> None:
    with acme.begin() as conn:
        device = network.add_device(conn, "acme", "box-7", "tienda-centro")

    assert (device.loyalty_first, device.loyalty_last) == (70_000, 79_999)


def test_a_box_without_a_number_gets_a_block_no_numbered_box_would_take(acme: sa.Engine) -> None:
    with acme.begin() as conn:
        first = network.add_device(conn, "acme", "mostrador", "tienda-centro")
        second = network.add_device(conn, "acme", "caja", "tienda-centro")

    top = network.MAX_BLOCK * network.LOYALTY_BLOCK_SIZE
    assert (first.loyalty_first, first.loyalty_last) == (top, top + network.LOYALTY_BLOCK_SIZE - 1)
    assert second.loyalty_last == top - 1


def test_overlapping_loyalty_ranges_are_refused(acme: sa.Engine) -> None:
    with acme.begin() as conn:
        network.add_device(conn, "acme", "box-1", "tienda-centro")
        with pytest.raises(InvalidInput, match="overlaps the range of device 'box-1'"):
            network.add_device(conn, "acme", "caja", "tienda-centro", loyalty_range=(15_000, 25_000))


def test_a_loyalty_prefix_belongs_to_one_tenant(acme: sa.Engine) -> None:
    with acme.begin() as conn, pytest.raises(InvalidInput, match="481 already belongs to tenant 'acme'"):
        network.add_tenant(conn, "otra", "Otra", 481)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"currency": "XXY"}, "currency"),
        ({"jurisdiction": "xx-none"}, "jurisdiction"),
        ({"language": "fr"}, "language"),
        ({"receipt_header": ("x" * 65,)}, "receipt_header"),
        ({"store": "Tienda Centro"}, "store"),
    ],
)
def test_a_store_with_bad_settings_is_refused_naming_the_field(
    acme: sa.Engine, changes: dict[str, object], field: str
) -> None:
    with acme.begin() as conn, pytest.raises(InvalidInput) as info:
        network.add_store(conn, a_store(**changes))
    assert info.value.field == field


def test_a_box_in_an_unknown_store_is_refused_with_the_fix(acme: sa.Engine) -> None:
    with acme.begin() as conn, pytest.raises(InvalidInput, match=r"no store 'nowhere'.*network add-store"):
        network.add_device(conn, "acme", "box-1", "nowhere")


def test_the_settings_snapshot_of_a_box_is_its_store_and_its_range(acme: sa.Engine) -> None:
    with acme.begin() as conn:
        network.add_device(conn, "acme", "box-2", "tienda-centro")
        body = publish.settings_body(conn, "acme", "box-2")

    parsed = wire.decode_config_body("settings", wire.config_body_json(body))
    assert isinstance(parsed, wire.SettingsBody)
    assert (parsed.store.store_id, parsed.store.retailer_id, parsed.currency, parsed.loyalty_prefix) == (
        "tienda-centro",
        "lupita",
        "MXN",
        481,
    )
    assert body["loyalty_range"] == {"first": 20_000, "last": 29_999}
    assert (parsed.offline_allowance_points, parsed.wallets_enabled, parsed.receipt.footer) == (
        200,
        True,
        ["¡Gracias!"],
    )


def test_the_command_line_adds_a_tenant_a_store_and_a_box(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"

    def run(*argv: str) -> tuple[int, str]:
        code = hub_main(["--db", url, "network", *argv])
        return code, capsys.readouterr().out

    assert run("add-tenant", "--tenant", "acme", "--name", "Acme", "--loyalty-prefix", "481")[0] == 0
    code, out = run(
        "add-store", "--tenant", "acme", "--store", "t1", "--retailer", "r1", "--name", "Tienda 1",
        "--timezone", "America/Mexico_City", "--jurisdiction", "mx-general", "--receipt-header", "Tienda 1",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["receipt_header"] == ["Tienda 1"]
    assert run("add-device", "--tenant", "acme", "--device", "box-4", "--store", "t1")[0] == 0
    code, out = run("list", "--tenant", "acme")
    assert code == 0
    listed = json.loads(out)
    assert [(d["device"], d["store"], d["loyalty_first"]) for d in listed["devices"]] == [("box-4", "t1", 40_000)]
    assert run("add-device", "--tenant", "acme", "--device", "box-5", "--store", "nowhere")[0] == 2


def test_the_command_line_places_stores_and_names_centres_brands_and_manufacturers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"

    def run(*argv: str) -> tuple[int, str]:
        code = hub_main(["--db", url, "network", *argv])
        return code, capsys.readouterr().out

    assert run("add-tenant", "--tenant", "acme", "--name", "Acme", "--loyalty-prefix", "481")[0] == 0
    assert (
        run("add-dc", "--tenant", "acme", "--dc", "dc-gdl", "--name", "CEDIS Guadalajara", "--region", "Jalisco")[0]
        == 0
    )
    store = (
        "add-store", "--tenant", "acme", "--store", "t1", "--retailer", "r1", "--name", "Tienda 1",
        "--timezone", "America/Mexico_City", "--jurisdiction", "mx-general", "--country", "mx", "--region", "Jalisco",
        "--municipality", "Zapopan", "--postal-code", "45010", "--latitude", "20.72", "--longitude", "-103.39",
    )  # fmt: skip
    code, out = run(*store, "--dc", "dc-gdl")
    placed = json.loads(out)
    assert code == 0
    assert (placed["country"], placed["region"], placed["postal_code"], placed["latitude"], placed["dc"]) == (
        "MX", "Jalisco", "45010", 20.72, "dc-gdl",
    )  # fmt: skip
    assert run(*store, "--dc", "dc-nowhere")[0] == 2
    assert run(*store[:-4], "--latitude", "91", "--longitude", "0")[0] == 2
    assert run("add-manufacturer", "--tenant", "acme", "--manufacturer", "granos", "--name", "Granos SA")[0] == 0
    assert (
        run("add-brand", "--tenant", "acme", "--brand", "verde", "--name", "Verde", "--manufacturer", "granos")[0] == 0
    )
    assert run("add-brand", "--tenant", "acme", "--brand", "x", "--name", "X", "--manufacturer", "nobody")[0] == 2
    assert run("add-postal-area", "--tenant", "acme", "--postal-code", "45010", "--region", "Jalisco")[0] == 0
    code, out = run("list", "--tenant", "acme")
    listed = json.loads(out)
    assert [(b["brand"], b["manufacturer"]) for b in listed["brands"]] == [("verde", "granos")]
    assert [(d["dc"], d["region"]) for d in listed["distribution_centres"]] == [("dc-gdl", "Jalisco")]
    assert listed["stores"][0]["municipality"] == "Zapopan"
