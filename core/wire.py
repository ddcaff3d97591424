"""Wire contract v1: topics, the envelope, message schemas and their bounds.

This module and ``docs/protocol.md`` are the only places the contract is written down; the box, the hub and
the tests all go through here. Everything is pure: ids and times are passed in.

Decoding a message is strict and total: :func:`decode` either returns a :class:`Message` whose ``data`` is a
validated model, or raises :class:`ContractViolation` with a stable ``reason`` code (the dead-letter reason
on the hub). It never raises anything else for any payload, whatever its bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import InvalidInput
from core.text import nul_path

PROTOCOL_VERSION: Final = 1
"""The major version: in every envelope (``v``) and in every topic (``mo/v1/...``)."""

TOPIC_ROOT: Final = "mo"
MAX_PAYLOAD_BYTES: Final = 64 * 1024
"""Largest payload a sender may publish and a receiver will decode (bytes of UTF-8 JSON)."""
MAX_SALE_LINES: Final = 500
MAX_ACK_RESULTS: Final = 400
"""Most event results in one ``ack`` message; the hub splits larger batches."""
MAX_AMOUNT_MINOR: Final = 10**12
"""Largest single amount (minor units) accepted on the wire: far above any shop ticket, far below int64."""
MAX_QUANTITY: Final = 100_000
MAX_POINTS: Final = 10**12
MAX_TENDERS: Final = 16
MAX_PROMOTIONS_PER_SALE: Final = 200
MAX_REORDER_LINES: Final = 500
HUB_SHARE_GROUP: Final = "hub"
MAX_SEQ: Final = 2**63 - 1
"""Largest envelope ``seq``: a signed 64-bit integer, as both ends store it."""
MAX_EVENTS_IN_FLIGHT: Final = 65_535
"""Most events a box keeps published and not yet acknowledged by the hub (its relay's window, at most MQTT's
receive maximum): an event the hub has not committed is never more than this many seqs below the box's
newest committed one."""

CONFIG_KINDS: Final = ("settings", "promotions", "program", "catalogue", "stock_rules", "customers")
"""The configuration snapshots the hub sends a box, each on its own ``cfg/{kind}`` topic."""
CONFIG_CHUNK_BYTES: Final = 45_000
"""Bytes of the (compressed) snapshot carried by one part: 60,000 characters of base64 plus the envelope
stays under :data:`MAX_PAYLOAD_BYTES`."""
MAX_CONFIG_PARTS: Final = 512
"""Most parts of one snapshot (about 22 MiB on the wire)."""
MAX_CONFIG_BODY_BYTES: Final = 32 * 1024 * 1024
"""Largest snapshot body once assembled and decompressed (bytes of UTF-8 JSON)."""
MAX_CONFIG_VERSION: Final = 2**63 - 1
MAX_CATALOGUE_ITEMS: Final = 100_000
MAX_BARCODES_PER_ITEM: Final = 32
MAX_DISTRIBUTORS_PER_ITEM: Final = 32
MAX_STOCK_RULES: Final = 100_000
MAX_CONFIG_CUSTOMERS: Final = 100_000
MAX_ERASED_IDS: Final = 100_000
MAX_SEGMENTS_PER_CUSTOMER: Final = 100
MAX_RECEIPT_TEXT_LINES: Final = 20
MAX_JURISDICTION_TOML_CHARS: Final = 256 * 1024
MAX_TEMPLATE_CHARS: Final = 8192
"""Base64 characters of one sealed fingerprint template."""

_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TYPE_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_CURRENCY_RE: Final = re.compile(r"^[A-Z]{3}$")
_PART_RE: Final = re.compile(r"^(0|[1-9][0-9]{0,5})$")
_SHA256_RE: Final = r"^[0-9a-f]{64}$"


class ContractViolation(InvalidInput):
    """A message that breaks the wire contract. ``reason`` is the stable code stored with its dead letter."""

    code = "contract_violation"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__("", f"{reason}: {detail}", code=reason)
        self.reason = reason
        self.detail = detail


class Reason(StrEnum):
    """Why a message was refused: the dead-letter reasons, stable across releases."""

    BAD_TOPIC = "bad_topic"
    OVERSIZED = "oversized"
    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    UNSUPPORTED_VERSION = "unsupported_version"
    BAD_ENVELOPE = "bad_envelope"
    DEVICE_MISMATCH = "device_mismatch"
    TYPE_MISMATCH = "type_mismatch"
    UNKNOWN_TYPE = "unknown_type"
    BAD_DATA = "bad_data"
    ID_CONFLICT = "id_conflict"
    """Hub only: an event id seen before with a different payload."""
    APPLY_FAILED = "apply_failed"
    """Hub only: a valid message the database refused on its own (kept for a person to look at)."""
    STORE_MISMATCH = "store_mismatch"
    """Hub only: an event naming a store other than the one its box is bound to (or, from a box bound to none,
    a store of the network): the hub never takes a box's word for which store's books a sale goes into."""
    BAD_SNAPSHOT = "bad_snapshot"
    """Box only: configuration parts that do not assemble into the body their manifest describes."""


# --------------------------------------------------------------------------------------------- topics


class Kind(StrEnum):
    """The branches of a device's subtree."""

    EVT = "evt"
    STATUS = "status"
    ACK = "ack"
    CFG = "cfg"
    CMD = "cmd"


QOS: Final[dict[Kind, int]] = {Kind.EVT: 1, Kind.STATUS: 1, Kind.ACK: 1, Kind.CFG: 1, Kind.CMD: 1}
RETAIN: Final[dict[Kind, bool]] = {
    Kind.EVT: False,
    Kind.STATUS: True,
    Kind.ACK: False,
    Kind.CFG: True,
    Kind.CMD: False,
}


def check_name(value: str, what: str) -> str:
    """Validate a tenant or device id: lower-case letters, digits, ``-`` and ``_``, 1 to 64 characters."""
    if not _NAME_RE.fullmatch(value):
        raise InvalidInput(what, f"{value!r} is not a valid id (use a-z, 0-9, '-' and '_', 1 to 64 characters)")
    return value


