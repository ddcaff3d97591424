"""The real driver and the real adafruit library against the emulated module on a pseudo-terminal."""

from __future__ import annotations

import errno
import time
from collections.abc import Iterator

import pytest
import serial
from adafruit_fingerprint import Adafruit_Fingerprint
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.errors import (
    DeviceFault,
    DeviceNotFound,
    DevicePermissionDenied,
    DeviceProtocolError,
    DeviceTimeout,
    HardwareError,
)
from hardware.fingerprint import (
    R307,
    EnrolStep,
    FingerprintEmulator,
    FingerprintSensor,
    ImageQuality,
    LedColour,
    LedMode,
    R30xSensor,
    SimulatedFingerprintSensor,
    Template,
    protocol,
)
from hardware.fingerprint.emulator import SimulatedFinger, agreeing_features
from hardware.fingerprint.interface import MAX_TEMPLATE_SIZE_BYTES
from hardware.fingerprint.protocol import Instruction
from hardware.fingerprint.r30x import MAX_DATA_PACKETS, FixedAdafruitFingerprint, SerialLink, convert_open_error

REPLY_TIMEOUT_S = 0.3
FINGER_TIMEOUT_S = 1.0
ODD_TEMPLATE_SIZE_BYTES = 1000  # not a multiple of 32, 64, 128 or 256


@pytest.fixture
def emulator() -> Iterator[FingerprintEmulator]:
    with FingerprintEmulator() as emu:
        yield emu


@pytest.fixture
def sensor(emulator: FingerprintEmulator) -> Iterator[R30xSensor]:
    with R30xSensor(emulator.port, reply_timeout_s=REPLY_TIMEOUT_S) as s:
        yield s


def _enrol(emulator: FingerprintEmulator, sensor: R30xSensor, finger: str, slot: int | None = None) -> int:
    """Enrol like a customer who follows the prompts: lift when asked, place again when asked."""

    def follow(step: EnrolStep) -> None:
        if step is EnrolStep.LIFT_FINGER:
            emulator.lift()
        elif step is EnrolStep.PLACE_AGAIN:
            emulator.place(finger)

    emulator.place(finger)
    stored = sensor.enrol(slot, on_step=follow, finger_timeout_s=FINGER_TIMEOUT_S)
    emulator.lift()
    return stored


# -- interface, handshake, system parameters ---------------------------------------------------------------


def test_driver_implements_the_sensor_interface(sensor: R30xSensor) -> None:
    assert isinstance(sensor, FingerprintSensor)


def test_self_check_reports_the_system_parameters(sensor: R30xSensor) -> None:
    info = sensor.self_check()
    assert (info.capacity, info.security_level, info.packet_size_bytes, info.baudrate) == (200, 3, 128, 57600)


def test_capacity_comes_from_the_module() -> None:
    with FingerprintEmulator(R307) as emu, R30xSensor(emu.port, reply_timeout_s=REPLY_TIMEOUT_S) as s:
        assert s.capacity == 1000


