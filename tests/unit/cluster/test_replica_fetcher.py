"""The replica fetcher: a follower truncates to where its epoch ends on the leader, then fetches with
the leader's offsets; errors, lost connections and role changes mid-request are handled.

Broker 2 follows broker 1. Broker 1 is a real :class:`ReplicaManager`; the fetcher reaches it through
:class:`LeaderLink` (the real wire codec and the real Fetch / OffsetForLeaderEpoch handlers), or gets
scripted answers. Rounds are driven one at a time with :meth:`LeaderFetcher.run_once`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kafka_broker import metadata as md
from kafka_broker.cluster.metadata_cache import MetadataCache
from kafka_broker.cluster.partition import Partition
from kafka_broker.cluster.replica_fetcher import LeaderFetcher, ReplicaFetcherManager
from kafka_broker.cluster.replica_manager import ReplicaManager
from kafka_broker.cluster.zk_store import ZkStore
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.protocol.errors import KafkaStorageError
from kafka_broker.storage.log import PartitionLog
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.log_manager import LogManager
from kafka_broker.storage.records import decode_records, iter_batches

from .fakes import Clock, FakeZooKeeper, LeaderLink, append, broker_config, put_partition, state

NOT_LEADER = ErrorCode.NOT_LEADER_OR_FOLLOWER


def records(log: PartitionLog) -> list[tuple[int, int, bytes | None]]:
    """(offset, leader epoch, value) of every record in the log."""
    out = []
    position = log.log_start_offset
    while position < log.log_end_offset:
        read = log.read(position, max_bytes=1 << 20)
        assert read.slice is not None
        data = read.slice.read()
        for header in iter_batches(data):
            for record in decode_records(data[header.position:header.end]):
                if record.offset >= position:
                    out.append((record.offset, header.partition_leader_epoch, record.value))
        position = read.next_offset
    return out


def copy_batches(source: PartitionLog, target: PartitionLog, *, until: int) -> None:
    """Replicate ``source``'s batches below ``until`` into ``target``, as a follower would have."""
    read = source.read(target.log_end_offset, max_bytes=1 << 20, max_offset=until)
    assert read.slice is not None
    target.append_as_follower(read.slice.read())


@dataclass
class Pair:
    leader: ReplicaManager
    leader_cache: MetadataCache
    follower: Partition
    manager: ReplicaFetcherManager
    link: LeaderLink
    zk: FakeZooKeeper
    tmp: Path

    @property
    def leader_part(self) -> Partition:
        part = self.leader.get("t", 0)
        assert part is not None
        return part

    @property
    def fetcher(self) -> LeaderFetcher:
        return self.manager.fetchers[1]

    async def lead(self, epoch: int, isr: tuple[int, ...] = (1, 2)) -> None:
        """Broker 1 leads t-0 at ``epoch`` (the state it reads, and the znode its ISR writes go to)."""
        path = md.partition_state_path("t", 0)
        new = state(1, epoch, isr)
        if self.zk.data(path) is None:
            self.zk.client().create(path, new.encode(), makepath=True)
        else:
            self.zk.client().set(path, new.encode())
        put_partition(self.leader_cache, "t", 0, [1, 2], new, self.zk.version(path))
        self.leader.reconcile_all()

    def follow(self, epoch: int, leader: int = 1) -> None:
        """Broker 2's replica manager would do this on the state naming ``leader`` at ``epoch``."""
        self.manager.unfollow(self.follower)
        self.follower.become_follower(leader_id=leader, leader_epoch=epoch, isr=(1, 2), replicas=[1, 2])
        self.manager.follow(self.follower)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    zk = FakeZooKeeper()
    config1 = broker_config(1, tmp_path / "b1")
    cache1 = MetadataCache()
    logs1 = LogManager(list(config1.log_dirs), LogConfig())
    leader = ReplicaManager(config1, cache1, logs1, ZkStore(zk.client()), clock=Clock())
    config2 = broker_config(2, tmp_path / "b2")
    cache2 = MetadataCache()
    cache2.brokers[1] = md.BrokerRegistration(1, "127.0.0.1", 9091)
    link = LeaderLink(leader)
    manager = ReplicaFetcherManager(config2, cache2, connect=link.connect, background=False)
    follower = Partition("t", 0, PartitionLog(tmp_path / "b2" / "t-0", config=LogConfig()), broker_id=2)
    yield Pair(leader, cache1, follower, manager, link, zk, tmp_path)
    manager.stop_all()
    follower.log.close()
    logs1.close_all()


