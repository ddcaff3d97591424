"""The shop's selling context, read from the ``config`` table: settings, taxes, promotions, points program.

The hub sends one versioned snapshot per config kind (see ``docs/protocol.md``); the box stores each in the
``config`` table. :class:`ContextProvider` turns the ``settings``, ``promotions`` and ``program`` rows into
one typed :class:`ShopContext` and keeps it until a row's version or hash changes, so a sale prices with
objects built once per version (the promotion set's index above all).

A config row that cannot be used (a body that does not parse, an unknown jurisdiction, a program in another
currency) raises :class:`BadConfig`, an ``InvalidInput`` whose ``field`` names the kind and the key. When the
box already had a working context it keeps selling with it: :meth:`ContextProvider.current` returns the
previous context and :attr:`ContextProvider.last_error` says what is wrong with the new rows. The parse
functions (:func:`parse_settings`, :func:`parse_promotions`, :func:`parse_program`) let whoever receives a
snapshot refuse a bad one before storing it.

:func:`load_defaults` gives a fresh box the embedded demo configuration (a small Mexican corner shop): the
network's default settings, program and promotions from :mod:`core.defaults` (the hub reads the same files),
and the box's own demo catalogue, stock counts and stock rules from ``edge_agent/defaults/``, in one
transaction. :func:`default_body` gives the text of any of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from core import defaults, wire
from core.errors import InvalidInput
from core.identity import MAX_NUMBER, MAX_PREFIX, MIN_PREFIX
from core.money import currency as lookup_currency
from core.points import PointsProgram
from core.pricing.model import InlineJurisdiction, Store
from core.promotions.base import Identifier, load_json, validate_model
from core.promotions.engine import PromotionSet
from core.promotions.loader import load_promotions
from core.tax import Jurisdiction, load_jurisdiction, shipped_jurisdiction
from edge_agent.errors import EdgeError
from edge_agent.store import Store as BoxStore

log = logging.getLogger(__name__)

__all__ = [
    "CONTEXT_KINDS",
    "DEFAULTS_DIR",
    "DEFAULTS_VERSION",
    "BadConfig",
    "ConfigMissing",
    "ContextProvider",
    "Language",
    "LoyaltyRange",
    "ReceiptSettings",
    "Settings",
    "ShopContext",
    "StoreSettings",
    "body_sha256",
    "build_context",
    "default_body",
    "load_defaults",
    "parse_program",
    "parse_promotions",
    "parse_settings",
]

DEFAULTS_DIR: Final = Path(__file__).with_name("defaults")
"""The box's own demo data (catalogue, stock, stock rules); the shared defaults are in :mod:`core.defaults`."""
DEFAULTS_VERSION: Final = 0
"""The version of every config row written from the embedded defaults: any snapshot from the hub is newer."""
CONTEXT_KINDS: Final = ("settings", "promotions", "program")
"""The config kinds a :class:`ShopContext` is built from."""
MAX_CONFIG_BODY_BYTES: Final = 16 * 1024 * 1024
"""Largest config body read (a big distributor's catalogue is a few megabytes)."""
MAX_OFFLINE_ALLOWANCE_POINTS: Final = 10**9

Language = Literal["es", "en", "zh"]


class BadConfig(InvalidInput, EdgeError):
    """A config row the box cannot use; ``field`` is ``config.<kind>.<key>``."""

    code = "bad_config"


class ConfigMissing(BadConfig):
    """The box has no settings yet: it needs the hub's snapshot or :func:`load_defaults`."""

    code = "config_missing"


class _Tolerant(BaseModel):
    # Settings follow the wire's version rule: a newer hub may add keys this box does not know yet.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ReceiptSettings(_Tolerant):
    """The receipt's free text: lines above the items and below the totals (the printer keeps the first
    ``edge_agent.receipt_layout.MAX_FREE_LINES``)."""

    header: tuple[Annotated[str, Field(max_length=64)], ...] = Field(default=(), max_length=wire.MAX_RECEIPT_TEXT_LINES)
    footer: tuple[Annotated[str, Field(max_length=64)], ...] = Field(default=(), max_length=wire.MAX_RECEIPT_TEXT_LINES)


class StoreSettings(_Tolerant):
    """Which store the box serves and its IANA time zone."""

    store_id: Identifier
    retailer_id: Identifier | None = None
    timezone: Annotated[str, Field(min_length=1, max_length=64)]


class LoyaltyRange(_Tolerant):
    """The block of loyalty numbers the hub reserved for this box's enrolments (see ``edge_agent.customers``)."""

    first: Annotated[int, Field(strict=True, ge=1, le=MAX_NUMBER)]
    last: Annotated[int, Field(strict=True, ge=1, le=MAX_NUMBER)]


