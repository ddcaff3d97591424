"""The box's customer book: find customers, enrol them, update them, keep their consents and biometrics.

Lookup
    :meth:`CustomerBook.find` takes whatever the cashier typed or scanned: a phone number in any common
    format (``55 1234 5678``, ``+52 55 1234 5678``; a national form is read in the store's country), a
    sticker's barcode payload (``MO1:481000000426``) or a typed loyalty id (``481-0000-0042-6``).

Enrolment
    :meth:`CustomerBook.enrol` validates the whole form first (any bad field raises
    :class:`core.errors.InvalidInput` naming it, and nothing is written), then writes the customer row, its
    biometric row and the ``enrolment`` event in one transaction (the caller's, at checkout, or its own). A
    phone (or sticker) already enrolled is not enrolled twice: the existing customer comes back with
    ``Enrolment.existing`` set and nothing is written.

Loyalty numbers
    A new customer's id is ``core.identity.make(loyalty_prefix, number)``. Boxes enrol offline, so two boxes
    must never pick the same number without asking anyone. Hashing the device id into the 8-digit number
    space cannot promise that (two ids may hash alike), so numbers come from **reserved ranges**: the hub
    assigns each box a range in its ``settings`` (``"loyalty_range": {"first": n, "last": m}``), and the box
    counts up inside it. Until the hub assigns one, the box uses the block its device number implies:
    provisioning names boxes ``<name>-<n>`` with ``n`` unique within the tenant, and box ``n`` takes numbers
    ``n * 10,000`` to ``n * 10,000 + 9,999`` (block 0, numbers below 10,000, is left to the hub and to
    pre-printed sticker rolls). A number already present in the customer cache is skipped, never reused.
    The counter lives in the ``setting`` table, one row per range.

Biometrics and consent
    A fingerprint template is kept only with its own explicit consent, recorded with its time; it is sealed
    with the box key at rest (:mod:`edge_agent.sealing`) and with the tenant key in the event. The face image
    and the drawn signature stay on the box. Withdrawing fingerprint consent deletes the template from the
    database at once, tells the fingerprint sensor's owner (see :meth:`CustomerBook.on_fingerprint_erased`)
    to delete it from the sensor, and emits ``customer_update`` with ``erase_fingerprint``.

Points
    ``customer.balance_points`` is the hub's snapshot; the box never edits it. Every sale or refund of this
    box that moves a customer's points writes a row in the ``points_journal`` (:func:`record_points`, in the
    transaction of its event), and the row stays after the hub's ack: the snapshot states the highest seq of
    this box's events its balances include (its watermark, kept as ``customer.balance_seq``), and a row is
    forgotten only once a snapshot at or above its seq sets the customer's balance. :func:`pending_points`
    sums the rows above the watermark, and :meth:`CustomerBook.balance` gives the box's view of the balance.
    So a sale the hub acked before the next snapshot arrived still counts, and one the snapshot includes is
    not counted twice.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from core import identity, wire
from core.errors import InvalidInput
from core.points import known_balance
from core.pricing.from_sale import sale_customer
from core.pricing.model import Customer
from edge_agent.errors import EdgeError
from edge_agent.sealing import Sealer, WrongKey, box_key_path, load_or_create_box_key
from edge_agent.store import Store, Transaction
from hardware.fingerprint.interface import MAX_TEMPLATE_SIZE_BYTES

log = logging.getLogger(__name__)

MAX_NAME_CHARS: Final = 120
MAX_WECHAT_ID_CHARS: Final = 64
MAX_PHONE_TEXT_CHARS: Final = 32
"""Longest phone text read: a 15-digit E.164 number with spaces, dashes and brackets fits easily."""
MAX_FIND_TEXT_CHARS: Final = 64
MAX_FACE_IMAGE_BYTES: Final = 1024 * 1024
"""A counter camera's JPEG of a face is 50 to 300 KiB."""
MAX_SIGNATURE_CHARS: Final = 32 * 1024
"""Path data of a signature drawn with a finger on the mPOS screen: a few thousand characters."""
EARLIEST_BIRTH_YEAR: Final = 1900
MAX_NUMBER_SKIPS: Final = 10_000
"""Most already-taken numbers skipped while picking a new loyalty number."""
MAX_JOURNAL_ROWS_PER_CUSTOMER: Final = 1_000
"""Points movements of one customer this box keeps above the hub's watermark: a thousand sales and refunds
with points at this box before a customers snapshot covers any of them (weeks of a daily customer offline)."""

GENDERS: Final = frozenset(get_args(wire.Gender))
_WECHAT_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PATH_DATA_RE: Final = re.compile(r"^[MmLlHhVvCcSsQqTtAaZz0-9eE.,+\-\s]+$")
_PATH_START_RE: Final = re.compile(r"^\s*[Mm]")
_SVG_NS: Final = "http://www.w3.org/2000/svg"
_IMAGE_MAGIC: Final = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")

_COLUMNS: Final = (
    "loyalty_id, name, phone_e164, sticker, gender, birth_date, wechat_id, whatsapp_e164, enrolled_on, "
    "tier_points, transactions_this_month, balance_points, balance_at, offline_allowance_points, held_points, "
    "segment_ids, last_birthday_bonus_year, last_anniversary_bonus_year, marketing_consent, "
    "marketing_consent_at, fingerprint_consent, fingerprint_consent_at, origin"
)


