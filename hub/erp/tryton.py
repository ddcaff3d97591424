"""A live connector to Tryton (trytond 7 and 8) over its JSON-RPC interface.

Protocol, as trytond serves it: every call is an HTTP ``POST {url}{database}/rpc/`` of
``{"id", "method", "params"}``. ``common.db.login(login, {"password": ...}, language)`` returns
``[user_id, session, ...]``; later calls carry ``Authorization: Session base64(login:user_id:session)``.
Model methods are ``model.{model}.{method}`` with the user's context as the last parameter (the connector
fetches it once with ``model.res.user.get_preferences``; it names the company whose prices are read).
Decimals and datetimes travel as ``{"__class__": "Decimal", "decimal": "18.50"}`` and
``{"__class__": "datetime", ...}``; the connector decodes every JSON number as a :class:`~decimal.Decimal`
so no float ever holds a price or a quantity.

Bounds: each HTTP call has ``timeout_s``; a call is tried at most ``attempts`` times, with a doubling pause
from :data:`RETRY_PAUSE_S` up to :data:`RETRY_PAUSE_MAX_S`, and only when repeating it is safe (writes are
retried only when the server surely did not receive them); an answer larger than :data:`RESPONSE_MAX_BYTES`
is refused; one poll reads at most :data:`FULL_PAGES_PER_POLL` pages of :data:`PAGE_SIZE` products.

Change cursor
-------------
Tryton stamps each record with ``create_date`` and ``write_date``. A price edit writes the product template,
a barcode edit writes a ``product.identifier`` (and, from the client, the product), a cost change or
deactivation writes the product. A poll asks each of those three models for records stamped at or after the
cursor minus :data:`CURSOR_OVERLAP_S` (a transaction that began before the previous poll may commit after it
with an earlier stamp) and returns the products concerned, so a product can come back in two successive
polls. The cursor is the newest stamp seen, as the ERP's clock wrote it: the hub's clock never enters.
Deleting a barcode record directly (not through its product) leaves no stamp; a periodic full read
(cursor ``None``) catches such edits.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import itertools
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from hub.erp.base import (
    ERPAuthFailed,
    ERPDataError,
    ERPError,
    ERPProduct,
    ERPProtocolError,
    ERPRejected,
    ERPUnavailable,
    ProductChanges,
    ProductProblem,
    PurchaseOrderRef,
    PurchaseRequest,
    StockLevel,
    to_minor,
)
from hub.errors import HubError

__all__ = [
    "CURSOR_OVERLAP_S",
    "PAGE_SIZE",
    "Transport",
    "TrytonConnector",
    "TrytonSettings",
    "urllib_transport",
]

log = logging.getLogger(__name__)

PAGE_SIZE: Final = 200
"""Products (or stock rows) read per JSON-RPC call."""
FULL_PAGES_PER_POLL: Final = 25
"""Pages one full read returns before handing back a resumable cursor (``complete=False``)."""
CHANGE_SCAN_MAX: Final = 5000
"""Changed records per watched model one incremental poll accepts; past it the poll becomes a full read."""
CURSOR_OVERLAP_S: Final = 30.0
"""How far back before the cursor a poll looks again, so a transaction that committed late is not missed."""
MAX_WAREHOUSES: Final = 200
STOCK_PAGES_MAX: Final = 250
"""Pages of :data:`PAGE_SIZE` products read per warehouse for stock levels (50,000 products)."""
RESPONSE_MAX_BYTES: Final = 32 * 1024 * 1024
RETRY_PAUSE_S: Final = 0.25
RETRY_PAUSE_MAX_S: Final = 2.0
ATTEMPTS_MAX: Final = 10
_CURSOR_PREFIX: Final = "tryton1"
_RETRY_STATUSES: Final = frozenset({502, 503, 504})

Transport = Callable[[str, bytes, Mapping[str, str], float], tuple[int, bytes]]
"""``(url, body, headers, timeout_s) -> (http status, body)``; raises :class:`OSError` when nothing answered."""


class _NotSent(HubError, OSError):
    """The request surely never reached the server (connection refused): repeating a write is safe."""

    code = "not_sent"


def urllib_transport(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> tuple[int, bytes]:
    """POST with the standard library; any HTTP status is returned, network failures raise :class:`OSError`."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - scheme checked in settings
            return int(response.status), response.read(RESPONSE_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(RESPONSE_MAX_BYTES + 1)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            raise _NotSent(f"connection refused: {exc.reason}") from exc
        raise OSError(f"{exc.reason}") from exc
    except ConnectionRefusedError as exc:
        raise _NotSent(f"connection refused: {exc}") from exc


@dataclass(frozen=True)
class TrytonSettings:
    """Where and as whom the connector talks to Tryton.

    ``url`` is trytond's base URL (``http://erp.example:8000/``); ``default_warehouse`` is the code of the
    warehouse purchase orders are delivered to when a request names none.
    """

    url: str
    database: str
    login: str
    password: str = field(repr=False)
    default_warehouse: str | None = None
    language: str = "en"
    timeout_s: float = 10.0
    attempts: int = 3

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ERPRejected(f"Tryton URL {self.url!r} must look like http://host:8000/ (http or https)")
        if not self.database or "/" in self.database:
            raise ERPRejected(f"Tryton database name {self.database!r} is empty or contains '/'")
        if not self.login:
            raise ERPRejected("Tryton login is empty; create a user for the hub in Tryton and give its login")
        if not 0 < self.timeout_s <= 300:
            raise ERPRejected(f"Tryton timeout {self.timeout_s} s must be between 0 and 300 seconds")
        if not 1 <= self.attempts <= ATTEMPTS_MAX:
            raise ERPRejected(f"Tryton attempts {self.attempts} must be between 1 and {ATTEMPTS_MAX}")

    @property
    def rpc_url(self) -> str:
        return f"{self.url.rstrip('/')}/{self.database}/rpc/"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TrytonSettings:
        """Settings from ``MOSTRADOR_TRYTON_{URL,DATABASE,LOGIN,PASSWORD or PASSWORD_FILE,WAREHOUSE}``."""
        env = os.environ if env is None else env

        def need(name: str) -> str:
            value = env.get(f"MOSTRADOR_TRYTON_{name}", "")
            if not value:
                raise ERPRejected(f"MOSTRADOR_TRYTON_{name} is not set; see docs/erp.md")
            return value

        password_file = env.get("MOSTRADOR_TRYTON_PASSWORD_FILE")
        password = Path(password_file).read_text().strip() if password_file else need("PASSWORD")
        return cls(
            url=need("URL"),
            database=need("DATABASE"),
            login=need("LOGIN"),
            password=password,
            default_warehouse=env.get("MOSTRADOR_TRYTON_WAREHOUSE") or None,
        )


def _encode(value: object) -> object:
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise TypeError("a datetime sent to Tryton must be timezone-aware (Tryton keeps UTC)")
        value = value.astimezone(dt.UTC)
        return {
            "__class__": "datetime",
            "year": value.year,
            "month": value.month,
            "day": value.day,
            "hour": value.hour,
            "minute": value.minute,
            "second": value.second,
            "microsecond": value.microsecond,
        }
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    raise TypeError(f"cannot send {type(value).__name__} to Tryton")


def _decode(obj: dict[str, Any]) -> object:
    kind = obj.get("__class__")
    if kind == "Decimal":
        return Decimal(obj["decimal"])
    if kind == "datetime":
        return dt.datetime(
            obj["year"],
            obj["month"],
            obj["day"],
            obj["hour"],
            obj["minute"],
            obj["second"],
            obj["microsecond"],
            tzinfo=dt.UTC,  # Tryton's datetimes are UTC without a zone on the wire
        )
    if kind == "date":
        return dt.date(obj["year"], obj["month"], obj["day"])
    if kind == "bytes":
        return base64.b64decode(obj["base64"])
    return obj


def _whole(value: object, what: str) -> int:
    """A quantity Tryton sent (decoded as Decimal) as an int, refusing fractions."""
    number = Decimal(0) if value is None else value
    if not isinstance(number, Decimal | int) or number != int(number):
        raise ERPDataError(f"{what}: {value!r} is not a whole number of units")
    return int(number)


def _stamp(row: Mapping[str, Any]) -> dt.datetime | None:
    stamps = [row.get("write_date"), row.get("create_date")]
    found = [s for s in stamps if isinstance(s, dt.datetime)]
    return max(found) if found else None


class TrytonConnector:
    """:class:`hub.erp.base.ERPConnector` over Tryton's JSON-RPC; one session, opened on first use.

    ``transport`` stands in for the network in tests (see :data:`Transport`); ``sleep`` for the pause
    between attempts.
    """

    def __init__(
        self,
        settings: TrytonSettings,
        *,
        transport: Transport = urllib_transport,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._sleep = sleep
        self._ids = itertools.count(1)
        self._session: str | None = None
        self._context: dict[str, Any] = {}
        self._currency: str | None = None

    # --- session and calls ----------------------------------------------------------------------------------

    @property
    def currency(self) -> str:
        """The ISO code of the company currency prices are read in (logs in when needed)."""
        self._ensure_session()
        assert self._currency is not None
        return self._currency

    def login(self) -> None:
        """Open a session, read the user's context and the company currency."""
        s = self.settings
        result = self._post("common.db.login", [s.login, {"password": s.password}, s.language], safe=True)
        if not isinstance(result, list) or len(result) < 2:
            raise ERPProtocolError(f"Tryton at {s.rpc_url} answered the login with {result!r}; is it trytond 7 or 8?")
        user_id, key = result[0], result[1]
        token = base64.b64encode(f"{s.login}:{user_id}:{key}".encode()).decode()
        self._session = f"Session {token}"
        context = self._post("model.res.user.get_preferences", [True, {}], safe=True)
        if not isinstance(context, dict):
            raise ERPProtocolError(f"Tryton returned preferences {context!r}; expected a context object")
        company = context.get("company")
        if not isinstance(company, int):
            raise ERPRejected(
                f"Tryton user {s.login!r} has no current company; set one in its preferences so prices can be read"
            )
        self._context = context
        rows = self.call_model("company.company", "read", [company], ["currency.code"])
        try:
            self._currency = str(rows[0]["currency."]["code"])
        except (IndexError, KeyError, TypeError) as exc:
            raise ERPProtocolError(f"Tryton returned company {company} as {rows!r}; cannot find its currency") from exc

    def close(self) -> None:
        if self._session is not None:
            with contextlib.suppress(ERPError):
                self._post("common.db.logout", [], safe=True, attempts=1)
        self._session = None

    def __enter__(self) -> TrytonConnector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _ensure_session(self) -> None:
        if self._session is None:
            self.login()

    def call_model(
        self, model: str, method: str, *args: object, context: Mapping[str, Any] | None = None, safe: bool = True
    ) -> Any:
        """``model.{model}.{method}(*args, context)`` with the user's context (plus ``context``).

        ``safe`` says whether the call may be repeated after a timeout (reads); pass False for writes.
        A session Tryton no longer knows is reopened once.
        """
        self._ensure_session()
        for renewed in (False, True):
            params = [*args, {**self._context, **(context or {})}]
            try:
                return self._post(f"model.{model}.{method}", params, safe=safe)
            except _SessionExpired:
                if renewed:
                    break
                self._session = None
                self.login()
        raise ERPAuthFailed(
            f"Tryton refused the session of {self.settings.login!r} right after logging in; "
            "check that the user is active and that trytond's [session] settings allow it"
        )

    def _post(self, method: str, params: list[Any], *, safe: bool, attempts: int | None = None) -> Any:
        s = self.settings
        attempts = attempts or s.attempts
        body = json.dumps({"id": next(self._ids), "method": method, "params": params}, default=_encode).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._session is not None:
            headers["Authorization"] = self._session
        pause = RETRY_PAUSE_S
        problem = ""
        for attempt in range(1, attempts + 1):
            try:
                status, answer = self._transport(s.rpc_url, body, headers, s.timeout_s)
            except OSError as exc:
                problem = str(exc) or type(exc).__name__
                if not (safe or isinstance(exc, _NotSent)):
                    break
            else:
                if status not in _RETRY_STATUSES:
                    return self._answer(method, status, answer)
                problem = f"HTTP {status}"
            if attempt < attempts:
                self._sleep(pause)
                pause = min(pause * 2, RETRY_PAUSE_MAX_S)
        raise ERPUnavailable(
            f"Tryton at {s.rpc_url} did not answer {method} ({problem}) after {attempt} attempt(s) of "
            f"{s.timeout_s:g} s; check that trytond is running and reachable from the hub, then retry"
        )

    def _answer(self, method: str, status: int, answer: bytes) -> Any:
        s = self.settings
        if len(answer) > RESPONSE_MAX_BYTES:
            raise ERPProtocolError(f"Tryton's answer to {method} exceeds {RESPONSE_MAX_BYTES} bytes; ask for less")
        if status == 401:
            if method == "common.db.login":
                raise ERPAuthFailed(
                    f"Tryton refused the login {s.login!r} on database {s.database!r}: check the login and "
                    "password (MOSTRADOR_TRYTON_LOGIN / MOSTRADOR_TRYTON_PASSWORD) and that the user is active"
                )
            raise _SessionExpired
        if status == 403:
            raise ERPAuthFailed(
                f"Tryton forbids {method} to {s.login!r}: the method is not callable remotely or the user lacks "
                "the right; give the user the groups listed in docs/erp.md"
            )
        if status == 404:
            raise ERPProtocolError(
                f"Tryton at {s.url} has no database {s.database!r} (HTTP 404): check the database name and URL"
            )
        if status == 429:
            raise ERPUnavailable(
                "Tryton is rate-limiting logins from the hub (HTTP 429) after failed attempts; fix the "
                "credentials and wait a few minutes before retrying"
            )
        if status != 200:
            raise ERPProtocolError(f"Tryton answered {method} with HTTP {status}; is {s.url} a trytond server?")
        try:
            data = json.loads(answer, parse_float=Decimal, object_hook=_decode)
        except ValueError as exc:
            raise ERPProtocolError(f"Tryton's answer to {method} is not JSON; is {s.url} a trytond server?") from exc
        if not isinstance(data, dict) or not ({"result", "error"} & data.keys()):
            raise ERPProtocolError(f"Tryton's answer to {method} is not a JSON-RPC response: {str(data)[:200]}")
        error = data.get("error")
        if error is not None:
            raise self._map_error(method, error)
        return data.get("result")

    def _map_error(self, method: str, error: object) -> ERPError:
        kind = error[0] if isinstance(error, list) and error else None
        detail = error[1] if isinstance(error, list) and len(error) > 1 else None
        if kind in {"UserError", "UserWarning"} and isinstance(detail, list) and detail:
            # UserError: (message, description, domain); UserWarning: (name, message, description).
            parts = detail[:2] if kind == "UserError" else detail[1:3]
            message = " ".join(str(part) for part in parts if part).strip()
            if message.startswith("You are not allowed"):
                return ERPAuthFailed(
                    f"Tryton refused {method} to {self.settings.login!r}: {message} "
                    "Give the user the groups listed in docs/erp.md."
                )
            return ERPRejected(f"Tryton refused {method}: {message}")
        if kind == "ConcurrencyException":
            return ERPRejected(f"Tryton refused {method}: the record changed meanwhile; read it again and retry")
        return ERPProtocolError(f"Tryton failed on {method}: {str(kind)[:300]}; the trytond log has the details")

    # --- products -------------------------------------------------------------------------------------------

    def products_changed_since(self, cursor: str | None) -> ProductChanges:
        if cursor is None:
            return self._full_read(self._high_water(), 0)
        kind, since, after_id = _parse_cursor(cursor)
        if kind == "full":
            return self._full_read(since, after_id)
        assert since is not None
        window = since - dt.timedelta(seconds=CURSOR_OVERLAP_S)
        stamp_domain = ["OR", ("write_date", ">=", window), ("create_date", ">=", window)]
        newest = since
        product_ids: set[int] = set()
        template_ids: set[int] = set()
        for model, ref, into in (
            ("product.product", "id", product_ids),
            ("product.template", "id", template_ids),
            ("product.identifier", "product", product_ids),
        ):
            rows = self.call_model(
                model,
                "search_read",
                stamp_domain,
                0,
                CHANGE_SCAN_MAX + 1,
                [("id", "ASC")],
                ["write_date", "create_date", *([ref] if ref != "id" else [])],
                context={"active_test": False},
            )
            if len(rows) > CHANGE_SCAN_MAX:
                log.info(
                    "more than %d %s records changed since %s: reading every product", CHANGE_SCAN_MAX, model, since
                )
                return self._full_read(self._high_water(), 0)
            for row in rows:
                stamp = _stamp(row)
                if stamp is not None and stamp > newest:
                    newest = stamp
                if isinstance(row.get(ref), int):
                    into.add(row[ref])
        if template_ids:
            product_ids.update(
                self.call_model(
                    "product.product",
                    "search",
                    [("template", "in", sorted(template_ids))],
                    0,
                    None,
                    None,
                    context={"active_test": False},
                )
            )
        products: list[ERPProduct] = []
        problems: list[ProductProblem] = []
        ordered = sorted(product_ids)
        for start in range(0, len(ordered), PAGE_SIZE):
            got, bad = self._read_products(ordered[start : start + PAGE_SIZE])
            products += got
            problems += bad
        return ProductChanges(tuple(products), tuple(problems), _make_cursor("since", newest, 0))

    def _full_read(self, since: dt.datetime | None, after_id: int) -> ProductChanges:
        products: list[ERPProduct] = []
        problems: list[ProductProblem] = []
        for _page in range(FULL_PAGES_PER_POLL):
            ids = self.call_model(
                "product.product",
                "search",
                [("id", ">", after_id)],
                0,
                PAGE_SIZE,
                [("id", "ASC")],
                context={"active_test": False},
            )
            got, bad = self._read_products(ids)
            products += got
            problems += bad
            if len(ids) < PAGE_SIZE:
                stamp = since or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
                return ProductChanges(tuple(products), tuple(problems), _make_cursor("since", stamp, 0))
            after_id = max(ids)
        return ProductChanges(tuple(products), tuple(problems), _make_cursor("full", since, after_id), complete=False)

    def _high_water(self) -> dt.datetime | None:
        """The newest stamp on any watched model now: a full read's changes are polled from there."""
        newest: dt.datetime | None = None
        for model in ("product.product", "product.template", "product.identifier"):
            for column in ("write_date", "create_date"):
                rows = self.call_model(
                    model,
                    "search_read",
                    [(column, "!=", None)],
                    0,
                    1,
                    [(column, "DESC")],
                    [column],
                    context={"active_test": False},
                )
                for row in rows:
                    stamp = _stamp(row)
                    if stamp is not None and (newest is None or stamp > newest):
                        newest = stamp
        return newest

    def _read_products(self, ids: Sequence[int]) -> tuple[list[ERPProduct], list[ProductProblem]]:
        if not ids:
            return [], []
        rows = self.call_model(
            "product.product",
            "read",
            list(ids),
            ["code", "active", "template.name", "template.categories", "list_price_used", "cost_price", "identifiers"],
            context={"active_test": False},
        )
        identifier_ids = sorted({i for row in rows for i in row.get("identifiers") or []})
        codes: dict[int, str] = {}
        for start in range(0, len(identifier_ids), PAGE_SIZE):
            for ident in self.call_model(
                "product.identifier", "read", identifier_ids[start : start + PAGE_SIZE], ["code"]
            ):
                codes[ident["id"]] = str(ident["code"])
        category_ids = sorted({c for row in rows for c in (row.get("template.") or {}).get("categories") or []})
        names = {
            cat["id"]: str(cat["rec_name"])
            for cat in (self.call_model("product.category", "read", category_ids, ["rec_name"]) if category_ids else [])
        }
        products: list[ERPProduct] = []
        problems: list[ProductProblem] = []
        currency = self.currency
        for row in rows:
            erp_id = str(row["id"])
            sku = row.get("code") or None
            if sku is None:
                problems.append(ProductProblem(erp_id, None, "code", "the variant has no code; give it one in Tryton"))
                continue
            template = row.get("template.") or {}
            price = row.get("list_price_used")
            if price is None:
                problems.append(ProductProblem(erp_id, sku, "list_price", "no list price; set one in Tryton"))
                continue
            try:
                price_minor = to_minor(price, currency, what=f"{sku} list price")
                cost = row.get("cost_price")
                cost_minor = None if cost is None else to_minor(cost, currency, what=f"{sku} cost price")
            except ERPDataError as exc:
                field_name = "cost_price" if "cost price" in str(exc) else "list_price"
                problems.append(ProductProblem(erp_id, sku, field_name, str(exc)))
                continue
            categories = template.get("categories") or []
            products.append(
                ERPProduct(
                    sku=str(sku),
                    name=str(template.get("name") or sku),
                    category=names.get(categories[0]) if categories else None,
                    price_minor=price_minor,
                    currency=currency,
                    cost_minor=cost_minor,
                    barcodes=tuple(codes[i] for i in row.get("identifiers") or [] if i in codes),
                    active=bool(row.get("active")),
                    erp_id=erp_id,
                )
            )
        return products, problems

    # --- stock ----------------------------------------------------------------------------------------------

    def stock_levels(
        self, *, skus: Sequence[str] | None = None, warehouses: Sequence[str] | None = None
    ) -> list[StockLevel]:
        domain: list[Any] = [("type", "=", "warehouse")]
        if warehouses is not None:
            domain.append(("code", "in", list(warehouses)))
        found = self.call_model("stock.location", "search_read", domain, 0, MAX_WAREHOUSES, [("code", "ASC")], ["code"])
        if warehouses is not None:
            missing = sorted(set(warehouses) - {w["code"] for w in found})
            if missing:
                raise ERPRejected(f"Tryton has no warehouse with code {', '.join(missing)}; check the codes")
        product_domain: list[Any] = [("type", "=", "goods"), ("code", "!=", None)]
        if skus is not None:
            product_domain.append(("code", "in", list(skus)))
        levels: list[StockLevel] = []
        for warehouse in found:
            levels += self._warehouse_stock(warehouse["id"], str(warehouse["code"] or warehouse["id"]), product_domain)
        return levels

    def _warehouse_stock(self, location_id: int, code: str, product_domain: list[Any]) -> list[StockLevel]:
        levels: list[StockLevel] = []
        after_id = 0
        for _page in range(STOCK_PAGES_MAX):
            rows = self.call_model(
                "product.product",
                "search_read",
                [*product_domain, ("id", ">", after_id)],
                0,
                PAGE_SIZE,
                [("id", "ASC")],
                ["code", "quantity", "forecast_quantity"],
                context={"locations": [location_id], "with_childs": True},
            )
            for row in rows:
                try:
                    on_hand = _whole(row.get("quantity"), f"{row['code']} in {code}")
                    forecast = _whole(row.get("forecast_quantity"), f"{row['code']} forecast in {code}")
                except ERPDataError as exc:
                    log.warning("skipping stock of %s: %s", row["code"], exc)
                    continue
                levels.append(StockLevel(str(row["code"]), code, on_hand, forecast))
            if len(rows) < PAGE_SIZE:
                return levels
            after_id = rows[-1]["id"]
        raise ERPDataError(
            f"warehouse {code} holds more than {STOCK_PAGES_MAX * PAGE_SIZE} products; ask for fewer skus at once"
        )

    # --- purchases ------------------------------------------------------------------------------------------

    def create_purchase_order(self, request: PurchaseRequest) -> PurchaseOrderRef:
        existing = self._find_purchase(request.reference)
        if existing is not None:
            return existing
        party = self._supplier(request.supplier)
        warehouse = self._warehouse_id(request.warehouse or self.settings.default_warehouse)
        skus = [line.sku for line in request.lines]
        rows = self.call_model(
            "product.product",
            "search_read",
            [("code", "in", skus)],
            0,
            len(skus) + 1,
            None,
            ["code", "purchasable", "purchase_uom", "cost_price"],
        )
        by_sku = {row["code"]: row for row in rows}
        missing = [sku for sku in skus if sku not in by_sku]
        if missing:
            raise ERPRejected(
                f"purchase {request.reference}: Tryton has no active product with code {', '.join(missing)}; "
                "create it or correct the sku"
            )
        unpurchasable = [sku for sku in skus if not by_sku[sku]["purchasable"]]
        if unpurchasable:
            raise ERPRejected(
                f"purchase {request.reference}: {', '.join(unpurchasable)} cannot be purchased in Tryton; "
                "tick 'Purchasable' on the product"
            )
        lines = []
        for line in request.lines:
            product = by_sku[line.sku]
            values: dict[str, Any] = {
                "type": "line",
                "product": product["id"],
                "quantity": Decimal(line.qty),
                "unit": product["purchase_uom"],
            }
            if product.get("cost_price") is not None:
                values["unit_price"] = product["cost_price"]
            lines.append(values)
        purchase: dict[str, Any] = {
            "party": party,
            "reference": request.reference,
            "description": request.note[:200] or None,
            "lines": [["create", lines]],
        }
        if warehouse is not None:
            purchase["warehouse"] = warehouse
        self.call_model("purchase.purchase", "create", [purchase], safe=False)
        created = self._find_purchase(request.reference)
        if created is None:
            raise ERPProtocolError(f"Tryton accepted purchase {request.reference} but cannot find it afterwards")
        return PurchaseOrderRef(created.erp_id, created.reference, created.state, created.number, created=True)

    def _find_purchase(self, reference: str) -> PurchaseOrderRef | None:
        rows = self.call_model(
            "purchase.purchase",
            "search_read",
            [("reference", "=", reference)],
            0,
            1,
            [("id", "ASC")],
            ["number", "state", "reference"],
        )
        if not rows:
            return None
        row = rows[0]
        return PurchaseOrderRef(
            f"purchase.purchase,{row['id']}", reference, str(row["state"]), row.get("number") or None, created=False
        )

    def _supplier(self, name_or_code: str) -> int:
        for domain in ([("code", "=", name_or_code)], [("name", "=", name_or_code)]):
            ids = self.call_model("party.party", "search", domain, 0, 2, None)
            if len(ids) == 1:
                return int(ids[0])
            if len(ids) > 1:
                raise ERPRejected(
                    f"several Tryton parties are named {name_or_code!r}; use the supplier's party code instead"
                )
        raise ERPRejected(
            f"Tryton has no party with code or name {name_or_code!r}; create the supplier in Tryton or map the "
            "distributor to its party code"
        )

    def _warehouse_id(self, code: str | None) -> int | None:
        found = self.call_model(
            "stock.location",
            "search_read",
            [("type", "=", "warehouse"), *([("code", "=", code)] if code else [])],
            0,
            2,
            None,
            ["code"],
        )
        if code is None:
            if len(found) > 1:
                raise ERPRejected(
                    "Tryton has several warehouses: name the receiving one (MOSTRADOR_TRYTON_WAREHOUSE or the "
                    "request's warehouse)"
                )
            return None
        if not found:
            raise ERPRejected(f"Tryton has no warehouse with code {code!r}; check MOSTRADOR_TRYTON_WAREHOUSE")
        return int(found[0]["id"])


class _SessionExpired(ERPAuthFailed):
    """Tryton no longer knows the session (HTTP 401 on a call): log in again."""


def _make_cursor(kind: str, since: dt.datetime | None, after_id: int) -> str:
    stamp = since.isoformat() if since is not None else "-"
    return f"{_CURSOR_PREFIX}:{kind}:{stamp}:{after_id}" if kind == "full" else f"{_CURSOR_PREFIX}:{kind}:{stamp}"


def _parse_cursor(cursor: str) -> tuple[str, dt.datetime | None, int]:
    try:
        prefix, kind, rest = cursor.split(":", 2)
        if prefix != _CURSOR_PREFIX or kind not in {"since", "full"}:
            raise ValueError(cursor)
        after_id = 0
        if kind == "full":
            rest, _, last = rest.rpartition(":")
            after_id = int(last)
        since = None if rest == "-" else dt.datetime.fromisoformat(rest)
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)  # cursors made before stamps carried their zone were UTC
        if kind == "since" and since is None:
            raise ValueError(cursor)
    except ValueError as exc:
        raise ERPRejected(
            f"cursor {cursor!r} was not made by this Tryton connector; poll with no cursor to read everything"
        ) from exc
    return kind, since, after_id
