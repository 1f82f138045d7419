import gzip
import os
import struct
import zlib

import cramjam
import lz4.frame
import pytest

from kafka_broker.protocol.errors import CorruptRecordError, UnsupportedCompressionError
from kafka_broker.storage.compression import XERIAL_MAGIC, Codec, codec_of, compress, decompress

from .helpers import kafka_codec

PAYLOAD = b"".join(b"record %d with some repetitive content; " % i for i in range(5000)) + os.urandom(512)


@pytest.mark.parametrize("codec", list(Codec))
def test_round_trip(codec):
    assert decompress(codec, compress(codec, PAYLOAD)) == PAYLOAD
    assert decompress(codec, compress(codec, b"")) == b""


def test_snappy_is_xerial_framed_in_32k_blocks():
    encoded = compress(Codec.SNAPPY, PAYLOAD)
    assert encoded[:8] == XERIAL_MAGIC
    assert struct.unpack(">ii", encoded[8:16]) == (1, 1)
    blocks, pos = 0, 16
    while pos < len(encoded):
        (size,) = struct.unpack_from(">i", encoded, pos)
        block = bytes(cramjam.snappy.decompress_raw(encoded[pos + 4 : pos + 4 + size]))
        assert len(block) <= 32 * 1024
        pos += 4 + size
        blocks += 1
    assert blocks == -(-len(PAYLOAD) // (32 * 1024))


def test_snappy_interoperates_with_kafka_python():
    assert kafka_codec.snappy_decode(compress(Codec.SNAPPY, PAYLOAD)) == PAYLOAD
    assert decompress(Codec.SNAPPY, kafka_codec.snappy_encode(PAYLOAD)) == PAYLOAD  # xerial
    raw = kafka_codec.snappy_encode(PAYLOAD, xerial_compatible=False)
    assert raw[:8] != XERIAL_MAGIC
    assert decompress(Codec.SNAPPY, raw) == PAYLOAD


def test_lz4_frame_without_linked_blocks_and_readable_by_clients():
    encoded = compress(Codec.LZ4, PAYLOAD)
    assert encoded[:4] == b"\x04\x22\x4d\x18"
    flags = encoded[4]
    assert flags & 0x20  # block independence
    assert not flags & 0x08  # no content size
    assert kafka_codec.lz4_decode(encoded) == PAYLOAD
    assert decompress(Codec.LZ4, lz4.frame.compress(PAYLOAD, block_linked=True, content_checksum=True)) == PAYLOAD


def _streamed_zstd_frame(data: bytes) -> bytes:
    streaming = cramjam.zstd.Compressor()
    streaming.compress(data)
    frame = bytes(streaming.finish())
    assert frame[:4] == b"\x28\xb5\x2f\xfd" and frame[4] & 0xE0 == 0  # no content size, not single-segment
    return frame


def test_zstd_streamed_frames_without_content_size():
    frame = _streamed_zstd_frame(PAYLOAD)
    assert decompress(Codec.ZSTD, frame) == PAYLOAD
    assert decompress(Codec.ZSTD, frame + _streamed_zstd_frame(b"tail")) == PAYLOAD + b"tail"
    assert kafka_codec.zstd_decode(compress(Codec.ZSTD, PAYLOAD)) == PAYLOAD
    assert decompress(Codec.ZSTD, kafka_codec.zstd_encode(PAYLOAD)) == PAYLOAD


def test_gzip_members_and_zlib():
    assert gzip.decompress(compress(Codec.GZIP, PAYLOAD)) == PAYLOAD
    two_members = gzip.compress(PAYLOAD[:1000]) + gzip.compress(PAYLOAD[1000:])
    assert decompress(Codec.GZIP, two_members) == PAYLOAD
    assert decompress(Codec.GZIP, zlib.compress(PAYLOAD)) == PAYLOAD
    assert kafka_codec.gzip_decode(compress(Codec.GZIP, PAYLOAD)) == PAYLOAD


@pytest.mark.parametrize("codec", [Codec.GZIP, Codec.SNAPPY, Codec.LZ4, Codec.ZSTD])
def test_corrupt_or_truncated_streams_are_corrupt_records(codec):
    encoded = compress(codec, PAYLOAD)
    for bad in (encoded[: len(encoded) // 2], encoded[:-1], b"\x00garbage" * 5):
        with pytest.raises(CorruptRecordError):
            decompress(codec, bad)


@pytest.mark.parametrize("codec_id", [5, 6, 7, -1])
def test_unknown_codec(codec_id):
    with pytest.raises(UnsupportedCompressionError):
        codec_of(codec_id)
    with pytest.raises(UnsupportedCompressionError):
        decompress(codec_id, b"x")
