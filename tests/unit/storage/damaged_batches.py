"""Malformed record batches: built with kopfka's own builder, then damaged with the CRC recomputed.

The CRC-32C covers everything a damage changes, so a broker that checks only the batch header and
the CRC accepts every one of these; only a walk of the records (and a decompression of compressed
ones) refuses them. Shared by the storage unit tests (``tests/unit/storage/test_record_validation.py``)
and the hostile tier (``tests/hostile/test_malformed_batches.py``), which sends each to real brokers.

:data:`CATALOGUE` names, for each, the error kopfka answers and the one Apache Kafka 3.9.2 answered when
the same bytes were sent to it in a Produce v9 request (a real 3.9.2 broker started by
``bench/apache_kafka.py``, 2026-12-02); where they differ, kopfka is stricter on purpose (see its note).
"""

from __future__ import annotations

import gzip
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import cramjam
import lz4.frame
from crc32c import crc32c

from kafka_broker.protocol import ErrorCode
from kafka_broker.storage.compression import Codec
from kafka_broker.storage.records import Record, build_batch

RECORDS_OFFSET = 61
COUNT = struct.Struct(">i")
CRC = struct.Struct(">I")


def zigzag(value: int) -> bytes:
    """A Kafka varint/varlong (zigzag, base 128), encoded here independently of kopfka's encoder."""
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def raw_record(
    offset_delta: int,
    value: bytes | None,
    *,
    key: bytes | None = None,
    timestamp_delta: int = 0,
    headers: tuple[tuple[bytes, bytes | None], ...] = (),
    header_count: int | None = None,
    key_length: bytes | None = None,
    header_key_length: int | None = None,
    length_adjust: int = 0,
) -> bytes:
    """One record's bytes, length prefix included. ``header_count``, ``key_length`` (raw varint bytes),
    ``header_key_length`` and ``length_adjust`` (added to the length prefix) lie on purpose."""
    body = bytearray(b"\x00")
    body += zigzag(timestamp_delta) + zigzag(offset_delta)
    if key_length is not None:
        body += key_length + (key or b"")
    else:
        body += zigzag(-1) if key is None else zigzag(len(key)) + key
    body += zigzag(-1) if value is None else zigzag(len(value)) + value
    body += zigzag(len(headers) if header_count is None else header_count)
    for header_key, header_value in headers:
        body += zigzag(len(header_key) if header_key_length is None else header_key_length) + header_key
        body += zigzag(-1) if header_value is None else zigzag(len(header_value)) + header_value
    return zigzag(len(body) + length_adjust) + bytes(body)


def good_values(count: int, tag: str) -> list[bytes]:
    return [f"{tag}-{i}".encode() for i in range(count)]


def good_batch(values: list[bytes], *, codec: int = Codec.NONE, key: bytes | None = b"k") -> bytes:
    """A producer-style batch (base offset 0, one timestamp) of ``values``, from kopfka's builder."""
    now = int(time.time() * 1000)
    return build_batch([Record(i, now, key, v) for i, v in enumerate(values)], base_offset=0, compression=codec)


def with_section(
    batch: bytes,
    section: bytes,
    *,
    count: int | None = None,
    codec: int | None = None,
    last_offset_delta: int | None = None,
) -> bytes:
    """``batch`` with its records section replaced by ``section`` (stored as is: compress it first if the
    codec says so), the record count / last offset delta / codec set as told, and the length and CRC
    recomputed so that the header is consistent with the bytes."""
    out = bytearray(batch[:RECORDS_OFFSET] + section)
    struct.pack_into(">i", out, 8, len(out) - 12)
    if codec is not None:
        attributes = struct.unpack_from(">h", out, 21)[0]
        struct.pack_into(">h", out, 21, (attributes & ~0x07) | codec)
    if last_offset_delta is not None:
        struct.pack_into(">i", out, 23, last_offset_delta)
    if count is not None:
        COUNT.pack_into(out, 57, count)
    CRC.pack_into(out, 17, crc32c(memoryview(out)[21:]))
    return bytes(out)