@dataclass(frozen=True)
class Topic:
    """One concrete topic of the tree ``mo/v1/{tenant}/{device}/{kind}[/{name}[/res | /{part}]]``.

    ``part`` numbers the parts of a configuration snapshot: ``cfg/{kind}`` carries the snapshot's manifest,
    ``cfg/{kind}/{part}`` (decimal, no leading zeros, below :data:`MAX_CONFIG_PARTS`) its parts.
    """

    tenant: str
    device: str
    kind: Kind
    name: str | None = None
    response: bool = False
    part: int | None = None

    def __post_init__(self) -> None:
        check_name(self.tenant, "tenant")
        check_name(self.device, "device")
        needs_name = self.kind in (Kind.EVT, Kind.CFG, Kind.CMD)
        if needs_name != (self.name is not None):
            raise InvalidInput("topic", f"kind {self.kind} {'needs' if needs_name else 'takes no'} name")
        if self.name is not None and not _TYPE_RE.fullmatch(self.name):
            raise InvalidInput("topic", f"{self.name!r} is not a valid message name")
        if self.response and self.kind is not Kind.CMD:
            raise InvalidInput("topic", "only commands have a /res response topic")
        if self.part is not None:
            if self.kind is not Kind.CFG:
                raise InvalidInput("topic", "only configuration snapshots have numbered parts")
            if isinstance(self.part, bool) or not 0 <= self.part < MAX_CONFIG_PARTS:
                raise InvalidInput("topic", f"part {self.part!r} is not 0 to {MAX_CONFIG_PARTS - 1}")

    def __str__(self) -> str:
        parts = [TOPIC_ROOT, f"v{PROTOCOL_VERSION}", self.tenant, self.device, self.kind.value]
        if self.name is not None:
            parts.append(self.name)
        if self.response:
            parts.append("res")
        if self.part is not None:
            parts.append(str(self.part))
        return "/".join(parts)

    @property
    def qos(self) -> int:
        return QOS[self.kind]

    @property
    def retain(self) -> bool:
        return RETAIN[self.kind]

    @classmethod
    def parse(cls, text: str) -> Topic:
        """Parse a concrete topic; raises :class:`ContractViolation` (``bad_topic``) when it is not one."""
        parts = text.split("/")
        try:
            if len(parts) < 5 or parts[0] != TOPIC_ROOT:
                raise InvalidInput("topic", "not under mo/")
            if parts[1] != f"v{PROTOCOL_VERSION}":
                raise InvalidInput("topic", f"version segment {parts[1]!r} is not v{PROTOCOL_VERSION}")
            kind = Kind(parts[4])
            rest = parts[5:]
            response = bool(rest) and rest[-1] == "res" and kind is Kind.CMD and len(rest) == 2
            part: int | None = None
            if kind is Kind.CFG and len(rest) == 2:
                if not _PART_RE.fullmatch(rest[1]):
                    raise InvalidInput("topic", f"part {rest[1]!r} is not a decimal number without leading zeros")
                part = int(rest[1])
                rest = rest[:1]
            name_parts = rest[:-1] if response else rest
            if len(name_parts) > 1:
                raise InvalidInput("topic", "too many levels")
            return cls(parts[2], parts[3], kind, name_parts[0] if name_parts else None, response, part)
        except (InvalidInput, ValueError) as exc:
            raise ContractViolation(Reason.BAD_TOPIC, f"{text!r}: {exc}") from exc

    def matches(self, pattern: str) -> bool:
        """Whether this topic matches an MQTT filter (``+`` and ``#`` wildcards, ``$share/...`` prefix)."""
        return topic_matches(pattern, str(self))


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT filter matching (OASIS MQTT 5.0, section 4.7)."""
    if pattern.startswith("$share/"):
        pattern = pattern.split("/", 2)[2]
    pat, top = pattern.split("/"), topic.split("/")
    for i, level in enumerate(pat):
        if level == "#":
            return True
        if i >= len(top) or (level != "+" and level != top[i]):
            return False
    return len(pat) == len(top)


def event_topic(tenant: str, device: str, type_: str) -> Topic:
    return Topic(tenant, device, Kind.EVT, type_)


def status_topic(tenant: str, device: str) -> Topic:
    return Topic(tenant, device, Kind.STATUS)


def ack_topic(tenant: str, device: str) -> Topic:
    return Topic(tenant, device, Kind.ACK)


def cfg_topic(tenant: str, device: str, kind: str) -> Topic:
    return Topic(tenant, device, Kind.CFG, kind)


def cfg_part_topic(tenant: str, device: str, kind: str, part: int) -> Topic:
    return Topic(tenant, device, Kind.CFG, kind, part=part)


def box_config_filter(tenant: str, device: str) -> str:
    """A box's subscription to its configuration snapshots: every manifest and every part."""
    return f"{TOPIC_ROOT}/v{PROTOCOL_VERSION}/{tenant}/{device}/{Kind.CFG.value}/#"


def cmd_topic(tenant: str, device: str, name: str, *, response: bool = False) -> Topic:
    return Topic(tenant, device, Kind.CMD, name, response)


def hub_event_filter(tenant: str = "+") -> str:
    """The hub's shared subscription to every box event (of one tenant, or all)."""
    return f"$share/{HUB_SHARE_GROUP}/{TOPIC_ROOT}/v{PROTOCOL_VERSION}/{tenant}/+/{Kind.EVT.value}/#"


def hub_status_filter(tenant: str = "+") -> str:
    """Every box's retained status. Not shared: retained messages are not delivered to shared subscriptions."""
    return f"{TOPIC_ROOT}/v{PROTOCOL_VERSION}/{tenant}/+/{Kind.STATUS.value}"


# --------------------------------------------------------------------------------------------- ids


def uuid7(unix_ms: int, random_bytes: bytes) -> uuid.UUID:
    """A UUID version 7 (RFC 9562): 48 bits of Unix time in milliseconds, then 74 random bits.

    ``random_bytes`` must hold at least 10 bytes; the caller draws them (core draws no randomness).
    """
    if not 0 <= unix_ms < 1 << 48:
        raise InvalidInput("unix_ms", "out of the 48-bit range")
    if len(random_bytes) < 10:
        raise InvalidInput("random_bytes", "need at least 10 bytes")
    rand = int.from_bytes(random_bytes[:10], "big")
    rand_a = (rand >> 68) & 0xFFF
    rand_b = rand & ((1 << 62) - 1)
    value = (unix_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return uuid.UUID(int=value)


def uuid7_unix_ms(value: uuid.UUID) -> int:
    """The millisecond timestamp inside a UUIDv7."""
    return value.int >> 80


# --------------------------------------------------------------------------------------------- schemas


class _Model(BaseModel):
    # Unknown fields are ignored, not refused: a v1 sender may add optional fields (see the version rule).
    model_config = ConfigDict(frozen=True, extra="ignore", strict=False)


Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT_MINOR, strict=True)]
ShortText = Annotated[str, Field(min_length=1, max_length=64)]
OptionalName = Annotated[str, Field(min_length=1, max_length=64)] | None
PointsAmount = Annotated[int, Field(ge=0, le=MAX_POINTS, strict=True)]
LoyaltyIdText = Annotated[str, Field(pattern=r"^[0-9]{12}$")]
"""A loyalty id in its 12-digit form (see ``core.identity``)."""
SegmentId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")]
"""A segment id as promotions name it in their audience (the pricing identifier's form)."""


