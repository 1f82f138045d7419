"""Request/response headers and framing, golden bytes: header v1/v2, response header v0/v1, the
ApiVersions v0-response-header exception (KIP-511), unknown keys and unsupported versions."""

from __future__ import annotations

import dataclasses

import pytest
from protocol_golden import Wire, i16, i32, uvarint

from kafka_broker.protocol import (
    ApiKey,
    ProtocolError,
    RequestHeader,
    decode_request,
    decode_request_header,
    decode_response,
    encode_request,
    encode_response,
)

HEARTBEAT_V3 = Wire(False).str("g") + i32(1) + Wire(False).str("m") + i16(-1)
HEARTBEAT_V4 = Wire(True).str("g") + i32(1) + Wire(True).str("m") + b"\x00" + b"\x00"


def test_request_header_v1() -> None:
    frame = i16(12) + i16(3) + i32(99) + i16(3) + b"cli" + HEARTBEAT_V3
    header, offset = decode_request_header(frame)
    assert header == RequestHeader(api_key=12, api_version=3, correlation_id=99, client_id="cli")
    assert offset == 13
    assert decode_request(header, frame, offset) == {
        "group_id": "g", "generation_id": 1, "member_id": "m", "group_instance_id": None,
    }
    assert encode_request(12, 3, 99, "cli", {"group_id": "g", "generation_id": 1, "member_id": "m"}) == (
        i32(len(frame)) + frame
    )


def test_request_header_v2_keeps_classic_client_id_and_skips_unknown_header_tags() -> None:
    header_tags = uvarint(1) + uvarint(7) + uvarint(2) + b"zz"  # one unknown tagged field
    frame = i16(12) + i16(4) + i32(5) + i16(3) + b"cli" + header_tags + HEARTBEAT_V4
    header, offset = decode_request_header(frame)
    assert header == RequestHeader(12, 4, 5, "cli")
    assert offset == 10 + 3 + len(header_tags)
    assert decode_request(header, frame, offset)["member_id"] == "m"
    encoded = encode_request(12, 4, 5, "cli", {"group_id": "g", "generation_id": 1, "member_id": "m"})
    assert encoded == i32(14 + len(HEARTBEAT_V4)) + i16(12) + i16(4) + i32(5) + i16(3) + b"cli" + b"\x00" + HEARTBEAT_V4


def test_null_client_id() -> None:
    frame = i16(12) + i16(3) + i32(1) + i16(-1) + HEARTBEAT_V3
    header, offset = decode_request_header(frame)
    assert header.client_id is None and offset == 10
    assert encode_request(12, 3, 1, None, {"group_id": "g", "generation_id": 1, "member_id": "m"})[4:] == frame


def test_response_header_v0_and_v1() -> None:
    v3 = encode_response(RequestHeader(12, 3, 42, "c"), {"error_code": 27})
    assert b"".join(v3) == i32(10) + i32(42) + i32(0) + i16(27)
    v4 = encode_response(RequestHeader(12, 4, 42, "c"), {"error_code": 27})
    assert b"".join(v4) == i32(12) + i32(42) + b"\x00" + i32(0) + i16(27) + b"\x00"
    assert decode_response(12, 4, b"".join(v4)[4:]) == (42, {"throttle_time_ms": 0, "error_code": 27})
    with_tags = i32(42) + uvarint(1) + uvarint(3) + uvarint(1) + b"x" + i32(0) + i16(27) + b"\x00"
    assert decode_response(12, 4, with_tags) == (42, {"throttle_time_ms": 0, "error_code": 27})


def test_api_versions_response_header_is_always_v0() -> None:
    """KIP-511: no tagged-field byte after the correlation id, even for flexible ApiVersions v3."""
    body = {"error_code": 0, "api_keys": [{"api_key": 18, "min_version": 0, "max_version": 3}]}
    raw = i32(7) + i16(0) + uvarint(2) + i16(18) + i16(0) + i16(3) + b"\x00" + i32(0) + b"\x00"
    assert b"".join(encode_response(RequestHeader(18, 3, 7, "c"), body)) == i32(len(raw)) + raw
    assert decode_response(18, 3, raw)[1]["api_keys"] == body["api_keys"]


