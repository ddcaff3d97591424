"""The real agent process stopped mid-sale, politely (SIGTERM) or not (SIGKILL): the cashier stays signed in
and the open sale (lines, customer, tender in progress) is there again; completing it makes exactly one sale.

The agent runs as ``python -m edge_agent`` with every device simulated and no hub reachable (it sells
offline), on a database in the test's directory.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import httpx
import pytest

from devkit.services import free_port
from edge_agent.store import Store
from edge_agent.web.auth import create_cashier
from tests.edge_agent.web.conftest import CHEAP_HASHER

ROOT: Final = Path(__file__).resolve().parents[2]
START_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 30.0
CSRF_RE: Final = re.compile(r'name="csrf" value="([^"]+)"')
BASKET: Final = {
    "7501234000017": "Refresco de cola 600 ml",
    "7501234000031": "Refresco de naranja 600 ml",
    "7501234000055": "Agua purificada 1 L",
}
"""Three items of the embedded demo catalogue: 18.00 + 17.00 + 12.00 MXN."""


class Agent:
    """``python -m edge_agent`` on a configuration of its own; started, stopped and killed by the test."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.config = directory / "agent.toml"
        self.database = directory / "data" / "box.sqlite3"
        self.config.write_text(
            "[box]\n"
            'tenant = "acme"\n'
            'device = "box-5"\n'
            f'data_dir = "{directory / "data"}"\n'
            "[mqtt]\n"
            'host = "127.0.0.1"\n'
            f"port = {free_port()}\n"  # nobody listens there: the box is offline
            "[web]\n"
            'host = "127.0.0.1"\n'
            f"port = {self.port}\n"
            "[hardware]\n"
            'simulate = ["all"]\n',
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.runs += 1
        log = (self.directory / f"agent-{self.runs}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "--config", str(self.config), "--log-level", "WARNING"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the agent exited with {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.url}/login", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the agent did not serve the mPOS within {START_TIMEOUT_S} s: {self.output()}")

    def stop(self, how: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(how)
        self.process.wait(STOP_TIMEOUT_S)
        if how is signal.SIGTERM:
            assert self.process.returncode == 0, self.output()
        self.process = None

    def output(self) -> str:
        return (self.directory / f"agent-{self.runs}.log").read_text(errors="replace")[-4000:]

    def sales(self) -> list[tuple[object, ...]]:
        conn = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        try:
            return list(conn.execute("SELECT sale_id, total_minor, customer FROM sale").fetchall())
        finally:
            conn.close()


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    box = Agent(tmp_path)
    box.database.parent.mkdir(parents=True)
    with Store(box.database, tenant="acme", device="box-5") as store:
        create_cashier(store, "ana", "Ana López", "2468", "cashier", hasher=CHEAP_HASHER)
    try:
        yield box
    finally:
        if box.process is not None:
            box.process.kill()
            box.process.wait(STOP_TIMEOUT_S)


def _csrf(client: httpx.Client, path: str = "/sale") -> str:
    found = CSRF_RE.search(client.get(path).text)
    assert found is not None, f"{path} has no form"
    return found.group(1)


def _sale_page(client: httpx.Client) -> str:
    page = client.get("/sale")
    assert page.status_code == 200, f"signed out after the restart (HTTP {page.status_code})"
    return page.text


def _assert_the_sale_is_as_left(page: str, loyalty_id: str) -> None:
    for name in BASKET.values():
        assert name in page, f"{name} is no longer in the basket"
    assert 'id="sale-customer"' in page and loyalty_id in page
    assert re.search(r'id="tenders".*?10\.00', page, re.S), "the cash tender in progress is gone"
    assert re.search(r'id="due">[^<]*37\.00', page), "the basket's total changed"


def test_an_open_sale_and_its_cashier_survive_sigterm_and_sigkill_and_complete_once(agent: Agent) -> None:
    agent.start()
    with httpx.Client(base_url=agent.url, follow_redirects=False, timeout=10.0) as client:
        login = _csrf(client, "/login")
        signed = client.post("/login", data={"csrf": login, "cashier_id": "ana", "pin": "2468"})
        assert signed.status_code == 303, signed.text
        csrf = _csrf(client)
        enrolled = client.post(
            "/customers/new",
            data={"csrf": csrf, "name": "Rosa Díaz", "phone": "55 1234 5678", "signature": "M1 1 L5 5"},
        )
        assert enrolled.status_code == 303, enrolled.text
        loyalty_id = str(enrolled.headers["location"]).rsplit("/", 1)[1]
        for barcode in BASKET:
            assert client.post("/sale/scan", data={"csrf": csrf, "code": barcode}).status_code == 303
        assert client.post("/sale/customer", data={"csrf": csrf, "customer": loyalty_id}).status_code == 303
        tender = client.post("/sale/tender", data={"csrf": csrf, "kind": "cash", "amount": "10"})
        assert tender.status_code == 303, tender.text
        _assert_the_sale_is_as_left(_sale_page(client), loyalty_id)

        for how in (signal.SIGTERM, signal.SIGKILL):
            agent.stop(how)
            agent.start()
            page = _sale_page(client)
            _assert_the_sale_is_as_left(page, loyalty_id)
            assert CSRF_RE.search(page) and CSRF_RE.search(page).group(1) == csrf  # type: ignore[union-attr]
        assert agent.sales() == []

        assert client.post("/sale/tender", data={"csrf": csrf, "kind": "cash", "amount": "50"}).status_code == 303
        done = client.post("/sale/complete", data={"csrf": csrf})
        assert done.status_code == 303, done.text
        assert agent.sales() == [(str(done.headers["location"]).rsplit("/", 1)[1], 4700, loyalty_id)]

        agent.stop(signal.SIGKILL)
        agent.start()
        page = _sale_page(client)
        assert 'id="empty-sale"' in page, "a completed sale came back after the restart"
        assert client.post("/sale/complete", data={"csrf": csrf}).status_code == 422  # nothing left to complete
    assert len(agent.sales()) == 1