class SaleLine(_Model):
    """One line of a sale. ``amount_minor = qty * unit_price_minor - discount_minor``.

    ``category``, ``tax_category``, ``brand`` and ``distributor`` are the catalogue facts the hub needs to
    price the basket again with ``core`` (optional: a bare sale generator leaves them out).
    """

    sku: ShortText
    name: Annotated[str, Field(max_length=120)] = ""
    qty: Annotated[int, Field(ge=1, le=MAX_QUANTITY, strict=True)]
    unit_price_minor: Amount
    discount_minor: Amount = 0
    amount_minor: Amount
    category: OptionalName = None
    tax_category: OptionalName = None
    brand: OptionalName = None
    distributor: OptionalName = None

    @model_validator(mode="after")
    def _amount_adds_up(self) -> SaleLine:
        gross = self.qty * self.unit_price_minor
        if self.discount_minor > gross:
            raise ValueError(f"discount_minor {self.discount_minor} exceeds the line's gross {gross}")
        if self.amount_minor != gross - self.discount_minor:
            raise ValueError(
                f"amount_minor {self.amount_minor} != qty*unit_price_minor - discount_minor = "
                f"{gross - self.discount_minor}"
            )
        return self


def _check_currency(value: str) -> str:
    if not _CURRENCY_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not an ISO 4217 alphabetic code")
    return value


class TenderRecord(_Model):
    """How part of a sale was paid. Never a card number: a card carries the terminal's approval code only.

    ``kind`` is ``cash``, ``points``, ``card`` or ``wallet``; ``amount_minor`` is what the tender pays
    towards ``total_minor`` (cash: after change and rounding); ``points`` the points spent (points only);
    ``reference`` the card approval code or the acquirer's transaction id for a wallet payment.
    """

    kind: Literal["cash", "points", "card", "wallet"]
    amount_minor: Amount
    points: PointsAmount = 0
    reference: Annotated[str, Field(max_length=64)] | None = None
    provider: OptionalName = None

    @model_validator(mode="after")
    def _points_only_for_points(self) -> TenderRecord:
        if self.points and self.kind != "points":
            raise ValueError(f"a {self.kind} tender spends no points")
        if self.kind in ("card", "wallet") and not self.reference:
            raise ValueError(f"a {self.kind} tender needs its approval reference")
        return self


class AppliedPromotion(_Model):
    """A promotion that changed the sale: its discount and the points it granted."""

    promotion_id: ShortText
    discount_minor: Amount = 0
    points: PointsAmount = 0


class RefundLine(_Model):
    """A sale line given back, in whole or in part (``qty`` units worth ``amount_minor``)."""

    line_no: Annotated[int, Field(ge=0, le=MAX_SALE_LINES, strict=True)]
    sku: ShortText
    qty: Annotated[int, Field(ge=1, le=MAX_QUANTITY, strict=True)]
    amount_minor: Amount


class RefundData(_Model):
    """``evt/refund``: money and points given back against an earlier sale of the same box.

    ``tenders`` say where it went back (points to the customer's account, cash, card, wallet); points the
    sale had earned are taken back in ``points_reversed``.
    """

    TYPE: ClassVar[str] = "refund"
    refund_id: ShortText
    sale_id: ShortText
    store: ShortText
    currency: str
    lines: Annotated[list[RefundLine], Field(min_length=1, max_length=MAX_SALE_LINES)]
    total_minor: Amount
    tenders: Annotated[list[TenderRecord], Field(min_length=1, max_length=MAX_TENDERS)]
    points_reversed: PointsAmount = 0
    customer: LoyaltyIdText | None = None
    cashier: OptionalName = None
    reason: Annotated[str, Field(max_length=200)] = ""

    @field_validator("currency")
    @classmethod
    def _iso_code(cls, value: str) -> str:
        return _check_currency(value)

    @model_validator(mode="after")
    def _adds_up(self) -> RefundData:
        paid = sum(t.amount_minor for t in self.tenders)
        if paid != self.total_minor:
            raise ValueError(f"the tenders return {paid}, not total_minor {self.total_minor}")
        return self


Gender = Literal["female", "male", "other", "unspecified"]


class Consent(_Model):
    """A consent as given or withdrawn at the counter, with when."""

    granted: bool
    at: datetime


class CustomerFields(_Model):
    """What a customer told the store. Every field is optional so an update carries only what changed."""

    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    phone_e164: Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")] | None = None
    gender: Gender | None = None
    birth_date: date | None = None
    wechat_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    whatsapp_e164: Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")] | None = None
    sticker: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    marketing_consent: Consent | None = None
    fingerprint_consent: Consent | None = None


class EnrolmentData(_Model):
    """``evt/enrolment``: a consumer joined the network at this store (the retailer earns merchant points).

    Biometrics never travel in the clear: ``fingerprint_template`` is the sensor's template sealed with
    the tenant's key (base64), present only with a granted ``fingerprint_consent``. The face image and the
    drawn signature stay on the box; ``has_face`` and ``has_signature`` say they exist.
    """

    TYPE: ClassVar[str] = "enrolment"
    customer: LoyaltyIdText
    store: ShortText
    cashier: OptionalName = None
    fields: CustomerFields
    has_face: bool = False
    has_signature: bool = False
    fingerprint_template: Annotated[str, Field(max_length=8192)] | None = None

    @model_validator(mode="after")
    def _biometrics_need_consent(self) -> EnrolmentData:
        consent = self.fields.fingerprint_consent
        if self.fingerprint_template is not None and (consent is None or not consent.granted):
            raise ValueError("a fingerprint template needs a granted fingerprint_consent")
        if self.fields.name is None or (self.fields.phone_e164 is None and self.fields.sticker is None):
            raise ValueError("an enrolment needs a name and a phone or a sticker")
        return self


