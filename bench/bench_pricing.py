"""Pricing latency: a 30-line basket against a catalogue of active promotions and a 3-tax jurisdiction.

Each evaluation is one full :func:`core.pricing.price` call: promotions, taxes, points and tier, receipt
models built. The catalogue is indexed once (a :class:`core.promotions.PromotionSet`), as the box does once
per promotion-set version. Promotions are spread over a catalogue of 20,000 items, 300 categories, 60
distributors and 200 brands, so most of them cannot match a 30-line basket, as in a real catalogue; a few
always match. The baseline, measured in the same run, is the plain sum of the same lines' prices.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.report import Figure, median, percentile
from core.points import PointsProgram
from core.pricing import Basket, Customer, price
from core.promotions import Promotion, PromotionSet, load_promotion
from core.tax import Jurisdiction, TaxableLine, compute_taxes, load_jurisdiction

TARGET_P99_MS = 2.0
BASKET_LINES = 30
SIZES = (50, 500, 5_000)
HEADLINE_SIZE = 500
SEED = 20_260_314

_CATALOGUE_ITEMS = 20_000
_CATEGORIES = 300
_DISTRIBUTORS = 60
_BRANDS = 200

JURISDICTION_TOML = """
format_version = 1
id = "bench-3tax"
name = "Benchmark: three taxes, one compound"
country = "MX"
currency = "MXN"
pricing = "inclusive"
rounding = "per_line"
rounding_mode = "half_up"
effective_from = 2020-01-01

[taxes.federal]
name = "Federal"
kind = "percentage"
rate = "8%"

[taxes.state]
name = "State"
kind = "percentage"
rate = "3%"

[taxes.vat]
name = "VAT"
kind = "percentage"
rate = "16%"
compound = true