class CustomerError(EdgeError):
    """Root of the customer book's errors other than bad input (which is ``InvalidInput``)."""

    code = "customer_error"


class NotConfigured(CustomerError, RuntimeError):
    """The box has no ``settings`` configuration yet (store id, loyalty prefix)."""


class UnknownCustomer(CustomerError, LookupError):
    """No customer with that loyalty id is in this box's cache."""


class NumbersExhausted(CustomerError, RuntimeError):
    """The box has used every loyalty number of its range."""


@dataclass(frozen=True)
class CachedCustomer:
    """A customer as this box knows them: the hub's snapshot plus what was enrolled or changed here."""

    loyalty_id: str
    name: str
    phone_e164: str | None = None
    sticker: str | None = None
    gender: str | None = None
    birth_date: date | None = None
    wechat_id: str | None = None
    whatsapp_e164: str | None = None
    enrolled_on: date | None = None
    tier_points: int = 0
    transactions_this_month: int = 0
    balance_points: int = 0
    """The hub's snapshot of the balance; see :meth:`CustomerBook.balance` for the box's view."""
    balance_at: datetime | None = None
    offline_allowance_points: int = 0
    held_points: int = 0
    segment_ids: tuple[str, ...] = ()
    last_birthday_bonus_year: int | None = None
    last_anniversary_bonus_year: int | None = None
    marketing_consent: bool | None = None
    marketing_consent_at: datetime | None = None
    fingerprint_consent: bool | None = None
    fingerprint_consent_at: datetime | None = None
    origin: str = "local"
    has_fingerprint: bool = False
    has_face: bool = False
    has_signature: bool = False


@dataclass(frozen=True)
class EnrolmentForm:
    """What the enrolment screen collects. ``name`` and a phone or a sticker are required.

    ``sticker`` is a pre-printed sticker scanned at the counter: its id becomes the customer's. With
    ``issue_sticker`` a new id is bound to its own sticker payload (the box prints it). ``signature`` is the
    path data (``d`` attribute) of the signature drawn on the mPOS screen. ``fingerprint_template`` is kept
    only with ``fingerprint_consent``. ``postal_code`` and ``occupation`` go to the hub with the enrolment
    (the distributor's analytics) and are not kept on the box, which does not need them to sell.
    """

    name: str
    phone: str | None = None
    sticker: str | None = None
    issue_sticker: bool = False
    gender: str | None = None
    birth_date: date | str | None = None
    wechat_id: str | None = None
    whatsapp: str | None = None
    face_image: bytes | None = None
    signature: str | None = None
    fingerprint_template: bytes | None = None
    fingerprint_consent: bool = False
    marketing_consent: bool | None = None
    postal_code: str | None = None
    occupation: str | None = None


@dataclass(frozen=True)
class CustomerChanges:
    """Changes to a known customer; ``None`` leaves a field as it is. Only real changes are recorded.

    ``fingerprint_consent=False`` withdraws the consent and erases the template everywhere.
    """

    name: str | None = None
    phone: str | None = None
    gender: str | None = None
    birth_date: date | str | None = None
    wechat_id: str | None = None
    whatsapp: str | None = None
    face_image: bytes | None = None
    signature: str | None = None
    fingerprint_template: bytes | None = None
    fingerprint_consent: bool | None = None
    marketing_consent: bool | None = None


@dataclass(frozen=True)
class Enrolment:
    """The outcome of :meth:`CustomerBook.enrol`. ``existing``: already enrolled, nothing was written."""

    customer: CachedCustomer
    existing: bool
    event_id: uuid.UUID | None = None


@dataclass(frozen=True)
class _Settings:
    store_id: str
    loyalty_prefix: int
    region: str | None
    offline_allowance_points: int
    loyalty_range: tuple[int, int] | None
    timezone: str | None = None
    """The store's IANA zone: "today" (a birth date's latest day) is the store's date, not the machine's."""


@dataclass
class _Valid:
    """A form after validation: every value normalised and ready to write."""

    values: dict[str, Any] = field(default_factory=dict)
    face_image: bytes | None = None
    signature_svg: str | None = None
    fingerprint_template: bytes | None = None


# ------------------------------------------------------------------------------------------------ settings


@cache
def _zone_countries() -> dict[str, str]:
    """IANA time zone -> ISO 3166 country, from the tz database's ``zone.tab``."""
    text = ""
    try:
        text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        system = Path("/usr/share/zoneinfo/zone.tab")
        text = system.read_text(encoding="utf-8") if system.is_file() else ""
    countries: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) >= 3:
            countries[parts[2]] = parts[0]
    return countries


def region_for(store: dict[str, Any]) -> str | None:
    """The phone region of a store: its ``country`` if the settings carry one, else its time zone's."""
    country = store.get("country")
    if isinstance(country, str) and len(country) == 2:
        return country.upper()
    timezone = store.get("timezone")
    return _zone_countries().get(timezone) if isinstance(timezone, str) else None


