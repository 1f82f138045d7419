"""An independent, strict decoder of the log segments a broker stored: does every batch on disk parse?

Written from the protocol documentation (kafka.apache.org/documentation/#recordbatch), not from kopfka's
storage code, which it must not import: a hostile test uses it after the fact to prove that nothing the
broker accepted — whatever the test threw at it — is unreadable. Stricter than any client: every batch of
every ``NNNNNNNNNNNNNNNNNNNN.log`` segment must be whole and well-formed, and every record in it.

Checked, per segment: batches tile the file exactly (a torn last batch only with ``allow_torn_tail``, for
a broker killed mid-write and not restarted), base offsets increase (a batch starts after the previous one
ends) and none lies below the segment's base offset. Per batch: magic 2, a batch length that covers the
61-byte header, CRC-32C of attributes..end, a codec id 0..4 whose decoder reads the records section whole
(gzip members, xerial or raw snappy, one lz4 frame, zstd frames), then exactly ``recordsCount`` records
and not a byte more. Per record: varints within 5 bytes (varlongs 10), the record inside the section, key
and value lengths -1 (null) or within the record, a header count >= 0, header keys of length >= 0,
header values -1 or within the record, the fields ending exactly at the record's length. Offsets: the
offset deltas are 0, 1, 2, ... and the count is ``lastOffsetDelta + 1`` — or, for a compacted topic
(``compacted``), strictly increasing within ``0..lastOffsetDelta`` (the cleaner drops records but keeps
the batch's offset range). Across segments of a partition: offsets increase.

Not checked: timestamps (a producer's CreateTime values are stored as sent), the ``.index`` and
``.timeindex`` files, and whether header keys are valid UTF-8 (the spec says "string"; Kafka does not check).

API: :func:`read_segment`, :func:`read_partition` and :func:`read_log_dirs` return :class:`Batch` objects
(each with its decoded :class:`Record` list) or raise :class:`CorruptLog` naming the file, byte position
and fault; :func:`check_cluster` runs :func:`read_log_dirs` over every broker of a ``LocalCluster``.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lz4.frame
import snappy
import zstandard
from crc32c import crc32c

__all__ = ["Batch", "CorruptLog", "Record", "check_cluster", "read_log_dirs", "read_partition", "read_segment"]

# baseOffset int64, batchLength int32, partitionLeaderEpoch int32, magic int8, crc uint32, attributes int16,
# lastOffsetDelta int32, baseTimestamp int64, maxTimestamp int64, producerId int64, producerEpoch int16,
# baseSequence int32, recordsCount int32; then the records.
_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
_HEADER_SIZE = 61
_LENGTH_FIELD_END = 12  # batchLength counts the bytes after itself
_CRC_START = 21  # the CRC covers attributes to the end of the batch
_SEGMENT_NAME = re.compile(r"(\d{20})\.log")
_XERIAL = b"\x82SNAPPY\x00"
_CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}

COMPACTED_TOPICS = ("__consumer_offsets",)
"""Topics :func:`read_log_dirs` treats as compacted unless told otherwise."""


class CorruptLog(AssertionError):
    """A stored batch that does not decode: ``path``, byte ``position`` of the batch, ``reason``."""

    def __init__(self, path: Path, position: int, reason: str) -> None:
        super().__init__(f"{path} at byte {position}: {reason}")
        self.path, self.position, self.reason = path, position, reason


@dataclass(frozen=True)
class Record:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[bytes, bytes | None], ...]


@dataclass(frozen=True)
class Batch:
    path: Path
    position: int
    size: int
    base_offset: int
    last_offset: int
    partition_leader_epoch: int
    attributes: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records: tuple[Record, ...]

    @property
    def codec(self) -> str:
        return _CODECS[self.attributes & 0x07]

    @property
    def log_append_time(self) -> bool:
        return bool(self.attributes & 0x08)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & 0x10)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & 0x20)


class _Fault(Exception):
    pass


def read_segment(path: Path, *, compacted: bool = False, allow_torn_tail: bool = False) -> list[Batch]:
    """Every batch of one ``.log`` segment, decoded; :class:`CorruptLog` at the first fault."""
    match = _SEGMENT_NAME.fullmatch(path.name)
    if match is None:
        raise ValueError(f"{path} is not a segment (NNNNNNNNNNNNNNNNNNNN.log)")
    segment_base = int(match[1])
    data = path.read_bytes()
    batches: list[Batch] = []
    position = 0
    next_offset = segment_base
    while position < len(data):
        remaining = len(data) - position
        try:
            if remaining < _HEADER_SIZE:
                raise _Fault(f"{remaining} bytes left, less than a batch header")
            fields = _BATCH_HEADER.unpack_from(data, position)
            batch_length = fields[1]
            if batch_length < _HEADER_SIZE - _LENGTH_FIELD_END:
                raise _Fault(f"batch length {batch_length} shorter than the header")
            size = batch_length + _LENGTH_FIELD_END
            if size > remaining:
                raise _Fault(f"batch of {size} bytes, only {remaining} left in the file")
        except _Fault as fault:
            if allow_torn_tail:
                break
            raise CorruptLog(path, position, f"torn batch: {fault}") from None
        try:
            batch = _decode_batch(path, position, data[position : position + size], fields, compacted=compacted)
        except _Fault as fault:
            raise CorruptLog(path, position, str(fault)) from None
        except (IndexError, ValueError, zlib.error, RuntimeError, snappy.UncompressError, zstandard.ZstdError) as exc:
            raise CorruptLog(path, position, f"{type(exc).__name__}: {exc}") from None
        if batch.base_offset < next_offset:
            raise CorruptLog(path, position, f"base offset {batch.base_offset} is below {next_offset}, where the "
                                             f"{'segment starts' if not batches else 'previous batch ended'}")
        batches.append(batch)
        next_offset = batch.last_offset + 1
        position += size
    return batches


def read_partition(directory: Path, *, compacted: bool = False, allow_torn_tail: bool = False) -> list[Batch]:
    """Every batch of a partition folder's segments, in offset order; offsets must increase across them.
    A torn tail is only allowed in the newest segment."""
    segments = sorted(p for p in directory.iterdir() if _SEGMENT_NAME.fullmatch(p.name))
    batches: list[Batch] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        for batch in read_segment(segment, compacted=compacted, allow_torn_tail=allow_torn_tail and last):
            if batches and batch.base_offset <= batches[-1].last_offset:
                raise CorruptLog(segment, batch.position, f"base offset {batch.base_offset} does not follow "
                                                          f"offset {batches[-1].last_offset} of the previous segment")
            batches.append(batch)
    return batches


def read_log_dirs(
    log_dirs: Iterable[Path], *, compacted_topics: Iterable[str] = COMPACTED_TOPICS, allow_torn_tail: bool = False
) -> dict[str, list[Batch]]:
    """``{"<topic>-<partition>": batches}`` for every partition folder under ``log_dirs``."""
    compacted = set(compacted_topics)
    out: dict[str, list[Batch]] = {}
    for log_dir in log_dirs:
        for directory in sorted(Path(log_dir).iterdir()):
            topic, sep, partition = directory.name.rpartition("-")
            if not directory.is_dir() or not sep or not partition.isdigit():
                continue
            out[directory.name] = read_partition(directory, compacted=topic in compacted,
                                                 allow_torn_tail=allow_torn_tail)
    return out


def check_cluster(cluster: Any, **options: Any) -> dict[int, dict[str, list[Batch]]]:
    """:func:`read_log_dirs` over every broker of a ``LocalCluster`` (its ``broker-<id>/data`` log dirs):
    ``{broker_id: {"<topic>-<partition>": batches}}``. Raises :class:`CorruptLog` at the first fault."""
    out = {}
    for broker_id in cluster.broker_ids:
        log_dir = Path(cluster.broker_dir(broker_id)) / "data"
        out[broker_id] = read_log_dirs([log_dir], **options) if log_dir.is_dir() else {}
    return out


# ---------------------------------------------------------------------------------------------


def _decode_batch(path: Path, position: int, raw: bytes, fields: tuple[int, ...], *, compacted: bool) -> Batch:
    (base_offset, _length, leader_epoch, magic, crc, attributes, last_offset_delta, base_timestamp,
     max_timestamp, producer_id, producer_epoch, base_sequence, count) = fields
    if magic != 2:
        raise _Fault(f"magic {magic}, not 2")
    if crc32c(raw[_CRC_START:]) != crc:
        raise _Fault("CRC-32C mismatch")
    if base_offset < 0:
        raise _Fault(f"negative base offset {base_offset}")
    codec = attributes & 0x07
    if codec not in _CODECS:
        raise _Fault(f"unknown codec id {codec}")
    if last_offset_delta < 0 or count < 0:
        raise _Fault(f"negative last offset delta {last_offset_delta} or record count {count}")
    if not compacted and count != last_offset_delta + 1:
        raise _Fault(f"{count} records in an offset range of {last_offset_delta + 1}")
    if count > last_offset_delta + 1:
        raise _Fault(f"{count} records cannot fit an offset range of {last_offset_delta + 1}")
    section = _decompress(codec, raw[_HEADER_SIZE:])
    log_append_time = bool(attributes & 0x08)
    records = []
    reader = _Reader(section)
    previous_delta = -1
    for index in range(count):
        length = reader.varint()
        if length < 0 or reader.position + length > len(section):
            raise _Fault(f"record {index}: length {length} runs past the records ({len(section)} bytes)")
        end = reader.position + length
        reader.byte()  # attributes: unused in v2
        timestamp_delta = reader.varlong()
        offset_delta = reader.varint()
        if compacted:
            if not previous_delta < offset_delta <= last_offset_delta:
                raise _Fault(f"record {index}: offset delta {offset_delta} after {previous_delta} "
                             f"(last offset delta {last_offset_delta})")
        elif offset_delta != index:
            raise _Fault(f"record {index}: offset delta {offset_delta}")
        previous_delta = offset_delta
        key = reader.nullable_bytes(end, "key")
        value = reader.nullable_bytes(end, "value")
        header_count = reader.varint()
        if header_count < 0:
            raise _Fault(f"record {index}: header count {header_count}")
        headers = []
        for _ in range(header_count):
            header_key = reader.nullable_bytes(end, "header key")
            if header_key is None:
                raise _Fault(f"record {index}: null header key")
            headers.append((header_key, reader.nullable_bytes(end, "header value")))
        if reader.position != end:
            raise _Fault(f"record {index}: fields end at {reader.position}, the record at {end}")
        timestamp = max_timestamp if log_append_time else base_timestamp + timestamp_delta
        records.append(Record(base_offset + offset_delta, timestamp, key, value, tuple(headers)))
    if reader.position != len(section):
        raise _Fault(f"{len(section) - reader.position} bytes after the {count} declared records")
    return Batch(path, position, len(raw), base_offset, base_offset + last_offset_delta, leader_epoch, attributes,
                 base_timestamp, max_timestamp, producer_id, producer_epoch, base_sequence, tuple(records))


class _Reader:
    """Varints and length-prefixed fields of a records section, never reading past it."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def byte(self) -> int:
        if self.position >= len(self.data):
            raise _Fault("records section ends inside a record")
        value = self.data[self.position]
        self.position += 1
        return value

    def _unsigned(self, max_bytes: int) -> int:
        value = 0
        for i in range(max_bytes):
            byte = self.byte()
            value |= (byte & 0x7F) << (7 * i)
            if byte < 0x80:
                return value
        raise _Fault(f"varint longer than {max_bytes} bytes")

    def varint(self) -> int:
        value = self._unsigned(5)
        if value >= 1 << 32:
            raise _Fault("varint beyond 32 bits")
        return (value >> 1) ^ -(value & 1)

    def varlong(self) -> int:
        value = self._unsigned(10)
        if value >= 1 << 64:
            raise _Fault("varlong beyond 64 bits")
        return (value >> 1) ^ -(value & 1)

    def nullable_bytes(self, end: int, what: str) -> bytes | None:
        size = self.varint()
        if size == -1:
            return None
        if size < 0 or self.position + size > end:
            raise _Fault(f"{what} length {size} outside the record")
        value = self.data[self.position : self.position + size]
        self.position += size
        return value