class CustomerUpdateData(_Model):
    """``evt/customer_update``: changed fields or consents of a known customer.

    ``erase_fingerprint`` says the fingerprint consent was withdrawn and the template deleted on this box.
    """

    TYPE: ClassVar[str] = "customer_update"
    customer: LoyaltyIdText
    store: ShortText
    cashier: OptionalName = None
    fields: CustomerFields
    fingerprint_template: Annotated[str, Field(max_length=8192)] | None = None
    erase_fingerprint: bool = False


class StockAdjustmentData(_Model):
    """``evt/stock_adjustment``: a stock count, a delivery received, damage or loss at a store."""

    TYPE: ClassVar[str] = "stock_adjustment"
    adjustment_id: ShortText
    store: ShortText
    sku: ShortText
    delta: Annotated[int, Field(ge=-(10**9), le=10**9, strict=True)]
    on_hand_after: Annotated[int, Field(ge=-(10**9), le=10**9, strict=True)]
    reason: Literal["count", "received", "damaged", "lost", "returned", "correction"]
    cashier: OptionalName = None
    note: Annotated[str, Field(max_length=200)] = ""


class StockAlertData(_Model):
    """``evt/stock_alert``: an item crossed its low-stock or out-of-stock line (or came back above it)."""

    TYPE: ClassVar[str] = "stock_alert"
    store: ShortText
    sku: ShortText
    level: Literal["low", "out", "ok"]
    on_hand: Annotated[int, Field(ge=-(10**9), le=10**9, strict=True)]
    threshold: Annotated[int, Field(ge=0, le=10**9, strict=True)]


class ReorderLine(_Model):
    """One item to order: how many, and from which distributor (None: any that carries it)."""

    sku: ShortText
    qty: Annotated[int, Field(ge=1, le=MAX_QUANTITY, strict=True)]
    distributor: OptionalName = None
    on_hand: Annotated[int, Field(ge=-(10**9), le=10**9, strict=True)]


class ReorderRequestData(_Model):
    """``evt/reorder_request``: the box's auto-reorder rules (or the shopkeeper) ask the hub for stock."""

    TYPE: ClassVar[str] = "reorder_request"
    request_id: ShortText
    store: ShortText
    lines: Annotated[list[ReorderLine], Field(min_length=1, max_length=MAX_REORDER_LINES)]
    origin: Literal["auto", "manual"] = "auto"
    cashier: OptionalName = None


class SaleData(_Model):
    """``evt/sale``: a completed sale at a counter. Amounts are integer minor units of ``currency``."""

    TYPE: ClassVar[str] = "sale"
    sale_id: ShortText
    store: ShortText
    currency: str
    lines: Annotated[list[SaleLine], Field(min_length=1, max_length=MAX_SALE_LINES)]
    total_minor: Amount
    tax_added_minor: Amount = 0
    tax_included_minor: Amount = 0
    customer: LoyaltyIdText | None = None
    cashier: OptionalName = None
    tenders: Annotated[list[TenderRecord], Field(max_length=MAX_TENDERS)] = []
    points_earned: PointsAmount = 0
    points_redeemed: PointsAmount = 0
    offline_hold_points: PointsAmount = 0
    promotion_set_version: Annotated[int, Field(ge=0, le=MAX_CONFIG_VERSION, strict=True)] | None = None
    promotions: Annotated[list[AppliedPromotion], Field(max_length=MAX_PROMOTIONS_PER_SALE)] = []
    offline: bool = False

    @field_validator("currency")
    @classmethod
    def _iso_code(cls, value: str) -> str:
        return _check_currency(value)

    @model_validator(mode="after")
    def _total_adds_up(self) -> SaleData:
        total = sum(line.amount_minor for line in self.lines) + self.tax_added_minor
        if self.total_minor != total:
            raise ValueError(f"total_minor {self.total_minor} != sum of line amounts + tax_added_minor {total}")
        if self.tenders:
            paid = sum(t.amount_minor for t in self.tenders)
            if paid != self.total_minor:
                raise ValueError(f"the tenders pay {paid}, not total_minor {self.total_minor}")
            redeemed = sum(t.points for t in self.tenders)
            if redeemed != self.points_redeemed:
                raise ValueError(f"points tenders spend {redeemed} points, not points_redeemed {self.points_redeemed}")
        if self.offline_hold_points > self.points_redeemed:
            raise ValueError("offline_hold_points exceeds points_redeemed")
        if (self.points_earned or self.points_redeemed) and self.customer is None:
            raise ValueError("points earned or redeemed need a customer")
        return self


class StatusData(_Model):
    """``status`` (retained): a box's birth (``online``) or death (``offline``, also its last will)."""

    TYPE: ClassVar[str] = "status"
    state: Literal["online", "offline"]
    reason: Literal["connected", "shutdown", "connection_lost"]
    software: Annotated[str, Field(max_length=64)] = ""


AckStatus = Literal["committed", "duplicate", "rejected"]


class AckResult(_Model):
    """The hub's verdict on one event. ``committed`` and ``duplicate`` both mean: durable at the hub."""

    id: uuid.UUID
    seq: Annotated[int, Field(ge=0, le=MAX_SEQ, strict=True)]
    status: AckStatus
    reason: Annotated[str, Field(max_length=32)] | None = None


class AckData(_Model):
    """``ack``: sent by the hub after the database commit that holds (or dead-letters) these events."""

    TYPE: ClassVar[str] = "ack"
    results: Annotated[list[AckResult], Field(min_length=1, max_length=MAX_ACK_RESULTS)]


# --------------------------------------------------------------------------------------------- config

