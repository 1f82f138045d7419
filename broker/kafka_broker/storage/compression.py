"""The record-batch compression codecs, byte-compatible with what Kafka clients write and read.

A v2 batch keeps its 61-byte header in the clear and compresses only the records section; the
codec id lives in the low three bits of the batch attributes. Each codec is used the way the Java
client and librdkafka use it, so a batch compressed here is readable by every client and the other
way round:

* ``gzip`` (1) — a gzip member (Java's ``GZIPOutputStream``); decoding also accepts several members
  and a bare zlib stream.
* ``snappy`` (2) — Java clients write snappy-java's *xerial* framing: the 16-byte header
  ``b"\\x82SNAPPY\\x00"`` + int32 version + int32 min-compatible version, then blocks of
  ``int32 length + raw snappy block``, each block at most 32 KiB uncompressed. Some clients write a
  single raw snappy block instead; decoding tells them apart by the magic and accepts both. We
  encode xerial framing, which every client reads.
* ``lz4`` (3) — the LZ4 *frame* format (``lz4.frame``) with independent 64 KiB blocks and no block
  or content checksums, as Kafka's own ``KafkaLZ4BlockOutputStream`` writes it.
* ``zstd`` (4) — one or more zstd frames, possibly without a content size (streamed by the
  producer), so decoding goes through cramjam's streaming decompressor, never a sized one-shot.

Any decoder failure is reported as :class:`CorruptRecordError` (the batch is bad, not the broker);
an id outside 0..4 is :class:`UnsupportedCompressionError`.
"""

from __future__ import annotations

import struct
import zlib
from enum import IntEnum

import cramjam
import lz4.frame

from kafka_broker.protocol.errors import CorruptRecordError, UnsupportedCompressionError

Buffer = bytes | bytearray | memoryview


class Codec(IntEnum):
    """Codec ids as stored in bits 0-2 of the batch attributes."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


#: ``compression.type`` values naming a codec (``producer`` keeps what the producer sent).
CODEC_BY_NAME: dict[str, Codec] = {
    "uncompressed": Codec.NONE,
    "gzip": Codec.GZIP,
    "snappy": Codec.SNAPPY,
    "lz4": Codec.LZ4,
    "zstd": Codec.ZSTD,
}

XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = XERIAL_MAGIC + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK = 32 * 1024
_INT32 = struct.Struct(">i")

GZIP_LEVEL = 6  # java.util.zip.Deflater.DEFAULT_COMPRESSION, what GZIPOutputStream uses
ZSTD_LEVEL = 3  # Kafka's default zstd level


_CODECS: tuple[Codec, ...] = tuple(Codec)


def codec_of(value: int) -> Codec:
    """The codec for an id from batch attributes; ids Kafka does not define are refused.

    A tuple lookup, not ``Codec(value)``: this runs for every batch on the produce path.
    """
    if 0 <= value < len(_CODECS):
        return _CODECS[value]
    raise UnsupportedCompressionError(f"unknown compression codec id {value}")


def compress(codec: int, data: Buffer) -> bytes:
    """``data`` (an uncompressed records section) encoded with ``codec``."""
    codec = codec_of(codec)
    if codec is Codec.NONE:
        return bytes(data)
    if codec is Codec.GZIP:
        deflater = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return deflater.compress(data) + deflater.flush()
    if codec is Codec.SNAPPY:
        return _xerial_encode(data)
    if codec is Codec.LZ4:
        compressed: bytes = lz4.frame.compress(
            data,
            block_size=lz4.frame.BLOCKSIZE_MAX64KB,
            block_linked=False,
            content_checksum=False,
            store_size=False,
        )
        return compressed
    return bytes(cramjam.zstd.compress(data, level=ZSTD_LEVEL))


def decompress(codec: int, data: Buffer) -> bytes:
    """The uncompressed bytes of ``data`` written with ``codec``; a bad stream is a corrupt batch."""
    codec = codec_of(codec)
    try:
        if codec is Codec.NONE:
            return bytes(data)
        if codec is Codec.GZIP:
            return _gzip_decode(data)
        if codec is Codec.SNAPPY:
            if bytes(data[:8]) == XERIAL_MAGIC:
                return _xerial_decode(data)
            return bytes(cramjam.snappy.decompress_raw(data))
        if codec is Codec.LZ4:
            return bytes(lz4.frame.decompress(data))
        return bytes(cramjam.zstd.decompress(data))
    except CorruptRecordError:
        raise
    except Exception as exc:  # every decoder has its own exception types
        raise CorruptRecordError(f"cannot decompress {codec.name.lower()} records: {exc}") from exc


def _gzip_decode(data: Buffer) -> bytes:
    """One or more gzip members (or a zlib stream: ``wbits=47`` detects the header)."""
    out = []
    view = memoryview(data)
    while view:
        inflater = zlib.decompressobj(32 + zlib.MAX_WBITS)
        out.append(inflater.decompress(view))
        if not inflater.eof:
            raise CorruptRecordError("truncated gzip stream")
        view = memoryview(inflater.unused_data)
    return b"".join(out)


def _xerial_encode(data: Buffer) -> bytes:
    view = memoryview(data)
    parts = [_XERIAL_HEADER]
    for start in range(0, len(view), _XERIAL_BLOCK):
        block = cramjam.snappy.compress_raw(view[start : start + _XERIAL_BLOCK])
        parts.append(_INT32.pack(len(block)))
        parts.append(bytes(block))
    return b"".join(parts)


def _xerial_decode(data: Buffer) -> bytes:
    view = memoryview(data)
    if len(view) < 16:
        raise CorruptRecordError("truncated xerial snappy header")
    out = []
    pos = 16
    end = len(view)
    while pos < end:
        if pos + 4 > end:
            raise CorruptRecordError("truncated xerial snappy block length")
        (size,) = _INT32.unpack_from(view, pos)
        pos += 4
        if size < 0 or pos + size > end:
            raise CorruptRecordError("truncated xerial snappy block")
        out.append(bytes(cramjam.snappy.decompress_raw(view[pos : pos + size])))
        pos += size
    return b"".join(out)
