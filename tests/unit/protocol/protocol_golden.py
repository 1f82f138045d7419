"""Hand-assembled wire bytes for golden tests: every primitive written out here, independently of the
codec under test, and the check that runs one golden vector through all four entry points."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from protocol_strategies import assert_matches

from kafka_broker.protocol import (
    API_SPECS,
    decode_request,
    decode_request_header,
    decode_response,
    encode_request,
    encode_response,
)
from kafka_broker.protocol.schema import ArrayOf, Field, StructOf

CORRELATION_ID = 0x01020304
CLIENT_ID = "golden"


def i8(v: int) -> bytes:
    return struct.pack(">b", v)


def i16(v: int) -> bytes:
    return struct.pack(">h", v)


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


def boolean(v: bool) -> bytes:
    return b"\x01" if v else b"\x00"


def uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class Wire:
    """Strings, bytes, arrays and tagged sections in the classic or the compact (flexible) form."""

    def __init__(self, flexible: bool) -> None:
        self.flexible = flexible

    def _len(self, n: int, classic: bytes) -> bytes:
        return uvarint(n + 1) if self.flexible else classic

    def str(self, s: str) -> bytes:
        b = s.encode()
        return self._len(len(b), i16(len(b))) + b

    def nstr(self, s: str | None) -> bytes:
        if s is None:
            return b"\x00" if self.flexible else i16(-1)
        return self.str(s)

    def bytes(self, b: bytes) -> bytes:
        return self._len(len(b), i32(len(b))) + b

    def nbytes(self, b: bytes | None) -> bytes:
        if b is None:
            return b"\x00" if self.flexible else i32(-1)
        return self.bytes(b)

    def arr(self, items: list[bytes]) -> bytes:
        return self._len(len(items), i32(len(items))) + b"".join(items)

    def narr(self, items: list[bytes] | None) -> bytes:
        if items is None:
            return b"\x00" if self.flexible else i32(-1)
        return self.arr(items)

    def tags(self, *fields: tuple[int, bytes]) -> bytes:
        """A tagged-field section (flexible versions only; nothing in classic ones)."""
        if not self.flexible:
            assert not fields
            return b""
        return uvarint(len(fields)) + b"".join(uvarint(t) + uvarint(len(p)) + p for t, p in fields)


@dataclass
class Golden:
    request_body: dict[str, Any]
    request: bytes
    response_body: dict[str, Any]
    response: bytes


def assert_covers(body: dict[str, Any], fields: tuple[Field, ...], version: int, flexible: bool) -> None:
    """The golden body names every field of the version, so every field's bytes are pinned."""
    for f in fields:
        if not f.exists_in(version) or (f.tag is not None and not flexible):
            continue
        assert f.name in body, f"golden vector for v{version} lacks {f.name}"
        value = body[f.name]
        inner = f.type.item if isinstance(f.type, ArrayOf) else f.type
        if isinstance(inner, StructOf) and value is not None:
            for item in value if isinstance(f.type, ArrayOf) else [value]:
                assert_covers(item, inner.fields, version, flexible)


def check_golden(key: int, version: int, golden: Golden) -> None:
    spec = API_SPECS[key]
    flexible = spec.is_flexible(version)
    assert_covers(golden.request_body, spec.request, version, flexible)
    assert_covers(golden.response_body, spec.response, version, flexible)

    client = CLIENT_ID.encode()
    frame = (
        i16(key) + i16(version) + i32(CORRELATION_ID) + i16(len(client)) + client
        + (b"\x00" if flexible else b"")
        + golden.request
    )
    assert encode_request(key, version, CORRELATION_ID, CLIENT_ID, golden.request_body) == i32(len(frame)) + frame
    header, offset = decode_request_header(frame)
    assert (header.api_key, header.api_version, header.correlation_id, header.client_id) == (
        key, version, CORRELATION_ID, CLIENT_ID,
    )
    assert_matches(decode_request(header, frame, offset, strict=True), golden.request_body)

    response_frame = i32(CORRELATION_ID) + (b"\x00" if flexible and key != 18 else b"") + golden.response
    encoded = encode_response(header, golden.response_body)
    assert b"".join(encoded) == i32(len(response_frame)) + response_frame
    correlation_id, body = decode_response(key, version, response_frame)
    assert correlation_id == CORRELATION_ID
    assert_matches(body, golden.response_body)