class Settings(_Tolerant):
    """The ``settings`` body: the store, its currency and tax jurisdiction, language and counter rules.

    Keys this box does not know are ignored (the wire's version rule); known keys are checked strictly.
    """

    store: StoreSettings
    currency: str = Field(min_length=3, max_length=3)
    jurisdiction: Annotated[str, Field(min_length=1, max_length=64)] | InlineJurisdiction
    language: Language = "es"
    loyalty_prefix: Annotated[int, Field(strict=True, ge=MIN_PREFIX, le=MAX_PREFIX)]
    receipt: ReceiptSettings = ReceiptSettings()
    offline_allowance_points: Annotated[int, Field(strict=True, ge=0, le=MAX_OFFLINE_ALLOWANCE_POINTS)] = 0
    wallets_enabled: bool = False
    loyalty_range: LoyaltyRange | None = None


@dataclass(frozen=True)
class ShopContext:
    """Everything a sale is priced and tendered with, built once per set of config versions."""

    settings: Settings
    store: Store
    currency: str
    jurisdiction: Jurisdiction
    promotions: PromotionSet
    promotion_set_version: int | None
    """The ``promotions`` row's version, carried in each sale event; None when the box has no promotions."""
    program: PointsProgram | None
    versions: Mapping[str, int] = field(default_factory=dict)
    """The version of each config kind this context was built from."""


def body_sha256(body: str) -> str:
    """The hash stored beside a config body: SHA-256 of its UTF-8 text, in hex."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _body(kind: str, body: str | Mapping[str, Any]) -> Any:
    if isinstance(body, Mapping):
        return body
    if len(body) > MAX_CONFIG_BODY_BYTES:
        raise BadConfig(f"config.{kind}", f"body of {len(body)} characters is over {MAX_CONFIG_BODY_BYTES}")
    try:
        return load_json(body, f"config.{kind}")
    except InvalidInput as exc:
        raise BadConfig(exc.field or f"config.{kind}", exc.problem) from exc


def _rewrap(exc: InvalidInput, kind: str) -> BadConfig:
    where = exc.field if exc.field.startswith(f"config.{kind}") else f"config.{kind}.{exc.field}".rstrip(".")
    return BadConfig(where, exc.problem)


def parse_settings(body: str | Mapping[str, Any]) -> tuple[Settings, Jurisdiction]:
    """The settings body, checked, and its tax jurisdiction; raises :class:`BadConfig` naming the key."""
    data = _body("settings", body)
    try:
        settings = validate_model(Settings, data, "config.settings")
        # The pricing model's store refuses a bad time zone with a clear message.
        validate_model(Store, settings.store.model_dump(), "config.settings.store")
    except InvalidInput as exc:
        raise _rewrap(exc, "settings") from exc
    try:
        lookup_currency(settings.currency)
    except KeyError as exc:
        raise BadConfig("config.settings.currency", f"{settings.currency!r} is not an ISO 4217 currency") from exc
    reference = settings.jurisdiction
    try:
        if isinstance(reference, InlineJurisdiction):
            jurisdiction = load_jurisdiction(reference.toml, source="config.settings.jurisdiction.toml")
        else:
            jurisdiction = shipped_jurisdiction(reference)
    except InvalidInput as exc:
        raise BadConfig("config.settings.jurisdiction", exc.message) from exc
    if jurisdiction.currency != settings.currency:
        raise BadConfig(
            "config.settings.currency",
            f"is {settings.currency} but jurisdiction {jurisdiction.jurisdiction_id!r} prices in "
            f"{jurisdiction.currency}; the hub must send matching settings",
        )
    return settings, jurisdiction


def parse_promotions(body: str | Mapping[str, Any]) -> PromotionSet:
    """The promotions body (``{"promotions": [...]}``), indexed; raises :class:`BadConfig`."""
    data = _body("promotions", body)
    try:
        return PromotionSet(load_promotions(data))
    except InvalidInput as exc:
        raise _rewrap(exc, "promotions") from exc


def parse_program(body: str | Mapping[str, Any]) -> PointsProgram | None:
    """The program body (``{"program": {...} | null}``); raises :class:`BadConfig`."""
    data = _body("program", body)
    if not isinstance(data, Mapping) or set(data) != {"program"}:
        raise BadConfig("config.program", 'must be an object with exactly one key, "program"')
    if data["program"] is None:
        return None
    try:
        return validate_model(PointsProgram, data["program"], "config.program.program")
    except InvalidInput as exc:
        raise _rewrap(exc, "program") from exc


def build_context(rows: Mapping[str, tuple[int, str]]) -> ShopContext:
    """A context from config rows given as ``{kind: (version, body)}``; raises :class:`BadConfig`."""
    if "settings" not in rows:
        raise ConfigMissing(
            "config.settings",
            "this box has no settings yet; connect it to the hub or load the demo defaults",
        )
    settings, jurisdiction = parse_settings(rows["settings"][1])
    promotions = PromotionSet(())
    promotion_version: int | None = None
    if "promotions" in rows:
        promotion_version, body = rows["promotions"]
        promotions = parse_promotions(body)
        for promotion in promotions:
            if promotion.currency is not None and promotion.currency != settings.currency:
                raise BadConfig(
                    f"config.promotions.{promotion.id}.currency",
                    f"is {promotion.currency} but the store sells in {settings.currency}",
                )
    program = parse_program(rows["program"][1]) if "program" in rows else None
    if program is not None and program.currency != settings.currency:
        raise BadConfig(
            "config.program.program.currency",
            f"is {program.currency} but the store sells in {settings.currency}",
        )
    return ShopContext(
        settings=settings,
        store=Store.model_validate(settings.store.model_dump()),
        currency=settings.currency,
        jurisdiction=jurisdiction,
        promotions=promotions,
        promotion_set_version=promotion_version,
        program=program,
        versions={kind: version for kind, (version, _) in rows.items()},
    )


class ContextProvider:
    """Gives the current :class:`ShopContext`, rebuilt only when a config row's version or hash changes.

    A bad new row never takes a working box down: :meth:`current` keeps returning the last good context
    and :attr:`last_error` holds the problem (None once the rows are good again).
    """

    def __init__(self, store: BoxStore) -> None:
        self._store = store
        self._key: tuple[tuple[str, int, str], ...] | None = None
        self._failed_key: tuple[tuple[str, int, str], ...] | None = None
        self._context: ShopContext | None = None
        self.last_error: BadConfig | None = None

    def _versions(self) -> tuple[tuple[str, int, str], ...]:
        marks = ",".join("?" * len(CONTEXT_KINDS))
        rows = self._store.conn.execute(
            f"SELECT kind, version, sha256 FROM config WHERE kind IN ({marks}) ORDER BY kind",  # noqa: S608
            CONTEXT_KINDS,
        ).fetchall()
        return tuple((str(k), int(v), str(h)) for k, v, h in rows)

    def tax_categories(self) -> list[str]:
        """The current jurisdiction's tax categories (what an item added at the counter may name)."""
        return self.current().jurisdiction.category_ids()

    def current(self) -> ShopContext:
        """The context for the config rows now stored (or the last good one if the new rows are bad)."""
        key = self._versions()
        if key == self._key and self._context is not None:
            return self._context
        if key == self._failed_key and self._context is not None:
            return self._context
        marks = ",".join("?" * len(CONTEXT_KINDS))
        bodies = {
            str(k): (int(v), str(b))
            for k, v, b in self._store.conn.execute(
                f"SELECT kind, version, body FROM config WHERE kind IN ({marks})",  # noqa: S608
                CONTEXT_KINDS,
            )
        }
        try:
            context = build_context(bodies)
        except BadConfig as exc:
            self.last_error = exc
            self._failed_key = key
            if self._context is None:
                raise
            log.warning("config rows refused, selling with the previous versions: %s", exc)
            return self._context
        self._context, self._key, self._failed_key, self.last_error = context, key, None, None
        return context