def records_section(values: list[bytes], *, key: bytes | None = b"k") -> bytes:
    return b"".join(raw_record(i, v, key=key) for i, v in enumerate(values))


def _three() -> list[bytes]:
    return good_values(3, "v")


def _middle(bad: bytes) -> bytes:
    """Three records, the middle one ``bad``, under a good batch's header."""
    values = _three()
    return with_section(good_batch(values), raw_record(0, values[0]) + bad + raw_record(2, values[2]))


def count_above_records() -> bytes:
    values = _three()
    return with_section(good_batch(values), records_section(values), count=4, last_offset_delta=3)


def count_below_records() -> bytes:
    values = _three()
    return with_section(good_batch(values), records_section(values), count=2, last_offset_delta=1)


def garbage_records() -> bytes:
    batch = good_batch(good_values(20, "garbage"))
    section = bytes((i * 151 + 89) % 256 for i in range(len(batch) - RECORDS_OFFSET))
    return with_section(batch, section)


def record_longer_than_batch() -> bytes:
    values = _three()
    section = raw_record(0, values[0]) + raw_record(1, values[1]) + raw_record(2, values[2], length_adjust=40)
    return with_section(good_batch(values), section)


def record_length_below_its_fields() -> bytes:
    return _middle(raw_record(1, b"v-1", length_adjust=-2))


def offset_deltas_not_increasing() -> bytes:
    values = _three()
    section = raw_record(0, values[0]) + raw_record(2, values[1]) + raw_record(1, values[2])
    return with_section(good_batch(values), section)


def offset_delta_out_of_range() -> bytes:
    return _middle(raw_record(7, b"v-1"))


def header_count_int32_max() -> bytes:
    return _middle(raw_record(1, b"v-1", header_count=2**31 - 1))


def negative_header_count() -> bytes:
    return _middle(raw_record(1, b"v-1", header_count=-3))


def negative_header_key_length() -> bytes:
    return _middle(raw_record(1, b"v-1", headers=((b"h", b"x"),), header_key_length=-2))


def negative_key_length() -> bytes:
    """A key length of -5: only -1 means null."""
    return _middle(raw_record(1, b"v-1", key_length=zigzag(-5)))


def key_longer_than_record() -> bytes:
    return _middle(raw_record(1, b"v-1", key=b"k", key_length=zigzag(100)))


def varint_too_long() -> bytes:
    """The key length (-1, null) written in six bytes: longer than Kafka's five-byte int32 varint."""
    return _middle(raw_record(1, b"v-1", key_length=b"\x81\x80\x80\x80\x80\x00"))


def bytes_after_the_last_record() -> bytes:
    values = _three()
    return with_section(good_batch(values), records_section(values) + b"\x00\x00\x00")


