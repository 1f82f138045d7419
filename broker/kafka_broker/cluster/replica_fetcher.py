"""Followers pull from leaders: one fetch loop per leader broker, for all partitions it leads here.

A partition joins its leader's loop when this broker becomes its follower. Before fetching it is
**truncated**: the follower asks the leader (OffsetForLeaderEpoch) where its latest local epoch
ends on the leader and cuts its log there, so a tail written under an old leader that never
reached the ISR does not survive (KIP-101/279). If the leader answers with an epoch the follower
never had, the follower cuts where its own records of earlier epochs end and asks again, until
both name the same epoch. Then the loop sends Fetch requests with ``replica_id`` set, from the
follower's log end offset, and appends what comes back with the offsets the leader assigned; the
leader learns from each fetch offset how far this follower has replicated, and the response's high
watermark becomes the follower's, and its log start the follower's log start (segments below it go).
OFFSET_OUT_OF_RANGE means either that the follower is behind the
leader's log start (retention): it starts over, empty, there; or that it is ahead of the leader's
end: it truncates again.

A partition throttled on this broker (``follower.replication.throttled.replicas``) and not in its ISR is
left out of the fetch while the follower throttle's rate is above ``follower.replication.throttled.rate``
(:mod:`kafka_broker.cluster.replication_quota`); the bytes fetched for throttled partitions count toward it.

Responses for a partition that changed role while the request was out are ignored. A failed round
drops the connection and is retried after ``replica.fetch.backoff.ms``. A partition whose append fails
(KAFKA_STORAGE_ERROR: a full disk) keeps its log as it was and fetches the same offset again after the
backoff; not catching up, it drops out of the ISR as any lagging follower does, and comes back when
its appends succeed again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kafka_broker import metadata as md
from kafka_broker.cluster.inter_broker import InterBrokerClient
from kafka_broker.cluster.metadata_cache import MetadataCache
from kafka_broker.cluster.partition import Partition
from kafka_broker.cluster.replication_quota import ReplicationQuota
from kafka_broker.config import BrokerConfig
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.protocol.errors import KafkaStorageError

log = logging.getLogger(__name__)

FETCH_VERSION = 11
EPOCH_VERSION = 3


class LeaderConnection(Protocol):
    """What the fetcher needs of a connection to a leader (:class:`BrokerConnection`; a fake in tests)."""

    async def request(self, api_key: int, version: int, body: dict[str, Any], timeout: float) -> dict[str, Any]: ...

    def close(self) -> None: ...


Connect = Callable[[md.BrokerRegistration, BrokerConfig], LeaderConnection]
"""Opens a connection to the leader at a registration."""


@dataclass(slots=True)
class FollowedPartition:
    partition: Partition
    leader_epoch: int
    needs_truncation: bool = True
    storage_failing: bool = False
    """The last append failed (a full disk): logged once, until an append succeeds again."""


class LeaderFetcher:
    """The fetch loop toward one leader broker."""

    def __init__(self, leader_id: int, manager: ReplicaFetcherManager) -> None:
        self.leader_id = leader_id
        self.manager = manager
        self.partitions: dict[tuple[str, int], FollowedPartition] = {}
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.connection: LeaderConnection | None = None
        self.throttled = False
        """The last round fetched nothing because the follower throttle held every partition back."""

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"fetcher-{self.leader_id}")

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.connection is not None:
            self.connection.close()

    async def _run(self) -> None:
        backoff = self.manager.config.replication.replica_fetch_backoff_ms / 1000
        while True:
            if not self.partitions:
                self.changed.clear()
                await self.changed.wait()
                continue
            if not await self.run_once():
                quota = self.manager.quota
                held_back = quota.time_to_bound_ms() / 1000 if quota is not None and self.throttled else 0
                await asyncio.sleep(min(backoff, held_back) if held_back > 0 else backoff)

    async def run_once(self) -> bool:
        """One round: connect if needed, truncate the partitions that need it, fetch once.

        False when the caller should back off (``replica.fetch.backoff.ms``) before the next round:
        the round failed (the connection is then dropped, and opened again next round), a partition
        answered an error, or no partition was ready to fetch.
        """
        try:
            await self._ensure_connection()
            await self._truncate()
            return await self._fetch_once()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("fetch from broker %d failed: %s", self.leader_id, exc)
            if self.connection is not None:
                self.connection.close()
                self.connection = None
            return False

    async def _ensure_connection(self) -> None:
        if self.connection is not None:
            return
        registration = self.manager.cache.brokers.get(self.leader_id)
        if registration is None:
            raise ConnectionError(f"leader {self.leader_id} is not registered")
        self.connection = self.manager.connect(registration, self.manager.config)

    def _current(self, key: tuple[str, int], followed: FollowedPartition) -> bool:
        """Is this still a partition we follow, at the epoch the request was built for?"""
        now = self.partitions.get(key)
        part = followed.partition
        return (now is followed and not part.deleted and part.leader_id == self.leader_id
                and part.leader_epoch == followed.leader_epoch)

    async def _truncate(self) -> None:
        pending = {k: f for k, f in self.partitions.items() if f.needs_truncation}
        if not pending:
            return
        by_topic: dict[str, list[dict[str, int]]] = {}
        for (topic, index), followed in pending.items():
            by_topic.setdefault(topic, []).append({
                "partition": index,
                "current_leader_epoch": followed.leader_epoch,
                "leader_epoch": followed.partition.log.latest_epoch,
            })
        assert self.connection is not None
        response = await self.connection.request(
            ApiKey.OFFSET_FOR_LEADER_EPOCH, EPOCH_VERSION,
            {"replica_id": self.manager.config.broker_id,
             "topics": [{"topic": t, "partitions": ps} for t, ps in by_topic.items()]},
            timeout=30,
        )
        for topic_result in response["topics"]:
            for presult in topic_result["partitions"]:
                key = (topic_result["topic"], presult["partition"])
                asked = pending.get(key)
                if asked is None or not self._current(key, asked):
                    continue
                if presult["error_code"] != ErrorCode.NONE:
                    log.info("epoch lookup for %s-%d: error %d", key[0], key[1], presult["error_code"])
                    continue
                plog = asked.partition.log
                target, done = self._truncation_point(asked.partition, presult["leader_epoch"],
                                                      presult["end_offset"])
                if target < plog.log_end_offset:
                    log.info("truncating %s-%d from %d to %d (leader epoch %d)", key[0], key[1],
                             plog.log_end_offset, target, asked.leader_epoch)
                    plog.truncate_to(target)
                    asked.partition.high_watermark = min(asked.partition.high_watermark, target)
                asked.needs_truncation = not done

    @staticmethod
    def _truncation_point(part: Partition, leader_epoch: int, leader_end: int) -> tuple[int, bool]:
        """Where to cut the follower's log after the leader said epoch ``leader_epoch`` ends at
        ``leader_end`` there, and whether that settles it (Kafka's ``getOffsetTruncationState``).

        When the follower has that epoch too, both logs agree up to the smaller end. When it does not,
        its records past the end of its own largest epoch below ``leader_epoch`` cannot be the leader's:
        it cuts there and asks again with its new latest epoch (each round removes an epoch, so this ends).
        """
        plog = part.log
        end = plog.log_end_offset
        if leader_epoch < 0 or leader_end < 0:
            return min(part.high_watermark, end), True
        local_epoch, local_end = plog.end_offset_for_epoch(leader_epoch)
        if local_epoch < 0:
            return min(part.high_watermark, end), True
        if local_epoch == leader_epoch:
            return min(leader_end, local_end, end), True
        return min(local_end, end), False

    async def _fetch_once(self) -> bool:
        """Fetch once for every partition done truncating; False if none was, or one answered an error."""
        config = self.manager.config
        snapshot = {k: f for k, f in self.partitions.items() if not f.needs_truncation}
        quota = self.manager.quota
        self.throttled = False
        if quota is not None and quota.active and snapshot:  # throttled replicas outside the ISR wait
            snapshot = {k: f for k, f in snapshot.items()
                        if not quota.holds_back(*k, in_sync=config.broker_id in f.partition.isr)}
            self.throttled = not snapshot
        if not snapshot:
            return False
        by_topic: dict[str, list[dict[str, int]]] = {}
        for (topic, index), followed in snapshot.items():
            part = followed.partition
            by_topic.setdefault(topic, []).append({
                "partition": index,
                "current_leader_epoch": followed.leader_epoch,
                "fetch_offset": part.log.log_end_offset,
                "last_fetched_epoch": -1,
                "log_start_offset": part.log.log_start_offset,
                "partition_max_bytes": config.replication.replica_fetch_max_bytes,
            })
        request: dict[str, Any] = {
            "replica_id": config.broker_id,
            "max_wait_ms": config.replication.replica_fetch_wait_max_ms,
            "min_bytes": 1,
            "max_bytes": config.replication.replica_fetch_response_max_bytes,
            "isolation_level": 0,
            "session_id": 0,
            "session_epoch": -1,
            "topics": [{"topic": t, "partitions": ps} for t, ps in by_topic.items()],
            "forgotten_topics_data": [],
            "rack_id": "",
        }
        assert self.connection is not None
        wait = config.replication.replica_fetch_wait_max_ms / 1000
        response = await self.connection.request(ApiKey.FETCH, FETCH_VERSION, request, timeout=wait + 30)
        errors = False
        for topic_result in response["responses"]:
            for presult in topic_result["partitions"]:
                key = (topic_result["topic"], presult["partition_index"])
                fetched = snapshot.get(key)
                if fetched is None or not self._current(key, fetched):
                    continue
                errors |= not self._apply(key, fetched, presult)
        return not errors

    def _apply(self, key: tuple[str, int], followed: FollowedPartition, presult: dict[str, Any]) -> bool:
        part = followed.partition
        code = presult["error_code"]
        if code == ErrorCode.NONE:
            records = presult["records"]
            if records is not None and len(records):
                if self.manager.quota is not None:
                    self.manager.quota.record(key[0], key[1], len(records))
                try:
                    part.log.append_as_follower(records)
                except KafkaStorageError as exc:  # a full disk: nothing was appended; fetch it again later
                    if not followed.storage_failing:
                        log.warning("%s-%d: cannot append what the leader sent (retrying): %s", key[0], key[1], exc)
                    followed.storage_failing = True
                    return False
                if followed.storage_failing:
                    log.info("%s-%d: appending again", key[0], key[1])
                    followed.storage_failing = False
            part.update_follower_high_watermark(presult["high_watermark"])
            self._follow_log_start(key, part, presult.get("log_start_offset", -1))
            return True
        if code == ErrorCode.OFFSET_OUT_OF_RANGE:
            leader_start = presult.get("log_start_offset", -1)
            if leader_start > part.log.log_end_offset:
                # Behind the leader's retention: nothing here can be reconciled with the leader's log.
                # Start over, empty, at its log start (with no epochs left there is nothing to truncate:
                # asking would cut back to the old high watermark, below the new start, and loop).
                log.info("%s-%d is behind the leader's log start %d: starting over there", key[0], key[1],
                         leader_start)
                part.log.truncate_fully_and_start_at(leader_start)
                part.high_watermark = leader_start
            else:
                followed.needs_truncation = True  # ahead of the leader's end: find where we diverged
            return False
        log.debug("fetch %s-%d from %d: error %d", key[0], key[1], self.leader_id, code)
        return False

    @staticmethod
    def _follow_log_start(key: tuple[str, int], part: Partition, leader_start: int) -> None:
        """The leader's log start moved past ours (DeleteRecords, retention): ours follows, deleting the
        segments below it, as far as our log end (Kafka's ``maybeIncrementLogStartOffset`` with
        ``LeaderOffsetIncremented``). Our next fetch tells the leader, whose low watermark then moves."""
        plog = part.log
        target = min(leader_start, plog.log_end_offset)
        if target <= plog.log_start_offset:
            return
        plog.delete_records_before(target)
        log.debug("%s-%d: log start moved to %d, as on the leader", key[0], key[1], target)


class ReplicaFetcherManager:
    """Starts, feeds and stops the per-leader fetch loops as partitions change roles."""

    def __init__(
        self, config: BrokerConfig, cache: MetadataCache, *, connect: Connect | None = None,
        background: bool = True, quota: ReplicationQuota | None = None,
    ) -> None:
        self.config = config
        self.cache = cache
        self.quota = quota
        """The follower-side replication throttle (``follower.replication.throttled.rate``), if any."""
        self.connect: Connect = connect or InterBrokerClient(config)
        """Opens the connection to a leader: on the inter-broker listener (tests give in-process fakes)."""
        self.background = background
        """Run each leader's fetch loop as a task; False leaves the rounds (:meth:`LeaderFetcher.run_once`)
        to the caller, as tests do to step replication deterministically."""
        self.fetchers: dict[int, LeaderFetcher] = {}

    def follow(self, partition: Partition) -> None:
        fetcher = self.fetchers.get(partition.leader_id)
        if fetcher is None:
            fetcher = self.fetchers[partition.leader_id] = LeaderFetcher(partition.leader_id, self)
            if self.background:
                fetcher.start()
        fetcher.partitions[(partition.topic, partition.index)] = FollowedPartition(partition, partition.leader_epoch)
        fetcher.changed.set()

    def unfollow(self, partition: Partition) -> None:
        key = (partition.topic, partition.index)
        for fetcher in self.fetchers.values():
            fetcher.partitions.pop(key, None)

    def stop_all(self) -> None:
        for fetcher in self.fetchers.values():
            fetcher.stop()
        self.fetchers.clear()