def _decompress(codec: int, data: bytes) -> bytes:
    if codec == 0:
        return data
    if codec == 1:  # one or more gzip members
        out, rest = [], data
        while rest:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out.append(inflater.decompress(rest))
            if not inflater.eof:
                raise _Fault("truncated gzip member")
            rest = inflater.unused_data
        return b"".join(out)
    if codec == 2:
        if not data.startswith(_XERIAL):
            return bytes(snappy.uncompress(data))
        out_blocks, position = [], 16  # magic, version, compatible version
        while position < len(data):
            (size,) = struct.unpack_from(">i", data, position)
            position += 4
            if size < 0 or position + size > len(data):
                raise _Fault("truncated xerial snappy block")
            out_blocks.append(bytes(snappy.uncompress(data[position : position + size])))
            position += size
        return b"".join(out_blocks)
    if codec == 3:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        result = bytes(decompressor.decompress(data))
        if not decompressor.eof:
            raise _Fault("truncated lz4 frame")
        if decompressor.unused_data:
            raise _Fault(f"{len(decompressor.unused_data)} bytes after the lz4 frame")
        return result
    out, rest = [], data  # zstd: one or more frames, with or without a content size
    while rest:
        zstd = zstandard.ZstdDecompressor().decompressobj()
        out.append(zstd.decompress(rest))
        if not zstd.eof:
            raise _Fault("truncated zstd frame")
        rest = zstd.unused_data
    return b"".join(out)
