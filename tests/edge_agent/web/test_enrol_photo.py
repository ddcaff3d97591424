"""The customer's photo at enrolment, from the counter camera (simulated here): taken only when asked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edge_agent.web import WebAppSettings, WebServices, create_app
from hardware.camera import SimulatedCamera
from hardware.errors import DeviceFault
from tests.edge_agent.web.conftest import CHEAP_HASHER, Box, build_services, csrf_of, sign_in


class BrokenCamera(SimulatedCamera):
    """A camera whose capture fails, as a disconnected ribbon cable does."""

    def capture_jpeg(self) -> bytes:
        raise DeviceFault("camera: no frames from the sensor", device="camera")


def photo_box(tmp_path: Path, camera: SimulatedCamera | None) -> Box:
    db_path = tmp_path / "photo-box.sqlite3"

    def services() -> WebServices:
        built = build_services(db_path)
        built.camera = camera
        return built

    return Box(create_app(services, WebAppSettings(pin_hasher=CHEAP_HASHER)), db_path)


@pytest.fixture
def box(tmp_path: Path) -> Box:
    return photo_box(tmp_path, SimulatedCamera())


@pytest.fixture
def client(box: Box) -> Iterator[TestClient]:
    with TestClient(box.app, follow_redirects=False) as test_client:
        yield test_client


def enrol(client: TestClient, csrf: str, phone: str, **extra: str) -> int:
    page = client.get("/customers/new")
    assert page.status_code == 200
    data = {"csrf": csrf, "name": "Rosa Flores", "phone": phone, **extra}
    status: int = client.post("/customers/new", data=data).status_code
    return status


def test_the_photo_is_offered_only_on_a_box_with_a_camera(tmp_path: Path, client: TestClient) -> None:
    sign_in(client, lang="en")
    assert 'name="face_photo"' in client.get("/customers/new").text
    box = photo_box(tmp_path / "none", None)
    (tmp_path / "none").mkdir()
    with TestClient(box.app, follow_redirects=False) as other:
        sign_in(other, lang="en")
        assert 'name="face_photo"' not in other.get("/customers/new").text


def test_a_ticked_photo_is_taken_and_kept_sealed_and_an_unticked_one_is_not(client: TestClient, box: Box) -> None:
    csrf = sign_in(client, lang="en")
    assert enrol(client, csrf, "+525512345678", face_photo="on") == 303
    assert enrol(client, csrf, "+525512345679") == 303
    rows: dict[object, object] = dict(
        box.query(
            "SELECT c.phone_e164, coalesce(b.face_sealed IS NOT NULL, 0) FROM customer c "
            "LEFT JOIN biometric b ON b.loyalty_id = c.loyalty_id"
        )  # type: ignore[arg-type]
    )
    assert rows == {"+525512345678": 1, "+525512345679": 0}
    sealed = box.query("SELECT face_sealed FROM biometric WHERE face_sealed IS NOT NULL")[0][0]
    assert isinstance(sealed, bytes) and not sealed.startswith(b"\xff\xd8")  # sealed at rest, not a bare JPEG


def test_a_camera_fault_re_shows_the_form_and_writes_nothing(tmp_path: Path) -> None:
    box = photo_box(tmp_path, BrokenCamera())
    with TestClient(box.app, follow_redirects=False) as client:
        csrf = sign_in(client, lang="en")
        page = client.get("/customers/new")
        response = client.post(
            "/customers/new",
            data={"csrf": csrf_of(page.text) or csrf, "name": "Rosa", "phone": "+525512345670", "face_photo": "on"},
        )
        assert response.status_code == 422
        assert "The photo was not taken: the camera is not working" in response.text
        assert box.query("SELECT count(*) FROM customer")[0][0] == 0
        assert box.query("SELECT count(*) FROM outbox")[0][0] == 0
