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

The walk itself (:func:`.record_walk.walk_records`) builds no Python object per record, and is compiled
to C where a compiler was found at install time (see its module).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import cramjam
import lz4.frame

from kafka_broker.protocol.errors import CorruptRecordError, InvalidRecordError, RecordTooLargeError
from kafka_broker.storage.compression import XERIAL_MAGIC, Codec
from kafka_broker.storage.record_walk import walk_records
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
# A compressed records section is decompressed into it (an uncompressed one is walked where it is). A fresh
# buffer per batch would cost more than the walk: glibc maps a buffer of a megabyte or more and unmaps it
# when freed, so each batch would fault in every page again.

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
) -> tuple[Buffer, int, bytearray]:
    """The records section to walk (decompressed), its size, and the scratch buffer (perhaps a bigger one)."""
    if codec == Codec.NONE:
        return section, len(section), scratch
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
