import contextlib
import struct

import pytest
from crc32c import crc32c
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafka_broker.protocol.errors import (
    CorruptRecordError,
    ErrorCode,
    InvalidRecordError,
    KafkaError,
    RecordTooLargeError,
    UnsupportedCompressionError,
)
from kafka_broker.storage.compression import Codec
from kafka_broker.storage.records import (
    ATTRIBUTES_OFFSET,
    CRC_OFFSET,
    HEADER,
    HEADER_SIZE,
    LOG_APPEND_TIME,
    ControlRecordType,
    Record,
    assign_offsets,
    build_batch,
    control_record,
    control_record_type,
    decode_records,
    iter_batches,
    parse_header,
    recompress_batch,
    set_log_append_time,
    validate_batches,
)

from .helpers import DefaultRecordBatchBuilder, MemoryRecords, MemoryRecordsBuilder, make_batch, make_records

CODECS = [Codec.NONE, Codec.GZIP, Codec.SNAPPY, Codec.LZ4, Codec.ZSTD]
LIMIT = 1 << 24


def crc_ok(batch: bytes) -> bool:
    return struct.unpack_from(">I", batch, CRC_OFFSET)[0] == crc32c(batch[ATTRIBUTES_OFFSET:])


def test_header_layout():
    assert HEADER_SIZE == 61 == HEADER.size
    batch = make_batch(2, producer_id=7, producer_epoch=3, base_sequence=11, partition_leader_epoch=5)
    header = parse_header(batch)
    assert header.length == len(batch) and header.batch_length == len(batch) - 12
    assert (header.magic, header.producer_id, header.producer_epoch, header.base_sequence) == (2, 7, 3, 11)
    assert (header.partition_leader_epoch, header.record_count, header.last_offset_delta) == (5, 2, 1)
    assert (header.base_timestamp, header.max_timestamp) == (1000, 1001)
    assert header.crc == crc32c(batch[21:])


def test_build_and_decode_round_trip_every_codec():
    records = make_records(50, value_size=100)
    for codec in CODECS:
        batch = build_batch(records, base_offset=0, compression=codec)
        assert parse_header(batch).compression == codec
        assert decode_records(batch) == records


def test_attribute_bits():
    marker = control_record(0, 5, commit=True, coordinator_epoch=9)
    batch = build_batch(
        [marker], base_offset=0, is_control=True, is_transactional=True, producer_id=1, producer_epoch=0
    )
    header = parse_header(batch)
    assert header.is_control and header.is_transactional and header.has_producer_id
    assert control_record_type(decode_records(batch)[0]) is ControlRecordType.COMMIT
    assert not parse_header(make_batch()).is_control


def test_iter_batches_and_validate_many():
    data = make_batch(3) + make_batch(1, compression=Codec.LZ4) + make_batch(2)
    headers = validate_batches(data, max_batch_bytes=LIMIT)
    assert [h.record_count for h in headers] == [3, 1, 2]
    assert headers[1].position == headers[0].end and headers[-1].end == len(data)
    assert validate_batches(b"", max_batch_bytes=LIMIT) == []


def test_validate_rejections():
    batch = bytearray(make_batch(3))
    with pytest.raises(RecordTooLargeError):
        validate_batches(batch, max_batch_bytes=len(batch) - 1)
    assert validate_batches(batch, max_batch_bytes=len(batch))
    for cut in (5, 20, 60, len(batch) - 1):
        with pytest.raises(CorruptRecordError):
            validate_batches(batch[:cut], max_batch_bytes=LIMIT)
    flipped = bytearray(batch)
    flipped[-3] ^= 0x01
    with pytest.raises(CorruptRecordError, match="CRC"):
        validate_batches(flipped, max_batch_bytes=LIMIT)
    for magic in (0, 1):
        legacy = bytearray(batch)
        legacy[16] = magic
        with pytest.raises(InvalidRecordError) as info:
            validate_batches(legacy, max_batch_bytes=LIMIT)
        assert info.value.code == ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT
    with pytest.raises(CorruptRecordError):
        validate_batches(bytes(batch[:16]) + b"\x07" + bytes(batch[17:]), max_batch_bytes=LIMIT)


