"""The primitive readers and writers: varints against known encodings, zig-zag, strings, bytes, uuid."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kafka_broker.protocol import ProtocolError
from kafka_broker.protocol import primitives as p


def _write(fn, value) -> bytes:
    out = bytearray()
    fn(out, value)
    return bytes(out)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0, b"\x00"), (1, b"\x01"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02"),
        (2**32 - 1, b"\xff\xff\xff\xff\x0f"),
    ],
)
def test_unsigned_varint(value: int, wire: bytes) -> None:
    assert _write(p.write_uvarint, value) == wire
    assert p.read_uvarint(memoryview(wire), 0) == (value, len(wire))


@pytest.mark.parametrize(
    ("value", "wire"), [(0, b"\x00"), (-1, b"\x01"), (1, b"\x02"), (-2, b"\x03"), (-64, b"\x7f"), (64, b"\x80\x01")]
)
def test_zigzag_varint(value: int, wire: bytes) -> None:
    assert _write(p.write_varint, value) == wire
    assert p.read_varint(memoryview(wire), 0) == (value, len(wire))
    assert _write(p.write_varlong, value) == wire
    assert p.read_varlong(memoryview(wire), 0) == (value, len(wire))


@given(st.integers(-(2**31), 2**31 - 1))
def test_varint_round_trip(value: int) -> None:
    assert p.read_varint(memoryview(_write(p.write_varint, value)), 0)[0] == value


@given(st.integers(-(2**63), 2**63 - 1))
def test_varlong_round_trip(value: int) -> None:
    assert p.read_varlong(memoryview(_write(p.write_varlong, value)), 0)[0] == value


def test_varint_errors() -> None:
    with pytest.raises(ProtocolError):
        p.read_uvarint(memoryview(b"\x80\x80"), 0)
    with pytest.raises(ProtocolError):
        p.read_uvarint(memoryview(b""), 0)
    with pytest.raises(ProtocolError):
        p.read_uvarint(memoryview(b"\xff\xff\xff\xff\xff\x01"), 0)
    with pytest.raises(ProtocolError):
        p.read_varlong(memoryview(b"\xff" * 11), 0)
    with pytest.raises(ValueError):
        p.write_uvarint(bytearray(), -1)


def test_strings() -> None:
    assert _write(p.write_string, "héllo") == b"\x00\x06h\xc3\xa9llo"
    assert _write(p.write_nullable_string, None) == b"\xff\xff"
    assert _write(p.write_compact_string, "ab") == b"\x03ab"
    assert _write(p.write_compact_nullable_string, None) == b"\x00"
    assert _write(p.write_string, None) == b"\x00\x00"  # lenient: None where null is not allowed → ""
    assert p.read_string(memoryview(b"\x00\x02ab"), 0) == ("ab", 4)
    assert p.read_compact_nullable_string(memoryview(b"\x00"), 0) == (None, 1)
    assert p.read_nullable_string(memoryview(b"\xff\xfe"), 0) == (None, 2)  # any negative is null, like Kafka
    long = "x" * 200
    assert p.read_compact_string(memoryview(_write(p.write_compact_string, long)), 0) == (long, 202)


def test_invalid_utf8_is_replaced_like_java_does() -> None:
    assert p.read_string(memoryview(b"\x00\x02\xff\xfe"), 0) == ("\ufffd\ufffd", 4)


def test_bytes_are_views_of_the_frame() -> None:
    frame = memoryview(b"\x00\x00\x00\x03abcZ")
    value, pos = p.read_bytes(frame, 0)
    assert isinstance(value, memoryview) and value.obj is frame.obj and value.tobytes() == b"abc" and pos == 7
    assert p.read_nullable_bytes(memoryview(b"\xff\xff\xff\xff"), 0) == (None, 4)
    assert p.read_compact_nullable_bytes(memoryview(b"\x00"), 0) == (None, 1)
    assert _write(p.write_compact_bytes, memoryview(b"xyz")) == b"\x04xyz"
    with pytest.raises(ProtocolError):
        p.read_bytes(memoryview(b"\xff\xff\xff\xff"), 0)
    with pytest.raises(ProtocolError):
        p.read_compact_bytes(memoryview(b"\x05ab"), 0)


def test_uuid() -> None:
    u = uuid.uuid4()
    assert _write(p.write_uuid, u) == u.bytes
    assert p.read_uuid(memoryview(u.bytes + b"!"), 0) == (u, 16)
    assert _write(p.write_uuid, None) == bytes(16)
    with pytest.raises(ProtocolError):
        p.read_uuid(memoryview(b"short"), 0)


def test_skip_tagged_fields() -> None:
    section = b"\x02" + b"\x00\x01x" + b"\x05\x02yz"
    assert p.skip_tagged_fields(memoryview(section + b"rest"), 0) == len(section)
    with pytest.raises(ProtocolError):
        p.skip_tagged_fields(memoryview(b"\x01\x00\x09ab"), 0)