def default_body(kind: str) -> str:
    """The embedded default body of config ``kind``: the network's shared default for settings, program and
    promotions (:mod:`core.defaults`), the box's demo data for the rest."""
    if kind in defaults.SHARED_KINDS:
        return defaults.default_body(kind)
    return (DEFAULTS_DIR / f"{kind}.json").read_text(encoding="utf-8")


def load_defaults(store: BoxStore) -> bool:
    """Give a box with no config the embedded demo configuration; returns False if it already had some.

    Writes the ``settings``, ``program``, ``promotions``, ``catalogue`` and ``stock_rules`` config rows (version
    :data:`DEFAULTS_VERSION`), the catalogue's item, barcode and distributor rows, opening stock counts and
    stock rules, all in one transaction.
    """
    from edge_agent.sync import apply_config_in

    bodies = {kind: default_body(kind) for kind in ("settings", "program", "promotions", "catalogue", "stock_rules")}
    # Check every body first: broken defaults must fail here, loudly, not at the first sale.
    build_context({kind: (DEFAULTS_VERSION, bodies[kind]) for kind in CONTEXT_KINDS})
    opening = json.loads(default_body("stock"))["on_hand"]
    with store.transaction() as tx:
        if tx.conn.execute("SELECT 1 FROM config LIMIT 1").fetchone() is not None:
            return False
        # The same path as a hub snapshot (catalogue before its stock rules), all in this one transaction.
        for kind, body in bodies.items():
            apply_config_in(tx, kind, DEFAULTS_VERSION, body.encode("utf-8"))
        now = tx.now.isoformat()
        for sku, on_hand in opening.items():
            tx.conn.execute(
                "INSERT INTO stock (sku, on_hand, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (sku) DO UPDATE SET on_hand = excluded.on_hand, updated_at = excluded.updated_at",
                (sku, int(on_hand), now),
            )
            tx.conn.execute(
                "INSERT INTO stock_movement (sku, delta, on_hand_after, reason, ref, at) VALUES (?, ?, ?, ?, ?, ?)",
                (sku, int(on_hand), int(on_hand), "count", "defaults", now),
            )
    return True