def test_api_versions_unsupported_version_is_answered_with_v0() -> None:
    """A newer client's ApiVersions v9: the header still decodes (as v2, flexible) so the server can
    reply UNSUPPORTED_VERSION with a v0 response; the body itself is not decodable."""
    body = Wire(True).str("new-client") + Wire(True).str("9.9") + b"\x00"
    frame = i16(18) + i16(9) + i32(3) + i16(1) + b"c" + b"\x00" + body
    header, offset = decode_request_header(frame)
    assert (header.api_key, header.api_version, header.correlation_id, offset) == (18, 9, 3, 12)
    with pytest.raises(ProtocolError):
        decode_request(header, frame, offset)
    reply = encode_response(
        dataclasses.replace(header, api_version=0),
        {"error_code": 35, "api_keys": [{"api_key": 18, "min_version": 0, "max_version": 3}]},
    )
    raw = i32(3) + i16(35) + i32(1) + i16(18) + i16(0) + i16(3)
    assert b"".join(reply) == i32(len(raw)) + raw


@pytest.mark.parametrize("api_key", [ApiKey.LEADER_AND_ISR, 1000, -1])
def test_unknown_api_key_header_decodes_but_body_does_not(api_key: int) -> None:
    frame = i16(api_key) + i16(0) + i32(11) + i16(1) + b"c" + b"\x01\x02"
    header, offset = decode_request_header(frame)
    assert (header.api_key, header.correlation_id, offset) == (api_key, 11, 11)
    with pytest.raises(ProtocolError):
        decode_request(header, frame, offset)
    with pytest.raises(ProtocolError):
        encode_response(header, {})


@pytest.mark.parametrize("version", [12, 99, -1])
def test_versions_outside_the_range_are_protocol_errors(version: int) -> None:
    """Produce is served from v0 (v0-v2 answered UNSUPPORTED_VERSION by the handler) to v11."""
    frame = i16(0) + i16(version) + i32(1) + i16(-1) + (b"\x00" if version >= 9 else b"")  # v2 from Produce v9
    header, offset = decode_request_header(frame)
    assert header.api_version == version
    with pytest.raises(ProtocolError):
        decode_request(header, frame, offset)
    with pytest.raises(ProtocolError):
        encode_request(0, version, 1, None, {})
    with pytest.raises(ProtocolError):
        decode_response(0, version, i32(1))


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00\x12\x00\x00\x00\x00\x00",  # 7 bytes
        i16(18) + i16(0) + i32(1),  # no client id
        i16(18) + i16(0) + i32(1) + i16(5) + b"abc",  # client id cut short
        i16(18) + i16(3) + i32(1) + i16(-1),  # flexible: no tagged-field section
        i16(18) + i16(3) + i32(1) + i16(-1) + uvarint(1) + uvarint(0) + uvarint(9) + b"x",  # tag overruns
    ],
)
def test_truncated_headers(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_request_header(frame)


def test_trailing_request_bytes_are_ignored_like_kafka_unless_strict() -> None:
    frame = i16(12) + i16(3) + i32(1) + i16(-1) + HEARTBEAT_V3 + b"\x00"
    header, offset = decode_request_header(frame)
    assert decode_request(header, frame, offset)["member_id"] == "m"
    with pytest.raises(ProtocolError, match="trailing"):
        decode_request(header, frame, offset, strict=True)
    with pytest.raises(ProtocolError, match="trailing"):
        decode_response(12, 3, i32(1) + i32(0) + i16(0) + b"!")


def test_librdkafka_all_topics_metadata_request() -> None:
    """Captured from confluent-kafka 2.16 (librdkafka 2.16.0) AdminClient.list_topics(): a 4-byte zero
    placeholder stands where the compact null array belongs; Kafka reads the first byte as null,
    the next three as the two booleans and the tagged section, and ignores the rest. So do we."""
    frame = bytes.fromhex("0003000c00000003000772646b61666b610000000000010000")
    header, offset = decode_request_header(frame)
    assert header == RequestHeader(3, 12, 3, "rdkafka")
    assert decode_request(header, frame, offset) == {
        "topics": None,
        "allow_auto_topic_creation": False,
        "include_cluster_authorized_operations": False,
        "include_topic_authorized_operations": False,
    }


def test_memoryview_and_bytearray_frames() -> None:
    frame = i16(12) + i16(3) + i32(99) + i16(-1) + HEARTBEAT_V3
    for container in (bytearray(frame), memoryview(frame), memoryview(b"xx" + frame)[2:]):
        header, offset = decode_request_header(container)
        assert decode_request(header, container, offset)["group_id"] == "g"


def test_produce_records_are_zero_copy_views_of_the_frame() -> None:
    records = bytes(range(256)) * 4096  # 1 MiB
    partition = {"index": 0, "records": records}
    body = {"acks": 1, "timeout_ms": 100, "topic_data": [{"name": "t", "partition_data": [partition]}]}
    frame = encode_request(0, 9, 1, "c", body)[4:]
    header, offset = decode_request_header(frame)
    decoded = decode_request(header, frame, offset)["topic_data"][0]["partition_data"][0]["records"]
    assert isinstance(decoded, memoryview) and decoded.obj is frame and decoded == records
