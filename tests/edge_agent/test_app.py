"""The running edge agent with every device simulated: it starts, serves the mPOS, talks to a real broker,
routes the counter scanner into the signed-in cashier's sale, and stops cleanly."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devkit.services import MosquittoServer
from edge_agent.app import READY_TIMEOUT_S, EdgeAgent
from edge_agent.config import AgentConfig, HardwareSettings, MqttSettings, WebSettings
from edge_agent.store import Store
from edge_agent.web.auth import create_cashier

COLA_BARCODE = "7501234000017"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def wait_for(condition: object, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def agent(tmp_path: Path, broker: MosquittoServer) -> Iterator[EdgeAgent]:
    config = AgentConfig(
        tenant="acme",
        device="box-3",
        data_dir=tmp_path / "data",
        mqtt=MqttSettings(
            host="127.0.0.1", port=broker.box_port, password=broker.box_credentials("acme", "box-3").password
        ),
        web=WebSettings(host="127.0.0.1", port=0),
        hardware=HardwareSettings(simulate=("all",)),
    )
    config.data_dir.mkdir(parents=True)
    with Store(config.database, tenant="acme", device="box-3") as store:
        create_cashier(store, "ana", "Ana", "2468", "cashier")
    box = EdgeAgent(config)
    box.start()
    try:
        yield box
    finally:
        box.stop()


def sign_in(client: httpx.Client) -> None:
    page = client.get("/login")
    csrf = CSRF_RE.search(page.text)
    assert csrf is not None
    response = client.post("/login", data={"csrf": csrf.group(1), "cashier_id": "ana", "pin": "2468"})
    assert response.status_code == 303, response.text


def test_the_agent_starts_with_the_demo_shop_and_serves_the_mpos(agent: EdgeAgent) -> None:
    assert agent.ready_s is not None and agent.ready_s < READY_TIMEOUT_S
    with httpx.Client(base_url=f"http://127.0.0.1:{agent.port}", follow_redirects=False) as client:
        assert client.get("/sale").status_code in (303, 307)  # signed out: sent to the login page
        assert client.get("/login").status_code == 200
    assert wait_for(agent.online), "the box never connected to the broker"
    assert not agent.devices.problems
    assert agent.devices.fingerprint is not None
    assert agent.call(lambda s: s.identifier is not None), "the pages get the box's fingerprint sensor"


def test_a_counter_scan_lands_in_the_signed_in_cashiers_sale(agent: EdgeAgent) -> None:
    assert agent.scan(COLA_BARCODE) == "no cashier is signed in"
    with httpx.Client(base_url=f"http://127.0.0.1:{agent.port}", follow_redirects=False) as client:
        sign_in(client)
        assert agent.scan(COLA_BARCODE) == "added"
        assert agent.scan("7501234000018") != "added"  # a bad check digit is refused, not added
        page = client.get("/sale")
    assert page.status_code == 200
    assert "Refresco de cola 600 ml" in page.text


def test_stopping_leaves_no_agent_thread_behind(tmp_path: Path, broker: MosquittoServer) -> None:
    before = {t.name for t in threading.enumerate()}
    config = AgentConfig(
        tenant="acme",
        device="box-4",
        data_dir=tmp_path / "data",
        mqtt=MqttSettings(
            host="127.0.0.1", port=broker.box_port, password=broker.box_credentials("acme", "box-4").password
        ),
        web=WebSettings(host="127.0.0.1", port=0),
        hardware=HardwareSettings(simulate=("all",)),
    )
    box = EdgeAgent(config)
    box.start()
    box.stop()
    assert wait_for(lambda: {"web", "scanner"}.isdisjoint({t.name for t in threading.enumerate()} - before))