def _read_settings(conn: sqlite3.Connection) -> _Settings:
    row = conn.execute("SELECT body FROM config WHERE kind = 'settings'").fetchone()
    if row is None:
        raise NotConfigured("this box has no settings yet: connect it to the hub or load the default configuration")
    body = json.loads(row[0])
    store = body.get("store") or {}
    store_id, prefix = store.get("store_id"), body.get("loyalty_prefix")
    if not isinstance(store_id, str) or not isinstance(prefix, int):
        raise NotConfigured("the settings lack store.store_id or loyalty_prefix: the hub must send them")
    rng = body.get("loyalty_range")
    loyalty_range = None
    if isinstance(rng, dict) and isinstance(rng.get("first"), int) and isinstance(rng.get("last"), int):
        first, last = int(rng["first"]), int(rng["last"])
        if identity.MIN_NUMBER <= first <= last <= identity.MAX_NUMBER:
            loyalty_range = (first, last)
    allowance = body.get("offline_allowance_points", 0)
    return _Settings(
        store_id=store_id,
        loyalty_prefix=prefix,
        region=region_for(store),
        offline_allowance_points=allowance if isinstance(allowance, int) and allowance >= 0 else 0,
        loyalty_range=loyalty_range,
        timezone=store.get("timezone") if isinstance(store.get("timezone"), str) else None,
    )


def number_range(device: str, assigned: tuple[int, int] | None) -> tuple[int, int]:
    """The loyalty numbers this box may hand out: the hub's assignment, else its device number's block."""
    if assigned is not None:
        return assigned
    block = identity.device_block(device)
    if block is None:
        raise NotConfigured(
            f"device id {device!r} does not end in a box number from 1 to {identity.MAX_BLOCK}, and the hub "
            "has not assigned a loyalty_range: ask the hub to assign this box a range before enrolling customers"
        )
    return identity.block_numbers(block)


# ------------------------------------------------------------------------------------------------ validation


def normalise_phone(text: str, region: str | None, *, field: str = "phone") -> str:
    """A phone number as E.164 (``+525512345678``); a national form is read in ``region``."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(field, "is empty; type the customer's phone number")
    if len(text) > MAX_PHONE_TEXT_CHARS:
        raise InvalidInput(field, f"is {len(text)} characters long; a phone number has at most 15 digits")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidInput(field, "needs its country code, e.g. +52 55 1234 5678") from exc
        raise InvalidInput(field, f"{text!r} is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        where = f" in {region}" if region and not text.strip().startswith("+") else ""
        raise InvalidInput(field, f"{text!r} is not a valid phone number{where}; check the digits")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _name(text: str) -> str:
    if not isinstance(text, str):
        raise InvalidInput("name", "must be text")
    name = " ".join(text.split())
    if not name:
        raise InvalidInput("name", "is empty; type the customer's name")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput("name", f"is {len(name)} characters long; the most is {MAX_NAME_CHARS}")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") for c in name):
        raise InvalidInput("name", "contains control characters; type it again")
    return name


def _birth_date(value: date | str, today: date) -> date:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError as exc:
            raise InvalidInput("birth_date", f"{value!r} is not a date; use YYYY-MM-DD") from exc
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidInput("birth_date", "must be a date (YYYY-MM-DD)")
    if value > today:
        raise InvalidInput("birth_date", f"{value.isoformat()} is in the future")
    if value.year < EARLIEST_BIRTH_YEAR:
        raise InvalidInput("birth_date", f"{value.isoformat()} is before {EARLIEST_BIRTH_YEAR}; check the year")
    return value


def _gender(value: str) -> str:
    if value not in GENDERS:
        raise InvalidInput("gender", f"{value!r} is not one of {', '.join(sorted(GENDERS))}")
    return value


_POSTAL_CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z -]{0,14}[0-9A-Za-z]")


def _postal_code(value: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not _POSTAL_CODE.fullmatch(text):
        raise InvalidInput("postal_code", "write 2 to 16 letters, digits, spaces or '-', e.g. 06700")
    return text


def _occupation(value: str) -> str:
    text = " ".join(value.split()) if isinstance(value, str) else ""
    if not 1 <= len(text) <= 64:
        raise InvalidInput("occupation", "write 1 to 64 characters, or leave it empty")
    return text


def _wechat_id(value: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not _WECHAT_RE.fullmatch(text):
        raise InvalidInput(
            "wechat_id", f"must be 1 to {MAX_WECHAT_ID_CHARS} letters, digits, '_' or '-' (as WeChat shows it)"
        )
    return text


def _face_image(data: bytes) -> bytes:
    if not isinstance(data, bytes) or not data:
        raise InvalidInput("face_image", "is empty; take the photo again")
    if len(data) > MAX_FACE_IMAGE_BYTES:
        raise InvalidInput("face_image", f"is {len(data)} bytes; the most is {MAX_FACE_IMAGE_BYTES}")
    if not data.startswith(_IMAGE_MAGIC):
        raise InvalidInput("face_image", "is not a JPEG or PNG image from the camera")
    return data


def signature_svg(path_data: str) -> str:
    """A signature's SVG document, built here around validated path data only (no script, no markup)."""
    if not isinstance(path_data, str) or not path_data.strip():
        raise InvalidInput("signature", "is empty; ask the customer to sign again")
    if len(path_data) > MAX_SIGNATURE_CHARS:
        raise InvalidInput("signature", f"is {len(path_data)} characters; the most is {MAX_SIGNATURE_CHARS}")
    if not _PATH_DATA_RE.fullmatch(path_data) or not _PATH_START_RE.match(path_data):
        raise InvalidInput("signature", "must be SVG path data only (commands and numbers, starting with M)")
    d = " ".join(path_data.split())
    return (
        f'<svg xmlns="{_SVG_NS}"><path d="{d}" fill="none" stroke="#000" '
        'stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/></svg>'
    )