[categories.general]
taxes = ["federal", "state", "vat"]
"""

NOW = datetime(2026, 3, 14, 18, 30, tzinfo=UTC)


def jurisdiction() -> Jurisdiction:
    return load_jurisdiction(JURISDICTION_TOML, source="bench")


def _item(n: int) -> dict[str, Any]:
    # Item n's category, distributor and brand are fixed functions of n, as in a real catalogue.
    return {
        "item_id": f"item-{n}",
        "category": f"cat-{n % _CATEGORIES}",
        "distributor": f"dist-{n % _DISTRIBUTORS}",
        "brand": f"brand-{(n * 7) % _BRANDS}",
    }


def basket(rng: random.Random) -> Basket:
    items = rng.sample(range(_CATALOGUE_ITEMS), BASKET_LINES)
    lines = []
    for position, n in enumerate(items):
        lines.append(
            {
                "line_id": str(position + 1),
                **_item(n),
                "tax_category": "general",
                "quantity": rng.randint(1, 6),
                "unit_price_minor": rng.randint(500, 25_000),
            }
        )
    return Basket.model_validate(
        {
            "currency": "MXN",
            "store": {"store_id": "store-1", "retailer_id": "retailer-1", "timezone": "America/Mexico_City"},
            "lines": lines,
        }
    )


def _always_matching(b: Basket) -> list[dict[str, Any]]:
    first, second, third = b.lines[0], b.lines[1], b.lines[2]
    funded = {"distributor_bp": 7000, "retailer_bp": 3000}
    return [
        {
            "id": "fixed-3x2",
            "name": "3x2",
            "scope": {"kind": "item", "ids": [first.item_id]},
            "effect": {"type": "buy_get_free", "buy": 2, "get": 1},
            "funding": funded,
        },
        {
            "id": "fixed-category",
            "name": "15% category",
            "scope": {"kind": "category", "ids": [second.category]},
            "effect": {"type": "percent_off", "percent": "15%"},
            "funding": funded,
        },
        {
            "id": "fixed-brand-points",
            "name": "double points",
            "scope": {"kind": "brand", "ids": [third.brand]},
            "effect": {"type": "points_multiplier", "multiplier": "2"},
            "funding": funded,
        },
        {
            "id": "fixed-ticket",
            "name": "50 off 500",
            "currency": "MXN",
            "scope": {"kind": "ticket"},
            "effect": {"type": "amount_off", "amount_minor": 5000},
            "conditions": {"min_spend_minor": 50_000},
            "funding": funded,
        },
    ]


def _random_promotion(rng: random.Random, n: int) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.01:
        scope: dict[str, Any] = {"kind": "ticket"}
    elif roll < 0.60:
        scope = {"kind": "item", "ids": [f"item-{rng.randrange(_CATALOGUE_ITEMS)}" for _ in range(3)]}
    elif roll < 0.85:
        scope = {"kind": "category", "ids": [f"cat-{rng.randrange(_CATEGORIES)}"]}
    elif roll < 0.93:
        scope = {"kind": "distributor", "ids": [f"dist-{rng.randrange(_DISTRIBUTORS)}"]}
    else:
        scope = {"kind": "brand", "ids": [f"brand-{rng.randrange(_BRANDS)}"]}
    scope["ids"] = sorted(set(scope.get("ids", []))) if scope["kind"] != "ticket" else []
    effects: list[dict[str, Any]] = [
        {"type": "percent_off", "percent": f"{rng.choice((5, 10, 15, 20))}%"},
        {"type": "amount_off", "amount_minor": rng.choice((500, 1000, 2000))},
        {"type": "buy_get_free", "buy": 2, "get": 1},
        {"type": "buy_get_discount", "buy": 1, "get": 1, "percent": "50%"},
        {"type": "bonus_points", "points": 20},
    ]
    conditions: dict[str, Any] = {}
    if rng.random() < 0.3:
        conditions["days_of_week"] = rng.sample(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], 3)
    if rng.random() < 0.2:
        conditions["valid_until"] = "2026-03-01"
    audience: dict[str, Any] = {"kind": "everyone"}
    if rng.random() < 0.2:
        audience = {"kind": "tiers", "ids": ["silver", "gold"]}
    return {
        "id": f"promo-{n:05d}",
        "name": f"promotion {n}",
        "currency": "MXN",
        "priority": rng.randrange(10, 200),
        "stacking": "exclusive" if rng.random() < 0.02 else "combinable",
        "scope": scope,
        "effect": rng.choice(effects),
        "conditions": conditions,
        "audience": audience,
        "funding": {"distributor_bp": 10_000, "retailer_bp": 0},
    }


def catalogue(rng: random.Random, size: int, b: Basket) -> PromotionSet:
    fixed = _always_matching(b)
    generated = [_random_promotion(rng, n) for n in range(size - len(fixed))]
    promotions: list[Promotion] = [
        load_promotion(data, f"promotions.{i}") for i, data in enumerate([*fixed, *generated])
    ]
    return PromotionSet(promotions)


def _program() -> PointsProgram:
    return PointsProgram.model_validate({"id": "bench", "name": "Bench", "currency": "MXN"})


def _customer() -> Customer:
    return Customer(customer_id="c-1", tier_points=1500, points_balance=3000)


def _timed(fn: Callable[[], object], runs: int) -> list[float]:
    samples: list[float] = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return samples


def run(quick: bool) -> list[Figure]:
    rng = random.Random(SEED)
    b = basket(rng)
    j = jurisdiction()
    program = _program()
    customer = _customer()
    runs = 60 if quick else 2_000
    warmup = 10 if quick else 200

    def plain_sum() -> int:
        return sum(line.unit_price_minor * line.quantity for line in b.lines)

    _timed(plain_sum, warmup)
    baseline = _timed(plain_sum, runs)
    base_p99, base_median = percentile(baseline, 99), median(baseline)

    figures: list[Figure] = []
    by_size: dict[int, list[float]] = {}
    for size in SIZES:
        book = catalogue(rng, size, b)

        def evaluate(book: PromotionSet = book) -> object:
            return price(b, customer, program, book, j, NOW)

        _timed(evaluate, warmup)
        by_size[size] = _timed(evaluate, runs)

    # The tax engine's own share of a pricing: the same lines, as the headline priced them, taxed alone.
    receipt = price(b, customer, program, catalogue(random.Random(SEED), HEADLINE_SIZE, b), j, NOW)
    taxable = [
        TaxableLine(line.line_id, line.tax_category, line.quantity, line.amount_minor, 0) for line in receipt.lines
    ]

    def taxes_alone() -> object:
        return compute_taxes(taxable, j)

    _timed(taxes_alone, warmup)
    taxes = _timed(taxes_alone, runs)

    headline = by_size[HEADLINE_SIZE]
    p99 = percentile(headline, 99)
    figures.append(
        Figure(
            name=f"price {BASKET_LINES} lines x {HEADLINE_SIZE} promotions, 3 taxes: p99",
            value=p99,
            unit="ms",
            baseline_name="plain sum of the lines: p99",
            baseline=base_p99,
            higher_is_better=False,
            target=f"p99 <= {TARGET_P99_MS:g} ms",
            met=p99 <= TARGET_P99_MS,
        )
    )
    figures.append(
        Figure(
            name=f"price {BASKET_LINES} lines x {HEADLINE_SIZE} promotions, 3 taxes: median",
            value=median(headline),
            unit="ms",
            baseline_name="plain sum of the lines: median",
            baseline=base_median,
            higher_is_better=False,
        )
    )
    figures.append(
        Figure(
            name=f"of which taxes alone (core.tax.compute_taxes, {BASKET_LINES} lines): p99",
            value=percentile(taxes, 99),
            unit="ms",
            baseline_name="plain sum of the lines: p99",
            baseline=base_p99,
            higher_is_better=False,
        )
    )
    for size in SIZES:
        size_p99 = percentile(by_size[size], 99)
        figures.append(
            Figure(
                name=f"price p99 at {size:,} promotions",
                value=size_p99,
                unit="ms",
                baseline_name="plain sum of the lines: p99",
                baseline=base_p99,
                higher_is_better=False,
                target=f"p99 <= {TARGET_P99_MS:g} ms" if size <= HEADLINE_SIZE else "",
                met=size_p99 <= TARGET_P99_MS if size <= HEADLINE_SIZE else None,
            )
        )
    return figures
