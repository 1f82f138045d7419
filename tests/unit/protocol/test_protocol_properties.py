"""Property tests: random valid bodies round-trip for every (API, version, direction); random,
truncated and mutated frames never raise anything but ProtocolError; hostile lengths fail fast."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_golden import Wire, i16, i32, uvarint
from protocol_strategies import assert_matches, struct_strategy

from kafka_broker.protocol import (
    API_SPECS,
    ProtocolError,
    RequestHeader,
    decode_request,
    decode_request_header,
    decode_response,
    encode_request,
    encode_response,
)

CASES = [
    (key, version, kind)
    for key, spec in API_SPECS.items()
    for version in range(spec.min_version, spec.max_version + 1)
    for kind in ("request", "response")
]
KEY_VERSIONS = sorted({(k, v) for k, v, _ in CASES})
FAST = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _body(data: st.DataObject, key: int, version: int, kind: str) -> dict:
    spec = API_SPECS[key]
    fields = spec.response if kind == "response" else spec.request
    return data.draw(struct_strategy(fields, version, spec.is_flexible(version)), label="body")


def _decode(key: int, version: int, frame: bytes) -> None:
    """Run a request frame through both decoding steps."""
    header, offset = decode_request_header(frame)
    decode_request(header, frame, offset)


@pytest.mark.parametrize(("key", "version", "kind"), CASES, ids=lambda x: str(x))
@FAST
@given(data=st.data())
def test_round_trip(key: int, version: int, kind: str, data: st.DataObject) -> None:
    body = _body(data, key, version, kind)
    if kind == "request":
        wire = encode_request(key, version, 17, "prop", body)
        header, offset = decode_request_header(wire[4:])
        decoded = decode_request(header, wire[4:], offset, strict=True)
        assert encode_request(key, version, 17, "prop", decoded) == wire
    else:
        header = RequestHeader(key, version, 17, "prop")
        wire = b"".join(encode_response(header, body))
        correlation_id, decoded = decode_response(key, version, wire[4:])
        assert correlation_id == 17
        assert b"".join(encode_response(header, decoded)) == wire
    assert int.from_bytes(wire[:4], "big") == len(wire) - 4
    assert_matches(decoded, body)


@pytest.mark.parametrize(("key", "version"), KEY_VERSIONS, ids=lambda x: str(x))
@FAST
@given(data=st.data())
def test_truncated_and_mutated_requests_raise_only_protocol_error(key: int, version: int, data: st.DataObject) -> None:
    frame = encode_request(key, version, 1, "fuzz", _body(data, key, version, "request"))[4:]
    cut = data.draw(st.integers(0, len(frame) - 1), label="cut")
    with pytest.raises(ProtocolError):
        _decode(key, version, frame[:cut])
    mutated = bytearray(frame)
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        mutated[data.draw(st.integers(8, len(frame) - 1), label="at")] = data.draw(st.integers(0, 255))
    with contextlib.suppress(ProtocolError):
        _decode(key, version, bytes(mutated))


@pytest.mark.parametrize(("key", "version"), KEY_VERSIONS, ids=lambda x: str(x))
@FAST
@given(data=st.data())
def test_random_bodies_raise_only_protocol_error(key: int, version: int, data: st.DataObject) -> None:
    head = i16(key) + i16(version) + i32(1) + i16(-1) + (b"\x00" if API_SPECS[key].is_flexible(version) else b"")
    junk = data.draw(st.binary(max_size=64), label="body")
    with contextlib.suppress(ProtocolError):
        _decode(key, version, head + junk)
    with contextlib.suppress(ProtocolError):
        decode_response(key, version, i32(1) + junk)


@settings(max_examples=300, deadline=None)
@given(frame=st.binary(max_size=40))
def test_random_headers_raise_only_protocol_error(frame: bytes) -> None:
    try:
        header, offset = decode_request_header(frame)
    except ProtocolError:
        return
    assert 10 <= offset <= len(frame)
    with contextlib.suppress(ProtocolError):
        decode_request(header, frame, offset)


HUGE = [0x7FFFFFFF, 0x40000000, 2**31 - 2]


@pytest.mark.parametrize("n", HUGE)
def test_huge_array_counts_fail_before_allocating(n: int) -> None:
    # Produce v3: transactional_id null, acks, timeout, then a topic array claiming n topics
    frame = i16(0) + i16(3) + i32(1) + i16(-1) + i16(-1) + i16(1) + i32(1000) + i32(n) + b"\x00" * 8
    with pytest.raises(ProtocolError):
        _decode(0, 3, frame)
    # Metadata v12 (flexible): replica array of n int32s
    w = Wire(True)
    partition = i16(0) + i32(0) + i32(1) + i32(0) + uvarint(n + 1)
    # no brokers, null cluster id, controller -1, one topic (error 0, "t", zero uuid, not internal)
    topic = i16(0) + w.nstr("t") + bytes(16) + b"\x00" + uvarint(2) + partition
    body = w.arr([]) + w.nstr(None) + i32(-1) + uvarint(2) + topic
    with pytest.raises(ProtocolError):
        decode_response(3, 12, i32(1) + b"\x00" + i32(0) + body)


@pytest.mark.parametrize("n", HUGE)
def test_huge_string_and_bytes_lengths_fail_before_allocating(n: int) -> None:
    # Produce v3 records claiming n bytes
    topic = i16(1) + b"t" + i32(1) + i32(0) + i32(n) + b"abc"
    frame = i16(0) + i16(3) + i32(1) + i16(-1) + i16(-1) + i16(1) + i32(1000) + i32(1) + topic
    with pytest.raises(ProtocolError):
        _decode(0, 3, frame)
    # Produce v9 (compact) records claiming n bytes
    topic = uvarint(2) + b"t" + uvarint(2) + i32(0) + uvarint(n + 1) + b"abc"
    frame = i16(0) + i16(9) + i32(1) + i16(-1) + b"\x00" + b"\x00" + i16(1) + i32(1000) + uvarint(2) + topic
    with pytest.raises(ProtocolError):
        _decode(0, 9, frame)
    # a compact string claiming n bytes (ApiVersions v3 client_software_name)
    frame = i16(18) + i16(3) + i32(1) + i16(-1) + b"\x00" + uvarint(n + 1) + b"kafka"
    with pytest.raises(ProtocolError):
        _decode(18, 3, frame)


def test_negative_lengths_of_non_nullable_fields() -> None:
    # Heartbeat v0 group_id with length -1 / -5
    for n in (-1, -5):
        with pytest.raises(ProtocolError, match="non-nullable"):
            _decode(12, 0, i16(12) + i16(0) + i32(1) + i16(-1) + i16(n) + i32(1) + i16(0))
    # Produce v3 topic array with count -1 (not nullable)
    with pytest.raises(ProtocolError):
        _decode(0, 3, i16(0) + i16(3) + i32(1) + i16(-1) + i16(-1) + i16(1) + i32(1000) + i32(-1))
    # Heartbeat v4 (compact) group_id encoded as null
    with pytest.raises(ProtocolError, match="non-nullable"):
        _decode(12, 4, i16(12) + i16(4) + i32(1) + i16(-1) + b"\x00" + b"\x00" + i32(1) + b"\x01" + b"\x00" + b"\x00")


def test_overlong_varint_is_a_protocol_error() -> None:
    frame = i16(18) + i16(3) + i32(1) + i16(-1) + b"\x00" + b"\xff" * 6 + b"\x01"
    with pytest.raises(ProtocolError, match="varint"):
        _decode(18, 3, frame)