def garbage_body(codec: int) -> Callable[[], bytes]:
    """The first half of a plain records section, flagged as compressed with ``codec``."""

    def make() -> bytes:
        values = good_values(20, f"codec-{codec}")
        plain = records_section(values)
        return with_section(good_batch(values), plain[: len(plain) // 2], codec=codec)

    make.__name__ = f"{Codec(codec).name.lower()}_flag_on_a_plain_body"
    return make


def gzip_of_garbage_records() -> bytes:
    values = good_values(20, "gz")
    plain = bytes((i * 151 + 89) % 256 for i in range(len(records_section(values))))
    return with_section(good_batch(values), gzip.compress(plain), codec=Codec.GZIP)


def lz4_frame_then_bytes() -> bytes:
    """A good lz4 frame followed by bytes that are not (librdkafka's consumer refuses them)."""
    values = good_values(20, "lz4")
    body = lz4.frame.compress(records_section(values)) + b"trailing"
    return with_section(good_batch(values), body, codec=Codec.LZ4)


def zstd_bomb() -> bytes:
    """200 MB of valid records (10 KB values of zeros) in an 88 KB zstd frame."""
    count = 20_000
    value = bytes(10_000)
    plain = b"".join(raw_record(i, value) for i in range(count))
    return with_section(good_batch([b"x"]), bytes(cramjam.zstd.compress(plain, level=3)), count=count,
                        last_offset_delta=count - 1, codec=Codec.ZSTD)


def gzip_bomb() -> bytes:
    """A 1 MB gzip member of 1 GB of zeros (never a valid records section)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    body = b"".join(deflater.compress(chunk) for _ in range(1024)) + deflater.flush()
    return with_section(good_batch(good_values(3, "bomb")), body, count=3, codec=Codec.GZIP)


@dataclass(frozen=True)
class Damage:
    """One kind of damage: ``make()`` returns the damaged batch (a fresh timestamp each call)."""

    make: Callable[[], bytes]
    code: ErrorCode
    """What kopfka answers."""
    kafka: ErrorCode
    """What Apache Kafka 3.9.2 answered for the same bytes."""

    @property
    def name(self) -> str:
        return self.make.__name__


_STRICTER = ErrorCode.NONE  # Kafka 3.9.2 accepted (and stored) these bytes
CATALOGUE = [
    Damage(count_above_records, ErrorCode.INVALID_RECORD, ErrorCode.INVALID_RECORD),
    Damage(count_below_records, ErrorCode.INVALID_RECORD, ErrorCode.INVALID_RECORD),
    Damage(garbage_records, ErrorCode.INVALID_RECORD, ErrorCode.INVALID_RECORD),
    Damage(record_longer_than_batch, ErrorCode.INVALID_RECORD, ErrorCode.INVALID_RECORD),
    Damage(record_length_below_its_fields, ErrorCode.INVALID_RECORD, ErrorCode.INVALID_RECORD),
    Damage(offset_deltas_not_increasing, ErrorCode.INVALID_RECORD, _STRICTER),
    Damage(offset_delta_out_of_range, ErrorCode.INVALID_RECORD, _STRICTER),
    Damage(header_count_int32_max, ErrorCode.INVALID_RECORD, ErrorCode.INVALID_RECORD),
    Damage(negative_header_count, ErrorCode.INVALID_RECORD, ErrorCode.INVALID_RECORD),
    Damage(negative_header_key_length, ErrorCode.INVALID_RECORD, ErrorCode.INVALID_RECORD),
    Damage(negative_key_length, ErrorCode.INVALID_RECORD, _STRICTER),
    Damage(key_longer_than_record, ErrorCode.INVALID_RECORD, ErrorCode.INVALID_RECORD),
    Damage(varint_too_long, ErrorCode.INVALID_RECORD, ErrorCode.INVALID_RECORD),
    Damage(bytes_after_the_last_record, ErrorCode.INVALID_RECORD, ErrorCode.INVALID_RECORD),
    Damage(gzip_of_garbage_records, ErrorCode.INVALID_RECORD, ErrorCode.INVALID_RECORD),
    *(Damage(garbage_body(codec), ErrorCode.CORRUPT_MESSAGE, ErrorCode.UNKNOWN_SERVER_ERROR)
      for codec in (Codec.GZIP, Codec.SNAPPY, Codec.LZ4, Codec.ZSTD)),
    Damage(lz4_frame_then_bytes, ErrorCode.CORRUPT_MESSAGE, _STRICTER),
    Damage(zstd_bomb, ErrorCode.MESSAGE_TOO_LARGE, _STRICTER),
    Damage(gzip_bomb, ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.INVALID_RECORD),
]
"""Every damage, kopfka's answer, and Kafka 3.9.2's. kopfka differs on purpose: offset deltas other than
the record's index and key lengths below -1 (Kafka stores them; consumers misread them), bytes after an
lz4 frame (Kafka ignores them, librdkafka's consumer fails on them), a section that does not decompress
(Kafka's UNKNOWN_SERVER_ERROR is an unhandled IOException; CORRUPT_MESSAGE says what is wrong), and
decompression beyond 64 x max.message.bytes (Kafka streams any size; a zero-filled gzip bomb fails its
record walk there, a valid zstd one is stored)."""