async def test_follower_replicates_the_leader_log_and_high_watermark(pair: Pair) -> None:
    await pair.lead(3)
    append(pair.leader_part.log, 5, epoch=3)
    pair.follow(3)
    assert await pair.fetcher.run_once()
    assert records(pair.follower.log) == records(pair.leader_part.log)
    assert pair.follower.log.leader_epochs.entries == [(3, 0)]
    assert pair.follower.high_watermark == 0  # the leader learns of the follower's offset 5 on the next fetch
    assert await pair.fetcher.run_once()
    assert pair.leader_part.high_watermark == 5 and pair.follower.high_watermark == 5
    [epoch_request] = pair.link.requests_of(ApiKey.OFFSET_FOR_LEADER_EPOCH)  # truncation happens once
    assert epoch_request["replica_id"] == 2
    fetch = pair.link.requests_of(ApiKey.FETCH)[-1]
    assert fetch["replica_id"] == 2
    assert fetch["topics"][0]["partitions"][0]["current_leader_epoch"] == 3
    assert fetch["topics"][0]["partitions"][0]["fetch_offset"] == 5


async def test_a_divergent_tail_is_truncated_to_where_the_epoch_ends_on_the_new_leader(pair: Pair) -> None:
    """Broker 2 led epoch 1 and wrote offsets 0-4, of which broker 1 got 0-2; broker 1 now leads epoch 2
    and wrote its own 3-5. Broker 2's 3-4 never reached the ISR: they go, and broker 1's take their place."""
    old = pair.follower.log
    append(old, 3, epoch=1, value=b"kept")
    append(old, 2, epoch=1, value=b"lost")
    await pair.lead(1)
    copy_batches(old, pair.leader_part.log, until=3)
    await pair.lead(2)
    append(pair.leader_part.log, 3, epoch=2, value=b"new")
    pair.follow(2)
    assert await pair.fetcher.run_once()
    [asked] = pair.link.requests_of(ApiKey.OFFSET_FOR_LEADER_EPOCH)
    assert asked["topics"][0]["partitions"][0]["leader_epoch"] == 1
    assert records(old) == [(0, 1, b"kept"), (1, 1, b"kept"), (2, 1, b"kept"),
                            (3, 2, b"new"), (4, 2, b"new"), (5, 2, b"new")]
    assert old.leader_epochs.entries == [(1, 0), (2, 3)]


async def test_truncation_repeats_until_the_follower_and_leader_agree_on_an_epoch(pair: Pair) -> None:
    """Kafka's KIP-279 loop: when the leader answers an epoch the follower does not have, the follower
    cuts to where that epoch would end locally and asks again with its new latest epoch.

    Follower: epoch 0 at 0-9, epoch 2 at 10-19. Leader: epoch 0 at 0-4 (shared), epoch 1 at 5-14,
    epoch 3 at 15-24. Only 0-4 are common; cutting once at 10 (where the follower's epoch 0 ends)
    would keep 5-9 of epoch 0, which the leader has as different records of epoch 1."""
    follower = pair.follower.log
    append(follower, 5, epoch=0, value=b"common")
    append(follower, 5, epoch=0, value=b"f0")
    append(follower, 10, epoch=2, value=b"f2")
    await pair.lead(1)
    copy_batches(follower, pair.leader_part.log, until=5)
    append(pair.leader_part.log, 10, epoch=1, value=b"l1")
    await pair.lead(3)
    append(pair.leader_part.log, 10, epoch=3, value=b"l3")
    pair.follow(3)
    for _ in range(4):
        await pair.fetcher.run_once()
    assert records(follower) == records(pair.leader_part.log)


