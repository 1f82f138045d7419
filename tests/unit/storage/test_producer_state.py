"""Idempotent-producer state: duplicates, sequence gaps, epochs, wrap-around, rebuild after reopen, truncation."""

from __future__ import annotations

import pytest
from tests.unit.storage.helpers import make_records, read_all

from kafka_broker.protocol.errors import ErrorCode, KafkaError
from kafka_broker.storage.log import PartitionLog
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.producer_state import INT32_MAX, ProducerStateManager, last_sequence
from kafka_broker.storage.records import build_batch, iter_batches

PID = 4000


def batch(count: int, seq: int, *, pid: int = PID, epoch: int = 0, tag: int = 0) -> bytes:
    return build_batch(make_records(count, start=tag), base_offset=0, producer_id=pid, producer_epoch=epoch,
                       base_sequence=seq)


@pytest.fixture
def log(partition_dir):
    plog = PartitionLog(partition_dir, config=LogConfig(segment_bytes=4096), now_ms=0)
    yield plog
    plog.close()


def append(log: PartitionLog, data: bytes):
    return log.append_as_leader(data, leader_epoch=1, now_ms=1000)


def test_last_sequence_wraps_at_int32_max() -> None:
    assert last_sequence(0, 4) == 4
    assert last_sequence(INT32_MAX, 0) == INT32_MAX
    assert last_sequence(INT32_MAX - 1, 3) == 1
    assert last_sequence(INT32_MAX, 1) == 0


def test_in_sequence_batches_append(log) -> None:
    assert append(log, batch(3, 0)).first_offset == 0
    assert append(log, batch(2, 3)).first_offset == 3
    entry = log.producer_state.get(PID)
    assert entry.epoch == 0 and entry.last_seq == 4
    assert [b.first_offset for b in entry.batches] == [0, 3]


def test_a_retried_batch_answers_its_original_offsets_and_appends_nothing(log) -> None:
    append(log, batch(3, 0))
    append(log, batch(2, 3))
    append(log, batch(1, 5, pid=PID + 1))  # another producer in between
    end = log.log_end_offset
    info = append(log, batch(3, 0))
    assert (info.first_offset, info.last_offset, info.record_count) == (0, 2, 0)
    assert append(log, batch(2, 3)).first_offset == 3
    assert log.log_end_offset == end
    assert len(read_all(log)) == 6


def test_only_the_last_five_batches_are_remembered(log) -> None:
    for i in range(7):
        append(log, batch(1, i))
    assert append(log, batch(1, 2)).record_count == 0  # within the last five: duplicate
    with pytest.raises(KafkaError) as err:
        append(log, batch(1, 1))  # older than the cache: out of order, like Kafka
    assert err.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


def test_a_gap_is_out_of_order(log) -> None:
    append(log, batch(3, 0))
    with pytest.raises(KafkaError) as err:
        append(log, batch(1, 5))
    assert err.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert log.log_end_offset == 3
    assert append(log, batch(1, 3)).first_offset == 3  # the state did not move


def test_epochs(log) -> None:
    append(log, batch(3, 0, epoch=2))
    with pytest.raises(KafkaError) as err:
        append(log, batch(1, 3, epoch=1))
    assert err.value.code == ErrorCode.INVALID_PRODUCER_EPOCH
    with pytest.raises(KafkaError) as err:
        append(log, batch(1, 7, epoch=3))  # a new epoch starts at 0
    assert err.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert append(log, batch(1, 0, epoch=3)).first_offset == 3
    assert log.producer_state.get(PID).epoch == 3


def test_an_unknown_producer_is_accepted_at_any_sequence(log) -> None:
    """Modern Kafka (KIP-360): the producer's state may be gone (retention); it continues from there."""
    assert append(log, batch(2, 17)).first_offset == 0
    assert append(log, batch(1, 19)).first_offset == 2


def test_sequences_wrap(log) -> None:
    append(log, batch(2, INT32_MAX - 1))
    assert append(log, batch(2, 0)).first_offset == 2
    assert append(log, batch(2, 0)).record_count == 0


def test_batches_without_a_producer_id_are_not_checked(log) -> None:
    plain = build_batch(make_records(2), base_offset=0)
    append(log, plain)
    append(log, plain)
    assert log.log_end_offset == 4 and len(log.producer_state) == 0


def test_two_batches_of_one_request_are_checked_in_order() -> None:
    state = ProducerStateManager()
    data = batch(2, 0) + batch(2, 2)
    assert state.check(list(iter_batches(data))) is None
    with pytest.raises(KafkaError):
        state.check(list(iter_batches(batch(2, 0) + batch(2, 5))))
    with pytest.raises(KafkaError) as err:
        state.check(list(iter_batches(batch(2, 0) + batch(2, 0))))
    assert err.value.code == ErrorCode.DUPLICATE_SEQUENCE_NUMBER


def test_followers_keep_the_state_so_a_new_leader_detects_retries(partition_dir, tmp_path) -> None:
    leader = PartitionLog(partition_dir, config=LogConfig(), now_ms=0)
    follower = PartitionLog(tmp_path / "replica" / partition_dir.name, config=LogConfig(), now_ms=0)
    try:
        for i in range(3):
            info = append(leader, batch(2, 2 * i))
            data = b"".join(leader.read(info.first_offset, max_bytes=1 << 20).slice.read() for _ in [0])
            follower.append_as_follower(data)
        assert follower.append_as_leader(batch(2, 4), leader_epoch=2, now_ms=1).first_offset == 4
        assert follower.log_end_offset == 6
        assert follower.append_as_leader(batch(2, 6), leader_epoch=2, now_ms=1).first_offset == 6
    finally:
        leader.close()
        follower.close()


def test_state_is_rebuilt_when_the_log_is_reopened(partition_dir) -> None:
    plog = PartitionLog(partition_dir, config=LogConfig(segment_bytes=400), now_ms=0)
    for i in range(6):
        append(plog, batch(2, 2 * i))
    append(plog, batch(1, 0, pid=PID + 7, epoch=3))
    assert len(plog.segments) > 2
    before = {pid: (e.epoch, list(e.batches)) for pid, e in plog.producer_state.producers.items()}
    plog.close()
    reopened = PartitionLog(partition_dir, config=LogConfig(segment_bytes=400), now_ms=0)
    try:
        after = {pid: (e.epoch, list(e.batches)) for pid, e in reopened.producer_state.producers.items()}
        assert after == before
        assert append(reopened, batch(2, 8)).record_count == 0
        assert append(reopened, batch(1, 12)).first_offset == 13
    finally:
        reopened.close()


def test_truncation_rolls_the_state_back(log) -> None:
    for i in range(4):
        append(log, batch(2, 2 * i))
    log.truncate_to(4)
    entry = log.producer_state.get(PID)
    assert entry.last_seq == 3
    assert append(log, batch(2, 4)).first_offset == 4  # the truncated batch is new again
    log.truncate_fully_and_start_at(100)
    assert len(log.producer_state) == 0
