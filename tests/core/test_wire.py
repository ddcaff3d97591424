"""The wire contract: topics, envelopes, schemas and what decoding refuses."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import wire
from core.errors import InvalidInput

NOW = datetime(2026, 11, 23, 12, 0, 0, 123000, tzinfo=UTC)
EID = wire.uuid7(1_795_000_000_000, bytes(range(10)))


def sale(**overrides: object) -> wire.SaleData:
    doc: dict[str, object] = {
        "sale_id": "s-1",
        "store": "store-1",
        "currency": "MXN",
        "lines": [{"sku": "750100", "qty": 2, "unit_price_minor": 1850, "amount_minor": 3700}],
        "total_minor": 3700,
    }
    doc.update(overrides)
    return wire.SaleData.model_validate(doc)


def payload(data: wire.MessageData | None = None, **envelope: object) -> bytes:
    raw = json.loads(wire.encode(id=EID, seq=7, ts=NOW, device="box-1", data=data or sale()))
    raw.update(envelope)
    return json.dumps(raw).encode()


TOPIC = "mo/v1/acme/box-1/evt/sale"


def test_topic_round_trips_and_knows_its_qos_and_retain() -> None:
    topic = wire.event_topic("acme", "box-1", "sale")
    assert str(topic) == TOPIC
    assert wire.Topic.parse(TOPIC) == topic
    assert (topic.qos, topic.retain) == (1, False)
    status = wire.status_topic("acme", "box-1")
    assert (str(status), status.qos, status.retain) == ("mo/v1/acme/box-1/status", 1, True)
    res = wire.cmd_topic("acme", "box-1", "reboot", response=True)
    assert wire.Topic.parse(str(res)) == res and str(res).endswith("/cmd/reboot/res")


@pytest.mark.parametrize(
    "text",
    [
        "mo/v2/acme/box-1/evt/sale",
        "xx/v1/acme/box-1/evt/sale",
        "mo/v1/ACME/box-1/status",
        "mo/v1/acme/box-1/evt",
        "mo/v1/acme/box-1/nope",
        "mo/v1/acme/box-1/evt/sale/extra",
        "mo/v1/acme/box+1/status",
    ],
)
def test_malformed_topics_are_refused_as_bad_topic(text: str) -> None:
    with pytest.raises(wire.ContractViolation) as err:
        wire.Topic.parse(text)
    assert err.value.reason == "bad_topic"


def test_filters_match_the_topics_they_are_for() -> None:
    topic = wire.event_topic("acme", "box-1", "sale")
    assert topic.matches(wire.hub_event_filter())
    assert topic.matches(wire.hub_event_filter("acme"))
    assert not topic.matches(wire.hub_event_filter("other"))
    assert not topic.matches(wire.hub_status_filter())
    assert wire.status_topic("acme", "box-1").matches(wire.hub_status_filter())


def test_uuid7_carries_version_variant_and_time() -> None:
    value = wire.uuid7(1_795_000_000_000, b"\xff" * 10)
    assert value.version == 7 and value.variant == uuid.RFC_4122
    assert wire.uuid7_unix_ms(value) == 1_795_000_000_000


@settings(max_examples=200)
@given(st.integers(0, 2**48 - 2), st.binary(min_size=10, max_size=10), st.binary(min_size=10, max_size=10))
def test_uuid7_orders_by_time_whatever_the_random_bits(ms: int, rand_a: bytes, rand_b: bytes) -> None:
    assert wire.uuid7(ms, rand_a) < wire.uuid7(ms + 1, rand_b)


def test_a_valid_sale_decodes_to_typed_data_with_its_hash() -> None:
    raw = payload()
    message = wire.decode(TOPIC, raw)
    assert isinstance(message.data, wire.SaleData)
    assert message.data.total_minor == 3700 and message.envelope.seq == 7
    assert message.envelope.ts == NOW
    assert message.sha256 == wire.payload_sha256(raw)


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    raw = json.loads(payload())
    raw["data"]["loyalty_hint"] = "new in a later v1"
    raw["trace"] = "abc"
    assert isinstance(wire.decode(TOPIC, json.dumps(raw).encode()).data, wire.SaleData)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"[1, 2]", "not_an_object"),
        (b"[" * 50_000, "malformed_json"),
        (payload(v=2), "unsupported_version"),
        (payload(v=True), "unsupported_version"),
        (payload(v="1"), "unsupported_version"),
        (payload(id=str(uuid.uuid4())), "bad_envelope"),
        (payload(ts="2026-11-23T12:00:00"), "bad_envelope"),
        (payload(seq=-1), "bad_envelope"),
        (payload(seq=2**63), "bad_envelope"),
        (payload(device="box\x001"), "bad_envelope"),
        (payload(device="box-2"), "device_mismatch"),
        (payload(type="refund"), "type_mismatch"),
        (b'{"v":1}' + b" " * (wire.MAX_PAYLOAD_BYTES), "oversized"),
    ],
)
def test_bad_payloads_are_refused_with_a_stable_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(wire.ContractViolation) as err:
        wire.decode(TOPIC, raw)
    assert err.value.reason == reason
    assert err.value.code == reason


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"total_minor": 3701}, "total_minor"),
        ({"currency": "mxn"}, "currency"),
        ({"lines": []}, "lines"),
        ({"lines": [{"sku": "a", "qty": 2, "unit_price_minor": 100, "amount_minor": 150}]}, "amount_minor"),
        ({"lines": [{"sku": "a", "qty": 1.5, "unit_price_minor": 100, "amount_minor": 150}]}, "qty"),
        (
            {"lines": [{"sku": "a", "qty": 1, "unit_price_minor": 100, "discount_minor": 101, "amount_minor": -1}]},
            "amount_minor",
        ),
    ],
)
def test_sales_that_do_not_add_up_are_bad_data(change: dict[str, object], field: str) -> None:
    raw = json.loads(payload())
    raw["data"].update(change)
    with pytest.raises(wire.ContractViolation) as err:
        wire.decode(TOPIC, json.dumps(raw).encode())
    assert err.value.reason == "bad_data"
    assert field in err.value.detail


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"store": "store\x00-1"}, "data.store"),
        ({"cashier": "\x00"}, "data.cashier"),
        ({"lines": [{"sku": "75\x0001", "qty": 1, "unit_price_minor": 100, "amount_minor": 100}]}, "data.lines.0.sku"),
        (
            {"lines": [{"sku": "a", "name": "Leche\x00", "qty": 1, "unit_price_minor": 100, "amount_minor": 100}]},
            "data.lines.0.name",
        ),
        ({"note\x00": "x"}, "data.note\\x00"),
    ],
)
def test_a_nul_character_in_any_text_is_bad_data_naming_the_field(change: dict[str, object], field: str) -> None:
    raw = json.loads(payload())
    raw["data"].update(change)
    if "lines" in change:
        raw["data"]["total_minor"] = 100
    with pytest.raises(wire.ContractViolation) as err:
        wire.decode(TOPIC, json.dumps(raw).encode())
    assert err.value.reason == "bad_data"
    assert err.value.detail.startswith(f"{field}: ")
    assert "NUL" in err.value.detail


def test_a_backslash_u0000_typed_as_text_is_not_a_nul() -> None:
    data = sale(cashier="a\\u0000b")
    decoded = wire.decode(TOPIC, wire.encode(id=EID, seq=1, ts=NOW, device="box-1", data=data))
    assert isinstance(decoded.data, wire.SaleData)
    assert decoded.data.cashier == "a\\u0000b"


def test_the_largest_seq_passes_and_one_more_is_refused_by_the_sender() -> None:
    top = wire.decode(TOPIC, wire.encode(id=EID, seq=wire.MAX_SEQ, ts=NOW, device="box-1", data=sale()))
    assert top.envelope.seq == 2**63 - 1
    with pytest.raises(InvalidInput) as err:
        wire.encode(id=EID, seq=wire.MAX_SEQ + 1, ts=NOW, device="box-1", data=sale())
    assert err.value.field == "seq"


def test_the_sender_refuses_a_nul_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as err:
        wire.encode(id=EID, seq=1, ts=NOW, device="box-1", data=sale(cashier="ana\x00"))
    assert err.value.field == "data.cashier"


def test_an_unknown_event_type_is_refused() -> None:
    raw = json.loads(payload(type="teleport"))
    with pytest.raises(wire.ContractViolation) as err:
        wire.decode("mo/v1/acme/box-1/evt/teleport", json.dumps(raw).encode())
    assert err.value.reason == "unknown_type"


def test_encode_refuses_what_the_receiver_would_refuse() -> None:
    big = sale(
        lines=[{"sku": "x" * 64, "name": "n" * 120, "qty": 1, "unit_price_minor": 1, "amount_minor": 1}] * 400,
        total_minor=400,
    )
    with pytest.raises(InvalidInput, match="bound"):
        wire.encode(id=EID, seq=1, ts=NOW, device="box-1", data=big)


def test_status_and_ack_messages_round_trip() -> None:
    status = wire.StatusData(state="offline", reason="connection_lost", software="x")
    msg = wire.decode("mo/v1/acme/box-1/status", wire.encode(id=EID, seq=3, ts=NOW, device="box-1", data=status))
    assert msg.data == status
    ack = wire.AckData(results=[wire.AckResult(id=EID, seq=7, status="committed")])
    msg = wire.decode("mo/v1/acme/box-1/ack", wire.encode(id=EID, seq=1, ts=NOW, device="hub-1", data=ack))
    assert msg.data == ack


@settings(max_examples=300)
@given(st.binary(max_size=2048))
def test_decode_never_raises_anything_but_a_contract_violation(raw: bytes) -> None:
    reason = None
    try:
        wire.decode(TOPIC, raw)
    except wire.ContractViolation as exc:
        reason = exc.reason
    assert reason is None or reason in set(wire.Reason)


def test_peek_id_recovers_what_it_can_and_never_raises() -> None:
    assert wire.peek_id(payload(v=9)) == (EID, 7)
    assert wire.peek_id(b"garbage") == (None, None)
    assert wire.peek_id(b'{"id": "nope"}') == (None, None)


def test_the_largest_possible_ack_fits_the_payload_bound() -> None:
    worst = wire.AckResult(id=EID, seq=2**63 - 1, status="duplicate", reason="r" * 32)
    data = wire.AckData(results=[worst] * wire.MAX_ACK_RESULTS)
    raw = wire.encode(id=EID, seq=2**63 - 1, ts=NOW, device="h" * 64, data=data)
    assert len(raw) <= wire.MAX_PAYLOAD_BYTES
