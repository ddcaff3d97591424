"""``python -m core.pricing``: a receipt for a good request, exit status 2 and a JSON error for a bad one."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.pricing.__main__ import main
from tests.core.test_pricing import CAFE, STORE

REPO = Path(__file__).resolve().parents[2]


def request(**more: Any) -> dict[str, Any]:
    return {
        "basket": {"currency": "MXN", "store": STORE, "lines": [CAFE]},
        "promotions": [
            {
                "id": "cafe-10",
                "name": "10% en café",
                "scope": {"kind": "item", "ids": ["cafe"]},
                "effect": {"type": "percent_off", "percent": "10%"},
                "funding": {"distributor_bp": 10_000, "retailer_bp": 0},
            }
        ],
        "jurisdiction": "mx-general",
        "now": "2026-03-14T18:30:00Z",
        **more,
    }


def run_main(
    argv: list[str], stdin: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_request_on_stdin_prints_the_receipt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run_main([], json.dumps(request()), monkeypatch, capsys)
    assert (status, err) == (0, "")
    receipt = json.loads(out)
    assert receipt["totals"]["discount_minor"] == 1000
    assert receipt["promotions"][0]["status"] == "applied"


def test_a_request_file_is_read_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request()), encoding="utf-8")
    status, out, _ = run_main([str(path)], "", monkeypatch, capsys)
    assert status == 0
    assert json.loads(out)["totals"]["total_minor"] == 9000


@pytest.mark.parametrize(
    ("stdin", "code", "field"),
    [
        ("{", "invalid_input", ""),
        (json.dumps(request(jurisdiction="atlantida")), "unknown_jurisdiction", "jurisdiction"),
        (json.dumps(request(now="yesterday")), "invalid_input", "now"),
        (
            json.dumps(
                request(basket={"currency": "MXN", "store": STORE, "lines": [{**CAFE, "unit_price_minor": 25.0}]})
            ),
            "invalid_input",
            "basket.lines.0.unit_price_minor",
        ),
    ],
)
def test_bad_input_exits_2_with_a_json_error(
    stdin: str, code: str, field: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run_main([], stdin, monkeypatch, capsys)
    assert status == 2
    error = json.loads(out)["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]
    assert err.startswith("error: ")
    assert err.count("\n") == 1


def test_a_missing_file_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run_main([str(tmp_path / "missing.json")], "", monkeypatch, capsys)
    assert status == 2
    assert json.loads(out)["error"]["code"] == "unreadable_input"


def test_schema_prints_request_and_response_schemas(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run_main(["--schema"], "", monkeypatch, capsys)
    assert status == 0
    schemas = json.loads(out)
    assert schemas["request"]["title"] == "PricingRequest"
    assert schemas["response"]["title"] == "PricedReceipt"
    assert "basket" in schemas["request"]["required"]


def test_the_module_runs_as_a_program_and_exits_2_on_bad_input() -> None:
    good = subprocess.run(
        [sys.executable, "-m", "core.pricing"],
        input=json.dumps(request()),
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["currency"] == "MXN"
    bad = subprocess.run(
        [sys.executable, "-m", "core.pricing"], input="[]", capture_output=True, text=True, cwd=REPO, check=False
    )
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["error"]["code"] == "invalid_input"
