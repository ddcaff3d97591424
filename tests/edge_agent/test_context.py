"""The shop context from config rows: building, caching per version, refusing bad rows, the demo defaults."""

from __future__ import annotations

import json

import pytest

from core.errors import InvalidInput
from core.tax import Pricing
from edge_agent.context import (
    DEFAULTS_VERSION,
    BadConfig,
    ConfigMissing,
    ContextProvider,
    body_sha256,
    load_defaults,
    parse_program,
    parse_promotions,
    parse_settings,
)
from edge_agent.store import Store
from tests.edge_agent.conftest import fixed_clock


def _put(store: Store, kind: str, version: int, body: object) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    with store.transaction() as tx:
        tx.conn.execute(
            "INSERT INTO config (kind, version, sha256, body, applied_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (kind) DO UPDATE SET version = excluded.version, sha256 = excluded.sha256, "
            "body = excluded.body",
            (kind, version, body_sha256(text), text, tx.now.isoformat()),
        )


def _settings(box: Store) -> dict[str, object]:
    body = box.conn.execute("SELECT body FROM config WHERE kind = 'settings'").fetchone()[0]
    return dict(json.loads(body))


def test_defaults_give_a_mexican_shop_context(context_provider: ContextProvider) -> None:
    context = context_provider.current()
    assert context.currency == "MXN"
    assert context.jurisdiction.jurisdiction_id == "mx-general"
    assert context.jurisdiction.pricing is Pricing.INCLUSIVE
    assert context.store.timezone == "America/Mexico_City"
    assert context.promotion_set_version == DEFAULTS_VERSION
    assert {p.effect.type for p in context.promotions} >= {"buy_get_free", "points_multiplier", "percent_off"}
    assert context.program is not None and context.program.tiers is not None
    assert context.settings.language == "es"


def test_defaults_write_catalogue_stock_and_rules_once(box: Store) -> None:
    items = box.conn.execute("SELECT count(*) FROM item WHERE origin = 'hub' AND active = 1").fetchone()[0]
    barcodes = box.conn.execute("SELECT count(*) FROM item_barcode").fetchone()[0]
    stocked = box.conn.execute("SELECT count(*) FROM stock WHERE on_hand > 0").fetchone()[0]
    rules = box.conn.execute("SELECT count(*) FROM stock_rule").fetchone()[0]
    kinds = {k for (k,) in box.conn.execute("SELECT kind FROM config")}
    assert items >= 40 and barcodes >= items and stocked == items and rules == items
    assert kinds == {"settings", "program", "promotions", "catalogue", "stock_rules"}
    assert load_defaults(box) is False
    assert box.conn.execute("SELECT count(*) FROM item").fetchone()[0] == items


def test_context_is_cached_until_a_config_version_changes(box: Store, context_provider: ContextProvider) -> None:
    first = context_provider.current()
    assert context_provider.current() is first
    _put(box, "promotions", 7, {"promotions": []})
    second = context_provider.current()
    assert second is not first
    assert second.promotion_set_version == 7
    assert len(second.promotions) == 0


def test_a_bad_row_keeps_the_previous_context_and_says_why(box: Store, context_provider: ContextProvider) -> None:
    good = context_provider.current()
    settings = _settings(box)
    settings["jurisdiction"] = "atlantis"
    _put(box, "settings", 3, settings)
    assert context_provider.current() is good
    assert context_provider.last_error is not None
    assert context_provider.last_error.field == "config.settings.jurisdiction"
    settings["jurisdiction"] = "mx-general"
    _put(box, "settings", 4, settings)
    assert context_provider.current().versions["settings"] == 4
    assert context_provider.last_error is None


def test_a_box_without_settings_is_told_to_load_them(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    store = Store(tmp_path / "empty.sqlite3", tenant="acme", device="box-9", clock=fixed_clock, durable=False)
    try:
        with pytest.raises(ConfigMissing, match="no settings"):
            ContextProvider(store).current()
    finally:
        store.close()


def test_settings_in_another_currency_than_the_jurisdiction_are_refused(box: Store) -> None:
    settings = _settings(box)
    settings["currency"] = "USD"
    with pytest.raises(BadConfig) as caught:
        parse_settings(json.dumps(settings))
    assert caught.value.field == "config.settings.currency"
    assert "mx-general" in caught.value.problem


def test_an_inline_jurisdiction_toml_is_accepted(box: Store) -> None:
    from core.tax.loader import shipped_jurisdiction_ids

    assert "mx-general" in shipped_jurisdiction_ids()
    from importlib import resources

    toml = resources.files("core.tax.jurisdictions").joinpath("mx-general.toml").read_text(encoding="utf-8")
    settings = _settings(box)
    settings["jurisdiction"] = {"toml": toml}
    _, jurisdiction = parse_settings(settings)
    assert jurisdiction.jurisdiction_id == "mx-general"


def test_bad_bodies_name_the_kind_and_key() -> None:
    with pytest.raises(BadConfig) as caught:
        parse_promotions({"promotions": [{"id": "x", "name": "x"}]})
    assert caught.value.field.startswith("config.promotions")
    with pytest.raises(BadConfig, match="exactly one key"):
        parse_program({"programme": None})
    assert parse_program({"program": None}) is None
    with pytest.raises(InvalidInput) as text_error:
        parse_settings("{not json")
    assert text_error.value.field.startswith("config.settings")


def test_a_program_in_another_currency_is_refused(box: Store, context_provider: ContextProvider) -> None:
    context_provider.current()
    body = json.loads(box.conn.execute("SELECT body FROM config WHERE kind = 'program'").fetchone()[0])
    body["program"]["currency"] = "USD"
    _put(box, "program", 2, body)
    context_provider.current()
    assert context_provider.last_error is not None
    assert context_provider.last_error.field == "config.program.program.currency"


def test_every_default_body_is_a_valid_wire_snapshot() -> None:
    from core import wire
    from edge_agent.context import default_body

    for kind in ("settings", "program", "promotions", "catalogue", "stock_rules"):
        wire.decode_config_body(kind, default_body(kind).encode("utf-8"))


def test_settings_keys_this_box_does_not_know_are_ignored(box: Store) -> None:
    settings = _settings(box)
    settings["loyalty_range"] = {"first": 10_000, "last": 19_999}
    settings["coming_later"] = {"anything": 1}
    settings["receipt"] = {"header": [f"line {i}" for i in range(20)], "footer": []}
    parsed, _ = parse_settings(settings)
    assert parsed.loyalty_range is not None and parsed.loyalty_range.first == 10_000
    assert len(parsed.receipt.header) == 20
    settings["store"] = {"store_id": "t-1", "timezone": "Mars/Olympus"}
    with pytest.raises(BadConfig) as caught:
        parse_settings(settings)
    assert caught.value.field == "config.settings.store.timezone"