ConfigKind = Literal["settings", "promotions", "program", "catalogue", "stock_rules", "customers"]
ConfigVersion = Annotated[int, Field(ge=1, le=MAX_CONFIG_VERSION, strict=True)]
Sha256Hex = Annotated[str, Field(pattern=_SHA256_RE)]
_MAX_PART_CHARS: Final = 4 * -(-CONFIG_CHUNK_BYTES // 3)


class ConfigManifestData(_Model):
    """``cfg/{kind}`` (retained): which version of a snapshot is current and how to assemble it.

    The body (UTF-8 JSON, ``body_bytes`` long, SHA-256 ``sha256``) travels in ``parts`` messages on
    ``cfg/{kind}/0`` .. ``cfg/{kind}/{parts-1}``; with ``encoding = "zlib"`` their concatenation
    (``transfer_bytes`` long) is the body compressed with zlib.
    """

    TYPE: ClassVar[str] = "cfg_manifest"
    kind: ConfigKind
    version: ConfigVersion
    parts: Annotated[int, Field(ge=1, le=MAX_CONFIG_PARTS, strict=True)]
    encoding: Literal["json", "zlib"] = "json"
    body_bytes: Annotated[int, Field(ge=2, le=MAX_CONFIG_BODY_BYTES, strict=True)]
    transfer_bytes: Annotated[int, Field(ge=1, le=MAX_CONFIG_PARTS * CONFIG_CHUNK_BYTES, strict=True)]
    sha256: Sha256Hex

    @model_validator(mode="after")
    def _sizes_agree(self) -> ConfigManifestData:
        low, high = (self.parts - 1) * CONFIG_CHUNK_BYTES + 1, self.parts * CONFIG_CHUNK_BYTES
        if not low <= self.transfer_bytes <= high:
            raise ValueError(
                f"{self.transfer_bytes} transfer bytes do not make {self.parts} parts of at most "
                f"{CONFIG_CHUNK_BYTES} bytes"
            )
        if self.encoding == "json" and self.transfer_bytes != self.body_bytes:
            raise ValueError("an uncompressed body has transfer_bytes == body_bytes")
        return self


class ConfigPartData(_Model):
    """``cfg/{kind}/{index}`` (retained): one slice of a snapshot version, base64 in ``data``.

    A part names its ``version``: a receiver ignores parts of any version but the one it is assembling, so
    a retained part left over from an older snapshot can never be mixed into a newer one.
    """

    TYPE: ClassVar[str] = "cfg_part"
    kind: ConfigKind
    version: ConfigVersion
    index: Annotated[int, Field(ge=0, lt=MAX_CONFIG_PARTS, strict=True)]
    data: Annotated[str, Field(min_length=4, max_length=_MAX_PART_CHARS)]

    @field_validator("data")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"data is not base64: {exc}") from exc
        return value

    def chunk(self) -> bytes:
        """The bytes this part carries."""
        return base64.b64decode(self.data)


