import os

import pytest

from kafka_broker.protocol.errors import InvalidRecordError, OffsetOutOfRangeError, RecordTooLargeError
from kafka_broker.storage.compression import Codec
from kafka_broker.storage.log import PartitionLog, parse_partition_dir, wall_clock_ms
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.records import (
    LOG_APPEND_TIME,
    Record,
    assign_offsets,
    build_batch,
    control_record,
    decode_records,
    iter_batches,
    parse_header,
    validate_batches,
)

from .helpers import DefaultRecordBatchBuilder, MemoryRecords, make_batch, make_records, read_all, records_of

NOW = wall_clock_ms()  # segments are aged by the wall clock unless a test passes now_ms


def open_log(directory, **config):
    return PartitionLog(directory, config=LogConfig(**config), now_ms=NOW)


def test_parse_partition_dir():
    assert parse_partition_dir("orders-0") == ("orders", 0)
    assert parse_partition_dir("my.topic_with-dashes-12") == ("my.topic_with-dashes", 12)
    assert parse_partition_dir("orders-0.0f2a-delete") is None
    assert parse_partition_dir("orders") is None
    assert parse_partition_dir("-3") is None


def test_append_assigns_offsets_and_stores_bytes_as_received(partition_dir):
    log = open_log(partition_dir)
    assert (log.topic, log.partition) == ("orders.eu_west-1", 0)
    sent = [make_batch(3), make_batch(5, compression=Codec.ZSTD), make_batch(1)]
    infos = [log.append_as_leader(batch, leader_epoch=4, now_ms=NOW) for batch in sent]
    assert [(i.first_offset, i.last_offset, i.record_count) for i in infos] == [(0, 2, 3), (3, 7, 5), (8, 8, 1)]
    assert infos[0].log_append_time == -1 and infos[0].max_timestamp == 1002
    assert log.log_end_offset == 9
    stored = log.read(0, max_bytes=1 << 20).slice.read()
    for header, batch in zip(iter_batches(stored), sent, strict=True):
        got = stored[header.position : header.end]
        assert got[16:] == batch[16:] and got[8:12] == batch[8:12]  # only base offset and epoch changed
        assert header.partition_leader_epoch == 4
    assert [r.offset for r in read_all(log)] == list(range(9))
    log.close()


def test_writable_input_is_stamped_in_place(partition_dir):
    log = open_log(partition_dir)
    log.append_as_leader(make_batch(2), leader_epoch=0)
    buffer = bytearray(make_batch(3))
    log.append_as_leader(memoryview(buffer), leader_epoch=0)
    assert parse_header(buffer).base_offset == 2
    log.close()


def test_read_rules(partition_dir):
    log = open_log(partition_dir)
    big = make_batch(4, value_size=5000)
    log.append_as_leader(make_batch(2), leader_epoch=0)
    log.append_as_leader(big, leader_epoch=0)
    log.append_as_leader(make_batch(2), leader_epoch=0)
    with pytest.raises(OffsetOutOfRangeError):
        log.read(9, max_bytes=100)
    result = log.read(8, max_bytes=100)
    assert result.slice is None and result.next_offset == 8 and result.log_end_offset == 8
    result = log.read(3, max_bytes=100)  # the big batch is returned whole: min one batch
    assert result.slice.length == len(big) and result.next_offset == 6
    result = log.read(0, max_bytes=len(big))
    assert [h.base_offset for h in iter_batches(result.slice.read())] == [0]
    result = log.read(0, max_bytes=10**6, max_offset=6)
    assert result.next_offset == 6 and [h.base_offset for h in iter_batches(result.slice.read())] == [0, 2]
    assert log.read(6, max_bytes=10**6, max_offset=6).slice is None
    log.close()


def test_batch_above_max_message_bytes_is_refused(partition_dir):
    log = open_log(partition_dir, max_message_bytes=500)
    with pytest.raises(RecordTooLargeError):
        log.append_as_leader(make_batch(4, value_size=200), leader_epoch=0)
    assert log.log_end_offset == 0 and log.size == 0
    log.close()


def test_roll_by_size(partition_dir):
    batch = make_batch(2, value_size=100)
    log = open_log(partition_dir, segment_bytes=len(batch) * 3 + 10)
    for _ in range(10):
        log.append_as_leader(batch, leader_epoch=0)
    assert [s.base_offset for s in log.segments] == [0, 6, 12, 18]
    assert all(s.size <= len(batch) * 3 for s in log.segments)
    assert sorted(p.name for p in partition_dir.glob("*.log"))[1] == "00000000000000000006.log"
    assert [r.offset for r in read_all(log, max_bytes=1)] == list(range(20))
    log.close()