async def test_not_leader_and_fenced_answers_leave_the_log_alone_and_back_off(pair: Pair) -> None:
    await pair.lead(4)
    append(pair.leader_part.log, 2, epoch=4)
    pair.follow(3)  # broker 2 has not heard of epoch 4 yet
    assert not await pair.fetcher.run_once()
    assert pair.follower.log.log_end_offset == 0
    [asked] = pair.link.requests_of(ApiKey.OFFSET_FOR_LEADER_EPOCH)
    assert asked["topics"][0]["partitions"][0]["current_leader_epoch"] == 3
    assert pair.fetcher.partitions[("t", 0)].needs_truncation  # FENCED_LEADER_EPOCH: asks again later
    assert pair.link.requests_of(ApiKey.FETCH) == []
    pair.follow(4)  # the new state arrived
    assert await pair.fetcher.run_once()
    assert pair.follower.log.log_end_offset == 2

    pair.link.script(ApiKey.FETCH, fetch_error(NOT_LEADER), fetch_error(ErrorCode.FENCED_LEADER_EPOCH))
    append(pair.leader_part.log, 1, epoch=4)
    assert not await pair.fetcher.run_once()
    assert not await pair.fetcher.run_once()
    assert pair.follower.log.log_end_offset == 2
    assert await pair.fetcher.run_once()
    assert pair.follower.log.log_end_offset == 3


async def test_a_follower_behind_the_leader_log_start_starts_over_there(pair: Pair) -> None:
    """A new replica of a partition whose oldest segments the leader deleted (retention) cannot fetch
    from 0: it restarts its log at the leader's log start and replicates from there on."""
    await pair.lead(1)
    leader_log = pair.leader_part.log
    for _ in range(4):
        append(leader_log, 5, epoch=1)
        leader_log.roll()
    leader_log.delete_records_before(10)
    pair.follow(1)
    for _ in range(4):
        await pair.fetcher.run_once()
    assert pair.follower.log.log_start_offset == 10
    assert records(pair.follower.log) == records(leader_log)
    assert pair.follower.log.log_end_offset == leader_log.log_end_offset == 20


async def test_a_follower_ahead_of_the_leader_truncates_again(pair: Pair) -> None:
    await pair.lead(1)
    append(pair.leader_part.log, 3, epoch=1)
    pair.follow(1)
    assert await pair.fetcher.run_once()
    pair.link.script(ApiKey.FETCH, fetch_error(ErrorCode.OFFSET_OUT_OF_RANGE, log_start_offset=0))
    assert not await pair.fetcher.run_once()
    assert pair.fetcher.partitions[("t", 0)].needs_truncation
    assert await pair.fetcher.run_once()
    assert len(pair.link.requests_of(ApiKey.OFFSET_FOR_LEADER_EPOCH)) == 2


async def test_a_lost_connection_is_dropped_and_opened_again(pair: Pair) -> None:
    await pair.lead(1)
    append(pair.leader_part.log, 2, epoch=1)
    pair.follow(1)
    pair.link.script(ApiKey.OFFSET_FOR_LEADER_EPOCH, ConnectionResetError("peer went away"))
    assert not await pair.fetcher.run_once()
    assert (pair.link.connects, pair.link.closes) == (1, 1)
    assert pair.fetcher.connection is None
    assert await pair.fetcher.run_once()
    assert pair.link.connects == 2
    assert pair.follower.log.log_end_offset == 2
    pair.link.script(ApiKey.FETCH, TimeoutError())
    append(pair.leader_part.log, 1, epoch=1)
    assert not await pair.fetcher.run_once()
    assert await pair.fetcher.run_once()
    assert pair.follower.log.log_end_offset == 3
    assert pair.link.connects == 3


