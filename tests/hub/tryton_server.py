"""A private Tryton ERP for the ERP connector's tests: initialised once, copied per server, stopped at the end.

:func:`build_template` makes a fresh SQLite Tryton database in a directory of its own:

1. writes a ``trytond.conf`` (SQLite backend, database directory inside the template directory);
2. runs ``trytond-admin -d DB --all -u product stock purchase --activate-dependencies`` with the admin
   password read from the file named by ``TRYTONPASSFILE`` (the documented non-interactive way);
3. runs this file as a script (``python tryton_server.py seed CONF DB``) inside the same virtual environment:
   it uses Tryton's own ORM to create the Mexican peso, a company, a second warehouse, a supplier party, a
   connector user with product, stock and purchase rights, a few products with prices, costs and barcodes,
   and stock moves into both warehouses. It prints a JSON description of what it made (:class:`SeedInfo`).

Building takes a few dozen seconds, so the result is cached: the test session builds it once (or reuses the
copy kept in pytest's cache directory, keyed by the trytond version and the seed's source), and every
:class:`TrytonServer` starts from a copy of the template database file.

:class:`TrytonServer` runs ``trytond`` on a free loopback port and returns once a login through JSON-RPC
succeeds (which also makes the server load its module pool, so the first test is not the slow one).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

DATABASE = "mostrador"
"""The Tryton database name (the file is ``{DATABASE}.sqlite`` in the database directory)."""
MODULES = ("product", "stock", "purchase")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
ADMIN_TIMEOUT_S = 300.0
SEED_VERSION = 1
"""Bumped (or the seed edited) to rebuild cached templates."""

ADMIN_LOGIN = "admin"
CONNECTOR_LOGIN = "mostrador"
CONNECTOR_PASSWORD = "counter-connector-7Q"


class TrytonServerError(RuntimeError):
    """The private Tryton could not be built, started or stopped; the message says why and shows its log."""


@dataclass(frozen=True)
class SeedInfo:
    """What the seed created, as the tests need to know it."""

    currency: str
    company: str
    supplier_code: str
    supplier_name: str
    warehouses: dict[str, int]
    """Warehouse code -> Tryton id."""
    products: dict[str, dict[str, Any]]
    """SKU -> {"name", "category", "list_price", "cost_price", "barcodes", "stock": {warehouse code: qty}}."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeedInfo:
        return cls(**data)


@dataclass(frozen=True)
class Template:
    """An initialised Tryton database file plus what its seed created."""

    database_file: Path
    seed: SeedInfo
    admin_password: str
    build_s: float
    """Seconds spent building it (0 when it came from the cache)."""


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _write_config(directory: Path, port: int) -> Path:
    conf = directory / "trytond.conf"
    conf.write_text(
        "[database]\n"
        "uri = sqlite://\n"
        f"path = {directory / 'db'}\n"
        "[web]\n"
        f"listen = 127.0.0.1:{port}\n"
        "[session]\n"
        "authentications = password\n"
        # Failed logins are delayed exponentially per login; tests try a wrong password on purpose.
        "max_attempt = 1000\n"
        "max_attempt_ip_network = 1000\n"
        "[password]\n"
        "length = 8\n"
    )
    return conf


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _cache_key() -> str:
    import importlib.metadata
    import inspect

    seed_source = inspect.getsource(_seed) + json.dumps(_PRODUCTS) + " ".join(MODULES)
    digest = hashlib.sha256(seed_source.encode()).hexdigest()[:16]
    return f"trytond-{importlib.metadata.version('trytond')}-seed{SEED_VERSION}-{digest}"


