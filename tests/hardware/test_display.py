"""The counter display: screens rendered pixel for pixel, the real luma drivers over an emulated controller.

Golden PNGs live in tests/hardware/golden/display/; a normal run compares pixel for pixel, and
``MOSTRADOR_UPDATE_GOLDEN=1`` regenerates them. Every rendered screen is also written, scaled up, to
test-artifacts/display/ for a person to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from hardware.display import (
    Controller,
    ControllerEmulator,
    Icon,
    OledDisplay,
    Screen,
    SimulatedDisplay,
    open_display,
    render_screen,
)
from hardware.display.screen import ELLIPSIS, SMALL_SIZE_PX, _font, large_size_px, truncate
from hardware.errors import ConfigError, DeviceNotFound, DriverUnavailable

GOLDEN = Path(__file__).parent / "golden" / "display"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "display"
UPDATE = os.environ.get("MOSTRADOR_UPDATE_GOLDEN") == "1"

# luma's sh1106 driver reads pixels with Image.getdata, which Pillow 12+ deprecates.
LUMA_GETDATA = pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated:DeprecationWarning")

SCREENS = {
    "total": Screen("Total $1,234.50", ("3 artículos", "Efectivo $1,300.00", "Cambio $65.50")),
    "points": Screen("Puntos +120", ("Saldo 1,530", "Nivel Oro"), icon=Icon.CHECK),
    "chinese_greeting": Screen("欢迎光临", ("会员 王小明", "积分余额 1,530")),
    "long_name": Screen("Bienvenida, María Fernanda de los Ángeles", ("Cliente: Juan Sebastián Rodríguez Echeverría",)),
    "loyalty_qr": Screen("Socio", ("Escanee", "el código"), qr="ML-0001234-7"),
    "error": Screen("Sin papel", ("Cargue un rollo",), icon=Icon.WARNING),
}


def _save_artifact(name: str, image: Image.Image) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image.resize((image.width * 4, image.height * 4), Image.Resampling.NEAREST).save(ARTIFACTS / f"{name}.png")


@pytest.mark.parametrize("name", sorted(SCREENS))
def test_screen_renders_pixel_for_pixel_as_the_golden_image(name: str) -> None:
    image = render_screen(SCREENS[name])
    _save_artifact(name, image)
    path = GOLDEN / f"{name}.png"
    if UPDATE:
        image.save(path)
    assert path.exists(), f"{path} missing: run with MOSTRADOR_UPDATE_GOLDEN=1 to create it"
    with Image.open(path) as golden:
        assert golden.size == image.size
        diff = ImageChops.logical_xor(golden.convert("1"), image)
        assert diff.getbbox() is None, f"{name}: pixels differ inside {diff.getbbox()}"


def test_screens_use_the_panel_and_show_something() -> None:
    for screen in SCREENS.values():
        image = render_screen(screen)
        assert image.mode == "1" and image.size == (128, 64)
        assert image.getbbox() is not None


def test_long_text_is_cut_with_an_ellipsis_that_fits() -> None:
    font = _font(SMALL_SIZE_PX)
    cut = truncate("Cliente: Juan Sebastián Rodríguez Echeverría", font, 128)
    assert cut.endswith(ELLIPSIS) and cut.startswith("Cliente: Juan")
    assert font.getlength(cut) <= 128
    assert truncate("Corto", font, 128) == "Corto"


def test_large_line_shrinks_before_it_is_cut() -> None:
    assert large_size_px("Puntos +120", 128) == 20
    assert large_size_px("$1,234.50", 128) == 24
    assert large_size_px("Total $1,234.50", 128) == 16
    assert _font(16).getlength("Total $1,234.50") <= 128 < _font(20).getlength("Total $1,234.50")
    # Too long even at the smallest size: drawn at 16 px and cut with an ellipsis.
    assert large_size_px("Total $12,345,678.90 ARS", 128) == 16


def test_screen_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="at most 3 short lines"):
        Screen("x", ("a", "b", "c", "d"))
    with pytest.raises(ValueError, match="QR content"):
        Screen("x", qr="x" * 41)


@LUMA_GETDATA
@pytest.mark.parametrize("controller", list(Controller))
def test_real_luma_driver_puts_the_rendered_screen_on_the_glass(controller: Controller) -> None:
    emulator = ControllerEmulator(controller)
    display = OledDisplay(controller, serial_interface=emulator)
    try:
        assert emulator.display_on
        shown = display.show(SCREENS["points"])
        assert ImageChops.logical_xor(emulator.image(), shown).getbbox() is None
        display.set_contrast(0x20)
        assert emulator.contrast == 0x20
        display.clear()
        assert emulator.image().getbbox() is None
    finally:
        display.close()
    assert emulator.cleaned_up and not emulator.display_on


def test_emulator_shows_a_shifted_picture_for_a_wrong_sh1106_column_offset() -> None:
    emulator = ControllerEmulator(Controller.SH1106)
    emulator.command(0xAF, 0xB0, 0x00, 0x10)  # display on, page 0, column 0: two columns left of the glass
    emulator.data([0xFF, 0xFF, 0x01])
    image = emulator.image()
    assert image.getpixel((0, 0)) == 1 and image.getpixel((0, 1)) == 0
    assert image.getbbox() == (0, 0, 1, 1)


def test_simulated_display_keeps_frames_and_contrast() -> None:
    with SimulatedDisplay() as display:
        shown = display.show(SCREENS["total"])
        assert ImageChops.logical_xor(display.frame, shown).getbbox() is None
        display.set_contrast(10)
        assert display.contrast_level == 10
        display.clear()
        assert display.frame.getbbox() is None
        assert len(display.frames) == 2
        with pytest.raises(ValueError, match="contrast must be 0 to 255"):
            display.set_contrast(256)
        with pytest.raises(ValueError, match="mode '1'"):
            display.show_image(Image.new("1", (64, 32)))


def test_missing_i2c_bus_says_enable_i2c() -> None:
    with pytest.raises(DeviceNotFound, match="raspi-config nonint do_i2c 0") as info:
        OledDisplay(i2c_bus=29)
    assert "i2c bus 29 at 0x3c" in str(info.value)


def test_spi_without_gpio_library_says_what_to_install() -> None:
    with pytest.raises(DriverUnavailable, match="sudo apt install python3-"):
        OledDisplay(Controller.SH1106, interface="spi")


def test_open_display_defaults_to_the_simulator_and_rejects_bad_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOSTRADOR_DISPLAY", raising=False)
    with open_display() as display:
        assert isinstance(display, SimulatedDisplay)
    with pytest.raises(ConfigError, match=r"display\.controller"):
        open_display("oled", controller="ssd9999")
    with pytest.raises(ConfigError, match=r"display\.backend"):
        open_display("lcd")