def _resigned(batch: bytes, **changes) -> bytes:
    header = parse_header(batch)._replace(**changes)
    out = bytearray(batch)
    HEADER.pack_into(out, 0, *header[2:])
    struct.pack_into(">I", out, CRC_OFFSET, crc32c(out[ATTRIBUTES_OFFSET:]))
    return bytes(out)


def test_validate_client_rules():
    batch = make_batch(3)
    with pytest.raises(InvalidRecordError):
        validate_batches(_resigned(batch, last_offset_delta=5), max_batch_bytes=LIMIT)
    assert validate_batches(_resigned(batch, last_offset_delta=5), max_batch_bytes=LIMIT, from_client=False)
    with pytest.raises(CorruptRecordError):
        validate_batches(_resigned(batch, record_count=200), max_batch_bytes=LIMIT, from_client=False)
    with pytest.raises(UnsupportedCompressionError):
        validate_batches(_resigned(batch, attributes=6), max_batch_bytes=LIMIT)
    control = build_batch([control_record(0, 1, commit=False, coordinator_epoch=0)], base_offset=0, is_control=True)
    with pytest.raises(InvalidRecordError):
        validate_batches(control, max_batch_bytes=LIMIT)
    assert validate_batches(control, max_batch_bytes=LIMIT, from_client=False)
    with pytest.raises(InvalidRecordError):
        validate_batches(_resigned(batch, producer_id=4, producer_epoch=0), max_batch_bytes=LIMIT)


def test_assign_offsets_in_place_keeps_crc():
    data = bytearray(make_batch(3) + make_batch(2))
    original = bytes(data)
    stamped = assign_offsets(data, 100, 7)
    assert [(h.base_offset, h.last_offset, h.partition_leader_epoch) for h in stamped] == [(100, 102, 7), (103, 104, 7)]
    headers = validate_batches(data, max_batch_bytes=LIMIT)  # CRC still valid
    assert [h.base_offset for h in headers] == [100, 103]
    for header, old in zip(headers, iter_batches(original), strict=True):
        assert data[header.position + 16 : header.end] == original[old.position + 16 : old.end]
        assert data[header.position + 8 : header.position + 12] == original[old.position + 8 : old.position + 12]
    assert [r.offset for r in decode_records(memoryview(data)[headers[1].position :])] == [103, 104]


def test_log_append_time():
    data = bytearray(make_batch(3))
    header = set_log_append_time(data, parse_header(data), 99_999)
    assert header.timestamp_type == LOG_APPEND_TIME and header.max_timestamp == 99_999
    assert validate_batches(data, max_batch_bytes=LIMIT)
    assert [r.timestamp for r in decode_records(data)] == [99_999] * 3


@pytest.mark.parametrize("source", CODECS)
@pytest.mark.parametrize("target", CODECS)
def test_recompress_batch(source, target):
    batch = make_batch(20, compression=source, value_size=64, producer_id=3, producer_epoch=1, base_sequence=40)
    out = recompress_batch(batch, codec=target)
    header = parse_header(out)
    assert header.compression == target and crc_ok(out)
    assert header[8:] == parse_header(batch)[8:]  # offsets, timestamps, producer state, count
    assert decode_records(out) == decode_records(batch)


def test_decode_rejects_malformed_records():
    batch = bytearray(make_batch(2))
    batch[HEADER_SIZE] = 0x7F  # first record's length varint now says 63
    with pytest.raises(CorruptRecordError):
        decode_records(batch)
    with pytest.raises(CorruptRecordError):
        decode_records(b"")


# -- interoperability with a real client's encoder and decoder (kafka-python) ---------------------


def _kafka_python_batch(codec: int, count: int = 30) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=codec, is_transactional=0, producer_id=-1, producer_epoch=-1,
        base_sequence=-1, batch_size=1 << 20,
    )  # fmt: skip
    for i in range(count):
        builder.append(i, 1_700_000_000_000 + i, b"key-%d" % i, b"value %d " % i * 20, [("h", b"x%d" % i)])
    return bytes(builder.build())


