"""One partition replica: roles, the leader's view of its followers, the high watermark, the ISR
lag rule (time from an injected clock), and the acks=all wait."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kafka_broker.cluster.partition import Partition
from kafka_broker.protocol.errors import ErrorCode, KafkaError
from kafka_broker.storage.log import PartitionLog
from kafka_broker.storage.log_config import LogConfig

from .fakes import Clock, append

LAG_MS = 10_000


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(tmp_path: Path) -> PartitionLog:
    log = PartitionLog(tmp_path / "t-0", config=LogConfig())
    yield log
    log.close()


@pytest.fixture
def leader(log: PartitionLog, clock: Clock) -> Partition:
    """Broker 1 leading t-0 at epoch 5 with followers 2 and 3, all in sync."""
    part = Partition("t", 0, log, broker_id=1, clock=clock)
    part.become_leader(leader_epoch=5, isr=(1, 2, 3), replicas=[1, 2, 3])
    return part


def test_becoming_leader_starts_an_epoch_at_the_log_end(log: PartitionLog, clock: Clock) -> None:
    append(log, 3, epoch=2)
    part = Partition("t", 0, log, broker_id=1, clock=clock)
    part.become_follower(leader_id=2, leader_epoch=2, isr=(1, 2), replicas=[2, 1])
    assert not part.is_leader
    part.become_leader(leader_epoch=3, isr=(1, 2), replicas=[2, 1])
    assert part.is_leader and part.leader_epoch == 3
    assert part.epoch_start_offset == 3
    assert log.leader_epochs.entries[-1] == (3, 3)
    assert set(part.followers) == {2}


def test_check_leader_answers_the_client_errors(leader: Partition) -> None:
    leader.check_leader(5)
    leader.check_leader()
    for epoch, code in ((4, ErrorCode.FENCED_LEADER_EPOCH), (6, ErrorCode.UNKNOWN_LEADER_EPOCH)):
        with pytest.raises(KafkaError) as info:
            leader.check_leader(epoch)
        assert info.value.code == code
    leader.become_follower(leader_id=2, leader_epoch=6, isr=(2,), replicas=[1, 2, 3])
    with pytest.raises(KafkaError) as info:
        leader.check_leader(6)
    assert info.value.code == ErrorCode.NOT_LEADER_OR_FOLLOWER


def test_high_watermark_is_the_smallest_log_end_in_the_isr(leader: Partition) -> None:
    append(leader.log, 10, epoch=5)
    leader.after_leader_append()
    assert leader.high_watermark == 0  # followers have nothing yet
    leader.update_follower(2, 10)
    assert leader.high_watermark == 0  # follower 3 still at nothing
    leader.update_follower(3, 4)
    assert leader.high_watermark == 4
    leader.update_follower(3, 10)
    assert leader.high_watermark == 10
    leader.update_follower(3, 7)  # an older fetch offset never moves the high watermark back
    assert leader.high_watermark == 10


def test_alone_in_the_isr_the_leader_commits_on_append(leader: Partition) -> None:
    leader.update_state(isr=(1,), replicas=[1, 2, 3])
    append(leader.log, 2, epoch=5)
    leader.after_leader_append()
    assert leader.high_watermark == 2


def test_an_isr_member_never_heard_of_holds_the_high_watermark(leader: Partition) -> None:
    append(leader.log, 2, epoch=5)
    leader.update_state(isr=(1, 2, 3, 4), replicas=[1, 2, 3])  # 4 is not even a replica any more
    leader.update_follower(2, 2)
    leader.update_follower(3, 2)
    assert leader.high_watermark == 0


def test_follower_takes_the_leader_high_watermark_capped_at_its_log_end(log: PartitionLog, clock: Clock) -> None:
    part = Partition("t", 0, log, broker_id=2, clock=clock)
    part.become_follower(leader_id=1, leader_epoch=5, isr=(1, 2), replicas=[1, 2])
    append(log, 3, epoch=5)
    part.update_follower_high_watermark(10)
    assert part.high_watermark == 3
    part.update_follower_high_watermark(1)
    assert part.high_watermark == 1


def test_a_follower_behind_for_the_lag_time_is_reported(leader: Partition, clock: Clock) -> None:
    append(leader.log, 5, epoch=5)
    leader.update_follower(2, 5)
    leader.update_follower(3, 2)
    clock.advance(LAG_MS)
    assert leader.lagging_followers(LAG_MS) == []  # not *more* than the lag time yet
    leader.update_follower(2, 5)
    clock.advance(1)
    assert leader.lagging_followers(LAG_MS) == [3]
    leader.update_follower(3, 5)  # caught up: no longer lagging
    assert leader.lagging_followers(LAG_MS) == []


def test_a_follower_that_keeps_up_with_steady_produce_is_not_lagging(leader: Partition, clock: Clock) -> None:
    """Kafka's rule: a fetch reaching the leader's end offset *as of the previous fetch* shows the follower
    was caught up at that previous fetch. Under steady produce a follower never sees the end offset the
    leader has by the time its next fetch arrives, yet it is keeping up and must stay in the ISR."""
    leader.update_state(isr=(1, 2), replicas=[1, 2])
    end = append(leader.log, 1, epoch=5)
    leader.update_follower(2, 0)
    for _ in range(40):  # 40 s of a fetch a second, one record produced between fetches
        clock.advance(1_000)
        fetched_to = end  # the follower got everything up to the end at its last fetch ...
        end = append(leader.log, 1, epoch=5)  # ... and meanwhile a producer appended
        leader.update_follower(2, fetched_to)
    assert leader.lagging_followers(LAG_MS) == []


def test_expansion_needs_the_high_watermark_and_the_epoch_start(log: PartitionLog, clock: Clock) -> None:
    append(log, 4, epoch=1)
    part = Partition("t", 0, log, broker_id=1, clock=clock)
    part.become_leader(leader_epoch=2, isr=(1,), replicas=[1, 2])
    assert part.epoch_start_offset == 4
    part.high_watermark = 2
    assert not part.update_follower(2, 3)  # past the high watermark, but not at the epoch start
    assert part.update_follower(2, 4)
    assert not part.update_follower(9, 4)  # not a replica


async def test_acks_all_waiter_is_released_at_its_offset(leader: Partition) -> None:
    end = append(leader.log, 3, epoch=5)
    leader.after_leader_append()
    waiter = asyncio.create_task(leader.wait_until_replicated(end, timeout_s=5, min_insync=2))
    await asyncio.sleep(0)
    leader.update_follower(2, end)
    leader.update_follower(3, end - 1)
    await asyncio.sleep(0)
    assert not waiter.done()  # high watermark 2 < 3
    leader.update_follower(3, end)
    assert await waiter == ErrorCode.NONE
    assert leader.high_watermark == end


async def test_acks_all_waiter_fails_when_leadership_moves(leader: Partition) -> None:
    end = append(leader.log, 1, epoch=5)
    waiter = asyncio.create_task(leader.wait_until_replicated(end, timeout_s=5, min_insync=1))
    await asyncio.sleep(0)
    leader.become_follower(leader_id=2, leader_epoch=6, isr=(2, 3), replicas=[1, 2, 3])
    assert await waiter == ErrorCode.NOT_LEADER_OR_FOLLOWER


async def test_acks_all_waiter_times_out(leader: Partition) -> None:
    end = append(leader.log, 1, epoch=5)
    assert await leader.wait_until_replicated(end, timeout_s=0.02, min_insync=1) == ErrorCode.REQUEST_TIMED_OUT
    assert await leader.wait_until_replicated(end, timeout_s=0, min_insync=1) == ErrorCode.REQUEST_TIMED_OUT


async def test_acks_all_waiter_fails_when_the_isr_shrinks_below_min_insync(leader: Partition) -> None:
    """Kafka answers NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR that reached the offset is smaller than
    min.insync.replicas: shrinking the ISR to the leader alone moves the high watermark to the log end,
    but the batch is then on one broker only and must not be acknowledged as durable."""
    end = append(leader.log, 1, epoch=5)
    leader.after_leader_append()
    waiter = asyncio.create_task(leader.wait_until_replicated(end, timeout_s=5, min_insync=2))
    await asyncio.sleep(0)
    leader.update_state(isr=(1,), replicas=[1, 2, 3])  # followers dropped for lagging
    assert leader.high_watermark == end
    assert await waiter == ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
    # with enough replicas in sync the same wait succeeds
    leader.update_state(isr=(1, 2), replicas=[1, 2, 3])
    assert await leader.wait_until_replicated(end, timeout_s=5, min_insync=2) == ErrorCode.NONE


async def test_acks_all_waiter_hears_of_a_shrink_that_leaves_the_high_watermark(leader: Partition) -> None:
    end = append(leader.log, 1, epoch=5)
    waiter = asyncio.create_task(leader.wait_until_replicated(end, timeout_s=5, min_insync=3))
    await asyncio.sleep(0)
    leader.update_state(isr=(1, 2), replicas=[1, 2, 3])  # 2 has nothing yet: the high watermark stays
    assert leader.high_watermark == 0
    assert await asyncio.wait_for(waiter, 1) == ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND


def test_a_new_replica_is_tracked_and_a_removed_one_forgotten(leader: Partition, clock: Clock) -> None:
    leader.update_state(isr=(1, 2), replicas=[1, 2, 4])
    assert set(leader.followers) == {2, 4}
    assert leader.followers[4].last_caught_up_ms == clock.now_ms
    assert "leader=1 epoch=5" in repr(leader)
