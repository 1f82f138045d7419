"""A leader append walks every record before it stores a batch (``storage/validation.py``).

Every damaged batch here carries a correct CRC-32C (``damaged_batches``), so only the record walk can
refuse it; each must be refused with Kafka's error (or kopfka's documented stricter one) and leave the
log exactly as it was. The walk is held to the independent strict decoder of the hostile tier on random
single-byte damage. Every test runs twice: with the compiled walk and with the same source run as plain
Python (the ``walk`` fixture).
"""

from __future__ import annotations

import random
import struct
import tracemalloc
import zlib
from pathlib import Path
from types import ModuleType

import cramjam
import lz4.frame
import pytest
from crc32c import crc32c
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.hostile.strict_decoder import CorruptLog, read_segment

from kafka_broker.protocol import ErrorCode
from kafka_broker.protocol.errors import KafkaError, RecordTooLargeError
from kafka_broker.storage.compression import Codec, compress
from kafka_broker.storage.log import PartitionLog
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.records import Record, build_batch, validate_batches

from . import damaged_batches as damaged
from .helpers import make_batch, read_all

pytestmark = pytest.mark.usefixtures("walk")


@pytest.fixture
def log(partition_dir: Path):
    log = PartitionLog(partition_dir, config=LogConfig())
    yield log
    log.close()


def _refused(log: PartitionLog, batch: bytes) -> KafkaError:
    before = (log.log_end_offset, log.active_segment.size)
    with pytest.raises(KafkaError) as raised:
        log.append_as_leader(batch, leader_epoch=0)
    assert (log.log_end_offset, log.active_segment.size) == before, "a refused batch changed the log"
    return raised.value


@pytest.mark.parametrize("damage", damaged.CATALOGUE, ids=[d.name for d in damaged.CATALOGUE])
def test_a_damaged_batch_is_refused_and_nothing_is_stored(log: PartitionLog, damage: damaged.Damage) -> None:
    good = damaged.good_batch(damaged.good_values(2, "before"))
    log.append_as_leader(good, leader_epoch=0)
    batch = damage.make()
    validate_batches(batch, max_batch_bytes=LogConfig().max_message_bytes)  # header and CRC are fine
    assert _refused(log, batch).code == damage.code
    log.append_as_leader(damaged.good_batch(damaged.good_values(2, "after")), leader_epoch=0)
    assert [r.value for r in read_all(log)] == [b"before-0", b"before-1", b"after-0", b"after-1"]


def test_one_bad_batch_refuses_the_whole_append(log: PartitionLog) -> None:
    """Several batches in one append (as a follower's fetch or an old client's request): all or nothing."""
    good = damaged.good_batch(damaged.good_values(3, "good"))
    assert _refused(log, good + damaged.header_count_int32_max() + good).code == ErrorCode.INVALID_RECORD
    assert log.log_end_offset == 0


def test_messages_name_the_partition_and_the_record(log: PartitionLog) -> None:
    error = _refused(log, damaged.offset_deltas_not_increasing())
    assert "orders.eu_west-1-0" in error.message and "Record 1 has offset delta 2" in error.message
    error = _refused(log, damaged.header_count_int32_max())
    assert "Found invalid number of record headers. 2147483647 is larger than the remaining size" in error.message


def test_a_compacted_topic_lists_every_keyless_record(partition_dir: Path) -> None:
    log = PartitionLog(partition_dir, config=LogConfig(cleanup_policy="compact"))
    try:
        records = [Record(i, 1_000, None if i in (1, 3) else b"k", b"v") for i in range(5)]
        error = _refused(log, build_batch(records, base_offset=0))
        assert error.code == ErrorCode.INVALID_RECORD
        message = f"Compacted topic cannot accept message without key in topic partition {partition_dir.name}."
        assert getattr(error, "record_errors", None) == [(1, message), (3, message)]
        assert error.message.startswith("One or more records have been rejected due to 2 record errors in total")
        # thousands of keyless records after a keyed one (the walk once checked such runs column by column)
        uniform = [Record(0, 1_000, b"k", b"v" * 10)] + [Record(i, 1_000, None, b"v" * 10) for i in range(1, 3000)]
        error = _refused(log, build_batch(uniform, base_offset=0))
        assert [index for index, _ in getattr(error, "record_errors", ())] == list(range(1, 3000))
    finally:
        log.close()


