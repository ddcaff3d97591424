"""The hardware self-test, end to end through ``python -m hardware selftest`` and in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hardware import config as config_module
from hardware.config import DEVICES, DeviceFactory, load_config
from hardware.selftest import SIMULATED_SCAN_CODE, CheckResult, Status, display_test_pattern, run_selftest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHECKED = ("printer", "display", "gpio", "scanner", "fingerprint", "camera")
SUBPROCESS_TIMEOUT_S = 60


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MOSTRADOR_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "hardware", "selftest", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )


def test_simulated_selftest_passes_every_available_device_and_reports_json() -> None:
    completed = run_cli("--simulate", "--json", "--scan-timeout-s", "5")
    report = json.loads(completed.stdout)
    results = {device["device"]: device for device in report["devices"]}
    assert list(results) == list(CHECKED)
    assert report["simulated"] == list(DEVICES)
    for device in ("gpio", "scanner", "camera", "fingerprint", "printer", "display"):
        assert results[device]["status"] in ("pass", "not_available"), results[device]
    for device in ("gpio", "scanner", "camera"):
        assert results[device]["status"] == "pass", results[device]
    assert SIMULATED_SCAN_CODE in results["scanner"]["reason"]
    assert "1280x720 JPEG" in results["camera"]["reason"]
    assert completed.returncode == (0 if report["passed"] else 1)
    assert report["passed"] == all(device["status"] == "pass" for device in report["devices"])


def test_text_report_has_one_line_per_device_and_a_verdict() -> None:
    completed = run_cli("--simulate", "--scan-timeout-s", "5")
    lines = completed.stdout.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == list(CHECKED)
    assert lines[-1].startswith("self-test: ")


def test_a_failing_device_gives_exit_status_1_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "hardware.toml"
    path.write_text("[scanner]\nport = '/dev/ttyNOPE'\n[camera]\nsimulate = false\n", encoding="utf-8")
    completed = run_cli(
        "--config",
        str(path),
        "--json",
        env={"MOSTRADOR_HARDWARE_SIMULATE": "printer,display,gpio,fingerprint", "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 1, completed.stderr
    results = {device["device"]: device for device in json.loads(completed.stdout)["devices"]}
    assert results["scanner"]["status"] == "fail"
    assert results["scanner"]["code"] == "device_not_found"
    assert "/dev/ttyNOPE" in results["scanner"]["reason"]
    # picamera2 exists only on Raspberry Pi OS: the real camera is reported as not available, with the fix.
    assert results["camera"]["status"] == "not_available"
    assert "apt install python3-picamera2" in results["camera"]["reason"]
    assert results["gpio"]["status"] == "pass"


def test_a_bad_configuration_gives_exit_status_2(tmp_path: Path) -> None:
    path = tmp_path / "hardware.toml"
    path.write_text("[scanner]\nbaud = 'fast'\n", encoding="utf-8")
    completed = run_cli("--config", str(path))
    assert completed.returncode == 2
    assert "[scanner] baud" in completed.stderr
    assert completed.stdout == ""


def test_scan_timeout_outside_its_bound_is_a_usage_error() -> None:
    completed = run_cli("--simulate", "--scan-timeout-s", "9999")
    assert completed.returncode == 2
    assert "must be within" in completed.stderr


def test_scanner_that_sees_no_scan_fails_after_the_timeout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    config = load_config(env={}, simulate=DEVICES)
    # A real serial scanner on the emulator's pty that nobody scans: the wait must end, bounded.
    from hardware.scanner import SerialScanner, SerialScannerEmulator

    emulator = SerialScannerEmulator()
    factory = DeviceFactory(config)
    monkeypatch.setattr(factory, "scanner", lambda: SerialScanner(emulator.port))
    prompts: list[str] = []
    seen: list[CheckResult] = []
    try:
        report = run_selftest(factory, scan_timeout_s=0.2, prompt=prompts.append, on_result=seen.append)
    finally:
        emulator.close()
    scanner = next(result for result in report.results if result.device == "scanner")
    assert scanner.status is Status.FAILED
    assert scanner.code == "timeout"
    assert "no scan within 0.2 s" in scanner.reason
    assert prompts == ["scan any barcode within 0.2 s..."]
    assert [result.device for result in seen] == list(CHECKED)
    assert not report.passed


def test_display_test_pattern_lights_border_and_diagonals() -> None:
    pattern = display_test_pattern((128, 64))
    assert pattern.mode == "1"
    for xy in [(0, 0), (127, 0), (0, 63), (127, 63), (64, 0), (0, 32), (127, 32), (32, 16)]:
        assert pattern.getpixel(xy), xy
    assert not pattern.getpixel((64, 8))
    ARTIFACTS.mkdir(exist_ok=True)
    pattern.resize((512, 256)).save(ARTIFACTS / "selftest_display_pattern.png")