@pytest.mark.parametrize("codec", CODECS)
def test_decode_batches_built_by_kafka_python(codec):
    data = _kafka_python_batch(codec)
    (header,) = validate_batches(data, max_batch_bytes=LIMIT)
    assert header.compression == codec
    records = decode_records(data)
    assert [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in records] == [
        (i, 1_700_000_000_000 + i, b"key-%d" % i, b"value %d " % i * 20, (("h", b"x%d" % i),)) for i in range(30)
    ]


@pytest.mark.parametrize("codec", CODECS)
def test_memory_records_builder_batches(codec):
    builder = MemoryRecordsBuilder(magic=2, compression_type=codec, batch_size=1 << 20)
    for i in range(10):
        builder.append(timestamp=5_000 + i, key=None, value=b"v" * 200, headers=[])
    builder.close()
    data = bytes(builder.buffer())
    (header,) = validate_batches(data, max_batch_bytes=LIMIT)
    assert header.compression == codec
    assert [(r.offset, r.key, r.value) for r in decode_records(data)] == [(i, None, b"v" * 200) for i in range(10)]


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_decodes_our_batches(codec):
    records = make_records(40, value_size=80)
    data = bytearray(build_batch(records, base_offset=0, compression=codec))
    assign_offsets(data, 1_000, 3)
    batch = MemoryRecords(bytes(data)).next_batch()
    assert batch.validate_crc()
    assert batch.compression_type == codec and batch.base_offset == 1_000
    decoded = [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in batch]
    assert decoded == [(1_000 + r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in records]


@pytest.mark.parametrize("codec", CODECS[1:])
def test_recompressed_client_batch_reads_in_client(codec):
    data = recompress_batch(_kafka_python_batch(Codec.GZIP), codec=codec)
    batch = MemoryRecords(data).next_batch()
    assert batch.validate_crc() and batch.compression_type == codec
    assert [r.value for r in batch] == [b"value %d " % i * 20 for i in range(30)]


# -- property tests --------------------------------------------------------------------------------

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes_only_raise_kafka_errors(data):
    with contextlib.suppress(KafkaError):
        validate_batches(data, max_batch_bytes=LIMIT)
    with contextlib.suppress(KafkaError):
        decode_records(data)


_VALID = [make_batch(3, compression=codec) for codec in CODECS]


@_SETTINGS
@given(st.sampled_from(_VALID), st.data())
def test_damaged_batches_are_rejected_or_intact(batch, data):
    damaged = bytearray(batch)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(damaged) - 1))
        damaged[position] ^= data.draw(st.integers(1, 255))
    if data.draw(st.booleans()):
        damaged = damaged[: data.draw(st.integers(0, len(damaged)))]
    try:
        headers = validate_batches(damaged, max_batch_bytes=LIMIT, from_client=False)
    except KafkaError:
        return
    # only the fields outside the CRC can change undetected
    for header in headers:
        assert bytes(damaged[header.position + 16 : header.end]) == batch[16:]
    with contextlib.suppress(KafkaError):
        decode_records(damaged)


_TEXT = st.text(max_size=8)
_BLOB = st.none() | st.binary(max_size=40)


@_SETTINGS
@given(
    st.lists(st.tuples(_BLOB, _BLOB, st.lists(st.tuples(_TEXT, _BLOB), max_size=3), st.integers(-(2**40), 2**40)),
             min_size=1, max_size=20),
    st.sampled_from(CODECS),
    st.integers(0, 2**40),
)  # fmt: skip
def test_encode_decode_property(rows, codec, base_offset):
    records = [
        Record(base_offset + i, 1_600_000_000_000 + delta, key, value, tuple(headers))
        for i, (key, value, headers, delta) in enumerate(rows)
    ]
    batch = build_batch(records, base_offset=base_offset, compression=codec)
    (header,) = validate_batches(batch, max_batch_bytes=LIMIT)
    assert header.base_offset == base_offset and header.record_count == len(records)
    assert decode_records(batch) == records