def test_roll_by_time(partition_dir):
    log = open_log(partition_dir, segment_ms=1000)
    log.append_as_leader(make_batch(1), leader_epoch=0, now_ms=NOW)
    log.append_as_leader(make_batch(1), leader_epoch=0, now_ms=NOW + 1000)
    assert len(log.segments) == 1
    log.append_as_leader(make_batch(1), leader_epoch=0, now_ms=NOW + 1001)
    assert [s.base_offset for s in log.segments] == [0, 2]
    log.append_as_leader(make_batch(1), leader_epoch=0, now_ms=NOW + 2000)
    assert len(log.segments) == 2
    log.close()


def test_roll_when_index_is_full(partition_dir):
    log = open_log(partition_dir, segment_index_bytes=24, index_interval_bytes=0)
    for _ in range(12):
        log.append_as_leader(make_batch(1), leader_epoch=0)
    assert len(log.segments) > 2
    assert all(s.offset_index.entries <= 3 for s in log.segments)
    assert [r.offset for r in read_all(log)] == list(range(12))
    log.close()


def test_retention_by_time_never_deletes_the_active_segment(partition_dir):
    log = open_log(partition_dir, segment_bytes=400, retention_ms=10_000, file_delete_delay_ms=0)
    for i in range(6):
        log.append_as_leader(make_batch(2, timestamp=NOW + i * 5_000, value_size=100), leader_epoch=0)
    segments = log.segments
    assert len(segments) == 6
    assert log.enforce_retention(NOW + 5_000) == 0
    assert log.enforce_retention(NOW + 20_001) == 2  # newest record of segment 2 is NOW + 10_001
    assert log.enforce_retention(NOW + 20_002) == 1
    assert log.log_start_offset == segments[3].base_offset == 6
    assert not (partition_dir / "00000000000000000000.log").exists()
    with pytest.raises(OffsetOutOfRangeError):
        log.read(0, max_bytes=100)
    assert log.enforce_retention(NOW + 10**9) == 2
    assert len(log.segments) == 1 and log.log_start_offset == 10
    log.append_as_leader(make_batch(1), leader_epoch=0)
    assert log.log_end_offset == 13
    log.close()


