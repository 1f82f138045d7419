"""Kafka record batches (magic v2): walk, validate and re-stamp them as bytes; decode/encode records on demand.

Wire layout of one batch (big-endian; kafka.apache.org/documentation/#recordbatch)::

    offset size  field
         0    8  baseOffset            int64   set by the broker (outside the CRC)
         8    4  batchLength           int32   bytes after this field (total size - 12)
        12    4  partitionLeaderEpoch  int32   set by the broker (outside the CRC)
        16    1  magic                 int8    2 (0 and 1 are the legacy message formats)
        17    4  crc                   uint32  CRC-32C of bytes 21..end
        21    2  attributes            int16   bits 0-2 codec, 3 timestamp type (1 = LogAppendTime),
                                               4 transactional, 5 control
        23    4  lastOffsetDelta       int32
        27    8  baseTimestamp         int64
        35    8  maxTimestamp          int64
        43    8  producerId            int64   -1 without idempotence
        51    2  producerEpoch         int16
        53    4  baseSequence          int32
        57    4  recordsCount          int32
        61       records               the codec compresses exactly this section

    record := length varint | attributes int8 | timestampDelta varlong | offsetDelta varint
              | keyLength varint | key | valueLength varint | value
              | headerCount varint | (headerKeyLength varint | key utf-8 | valueLength varint | value)*
    (varints are zigzag-encoded; a length of -1 means null)

The fetch path never looks at records, and neither does this module's check of a batch:
:func:`validate_batches` walks the headers, checks sizes, magic and the CRC (one C pass over each
batch), and :func:`assign_offsets` overwrites the two header fields that lie outside the CRC, so a
stored batch is byte-identical to the one received. A leader append also walks every record, without
decoding them into objects (:mod:`.validation`), before anything is stored.
Recompression only swaps the compressed section (records are encoded the same way compressed or
not), and LogAppendTime rewrites ``attributes``/``maxTimestamp`` and the CRC. :func:`decode_records`
and :func:`build_batch` are for features that need individual records (offset-for-timestamp inside
one batch, compaction, coordinators, tests).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

from crc32c import crc32c

from kafka_broker.protocol.errors import (
    CorruptRecordError,
    ErrorCode,
    InvalidRecordError,
    RecordTooLargeError,
)
from kafka_broker.storage.compression import Codec, codec_of, compress, decompress

Buffer = bytes | bytearray | memoryview

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
BASE_OFFSET_OFFSET = 0
LENGTH_OFFSET = 8
PARTITION_LEADER_EPOCH_OFFSET = 12
MAGIC_OFFSET = 16
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
LAST_OFFSET_DELTA_OFFSET = 23
BASE_TIMESTAMP_OFFSET = 27
MAX_TIMESTAMP_OFFSET = 35
PRODUCER_ID_OFFSET = 43
PRODUCER_EPOCH_OFFSET = 51
BASE_SEQUENCE_OFFSET = 53
RECORDS_COUNT_OFFSET = 57
RECORDS_OFFSET = 61
LOG_OVERHEAD = 12  # baseOffset + batchLength: the bytes batchLength does not count
MIN_BATCH_LENGTH = HEADER_SIZE - LOG_OVERHEAD
MIN_RECORD_SIZE = 7  # length, attributes, two deltas, key/value lengths, header count: a byte each

MAGIC = 2
COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08
TRANSACTIONAL_MASK = 0x10
CONTROL_MASK = 0x20

CREATE_TIME = 0
LOG_APPEND_TIME = 1
NO_TIMESTAMP = -1

_INT64 = struct.Struct(">q")
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT16 = struct.Struct(">h")
_CONTROL_KEY = struct.Struct(">hh")
_CONTROL_VALUE = struct.Struct(">hi")


class BatchHeader(NamedTuple):
    """The header of one batch, and where it sits: ``buf[position:position + length]`` is the batch."""

    position: int
    length: int
    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def end(self) -> int:
        return self.position + self.length

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def timestamp_type(self) -> int:
        return LOG_APPEND_TIME if self.attributes & TIMESTAMP_TYPE_MASK else CREATE_TIME

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_MASK)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_MASK)

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id >= 0


def parse_header(buf: Buffer, position: int = 0, *, at: int | None = None) -> BatchHeader:
    """The header at ``buf[position:]`` (no checks; ``at`` overrides the reported position)."""
    fields = HEADER.unpack_from(buf, position)
    return BatchHeader._make((position if at is None else at, fields[1] + LOG_OVERHEAD, *fields))


def iter_batches(buf: Buffer) -> Iterator[BatchHeader]:
    """The batches that tile ``buf`` exactly; a torn one raises :class:`CorruptRecordError`.

    Only the framing is checked here (magic, header present, batch inside the buffer);
    :func:`validate_batches` adds the rest.
    """
    end = len(buf)
    position = 0
    while position < end:
        remaining = end - position
        if remaining < MAGIC_OFFSET + 1:
            raise CorruptRecordError(f"truncated batch header at byte {position}")
        magic = buf[position + MAGIC_OFFSET]
        if magic != MAGIC:
            if magic in (0, 1):
                raise InvalidRecordError(
                    f"message format v{magic} is not supported, only record batches v2",
                    code=ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT,
                )
            raise CorruptRecordError(f"unknown magic {magic} at byte {position}")
        if remaining < HEADER_SIZE:
            raise CorruptRecordError(f"truncated batch header at byte {position}")
        header = parse_header(buf, position)
        if header.batch_length < MIN_BATCH_LENGTH:
            raise CorruptRecordError(f"batch length {header.batch_length} below the header size")
        if header.length > remaining:
            raise CorruptRecordError(
                f"truncated batch at byte {position}: {header.length} bytes declared, {remaining} left"
            )
        yield header
        position += header.length


def batch_crc(buf: Buffer, header: BatchHeader) -> int:
    """CRC-32C over the part of the batch the ``crc`` field covers (attributes to the end)."""
    view = buf if isinstance(buf, memoryview) else memoryview(buf)
    return crc32c(view[header.position + ATTRIBUTES_OFFSET : header.end])


def validate_batches(buf: Buffer, *, max_batch_bytes: int, from_client: bool = True) -> list[BatchHeader]:
    """Check every batch of a produce payload (or replicated data) and return their headers.

    Per batch: v2 magic (v0/v1 → UNSUPPORTED_FOR_MESSAGE_FORMAT), header and batch complete
    (else CORRUPT_MESSAGE), size ≤ ``max_batch_bytes`` (MESSAGE_TOO_LARGE), CRC-32C, a known codec,
    a record count that fits the bytes (from a client INVALID_RECORD, Kafka's "premature EOF").
    ``from_client`` adds Kafka's checks on producer data: the count matches the offset range, no
    control batches, a producer id comes with a sequence. The records themselves are :mod:`.validation`'s.
    """
    view = buf if isinstance(buf, memoryview) else memoryview(buf)
    headers = []
    for header in iter_batches(view):
        if header.length > max_batch_bytes:
            raise RecordTooLargeError(f"batch of {header.length} bytes exceeds the maximum of {max_batch_bytes} bytes")
        if batch_crc(view, header) != header.crc:
            raise CorruptRecordError(f"CRC mismatch in the batch at byte {header.position}")
        codec_of(header.compression)
        count = header.record_count
        if count < 0 or header.last_offset_delta < 0:
            raise CorruptRecordError(f"negative record count or offset delta at byte {header.position}")
        if header.compression == Codec.NONE and count * MIN_RECORD_SIZE > header.length - HEADER_SIZE:
            # a producer hears Kafka's answer to a record section shorter than its count (INVALID_RECORD)
            error = InvalidRecordError if from_client else CorruptRecordError
            raise error(f"Incorrect declared batch size, premature EOF reached: {count} records cannot fit a "
                        f"batch of {header.length} bytes")
        if from_client:
            if count == 0 or count != header.last_offset_delta + 1:
                raise InvalidRecordError(
                    f"batch declares {count} records but an offset range of {header.last_offset_delta + 1}"
                )
            if header.is_control:
                raise InvalidRecordError("clients may not write control batches")
            if header.has_producer_id and header.base_sequence < 0:
                raise InvalidRecordError("a batch with a producer id needs a base sequence")
        elif count > header.last_offset_delta + 1:
            raise CorruptRecordError(f"{count} records in an offset range of {header.last_offset_delta + 1}")
        headers.append(header)
    return headers


def assign_offsets(
    buf: bytearray | memoryview,
    first_offset: int,
    partition_leader_epoch: int,
    *,
    batches: Iterable[BatchHeader] | None = None,
) -> list[BatchHeader]:
    """Stamp consecutive base offsets from ``first_offset`` and the leader epoch into ``buf`` in place.

    Both fields lie outside the CRC, so nothing else changes. ``batches`` (headers of ``buf``, e.g.
    from :func:`validate_batches`) saves walking the buffer again. Returns the updated headers.
    """
    stamped = []
    offset = first_offset
    for header in iter_batches(buf) if batches is None else batches:
        _INT64.pack_into(buf, header.position, offset)
        _INT32.pack_into(buf, header.position + PARTITION_LEADER_EPOCH_OFFSET, partition_leader_epoch)
        stamped.append(header._replace(base_offset=offset, partition_leader_epoch=partition_leader_epoch))
        offset += header.last_offset_delta + 1
    return stamped


def set_log_append_time(buf: bytearray | memoryview, header: BatchHeader, timestamp: int) -> BatchHeader:
    """Mark the batch at ``header.position`` as LogAppendTime ``timestamp`` and recompute its CRC."""
    attributes = header.attributes | TIMESTAMP_TYPE_MASK
    position = header.position
    _INT16.pack_into(buf, position + ATTRIBUTES_OFFSET, attributes)
    _INT64.pack_into(buf, position + MAX_TIMESTAMP_OFFSET, timestamp)
    updated = header._replace(attributes=attributes, max_timestamp=timestamp)
    crc = batch_crc(buf, updated)
    _UINT32.pack_into(buf, position + CRC_OFFSET, crc)
    return updated._replace(crc=crc)


def recompress_batch(batch: Buffer, *, codec: int, records: Buffer | None = None) -> bytes:
    """The batch at the start of ``batch`` with its records section re-encoded in ``codec``.

    Records are encoded identically inside and outside compression, so this swaps the section's
    codec without decoding a single record; header fields other than length/attributes/CRC stay.
    ``records``: the section already decompressed (by the validation), so it is not decompressed again.
    """
    view = batch if isinstance(batch, memoryview) else memoryview(batch)
    header = parse_header(view, 0)
    if records is None:
        records = decompress(header.compression, view[RECORDS_OFFSET : header.length])
    body = compress(codec, records)
    attributes = (header.attributes & ~COMPRESSION_MASK) | int(codec)
    out = bytearray(HEADER_SIZE + len(body))
    out[RECORDS_OFFSET:] = body
    fields = list(header[2:])
    fields[1] = len(out) - LOG_OVERHEAD
    fields[5] = attributes
    HEADER.pack_into(out, 0, *fields)
    _UINT32.pack_into(out, CRC_OFFSET, crc32c(memoryview(out)[ATTRIBUTES_OFFSET:]))
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Records: only for features that need them.


@dataclass(frozen=True, slots=True)
class Record:
    """One record with its absolute offset and timestamp; header keys are str, values bytes or None."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


class ControlRecordType(IntEnum):
    ABORT = 0
    COMMIT = 1


def control_record(offset: int, timestamp: int, *, commit: bool, coordinator_epoch: int) -> Record:
    """A transaction marker record (key: version 0 + type; value: version 0 + coordinator epoch)."""
    kind = ControlRecordType.COMMIT if commit else ControlRecordType.ABORT
    return Record(
        offset,
        timestamp,
        _CONTROL_KEY.pack(0, kind),
        _CONTROL_VALUE.pack(0, coordinator_epoch),
    )


def control_record_type(record: Record) -> ControlRecordType:
    """ABORT or COMMIT, from the key of a record of a control batch."""
    if record.key is None or len(record.key) < _CONTROL_KEY.size:
        raise CorruptRecordError("control record without a valid key")
    _version, kind = _CONTROL_KEY.unpack_from(record.key)
    try:
        return ControlRecordType(kind)
    except ValueError:
        raise CorruptRecordError(f"unknown control record type {kind}") from None


def decode_records(batch: Buffer) -> list[Record]:
    """Every record of the first batch in ``batch``, decompressed; bad bytes → CorruptRecordError."""
    view = batch if isinstance(batch, memoryview) else memoryview(batch)
    header = next(iter_batches(view), None)  # lazy: later batches in ``view`` are not examined
    if header is None:
        raise CorruptRecordError("no batch to decode")
    body = decompress(header.compression, view[RECORDS_OFFSET : header.length])
    try:
        return _decode_body(body, header)
    except (IndexError, ValueError) as exc:
        raise CorruptRecordError(f"malformed records in the batch at offset {header.base_offset}") from exc


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    byte = buf[pos]
    pos += 1
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos
    value = byte & 0x7F
    shift = 7
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (value >> 1) ^ -(value & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _bytes_field(buf: bytes, pos: int, end: int) -> tuple[bytes | None, int]:
    size, pos = _varint(buf, pos)
    if size < 0:
        return None, pos
    if pos + size > end:
        raise ValueError("field runs past the record")
    return buf[pos : pos + size], pos + size


def _decode_body(body: bytes, header: BatchHeader) -> list[Record]:
    records = []
    pos = 0
    total = len(body)
    log_append_time = header.timestamp_type == LOG_APPEND_TIME
    for _ in range(header.record_count):
        length, pos = _varint(body, pos)
        end = pos + length
        if length < MIN_RECORD_SIZE - 1 or end > total:
            raise ValueError("record length out of bounds")
        pos += 1  # record attributes: unused
        timestamp_delta, pos = _varint(body, pos)
        offset_delta, pos = _varint(body, pos)
        key, pos = _bytes_field(body, pos, end)
        value, pos = _bytes_field(body, pos, end)
        header_count, pos = _varint(body, pos)
        if header_count < 0 or header_count > end - pos:
            raise ValueError("bad header count")
        headers = []
        for _ in range(header_count):
            header_key, pos = _bytes_field(body, pos, end)
            if header_key is None:
                raise ValueError("null header key")
            header_value, pos = _bytes_field(body, pos, end)
            headers.append((header_key.decode("utf-8", "surrogateescape"), header_value))
        if pos != end:
            raise ValueError("record length does not match its fields")
        timestamp = header.max_timestamp if log_append_time else header.base_timestamp + timestamp_delta
        records.append(Record(header.base_offset + offset_delta, timestamp, key, value, tuple(headers)))
    if pos != total:
        raise ValueError("bytes left after the declared records")
    return records


def _put_varint(value: int, out: bytearray) -> None:
    value = (value << 1) ^ (value >> 63)
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _put_bytes(value: bytes | None, out: bytearray) -> None:
    if value is None:
        out.append(1)  # zigzag(-1)
    else:
        _put_varint(len(value), out)
        out += value


def _encode_record(record: Record, base_offset: int, base_timestamp: int, out: bytearray) -> None:
    body = bytearray(b"\x00")  # record attributes
    _put_varint(record.timestamp - base_timestamp, body)
    _put_varint(record.offset - base_offset, body)
    _put_bytes(record.key, body)
    _put_bytes(record.value, body)
    _put_varint(len(record.headers), body)
    for key, value in record.headers:
        _put_bytes(key.encode("utf-8", "surrogateescape"), body)
        _put_bytes(value, body)
    _put_varint(len(body), out)
    out += body


def build_batch(
    records: Iterable[Record],
    *,
    base_offset: int,
    compression: int = Codec.NONE,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    is_transactional: bool = False,
    is_control: bool = False,
    timestamp_type: int = CREATE_TIME,
    partition_leader_epoch: int = -1,
    max_timestamp: int | None = None,
    last_offset_delta: int | None = None,
) -> bytes:
    """Encode ``records`` (absolute offsets ≥ ``base_offset``) as one v2 batch.

    ``max_timestamp`` overrides the maximum of the records' timestamps (the LogAppendTime);
    ``last_offset_delta`` keeps an offset range wider than the records (compaction).
    """
    records = list(records)
    base_timestamp = records[0].timestamp if records else NO_TIMESTAMP
    if max_timestamp is None:
        max_timestamp = max((r.timestamp for r in records), default=NO_TIMESTAMP)
    if last_offset_delta is None:
        last_offset_delta = records[-1].offset - base_offset if records else 0
    section = bytearray()
    for record in records:
        _encode_record(record, base_offset, base_timestamp, section)
    body = compress(compression, section) if compression != Codec.NONE else section
    attributes = int(compression) & COMPRESSION_MASK
    if timestamp_type == LOG_APPEND_TIME:
        attributes |= TIMESTAMP_TYPE_MASK
    if is_transactional:
        attributes |= TRANSACTIONAL_MASK
    if is_control:
        attributes |= CONTROL_MASK
    out = bytearray(HEADER_SIZE + len(body))
    out[RECORDS_OFFSET:] = body
    HEADER.pack_into(
        out,
        0,
        base_offset,
        len(out) - LOG_OVERHEAD,
        partition_leader_epoch,
        MAGIC,
        0,
        attributes,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        len(records),
    )
    _UINT32.pack_into(out, CRC_OFFSET, crc32c(memoryview(out)[ATTRIBUTES_OFFSET:]))
    return bytes(out)