def _template(data: bytes, consent: bool) -> bytes:
    if not consent:
        raise InvalidInput(
            "fingerprint_consent", "a fingerprint is kept only with the customer's own, explicit consent"
        )
    if not isinstance(data, bytes) or not 1 <= len(data) <= MAX_TEMPLATE_SIZE_BYTES:
        raise InvalidInput("fingerprint_template", f"must be 1 to {MAX_TEMPLATE_SIZE_BYTES} bytes from the sensor")
    return data


# ------------------------------------------------------------------------------------------------ points


class PointsJournalFull(InvalidInput, EdgeError):
    """The box keeps :data:`MAX_JOURNAL_ROWS_PER_CUSTOMER` points movements of this customer that no customers
    snapshot from the hub covers yet: it cannot count one more that lowers their balance."""

    code = "points_journal_full"


def record_points(tx: Transaction, loyalty_id: str, seq: int, *, redeemed: int, earned: int) -> None:
    """Journal the points the event ``seq`` of this box moved for ``loyalty_id``, in the event's transaction.

    ``redeemed`` points were spent and ``earned`` points earned (both negative for a refund: points given
    back, earned points taken back). A movement of no points writes nothing. When the customer's journal is
    full, a movement that only raises the balance is left out (the box then knows less than the customer has,
    never more, until the next snapshot); one that lowers it raises :class:`PointsJournalFull`, so the
    caller's transaction rolls back.
    """
    if not redeemed and not earned:
        return
    kept = tx.conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM points_journal WHERE loyalty_id = ? LIMIT ?)",
        (loyalty_id, MAX_JOURNAL_ROWS_PER_CUSTOMER),
    ).fetchone()[0]
    if kept >= MAX_JOURNAL_ROWS_PER_CUSTOMER:
        if redeemed <= 0 and earned >= 0:
            log.warning("points journal of a customer is full: points they got back are counted by the hub only")
            return
        raise PointsJournalFull(
            "points",
            f"this box holds {kept} points movements of the customer that the hub's customers snapshots do not "
            "cover yet; sell without points until the box receives a customers snapshot from the hub",
        )
    tx.conn.execute(
        "INSERT INTO points_journal (seq, loyalty_id, redeemed, earned, created_at) VALUES (?, ?, ?, ?, ?)",
        (seq, loyalty_id, redeemed, earned, tx.now.isoformat()),
    )


def pending_points(conn: sqlite3.Connection, loyalty_id: str) -> tuple[int, int]:
    """Points (redeemed, earned) in this box's journaled sales and refunds that the customer's balance
    snapshot does not include: those whose seq is above its watermark (``customer.balance_seq``), acked by
    the hub or not. Either total may be negative when only refunds are left to count.
    """
    redeemed, earned = conn.execute(
        "SELECT coalesce(sum(j.redeemed), 0), coalesce(sum(j.earned), 0) FROM points_journal j "
        "WHERE j.loyalty_id = ? AND j.seq > coalesce((SELECT balance_seq FROM customer WHERE loyalty_id = ?), 0)",
        (loyalty_id, loyalty_id),
    ).fetchone()
    return int(redeemed), int(earned)


def forget_points(conn: sqlite3.Connection, loyalty_id: str, watermark_seq: int) -> None:
    """Drop the journaled movements of ``loyalty_id`` that a snapshot with ``watermark_seq`` includes."""
    conn.execute("DELETE FROM points_journal WHERE loyalty_id = ? AND seq <= ?", (loyalty_id, watermark_seq))


# ------------------------------------------------------------------------------------------------ the book


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


ErasureListener = Callable[[str, int], None]