def test_retention_by_bytes(partition_dir):
    batch = make_batch(2, value_size=100)
    log = open_log(
        partition_dir,
        segment_bytes=len(batch) * 2,
        retention_bytes=len(batch) * 5,
        retention_ms=-1,
        file_delete_delay_ms=0,
    )
    for _ in range(9):
        log.append_as_leader(batch, leader_epoch=0)
    assert [s.size // len(batch) for s in log.segments] == [2, 2, 2, 2, 1]
    assert log.enforce_retention(NOW) == 2
    assert log.size == len(batch) * 5 and log.log_start_offset == 8
    assert log.enforce_retention(NOW) == 0
    log.close()


def test_deleted_segments_stay_readable_until_the_delay(partition_dir):
    log = open_log(partition_dir, segment_bytes=300, file_delete_delay_ms=60_000, retention_ms=-1)
    for _ in range(4):
        log.append_as_leader(make_batch(2, value_size=100), leader_epoch=0)
    in_flight = log.read(0, max_bytes=100).slice
    expected = in_flight.read()
    log.delete_records_before(4, now_ms=NOW)
    assert log.log_start_offset == 4 and log.segments[0].base_offset == 4
    assert (partition_dir / "00000000000000000000.log.deleted").exists()
    assert in_flight.read() == expected
    log.enforce_retention(NOW + 59_999)
    assert (partition_dir / "00000000000000000000.log.deleted").exists()
    log.enforce_retention(NOW + 60_000)
    assert not list(partition_dir.glob("*.deleted"))
    log.close()


@pytest.mark.parametrize("damage", ["cut", "flip"])
def test_recovery_of_a_damaged_last_batch(partition_dir, damage):
    log = open_log(partition_dir, segment_bytes=1000)
    for i in range(12):
        log.append_as_leader(make_batch(3, value_size=40, timestamp=NOW + i), leader_epoch=i // 4)
    assert len(log.segments) > 2
    last = log.active_segment
    before = read_all(log)
    last_batch = list(last.scan())[-1]
    log.close()
    path = last.log_path
    data = bytearray(path.read_bytes())
    if damage == "cut":
        data = data[: last_batch.position + last_batch.length // 2]
    else:
        data[last_batch.position + last_batch.length - 5] ^= 0xFF
    path.write_bytes(data)

    log = open_log(partition_dir, segment_bytes=1000)
    assert log.log_end_offset == 33 == last_batch.base_offset
    assert path.stat().st_size == last_batch.position
    assert read_all(log) == before[:33]
    info = log.append_as_leader(make_batch(2), leader_epoch=3)
    assert (info.first_offset, log.log_end_offset) == (33, 35)
    assert [r.offset for r in read_all(log)] == list(range(35))
    log.close()
    log = open_log(partition_dir, segment_bytes=1000)
    assert log.log_end_offset == 35
    log.close()


def test_recovery_rebuilds_indexes_of_older_segments(partition_dir):
    log = open_log(partition_dir, segment_bytes=1000, index_interval_bytes=100)
    for _ in range(20):
        log.append_as_leader(make_batch(3, value_size=40), leader_epoch=0)
    before = read_all(log)
    log.close()
    (partition_dir / "00000000000000000000.index").write_bytes(os.urandom(64))
    (partition_dir / "00000000000000000000.timeindex").write_bytes(b"\x00" * 7)
    (partition_dir / "00000000000000000999.index").write_bytes(b"")  # orphan index
    log = open_log(partition_dir, segment_bytes=1000, index_interval_bytes=100)
    assert read_all(log, max_bytes=1) == before
    assert log.segments[0].offset_index.entries > 0
    assert not (partition_dir / "00000000000000000999.index").exists()
    log.close()


def test_reopen_after_clean_close(partition_dir):
    log = open_log(partition_dir, segment_bytes=2000)
    for i in range(30):
        log.append_as_leader(make_batch(2, timestamp=NOW + i), leader_epoch=1)
    before, segments = read_all(log), [(s.base_offset, s.size) for s in log.segments]
    log.close()
    assert all(p.stat().st_size < 4096 for p in partition_dir.glob("*index"))  # trimmed
    log = open_log(partition_dir, segment_bytes=2000)
    assert [(s.base_offset, s.size) for s in log.segments] == segments
    assert read_all(log) == before and log.log_end_offset == 60
    assert log.offset_for_timestamp(NOW + 17) == (33, NOW + 17)  # batch 16: NOW+16, NOW+17
    log.close()


@pytest.mark.parametrize("topic_codec", ["lz4", "zstd", "snappy", "gzip", "uncompressed"])
def test_recompression_to_the_topic_codec(partition_dir, topic_codec):
    log = open_log(partition_dir, compression_type=topic_codec)
    records = make_records(20, value_size=50)
    sent = build_batch(records, base_offset=0, compression=Codec.GZIP, producer_id=9, producer_epoch=0, base_sequence=0)
    info = log.append_as_leader(sent, leader_epoch=0)
    stored = log.read(0, max_bytes=1 << 20).slice.read()
    (header,) = validate_batches(stored, max_batch_bytes=1 << 20)  # CRC valid
    expected = {"lz4": Codec.LZ4, "zstd": Codec.ZSTD, "snappy": Codec.SNAPPY, "gzip": Codec.GZIP}
    assert header.compression == expected.get(topic_codec, Codec.NONE)
    assert (header.producer_id, header.base_sequence, info.record_count) == (9, 0, 20)
    assert decode_records(stored) == records
    if topic_codec == "gzip":
        assert stored[16:] == sent[16:]  # same codec: untouched
    batch = MemoryRecords(stored).next_batch()  # and a client reads it
    assert batch.validate_crc() and [r.value for r in batch] == [r.value for r in records]
    log.close()


def test_producer_codec_is_kept(partition_dir):
    log = open_log(partition_dir)
    for codec in (Codec.NONE, Codec.SNAPPY, Codec.LZ4):
        log.append_as_leader(make_batch(2, compression=codec), leader_epoch=0)
    stored = log.read(0, max_bytes=1 << 20).slice.read()
    assert [h.compression for h in iter_batches(stored)] == [Codec.NONE, Codec.SNAPPY, Codec.LZ4]
    log.close()


def test_log_append_time(partition_dir):
    log = open_log(partition_dir, message_timestamp_type="LogAppendTime", compression_type="lz4")
    info = log.append_as_leader(make_batch(3, timestamp=5), leader_epoch=0, now_ms=NOW + 42)
    assert info.log_append_time == NOW + 42 == info.max_timestamp
    stored = log.read(0, max_bytes=1 << 20).slice.read()
    (header,) = validate_batches(stored, max_batch_bytes=1 << 20)
    assert header.timestamp_type == LOG_APPEND_TIME and header.compression == Codec.LZ4
    assert {r.timestamp for r in decode_records(stored)} == {NOW + 42}
    assert log.offset_for_timestamp(NOW) == (0, NOW + 42)
    log.close()


def test_kafka_python_batches_round_trip_through_the_log(partition_dir):
    log = open_log(partition_dir)
    for codec in (Codec.NONE, Codec.GZIP, Codec.SNAPPY, Codec.LZ4, Codec.ZSTD):
        builder = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, 1 << 20)
        for i in range(10):
            builder.append(i, NOW + i, None, b"payload %d " % i * 30, [])
        log.append_as_leader(bytes(builder.build()), leader_epoch=2)
    stored = log.read(0, max_bytes=1 << 20).slice.read()
    records = MemoryRecords(stored)
    offsets = []
    while records.has_next():
        batch = records.next_batch()
        assert batch.validate_crc()
        offsets.extend(r.offset for r in batch)
    assert offsets == list(range(50))
    log.close()


def test_append_as_follower_keeps_offsets_and_epochs(partition_dir):
    log = open_log(partition_dir)
    leader_data = bytearray(make_batch(3) + make_batch(2) + make_batch(4))
    headers = assign_offsets(leader_data, 0, 5)
    assign_offsets(memoryview(leader_data)[headers[2].position :], 10, 6)  # a gap: 5..9 compacted away
    info = log.append_as_follower(leader_data)
    assert (info.first_offset, info.last_offset, log.log_end_offset) == (0, 13, 14)
    assert log.read(0, max_bytes=1 << 20).slice.read() == leader_data
    assert [e[:] for e in log.leader_epochs.entries] == [(5, 0), (6, 10)]
    assert log.end_offset_for_epoch(5) == (5, 10)
    assert log.end_offset_for_epoch(6) == (6, 14)
    assert [r.offset for r in read_all(log)] == [0, 1, 2, 3, 4, 10, 11, 12, 13]
    assert records_of(log.read(7, max_bytes=1).slice.read())[0].offset == 10
    with pytest.raises(InvalidRecordError):
        log.append_as_follower(leader_data)  # offsets below the log end
    log.close()


def test_coordinator_writes_control_batches(partition_dir):
    log = open_log(partition_dir)
    marker = build_batch(
        [control_record(0, NOW, commit=True, coordinator_epoch=1)],
        base_offset=0, is_control=True, is_transactional=True, producer_id=1, producer_epoch=0,
    )  # fmt: skip
    with pytest.raises(InvalidRecordError):
        log.append_as_leader(marker, leader_epoch=0)
    assert log.append_as_leader(marker, leader_epoch=0, from_client=False).first_offset == 0
    log.close()


def test_truncate_to_across_segments(partition_dir):
    log = open_log(partition_dir, segment_bytes=600, file_delete_delay_ms=0)
    for i in range(12):
        log.append_as_leader(make_batch(2, value_size=60), leader_epoch=i // 3)
    assert len(log.segments) >= 4
    log.truncate_to(9)  # inside batch 8..9: the whole batch goes
    assert log.log_end_offset == 8
    assert all(s.base_offset <= 8 for s in log.segments) and log.active_segment.is_empty
    assert [e.epoch for e in log.leader_epochs.entries] == [0, 1]
    assert log.active_segment.offset_index.max_entries > 0
    info = log.append_as_leader(make_batch(2), leader_epoch=7)
    assert info.first_offset == 8 and log.end_offset_for_epoch(1) == (1, 8)
    assert [r.offset for r in read_all(log)] == list(range(10))
    log.truncate_to(0)
    assert (log.log_start_offset, log.log_end_offset, len(log.segments)) == (0, 0, 1)
    log.truncate_fully_and_start_at(100)
    assert (log.log_start_offset, log.log_end_offset) == (100, 100)
    assert log.append_as_leader(make_batch(1), leader_epoch=8).first_offset == 100
    log.close()
    assert [p.name for p in sorted(partition_dir.glob("*.log"))] == ["00000000000000000100.log"]


def test_delete_records_before(partition_dir):
    log = open_log(partition_dir, segment_bytes=400, file_delete_delay_ms=0)
    for _ in range(8):
        log.append_as_leader(make_batch(2, value_size=100), leader_epoch=0)
    assert log.delete_records_before(5) == 5
    assert log.segments[0].base_offset == 4
    with pytest.raises(OffsetOutOfRangeError):
        log.read(4, max_bytes=10)
    assert records_of(log.read(5, max_bytes=1).slice.read())[0].offset == 4  # whole batch 4..5
    assert log.delete_records_before(3) == 5  # never moves back
    with pytest.raises(OffsetOutOfRangeError):
        log.delete_records_before(17)
    assert log.delete_records_before(16) == 16 and log.read(16, max_bytes=1).slice is None
    assert len(log.segments) == 1  # the active segment stays
    log.close()


def test_offset_for_timestamp(partition_dir):
    log = open_log(partition_dir, segment_bytes=500, index_interval_bytes=50)
    timestamps = [NOW + 10 * i for i in range(40)]
    timestamps[20] = NOW + 10_000  # one record from the future
    for start in range(0, 40, 4):
        records = [Record(i - start, timestamps[i], None, b"x" * 30) for i in range(start, start + 4)]
        log.append_as_leader(build_batch(records, base_offset=0), leader_epoch=0)
    assert len(log.segments) > 3
    assert log.offset_for_timestamp(0) == (0, NOW)
    assert log.offset_for_timestamp(NOW + 95) == (10, NOW + 100)
    assert log.offset_for_timestamp(NOW + 201) == (20, NOW + 10_000)
    assert log.offset_for_timestamp(NOW + 10_001) is None
    assert log.offset_for_timestamp(-1) == (40, -1)
    assert log.offset_for_timestamp(-2) == (0, -1)
    assert log.offset_for_timestamp(-3) == (20, NOW + 10_000)
    log.delete_records_before(22)
    assert log.offset_for_timestamp(0) == (22, NOW + 220)
    log.close()


def test_leader_epoch_checkpoint_file(partition_dir):
    log = open_log(partition_dir)
    for epoch in (0, 0, 2, 2, 5):
        log.append_as_leader(make_batch(2), leader_epoch=epoch)
    assert (partition_dir / "leader-epoch-checkpoint").read_text() == "0\n3\n0 0\n2 4\n5 8\n"
    assert log.end_offset_for_epoch(1) == (0, 4)
    assert log.end_offset_for_epoch(6) == (-1, -1)
    log.close()
    log = open_log(partition_dir)
    assert log.latest_epoch == 5 and log.end_offset_for_epoch(5) == (5, 10)
    log.close()


def test_flush_messages_policy(partition_dir):
    log = open_log(partition_dir, flush_messages=5)
    log.append_as_leader(make_batch(3), leader_epoch=0)
    assert log.active_segment.dirty
    log.append_as_leader(make_batch(3), leader_epoch=0)
    assert not log.active_segment.dirty
    log.close()


def test_update_config_and_delete(partition_dir):
    log = open_log(partition_dir)
    log.update_config(LogConfig(segment_bytes=200, segment_index_bytes=80))
    assert log.active_segment.offset_index.max_entries == 10
    for _ in range(3):
        log.append_as_leader(make_batch(2), leader_epoch=0)
    assert len(log.segments) == 3
    log.delete()
    assert not partition_dir.exists()


@pytest.mark.parametrize("compression", [Codec.NONE, Codec.LZ4])
def test_compacted_topic_refuses_records_without_a_key(partition_dir, compression):
    log = open_log(partition_dir, cleanup_policy="compact")
    keyed = make_batch(3, compression=compression)
    unkeyed = build_batch([*make_records(2), Record(2, 1_002, None, b"no key", ())], base_offset=0,
                          compression=compression)
    log.append_as_leader(keyed, leader_epoch=0)
    with pytest.raises(InvalidRecordError, match="Compacted topic cannot accept message without key"):
        log.append_as_leader(keyed + unkeyed, leader_epoch=0)
    assert log.log_end_offset == 3  # nothing of the refused request was written
    assert [r.offset for r in read_all(log)] == [0, 1, 2]
    log.close()


def test_records_without_a_key_are_fine_where_nothing_is_compacted(partition_dir):
    log = open_log(partition_dir)
    log.append_as_leader(build_batch([Record(0, 1_000, None, b"v", ())], base_offset=0), leader_epoch=0)
    assert [r.key for r in read_all(log)] == [None]
    log.close()