def build_template(directory: Path) -> Template:
    """Initialise a Tryton database with the modules and the seed data in ``directory``."""
    started = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "db").mkdir(exist_ok=True)
    conf = _write_config(directory, _free_port())
    admin_password = secrets.token_urlsafe(12)
    passfile = directory / "admin-password"
    passfile.write_text(admin_password + "\n")
    # trytond's SQLite backend opens an existing file; the admin command fills it.
    (directory / "db" / f"{DATABASE}.sqlite").touch()
    env = {**os.environ, "TRYTONPASSFILE": str(passfile)}
    log = directory / "admin.log"
    with log.open("wb") as out:
        admin = subprocess.run(
            [
                _bin("trytond-admin"),
                "-c",
                str(conf),
                "-d",
                DATABASE,
                "--all",
                "-u",
                *MODULES,
                "--activate-dependencies",
                "--email",
                "admin@example.com",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=ADMIN_TIMEOUT_S,
            check=False,
        )
    if admin.returncode != 0:
        raise TrytonServerError(f"trytond-admin failed ({admin.returncode}): {_tail(log)}")
    seed_run = subprocess.run(
        [sys.executable, __file__, "seed", str(conf), DATABASE],
        capture_output=True,
        timeout=ADMIN_TIMEOUT_S,
        check=False,
    )
    if seed_run.returncode != 0:
        raise TrytonServerError(f"seeding the Tryton database failed: {seed_run.stderr.decode()[-3000:]}")
    seed = json.loads(seed_run.stdout.decode().strip().splitlines()[-1])
    (directory / "seed.json").write_text(json.dumps(seed))
    return Template(
        directory / "db" / f"{DATABASE}.sqlite",
        SeedInfo.from_json(seed),
        admin_password,
        time.monotonic() - started,
    )


def cached_template(session_dir: Path, cache_dir: Path | None) -> Template:
    """The template for this test session: from ``cache_dir`` when a matching one is there, else built.

    A fresh build is stored back into ``cache_dir`` so the next session starts warm.
    """
    key = _cache_key()
    if cache_dir is not None:
        cached = cache_dir / key
        if (cached / "seed.json").is_file() and (cached / f"{DATABASE}.sqlite").is_file():
            shutil.copy2(cached / f"{DATABASE}.sqlite", session_dir / f"{DATABASE}.sqlite")
            return Template(
                session_dir / f"{DATABASE}.sqlite",
                SeedInfo.from_json(json.loads((cached / "seed.json").read_text())),
                (cached / "admin-password").read_text().strip(),
                0.0,
            )
    template = build_template(session_dir / "build")
    if cache_dir is not None:
        for stale in cache_dir.glob("trytond-*"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(dir=cache_dir, prefix="building-"))
        shutil.copy2(template.database_file, staging / f"{DATABASE}.sqlite")
        (staging / "seed.json").write_text((session_dir / "build" / "seed.json").read_text())
        (staging / "admin-password").write_text(template.admin_password)
        with contextlib.suppress(OSError):
            staging.rename(cache_dir / key)
    return template


class TrytonServer:
    """A ``trytond`` process serving a copy of the template database on a free loopback port."""

    def __init__(self, template: Template, directory: Path | None = None) -> None:
        self.template = template
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="mostrador-tryton-"))
        (self.directory / "db").mkdir(parents=True, exist_ok=True)
        shutil.copy2(template.database_file, self.directory / "db" / f"{DATABASE}.sqlite")
        self.port = _free_port()
        self.conf = _write_config(self.directory, self.port)
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_s = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def seed(self) -> SeedInfo:
        return self.template.seed

    def start(self) -> Self:
        started = time.monotonic()
        log = self.directory / "trytond.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [_bin("trytond"), "-c", str(self.conf), "-d", DATABASE],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TrytonServerError(f"trytond exited with status {self.proc.returncode}: {_tail(log)}")
            if self._answers():
                self.start_s = time.monotonic() - started
                return self
            time.sleep(0.1)
        self.stop()
        raise TrytonServerError(f"trytond did not answer on {self.url} within {START_TIMEOUT_S} s: {_tail(log)}")

    def _answers(self) -> bool:
        body = json.dumps(
            {"id": 1, "method": "common.db.login", "params": [CONNECTOR_LOGIN, {"password": CONNECTOR_PASSWORD}, "en"]}
        ).encode()
        request = urllib.request.Request(
            f"{self.url}{DATABASE}/rpc/", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return "result" in json.loads(response.read())
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)


# --- the seed, run as a script inside the trytond virtual environment --------------------------------------

_PRODUCTS: list[dict[str, Any]] = [
    {
        "sku": "REF-COLA-600",
        "name": "Refresco de cola 600 ml",
        "category": "Bebidas",
        "list_price": "18.50",
        "cost_price": "13.20",
        "barcodes": ["7501055300075"],
        "stock": {"WH": 48, "SUR": 12},
    },
    {
        "sku": "GAL-MARIA-170",
        "name": "Galletas María 170 g",
        "category": "Abarrotes",
        "list_price": "22.00",
        "cost_price": "15.75",
        "barcodes": ["7501000111206", "7501000111213"],
        "stock": {"WH": 30},
    },
    {
        "sku": "JAB-BARRA-150",
        "name": "Jabón de barra 150 g",
        "category": "Limpieza",
        "list_price": "9.90",
        "cost_price": "6.10",
        "barcodes": [],
        "stock": {"SUR": 7},
    },
    {
        # A price with more decimals than the peso has: the connector must refuse it, not round it.
        "sku": "DUL-GRANEL-1",
        "name": "Dulce a granel",
        "category": "Dulces",
        "list_price": "1.2345",
        "cost_price": "0.80",
        "barcodes": [],
        "stock": {},
    },
]


