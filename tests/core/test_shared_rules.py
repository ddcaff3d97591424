"""Rules the box and the hub both apply live once, in core: tiers, loyalty number blocks, the basket and
customer built from a sale, and the default program, promotions and settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core import defaults, identity, wire
from core.pricing import from_sale
from core.pricing.model import Store
from core.tiers import DEFAULT_ACTIVITY_TIERS, DEFAULT_POINTS_TIERS, TierRules, TierScheme, TierState, classify
from core.tiers import decide_tier as core_decide_tier
from edge_agent import checkout as box_checkout
from edge_agent import context as box_context
from edge_agent import customers as box_customers
from edge_agent.checkout import Checkout
from edge_agent.customers import CachedCustomer, NotConfigured
from hub import db
from hub import network as hub_network
from hub.customers import snapshot as hub_snapshot
from hub.ingest import batch as hub_batch
from hub.ingest import sales as hub_sales
from hub.programs import points as program_points
from hub.programs import tiers
from tests.edge_agent.conftest import (  # noqa: F401  (fixtures this module uses)
    acquirer,
    box,
    catalogue,
    checkout,
    context_provider,
    customers,
    display,
    member,
    network,
    printer,
)

T0 = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
COLA = "7501234000017"


# --- tiers ------------------------------------------------------------------------------------------------


def test_the_hub_reviews_tiers_with_the_core_decision() -> None:
    assert tiers.decide_tier is core_decide_tier
    assert tiers.TierRules is TierRules and tiers.TierState is TierState


@pytest.mark.parametrize("scheme", [DEFAULT_POINTS_TIERS, DEFAULT_ACTIVITY_TIERS], ids=["points", "activity"])
def test_the_box_prices_with_the_tier_the_hub_decided(scheme: TierScheme) -> None:
    rules = TierRules(grace_periods=1)
    top = scheme.tiers[-1]
    up = core_decide_tier(scheme, rules, TierState(), value_now=top.min_value, closed_value=None, now=T0)
    # The value falls below the tier's minimum; the period has not closed, so the tier is kept.
    kept = core_decide_tier(scheme, rules, up.state, value_now=1, closed_value=None, now=T0 + timedelta(days=1))
    assert kept.state.tier_id == top.id and kept.change == "kept"
    # What the hub sends the box for this customer, and what the box's classification makes of it.
    tier_points, transactions = from_sale.held_tier_values(scheme, kept.state.value, kept.state.tier_id)
    value = transactions if scheme.basis.value == "activity" else tier_points
    standing = classify(scheme, value)
    assert standing.tier is not None and standing.tier.id == top.id


# --- loyalty number blocks -------------------------------------------------------------------------------


def test_the_box_and_the_hub_use_the_core_block_size() -> None:
    assert hub_network.LOYALTY_BLOCK_SIZE is identity.LOYALTY_BLOCK_SIZE
    assert hub_network.MAX_BLOCK == identity.MAX_BLOCK == identity.MAX_NUMBER // identity.LOYALTY_BLOCK_SIZE


def test_a_box_and_the_hub_agree_on_its_number_range(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    db.migrate(engine)
    devices = ("box-1", "box-42", f"till-{identity.MAX_BLOCK}")
    with engine.begin() as conn:
        hub_network.add_tenant(conn, "acme", "Distribuidora Acme", 481, erp_supplier="SUP", now=T0)
        hub_network.add_store(
            conn,
            hub_network.Store(
                tenant="acme",
                store="centro",
                retailer="lupita",
                name="Centro",
                timezone="America/Mexico_City",
                currency="MXN",
                jurisdiction="mx-general",
                language="es",
                receipt_header=(),
                receipt_footer=(),
                offline_allowance_points=0,
                wallets_enabled=False,
                warehouse=None,
            ),
            now=T0,
        )
        for device in devices:
            hub_side = hub_network.add_device(conn, "acme", device, "centro", now=T0)
            box_side = box_customers.number_range(device, None)
            assert (hub_side.loyalty_first, hub_side.loyalty_last) == box_side
            assert box_side == identity.block_numbers(identity.device_block(device) or 0)
    engine.dispose()


def test_a_device_id_without_a_box_number_implies_no_block_on_either_side() -> None:
    assert identity.device_block("counter") is None
    assert identity.device_block(f"box-{identity.MAX_BLOCK + 1}") is None
    with pytest.raises(NotConfigured):
        box_customers.number_range("counter", None)


# --- the basket and customer of a sale --------------------------------------------------------------------


def test_the_box_and_the_hub_build_baskets_and_customers_with_core() -> None:
    # What each side's module calls, looked up in the module as its code finds them.
    assert vars(box_checkout)["sale_basket"] is from_sale.sale_basket
    assert vars(hub_sales)["sale_basket"] is from_sale.sale_basket
    assert vars(box_customers)["sale_customer"] is from_sale.sale_customer
    assert vars(hub_batch)["sale_customer"] is from_sale.sale_customer
    assert vars(hub_snapshot)["held_tier_values"] is from_sale.held_tier_values
    assert vars(hub_batch)["held_tier_values"] is from_sale.held_tier_values


def _comparable(basket: Any) -> list[dict[str, Any]]:
    # The event carries no line ids (the hub numbers them) and no per-unit measure.
    return [line.model_dump(exclude={"line_id", "measure_per_unit_milli"}) for line in basket.lines]


def test_the_hub_rebuilds_from_the_sale_event_the_basket_the_box_priced(
    checkout: Checkout,  # noqa: F811  (the box's fixtures, imported above)
    member: CachedCustomer,  # noqa: F811
    box: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    priced_baskets: list[Any] = []
    real_price = vars(box_checkout)["price"]

    def recording_price(basket: Any, *args: Any, **kwargs: Any) -> Any:
        priced_baskets.append(basket)
        return real_price(basket, *args, **kwargs)

    monkeypatch.setattr(box_checkout, "price", recording_price)
    sale = checkout.start()
    sale.set_customer(member)
    sale.add_barcode(COLA, qty=3)
    sale.add_cash(10_000)
    done = sale.complete()
    payload = box.conn.execute("SELECT payload FROM outbox WHERE event_id = ?", (done.event_id,)).fetchone()[0]
    event = wire.SaleData.model_validate(json.loads(payload)["data"])
    rebuilt = from_sale.sale_basket(event.currency, priced_baskets[-1].store, from_sale.wire_lines(event.lines))
    assert _comparable(rebuilt) == _comparable(priced_baskets[-1])
    assert [line.line_id for line in rebuilt.lines] == ["l1"]


def test_a_line_without_categories_is_refused_naming_the_line() -> None:
    line = from_sale.SoldLine(sku="X-1", qty=1, unit_price_minor=100, category=None, tax_category="general")
    store = Store(store_id="centro", timezone="America/Mexico_City")
    with pytest.raises(from_sale.UnpricedLine) as caught:
        from_sale.sale_basket("MXN", store, [line])
    assert caught.value.problem == "line 1 (X-1) carries no category or tax category"


# --- default program, promotions and settings ------------------------------------------------------------


@pytest.mark.parametrize("kind", defaults.SHARED_KINDS)
def test_the_box_and_the_hub_read_the_same_default(kind: str) -> None:
    assert box_context.default_body(kind) == defaults.default_body(kind)
    assert program_points._default_json(kind) == json.loads(defaults.default_body(kind))
    wire.decode_config_body(kind, defaults.default_body(kind).encode("utf-8"))


def test_the_shared_defaults_are_no_longer_in_the_box_folder() -> None:
    for kind in defaults.SHARED_KINDS:
        assert not (box_context.DEFAULTS_DIR / f"{kind}.json").exists()
    assert (box_context.DEFAULTS_DIR / "catalogue.json").exists()


def test_an_unknown_kind_has_no_shared_default() -> None:
    with pytest.raises(ValueError, match="no shared default"):
        defaults.default_body("catalogue")
