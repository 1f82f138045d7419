"""The replicas this broker hosts: created, promoted, demoted and deleted as the metadata says.

The replica manager listens to the metadata cache. For each partition that lists this broker as
a replica it makes sure a log exists and that the local :class:`Partition` plays the role the
partition state names — leader (serving produce and fetch) or follower (fed by the replica
fetcher). Partitions of deleted topics, or from which this broker was reassigned away, have their
logs deleted; so do those of a topic that comes back under its name with a new topic id (deleted
and created again before this broker saw it gone). As leader it also owns the ISR: a periodic
check drops lagging followers and the fetch path adds caught-up ones back, each through a
conditional write of the state znode.

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
from kafka_broker.cluster.metadata_cache import MetadataCache, PartitionInfo
from kafka_broker.cluster.partition import Partition, now_ms
from kafka_broker.config import BrokerConfig
from kafka_broker.protocol.errors import ErrorCode, KafkaError
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.log_manager import LogManager

log = logging.getLogger(__name__)


class StateWriter(Protocol):
    """Writes a partition state znode if its version is still ``version``; returns the new version
    or None when someone else wrote first. Reads it back after such a lost race."""

    async def write_partition_state(
        self, topic: str, partition: int, state: md.PartitionState, version: int
    ) -> int | None: ...

    async def read_partition_state(self, topic: str, partition: int) -> tuple[md.PartitionState, int] | None: ...


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
        self._topic_ids: dict[str, str] = {}
        """Topic id of each topic as last reconciled: a new id under the same name is a new topic."""
        self._expansions: dict[tuple[str, int], asyncio.Task[bool]] = {}
        """ISR expansions in flight, at most one per partition."""
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
        """Cache listener: remember what changed and let the reconcile task apply it."""
        self._dirty.add((topic, partition))
        self._wakeup.set()

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
        if info is None:
            self._topic_ids.pop(topic, None)
        else:
            self._check_topic_id(topic, info.topic_id)
        if partition is None:
            local = [k for k in self.partitions if k[0] == topic]
            if info is None:
                for key in local:
                    self._remove(key, delete_log=True)
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
        if pinfo is None or not self._hosts(pinfo):
            if key in self.partitions:
                self._remove(key, delete_log=True)
            return
        part = self.partitions.get(key)
        if part is None:
            plog = self.logs.get_or_create(topic, partition, self.log_config(topic))
            part = self.partitions[key] = Partition(topic, partition, plog, broker_id=self.broker_id,
                                                    clock=self.clock)
        self._apply_state(part, pinfo)

    def _check_topic_id(self, topic: str, topic_id: str | None) -> None:
        """A topic deleted and created again under its name before this broker noticed the deletion
        shows up as a new topic id: the replicas of the old one, and their logs, go first."""
        known = self._topic_ids.get(topic)
        if known is not None and topic_id is not None and known != topic_id:
            log.info("topic %s was deleted and created again: dropping the old replicas", topic)
            for key in [k for k in self.partitions if k[0] == topic]:
                self._remove(key, delete_log=True)
        if topic_id is not None:
            self._topic_ids[topic] = topic_id

    def _hosts(self, info: PartitionInfo) -> bool:
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
            version = await self.state_writer.write_partition_state(topic, index, state, info.state_version)
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
            info = self.cache.partition(topic, partition)
            if (info is None or not self._hosts(info)) and (topic, partition) not in self.partitions:
                log.info("deleting stray log %s-%d", topic, partition)
                self.logs.delete(topic, partition)

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
                log.info("shrinking ISR of %s-%d from %s to %s", part.topic, part.index, part.isr, new_isr)
                await self.change_isr(part, new_isr)

    def follower_fetched(self, part: Partition, follower_id: int, fetch_offset: int) -> None:
        """A follower fetched from ``fetch_offset`` (the Fetch handler tells us): track it, and add it back
        to the ISR when it caught up — one ISR change in flight per partition; a later fetch retries."""
        if not part.update_follower(follower_id, fetch_offset):
            return
        key = (part.topic, part.index)
        if key in self._expansions:
            return
        new_isr = tuple(sorted({*part.isr, follower_id}))
        log.info("expanding ISR of %s-%d from %s to %s", part.topic, part.index, part.isr, new_isr)
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

        A lost race means the state this leader acts on is stale (the controller elected another
        leader, or changed the ISR): the znode is read back and applied at once, so a deposed leader
        stops serving now rather than when its watch catches up. A write that fails outright
        (ZooKeeper unreachable) changes nothing; the next check tries again.
        """
        info = self.cache.partition(part.topic, part.index)
        if self.fenced or not part.is_leader:
            return False
        if info is None or info.state is None or info.state.leader != self.broker_id:
            return False
        if info.state.leader_epoch != part.leader_epoch or tuple(info.state.isr) == new_isr:
            return False
        state = md.PartitionState(
            leader=self.broker_id,
            leader_epoch=part.leader_epoch,
            isr=new_isr,
            controller_epoch=info.state.controller_epoch,
        )
        try:
            version = await self.state_writer.write_partition_state(part.topic, part.index, state,
                                                                    info.state_version)
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