async def test_a_follower_that_cannot_append_fetches_the_same_offset_again(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk: the append is refused (and leaves the log as it was); the fetcher backs off and fetches
    the same offset again on the same connection, and catches up once appends succeed again."""
    await pair.lead(1)
    append(pair.leader_part.log, 2, epoch=1)
    pair.follow(1)
    assert await pair.fetcher.run_once()
    append(pair.leader_part.log, 3, epoch=1)
    appended = pair.follower.log.append_as_follower

    def disk_full(*args: Any, **kwargs: Any) -> Any:
        raise KafkaStorageError("No space left on device")

    monkeypatch.setattr(pair.follower.log, "append_as_follower", disk_full)
    for _ in range(3):
        assert not await pair.fetcher.run_once()
        assert pair.follower.log.log_end_offset == 2
    assert [f["topics"][0]["partitions"][0]["fetch_offset"] for f in pair.link.requests_of(ApiKey.FETCH)] == [
        0, 2, 2, 2]
    assert (pair.link.connects, pair.link.closes) == (1, 0)
    assert pair.fetcher.partitions[("t", 0)].storage_failing
    monkeypatch.setattr(pair.follower.log, "append_as_follower", appended)
    assert await pair.fetcher.run_once()
    assert records(pair.follower.log) == records(pair.leader_part.log)
    assert not pair.fetcher.partitions[("t", 0)].storage_failing


async def test_an_unreachable_or_unregistered_leader_is_retried(pair: Pair) -> None:
    await pair.lead(1)
    pair.follow(1)
    pair.link.refuse = True
    assert not await pair.fetcher.run_once()
    pair.link.refuse = False
    del pair.manager.cache.brokers[1]
    assert not await pair.fetcher.run_once()
    assert pair.link.connects == 0
    pair.manager.cache.brokers[1] = md.BrokerRegistration(1, "127.0.0.1", 9091)
    assert await pair.fetcher.run_once()


async def test_an_answer_for_a_partition_whose_role_changed_meanwhile_is_ignored(pair: Pair) -> None:
    await pair.lead(1)
    append(pair.leader_part.log, 2, epoch=1)
    pair.follow(1)
    assert await pair.fetcher.run_once()
    append(pair.leader_part.log, 2, epoch=1)

    def answer_after_a_leader_change(request: dict[str, Any]) -> dict[str, Any]:
        pair.follower.become_follower(leader_id=1, leader_epoch=2, isr=(1, 2), replicas=[1, 2])
        return fetch_ok(b"not a batch: must not be appended")

    pair.link.script(ApiKey.FETCH, answer_after_a_leader_change)
    await pair.fetcher.run_once()
    assert pair.follower.log.log_end_offset == 2


async def test_unfollowed_partitions_are_no_longer_fetched(pair: Pair) -> None:
    await pair.lead(1)
    pair.follow(1)
    pair.manager.unfollow(pair.follower)
    assert not await pair.fetcher.run_once()  # nothing to fetch: back off
    assert pair.link.requests == []


async def test_the_background_loop_backs_off_and_stops(pair: Pair, tmp_path: Path) -> None:
    config = broker_config(2, tmp_path / "b2", **{"replica.fetch.wait.max.ms": "5"})
    manager = ReplicaFetcherManager(config, pair.manager.cache, connect=pair.link.connect)
    await pair.lead(1)
    append(pair.leader_part.log, 2, epoch=1)
    pair.follower.become_follower(leader_id=1, leader_epoch=1, isr=(1, 2), replicas=[1, 2])
    manager.follow(pair.follower)
    for _ in range(100):
        await asyncio.sleep(0.005)
        if pair.follower.log.log_end_offset == 2:
            break
    assert pair.follower.log.log_end_offset == 2
    task = manager.fetchers[1].task
    manager.stop_all()
    assert task is not None
    with pytest.raises(asyncio.CancelledError):
        await task
    assert manager.fetchers == {}


def fetch_ok(records: bytes, *, high_watermark: int = 0) -> dict[str, Any]:
    return fetch_response(ErrorCode.NONE, records=records, high_watermark=high_watermark)


def fetch_error(code: int, *, log_start_offset: int = -1) -> dict[str, Any]:
    return fetch_response(code, log_start_offset=log_start_offset)


def fetch_response(code: int, *, records: bytes = b"", high_watermark: int = -1,
                   log_start_offset: int = -1) -> dict[str, Any]:
    return {"throttle_time_ms": 0, "error_code": 0, "session_id": 0, "responses": [{"topic": "t", "partitions": [{
        "partition_index": 0, "error_code": code, "high_watermark": high_watermark,
        "last_stable_offset": high_watermark, "log_start_offset": log_start_offset, "aborted_transactions": [],
        "preferred_read_replica": -1, "records": records}]}]}
