"""Record-level validation of a leader append: every record of every batch walked before it is stored.

:func:`.records.validate_batches` checks what the batch header and the CRC-32C can tell; a batch whose
CRC is right can still hold records that no consumer can read (the CRC is the producer's, computed over
whatever it wrote). Kafka's leader therefore walks every record (``LogValidator``, reading them with
``DefaultRecordBatch``'s iterators and ``DefaultRecord.readFrom``), decompressing compressed batches
first, and refuses the partition's whole produce request if one record is malformed. So does
:func:`validate_records`, called by :meth:`.log.PartitionLog.append_as_leader` before anything is written.

What is checked, per batch (``count`` is the header's record count)::

    the records section (decompressed: its codec must decode it, into at most
      MAX_DECOMPRESSION_RATIO x max.message.bytes)         CORRUPT_MESSAGE / MESSAGE_TOO_LARGE
    exactly ``count`` records, then no byte left           INVALID_RECORD
    per record: length varint (<= 5 bytes), record inside the section, attributes byte,
      timestampDelta varlong (<= 10 bytes), offsetDelta varint == the record's index,
      keyLength / valueLength varints >= -1 and inside the record, headerCount >= 0 and no
      more than the bytes left, each header key length >= 0 and value length >= -1 inside
      the record, and the fields ending exactly at the record's length                INVALID_RECORD
    a compacted topic: every record has a key   INVALID_RECORD, with record_errors (as Kafka)

Kafka's sources and its answers (Apache Kafka 3.9.2 was sent the same bytes: see
``tests/unit/storage/damaged_batches.py``): a structural fault is an ``InvalidRecordException``
thrown by ``DefaultRecord.readFrom`` / ``DefaultRecordBatch.RecordIterator`` ("Incorrect declared batch
size, premature EOF reached", "... records still remaining in file", "Invalid record size", "Found invalid
number of record headers", "Invalid negative header key size", "Found invalid record structure" for a
varint longer than 5/10 bytes) → INVALID_RECORD, answered by ``ReplicaManager.appendToLocalLog``'s
generic branch, without record_errors; a compacted topic's keyless records are
``LogValidator.validateKey``'s ``RecordValidationException`` → INVALID_RECORD with record_errors (index
and message of each) and the summary error_message. kopfka is stricter than Kafka in three places,
because each of these stores bytes that consumers then misread: an offset delta other than the record's
index (Kafka stores an uncompressed batch as is and rewrites a compressed one), a key / value / header
value length below -1 (Kafka reads any negative length as null), and a records section that does not
decompress — Kafka answers UNKNOWN_SERVER_ERROR there (its ``KafkaException`` wrapping the codec's
``IOException``), kopfka CORRUPT_MESSAGE, as its other decompression failures. A section that would
decompress beyond the bound is MESSAGE_TOO_LARGE (Kafka has no bound: it streams the records).

The walk builds no Python object per record. Records are read from the section's bytes with plain
integer arithmetic, and runs of records with one layout — every varint the same size, the same key and
value lengths, no headers, as a producer writes fixed-size records — are checked column by column
instead: once a record has been walked, the next ones of its size are assumed to share its layout, and
each byte column of the layout is checked for the whole run at once with C-level operations on a strided
slice (length, key-length, value-length and header-count bytes equal to the walked record's; timestamp
bytes forming a varint of the same size; offset-delta bytes equal to the encoding of each record's
index). A run ends at the first record that differs in any column; the walk goes on from there. Runs are
checked in growing chunks (256 records, then 4x, so a short run wastes little), and after a run that
failed at once fewer are tried, so records of changing sizes cost the plain walk and little more.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import cramjam
import lz4.frame

from kafka_broker.protocol.errors import CorruptRecordError, InvalidRecordError, RecordTooLargeError
from kafka_broker.storage.compression import XERIAL_MAGIC, Codec
from kafka_broker.storage.records import RECORDS_OFFSET, BatchHeader, Buffer

MAX_DECOMPRESSION_RATIO = 64
"""A compressed records section may decompress to at most this many times the topic's max.message.bytes
(64 MiB at Kafka's default of 1 MiB): a decompression bomb is refused before it can take the memory.
librdkafka's consumers refuse zstd batches above receive.message.max.bytes (100 MB) the same way."""

_MAX_RECORD_ERRORS_SHOWN = 3  # Kafka's summary message shows at most three record errors


class RecordValidationError(InvalidRecordError):
    """Records refused one by one (Kafka's ``RecordValidationException``): ``record_errors`` lists each
    refused record's index in its batch and why; the Produce response carries them (v8+)."""

    def __init__(self, record_errors: Sequence[tuple[int, str]]) -> None:
        shown = ", ".join(
            f"RecordError(batchIndex={index}, message='{message}')"
            for index, message in record_errors[:_MAX_RECORD_ERRORS_SHOWN]
        )
        super().__init__(
            f"One or more records have been rejected due to {len(record_errors)} record errors in total, and only "
            f"showing the first three errors at most: [{shown}]"
        )
        self.record_errors = list(record_errors)


def validate_records(
    view: memoryview,
    headers: Sequence[BatchHeader],
    *,
    max_batch_bytes: int,
    require_keys: bool = False,
    partition: str = "",
    keep_sections: bool = False,
) -> list[bytes | None]:
    """Walk every record of the batches of ``view`` (headers from :func:`.records.validate_batches`).

    ``require_keys``: a compacted topic's records need keys. With ``keep_sections``, returns each
    compressed batch's decompressed records section (None for an uncompressed one), so that a
    recompression need not decompress again; otherwise a list of None.
    Raises :class:`InvalidRecordError` (INVALID_RECORD), :class:`RecordValidationError` (INVALID_RECORD
    with record errors), :class:`CorruptRecordError` or :class:`RecordTooLargeError`.
    """
    sections: list[bytes | None] = []
    limit = MAX_DECOMPRESSION_RATIO * max_batch_bytes
    scratch = _take_scratch()
    try:
        for header in headers:
            section = view[header.position + RECORDS_OFFSET : header.end]
            records, size, scratch = _records_section(header.compression, section, limit, scratch)
            keyless = walk_records(records, header.record_count, size=size,
                                   require_keys=require_keys and not header.is_control,
                                   where=f"in topic partition {partition} (batch at byte {header.position})")
            if keyless:
                message = f"Compacted topic cannot accept message without key in topic partition {partition}."
                raise RecordValidationError([(index, message) for index in keyless])
            sections.append(bytes(records[:size]) if keep_sections and header.compression else None)
    finally:
        _give_scratch(scratch)
    return sections


# ---------------------------------------------------------------------------------------------
# One reusable buffer for the records sections.
#
# A records section is copied (uncompressed: the walk reads bytes far faster than a memoryview) or
# decompressed into it. A fresh buffer per batch would cost more than the walk: glibc maps a buffer of
# a megabyte or more and unmaps it when freed, so each batch would fault in every page again.

_SCRATCH: list[bytearray] = []  # holds the idle buffer; taken while in use, so two threads never share it
_SCRATCH_KEPT = 16 << 20  # a bigger buffer (a big batch) is dropped after use


def _take_scratch() -> bytearray:
    return _SCRATCH.pop() if _SCRATCH else bytearray()


def _give_scratch(scratch: bytearray) -> None:
    if len(scratch) <= _SCRATCH_KEPT and not _SCRATCH:
        _SCRATCH.append(scratch)


def _room(scratch: bytearray, size: int) -> bytearray:
    return scratch if len(scratch) >= size else bytearray(max(size, 2 * len(scratch)))


def _records_section(
    codec: int, section: memoryview, limit: int, scratch: bytearray
) -> tuple[bytes | bytearray, int, bytearray]:
    """The records section to walk (decompressed), its size, and the scratch buffer (perhaps a bigger one)."""
    if codec == Codec.NONE:
        size = len(section)
        scratch = _room(scratch, size)
        memoryview(scratch)[:size] = section  # one memcpy (bytearray slice assignment makes two)
        return scratch, size, scratch
    if codec == Codec.LZ4:
        frame = _lz4_frame_bound(section)
        if frame is not None and frame[0] <= limit and frame[1] == len(section):  # one frame, nothing after
            scratch = _room(scratch, frame[0])
            try:
                size = cramjam.lz4.decompress_into(section, scratch)
            except cramjam.DecompressionError as exc:
                raise CorruptRecordError(f"cannot decompress lz4 records: {exc}") from exc
            return scratch, size, scratch
    elif codec == Codec.ZSTD:
        scratch = _room(scratch, min(max(4 * len(section), 1 << 16), limit + 1))
        size, scratch = _zstd_into(section, scratch, limit)
        return scratch, size, scratch
    body = decompress_bounded(codec, section, limit=limit)
    return body, len(body), scratch


# ---------------------------------------------------------------------------------------------
# Decompression within a bound.


def decompress_bounded(codec: int, data: Buffer, *, limit: int) -> bytes:
    """The records section ``data`` decoded with ``codec``; more than ``limit`` bytes of output is
    :class:`RecordTooLargeError` (found without producing more than about ``limit``), an undecodable
    stream :class:`CorruptRecordError`. Decodes what :func:`.compression.decompress` decodes."""
    name = Codec(codec).name.lower()
    try:
        if codec == Codec.GZIP:
            out = _gzip(data, limit)
        elif codec == Codec.SNAPPY:
            out = _snappy(data, limit)
        elif codec == Codec.LZ4:
            out = _lz4(data, limit)
        else:
            out = _zstd(data, limit)
    except (CorruptRecordError, RecordTooLargeError):
        raise
    except Exception as exc:  # every decoder has its own exception types
        raise CorruptRecordError(f"cannot decompress {name} records: {exc}") from exc
    if len(out) > limit:
        raise _too_large(name, limit)
    return out


def _too_large(name: str, limit: int) -> RecordTooLargeError:
    return RecordTooLargeError(
        f"{name} records decompress to more than {limit} bytes ({MAX_DECOMPRESSION_RATIO} x max.message.bytes)"
    )


def _gzip(data: Buffer, limit: int) -> bytes:
    out: list[bytes] = []
    total = 0
    rest = memoryview(data)
    while rest:
        inflater = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header
        chunk = inflater.decompress(rest, limit + 1 - total)
        total += len(chunk)
        out.append(chunk)
        if total > limit:
            raise _too_large("gzip", limit)
        if not inflater.eof:
            raise CorruptRecordError("cannot decompress gzip records: truncated stream")
        rest = memoryview(inflater.unused_data)
    return out[0] if len(out) == 1 else b"".join(out)


def _lz4(data: Buffer, limit: int) -> bytes:
    decompressor = lz4.frame.LZ4FrameDecompressor()
    frame = _lz4_frame_bound(memoryview(data))
    if frame is not None and frame[0] <= limit:  # cannot exceed the limit: decode in one call
        out = [decompressor.decompress(data)]
    else:  # a bomb, or a frame this walk does not read: decode in chunks, counting
        out = [decompressor.decompress(data, max_length=min(4 * len(data), limit + 1))]
    total = len(out[0])
    while not decompressor.eof:
        if decompressor.needs_input:
            raise CorruptRecordError("cannot decompress lz4 records: truncated frame")
        more = decompressor.decompress(b"", max_length=min(max(total, 1 << 16), limit + 1 - total))
        total += len(more)
        out.append(more)
        if total > limit:
            raise _too_large("lz4", limit)
    if decompressor.unused_data:  # librdkafka's consumer refuses bytes after the frame (Kafka ignores them)
        raise CorruptRecordError(f"{len(decompressor.unused_data)} bytes after the lz4 frame")
    return out[0] if len(out) == 1 else b"".join(out)


_LZ4_MAGIC = b"\x04\x22\x4d\x18"
_LZ4_BLOCK_MAX = {4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20}


def _lz4_frame_bound(frame: memoryview) -> tuple[int, int] | None:
    """``(bound, end)``: at most how many bytes the lz4 frame at the start of ``frame`` decodes to, from its
    header and block headers (the content size, or the number of blocks times their maximum size), and
    where the frame ends; None if the frame is not one this can read."""
    if len(frame) < 7 or frame[:4] != _LZ4_MAGIC:
        return None
    flags = frame[4]
    block_max = _LZ4_BLOCK_MAX.get((frame[5] >> 4) & 0x07)
    if block_max is None:
        return None
    content_size = int.from_bytes(frame[6:14], "little") if flags & 0x08 else None
    position = 7 + (8 if flags & 0x08 else 0) + (4 if flags & 0x01 else 0)  # content size, dictionary id, checksum
    checksum = 4 if flags & 0x10 else 0
    blocks = 0
    while position + 4 <= len(frame):
        size = int.from_bytes(frame[position : position + 4], "little") & 0x7FFFFFFF
        position += 4
        if size == 0:  # end mark, then the content checksum
            end = position + (4 if flags & 0x04 else 0)
            return (blocks * block_max if content_size is None else content_size), end
        blocks += 1
        position += size + checksum
    return None


def _zstd(data: Buffer, limit: int) -> bytes:
    size, out = _zstd_into(data, bytearray(min(max(4 * len(data), 1 << 16), limit + 1)), limit)
    return bytes(memoryview(out)[:size])


def _zstd_into(data: Buffer, out: bytearray, limit: int) -> tuple[int, bytearray]:
    """Decode zstd frames into ``out``, or a 4x bigger buffer as often as needed (up to ``limit``)."""
    while True:
        try:
            written = cramjam.zstd.decompress_into(data, out)
        except cramjam.DecompressionError as exc:
            if "whole buffer" not in str(exc):  # cramjam's "failed to write whole buffer": out is full
                raise CorruptRecordError(f"cannot decompress zstd records: {exc}") from exc
            written = len(out)
        if written < len(out):
            return written, out
        if len(out) > limit:  # full beyond the limit
            raise _too_large("zstd", limit)
        out = bytearray(min(4 * len(out), limit + 1))


def _snappy(data: Buffer, limit: int) -> bytes:
    view = memoryview(data)
    if bytes(view[:8]) != XERIAL_MAGIC:
        if cramjam.snappy.decompress_raw_len(view) > limit:
            raise _too_large("snappy", limit)
        return bytes(cramjam.snappy.decompress_raw(view))
    if len(view) < 16:
        raise CorruptRecordError("cannot decompress snappy records: truncated xerial header")
    blocks = []
    declared = 0
    position = 16
    while position < len(view):
        if position + 4 > len(view):
            raise CorruptRecordError("cannot decompress snappy records: truncated xerial block length")
        size = int.from_bytes(view[position : position + 4], "big", signed=True)
        position += 4
        if size < 0 or position + size > len(view):
            raise CorruptRecordError("cannot decompress snappy records: truncated xerial block")
        block = view[position : position + size]
        declared += cramjam.snappy.decompress_raw_len(block)
        if declared > limit:
            raise _too_large("snappy", limit)
        blocks.append(block)
        position += size
    return b"".join(bytes(cramjam.snappy.decompress_raw(block)) for block in blocks)


# ---------------------------------------------------------------------------------------------
# The record walk.


class _Malformed(Exception):
    """Internal: the walk found a fault; :func:`walk_records` adds where and raises INVALID_RECORD."""


_HIGH_BYTES = re.compile(rb"[\x80-\xff]*")
_LOW_BYTES = re.compile(rb"[\x00-\x7f]*")
_FIRST_RUN = 256
_RUN_GROWTH = 4


def walk_records(
    records: Buffer, count: int, *, size: int | None = None, require_keys: bool = False, where: str = ""
) -> list[int]:
    """Check that ``records[:size]`` holds exactly ``count`` well-formed records (see the module docstring).

    Returns the indexes of keyless records when ``require_keys`` (else an empty list);
    a structural fault raises :class:`InvalidRecordError`.
    """
    data = records if isinstance(records, bytes | bytearray) else bytes(records)
    try:
        return _walk(data, len(data) if size is None else size, count, require_keys)
    except _Malformed as exc:
        raise InvalidRecordError(f"{exc} {where}".rstrip()) from None
    except IndexError:
        raise InvalidRecordError(f"Incorrect declared batch size, premature EOF reached {where}".rstrip()) from None


def _varint(data: bytes | bytearray, position: int, max_bytes: int) -> tuple[int, int]:
    """A zigzag varint of at most ``max_bytes`` bytes (5: int32, 10: int64) at ``position``.

    Bits beyond 32 (64) are refused; Kafka's ``ByteUtils`` drops them silently."""
    value = 0
    shift = 0
    for _ in range(max_bytes):
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value >> (32 if max_bytes == 5 else 64):
                raise _Malformed("Found invalid record structure: varint beyond its type's range")
            return (value >> 1) ^ -(value & 1), position
        shift += 7
    raise _Malformed("Found invalid record structure: varint longer than its type allows")


def _walk(data: bytes | bytearray, total: int, count: int, require_keys: bool) -> list[int]:
    # The hot loop: varints of one and two bytes (every length up to 8 KiB, every offset delta up to 8191)
    # are decoded inline, longer ones by _varint. Zigzag: (u >> 1) ^ -(u & 1). ``data`` may extend past
    # ``total`` (a reused buffer): a read past the section only happens after a field that overran its
    # record, and position only grows, so the record's end check refuses it whatever was read.
    keyless: list[int] = []
    position = 0
    index = 0
    skip_runs = 0  # records to walk before trying a run again (after runs that failed at once)
    backoff = 1
    while index < count:
        start = position
        # record length
        byte = data[position]
        if byte < 0x80:
            length = (byte >> 1) ^ -(byte & 1)
            position += 1
        elif data[position + 1] < 0x80:
            length = (byte & 0x7F) | (data[position + 1] << 7)
            length = (length >> 1) ^ -(length & 1)
            position += 2
        else:
            length, position = _varint(data, position, 5)
        end = position + length
        if length <= 0 or end > total:
            if length > 0:
                raise _Malformed(
                    f"Invalid record size: expected {length} bytes in record payload, but instead the buffer has "
                    f"only {total - position} remaining bytes (record {index})"
                )
            raise _Malformed(f"Invalid record size {length} (record {index})")
        length_end = position
        # attributes (any value), then timestampDelta (varlong)
        position += 1
        if data[position] < 0x80:
            position += 1
        elif data[position + 1] < 0x80:
            position += 2
        else:
            _, position = _varint(data, position, 10)
        timestamp_end = position
        # offsetDelta
        byte = data[position]
        if byte < 0x80:
            offset_delta = (byte >> 1) ^ -(byte & 1)
            position += 1
        elif data[position + 1] < 0x80:
            offset_delta = (byte & 0x7F) | (data[position + 1] << 7)
            offset_delta = (offset_delta >> 1) ^ -(offset_delta & 1)
            position += 2
        else:
            offset_delta, position = _varint(data, position, 5)
        if offset_delta != index:
            raise _Malformed(f"Record {index} has offset delta {offset_delta}, not {index}")
        offset_end = position
        # key
        byte = data[position]
        null_key = byte == 1
        if null_key:
            position += 1
        elif byte < 0x80 and not byte & 1:
            position += 1 + (byte >> 1)
        else:
            size, position = _varint(data, position, 5)
            if size >= 0:
                position += size
            elif size == -1:
                null_key = True
            else:
                raise _Malformed(f"Invalid key size {size} (record {index})")
        if null_key and require_keys:
            keyless.append(index)
        key_end = position
        # value
        byte = data[position]
        if byte < 0x80 and not byte & 1:
            position += 1 + (byte >> 1)
        elif byte & 1 == 0 and data[position + 1] < 0x80:
            position += 2 + (((byte & 0x7F) | (data[position + 1] << 7)) >> 1)
        elif byte == 1:  # null
            position += 1
        else:
            size, position = _varint(data, position, 5)
            if size >= 0:
                position += size
            elif size != -1:
                raise _Malformed(f"Invalid value size {size} (record {index})")
        value_end = position
        # headers
        if position >= end:
            raise _Malformed(f"Invalid record size: record {index} ends before its header count")
        headers = data[position]
        if headers == 0:
            position += 1
        else:
            headers, position = _varint(data, position, 5)
            if headers < 0:
                raise _Malformed(f"Found invalid number of record headers {headers} (record {index})")
            if headers > end - position:
                raise _Malformed(
                    f"Found invalid number of record headers. {headers} is larger than the remaining size of the "
                    f"buffer (record {index})"
                )
            position = _skip_headers(data, position, end, headers, index)
        if position != end:
            raise _Malformed(
                f"Invalid record size: expected to read {length} bytes in record payload, but instead read "
                f"{position - length_end} (record {index})"
            )
        index += 1
        if headers or index == count:
            continue
        if skip_runs:
            skip_runs -= 1
            continue
        # A run of records laid out like this one? Only worth trying if the next one has its length.
        if data[end] != data[start] or (length_end - start > 1 and data[end + 1] != data[start + 1]):
            continue
        size = end - start
        constant = (  # the length, key length and value length varints, the header count
            (0, length_end - start),
            (offset_end - start, offset_end - start + _varint_size(data, offset_end)),
            (key_end - start, key_end - start + _varint_size(data, key_end)),
            (value_end - start, size),
        )
        timestamp = (timestamp_end - length_end - 1, length_end + 1 - start)  # (varint size, column)
        offset = (offset_end - timestamp_end, timestamp_end - start)
        ran = _run(data, total, start, size, index, count, constant, timestamp, offset)
        if ran:
            if null_key and require_keys:  # the run's records share this one's (null) key length
                keyless.extend(range(index, index + ran))
            index += ran
            position = end + ran * size
            backoff = 1
        else:
            skip_runs = backoff
            backoff = min(2 * backoff, 64)
    if position != total:
        raise _Malformed(f"Incorrect declared batch size, records still remaining in file ({total - position} bytes)")
    return keyless


def _varint_size(data: bytes | bytearray, position: int) -> int:
    """The size of the (already read, so well-formed) varint at ``position``."""
    size = 1
    while data[position + size - 1] >= 0x80:
        size += 1
    return size


def _skip_headers(data: bytes | bytearray, position: int, end: int, count: int, index: int) -> int:
    for _ in range(count):
        size, position = _varint(data, position, 5)
        if size < 0:
            raise _Malformed(f"Invalid negative header key size {size} (record {index})")
        position += size
        size, position = _varint(data, position, 5)
        if size >= 0:
            position += size
        elif size != -1:
            raise _Malformed(f"Invalid header value size {size} (record {index})")
        if position > end:
            raise _Malformed(f"Invalid record size: record {index}'s headers run past its end")
    return position


def _run(
    data: bytes | bytearray,
    total: int,
    template: int,
    size: int,
    first: int,
    count: int,
    constant: tuple[tuple[int, int], ...],
    timestamp: tuple[int, int],
    offset: tuple[int, int],
) -> int:
    """How many records from index ``first`` (just after the walked record at ``template``, ``size``
    bytes) share its layout: ``constant`` column ranges hold the same bytes, ``timestamp`` = (varint
    size, column) a varint of that size, ``offset`` = (varint size, column) the record's index."""
    offset_size, offset_column = offset
    # the offset delta must keep its varint size (zigzag: 2 * index < 2 ** (7 * size))
    available = min(count, 1 << (7 * offset_size - 1)) - first
    available = min(available, (total - template - size) // size)
    same = [(column, bytes((data[template + column],))) for begin, end in constant for column in range(begin, end)]
    timestamp_size, timestamp_column = timestamp
    continued = range(timestamp_column, timestamp_column + timestamp_size - 1)  # varint bytes >= 0x80
    last = timestamp_column + timestamp_size - 1  # and its last byte < 0x80
    accepted = 0
    chunk = _FIRST_RUN
    origin = template + size  # where record ``first`` starts
    while available > 0:
        m = min(chunk, available)
        base = origin + accepted * size
        stop = base + m * size
        good = m
        for column, value in same:
            cells = data[base + column : stop : size]
            if cells != value * m:  # memset + memcmp: faster than bytes.count
                good = min(good, m - len(cells.lstrip(value)))
        for column in continued:
            good = min(good, _prefix(_HIGH_BYTES, data[base + column : stop : size]))
        cells = data[base + last : stop : size]
        if not cells.isascii():
            good = min(good, _prefix(_LOW_BYTES, cells))
        index = first + accepted
        for k in range(offset_size):
            cells = data[base + offset_column + k : stop : size]
            expected = _offset_column(offset_size, k, index, index + m)
            if cells != expected:
                good = min(good, _common_prefix(cells, expected))
        accepted += good
        if good < m:
            break
        available -= m
        chunk *= _RUN_GROWTH
    return accepted


def _prefix(pattern: re.Pattern[bytes], cells: bytes | bytearray) -> int:
    """How many leading bytes of ``cells`` the (always matching) ``pattern`` covers."""
    match = pattern.match(cells)
    return match.end() if match else 0


def _common_prefix(a: bytes | bytearray, b: bytes) -> int:
    """The length of the common prefix of two equally long byte strings."""
    difference = int.from_bytes(a, "big") ^ int.from_bytes(b, "big")
    return len(a) - 1 - (difference.bit_length() - 1) // 8


_OFFSET_COLUMNS: dict[tuple[int, int], bytes] = {}
_CACHED_INDEXES = 1 << 17


def _offset_column(size: int, k: int, start: int, stop: int) -> bytes:
    """Byte ``k`` of the ``size``-byte varint encoding of zigzag(i), for i in ``start..stop-1``."""
    cached = min(_CACHED_INDEXES, 1 << (7 * size - 1))
    if stop <= cached:
        column = _OFFSET_COLUMNS.get((size, k))
        if column is None:
            column = _OFFSET_COLUMNS[(size, k)] = _build_offset_column(size, k, 0, cached)
        return column[start:stop]
    return _build_offset_column(size, k, start, stop)


def _build_offset_column(size: int, k: int, start: int, stop: int) -> bytes:
    continuation = 0x80 if k < size - 1 else 0
    if k == 0:  # (2i) & 0x7f: period 64
        period = bytes(((2 * i) & 0x7F) | continuation for i in range(64))
        first = start % 64
        return (period * ((stop - start + first) // 64 + 1))[first : first + stop - start]
    shift = 7 * k - 1  # (2i >> 7k) = i >> (7k - 1): each value repeated 2 ** shift times
    pieces = []
    position = start
    while position < stop:
        value = position >> shift
        upto = min(stop, (value + 1) << shift)
        pieces.append(bytes((value & 0x7F | continuation,)) * (upto - position))
        position = upto
    return b"".join(pieces)