def _seed(conf: str, database: str) -> dict[str, Any]:  # pragma: no cover - runs in a subprocess
    import datetime as dt
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from trytond import config  # type: ignore[import-untyped]

    config.update_etc(conf)
    from trytond.pool import Pool  # type: ignore[import-untyped]
    from trytond.transaction import Transaction  # type: ignore[import-untyped]

    Pool.start()
    pool = Pool(database)
    with Transaction().start(database, 0, readonly=True):
        pool.init()

    with Transaction().start(database, 0, context={"language": "en"}) as transaction:
        get = pool.get
        # Tryton's convention: model classes are capitalised.
        Currency, Party, Company = get("currency.currency"), get("party.party"), get("company.company")  # noqa: N806
        User, ModelData = get("res.user"), get("ir.model.data")  # noqa: N806
        Uom, Category, Template, Location = (  # noqa: N806
            get("product.uom"),
            get("product.category"),
            get("product.template"),
            get("stock.location"),
        )
        Move = get("stock.move")  # noqa: N806

        (mxn,) = Currency.create(
            [{"name": "Peso mexicano", "code": "MXN", "symbol": "$", "digits": 2, "rounding": Decimal("0.01")}]
        )
        (company_party,) = Party.create([{"name": "Distribuidora Norte"}])
        (company,) = Company.create(
            [{"party": company_party.id, "currency": mxn.id, "timezone": "America/Mexico_City"}]
        )
        # Tryton reads stock "today" in the company's zone: the moves are dated that day, not the machine's.
        company_today = dt.datetime.now(ZoneInfo(company.timezone)).date()
        admin = User(1)
        User.write([admin], {"companies": [("add", [company.id])], "company": company.id})

        group_ids = [
            ModelData.get_id(module, xml_id)
            for module, xml_id in (
                ("product", "group_product_admin"),
                ("stock", "group_stock"),
                ("purchase", "group_purchase"),
            )
        ]
        User.create(
            [
                {
                    "name": "Mostrador hub",
                    "login": CONNECTOR_LOGIN,
                    "password": CONNECTOR_PASSWORD,
                    "companies": [("add", [company.id])],
                    "company": company.id,
                    "groups": [("add", group_ids)],
                }
            ]
        )

    with Transaction().start(database, 0, context={"company": company.id, "language": "en"}) as transaction:
        (supplier,) = Party.create([{"name": "Embotelladora del Valle", "code": "SUP-EV"}])
        unit = Uom(ModelData.get_id("product", "uom_unit"))
        (warehouse,) = Location.search([("type", "=", "warehouse"), ("code", "=", "WH")])
        supplier_location = Location(ModelData.get_id("stock", "location_supplier"))
        sur_input, sur_output, sur_storage = Location.create(
            [
                {"name": "Sur entrada", "type": "storage"},
                {"name": "Sur salida", "type": "storage"},
                {"name": "Sur almacén", "type": "storage"},
            ]
        )
        (sur,) = Location.create(
            [
                {
                    "name": "Bodega Sur",
                    "code": "SUR",
                    "type": "warehouse",
                    "input_location": sur_input.id,
                    "output_location": sur_output.id,
                    "storage_location": sur_storage.id,
                }
            ]
        )
        Location.write([sur_input, sur_output, sur_storage], {"parent": sur.id})
        storages = {"WH": warehouse.storage_location, "SUR": sur.storage_location}

        categories = {}
        moves = []
        for item in _PRODUCTS:
            if item["category"] not in categories:
                (categories[item["category"]],) = Category.create([{"name": item["category"]}])
            (template,) = Template.create(
                [
                    {
                        "name": item["name"],
                        "type": "goods",
                        "default_uom": unit.id,
                        "purchasable": True,
                        "purchase_uom": unit.id,
                        "list_price": Decimal(item["list_price"]),
                        "categories": [("add", [categories[item["category"]].id])],
                        "products": [
                            (
                                "create",
                                [
                                    {
                                        "suffix_code": item["sku"],
                                        "cost_price": Decimal(item["cost_price"]),
                                        "identifiers": [
                                            ("create", [{"type": "ean", "code": code} for code in item["barcodes"]])
                                        ],
                                    }
                                ],
                            )
                        ],
                    }
                ]
            )
            (product,) = template.products
            for wh_code, qty in item["stock"].items():
                moves.append(
                    {
                        "product": product.id,
                        "unit": unit.id,
                        "quantity": qty,
                        "from_location": supplier_location.id,
                        "to_location": storages[wh_code].id,
                        "unit_price": Decimal(item["cost_price"]),
                        "currency": mxn.id,
                        "effective_date": company_today,
                        "company": company.id,
                    }
                )
        Move.do(Move.create(moves))
        info = {
            "currency": "MXN",
            "company": "Distribuidora Norte",
            "supplier_code": supplier.code,
            "supplier_name": supplier.name,
            "warehouses": {"WH": warehouse.id, "SUR": sur.id},
            "products": {
                item["sku"]: {key: value for key, value in item.items() if key != "sku"} for item in _PRODUCTS
            },
        }
        transaction.commit()
        return info


if __name__ == "__main__":  # pragma: no cover - the seed subprocess
    if len(sys.argv) != 4 or sys.argv[1] != "seed":
        sys.exit("usage: tryton_server.py seed CONF DATABASE")
    print(json.dumps(_seed(sys.argv[2], sys.argv[3])))
