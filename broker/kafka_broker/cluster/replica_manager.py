"""The replicas this broker hosts: created, promoted, demoted and deleted as the metadata says.

The replica manager listens to the metadata cache. For each partition that lists this broker as
a replica it makes sure a log exists and that the local :class:`Partition` plays the role the
partition state names — leader (serving produce and fetch) or follower (fed by the replica
fetcher). Partitions from which this broker was reassigned away have their logs deleted. As leader
it also owns the ISR: a periodic check drops lagging followers and the fetch path adds caught-up ones
back, each through a conditional write of the state znode.

**One life of a topic at a time.** A topic deleted and created again under its name is a new topic:
its partition states start again at leader epoch 0 and znode version 0, so nothing in them tells it
from the old one — only its topic id (KIP-516). Each local replica knows the topic id it belongs to,
and each log directory stores it (Kafka's ``partition.metadata``, :mod:`kafka_broker.storage.partition_metadata`):

* a log whose stored id is not the topic's — left on disk by a run of this broker that was down while
  the topic was deleted and created again — is dropped, and the partition starts empty;
* when the cache loses a topic, or it comes back with another id, or it is marked for deletion, the local
  replicas go *at once* (from the cache's notification, not at the next reconcile): nothing may serve,
  fetch or change an ISR on the cache's new topic with the old topic's partition, even for a moment;
* an ISR change is only written by the current replica of the topic's current life, computed from the
  state it is conditional on, and never adds a broker outside the partition's assignment.

**Deletion.** A topic marked for deletion (``/admin/delete_topics/<t>``) loses its replicas here; once
they are gone (logs deleted, ISR writes in flight landed) the broker says so in ZooKeeper
(``/admin/delete_topics/<t>/<broker id>``, as a Kafka broker answers the controller's StopReplica), and
the controller deletes the topic only when every live broker holding a replica has (see
:mod:`kafka_broker.controller`). So a topic's old life is gone from every live broker before a new one
can be created.

**Held leadership.** A partition state that names this broker as leader is not always one it may
take up as it stands: at start-up it was written for the previous run of this process (killed before
the cluster noticed), and after a lost ZooKeeper session it predates the loss (while this broker was
away the cluster may have acted on its absence, and a leader coming back on the same epoch would share
that epoch with whatever happened meanwhile). Such claims are held — the replica serves nothing — until
the state changes or :meth:`ReplicaManager.reclaim_leadership` takes them back at a new leader epoch
with a conditional write (which loses, harmlessly, to any election the controller made meanwhile).

**Fencing.** When the ZooKeeper session is lost (:meth:`ReplicaManager.fence`) every partition led
here steps down at once: produce is refused and acks=all waiters answer NOT_LEADER_OR_FOLLOWER, so
nothing is acknowledged that the leader the controller elects in its absence may not have; no ISR change
is written. Following goes on. Once registered with a new session, :meth:`ReplicaManager.rejoin` reads
the current state of every local partition and takes up its role: a partition now led elsewhere is
followed (the fetcher first truncates the tail written here that the new leader never had), one still
led here is held and reclaimed at a new epoch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from kafka_broker import metadata as md
from kafka_broker.cluster.metadata_cache import MetadataCache, PartitionInfo, TopicInfo
from kafka_broker.cluster.partition import Partition, now_ms
from kafka_broker.config import BrokerConfig
from kafka_broker.protocol.errors import ErrorCode, KafkaError
from kafka_broker.storage.log import PartitionLog
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.log_manager import LogManager
from kafka_broker.storage.partition_metadata import PartitionMetadataError, read_topic_id, write_topic_id

log = logging.getLogger(__name__)


class StateWriter(Protocol):
    """Writes a partition state znode if its version is still ``version``; returns the new version
    or None when someone else wrote first. Reads it back after such a lost race."""

    async def write_partition_state(
        self, topic: str, partition: int, state: md.PartitionState, version: int
    ) -> int | None: ...

    async def read_partition_state(self, topic: str, partition: int) -> tuple[md.PartitionState, int] | None: ...

    async def acknowledge_deletion(self, topic: str, broker_id: int) -> None:
        """Record that ``broker_id`` holds nothing of ``topic`` any more (its deletion may go on)."""


def same_life(replica_topic_id: str | None, topic_id: str | None) -> bool:
    """Whether a replica of ``replica_topic_id`` belongs to the topic now named with ``topic_id`` (an unknown id
    on either side cannot tell them apart: Kafka takes a replica without an id as the topic's)."""
    return replica_topic_id is None or topic_id is None or replica_topic_id == topic_id


class FollowerHook(Protocol):
    def follow(self, partition: Partition) -> None: ...
    def unfollow(self, partition: Partition) -> None: ...


class ReplicaManager:
    def __init__(
        self,
        config: BrokerConfig,
        cache: MetadataCache,
        logs: LogManager,
        state_writer: StateWriter,
        *,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.config = config
        self.broker_id = config.broker_id
        self.cache = cache
        self.logs = logs
        self.state_writer = state_writer
        self.partitions: dict[tuple[str, int], Partition] = {}
        self.fetchers: FollowerHook | None = None
        self._dirty: set[tuple[str, int | None]] = set()
        self._wakeup = asyncio.Event()
        self._listeners: list[Callable[[Partition], None]] = []
        self._held_claims: dict[tuple[str, int], int] = {}
        """Leadership held back (see the module docstring): partition → the leader epoch of the held claim."""
        self.fenced = False
        """The ZooKeeper session was lost and this broker has not rejoined yet: it leads nothing."""
        self._expansions: dict[tuple[str, int], asyncio.Task[bool]] = {}
        """ISR expansions in flight, at most one per partition."""
        self._state_writes: dict[tuple[str, int], set[asyncio.Task[int | None]]] = {}
        """Partition state writes of this broker in flight (a deletion is acknowledged after they land)."""
        self._deletion_acks: dict[str, tuple[int, asyncio.Task[None]]] = {}
        """Per topic marked for deletion: the life (topic znode czxid) acknowledged, and the task doing it."""
        self.shutting_down = False
        self.clock = clock
        """Wall-clock milliseconds for the partitions' follower lag (tests drive it)."""

    # --- configuration ------------------------------------------------------------------------------

    def topic_config(self, topic: str) -> dict[str, str]:
        """Effective topic config: broker defaults overlaid with the topic's overrides."""
        info = self.cache.topics.get(topic)
        overrides = info.config if info is not None else {}
        return {**self.config.topic_defaults, **overrides}

    def log_config(self, topic: str) -> LogConfig:
        return LogConfig.from_kafka(self.topic_config(topic))

    def min_insync_replicas(self, topic: str) -> int:
        return int(self.topic_config(topic).get("min.insync.replicas", "1"))

    def on_role_change(self, listener: Callable[[Partition], None]) -> None:
        """Called after a local partition became leader or follower (the group coordinator listens)."""
        self._listeners.append(listener)

    # --- lookups for the request handlers -------------------------------------------------------------

    def get(self, topic: str, partition: int) -> Partition | None:
        return self.partitions.get((topic, partition))

    def leader_partition(self, topic: str, partition: int, current_leader_epoch: int = -1) -> Partition:
        """The local leader replica, or the error the client must see."""
        part = self.partitions.get((topic, partition))
        if part is None:
            if self.cache.partition(topic, partition) is None:
                raise KafkaError(code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            raise KafkaError(code=ErrorCode.NOT_LEADER_OR_FOLLOWER)
        part.check_leader(current_leader_epoch)
        return part

    def leaders(self) -> Iterable[Partition]:
        return (p for p in self.partitions.values() if p.is_leader)

    # --- reacting to metadata ---------------------------------------------------------------------------

    def metadata_changed(self, topic: str, partition: int | None) -> None:
        """Cache listener: remember what changed and let the reconcile task apply it. Replicas of a topic
        that is gone, marked for deletion or has a new life go now (see the module docstring)."""
        if partition is None:
            self._drop_other_lives(topic)
        self._dirty.add((topic, partition))
        self._wakeup.set()

    def _drop_other_lives(self, topic: str) -> None:
        info = self.cache.topics.get(topic)
        for key in [k for k in self.partitions if k[0] == topic]:
            if info is None or info.marked_for_deletion or not same_life(self.partitions[key].topic_id,
                                                                           info.topic_id):
                if info is not None and not info.marked_for_deletion:
                    log.info("topic %s was deleted and created again: dropping the old replica %s-%d",
                             topic, key[0], key[1])
                self._remove(key, delete_log=True)
        if info is not None and info.marked_for_deletion:
            self._acknowledge_deletion(info)

    async def run(self) -> None:
        """Apply metadata changes one at a time, in order, for as long as the broker runs."""
        while True:
            await self._wakeup.wait()
            self.apply_pending()

    def apply_pending(self) -> None:
        """Apply the changes noted by :meth:`metadata_changed` since the last call."""
        self._wakeup.clear()
        dirty, self._dirty = self._dirty, set()
        for topic, partition in sorted(dirty, key=lambda k: (k[0], -1 if k[1] is None else k[1])):
            try:
                self._reconcile(topic, partition)
            except Exception:
                log.exception("failed to apply metadata for %s-%s", topic, partition)

    def reconcile_all(self, *, starting: bool = False) -> None:
        """Bring every local replica in line with the cache (start-up, after the first metadata load; a
        rejoin after a lost session). With ``starting`` every leadership the cache gives this broker is held
        (see the module docstring) until :meth:`reclaim_leadership` after registration."""
        if starting:
            self._held_claims = {
                (info.topic, info.partition): info.leader_epoch
                for info in self.cache.iter_partitions()
                if info.leader == self.broker_id
            }
        for key in list(self.partitions):
            self._reconcile(key[0], key[1])
        for info in list(self.cache.iter_partitions()):
            self._reconcile(info.topic, info.partition)

    def _reconcile(self, topic: str, partition: int | None) -> None:
        info = self.cache.topics.get(topic)
        if partition is None:
            if info is None or not info.marked_for_deletion:
                self._deletion_acks.pop(topic, None)
            self._drop_other_lives(topic)
            local = [k for k in self.partitions if k[0] == topic]
            if info is None:
                return
            for key in local:
                self._reconcile(topic, key[1])
            config = self.log_config(topic)
            for key in local:
                if key in self.partitions:
                    self.partitions[key].log.update_config(config)
            for p in info.partitions:
                if (topic, p) not in self.partitions:
                    self._reconcile(topic, p)
            return
        pinfo = None if info is None else info.partitions.get(partition)
        key = (topic, partition)
        if info is None or pinfo is None or not self._hosts(info, pinfo):
            if key in self.partitions:
                self._remove(key, delete_log=True)
            return
        part = self.partitions.get(key)
        if part is not None and not same_life(part.topic_id, info.topic_id):
            self._remove(key, delete_log=True)
            part = None
        if part is None:
            part = self.partitions[key] = self._open(topic, partition, info.topic_id)
        elif part.topic_id is None and info.topic_id is not None:
            self._store_topic_id(part.log, info.topic_id)  # the topic got its id: this replica is of it
            part.topic_id = info.topic_id
        self._apply_state(part, pinfo)

    def _open(self, topic: str, partition: int, topic_id: str | None) -> Partition:
        """The local replica of a partition of the topic's current life: its log, unless the log on disk is
        of another life of the topic (then that log is deleted and the replica starts empty)."""
        plog = self.logs.get_or_create(topic, partition, self.log_config(topic))
        stored = self._stored_topic_id(plog)
        if stored is not None and topic_id is not None and stored != topic_id:
            log.info("%s-%d: the log on disk is of an earlier life of the topic (id %s, now %s): deleting it",
                     topic, partition, stored, topic_id)
            self.logs.delete(topic, partition)
            plog = self.logs.get_or_create(topic, partition, self.log_config(topic))
            stored = None
        if topic_id is not None and stored != topic_id:
            self._store_topic_id(plog, topic_id)
        part = Partition(topic, partition, plog, broker_id=self.broker_id, clock=self.clock)
        part.topic_id = topic_id
        return part

    @staticmethod
    def _stored_topic_id(plog: PartitionLog) -> str | None:
        try:
            return read_topic_id(plog.directory)
        except (OSError, PartitionMetadataError) as exc:
            log.warning("%s: unreadable partition.metadata, taken as the topic's: %s", plog.directory.name, exc)
            return None

    @staticmethod
    def _store_topic_id(plog: PartitionLog, topic_id: str) -> None:
        try:
            write_topic_id(plog.directory, topic_id)
        except OSError as exc:  # a full disk: the replica serves on; only a later restart could not tell lives apart
            log.warning("%s: could not store the topic id: %s", plog.directory.name, exc)

    def _hosts(self, topic: TopicInfo, info: PartitionInfo) -> bool:
        if topic.marked_for_deletion:
            return False
        return self.broker_id in info.replicas or self.broker_id in info.adding_replicas

    def _apply_state(self, part: Partition, info: PartitionInfo) -> None:
        state = info.state
        if state is None:
            return  # the controller has not elected a leader yet
        replicas = list(dict.fromkeys([*info.replicas, *info.adding_replicas]))
        key = (part.topic, part.index)
        claimed_epoch = self._held_claims.get(key)
        if claimed_epoch is not None:
            if state.leader == self.broker_id and state.leader_epoch == claimed_epoch:
                self._hold(part, state, replicas)
                return
            del self._held_claims[key]
        if state.leader == self.broker_id and self.fenced:
            self._hold(part, state, replicas)  # whatever ZooKeeper says, nothing is led until the rejoin
            return
        if state.leader == self.broker_id:
            if not part.is_leader or state.leader_epoch > part.leader_epoch:
                log.info("becoming leader of %s-%d at epoch %d", part.topic, part.index, state.leader_epoch)
                if self.fetchers is not None:
                    self.fetchers.unfollow(part)
                part.become_leader(leader_epoch=state.leader_epoch, isr=state.isr, replicas=replicas)
                self._notify(part)
            else:
                part.update_state(isr=state.isr, replicas=replicas)
        else:
            changed = part.leader_id != state.leader or part.leader_epoch != state.leader_epoch
            if changed:
                log.info(
                    "following %s for %s-%d at epoch %d",
                    state.leader, part.topic, part.index, state.leader_epoch,
                )
                part.become_follower(
                    leader_id=state.leader, leader_epoch=state.leader_epoch, isr=state.isr, replicas=replicas
                )
                if self.fetchers is not None:
                    self.fetchers.unfollow(part)
                    if state.leader >= 0 and not self.shutting_down:
                        self.fetchers.follow(part)
                self._notify(part)
            else:
                part.update_state(isr=state.isr, replicas=replicas)

    def _hold(self, part: Partition, state: md.PartitionState, replicas: list[int]) -> None:
        """Leadership the state gives this broker but that it may not take up (yet): serve nothing."""
        if part.is_leader or part.leader_id != md.NO_LEADER or part.leader_epoch != state.leader_epoch:
            if self.fetchers is not None:
                self.fetchers.unfollow(part)
            was_leader = part.is_leader
            part.become_follower(leader_id=md.NO_LEADER, leader_epoch=state.leader_epoch, isr=state.isr,
                                 replicas=replicas)
            if was_leader:
                self._notify(part)
        else:
            part.update_state(isr=state.isr, replicas=replicas)

    async def reclaim_leadership(self) -> None:
        """After registering: take back, at a new leader epoch, the leadership held over from the last run or
        from before a lost session.

        The write is conditional on the state version, so if the controller has meanwhile elected
        another replica (it saw the old session expire) that election stands and this broker follows.
        A write that fails (ZooKeeper unreachable) raises; the claims stay held for the next attempt.
        """
        for (topic, index), epoch in list(self._held_claims.items()):
            info = self.cache.partition(topic, index)
            if info is None or info.state is None or info.leader != self.broker_id or info.leader_epoch != epoch:
                self._held_claims.pop((topic, index), None)
                self.metadata_changed(topic, index)
                continue
            state = md.PartitionState(self.broker_id, epoch + 1, info.state.isr, info.state.controller_epoch)
            version = await self._write_state(topic, index, state, info.state_version)
            if version is None:
                await self._refresh_state(topic, index)  # lost to the controller: follow what it decided
                continue
            log.info("re-took leadership of %s-%d at epoch %d", topic, index, epoch + 1)
            if version > info.state_version:  # (the watch may have brought our write in already)
                info.state, info.state_version = state, version
            self._held_claims.pop((topic, index), None)
            self.metadata_changed(topic, index)

    # --- a lost ZooKeeper session ------------------------------------------------------------------------

    def fence(self) -> None:
        """The ZooKeeper session is lost: stop leading now (see the module docstring). Idempotent."""
        self.fenced = True
        for part in list(self.leaders()):
            log.warning("%s-%d: stepping down as leader (epoch %d): the ZooKeeper session is lost",
                        part.topic, part.index, part.leader_epoch)
            part.become_follower(leader_id=md.NO_LEADER, leader_epoch=part.leader_epoch, isr=part.isr,
                                 replicas=part.replicas)
            self._notify(part)

    async def rejoin(self) -> None:
        """Registered again with a new session: read every local partition's state and take up its role —
        follow a new leader (truncating first), or hold and reclaim at a new epoch what is still ours.

        Raises if ZooKeeper cannot be read or written; the caller retries, and the broker stays fenced."""
        for topic, index in sorted(self.partitions):
            read = await self.state_writer.read_partition_state(topic, index)
            info = self.cache.partition(topic, index)
            if read is not None and info is not None and (info.state is None or read[1] > info.state_version):
                info.state, info.state_version = read
        self.fenced = False
        self.reconcile_all(starting=True)
        await self.reclaim_leadership()
        if self._held_claims:
            raise RuntimeError(f"leadership of {sorted(self._held_claims)} could not be taken back yet")

    def _notify(self, part: Partition) -> None:
        for listener in self._listeners:
            try:
                listener(part)
            except Exception:
                log.exception("role-change listener failed for %r", part)

    def _remove(self, key: tuple[str, int], *, delete_log: bool) -> None:
        part = self.partitions.pop(key, None)
        if part is None:
            return
        part.deleted = True
        part.leader_id = -1
        if self.fetchers is not None:
            self.fetchers.unfollow(part)
        part.wake()
        self._notify(part)
        if delete_log:
            log.info("deleting log of %s-%d", key[0], key[1])
            self.logs.delete(key[0], key[1])

    def delete_stray_logs(self) -> None:
        """Delete local logs of partitions the cluster no longer assigns here (deleted while we were down)."""
        for topic, partition in list(self.logs.partitions()):
            topic_info = self.cache.topics.get(topic)
            info = None if topic_info is None else topic_info.partitions.get(partition)
            hosted = topic_info is not None and info is not None and self._hosts(topic_info, info)
            if not hosted and (topic, partition) not in self.partitions:
                log.info("deleting stray log %s-%d", topic, partition)
                self.logs.delete(topic, partition)

    # --- deletion ---------------------------------------------------------------------------------------

    def _acknowledge_deletion(self, info: TopicInfo) -> None:
        """Tell the controller, once, that this broker holds nothing of a topic marked for deletion."""
        acked = self._deletion_acks.get(info.name)
        if self.shutting_down or (acked is not None and acked[0] == info.czxid):
            return
        task = asyncio.get_running_loop().create_task(self._send_deletion_ack(info.name, info.czxid),
                                                      name=f"deletion-ack-{info.name}")
        self._deletion_acks[info.name] = (info.czxid, task)

    async def _send_deletion_ack(self, topic: str, czxid: int) -> None:
        """The acknowledgement goes after this broker's state writes in flight for the topic have landed (they
        go through the same ZooKeeper session, so they come first), and is retried until written or moot."""
        pending = [t for key, tasks in self._state_writes.items() if key[0] == topic for t in tasks]
        if pending:
            await asyncio.wait(pending)
        backoff = max(self.config.zookeeper.reconnect_backoff_max_ms / 1000, 0.01)
        while True:
            info = self.cache.topics.get(topic)
            if (info is None or not info.marked_for_deletion or info.czxid != czxid or self.shutting_down
                    or any(k[0] == topic for k in self.partitions)):
                return
            try:
                await self.state_writer.acknowledge_deletion(topic, self.broker_id)
            except Exception as exc:
                log.warning("could not acknowledge the deletion of %s: %r; retrying", topic, exc)
                await asyncio.sleep(backoff)
                continue
            log.info("dropped every replica of %s, which is being deleted", topic)
            return

    async def deletions_acknowledged(self) -> None:
        """Wait until no deletion acknowledgement is in flight."""
        while True:
            pending = [task for _czxid, task in self._deletion_acks.values() if not task.done()]
            if not pending:
                return
            await asyncio.wait(pending)

    # --- ISR maintenance (leader side) ------------------------------------------------------------------

    async def shrink_isr_loop(self) -> None:
        interval = max(self.config.replication.replica_lag_time_max_ms / 2000, 0.05)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.shrink_isr_once()
            except Exception:
                log.exception("ISR check failed; next check in %.1f s", interval)

    async def shrink_isr_once(self) -> None:
        """Drop from the ISR of every partition led here the followers lagging for ``replica.lag.time.max.ms``."""
        for part in list(self.leaders()):
            lagging = part.lagging_followers(self.config.replication.replica_lag_time_max_ms)
            if lagging:
                new_isr = tuple(r for r in part.isr if r not in lagging)
                await self.change_isr(part, new_isr)

    def follower_fetched(
        self, part: Partition, follower_id: int, fetch_offset: int, log_start_offset: int = -1
    ) -> None:
        """A follower fetched from ``fetch_offset``, its log starting at ``log_start_offset`` (the Fetch handler
        tells us): track it, and add it back to the ISR when it caught up (unless a reassignment is removing
        it) — one ISR change in flight per partition; a later fetch retries. The new ISR is the one the write is
        conditional on, plus the follower (see :meth:`change_isr`)."""
        if not part.update_follower(follower_id, fetch_offset, log_start_offset):
            return
        key = (part.topic, part.index)
        info = self.cache.partition(part.topic, part.index)
        if key in self._expansions or info is None or info.state is None:
            return
        if follower_id in info.removing_replicas:
            # A reassignment is taking this replica away: once the controller has dropped it from the ISR it
            # stays out (Kafka stops it with StopReplica), or it would come back between the controller's
            # ISR write and its assignment write and outlive the reassignment in the ISR.
            return
        new_isr = tuple(sorted({*info.state.isr, follower_id}))
        self._expansions[key] = asyncio.get_running_loop().create_task(self._expand(key, part, new_isr))

    async def _expand(self, key: tuple[str, int], part: Partition, new_isr: tuple[int, ...]) -> bool:
        try:
            return await self.change_isr(part, new_isr)
        finally:
            self._expansions.pop(key, None)

    async def expansions_done(self) -> None:
        """Wait until no ISR expansion is in flight."""
        while self._expansions:
            await asyncio.wait(list(self._expansions.values()))

    async def change_isr(self, part: Partition, new_isr: tuple[int, ...]) -> bool:
        """Write the new ISR if nobody changed the state since we last saw it.

        Only the current replica of the topic's current life writes (a partition object left from an
        earlier life of the topic, or one that has not yet applied the state the cache holds, would write
        an ISR computed from another state — conditional on a version that, in a re-created topic, starts
        again at 0 like the old one's), and it never adds a broker outside the partition's assignment
        (Kafka's controller refuses such an AlterPartition), nor one that is not registered — its ZooKeeper
        session expired, and paused past it, it may still act on what it knew before (Kafka's ISR eligibility).

        A lost race means the state this leader acts on is stale (the controller elected another
        leader, or changed the ISR): the znode is read back and applied at once, so a deposed leader
        stops serving now rather than when its watch catches up. A write that fails outright
        (ZooKeeper unreachable) changes nothing; the next check tries again.
        """
        key = (part.topic, part.index)
        topic = self.cache.topics.get(part.topic)
        info = None if topic is None else topic.partitions.get(part.index)
        if self.fenced or not part.is_leader or self.partitions.get(key) is not part:
            return False
        if topic is None or topic.marked_for_deletion or not same_life(part.topic_id, topic.topic_id):
            return False
        if info is None or info.state is None or info.state.leader != self.broker_id:
            return False
        if info.state.leader_epoch != part.leader_epoch or tuple(info.state.isr) == new_isr:
            return False
        if tuple(info.state.isr) != part.isr:
            return False  # the cache holds a state not applied yet: the reconcile will, then a later change
        added = set(new_isr) - set(info.state.isr)
        outside = added - {*info.replicas, *info.adding_replicas}
        if outside:
            log.warning("not adding %s to the ISR of %s-%d: not in its assignment %s", sorted(outside), part.topic,
                        part.index, info.replicas)
            return False
        if not added <= set(self.cache.brokers):
            return False  # not registered: a broker whose session expired (it may be paused, with an old view)
        log.info("changing ISR of %s-%d from %s to %s", part.topic, part.index, list(part.isr), list(new_isr))
        state = md.PartitionState(
            leader=self.broker_id,
            leader_epoch=part.leader_epoch,
            isr=new_isr,
            controller_epoch=info.state.controller_epoch,
        )
        try:
            version = await self._write_state(part.topic, part.index, state, info.state_version)
        except Exception as exc:
            log.warning("could not write the ISR of %s-%d: %r", part.topic, part.index, exc)
            return False
        if version is None:
            log.info("ISR change of %s-%d lost to a newer state; reading it", part.topic, part.index)
            await self._refresh_state(part.topic, part.index)
            return False
        if info.state_version < version:
            info.state, info.state_version = state, version
        if not part.is_leader or part.leader_epoch != state.leader_epoch:
            return True  # fenced, or deposed, while the write was out: the next reconcile applies the state
        part.update_state(isr=new_isr, replicas=part.replicas)
        return True

    async def _write_state(self, topic: str, index: int, state: md.PartitionState, version: int) -> int | None:
        """A conditional write of the state znode, kept track of until it lands (see :meth:`_send_deletion_ack`)."""
        key = (topic, index)
        task = asyncio.ensure_future(self.state_writer.write_partition_state(topic, index, state, version))
        writes = self._state_writes.setdefault(key, set())
        writes.add(task)
        try:
            return await task
        finally:
            writes.discard(task)
            if not writes and self._state_writes.get(key) is writes:
                del self._state_writes[key]

    async def _refresh_state(self, topic: str, index: int) -> None:
        """Read a partition's state znode into the cache and apply it here, if newer than the cache's."""
        try:
            read = await self.state_writer.read_partition_state(topic, index)
        except Exception as exc:
            log.warning("could not read the state of %s-%d: %r", topic, index, exc)
            return
        info = self.cache.partition(topic, index)
        if read is None or info is None:
            return
        state, version = read
        if version > info.state_version:
            info.state, info.state_version = state, version
            self._reconcile(topic, index)

    # --- housekeeping ------------------------------------------------------------------------------------

    async def retention_loop(self) -> None:
        interval = self.config.log_retention_check_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                self.logs.enforce_retention(now_ms())
            except Exception:
                log.exception("retention check failed")

