"""Kafka's primitive wire types, and the readers and writers the generic codec is built from.

Every reader has the shape ``read(buf, pos) -> (value, new_pos)`` over a ``memoryview`` and checks a
declared length against the bytes that remain *before* slicing or allocating, so a hostile length
costs nothing and surfaces as :class:`ProtocolError`. Every writer has the shape ``write(out, value)``
and appends to a ``bytearray``.

Layouts (kafka.apache.org/protocol#protocol_types), all integers big-endian:

=================  ==========================================  ======================================
type               classic (non-flexible versions)             compact (flexible versions)
=================  ==========================================  ======================================
string             int16 length, UTF-8 bytes                   unsigned varint length+1, bytes
nullable string    int16 length, -1 = null                     unsigned varint length+1, 0 = null
bytes / records    int32 length (-1 = null when nullable)      unsigned varint length+1, 0 = null
array              int32 count (-1 = null when nullable)       unsigned varint count+1, 0 = null
=================  ==========================================  ======================================

Fixed-width types (bool, int8..int64, uint16, uint32, float64) are not read one by one: the codec
merges runs of them into one precompiled ``struct.Struct``. Bytes and records decode to zero-copy
``memoryview`` slices of the frame; strings decode with replacement of invalid UTF-8, as Kafka's
Java decoder does.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import Any

from .errors import ProtocolError

__all__ = [
    "AUTHORIZED_OPERATIONS_OMITTED",
    "BOOL",
    "BYTES",
    "FLOAT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "RECORDS",
    "STRING",
    "UINT16",
    "UINT32",
    "UNSIGNED_VARINT",
    "UUID",
    "VARINT",
    "VARLONG",
    "ZERO_UUID",
    "Primitive",
]


@dataclass(frozen=True, slots=True)
class Primitive:
    """A wire type with no inner structure; ``fmt`` is its ``struct`` code when it has a fixed width."""

    name: str
    fmt: str | None
    default: Any

    def __repr__(self) -> str:
        return self.name.upper()


ZERO_UUID = uuid.UUID(int=0)
AUTHORIZED_OPERATIONS_OMITTED = -(2**31)
"""What Kafka answers in ``*_authorized_operations`` fields when the client did not ask for them (INT32 min)."""

BOOL = Primitive("bool", "?", False)
INT8 = Primitive("int8", "b", 0)
INT16 = Primitive("int16", "h", 0)
INT32 = Primitive("int32", "i", 0)
INT64 = Primitive("int64", "q", 0)
UINT16 = Primitive("uint16", "H", 0)
UINT32 = Primitive("uint32", "I", 0)
FLOAT64 = Primitive("float64", "d", 0.0)
VARINT = Primitive("varint", None, 0)
VARLONG = Primitive("varlong", None, 0)
UNSIGNED_VARINT = Primitive("unsigned_varint", None, 0)
UUID = Primitive("uuid", None, ZERO_UUID)
STRING = Primitive("string", None, "")
BYTES = Primitive("bytes", None, b"")
RECORDS = Primitive("records", None, None)

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I16_NULL = _I16.pack(-1)
_I32_NULL = _I32.pack(-1)


def _truncated(what: str) -> ProtocolError:
    return ProtocolError(f"truncated {what}")


# --- varints -------------------------------------------------------------------------------------


def read_uvarint(buf: memoryview, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 varint of at most 5 bytes (Kafka's ``readUnsignedVarint``)."""
    if pos >= len(buf):
        raise _truncated("unsigned varint")
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    value = b & 0x7F
    shift = 7
    end = len(buf)
    pos += 1
    while True:
        if pos >= end:
            raise _truncated("unsigned varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise ProtocolError("unsigned varint longer than 5 bytes")


def read_uvarlong(buf: memoryview, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 varint of at most 10 bytes (the payload of a varlong)."""
    value = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise _truncated("varlong")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ProtocolError("varlong longer than 10 bytes")


def write_uvarint(out: bytearray, value: int) -> None:
    if value < 0:
        raise ValueError(f"unsigned varint cannot be negative: {value}")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """A zig-zag encoded signed 32-bit varint."""
    u, pos = read_uvarint(buf, pos)
    u &= 0xFFFFFFFF
    return (u >> 1) ^ -(u & 1), pos


def write_varint(out: bytearray, value: int) -> None:
    write_uvarint(out, ((value << 1) ^ (value >> 31)) & 0xFFFFFFFF)


def read_varlong(buf: memoryview, pos: int) -> tuple[int, int]:
    """A zig-zag encoded signed 64-bit varint."""
    u, pos = read_uvarlong(buf, pos)
    u &= 0xFFFFFFFFFFFFFFFF
    return (u >> 1) ^ -(u & 1), pos


def write_varlong(out: bytearray, value: int) -> None:
    write_uvarint(out, ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF)


# --- uuid ------------------------------------------------------------------------------------------


def read_uuid(buf: memoryview, pos: int) -> tuple[uuid.UUID, int]:
    end = pos + 16
    if end > len(buf):
        raise _truncated("uuid")
    return uuid.UUID(bytes=buf[pos:end].tobytes()), end


def write_uuid(out: bytearray, value: uuid.UUID | bytes | None) -> None:
    if value is None:
        out += ZERO_UUID.bytes
    elif isinstance(value, bytes):
        if len(value) != 16:
            raise ValueError("a uuid is 16 bytes")
        out += value
    else:
        out += value.bytes


# --- lengths ---------------------------------------------------------------------------------------


def _i16_length(buf: memoryview, pos: int) -> tuple[int, int]:
    if pos + 2 > len(buf):
        raise _truncated("int16 length")
    return _I16.unpack_from(buf, pos)[0], pos + 2


def _i32_length(buf: memoryview, pos: int) -> tuple[int, int]:
    if pos + 4 > len(buf):
        raise _truncated("int32 length")
    return _I32.unpack_from(buf, pos)[0], pos + 4


def _compact_length(buf: memoryview, pos: int) -> tuple[int, int]:
    n, pos = read_uvarint(buf, pos)
    return n - 1, pos


def read_array_length(buf: memoryview, pos: int) -> tuple[int, int]:
    return _i32_length(buf, pos)


def read_compact_array_length(buf: memoryview, pos: int) -> tuple[int, int]:
    return _compact_length(buf, pos)


def write_array_length(out: bytearray, n: int) -> None:
    out += _I32.pack(n)


def write_compact_array_length(out: bytearray, n: int) -> None:
    """``n`` items, or -1 for a null array."""
    if n < 127:
        out.append(n + 1)
    else:
        write_uvarint(out, n + 1)


def write_null_array(out: bytearray) -> None:
    out += _I32_NULL


def write_compact_null_array(out: bytearray) -> None:
    out.append(0)


# --- strings ---------------------------------------------------------------------------------------


def _text(buf: memoryview, pos: int, n: int) -> tuple[str, int]:
    end = pos + n
    if end > len(buf):
        raise _truncated("string")
    return buf[pos:end].tobytes().decode("utf-8", "replace"), end


def read_string(buf: memoryview, pos: int) -> tuple[str, int]:
    n, pos = _i16_length(buf, pos)
    if n < 0:
        raise ProtocolError("null or negative length for a non-nullable string")
    return _text(buf, pos, n)


def read_nullable_string(buf: memoryview, pos: int) -> tuple[str | None, int]:
    n, pos = _i16_length(buf, pos)
    if n < 0:
        return None, pos
    return _text(buf, pos, n)


def read_compact_string(buf: memoryview, pos: int) -> tuple[str, int]:
    n, pos = _compact_length(buf, pos)
    if n < 0:
        raise ProtocolError("null length for a non-nullable compact string")
    return _text(buf, pos, n)


def read_compact_nullable_string(buf: memoryview, pos: int) -> tuple[str | None, int]:
    n, pos = _compact_length(buf, pos)
    if n < 0:
        return None, pos
    return _text(buf, pos, n)


def write_string(out: bytearray, value: str | None) -> None:
    """A non-nullable string; None is written as "" rather than failing a response half-built."""
    data = value.encode() if value else b""
    out += _I16.pack(len(data))
    out += data


def write_nullable_string(out: bytearray, value: str | None) -> None:
    if value is None:
        out += _I16_NULL
        return
    data = value.encode()
    out += _I16.pack(len(data))
    out += data


def write_compact_string(out: bytearray, value: str | None) -> None:
    data = value.encode() if value else b""
    n = len(data)
    if n < 127:
        out.append(n + 1)
    else:
        write_uvarint(out, n + 1)
    out += data


def write_compact_nullable_string(out: bytearray, value: str | None) -> None:
    if value is None:
        out.append(0)
        return
    write_compact_string(out, value)


# --- bytes -----------------------------------------------------------------------------------------


def _slice(buf: memoryview, pos: int, n: int) -> tuple[memoryview, int]:
    end = pos + n
    if end > len(buf):
        raise _truncated("bytes")
    return buf[pos:end], end


def read_bytes(buf: memoryview, pos: int) -> tuple[memoryview, int]:
    n, pos = _i32_length(buf, pos)
    if n < 0:
        raise ProtocolError("null or negative length for non-nullable bytes")
    return _slice(buf, pos, n)


def read_nullable_bytes(buf: memoryview, pos: int) -> tuple[memoryview | None, int]:
    n, pos = _i32_length(buf, pos)
    if n < 0:
        return None, pos
    return _slice(buf, pos, n)


def read_compact_bytes(buf: memoryview, pos: int) -> tuple[memoryview, int]:
    n, pos = _compact_length(buf, pos)
    if n < 0:
        raise ProtocolError("null length for non-nullable compact bytes")
    return _slice(buf, pos, n)


def read_compact_nullable_bytes(buf: memoryview, pos: int) -> tuple[memoryview | None, int]:
    n, pos = _compact_length(buf, pos)
    if n < 0:
        return None, pos
    return _slice(buf, pos, n)


def byte_length(value: Any) -> int:
    """Length in bytes of a bytes-like value (a memoryview's ``len`` counts items, not bytes)."""
    return value.nbytes if type(value) is memoryview else len(value)


def write_bytes(out: bytearray, value: Any) -> None:
    if value is None:
        out += _I32.pack(0)
        return
    out += _I32.pack(byte_length(value))
    out += value


def write_nullable_bytes(out: bytearray, value: Any) -> None:
    if value is None:
        out += _I32_NULL
        return
    out += _I32.pack(byte_length(value))
    out += value


def write_compact_bytes(out: bytearray, value: Any) -> None:
    if value is None:
        out.append(1)
        return
    write_uvarint(out, byte_length(value) + 1)
    out += value


def write_compact_nullable_bytes(out: bytearray, value: Any) -> None:
    if value is None:
        out.append(0)
        return
    write_uvarint(out, byte_length(value) + 1)
    out += value


# --- tagged fields ---------------------------------------------------------------------------------


def skip_tagged_fields(buf: memoryview, pos: int) -> int:
    """Step over a tagged-field section whose tags we do not know (e.g. a request header's)."""
    n, pos = read_uvarint(buf, pos)
    end = len(buf)
    for _ in range(n):
        _tag, pos = read_uvarint(buf, pos)
        size, pos = read_uvarint(buf, pos)
        pos += size
        if pos > end:
            raise _truncated("tagged field")
    return pos