def test_handshake_sends_instruction_0x40(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    sensor.handshake()
    assert emulator.commands[-1] == Instruction.HANDSHAKE


def test_password_protected_module_opens_with_its_password() -> None:
    with (
        FingerprintEmulator(password=0x12345678) as emu,
        R30xSensor(emu.port, password=0x12345678, reply_timeout_s=REPLY_TIMEOUT_S) as s,
    ):
        assert s.template_count() == 0


def test_wrong_password_is_reported_as_such() -> None:
    with FingerprintEmulator(password=0x12345678) as emu, pytest.raises(DeviceFault, match="password") as info:
        R30xSensor(emu.port, password=1, reply_timeout_s=REPLY_TIMEOUT_S)
    assert info.value.code == "wrong_password"


def test_module_at_another_address_is_reached_with_that_address() -> None:
    with FingerprintEmulator(address=0x12345678) as emu:
        with R30xSensor(emu.port, address=0x12345678, reply_timeout_s=REPLY_TIMEOUT_S) as s:
            assert s.self_check().address == 0x12345678
        with pytest.raises(DeviceTimeout):
            R30xSensor(emu.port, reply_timeout_s=REPLY_TIMEOUT_S)


# -- enrolment, 1:N, 1:1 ------------------------------------------------------------------------------------


def test_enrolment_reports_every_step_and_stores_the_model(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    steps: list[EnrolStep] = []

    def follow(step: EnrolStep) -> None:
        steps.append(step)
        if step is EnrolStep.LIFT_FINGER:
            emulator.lift()
        elif step is EnrolStep.PLACE_AGAIN:
            emulator.place("alice")

    emulator.place("alice")
    assert sensor.enrol(7, on_step=follow, finger_timeout_s=FINGER_TIMEOUT_S) == 7
    assert steps == list(EnrolStep)
    assert sensor.used_slots() == {7}
    assert emulator.commands.count(Instruction.IMG2TZ) == 2


def test_enrolment_without_a_slot_takes_the_first_free_one(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    sensor.import_template(0, Template(emulator.template_for("zoe")))
    assert _enrol(emulator, sensor, "alice") == 1


def test_enrolment_waits_for_the_finger_to_be_lifted(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    emulator.place("alice")
    with pytest.raises(DeviceTimeout, match="not lifted") as info:
        sensor.enrol(0, finger_timeout_s=0.2)
    assert info.value.code == "finger_not_lifted"


def test_enrolment_with_two_different_fingers_fails_to_merge(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    def swap(step: EnrolStep) -> None:
        if step is EnrolStep.LIFT_FINGER:
            emulator.lift()
        elif step is EnrolStep.PLACE_AGAIN:
            emulator.place("bob")

    emulator.place("alice")
    with pytest.raises(DeviceFault, match="merged") as info:
        sensor.enrol(0, on_step=swap, finger_timeout_s=FINGER_TIMEOUT_S)
    assert info.value.code == "enrol_mismatch"
    assert sensor.used_slots() == frozenset()


def test_identify_finds_the_enrolled_finger(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    _enrol(emulator, sensor, "alice", 3)
    _enrol(emulator, sensor, "bob", 4)
    emulator.place("bob")
    match = sensor.identify(finger_timeout_s=FINGER_TIMEOUT_S)
    assert match is not None and match.slot == 4 and match.confidence > 0


def test_identify_a_wrong_finger_finds_nothing(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    _enrol(emulator, sensor, "alice")
    emulator.place("mallory")
    assert sensor.identify(finger_timeout_s=FINGER_TIMEOUT_S) is None


def test_identify_without_a_finger_times_out_as_no_finger(sensor: R30xSensor) -> None:
    with pytest.raises(DeviceTimeout, match="no finger") as info:
        sensor.identify(finger_timeout_s=0.1)
    assert info.value.code == "no_finger"


def test_messy_image_is_a_bad_image_fault(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    emulator.place("alice", quality=ImageQuality.MESSY)
    with pytest.raises(DeviceFault, match="clean the finger") as info:
        sensor.identify(finger_timeout_s=FINGER_TIMEOUT_S)
    assert info.value.code == "bad_image"


def test_verify_with_a_template_exported_from_another_box() -> None:
    with FingerprintEmulator() as first, R30xSensor(first.port, reply_timeout_s=REPLY_TIMEOUT_S) as enrolling:
        _enrol(first, enrolling, "alice", 0)
        template = enrolling.export_template(0)
    with FingerprintEmulator(seed=1) as second, R30xSensor(second.port, reply_timeout_s=REPLY_TIMEOUT_S) as other:
        second.place("alice")
        confidence = other.verify(template, finger_timeout_s=FINGER_TIMEOUT_S)
        assert confidence is not None and confidence > 0
        second.place("bob")
        assert other.verify(template, finger_timeout_s=FINGER_TIMEOUT_S) is None
        assert other.used_slots() == frozenset()  # 1:1 leaves the library alone


@pytest.mark.parametrize("level", [1, 3, 5])
def test_same_finger_matches_and_another_does_not_at_every_security_level(level: int) -> None:
    with FingerprintEmulator(security_level=level) as emu, R30xSensor(emu.port, reply_timeout_s=REPLY_TIMEOUT_S) as s:
        _enrol(emu, s, "alice", 0)
        emu.place("alice")
        assert s.identify(finger_timeout_s=FINGER_TIMEOUT_S) is not None
        emu.place("alice's sister")
        assert s.identify(finger_timeout_s=FINGER_TIMEOUT_S) is None


def test_simulated_fingers_are_distinct_and_deterministic() -> None:
    names = [f"customer {i}" for i in range(200)]
    features = [SimulatedFinger(n).features for n in names]
    assert features[0] == SimulatedFinger("customer 0").features
    worst = max(agreeing_features(features[0], f) for f in features[1:])
    assert worst < 26  # below the loosest security threshold


# -- templates and the library --------------------------------------------------------------------------


def test_template_export_import_round_trip_is_byte_exact(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    _enrol(emulator, sensor, "alice", 0)
    exported = sensor.export_template(0)
    assert len(exported.data) == 1536
    sensor.import_template(42, exported)
    assert sensor.export_template(42) == exported
    assert emulator.library[42] == exported.data


def test_odd_size_template_round_trip_is_byte_exact() -> None:
    with (
        FingerprintEmulator(template_size_bytes=ODD_TEMPLATE_SIZE_BYTES) as emu,
        R30xSensor(emu.port, reply_timeout_s=REPLY_TIMEOUT_S) as s,
    ):
        original = Template(emu.template_for("alice"))
        s.import_template(1, original)
        assert s.export_template(1) == original
        emu.place("alice")
        match = s.identify(finger_timeout_s=FINGER_TIMEOUT_S)
        assert match is not None and match.slot == 1


def test_round_trip_with_32_byte_packets(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    sensor.library.set_sysparam(6, 0)
    assert emulator.packet_size_code == 0 and sensor.self_check().packet_size_bytes == 32
    original = Template(emulator.template_for("alice"))
    sensor.import_template(2, original)
    assert sensor.export_template(2) == original


def test_index_table_spans_pages() -> None:
    with FingerprintEmulator(R307) as emu, R30xSensor(emu.port, reply_timeout_s=REPLY_TIMEOUT_S) as s:
        template = Template(emu.template_for("alice"))
        for slot in (0, 255, 256, 999):
            s.import_template(slot, template)
        assert s.used_slots() == {0, 255, 256, 999}
        assert s.template_count() == 4


def test_delete_frees_one_slot(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    template = Template(emulator.template_for("alice"))
    sensor.import_template(1, template)
    sensor.import_template(2, template)
    sensor.delete(1)
    assert sensor.used_slots() == {2}


def test_empty_clears_the_library(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    sensor.import_template(1, Template(emulator.template_for("alice")))
    sensor.empty()
    assert sensor.used_slots() == frozenset() and sensor.template_count() == 0


def test_export_of_an_empty_slot_is_a_fault(sensor: R30xSensor) -> None:
    with pytest.raises(DeviceFault) as info:
        sensor.export_template(9)
    assert info.value.code == "empty_slot"


def test_full_library_refuses_enrolment_without_a_slot() -> None:
    with FingerprintEmulator(capacity=2) as emu, R30xSensor(emu.port, reply_timeout_s=REPLY_TIMEOUT_S) as s:
        template = Template(emu.template_for("zoe"))
        s.import_template(0, template)
        s.import_template(1, template)
        with pytest.raises(DeviceFault, match="full") as info:
            _enrol(emu, s, "alice")
        assert info.value.code == "library_full"


def test_slot_beyond_capacity_is_a_bad_location() -> None:
    with FingerprintEmulator(capacity=2) as emu, R30xSensor(emu.port, reply_timeout_s=REPLY_TIMEOUT_S) as s:
        with pytest.raises(DeviceFault) as info:
            s.import_template(2, Template(emu.template_for("zoe")))
        assert info.value.code == "bad_location"


def test_template_size_is_bounded() -> None:
    with pytest.raises(ValueError, match="4096"):
        Template(bytes(4097))
    with pytest.raises(ValueError):
        Template(b"")
    assert "\\x" not in repr(Template(b"\x01\x02"))


def test_led_is_set_as_the_r503_manual_orders_its_parameters(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    sensor.set_led(LedColour.BLUE, LedMode.BREATHING, speed=0x40, cycles=3)
    assert emulator.led == (LedMode.BREATHING, 0x40, LedColour.BLUE, 3)


# -- faults on the line -----------------------------------------------------------------------------------


def test_corrupted_reply_is_a_protocol_error(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    emulator.corrupt_replies(1)
    with pytest.raises(DeviceProtocolError, match="checksum"):
        sensor.template_count()
    assert sensor.template_count() == 0  # the next exchange is clean again


def test_corrupted_command_is_a_protocol_error(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    emulator.corrupt_commands(1)
    with pytest.raises(DeviceProtocolError, match="could not read our packet"):
        sensor.template_count()


def test_silent_module_times_out(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    emulator.silent = True
    with pytest.raises(DeviceTimeout, match="did not answer"):
        sensor.template_count()


def test_stray_bytes_before_a_command_are_discarded(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    stray = b"\x55\x00garbage"
    emulator.send_raw(stray)
    # The pty hands bytes over asynchronously: wait until they are really queued on the driver's side.
    port = sensor.library._uart._port
    deadline = time.monotonic() + 1.0
    while port.in_waiting < len(stray) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert port.in_waiting == len(stray)
    assert sensor.template_count() == 0


def test_missing_port_names_the_port() -> None:
    with pytest.raises(DeviceNotFound, match=r"/dev/ttyNOSUCH7.*UART") as info:
        R30xSensor("/dev/ttyNOSUCH7")
    assert isinstance(info.value, OSError)


def test_permission_denied_names_the_dialout_fix() -> None:
    exc = serial.SerialException(errno.EACCES, "could not open port /dev/ttyAMA0: [Errno 13] Permission denied")
    error = convert_open_error(exc, "/dev/ttyAMA0", "fingerprint sensor")
    assert isinstance(error, DevicePermissionDenied) and isinstance(error, PermissionError)
    assert "/dev/ttyAMA0" in str(error) and "sudo usermod -aG dialout $USER" in str(error)


# -- each fix to adafruit_fingerprint, shown against the stock library -----------------------------------


@pytest.fixture
def stock_port(emulator: FingerprintEmulator) -> Iterator[serial.Serial]:
    port = serial.Serial(emulator.port, 57600, timeout=REPLY_TIMEOUT_S)
    try:
        yield port
    finally:
        port.close()


def test_stock_library_loses_the_tail_of_an_odd_size_template() -> None:
    with FingerprintEmulator(template_size_bytes=ODD_TEMPLATE_SIZE_BYTES) as emu:
        with serial.Serial(emu.port, 57600, timeout=REPLY_TIMEOUT_S) as port:
            stock = Adafruit_Fingerprint(port)
            stock.send_fpdata(list(emu.template_for("alice")), "char", 1)
            # The module still waits for its end-of-data packet and takes the Store as broken data.
            with pytest.raises(RuntimeError, match="Failed to read"):
                stock.store_model(1, 1)
            assert emu.library == {}
        with serial.Serial(emu.port, 57600, timeout=REPLY_TIMEOUT_S) as port:
            fixed = FixedAdafruitFingerprint(SerialLink(port, "fingerprint sensor"))
            fixed.send_fpdata(list(emu.template_for("alice")), "char", 1)
            assert fixed.store_model(1, 1) == 0
            assert emu.library[1] == emu.template_for("alice")


def test_unknown_packet_size_code_is_a_protocol_error_not_an_unbound_local(
    emulator: FingerprintEmulator, stock_port: serial.Serial
) -> None:
    stock = Adafruit_Fingerprint(stock_port)
    stock.data_packet_size = 5
    with pytest.raises(UnboundLocalError):
        stock._send_data([1, 2, 3])
    fixed = FixedAdafruitFingerprint(SerialLink(stock_port, "fingerprint sensor"))
    fixed.data_packet_size = 5
    with pytest.raises(DeviceProtocolError, match="packet size code 5"):
        fixed._send_data([1, 2, 3])


def test_stock_library_accepts_a_bad_checksum_and_ours_does_not(
    emulator: FingerprintEmulator, stock_port: serial.Serial
) -> None:
    stock = Adafruit_Fingerprint(stock_port)
    emulator.corrupt_replies(1)
    assert stock.count_templates() == 0  # the corrupted answer went unnoticed
    fixed = FixedAdafruitFingerprint(SerialLink(stock_port, "fingerprint sensor"))
    emulator.corrupt_replies(1)
    with pytest.raises(DeviceProtocolError):
        fixed.count_templates()


def test_stock_library_accepts_a_corrupted_data_packet_and_ours_does_not(
    emulator: FingerprintEmulator, stock_port: serial.Serial
) -> None:
    emulator.library[0] = emulator.template_for("alice")
    stock = Adafruit_Fingerprint(stock_port)
    assert stock.load_model(0, 1) == 0
    emulator.corrupt_replies(1, skip=1)  # a clean ack, then a corrupted first data packet
    assert len(stock.get_fpdata("char", 1)) == 1536  # returned as if whole
    fixed = FixedAdafruitFingerprint(SerialLink(stock_port, "fingerprint sensor"))
    emulator.corrupt_replies(1, skip=1)
    with pytest.raises(DeviceProtocolError, match="checksum"):
        fixed.get_fpdata("char", 1)


def test_silent_module_is_a_timeout_not_a_runtime_error(
    emulator: FingerprintEmulator, stock_port: serial.Serial
) -> None:
    stock = Adafruit_Fingerprint(stock_port)
    fixed = FixedAdafruitFingerprint(SerialLink(stock_port, "fingerprint sensor"))
    emulator.silent = True
    with pytest.raises(RuntimeError) as stock_error:
        stock.get_image()
    assert not isinstance(stock_error.value, TimeoutError)
    with pytest.raises(DeviceTimeout, match="did not answer"):
        fixed.get_image()


def test_refused_upload_is_a_fault_not_an_unbound_local(
    emulator: FingerprintEmulator, stock_port: serial.Serial
) -> None:
    stock = Adafruit_Fingerprint(stock_port)
    with pytest.raises(UnboundLocalError):
        stock.get_fpdata("char", 1)  # buffer 1 is empty: the module refuses
    fixed = FixedAdafruitFingerprint(SerialLink(stock_port, "fingerprint sensor"))
    with pytest.raises(DeviceFault, match="upload"):
        fixed.get_fpdata("char", 1)


def test_refused_download_is_an_error_not_true(emulator: FingerprintEmulator, stock_port: serial.Serial) -> None:
    stock = Adafruit_Fingerprint(stock_port)
    emulator.corrupt_commands(1)
    assert stock.send_fpdata([1, 2, 3], "char", 1) is True
    fixed = FixedAdafruitFingerprint(SerialLink(stock_port, "fingerprint sensor"))
    emulator.corrupt_commands(1)
    with pytest.raises(DeviceProtocolError):
        fixed.send_fpdata([1, 2, 3], "char", 1)


def test_compare_confidence_is_an_integer_not_a_tuple(emulator: FingerprintEmulator, stock_port: serial.Serial) -> None:
    emulator.library[0] = emulator.template_for("alice")
    stock = Adafruit_Fingerprint(stock_port)
    assert stock.load_model(0, 1) == 0 and stock.load_model(0, 2) == 0
    assert stock.compare_templates() == 0
    assert stock.confidence == (320,)
    fixed = FixedAdafruitFingerprint(SerialLink(stock_port, "fingerprint sensor"))
    assert fixed.compare_templates() == 0
    assert fixed.confidence == 320


def test_refused_system_parameters_are_a_hardware_error(
    emulator: FingerprintEmulator, stock_port: serial.Serial
) -> None:
    stock = Adafruit_Fingerprint(stock_port)
    emulator.corrupt_commands(1)
    with pytest.raises(RuntimeError) as stock_error:
        stock.read_sysparam()
    assert not isinstance(stock_error.value, HardwareError)
    fixed = FixedAdafruitFingerprint(SerialLink(stock_port, "fingerprint sensor"))
    emulator.corrupt_commands(1)
    with pytest.raises(DeviceProtocolError, match="system parameters"):
        fixed.read_sysparam()


def test_stock_library_reports_a_wrong_password_as_wiring(stock_port: serial.Serial) -> None:
    with FingerprintEmulator(password=7) as emu, serial.Serial(emu.port, 57600, timeout=REPLY_TIMEOUT_S) as port:
        with pytest.raises(RuntimeError, match="check wiring"):
            Adafruit_Fingerprint(port)
        with pytest.raises(DeviceFault, match="refused the password"):
            FixedAdafruitFingerprint(SerialLink(port, "fingerprint sensor"))


def test_short_refusal_reaches_its_confirmation_code(emulator: FingerprintEmulator, stock_port: serial.Serial) -> None:
    stock = Adafruit_Fingerprint(stock_port)
    emulator.corrupt_commands(1)  # answered with a bare 0x01, shorter than a template count
    with pytest.raises(RuntimeError):  # struct.error from reading past the short answer (or a timeout)
        stock.count_templates()
    fixed = FixedAdafruitFingerprint(SerialLink(stock_port, "fingerprint sensor"))
    emulator.corrupt_commands(1)
    assert fixed.count_templates() == 0x01


def test_simulated_backend_enrols_and_identifies_then_closes_its_emulator() -> None:
    with SimulatedFingerprintSensor(R307, reply_timeout_s=REPLY_TIMEOUT_S) as simulated:
        assert isinstance(simulated, FingerprintSensor)
        assert simulated.capacity == 1000
        _enrol(simulated.emulator, simulated, "alice", 12)
        simulated.emulator.place("alice")
        match = simulated.identify(finger_timeout_s=FINGER_TIMEOUT_S)
        assert match is not None and match.slot == 12
        assert simulated.emulator.running
    assert not simulated.emulator.running


@settings(max_examples=25, deadline=None)
@given(data=st.binary(min_size=1, max_size=MAX_TEMPLATE_SIZE_BYTES), packet_size_code=st.integers(0, 3))
def test_any_template_survives_import_and_export_at_any_packet_size(data: bytes, packet_size_code: int) -> None:
    with (
        FingerprintEmulator(packet_size_code=packet_size_code) as emu,
        R30xSensor(emu.port, reply_timeout_s=REPLY_TIMEOUT_S) as s,
    ):
        s.import_template(3, Template(data))
        assert emu.library[3] == data
        assert s.export_template(3).data == data


def test_upload_without_an_end_packet_is_bounded(emulator: FingerprintEmulator, sensor: R30xSensor) -> None:
    endless = protocol.Packet(protocol.PacketType.DATA, b"").encode() * (MAX_DATA_PACKETS + 1)
    emulator.silent = True  # keep the emulator from answering the command itself
    sensor.library._send_packet([Instruction.TEMPLATE_NUM])
    emulator.send_raw(endless)
    with pytest.raises(DeviceProtocolError, match="without an end-of-data packet"):
        sensor.library._get_data(9)
