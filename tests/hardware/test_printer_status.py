"""Real-time status (DLE EOT 1..4): every state survives the round trip through the printer's answer bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.errors import DeviceProtocolError
from hardware.printer.status import READY, PaperLevel, PrinterStatus, is_status_byte, status_request

statuses = st.builds(
    PrinterStatus,
    online=st.booleans(),
    paper=st.sampled_from(PaperLevel),
    cover_open=st.booleans(),
    cutter_error=st.booleans(),
    unrecoverable_error=st.booleans(),
    recoverable_error=st.booleans(),
)


@given(statuses)
def test_status_survives_its_answer_bytes(status: PrinterStatus) -> None:
    answers = status.to_bytes()
    assert all(is_status_byte(b) for b in answers)
    assert PrinterStatus.from_bytes(answers) == status


def test_a_ready_printer_answers_the_documented_bytes() -> None:
    # Fixed bits 1 and 4 set (0x12), nothing else: online, paper, cover closed, no error.
    assert READY.to_bytes() == b"\x12\x12\x12\x12"
    assert READY.ready and READY.problem() == ""


def test_epson_paper_end_answer_decodes_as_paper_out() -> None:
    # A TM-T20 out of paper: offline (0x1A), stopped at paper end (0x32), roll sensor near-end + end (0x7E).
    status = PrinterStatus.from_bytes(b"\x1a\x32\x12\x7e")
    assert status.paper is PaperLevel.OUT and not status.online and not status.ready
    assert "load a new paper roll" in status.problem()


def test_paper_end_stop_bit_alone_means_paper_out() -> None:
    status = PrinterStatus.from_bytes(b"\x1a\x32\x12\x12")
    assert status.paper is PaperLevel.OUT


def test_bytes_that_are_not_status_answers_are_refused() -> None:
    with pytest.raises(DeviceProtocolError, match="0x41 to DLE EOT 2 is not a status byte"):
        PrinterStatus.from_bytes(b"\x12\x41\x12\x12", device="printer test")
    with pytest.raises(DeviceProtocolError, match="expected 4 status bytes"):
        PrinterStatus.from_bytes(b"\x12")


def test_status_requests_are_dle_eot_n() -> None:
    assert status_request(4) == b"\x10\x04\x04"
    with pytest.raises(ValueError, match="n must be one of"):
        status_request(5)
