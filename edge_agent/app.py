"""The running edge agent: one box's store, devices, relay, configuration sync, scanner and mPOS web UI.

:class:`EdgeAgent` wires the parts that the other modules build and test on their own:

* the **store** (``box.sqlite3`` in the data directory), given the embedded demo configuration on first
  start when the hub has sent none yet;
* the **devices** from the hardware configuration (``hardware.config``), each real or simulated;
* the **relay**, which publishes the outbox and settles it on the hub's acks, and the **config sync**, which
  receives the hub's snapshots on the relay's session;
* the **web UI** (``edge_agent.web``) served by uvicorn on the shop's LAN. Every service call of the UI runs
  on one service thread (:mod:`edge_agent.web.gate`); the scanner and the fingerprint erasures the hub asks
  for go through that same thread, so the box's SQLite connection and its serial devices are only ever
  touched by one thread at a time.

Threads: the relay's pump and its paho network thread, the config sync's applier (each with its own SQLite
connection), the service thread, uvicorn's event loop, and the scanner reader. :meth:`EdgeAgent.stop` stops
them in the reverse order and leaves the outbox on disk: it drains at the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeVar, cast

import uvicorn

from edge_agent import stock
from edge_agent.catalogue import BadScan, Catalogue, UnknownBarcode
from edge_agent.checkout import Checkout, SaleState
from edge_agent.config import AgentConfig
from edge_agent.context import ContextProvider, load_defaults
from edge_agent.customers import CustomerBook
from edge_agent.identify import Identifier, IdentifyError
from edge_agent.payments import SimulatedAcquirer
from edge_agent.relay import Relay, RelayConfig
from edge_agent.sealing import box_key_path, load_or_create_box_key, read_key_file
from edge_agent.stock import StockBook
from edge_agent.store import Store
from edge_agent.sync import ConfigSync
from edge_agent.web import WebAppSettings, WebServices, create_app
from edge_agent.web.auth import SessionRegistry
from hardware.camera import Camera
from hardware.config import DEVICES, DeviceFactory, DeviceName, HardwareConfig
from hardware.config import load_config as load_hardware_config
from hardware.display.base import Display
from hardware.errors import HardwareError
from hardware.fingerprint import FingerprintSensor
from hardware.indicators import Indicators
from hardware.printer import PAPER_58MM, Printer, PrinterProfile
from hardware.scanner import BarcodeScanner

log = logging.getLogger(__name__)
T = TypeVar("T")

READY_TIMEOUT_S: Final = 30.0
"""How long :meth:`EdgeAgent.start` waits for the web UI to listen before giving up."""
SCAN_POLL_S: Final = 0.5
SOFTWARE: Final = "mostrador-edge/0.1"


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Devices:
    """The box's devices as built from the hardware configuration; None where building one failed."""

    printer: Printer | None = None
    display: Display | None = None
    scanner: BarcodeScanner | None = None
    fingerprint: FingerprintSensor | None = None
    indicators: Indicators | None = None
    camera: Camera | None = None
    profile: PrinterProfile = PAPER_58MM
    """The receipt printer's paper and text profile (the 58 mm default when the configuration has none)."""
    problems: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, config: HardwareConfig) -> Devices:
        """Build every device; one that fails is reported and left out, so the box still sells without it."""
        factory = DeviceFactory(config)
        devices = cls()
        builders: dict[str, Callable[[], Any]] = {
            "printer": factory.printer,
            "display": factory.display,
            "scanner": factory.scanner,
            "fingerprint": factory.fingerprint,
            "indicators": factory.indicators,
            "camera": factory.camera,
        }
        try:
            devices.profile = factory.printer_profile()
        except HardwareError as exc:  # receipts still print, on the default 58 mm profile
            devices.problems["printer_profile"] = str(exc)
            log.error("printer profile unavailable, using the default 58 mm one: %s", exc)
        for name, build in builders.items():
            try:
                setattr(devices, name, build())
            except (HardwareError, OSError, ImportError) as exc:  # the till sells without it; reported instead
                devices.problems[name] = str(exc)
                log.error("%s unavailable: %s", name, exc)
        return devices

    def close(self) -> None:
        for device in (self.printer, self.display, self.scanner, self.fingerprint, self.indicators, self.camera):
            if device is not None:
                try:
                    device.close()
                except Exception:  # closing one device must not keep the others open
                    log.exception("closing %s failed", type(device).__name__)


