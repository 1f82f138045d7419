"""The group coordinator: consumer groups whose ``__consumer_offsets`` partition this broker leads.

*Which broker.* Group G belongs to partition ``abs(hash(G)) % offsets.topic.num.partitions`` of
``__consumer_offsets`` (Java's ``String.hashCode``), and its coordinator is that partition's leader.
FindCoordinator creates the topic on first use (compacted, RF = min(offsets.topic.replication.factor,
live brokers)) and answers COORDINATOR_NOT_AVAILABLE until the partition has a leader.

*Owning partitions.* The replica manager tells us when a local ``__consumer_offsets`` partition becomes
leader (we load its groups from the log — COORDINATOR_LOAD_IN_PROGRESS meanwhile) or stops being one
(its groups are dropped and waiting members get NOT_COORDINATOR, so they look the coordinator up again).

*Writing.* Offset commits and group metadata (after every completed rebalance and when a group turns
Empty) are appended as record batches in Kafka's schemas (:mod:`.offsets_format`) by the leader and
answered only when every in-sync replica has them, so they survive the loss of the coordinator.
Append errors become the retriable codes Kafka's clients expect (NOT_COORDINATOR,
COORDINATOR_NOT_AVAILABLE, REQUEST_TIMED_OUT / REBALANCE_IN_PROGRESS).

*Timers.* One task ticks every :data:`TICK_S`: it ends join phases that are due, expires members past
their session timeout, members that did not sync in time, and member ids handed out with
MEMBER_ID_REQUIRED that never came back. Requests complete join phases at once when they can. Every
:data:`RETENTION_CHECK_S` offsets older than ``offsets.retention.minutes`` are expired (KIP-211's rules).

The rules for each request (errors, generations, static members) follow Kafka's ``GroupCoordinator``;
the state machine of one group is :mod:`.group`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from kafka_broker.cluster.metadata_cache import MetadataCache
from kafka_broker.cluster.partition import Partition, now_ms
from kafka_broker.cluster.replica_manager import ReplicaManager
from kafka_broker.cluster.topic_admin import TopicAdmin
from kafka_broker.config import GroupSettings
from kafka_broker.coordinator import offsets_format as fmt
from kafka_broker.coordinator.group import (
    CommittedOffset,
    Group,
    GroupState,
    JoinResult,
    Member,
    SyncResult,
    dead_group_description,
)
from kafka_broker.coordinator.loader import LoadedGroup, load_partition
from kafka_broker.metadata import NO_LEADER
from kafka_broker.protocol.api_keys import ApiKey
from kafka_broker.protocol.errors import ErrorCode, KafkaError
from kafka_broker.storage.records import Record, build_batch

log = logging.getLogger(__name__)

OFFSETS_TOPIC = "__consumer_offsets"
TICK_S = 0.1
COMMIT_TIMEOUT_S = 5.0
"""``offsets.commit.timeout.ms``: how long a write waits for the in-sync replicas."""
OFFSET_METADATA_MAX_BYTES = 4096
"""``offset.metadata.max.bytes``."""

RETENTION_CHECK_S = 600.0
"""``offsets.retention.check.interval.ms``: how often expired offsets are looked for."""

GROUP_KEY_TYPE = 0
_EMPTY_GROUP_ID_ALLOWED = frozenset({ApiKey.OFFSET_COMMIT, ApiKey.OFFSET_FETCH, ApiKey.DESCRIBE_GROUPS,
                                     ApiKey.DELETE_GROUPS})
"""The group APIs that accept the empty group id, for old clients (Kafka's isValidGroupId)."""
TRANSACTION_KEY_TYPE = 1


def java_string_hashcode(text: str) -> int:
    """Java's ``String.hashCode`` over UTF-16 code units, as a signed 32-bit int."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(group_id: str, num_partitions: int) -> int:
    """Kafka's ``Utils.abs(groupId.hashCode) % groupMetadataTopicPartitionCount`` (abs(MIN_VALUE) = 0)."""
    h = java_string_hashcode(group_id)
    return (0 if h == -(1 << 31) else abs(h)) % num_partitions


def _store_offsets_error(code: int) -> int:
    """Kafka's mapping of append errors for offset commits."""
    if code in (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.NOT_ENOUGH_REPLICAS,
                ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if code in (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.KAFKA_STORAGE_ERROR):
        return ErrorCode.NOT_COORDINATOR
    if code in (ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE, ErrorCode.INVALID_FETCH_SIZE):
        return ErrorCode.INVALID_COMMIT_OFFSET_SIZE
    return code


def _store_group_error(code: int) -> int:
    """Kafka's mapping of append errors for group metadata."""
    if code == ErrorCode.REQUEST_TIMED_OUT:
        return ErrorCode.REBALANCE_IN_PROGRESS
    if code in (ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE, ErrorCode.INVALID_FETCH_SIZE):
        return ErrorCode.UNKNOWN_SERVER_ERROR
    return _store_offsets_error(code)


class GroupCoordinator:
    def __init__(self, *, broker_id: int, settings: GroupSettings, cache: MetadataCache,
                 replicas: ReplicaManager, admin: TopicAdmin) -> None:
        self.broker_id = broker_id
        self.settings = settings
        self.cache = cache
        self.replicas = replicas
        self.admin = admin
        self.groups: dict[str, Group] = {}
        self.owned: dict[int, int] = {}
        """Loaded partitions → the leader epoch they were loaded at."""
        self.loading: dict[int, int] = {}
        """Partitions being loaded → leader epoch."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._creating_topic = False

    @property
    def num_partitions(self) -> int:
        info = self.cache.topics.get(OFFSETS_TOPIC)
        if info is not None and info.partitions:
            return len(info.partitions)
        return self.settings.offsets_topic_num_partitions

    def partition_for(self, group_id: str) -> int:
        return partition_for(group_id, self.num_partitions)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Take over the partitions already led here (the replica manager ran before we subscribed)."""
        self.replicas.on_role_change(self.on_role_change)
        for part in list(self.replicas.leaders()):
            self.on_role_change(part)

    async def run(self) -> None:
        """The timer task: phase deadlines and session expiry, every :data:`TICK_S`."""
        next_retention_check = asyncio.get_running_loop().time() + RETENTION_CHECK_S
        try:
            while True:
                await asyncio.sleep(TICK_S)
                now = now_ms()
                if asyncio.get_running_loop().time() >= next_retention_check:
                    next_retention_check += RETENTION_CHECK_S
                    self._spawn(self.expire_offsets(now), "expire-offsets")
                for group in list(self.groups.values()):
                    try:
                        self._tick(group, now)
                    except Exception:
                        log.exception("timer of group %s failed", group.group_id)
        finally:
            for task in list(self._tasks):
                task.cancel()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("coordinator task %s failed", task.get_name(), exc_info=task.exception())

    # --- partition ownership --------------------------------------------------------------------

    def on_role_change(self, part: Partition) -> None:
        if part.topic != OFFSETS_TOPIC:
            return
        index = part.index
        if part.is_leader:
            if self.owned.get(index) == part.leader_epoch or self.loading.get(index) == part.leader_epoch:
                return
            self._unload(index)
            self.loading[index] = part.leader_epoch
            self._spawn(self._load(part, part.leader_epoch), f"load-{OFFSETS_TOPIC}-{index}")
        else:
            self.loading.pop(index, None)
            self._unload(index)

    async def _load(self, part: Partition, epoch: int) -> None:
        started = now_ms()
        try:
            loaded = await load_partition(part.log)
        except Exception:
            log.exception("loading %s-%d failed", OFFSETS_TOPIC, part.index)
            if self.loading.get(part.index) == epoch:
                del self.loading[part.index]
            return
        if self.loading.get(part.index) != epoch or not part.is_leader or part.leader_epoch != epoch:
            return  # leadership moved on while we read
        del self.loading[part.index]
        now = now_ms()
        for group_id, state in loaded.items():
            self.groups[group_id] = self._restore(group_id, part.index, state, now)
        self.owned[part.index] = epoch
        log.info("loaded %d groups of %s-%d (epoch %d) in %d ms", len(loaded), OFFSETS_TOPIC, part.index, epoch,
                 now - started)

    def _restore(self, group_id: str, partition: int, state: LoadedGroup, now: int) -> Group:
        group = Group(group_id, partition=partition, initial_delay_ms=self.settings.group_initial_rebalance_delay_ms,
                      now_ms=now)
        group.offsets = {tp: CommittedOffset(v.offset, v.leader_epoch, v.metadata, v.commit_timestamp)
                         for tp, v in state.offsets.items()}
        meta = state.metadata
        if meta is not None:
            group.generation_id = meta.generation
            group.protocol_type = meta.protocol_type or None
            group.protocol_name = meta.protocol
            for m in meta.members:
                member = Member(m.member_id, m.group_instance_id, m.client_id, m.client_host, m.session_timeout_ms,
                                m.rebalance_timeout_ms, meta.protocol_type, [(meta.protocol or "", m.subscription)],
                                assignment=m.assignment)
                group.add(member, now)
            group.leader_id = meta.leader if meta.leader in group.members else next(iter(group.members), None)
            if group.members:
                group.transition(GroupState.STABLE, now)
            elif meta.current_state_timestamp >= 0:
                group.state_timestamp = meta.current_state_timestamp  # when it became Empty
        return group

    def _unload(self, index: int) -> None:
        if self.owned.pop(index, None) is None:
            return
        dropped = [g for g in self.groups.values() if g.partition == index]
        for group in dropped:
            del self.groups[group.group_id]
            group.transition(GroupState.DEAD, now_ms())
            for member in group.members.values():
                member.complete_join(JoinResult(ErrorCode.NOT_COORDINATOR, member.member_id))
                member.complete_sync(SyncResult(ErrorCode.NOT_COORDINATOR))
        log.info("no longer coordinator of %s-%d: dropped %d groups", OFFSETS_TOPIC, index, len(dropped))

    def _check(self, group_id: str, api: ApiKey) -> int:
        """The coordinator partition of ``group_id``, or the error Kafka answers (its validateGroupStatus):
        INVALID_GROUP_ID for an empty id (allowed, for old clients, by the offset and describe/delete
        APIs), COORDINATOR_LOAD_IN_PROGRESS while the partition loads, NOT_COORDINATOR elsewhere."""
        if not group_id and api not in _EMPTY_GROUP_ID_ALLOWED:
            raise KafkaError(code=ErrorCode.INVALID_GROUP_ID)
        index = self.partition_for(group_id)
        if index in self.loading:
            raise KafkaError(code=ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        part = self.replicas.get(OFFSETS_TOPIC, index)
        if index not in self.owned or part is None or not part.is_leader or part.leader_epoch != self.owned[index]:
            raise KafkaError(code=ErrorCode.NOT_COORDINATOR)
        return index

    # --- FindCoordinator ----------------------------------------------------------------------------

    async def find_coordinator(self, key: str, key_type: int) -> tuple[int, int]:
        """(error, node id) of the coordinator of ``key`` (the caller answers with its address on the
        listener the request came in on).

        Only groups are coordinated here: transactions are not supported, so a transactional key is
        answered with COORDINATOR_NOT_AVAILABLE.
        """
        if key_type != GROUP_KEY_TYPE:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, -1
        if OFFSETS_TOPIC not in self.cache.topics:
            await self._create_offsets_topic()
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, -1
        info = self.cache.partition(OFFSETS_TOPIC, self.partition_for(key))
        leader = NO_LEADER if info is None else info.leader
        broker = self.cache.brokers.get(leader)
        if broker is None:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, -1
        return ErrorCode.NONE, leader

    async def _create_offsets_topic(self) -> None:
        if self._creating_topic:
            return
        self._creating_topic = True
        try:
            settings = self.settings
            rf = min(settings.offsets_topic_replication_factor, len(self.cache.live_broker_ids()))
            config = {"cleanup.policy": "compact", "segment.bytes": str(settings.offsets_topic_segment_bytes),
                      "compression.type": "producer"}
            assignment = self.admin.plan_topic(OFFSETS_TOPIC, partitions=settings.offsets_topic_num_partitions,
                                               replication_factor=max(rf, 1), config=config)
            await self.admin.create_topic(OFFSETS_TOPIC, assignment, config)
            log.info("created %s with %d partitions, replication factor %d", OFFSETS_TOPIC, len(assignment), rf)
        except KafkaError as exc:
            if exc.code != ErrorCode.TOPIC_ALREADY_EXISTS:
                log.warning("could not create %s: %s", OFFSETS_TOPIC, exc)
        finally:
            self._creating_topic = False

    # --- writing --------------------------------------------------------------------------------------

    async def _append(self, index: int, records: Sequence[tuple[bytes, bytes | None]]) -> int:
        """Append key/value records to our partition and wait for the ISR; the raw error code."""
        part = self.replicas.get(OFFSETS_TOPIC, index)
        if part is None or not part.is_leader or self.owned.get(index) != part.leader_epoch:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        now = now_ms()
        batch = build_batch([Record(i, now, k, v) for i, (k, v) in enumerate(records)], base_offset=0)
        try:
            info = part.log.append_as_leader(batch, leader_epoch=part.leader_epoch, now_ms=now, from_client=False)
        except KafkaError as exc:
            return exc.code if exc.code is not None else ErrorCode.UNKNOWN_SERVER_ERROR
        part.after_leader_append()
        return await part.wait_until_replicated(
            info.last_offset + 1, timeout_s=COMMIT_TIMEOUT_S,
            min_insync=self.replicas.min_insync_replicas(OFFSETS_TOPIC))

    def _group_record(self, group: Group, assignments: dict[str, bytes] | None = None) -> tuple[bytes, bytes]:
        members = tuple(
            fmt.MemberValue(m.member_id, m.group_instance_id, m.client_id, m.client_host, m.rebalance_timeout_ms,
                            m.session_timeout_ms, m.metadata_for(group.protocol_name),
                            (assignments or {}).get(m.member_id, m.assignment))
            for m in group.members.values()
        )
        value = fmt.GroupValue(group.protocol_type or "", group.generation_id, group.protocol_name, group.leader_id,
                               group.state_timestamp, members)
        return fmt.encode_group_key(fmt.GroupKey(group.group_id)), fmt.encode_group_value(value)

    async def _store_group(self, group: Group, assignments: dict[str, bytes] | None = None) -> int:
        code = await self._append(group.partition, [self._group_record(group, assignments)])
        return _store_group_error(code) if code else ErrorCode.NONE

    def _store_group_later(self, group: Group) -> None:
        self._spawn(self._store_group(group), f"store-group-{group.group_id}")

    # --- membership changes shared by the requests and the timers ---------------------------------------

    def _after_change(self, group: Group, now: int) -> None:
        """Complete the join phase if it is due (the group may turn Empty: store that)."""
        if not group.join_due(now):
            return
        if group.complete_join(now):
            log.info("group %s is empty at generation %d", group.group_id, group.generation_id)
            self._store_group_later(group)
        else:
            log.info("group %s: generation %d with %d members, protocol %s, leader %s", group.group_id,
                     group.generation_id, len(group.members), group.protocol_name, group.leader_id)

    def _remove_member(self, group: Group, member: Member, now: int, reason: str) -> None:
        log.info("group %s: removing member %s (%s)", group.group_id, member.member_id, reason)
        group.remove(member.member_id)
        if group.is_in(GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            group.prepare_rebalance(now)
        self._after_change(group, now)

    def _tick(self, group: Group, now: int) -> None:
        if group.state == GroupState.DEAD:
            return
        for member in group.expired_members(now):
            self._remove_member(group, member, now, "session timeout")
        for member in group.unsynced_members(now):
            self._remove_member(group, member, now, "no SyncGroup within the rebalance timeout")
        if group.expire_pending(now):
            self._after_change(group, now)
        self._after_change(group, now)
        if (group.state == GroupState.EMPTY and group.generation_id == 0 and not group.pending_members
                and not group.offsets):
            del self.groups[group.group_id]  # created by a request that failed; nothing of it was stored

    # --- JoinGroup ------------------------------------------------------------------------------------

    async def join_group(
        self, *, group_id: str, member_id: str, group_instance_id: str | None, client_id: str, client_host: str,
        session_timeout_ms: int, rebalance_timeout_ms: int, protocol_type: str, protocols: list[tuple[str, bytes]],
        require_known_member_id: bool,
    ) -> JoinResult:
        try:
            index = self._check(group_id, ApiKey.JOIN_GROUP)
        except KafkaError as exc:
            return JoinResult(exc.code, member_id)
        settings = self.settings
        if not settings.group_min_session_timeout_ms <= session_timeout_ms <= settings.group_max_session_timeout_ms:
            return JoinResult(ErrorCode.INVALID_SESSION_TIMEOUT, member_id)
        if rebalance_timeout_ms < 0:
            rebalance_timeout_ms = session_timeout_ms
        group = self.groups.get(group_id)
        now = now_ms()
        if group is None:
            if member_id:
                return JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id)
            group = self.groups[group_id] = Group(group_id, partition=index,
                                                  initial_delay_ms=settings.group_initial_rebalance_delay_ms,
                                                  now_ms=now)
        if group.state == GroupState.DEAD:
            return JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id)
        if not group.supports_protocols(protocol_type, [name for name, _ in protocols]):
            return JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id)
        loop = asyncio.get_running_loop()

        def new_member(mid: str) -> Member:
            return Member(mid, group_instance_id, client_id, client_host, session_timeout_ms, rebalance_timeout_ms,
                          protocol_type, protocols, join_future=loop.create_future())

        if not member_id:
            new_id = f"{group_instance_id or client_id}-{uuid.uuid4()}"
            if group_instance_id is not None and group.member_for_instance(group_instance_id) is not None:
                return await self._rejoin_static(group, group_instance_id, new_id, protocols, now)
            if group_instance_id is None and require_known_member_id:
                group.pending_members[new_id] = now + session_timeout_ms
                return JoinResult(ErrorCode.MEMBER_ID_REQUIRED, new_id)
            return await self._add_and_wait(group, new_member(new_id), now)
        if member_id in group.pending_members:
            return await self._add_and_wait(group, new_member(member_id), now)
        member = group.members.get(member_id)
        if group_instance_id is not None:
            known = group.static_members.get(group_instance_id)
            if known is not None and known != member_id:
                return JoinResult(ErrorCode.FENCED_INSTANCE_ID, member_id)
        if member is None:
            return JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id)
        if group.is_in(GroupState.EMPTY, GroupState.DEAD):
            return JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id)
        member.heartbeat(now)
        if group.state == GroupState.COMPLETING_REBALANCE and member.protocols == protocols:
            # the member missed the JoinGroup answer: send it again
            everyone = ([(m.member_id, m.group_instance_id, m.metadata_for(group.protocol_name))
                         for m in group.members.values()] if member_id == group.leader_id else [])
            return group.join_result(member_id, everyone)
        if group.state == GroupState.STABLE and member_id != group.leader_id and member.protocols == protocols:
            return group.join_result(member_id, [])
        return await self._update_and_wait(group, member, protocols, rebalance_timeout_ms, session_timeout_ms, now)

    async def _add_and_wait(self, group: Group, member: Member, now: int) -> JoinResult:
        future = member.join_future
        assert future is not None
        group.add(member, now)
        if group.state == GroupState.PREPARING_REBALANCE:
            group.new_member_during_initial_delay(now)
            group.rebalance_deadline_ms = max(group.rebalance_deadline_ms, now + member.rebalance_timeout_ms)
        group.maybe_prepare_rebalance(now)
        self._after_change(group, now)
        return await future

    async def _update_and_wait(self, group: Group, member: Member, protocols: list[tuple[str, bytes]],
                               rebalance_timeout_ms: int, session_timeout_ms: int, now: int) -> JoinResult:
        member.protocols = protocols
        member.rebalance_timeout_ms = rebalance_timeout_ms
        member.session_timeout_ms = session_timeout_ms
        future = member.join_future
        if future is not None and not future.done():
            # a duplicate JoinGroup: the earlier one is answered as the coordinator answers rejoins
            future.set_result(JoinResult(ErrorCode.REBALANCE_IN_PROGRESS, member.member_id))
        future = member.join_future = asyncio.get_running_loop().create_future()
        group.maybe_prepare_rebalance(now)
        self._after_change(group, now)
        return await future

    async def _rejoin_static(self, group: Group, instance_id: str, new_id: str,
                             protocols: list[tuple[str, bytes]], now: int) -> JoinResult:
        """A known static member came back with an empty member id (it restarted)."""
        old_leader = group.leader_id
        member = group.replace_static_member(instance_id, new_id)
        old_protocols = member.protocols
        member.heartbeat(now)
        if group.state == GroupState.STABLE:
            member.protocols = protocols
            if group.select_protocol() == group.protocol_name:
                code = await self._store_group(group)
                if code != ErrorCode.NONE:
                    member.protocols = old_protocols
                    return JoinResult(code, new_id)
                result = group.join_result(new_id, [])
                result.leader = old_leader or ""
                return result
            member.protocols = old_protocols
        # the selected protocol would change, or the assignment in the making names the old member id
        # (CompletingRebalance), or a join phase is under way: take part in a (new) rebalance
        return await self._update_and_wait(group, member, protocols, member.rebalance_timeout_ms,
                                           member.session_timeout_ms, now)

    # --- SyncGroup ------------------------------------------------------------------------------------

    async def sync_group(
        self, *, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None,
        protocol_type: str | None, protocol_name: str | None, assignments: dict[str, bytes],
    ) -> SyncResult:
        try:
            self._check(group_id, ApiKey.SYNC_GROUP)
        except KafkaError as exc:
            # Older clients do not expect COORDINATOR_LOAD_IN_PROGRESS here: they rejoin on this one (Kafka).
            loading = exc.code == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
            return SyncResult(ErrorCode.REBALANCE_IN_PROGRESS if loading else exc.code)
        group = self.groups.get(group_id)
        if group is None:
            return SyncResult(ErrorCode.UNKNOWN_MEMBER_ID)
        if group.state == GroupState.DEAD:
            return SyncResult(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        code = self._validate_member(group, member_id, group_instance_id, generation_id)
        if code != ErrorCode.NONE:
            return SyncResult(code)
        if (protocol_type is not None and protocol_type != group.protocol_type) or (
                protocol_name is not None and protocol_name != group.protocol_name):
            return SyncResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        member = group.members[member_id]
        now = now_ms()
        member.heartbeat(now)
        if group.state == GroupState.PREPARING_REBALANCE:
            return SyncResult(ErrorCode.REBALANCE_IN_PROGRESS)
        if group.state == GroupState.STABLE:
            member.synced = True
            return SyncResult(ErrorCode.NONE, member.assignment, group.protocol_type, group.protocol_name)
        # CompletingRebalance: wait for the leader's assignment (a repeated SyncGroup replaces the earlier one)
        member.complete_sync(SyncResult(ErrorCode.REBALANCE_IN_PROGRESS))
        future: asyncio.Future[SyncResult] = asyncio.get_running_loop().create_future()
        member.sync_future = future
        if member_id == group.leader_id:
            self._spawn(self._store_assignments(group, assignments), f"sync-{group_id}")
        return await future

    async def _store_assignments(self, group: Group, assignments: dict[str, bytes]) -> None:
        generation = group.generation_id
        code = await self._store_group(group, assignments)
        if group.state != GroupState.COMPLETING_REBALANCE or group.generation_id != generation:
            return
        now = now_ms()
        if code != ErrorCode.NONE:
            for member in group.members.values():
                member.complete_sync(SyncResult(code))
            group.prepare_rebalance(now)
            self._after_change(group, now)
            return
        group.complete_sync(assignments, now)

    def _validate_member(self, group: Group, member_id: str, group_instance_id: str | None, generation_id: int) -> int:
        if group_instance_id is not None:
            known = group.static_members.get(group_instance_id)
            if known is not None and known != member_id:
                return ErrorCode.FENCED_INSTANCE_ID
        if member_id not in group.members or group.state == GroupState.EMPTY:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        return ErrorCode.NONE

    # --- Heartbeat / LeaveGroup ----------------------------------------------------------------------

    def heartbeat(self, *, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None) -> int:
        try:
            self._check(group_id, ApiKey.HEARTBEAT)
        except KafkaError as exc:
            # While the group loads there is nothing to check it against: Kafka answers blindly.
            return ErrorCode.NONE if exc.code == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS else exc.code
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.state == GroupState.DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        code = self._validate_member(group, member_id, group_instance_id, generation_id)
        if code != ErrorCode.NONE:
            return code
        group.members[member_id].heartbeat(now_ms())
        if group.state == GroupState.PREPARING_REBALANCE:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def leave_group(self, *, group_id: str, members: list[tuple[str, str | None]]) -> tuple[int, list[int]]:
        """(top-level error, error per leaving (member id, instance id) — none when the group errs)."""
        try:
            self._check(group_id, ApiKey.LEAVE_GROUP)
        except KafkaError as exc:
            return exc.code, []  # a group-level error: no member is answered (Kafka)
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.NONE, [ErrorCode.UNKNOWN_MEMBER_ID] * len(members)
        if group.state == GroupState.DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, [ErrorCode.COORDINATOR_NOT_AVAILABLE] * len(members)
        now = now_ms()
        errors: list[int] = []
        for member_id, instance_id in members:
            if instance_id is not None:
                known = group.static_members.get(instance_id)
                if known is None:
                    errors.append(ErrorCode.UNKNOWN_MEMBER_ID)
                    continue
                if member_id and member_id != known:
                    errors.append(ErrorCode.FENCED_INSTANCE_ID)
                    continue
                member_id = known
            elif member_id in group.pending_members:
                del group.pending_members[member_id]
                self._after_change(group, now)
                errors.append(ErrorCode.NONE)
                continue
            member = group.members.get(member_id)
            if member is None:
                errors.append(ErrorCode.UNKNOWN_MEMBER_ID)
                continue
            self._remove_member(group, member, now, "left the group")
            errors.append(ErrorCode.NONE)
        return ErrorCode.NONE, errors

    # --- offsets -----------------------------------------------------------------------------------------

    async def commit_offsets(
        self, *, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None,
        offsets: dict[tuple[str, int], CommittedOffset],
    ) -> dict[tuple[str, int], int]:
        """Store the offsets; an error code per partition."""

        def all_(code: int) -> dict[tuple[str, int], int]:
            return dict.fromkeys(offsets, code)

        try:
            index = self._check(group_id, ApiKey.OFFSET_COMMIT)
        except KafkaError as exc:
            return all_(exc.code)
        group = self.groups.get(group_id)
        now = now_ms()
        if group is None:
            if generation_id >= 0:
                return all_(ErrorCode.ILLEGAL_GENERATION)
            group = self.groups[group_id] = Group(group_id, partition=index,
                                                  initial_delay_ms=self.settings.group_initial_rebalance_delay_ms,
                                                  now_ms=now)
        elif group.state == GroupState.DEAD:
            return all_(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        else:
            # Kafka's validateOffsetCommit: a commit naming a member or generation must come from a current
            # member of that generation; an anonymous one (a simple consumer) only into an empty group.
            # Only then does the group's state matter.
            code: int = ErrorCode.NONE
            if generation_id >= 0 or member_id or group_instance_id is not None:
                known = group.static_members.get(group_instance_id) if group_instance_id is not None else None
                if known is not None and known != member_id:
                    code = ErrorCode.FENCED_INSTANCE_ID
                elif member_id not in group.members:
                    code = ErrorCode.UNKNOWN_MEMBER_ID
                elif generation_id != group.generation_id:
                    code = ErrorCode.ILLEGAL_GENERATION
            elif group.state != GroupState.EMPTY:
                code = ErrorCode.UNKNOWN_MEMBER_ID
            if code == ErrorCode.NONE and group.state == GroupState.COMPLETING_REBALANCE:
                code = ErrorCode.REBALANCE_IN_PROGRESS
            if code != ErrorCode.NONE:
                return all_(code)
            if member_id in group.members:
                group.members[member_id].heartbeat(now)
        results: dict[tuple[str, int], int] = {}
        records = []
        accepted = {}
        for (topic, partition), committed in offsets.items():
            if len(committed.metadata.encode("utf-8")) > OFFSET_METADATA_MAX_BYTES:
                results[(topic, partition)] = ErrorCode.OFFSET_METADATA_TOO_LARGE
                continue
            if self.cache.partition(topic, partition) is None:
                results[(topic, partition)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                continue
            committed.commit_timestamp = now
            accepted[(topic, partition)] = committed
            records.append((
                fmt.encode_offset_key(fmt.OffsetKey(group_id, topic, partition)),
                fmt.encode_offset_value(fmt.OffsetValue(committed.offset, committed.leader_epoch, committed.metadata,
                                                        now)),
            ))
        if records:
            code = await self._append(index, records)
            code = _store_offsets_error(code) if code else ErrorCode.NONE
            if code == ErrorCode.NONE:
                target = self.groups.get(group_id)
                if target is None and index in self.owned:  # a new group, dropped by the timer meanwhile
                    target = self.groups[group_id] = group
                if target is not None:
                    target.offsets.update(accepted)
            results.update(dict.fromkeys(accepted, code))
        return results

    def fetch_offsets(self, group_id: str, partitions: Iterable[tuple[str, int]] | None
                      ) -> dict[tuple[str, int], CommittedOffset | None]:
        """Committed offsets (None: nothing committed); all of the group's when ``partitions`` is None.

        Raises the coordinator errors (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS).
        """
        self._check(group_id, ApiKey.OFFSET_FETCH)
        group = self.groups.get(group_id)
        offsets = group.offsets if group is not None else {}
        if partitions is None:
            return dict(offsets)
        return {tp: offsets.get(tp) for tp in partitions}

    async def delete_offsets(
        self, group_id: str, partitions: list[tuple[str, int]]
    ) -> tuple[int, dict[tuple[str, int], int]]:
        """OffsetDelete: (group error, error per partition)."""
        try:
            index = self._check(group_id, ApiKey.OFFSET_DELETE)
        except KafkaError as exc:
            return exc.code, {}
        group = self.groups.get(group_id)
        if group is None or group.state == GroupState.DEAD:
            return ErrorCode.GROUP_ID_NOT_FOUND, {}
        subscribed = set() if group.state == GroupState.EMPTY else group.subscribed_topics()
        if subscribed is None:
            return ErrorCode.NON_EMPTY_GROUP, {}
        errors: dict[tuple[str, int], int] = {}
        tombstones = []
        for topic, partition in partitions:
            if topic in subscribed:
                errors[(topic, partition)] = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
                continue
            errors[(topic, partition)] = ErrorCode.NONE
            if (topic, partition) in group.offsets:
                tombstones.append((topic, partition))
        if tombstones:
            code = await self._append(index, [(fmt.encode_offset_key(fmt.OffsetKey(group_id, t, p)), None)
                                              for t, p in tombstones])
            if code:
                return _store_offsets_error(code), {}
            for tp in tombstones:
                group.offsets.pop(tp, None)
        return ErrorCode.NONE, errors

    async def expire_offsets(self, now: int) -> None:
        """Drop committed offsets older than ``offsets.retention.minutes`` (Kafka's rules, KIP-211).

        A consumer group that is Empty loses all its offsets once it has been Empty for the retention
        period; otherwise an offset expires by its commit time, except for topics the members still
        subscribe to (and never while a group with a protocol we cannot read has members). An Empty
        group left without offsets is deleted (tombstones for its offsets and its metadata).
        """
        retention = self.settings.offsets_retention_minutes * 60_000
        for group in list(self.groups.values()):
            if group.partition not in self.owned or group.state == GroupState.DEAD:
                continue
            if group.state == GroupState.EMPTY and group.protocol_type:
                expired = list(group.offsets) if group.state_timestamp + retention <= now else []
            else:
                subscribed = group.subscribed_topics() if group.members else set()
                expired = [tp for tp, c in group.offsets.items() if subscribed is not None
                           and tp[0] not in subscribed and c.commit_timestamp + retention <= now]
            drop = group.state == GroupState.EMPTY and len(expired) == len(group.offsets) and (
                bool(expired) or group.generation_id > 0)
            records: list[tuple[bytes, bytes | None]] = [
                (fmt.encode_offset_key(fmt.OffsetKey(group.group_id, t, p)), None) for t, p in expired]
            if drop:
                records.append((fmt.encode_group_key(fmt.GroupKey(group.group_id)), None))
            if not records or await self._append(group.partition, records) != ErrorCode.NONE:
                continue
            for tp in expired:
                group.offsets.pop(tp, None)
            still_empty = group.state == GroupState.EMPTY and not group.offsets
            if drop and still_empty and self.groups.get(group.group_id) is group:
                group.transition(GroupState.DEAD, now)
                del self.groups[group.group_id]
            log.info("group %s: %d offsets expired%s", group.group_id, len(expired), ", group deleted" if drop else "")

    # --- administration ------------------------------------------------------------------------------

    def list_groups(self, states: set[str] | None = None) -> list[Group]:
        return [g for g in self.groups.values() if g.state != GroupState.DEAD and (not states or g.state in states)]

    def describe_group(self, group_id: str) -> dict[str, Any]:
        try:
            self._check(group_id, ApiKey.DESCRIBE_GROUPS)
        except KafkaError as exc:
            return dead_group_description(group_id, exc.code)
        group = self.groups.get(group_id)
        if group is None:
            return dead_group_description(group_id, ErrorCode.NONE)
        return group.describe()

    async def delete_group(self, group_id: str) -> int:
        try:
            index = self._check(group_id, ApiKey.DELETE_GROUPS)
        except KafkaError as exc:
            return exc.code
        group = self.groups.get(group_id)
        if group is None or group.state == GroupState.DEAD:
            return ErrorCode.GROUP_ID_NOT_FOUND
        if group.state != GroupState.EMPTY:
            return ErrorCode.NON_EMPTY_GROUP
        records: list[tuple[bytes, bytes | None]] = [
            (fmt.encode_offset_key(fmt.OffsetKey(group_id, t, p)), None) for t, p in group.offsets
        ]
        records.append((fmt.encode_group_key(fmt.GroupKey(group_id)), None))
        code = await self._append(index, records)
        if code:
            return _store_offsets_error(code)
        if self.groups.get(group_id) is group and group.state == GroupState.EMPTY:
            group.transition(GroupState.DEAD, now_ms())
            del self.groups[group_id]
        return ErrorCode.NONE