def config_body_json(body: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a snapshot body: compact UTF-8 JSON with sorted keys."""
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def split_config(
    kind: str, version: int, body: bytes, *, compress: bool = True
) -> tuple[ConfigManifestData, list[ConfigPartData]]:
    """Cut a snapshot body (UTF-8 JSON bytes) into its manifest and parts; raises InvalidInput when too big."""
    if len(body) > MAX_CONFIG_BODY_BYTES:
        raise InvalidInput("body", f"{len(body)} bytes exceeds the {MAX_CONFIG_BODY_BYTES}-byte snapshot bound")
    transfer = zlib.compress(body, 9) if compress else body
    count = max(1, -(-len(transfer) // CONFIG_CHUNK_BYTES))
    if count > MAX_CONFIG_PARTS:
        raise InvalidInput("body", f"needs {count} parts; a snapshot has at most {MAX_CONFIG_PARTS}")
    try:
        manifest = ConfigManifestData(
            kind=kind,
            version=version,
            parts=count,
            encoding="zlib" if compress else "json",
            body_bytes=len(body),
            transfer_bytes=len(transfer),
            sha256=hashlib.sha256(body).hexdigest(),
        )
    except ValidationError as exc:
        raise InvalidInput("manifest", _first_error(exc)) from exc
    parts = [
        ConfigPartData(
            kind=manifest.kind,
            version=version,
            index=i,
            data=base64.b64encode(transfer[i * CONFIG_CHUNK_BYTES : (i + 1) * CONFIG_CHUNK_BYTES]).decode(),
        )
        for i in range(count)
    ]
    return manifest, parts


def assemble_config(manifest: ConfigManifestData, parts: Sequence[ConfigPartData]) -> bytes:
    """The body a manifest describes, from its parts (any order); raises ContractViolation (``bad_snapshot``).

    Checks every part's kind, version and index, the sizes, and the SHA-256 of the decompressed body;
    decompression stops at ``body_bytes``, so a hostile part cannot inflate past the bound.
    """

    def bad(detail: str) -> ContractViolation:
        return ContractViolation(Reason.BAD_SNAPSHOT, f"{manifest.kind} v{manifest.version}: {detail}")

    by_index: dict[int, ConfigPartData] = {}
    for part in parts:
        if part.kind != manifest.kind or part.version != manifest.version:
            raise bad(f"part {part.index} belongs to {part.kind} v{part.version}")
        by_index[part.index] = part
    missing = [i for i in range(manifest.parts) if i not in by_index]
    if missing or len(by_index) != manifest.parts:
        raise bad(f"have {len(by_index)} of {manifest.parts} parts (missing {missing[:5]})")
    transfer = b"".join(by_index[i].chunk() for i in range(manifest.parts))
    if len(transfer) != manifest.transfer_bytes:
        raise bad(f"parts hold {len(transfer)} bytes, the manifest says {manifest.transfer_bytes}")
    if manifest.encoding == "zlib":
        inflater = zlib.decompressobj()
        try:
            body = inflater.decompress(transfer, manifest.body_bytes + 1)
        except zlib.error as exc:
            raise bad(f"not zlib data: {exc}") from exc
        if not inflater.eof:
            raise bad(f"the body inflates past its declared {manifest.body_bytes} bytes or is truncated")
    else:
        body = transfer
    if len(body) != manifest.body_bytes:
        raise bad(f"body is {len(body)} bytes, the manifest says {manifest.body_bytes}")
    digest = hashlib.sha256(body).hexdigest()
    if digest != manifest.sha256:
        raise bad(f"sha256 {digest} does not match the manifest's {manifest.sha256}")
    return body


# Snapshot bodies, one schema per kind (docs/protocol.md, "Configuration snapshots").

ReceiptLine = Annotated[str, Field(max_length=64)]


class StoreIdentity(_Model):
    """Which store a box serves, and its time zone (IANA name) for birthdays, seasons and report days."""

    store_id: ShortText
    retailer_id: ShortText
    timezone: Annotated[str, Field(min_length=1, max_length=64)]

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from core.promotions.timing import store_zone

        store_zone(value)
        return value


class JurisdictionToml(_Model):
    """A jurisdiction not shipped with Mostrador, as the text of its TOML file (see docs/taxes.md)."""

    toml: Annotated[str, Field(min_length=1, max_length=MAX_JURISDICTION_TOML_CHARS)]

    @field_validator("toml")
    @classmethod
    def _loads(cls, value: str) -> str:
        from core.tax import load_jurisdiction

        load_jurisdiction(value, source="settings.jurisdiction.toml")
        return value


class ReceiptText(_Model):
    """Lines printed above and below every receipt."""

    header: Annotated[list[ReceiptLine], Field(max_length=MAX_RECEIPT_TEXT_LINES)] = []
    footer: Annotated[list[ReceiptLine], Field(max_length=MAX_RECEIPT_TEXT_LINES)] = []


class SettingsBody(_Model):
    """``cfg/settings``: the store, its currency, taxes, language and loyalty rules."""

    store: StoreIdentity
    currency: str
    jurisdiction: Annotated[str, Field(min_length=1, max_length=64)] | JurisdictionToml
    language: Literal["es", "en", "zh"]
    loyalty_prefix: Annotated[int, Field(ge=100, le=999, strict=True)]
    receipt: ReceiptText = ReceiptText()
    offline_allowance_points: PointsAmount = 0
    wallets_enabled: bool = False

    @field_validator("currency")
    @classmethod
    def _iso_code(cls, value: str) -> str:
        from core.money import currency

        currency(_check_currency(value))
        return value

    @field_validator("jurisdiction")
    @classmethod
    def _shipped(cls, value: str | JurisdictionToml) -> str | JurisdictionToml:
        if isinstance(value, str):
            from core.tax import shipped_jurisdiction

            shipped_jurisdiction(value)
        return value


class PromotionsBody(_Model):
    """``cfg/promotions``: the promotion set; the snapshot's version is its ``promotion_set_version``."""

    promotions: list[dict[str, Any]]

    @field_validator("promotions")
    @classmethod
    def _promotions(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from core.promotions import load_promotions

        load_promotions({"promotions": value})
        return value


class ProgramBody(_Model):
    """``cfg/program``: the distributor's points program, or null when the network runs none."""

    program: dict[str, Any] | None

    @field_validator("program")
    @classmethod
    def _program(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            from core.points import load_program

            load_program(value)
        return value


class CatalogueItem(_Model):
    """One item as the hub sells it to this store."""

    sku: ShortText
    name: Annotated[str, Field(min_length=1, max_length=120)]
    category: ShortText
    tax_category: ShortText
    brand: OptionalName = None
    distributor: OptionalName = None
    unit_price_minor: Amount
    cost_minor: Amount | None = None
    measure_per_unit_milli: Annotated[int, Field(ge=0, le=10**9, strict=True)] = 0
    active: bool = True
    barcodes: Annotated[list[ShortText], Field(max_length=MAX_BARCODES_PER_ITEM)] = []
    distributors: Annotated[list[ShortText], Field(max_length=MAX_DISTRIBUTORS_PER_ITEM)] = []


class CatalogueBody(_Model):
    """``cfg/catalogue``: every item the hub sells this store; skus and barcodes are unique."""

    items: Annotated[list[CatalogueItem], Field(max_length=MAX_CATALOGUE_ITEMS)]

    @model_validator(mode="after")
    def _unique(self) -> CatalogueBody:
        skus: set[str] = set()
        barcodes: dict[str, str] = {}
        for i, item in enumerate(self.items):
            if item.sku in skus:
                raise ValueError(f"items.{i}: sku {item.sku!r} appears twice")
            skus.add(item.sku)
            for code in item.barcodes:
                if barcodes.setdefault(code, item.sku) != item.sku:
                    raise ValueError(f"items.{i}: barcode {code!r} also belongs to {barcodes[code]!r}")
        return self


StockLevel = Annotated[int, Field(ge=0, le=10**9, strict=True)]


class StockRule(_Model):
    """When an item is low, when to reorder it and up to how many units."""

    sku: ShortText
    low_at: StockLevel | None = None
    reorder_point: StockLevel | None = None
    order_up_to: StockLevel | None = None
    preferred_distributor: OptionalName = None

    @model_validator(mode="after")
    def _ordered(self) -> StockRule:
        if self.order_up_to is not None and self.reorder_point is not None and self.order_up_to <= self.reorder_point:
            raise ValueError(f"order_up_to {self.order_up_to} must exceed reorder_point {self.reorder_point}")
        return self


class StockRulesBody(_Model):
    """``cfg/stock_rules``: alert and auto-reorder rules, at most one per sku."""

    rules: Annotated[list[StockRule], Field(max_length=MAX_STOCK_RULES)]

    @model_validator(mode="after")
    def _unique(self) -> StockRulesBody:
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.sku in seen:
                raise ValueError(f"rules.{i}: sku {rule.sku!r} has two rules")
            seen.add(rule.sku)
        return self


Phone = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]
Year = Annotated[int, Field(ge=1900, le=9999, strict=True)]
Counter = Annotated[int, Field(ge=0, le=MAX_POINTS, strict=True)]


def _check_loyalty_id(value: str) -> str:
    from core.identity import parse

    parse(value)
    return value


class CustomerRecord(_Model):
    """A customer in the box's cache: who they are, their tier and the hub's balance snapshot."""

    loyalty_id: LoyaltyIdText
    name: Annotated[str, Field(min_length=1, max_length=120)]
    phone_e164: Phone | None = None
    sticker: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    gender: Gender | None = None
    birth_date: date | None = None
    wechat_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    whatsapp_e164: Phone | None = None
    enrolled_on: date | None = None
    tier_points: Counter = 0
    transactions_this_month: Counter = 0
    balance_points: Annotated[int, Field(ge=-MAX_POINTS, le=MAX_POINTS, strict=True)] = 0
    balance_at: datetime | None = None
    offline_allowance_points: PointsAmount = 0
    segment_ids: Annotated[list[SegmentId], Field(max_length=MAX_SEGMENTS_PER_CUSTOMER)] = []
    """The segments the hub's last evaluation put the customer in; promotions for those segments apply."""
    last_birthday_bonus_year: Year | None = None
    last_anniversary_bonus_year: Year | None = None
    marketing_consent: bool | None = None
    marketing_consent_at: datetime | None = None
    fingerprint_consent: bool | None = None
    fingerprint_consent_at: datetime | None = None
    fingerprint_template: Annotated[str, Field(min_length=4, max_length=MAX_TEMPLATE_CHARS)] | None = None

    @field_validator("loyalty_id")
    @classmethod
    def _check_digit(cls, value: str) -> str:
        return _check_loyalty_id(value)

    @field_validator("balance_at", "marketing_consent_at", "fingerprint_consent_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a UTC offset")
        return value

    @field_validator("fingerprint_template")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"fingerprint_template is not base64: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _template_needs_consent(self) -> CustomerRecord:
        if self.fingerprint_template is not None and self.fingerprint_consent is not True:
            raise ValueError("a fingerprint template needs fingerprint_consent true")
        return self


class CustomersBody(_Model):
    """``cfg/customers``: the box's customer cache, and the ids erased everywhere (right to erasure)."""

    customers: Annotated[list[CustomerRecord], Field(max_length=MAX_CONFIG_CUSTOMERS)]
    erased: Annotated[list[LoyaltyIdText], Field(max_length=MAX_ERASED_IDS)] = []
    watermark_seq: Annotated[int, Field(ge=0, le=MAX_SEQ, strict=True)] = 0
    """The highest ``seq`` of the receiving box's own events whose points the balances include: the box
    counts its points movements above it on top of ``balance_points`` and forgets those at or below it.
    Absent (a hub that does not say) means 0: every movement the box remembers still counts."""

    @model_validator(mode="after")
    def _consistent(self) -> CustomersBody:
        ids: set[str] = set()
        phones: set[str] = set()
        stickers: set[str] = set()
        for i, c in enumerate(self.customers):
            if c.loyalty_id in ids:
                raise ValueError(f"customers.{i}: loyalty_id {c.loyalty_id} appears twice")
            ids.add(c.loyalty_id)
            if c.phone_e164 is not None:
                if c.phone_e164 in phones:
                    raise ValueError(f"customers.{i}: phone_e164 belongs to two customers")
                phones.add(c.phone_e164)
            if c.sticker is not None:
                if c.sticker in stickers:
                    raise ValueError(f"customers.{i}: sticker belongs to two customers")
                stickers.add(c.sticker)
        for i, erased in enumerate(self.erased):
            if erased in ids:
                raise ValueError(f"erased.{i}: {erased} is also in customers")
        return self


ConfigBody = SettingsBody | PromotionsBody | ProgramBody | CatalogueBody | StockRulesBody | CustomersBody
CONFIG_BODIES: Final[dict[str, type[ConfigBody]]] = {
    "settings": SettingsBody,
    "promotions": PromotionsBody,
    "program": ProgramBody,
    "catalogue": CatalogueBody,
    "stock_rules": StockRulesBody,
    "customers": CustomersBody,
}
"""The body schema of each configuration kind."""


def decode_config_body(kind: str, body: bytes) -> ConfigBody:
    """Validate a snapshot body for its kind; raises ContractViolation (``bad_data``) naming the problem."""
    schema = CONFIG_BODIES.get(kind)
    if schema is None:
        raise ContractViolation(Reason.UNKNOWN_TYPE, f"no configuration kind {kind!r} in v1")
    try:
        raw = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractViolation(Reason.MALFORMED_JSON, f"{kind}: {exc}") from exc
    except RecursionError as exc:
        raise ContractViolation(Reason.MALFORMED_JSON, f"{kind}: nested too deeply") from exc
    if not isinstance(raw, dict):
        raise ContractViolation(Reason.NOT_AN_OBJECT, f"{kind}: top level is a JSON {type(raw).__name__}")
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        raise ContractViolation(Reason.BAD_DATA, f"{kind}: {_first_error(exc)}") from exc
    except InvalidInput as exc:
        # A core loader (promotions, program, jurisdiction, loyalty id) refused a nested value.
        raise ContractViolation(Reason.BAD_DATA, f"{kind}: {exc}") from exc
    except RecursionError as exc:
        raise ContractViolation(Reason.BAD_DATA, f"{kind}: nested too deeply") from exc


EventData = (
    SaleData
    | RefundData
    | EnrolmentData
    | CustomerUpdateData
    | StockAdjustmentData
    | StockAlertData
    | ReorderRequestData
)
MessageData = EventData | StatusData | AckData | ConfigManifestData | ConfigPartData
EVENT_TYPES: Final[dict[str, type[EventData]]] = {
    schema.TYPE: schema
    for schema in (
        SaleData,
        RefundData,
        EnrolmentData,
        CustomerUpdateData,
        StockAdjustmentData,
        StockAlertData,
        ReorderRequestData,
    )
}
"""Event types a box may publish under ``evt/{type}``, with their data schema."""


class EnvelopeHeader(_Model):
    """The envelope's fields other than ``data``."""

    v: Annotated[int, Field(strict=True)]
    id: uuid.UUID
    seq: Annotated[int, Field(ge=0, le=MAX_SEQ, strict=True)]
    ts: datetime
    device: ShortText
    type: Annotated[str, Field(pattern=_TYPE_RE.pattern)]

    @field_validator("id")
    @classmethod
    def _is_v7(cls, value: uuid.UUID) -> uuid.UUID:
        if value.version != 7:
            raise ValueError("id must be a UUID version 7")
        return value

    @field_validator("ts")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("ts must carry a UTC offset (e.g. 2026-01-31T12:00:00.000Z)")
        return value.astimezone(UTC)


class Envelope(EnvelopeHeader):
    """The envelope every message travels in; ``data`` is validated separately by ``type``."""

    data: dict[str, Any]


class _SaleEnvelope(EnvelopeHeader):
    """A whole sale event in one model, so a good payload is parsed and validated in one pass."""

    data: SaleData


_FAST_EVENTS: Final[dict[str, type[_SaleEnvelope]]] = {SaleData.TYPE: _SaleEnvelope}


@dataclass(frozen=True)
class Message:
    """A decoded, validated message: its envelope, its typed data and the sha256 of its exact bytes."""

    topic: Topic
    envelope: EnvelopeHeader
    data: MessageData
    sha256: str


def payload_sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _format_ts(ts: datetime) -> str:
    if ts.tzinfo is None:
        raise InvalidInput("ts", "must be timezone-aware")
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(*, id: uuid.UUID, seq: int, ts: datetime, device: str, data: MessageData) -> bytes:
    """Serialise one message to compact UTF-8 JSON.

    Raises InvalidInput if it would exceed the size bound, if ``seq`` is out of range, or if a text holds a
    NUL character (the receiver would refuse it; see :mod:`core.text`).
    """
    if not 0 <= int(seq) <= MAX_SEQ:
        raise InvalidInput("seq", f"{seq} is not 0 to {MAX_SEQ}")
    # Assembled by hand around pydantic's own JSON of ``data``: this runs once per sale on the box, and
    # building a dict for json.dumps costs more than the database commit's own Python work.
    head = (
        f'{{"v":{PROTOCOL_VERSION},"id":"{id}","seq":{int(seq)},"ts":"{_format_ts(ts)}",'
        f'"device":{json.dumps(device, ensure_ascii=False)},"type":"{data.TYPE}","data":'
    )
    payload = head.encode() + data.__pydantic_serializer__.to_json(data) + b"}"
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidInput("payload", f"{len(payload)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte bound")
    if _NUL_ESCAPE in payload:  # rare: only then is the data walked to name the field
        where = nul_path({"device": device, "data": data.model_dump(mode="json")})
        if where is not None:
            raise InvalidInput(where, _NUL_PROBLEM)
    return payload


_NUL_ESCAPE: Final = b"\\u0000"
"""How JSON writes a NUL character; a payload without these bytes holds no NUL in any string."""
_NUL_PROBLEM: Final = "text must not contain a NUL character (U+0000)"


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(root)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {err['msg']}{more}"


def decode(topic: str | Topic, payload: bytes) -> Message:
    """Validate ``payload`` received on ``topic``; raises :class:`ContractViolation` with a reason code."""
    parsed = topic if isinstance(topic, Topic) else Topic.parse(topic)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractViolation(Reason.OVERSIZED, f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    fast = _FAST_EVENTS.get(parsed.name or "") if parsed.kind is Kind.EVT and _NUL_ESCAPE not in payload else None
    if fast is not None:
        # Good events take one pass through pydantic's JSON parser; anything it refuses is decoded again
        # step by step below, to name the exact reason.
        try:
            event = fast.model_validate_json(payload)
        except ValidationError:
            pass
        else:
            if event.v == PROTOCOL_VERSION and event.device == parsed.device and event.type == parsed.name:
                return Message(parsed, event, event.data, payload_sha256(payload))
    try:
        raw = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractViolation(Reason.MALFORMED_JSON, str(exc)) from exc
    except RecursionError as exc:
        raise ContractViolation(Reason.MALFORMED_JSON, "nested too deeply") from exc
    if not isinstance(raw, dict):
        raise ContractViolation(Reason.NOT_AN_OBJECT, f"top level is a JSON {type(raw).__name__}")
    where = nul_path(raw) if _NUL_ESCAPE in payload else None
    if where is not None:
        reason = Reason.BAD_DATA if where == "data" or where.startswith("data.") else Reason.BAD_ENVELOPE
        raise ContractViolation(reason, f"{where}: {_NUL_PROBLEM}")
    version = raw.get("v")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise ContractViolation(Reason.UNSUPPORTED_VERSION, f"v={version!r}; this receiver speaks v{PROTOCOL_VERSION}")
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        raise ContractViolation(Reason.BAD_ENVELOPE, _first_error(exc)) from exc
    return _decode_data(parsed, envelope, payload)


def _decode_data(topic: Topic, envelope: Envelope, payload: bytes) -> Message:
    schema: type[EventData] | type[StatusData] | type[AckData]
    if topic.kind is Kind.EVT:
        if envelope.device != topic.device:
            raise ContractViolation(
                Reason.DEVICE_MISMATCH,
                f"envelope device {envelope.device!r} != topic device {topic.device!r}",
            )
        if envelope.type != topic.name:
            raise ContractViolation(Reason.TYPE_MISMATCH, f"envelope type {envelope.type!r} != topic {topic.name!r}")
        if envelope.type not in EVENT_TYPES:
            raise ContractViolation(Reason.UNKNOWN_TYPE, f"no event type {envelope.type!r} in v1")
        schema = EVENT_TYPES[envelope.type]
    elif topic.kind is Kind.STATUS:
        if envelope.device != topic.device:
            raise ContractViolation(
                Reason.DEVICE_MISMATCH,
                f"envelope device {envelope.device!r} != topic device {topic.device!r}",
            )
        schema = StatusData
    elif topic.kind is Kind.ACK:
        schema = AckData
    elif topic.kind is Kind.CFG:
        return _decode_config(topic, envelope, payload)
    else:
        raise ContractViolation(Reason.UNKNOWN_TYPE, f"no v1 schema on {topic.kind} topics yet")
    if envelope.type != schema.TYPE:
        raise ContractViolation(Reason.TYPE_MISMATCH, f"type {envelope.type!r} on a {topic.kind} topic")
    try:
        data = schema.model_validate(envelope.data)
    except ValidationError as exc:
        raise ContractViolation(Reason.BAD_DATA, _first_error(exc)) from exc
    return Message(topic, envelope, data, payload_sha256(payload))


def _decode_config(topic: Topic, envelope: Envelope, payload: bytes) -> Message:
    schema: type[ConfigManifestData] | type[ConfigPartData] = (
        ConfigManifestData if topic.part is None else ConfigPartData
    )
    if envelope.type != schema.TYPE:
        raise ContractViolation(Reason.TYPE_MISMATCH, f"type {envelope.type!r} on {topic}; expected {schema.TYPE!r}")
    try:
        data = schema.model_validate(envelope.data)
    except ValidationError as exc:
        raise ContractViolation(Reason.BAD_DATA, _first_error(exc)) from exc
    if data.kind != topic.name:
        raise ContractViolation(Reason.TYPE_MISMATCH, f"a {data.kind} snapshot on the cfg/{topic.name} topic")
    if isinstance(data, ConfigPartData) and data.index != topic.part:
        raise ContractViolation(Reason.TYPE_MISMATCH, f"part {data.index} on the topic of part {topic.part}")
    return Message(topic, envelope, data, payload_sha256(payload))


def peek_id(payload: bytes) -> tuple[uuid.UUID | None, int | None]:
    """Best-effort id and seq of a refused payload, so its sender can still be told; never raises."""
    try:
        raw = json.loads(payload[:MAX_PAYLOAD_BYTES].decode("utf-8"))
        if isinstance(raw, dict):
            seq = raw.get("seq")
            return uuid.UUID(str(raw.get("id"))), seq if isinstance(seq, int) and seq >= 0 else None
    except (ValueError, TypeError, RecursionError):
        pass
    return None, None