class EdgeAgent:
    """One box, running: see the module docstring. ``start()``, then ``stop()``."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        simulate_all: bool = False,
        clock: Callable[[], datetime] = _utc_now,
        web_settings: WebAppSettings | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        simulate = DEVICES if simulate_all or "all" in config.hardware.simulate else config.hardware.simulate
        self.hardware = load_hardware_config(config.hardware.config, simulate=cast(Sequence[DeviceName], simulate))
        self.sessions = SessionRegistry(config.database)
        base = web_settings or WebAppSettings()
        self.web_settings = WebAppSettings(
            language=base.language,
            locales=base.locales,
            secure_cookies=base.secure_cookies,
            pin_hasher=base.pin_hasher,
            sessions=self.sessions,
        )
        self.devices = Devices()
        self.relay: Relay | None = None
        self.sync: ConfigSync | None = None
        self.app: Any = None
        self._server: uvicorn.Server | None = None
        self._server_thread: threading.Thread | None = None
        self._scanner_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._box_key: bytes | None = None
        self._tenant_key: bytes | None = None
        self.ready_s: float | None = None
        """Seconds from :meth:`start` to a listening web UI with the relay running."""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        started = time.monotonic()
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        with Store(cfg.database, tenant=cfg.tenant, device=cfg.device, clock=self.clock) as store:
            if load_defaults(store):
                log.info("no configuration from the hub yet: selling with the embedded demo configuration")
        self._box_key = load_or_create_box_key(box_key_path(cfg.database))
        self._tenant_key = read_key_file(cfg.tenant_key_file) if cfg.tenant_key_file else None
        self.devices = Devices.build(self.hardware)

        self.relay = Relay(cfg.database, self._relay_config())
        self.sync = ConfigSync(
            cfg.database,
            tenant=cfg.tenant,
            device=cfg.device,
            on_erased=self._forget_fingerprints,
            keep_template=self._keep_template if self._tenant_key else None,
            clock=self.clock,
        )
        self.sync.attach(self.relay)
        self.sync.start()
        self.relay.start()

        self.app = create_app(self._services, self.web_settings, close_services=self._close_services)
        self._serve()
        self._prepare_fingerprints()
        if self.devices.scanner is not None:
            self._scanner_thread = threading.Thread(target=self._read_scans, name="scanner", daemon=True)
            self._scanner_thread.start()
        self.ready_s = time.monotonic() - started
        log.info(
            "box %s/%s ready in %.2f s: mPOS on http://%s:%d/",
            cfg.tenant,
            cfg.device,
            self.ready_s,
            cfg.web.host,
            cfg.web.port,
        )

    def stop(self) -> None:
        """Stop everything; what the hub has not acknowledged stays in the outbox for the next start."""
        self._stopping.set()
        if self._scanner_thread is not None and self.devices.scanner is not None:
            self.devices.scanner.close()
            self._scanner_thread.join(5)
        if self._server is not None:
            self._server.should_exit = True
            if self._server_thread is not None:
                self._server_thread.join(15)
        if self.relay is not None:
            self.relay.stop(drain_s=2.0)
        if self.sync is not None:
            self.sync.stop()
        self.devices.close()

    def online(self) -> bool:
        """Whether the box is connected to the broker (wallet payments need it)."""
        return self.relay is not None and self.relay.stats.connected

    @property
    def port(self) -> int:
        """The web UI's port (the real one when the configuration asked for port 0)."""
        server = self._server
        if server is not None and server.servers:
            sockets = server.servers[0].sockets
            if sockets:
                return int(sockets[0].getsockname()[1])
        return self.config.web.port

    # ------------------------------------------------------------------ parts

    def _relay_config(self) -> RelayConfig:
        mq = self.config.mqtt
        return RelayConfig(
            host=mq.host,
            port=mq.port,
            tenant=self.config.tenant,
            device=self.config.device,
            username=mq.username,
            password=mq.password,
            keepalive_s=mq.keepalive_s,
            software=SOFTWARE,
            ca_file=str(mq.ca_file) if mq.ca_file else None,
            cert_file=str(mq.cert_file) if mq.cert_file else None,
            key_file=str(mq.key_file) if mq.key_file else None,
        )

    def _services(self) -> WebServices:
        """Built on the UI's service thread, which then owns the store's connection and the devices."""
        cfg = self.config
        store = Store(cfg.database, tenant=cfg.tenant, device=cfg.device, clock=self.clock)
        context = ContextProvider(store)
        catalogue = Catalogue(store, tax_categories=context.tax_categories)
        customers = CustomerBook(store, box_key=self._box_key, tenant_key=self._tenant_key, clock=self.clock)
        checkout = Checkout(
            store,
            context,
            stock,
            customers,
            SimulatedAcquirer(),
            self.devices.printer,
            self.devices.display,
            self.clock,
            online=self.online,
            catalogue=catalogue,
            profile=self.devices.profile,
        )
        services = WebServices(
            store=store,
            context=context,
            catalogue=catalogue,
            customers=customers,
            checkout=checkout,
            stock=StockBook(store),
        )
        if self.devices.fingerprint is not None:
            services.identifier = Identifier(store, self.devices.fingerprint, customers)
        services.camera = self.devices.camera
        return services

    def _close_services(self, services: WebServices) -> None:
        services.store.close()

    def call(self, fn: Callable[[WebServices], T]) -> T:
        """Run ``fn`` with the box's services on the service thread (after :meth:`start`); returns its result."""
        result: T = self.app.state.web.gate.call(fn)
        return result

    def _serve(self) -> None:
        web = self.config.web
        config = uvicorn.Config(self.app, host=web.host, port=web.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._server_thread = threading.Thread(target=self._server.run, name="web", daemon=True)
        self._server_thread.start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._server.started:
            if not self._server_thread.is_alive():
                raise RuntimeError(
                    f"the web UI could not listen on {web.host}:{web.port}; is another program using the port?"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the web UI did not start within {READY_TIMEOUT_S:.0f} s")
            time.sleep(0.02)

    # ------------------------------------------------------------------ fingerprints

    def _prepare_fingerprints(self) -> None:
        if self.devices.fingerprint is None:
            return

        def prepare(services: WebServices) -> None:
            identifier = services.identifier
            if identifier is None:
                return
            identifier.reconcile()
            loaded = identifier.load_regulars()
            log.info("fingerprint sensor ready: %d regulars loaded", loaded)

        try:
            self.call(prepare)
        except (IdentifyError, HardwareError, OSError) as exc:  # identification falls back to phone/sticker
            log.error("fingerprint sensor not ready: %s", exc)

    def _forget_fingerprints(self, erased: Any) -> None:
        """The hub erased customers: take their templates off the sensor, on the service thread."""

        def forget(services: WebServices) -> None:
            if services.identifier is not None:
                services.identifier.forget(erased)

        self.call(forget)

    def _keep_template(self, tx: Any, loyalty_id: str, sealed_text: str) -> None:
        # Runs on the config sync's thread inside its transaction: a book of its own, on that transaction.
        book = CustomerBook(tx.store, box_key=self._box_key, tenant_key=self._tenant_key, clock=self.clock)
        book.keep_hub_template(tx, loyalty_id, sealed_text)

    # ------------------------------------------------------------------ scanner

    def _read_scans(self) -> None:
        scanner = self.devices.scanner
        assert scanner is not None
        while not self._stopping.is_set():
            try:
                scan = scanner.read(SCAN_POLL_S)
            except (HardwareError, OSError) as exc:  # a scanner fault is logged; typed entry still works
                if self._stopping.is_set():
                    return
                log.error("scanner failed: %s", exc)
                self._stopping.wait(2.0)
                continue
            if scan is not None:
                self.scan(scan.code)

    def scan(self, code: str) -> str:
        """Add a scanned code to the sale of the most recently used web session; returns what happened."""

        def add(services: WebServices) -> str:
            session = self.sessions.most_recent()
            if session is None:
                return "no cashier is signed in"
            if session.sale is None or session.sale.state is not SaleState.OPEN:
                session.sale = services.checkout.open_for(session.key, session.cashier.cashier_id)
            try:
                session.sale.add_barcode(code)
            except (BadScan, UnknownBarcode) as exc:
                session.notes.append(("error", str(exc)))
                return str(exc)
            return "added"

        outcome = self.call(add)
        indicators = self.devices.indicators
        if indicators is not None:
            indicators.beep("ok" if outcome == "added" else "error")
        return outcome


def run_until_stopped(agent: EdgeAgent, stop: threading.Event) -> None:
    """Start ``agent``, wait for ``stop``, then stop it."""
    agent.start()
    try:
        stop.wait()
    finally:
        agent.stop()


__all__ = ["Devices", "EdgeAgent", "run_until_stopped"]