class CustomerBook:
    """Customers of this box: lookup, enrolment, updates, consents, erasure. See the module docstring.

    ``box_key`` seals biometrics at rest (default: the key file beside the database, created on first use);
    ``tenant_key`` seals templates for the hub. Without a tenant key a template stays on this box only and
    the events carry the consent without it.
    """

    def __init__(
        self,
        store: Store,
        *,
        box_key: bytes | None = None,
        tenant_key: bytes | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self._box = Sealer(box_key if box_key is not None else load_or_create_box_key(box_key_path(store.path)), "rest")
        self._tenant = Sealer(tenant_key, "transport") if tenant_key is not None else None
        self._clock = clock or (lambda: datetime.now(UTC))
        self._erasure_listeners: list[ErasureListener] = []

    # -- lookup -------------------------------------------------------------------------------------------

    def _customer(self, conn: sqlite3.Connection, where: str, value: str) -> CachedCustomer | None:
        row = conn.execute(
            f"SELECT {_COLUMNS}, b.fingerprint_sealed IS NOT NULL, b.face_sealed IS NOT NULL, "  # noqa: S608
            f"b.signature_svg IS NOT NULL FROM customer c LEFT JOIN biometric b USING (loyalty_id) "
            f"WHERE c.{where} = ?",
            (value,),
        ).fetchone()
        if row is None:
            return None
        return CachedCustomer(
            loyalty_id=row[0],
            name=row[1],
            phone_e164=row[2],
            sticker=row[3],
            gender=row[4],
            birth_date=_date(row[5]),
            wechat_id=row[6],
            whatsapp_e164=row[7],
            enrolled_on=_date(row[8]),
            tier_points=row[9],
            transactions_this_month=row[10],
            balance_points=row[11],
            balance_at=_time(row[12]),
            offline_allowance_points=row[13],
            held_points=row[14],
            segment_ids=tuple(json.loads(row[15])),
            last_birthday_bonus_year=row[16],
            last_anniversary_bonus_year=row[17],
            marketing_consent=_bool(row[18]),
            marketing_consent_at=_time(row[19]),
            fingerprint_consent=_bool(row[20]),
            fingerprint_consent_at=_time(row[21]),
            origin=row[22],
            has_fingerprint=bool(row[23]),
            has_face=bool(row[24]),
            has_signature=bool(row[25]),
        )

    def get(self, loyalty_id: str) -> CachedCustomer | None:
        """The customer with this twelve-digit id, or None."""
        return self._customer(self.store.conn, "loyalty_id", loyalty_id)

    def by_phone(self, phone_e164: str) -> CachedCustomer | None:
        return self._customer(self.store.conn, "phone_e164", phone_e164)

    def find(self, text: str) -> CachedCustomer | None:
        """The customer a typed or scanned text names (phone, sticker payload, loyalty id), or None."""
        if not isinstance(text, str):
            raise InvalidInput("text", "must be text")
        if len(text) > MAX_FIND_TEXT_CHARS:
            raise InvalidInput("text", f"is {len(text)} characters; a phone, sticker or loyalty id is shorter")
        text = text.strip()
        if not text:
            return None
        settings = _read_settings(self.store.conn)
        if text[:2].upper() == "MO" and ":" in text:
            try:
                lid = identity.parse_sticker(text, prefix=settings.loyalty_prefix)
            except InvalidInput:
                return None
            return self._customer(self.store.conn, "sticker", lid.sticker) or self.get(lid.digits)
        if identity.is_valid(text, prefix=settings.loyalty_prefix):
            found = self.get(identity.parse(text).digits)
            if found is not None:
                return found
        try:
            phone = normalise_phone(text, settings.region)
        except InvalidInput:
            return None
        return self.by_phone(phone)

    # -- points -------------------------------------------------------------------------------------------

    @staticmethod
    def pending_points(conn: sqlite3.Connection, loyalty_id: str) -> tuple[int, int]:
        """See :func:`pending_points`."""
        return pending_points(conn, loyalty_id)

    def balance(self, c: CachedCustomer) -> int:
        """The box's view of the balance: the hub's snapshot - redeemed + earned above its watermark."""
        redeemed, earned = pending_points(self.store.conn, c.loyalty_id)
        return known_balance(c.balance_points, redeemed, earned)

    def pricing_customer(self, c: CachedCustomer) -> Customer:
        """The customer as :func:`core.pricing.price` needs them, with the box's view of the balance."""
        return sale_customer(
            c.loyalty_id,
            tier_points=c.tier_points,
            transactions_this_month=c.transactions_this_month,
            points_balance=self.balance(c),
            offline_allowance_points=c.offline_allowance_points,
            segment_ids=c.segment_ids,
            birth_date=c.birth_date,
            enrolled_on=c.enrolled_on,
            last_birthday_bonus_year=c.last_birthday_bonus_year,
            last_anniversary_bonus_year=c.last_anniversary_bonus_year,
        )

    # -- biometrics ---------------------------------------------------------------------------------------

    def on_fingerprint_erased(self, listener: ErasureListener) -> None:
        """Call ``listener(loyalty_id, sensor_slot)`` whenever a template that sits on the sensor is erased."""
        self._erasure_listeners.append(listener)

    def fingerprint_template(self, loyalty_id: str) -> bytes | None:
        """The customer's template; None when none is kept.

        Opened with the box key, or with the tenant key when it is kept as the hub sealed it.
        """
        row = self.store.conn.execute(
            "SELECT fingerprint_sealed FROM biometric WHERE loyalty_id = ?", (loyalty_id,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        sealed = bytes(row[0])
        try:
            return self._box.open(sealed, loyalty_id=loyalty_id, kind="fingerprint")
        except WrongKey:
            # The configuration sync keeps a template from the hub as the hub sealed it (tenant key).
            if self._tenant is None or not self._tenant.sealed_by_this_key(sealed):
                raise
            return self._tenant.open(sealed, loyalty_id=loyalty_id, kind="fingerprint")

    def face_image(self, loyalty_id: str) -> bytes | None:
        row = self.store.conn.execute(
            "SELECT face_sealed FROM biometric WHERE loyalty_id = ?", (loyalty_id,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return self._box.open(bytes(row[0]), loyalty_id=loyalty_id, kind="face")

    def keep_hub_template(self, tx: Transaction, loyalty_id: str, sealed_text: str) -> None:
        """Keep a template the hub sent in the customer cache (tenant-sealed base64), resealed for rest."""
        if self._tenant is None:
            raise CustomerError("no tenant key is configured, so templates from the hub cannot be opened")
        template = self._tenant.open_text(sealed_text, loyalty_id=loyalty_id, kind="fingerprint")
        self._set_biometric(
            tx, loyalty_id, fingerprint_sealed=self._box.seal(template, loyalty_id=loyalty_id, kind="fingerprint")
        )

    def erase(self, tx: Transaction, loyalty_id: str) -> bool:
        """Delete a customer the hub erased: the row, its biometrics and its template on the sensor."""
        slot = self._slot(tx.conn, loyalty_id)
        deleted = tx.conn.execute("DELETE FROM customer WHERE loyalty_id = ?", (loyalty_id,)).rowcount
        tx.conn.execute("DELETE FROM biometric WHERE loyalty_id = ?", (loyalty_id,))
        if slot is not None:
            self._notify_erased(loyalty_id, slot)
        return bool(deleted)

    @staticmethod
    def _slot(conn: sqlite3.Connection, loyalty_id: str) -> int | None:
        row = conn.execute("SELECT sensor_slot FROM biometric WHERE loyalty_id = ?", (loyalty_id,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _notify_erased(self, loyalty_id: str, slot: int) -> None:
        for listener in self._erasure_listeners:
            listener(loyalty_id, slot)

    @staticmethod
    def _set_biometric(tx: Transaction, loyalty_id: str, **columns: Any) -> None:
        tx.conn.execute("INSERT INTO biometric (loyalty_id) VALUES (?) ON CONFLICT DO NOTHING", (loyalty_id,))
        for name, value in columns.items():
            tx.conn.execute(f"UPDATE biometric SET {name} = ? WHERE loyalty_id = ?", (value, loyalty_id))  # noqa: S608

    # -- enrolment ----------------------------------------------------------------------------------------

    @contextmanager
    def _tx(self, tx: Transaction | None) -> Iterator[Transaction]:
        if tx is not None:
            yield tx
        else:
            with self.store.transaction() as own:
                yield own

    def today(self) -> date:
        """Today's date in the store's zone, as enrolment forms check it (UTC before the box has settings)."""
        try:
            settings = _read_settings(self.store.conn)
        except NotConfigured:
            return self._clock().astimezone(UTC).date()
        return self._store_today(settings)

    def _store_today(self, settings: _Settings, now: datetime | None = None) -> date:
        """The date of ``now`` (default: the clock's) in the store's zone (UTC when it names no usable zone)."""
        now = self._clock() if now is None else now
        if settings.timezone:
            try:
                return now.astimezone(ZoneInfo(settings.timezone)).date()
            except (ZoneInfoNotFoundError, ValueError):
                pass
        return now.astimezone(UTC).date()

    def _validate(self, form: EnrolmentForm | CustomerChanges, settings: _Settings) -> _Valid:
        region = settings.region
        valid = _Valid()
        v = valid.values
        if form.name is not None:
            v["name"] = _name(form.name)
        if form.phone is not None:
            v["phone_e164"] = normalise_phone(form.phone, region, field="phone")
        if form.gender is not None:
            v["gender"] = _gender(form.gender)
        if form.birth_date is not None:
            v["birth_date"] = _birth_date(form.birth_date, self._store_today(settings))
        if form.wechat_id is not None:
            v["wechat_id"] = _wechat_id(form.wechat_id)
        if form.whatsapp is not None:
            v["whatsapp_e164"] = normalise_phone(form.whatsapp, region, field="whatsapp")
        postal_code = getattr(form, "postal_code", None)
        if postal_code is not None:
            v["postal_code"] = _postal_code(postal_code)
        occupation = getattr(form, "occupation", None)
        if occupation is not None:
            v["occupation"] = _occupation(occupation)
        if form.marketing_consent is not None:
            if not isinstance(form.marketing_consent, bool):
                raise InvalidInput("marketing_consent", "must be yes or no")
            v["marketing_consent"] = form.marketing_consent
        if form.face_image is not None:
            valid.face_image = _face_image(form.face_image)
        if form.signature is not None:
            valid.signature_svg = signature_svg(form.signature)
        return valid

    def enrol(self, form: EnrolmentForm, *, cashier: str | None = None, tx: Transaction | None = None) -> Enrolment:
        """Enrol a customer (at checkout pass the sale's ``tx``); an enrolled phone or sticker is found instead.

        Raises ``InvalidInput`` naming the first bad field; nothing is written then.
        """
        settings = _read_settings(self.store.conn)
        valid = self._validate(form, settings)
        if "name" not in valid.values:
            raise InvalidInput("name", "is required")
        if not isinstance(form.fingerprint_consent, bool):
            raise InvalidInput("fingerprint_consent", "must be yes or no")
        if form.fingerprint_template is not None:
            valid.fingerprint_template = _template(form.fingerprint_template, form.fingerprint_consent)
        sticker_id = None
        if form.sticker is not None:
            sticker_id = identity.parse_sticker(form.sticker, prefix=settings.loyalty_prefix)
        if "phone_e164" not in valid.values and sticker_id is None and not form.issue_sticker:
            raise InvalidInput("phone", "a phone number or a sticker is needed to find the customer again")
        with self._tx(tx) as t:
            existing = self._existing(t.conn, valid.values.get("phone_e164"), sticker_id)
            if existing is not None:
                return Enrolment(existing, existing=True)
            if sticker_id is not None:
                loyalty_id = sticker_id.digits
                sticker: str | None = sticker_id.sticker
            else:
                loyalty_id = self._new_loyalty_id(t, settings)
                sticker = identity.STICKER_SCHEME + loyalty_id if form.issue_sticker else None
            event_id = self._write_enrolment(t, settings, loyalty_id, sticker, valid, form, cashier)
        customer = self._customer(t.conn, "loyalty_id", loyalty_id)
        assert customer is not None
        return Enrolment(customer, existing=False, event_id=event_id)

    def _existing(
        self, conn: sqlite3.Connection, phone: str | None, sticker_id: identity.LoyaltyId | None
    ) -> CachedCustomer | None:
        if phone is not None:
            found = self._customer(conn, "phone_e164", phone)
            if found is not None:
                return found
        if sticker_id is not None:
            return self._customer(conn, "sticker", sticker_id.sticker) or self._customer(
                conn, "loyalty_id", sticker_id.digits
            )
        return None

    def _new_loyalty_id(self, tx: Transaction, settings: _Settings) -> str:
        first, last = number_range(self.store.device, settings.loyalty_range)
        key = f"loyalty.next_number.{first}-{last}"
        row = tx.conn.execute("SELECT value FROM setting WHERE key = ?", (key,)).fetchone()
        number = max(first, int(row[0])) if row else first
        for _ in range(MAX_NUMBER_SKIPS):
            if number > last:
                break
            candidate = identity.make(settings.loyalty_prefix, number)
            number += 1
            if tx.conn.execute("SELECT 1 FROM customer WHERE loyalty_id = ?", (candidate,)).fetchone() is None:
                tx.conn.execute(
                    "INSERT INTO setting (key, value, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    (key, str(number), tx.now.isoformat()),
                )
                return candidate
        raise NumbersExhausted(
            f"this box has used its loyalty numbers {first} to {last}: the hub must assign it a new loyalty_range"
        )

    def _write_enrolment(
        self,
        tx: Transaction,
        settings: _Settings,
        loyalty_id: str,
        sticker: str | None,
        valid: _Valid,
        form: EnrolmentForm,
        cashier: str | None,
    ) -> uuid.UUID:
        v = valid.values
        now = tx.now
        fingerprint_consent = form.fingerprint_consent or None
        tx.conn.execute(
            "INSERT INTO customer (loyalty_id, name, phone_e164, sticker, gender, birth_date, wechat_id, "
            "whatsapp_e164, enrolled_on, offline_allowance_points, marketing_consent, marketing_consent_at, "
            "fingerprint_consent, fingerprint_consent_at, origin, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'local', ?)",
            (
                loyalty_id,
                v["name"],
                v.get("phone_e164"),
                sticker,
                v.get("gender"),
                v["birth_date"].isoformat() if "birth_date" in v else None,
                v.get("wechat_id"),
                v.get("whatsapp_e164"),
                self._store_today(settings, now).isoformat(),
                settings.offline_allowance_points,
                None if "marketing_consent" not in v else int(v["marketing_consent"]),
                now.isoformat() if "marketing_consent" in v else None,
                1 if fingerprint_consent else None,
                now.isoformat() if fingerprint_consent else None,
                now.isoformat(),
            ),
        )
        biometric: dict[str, Any] = {}
        if valid.fingerprint_template is not None:
            biometric["fingerprint_sealed"] = self._box.seal(
                valid.fingerprint_template, loyalty_id=loyalty_id, kind="fingerprint"
            )
            biometric["last_seen_at"] = now.isoformat()
        if valid.face_image is not None:
            biometric["face_sealed"] = self._box.seal(valid.face_image, loyalty_id=loyalty_id, kind="face")
        if valid.signature_svg is not None:
            biometric["signature_svg"] = valid.signature_svg
        if biometric:
            self._set_biometric(tx, loyalty_id, **biometric)
        fields = wire.CustomerFields(
            name=v["name"],
            phone_e164=v.get("phone_e164"),
            gender=v.get("gender"),
            birth_date=v.get("birth_date"),
            wechat_id=v.get("wechat_id"),
            whatsapp_e164=v.get("whatsapp_e164"),
            postal_code=v.get("postal_code"),
            occupation=v.get("occupation"),
            sticker=sticker,
            marketing_consent=wire.Consent(granted=v["marketing_consent"], at=now)
            if "marketing_consent" in v
            else None,
            fingerprint_consent=wire.Consent(granted=True, at=now) if fingerprint_consent else None,
        )
        event_id, _ = tx.emit(
            wire.EnrolmentData(
                customer=loyalty_id,
                store=settings.store_id,
                cashier=cashier,
                fields=fields,
                has_face=valid.face_image is not None,
                has_signature=valid.signature_svg is not None,
                fingerprint_template=self._for_hub(valid.fingerprint_template, loyalty_id),
            )
        )
        return event_id

    def _for_hub(self, template: bytes | None, loyalty_id: str) -> str | None:
        if template is None or self._tenant is None:
            return None
        return self._tenant.seal_text(template, loyalty_id=loyalty_id, kind="fingerprint")

    # -- updates ------------------------------------------------------------------------------------------

    def update(
        self,
        loyalty_id: str,
        changes: CustomerChanges,
        *,
        cashier: str | None = None,
        tx: Transaction | None = None,
    ) -> CachedCustomer:
        """Apply ``changes``; emits ``customer_update`` with only the fields that changed (none: no event).

        Raises ``UnknownCustomer``, or ``InvalidInput`` naming the first bad field; nothing is written then.
        """
        settings = _read_settings(self.store.conn)
        valid = self._validate(changes, settings)
        if changes.fingerprint_consent is not None and not isinstance(changes.fingerprint_consent, bool):
            raise InvalidInput("fingerprint_consent", "must be yes or no")
        erased_slot: int | None = None
        with self._tx(tx) as t:
            current = self._customer(t.conn, "loyalty_id", loyalty_id)
            if current is None:
                raise UnknownCustomer(f"no customer {loyalty_id} on this box; look them up again")
            consent_now = bool(current.fingerprint_consent)
            if changes.fingerprint_consent is not None:
                consent_now = changes.fingerprint_consent
            if changes.fingerprint_template is not None:
                valid.fingerprint_template = _template(changes.fingerprint_template, consent_now)
            phone = valid.values.get("phone_e164")
            if phone is not None and phone != current.phone_e164:
                other = self._customer(t.conn, "phone_e164", phone)
                if other is not None:
                    raise InvalidInput("phone", f"{phone} already belongs to customer {other.loyalty_id}")
            fields, columns = self._changed(current, valid, changes, t.now)
            withdraw = changes.fingerprint_consent is False and current.fingerprint_consent is True
            if withdraw or (changes.fingerprint_consent is False and current.has_fingerprint):
                erased_slot = self._slot(t.conn, loyalty_id)
                t.conn.execute(
                    "UPDATE biometric SET fingerprint_sealed = NULL, sensor_slot = NULL, last_seen_at = NULL "
                    "WHERE loyalty_id = ?",
                    (loyalty_id,),
                )
            biometric: dict[str, Any] = {}
            if valid.fingerprint_template is not None:
                biometric["fingerprint_sealed"] = self._box.seal(
                    valid.fingerprint_template, loyalty_id=loyalty_id, kind="fingerprint"
                )
            if valid.face_image is not None:
                biometric["face_sealed"] = self._box.seal(valid.face_image, loyalty_id=loyalty_id, kind="face")
            if valid.signature_svg is not None:
                biometric["signature_svg"] = valid.signature_svg
            if biometric:
                self._set_biometric(t, loyalty_id, **biometric)
            if columns:
                sets = ", ".join(f"{name} = ?" for name in columns)
                t.conn.execute(
                    f"UPDATE customer SET {sets}, updated_at = ? WHERE loyalty_id = ?",  # noqa: S608
                    (*columns.values(), t.now.isoformat(), loyalty_id),
                )
            if fields or withdraw or biometric:
                t.emit(
                    wire.CustomerUpdateData(
                        customer=loyalty_id,
                        store=settings.store_id,
                        cashier=cashier,
                        fields=wire.CustomerFields(**fields),
                        fingerprint_template=self._for_hub(valid.fingerprint_template, loyalty_id),
                        erase_fingerprint=withdraw or erased_slot is not None,
                    )
                )
            if erased_slot is not None:
                self._notify_erased(loyalty_id, erased_slot)
        updated = self.get(loyalty_id)
        assert updated is not None
        return updated

    @staticmethod
    def _changed(
        current: CachedCustomer, valid: _Valid, changes: CustomerChanges, now: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The event fields and the column values that differ from ``current``."""
        fields: dict[str, Any] = {}
        columns: dict[str, Any] = {}
        for name in ("name", "phone_e164", "gender", "birth_date", "wechat_id", "whatsapp_e164"):
            if name in valid.values and valid.values[name] != getattr(current, name):
                value = valid.values[name]
                fields[name] = value
                columns[name] = value.isoformat() if isinstance(value, date) else value
        marketing = valid.values.get("marketing_consent")
        if marketing is not None and marketing != current.marketing_consent:
            fields["marketing_consent"] = wire.Consent(granted=marketing, at=now)
            columns["marketing_consent"] = int(marketing)
            columns["marketing_consent_at"] = now.isoformat()
        consent = changes.fingerprint_consent
        if consent is not None and consent != bool(current.fingerprint_consent):
            fields["fingerprint_consent"] = wire.Consent(granted=consent, at=now)
            columns["fingerprint_consent"] = int(consent)
            columns["fingerprint_consent_at"] = now.isoformat()
        return fields, columns