def _records(count: int, *, value_size: int | None = 100, seed: int = 1, headers: bool = False) -> list[Record]:
    rng = random.Random(seed)
    return [
        Record(
            i,
            1_700_000_000_000 + (i * 7 if seed % 2 else rng.randrange(100_000)),
            None if i % 5 == 0 else b"key-%d" % (i % 3),
            None if i % 11 == 0 and value_size is None else rng.randbytes(value_size or rng.randrange(0, 300)),
            (("trace", rng.randbytes(4)), ("null", None)) if headers and i % 4 == 0 else (),
        )
        for i in range(count)
    ]


GOOD_SHAPES = {
    "uniform-100B": [Record(i, 1_000 + i, None, b"x" * 100) for i in range(9000)],
    "uniform-1KiB-keyed": [Record(i, 1_000, b"key-%04d" % i, b"y" * 1024) for i in range(1000)],
    "uniform-growing-timestamps": [Record(i, 1_000 + 40 * i, None, b"z" * 20) for i in range(20_000)],
    "variable": _records(3000, value_size=None),
    "variable-with-headers": _records(3000, value_size=None, headers=True),
    "mixed-runs": [Record(i, 1_000, None, b"a" * (10 if (i // 500) % 2 else 30)) for i in range(5000)],
    "empty-values": [Record(i, 1_000, b"", b"") for i in range(100)],
    "one-record": [Record(0, 1_000, b"k", None)],
}


@pytest.mark.parametrize("codec", list(Codec), ids=[c.name.lower() for c in Codec])
@pytest.mark.parametrize("shape", sorted(GOOD_SHAPES))
def test_good_batches_of_every_shape_and_codec_are_stored_as_sent(partition_dir: Path, shape: str, codec: Codec):
    records = GOOD_SHAPES[shape]
    batch = build_batch(records, base_offset=0, compression=codec)
    log = PartitionLog(partition_dir, config=LogConfig(max_message_bytes=8 << 20))
    try:
        info = log.append_as_leader(batch, leader_epoch=0)
        assert info.record_count == len(records)
        assert [(r.offset, r.key, r.value, r.headers) for r in read_all(log, max_bytes=8 << 20)] == [
            (r.offset, r.key, r.value, r.headers) for r in records
        ]
    finally:
        log.close()


def test_a_recompressing_topic_reuses_the_validated_records(partition_dir: Path) -> None:
    log = PartitionLog(partition_dir, config=LogConfig(compression_type="lz4"))
    try:
        records = _records(500)
        log.append_as_leader(build_batch(records, base_offset=0, compression=Codec.GZIP), leader_epoch=0)
        assert [r.value for r in read_all(log)] == [r.value for r in records]
        assert _refused(log, damaged.gzip_of_garbage_records()).code == ErrorCode.INVALID_RECORD
    finally:
        log.close()


# -- damage deep inside long runs of one layout (varints of one, two and three bytes) ---------------------

RUN = [Record(i, 1_000 + i // 100, b"key", b"v" * 50) for i in range(9000)]


def _resign(batch: bytearray) -> bytes:
    struct.pack_into(">I", batch, 17, crc32c(memoryview(batch)[21:]))
    return bytes(batch)


def _record_start(index: int) -> int:
    """Where record ``index`` starts in a batch of RUN records (all one layout past index 63)."""
    return 61 + sum(len(damaged.raw_record(i, b"v" * 50, key=b"key", timestamp_delta=i // 100)) for i in range(index))


@pytest.mark.parametrize("index", [1, 63, 64, 65, 100, 4000, 8190, 8191, 8192, 8999])
@pytest.mark.parametrize(
    "where",
    ["length", "attributes-ok", "timestamp-continuation", "offset-delta", "key-length", "value-length",
     "header-count"],
)
def test_damage_deep_inside_a_run_is_found(log: PartitionLog, index: int, where: str) -> None:
    batch = bytearray(build_batch(RUN, base_offset=0))
    start = _record_start(index)
    record = damaged.raw_record(index, b"v" * 50, key=b"key", timestamp_delta=index // 100)
    assert batch[start : start + len(record)] == record
    length_size = 1 if len(record) - 1 < 64 else 2
    ts = start + length_size + 1
    ts_size = len(damaged.zigzag(index // 100))
    od = ts + ts_size
    od_size = len(damaged.zigzag(index))
    key_length = od + od_size
    value_length = key_length + 1 + 3
    offsets = {
        "length": start, "attributes-ok": start + length_size, "timestamp-continuation": ts + ts_size - 1,
        "offset-delta": od + od_size - 1, "key-length": key_length, "value-length": value_length,
        "header-count": start + len(record) - 1,
    }
    position = offsets[where]
    batch[position] ^= 0x80 if where == "timestamp-continuation" else 0x04 if where != "attributes-ok" else 0xFF
    damaged_batch = _resign(batch)
    if where == "attributes-ok":  # the attributes byte of a v2 record is unused: any value is fine
        log.append_as_leader(damaged_batch, leader_epoch=0)
        assert log.log_end_offset == len(RUN)
        return
    assert _refused(log, damaged_batch).code == ErrorCode.INVALID_RECORD


UNIFORM = build_batch([Record(i, 1_000 + (i // 40), b"key", b"value-%03d" % (i % 1000)) for i in range(2000)],
                      base_offset=0)
MIXED = build_batch(_records(120, value_size=None, headers=True), base_offset=0)


def _strict_accepts(tmp: Path, batch: bytes) -> bool:
    segment = tmp / "00000000000000000000.log"
    segment.write_bytes(batch)
    try:
        read_segment(segment)
    except CorruptLog:
        return False
    return True


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), which=st.sampled_from(["uniform", "mixed"]))
def test_the_walk_agrees_with_the_strict_decoder_on_random_damage(tmp_path: Path, data, which: str) -> None:
    """Flip bytes of the records section (CRC recomputed): kopfka refuses exactly what the hostile tier's
    independent decoder refuses."""
    batch = bytearray(UNIFORM if which == "uniform" else MIXED)
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(61, len(batch) - 1))
        batch[position] = data.draw(st.integers(0, 255))
    candidate = _resign(batch)
    log = PartitionLog(tmp_path / "fuzz-0", config=LogConfig())
    try:
        log.append_as_leader(candidate, leader_epoch=0)
        accepted = True
    except KafkaError as error:
        assert error.code == ErrorCode.INVALID_RECORD, error
        accepted = False
    finally:
        log.delete()
    assert accepted == _strict_accepts(tmp_path, candidate)


# -- decompression within a bound --------------------------------------------------------------------------


def test_decompression_stops_at_the_bound_without_taking_the_memory() -> None:
    from kafka_broker.storage.validation import MAX_DECOMPRESSION_RATIO, decompress_bounded

    limit = MAX_DECOMPRESSION_RATIO * (64 << 10)  # 4 MiB for a 64 KiB max.message.bytes
    plain = bytes(40 << 20)
    bombs = {
        Codec.GZIP: compress(Codec.GZIP, plain),
        Codec.LZ4: lz4.frame.compress(plain),
        Codec.ZSTD: bytes(cramjam.zstd.compress(plain)),
        Codec.SNAPPY: compress(Codec.SNAPPY, plain),
    }
    for codec, bomb in bombs.items():
        tracemalloc.start()
        try:
            with pytest.raises(RecordTooLargeError):
                decompress_bounded(codec, bomb, limit=limit)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 3 * limit, f"{codec.name}: {peak} bytes at the peak for a limit of {limit}"
    assert decompress_bounded(Codec.ZSTD, bombs[Codec.ZSTD], limit=len(plain)) == plain
    assert decompress_bounded(Codec.GZIP, zlib.compress(b"abc" * 100), limit=300) == b"abc" * 100


def test_every_codec_decodes_what_clients_write() -> None:
    from kafka_broker.storage.validation import validate_records

    from .helpers import MemoryRecordsBuilder, kafka_codec

    for codec_id, name in ((1, "gzip"), (2, "snappy"), (3, "lz4"), (4, "zstd")):
        builder = MemoryRecordsBuilder(magic=2, compression_type=codec_id, batch_size=1 << 20)
        for i in range(50):
            builder.append(timestamp=1_000 + i, key=b"k%d" % i, value=b"value-%d" % i * 10, headers=[])
        builder.close()
        batch = builder.buffer()
        header = validate_batches(batch, max_batch_bytes=1 << 20)
        bodies = validate_records(memoryview(batch), header, max_batch_bytes=1 << 20, keep_sections=True)
        assert bodies[0] is not None and len(bodies[0]) > 50 * 60, name
    assert kafka_codec.has_snappy()


def test_walk_records_reports_keyless_indexes_only_when_asked(walk: ModuleType) -> None:
    walk_records = walk.walk_records
    batch = make_batch(3)
    assert walk_records(batch[61:], 3) == []
    records = [Record(i, 1_000, None, b"v") for i in range(3)]
    assert walk_records(build_batch(records, base_offset=0)[61:], 3, require_keys=True) == [0, 1, 2]
