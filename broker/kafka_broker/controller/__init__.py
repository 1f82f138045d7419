"""The controller: one broker, elected through the ephemeral ``/controller`` znode, that keeps every
partition led by a live in-sync replica and carries out topic deletions, reassignments and
preferred-leader elections.

Election: every broker watches ``/controller``; when it is empty each tries to create it, and the
winner bumps ``/controller_epoch`` in the same ZooKeeper transaction and stamps that epoch on every
partition state it writes.

Fencing: every write of a controllership is a transaction that also checks ``/controller_epoch``'s
version as the election left it (:class:`~kafka_broker.cluster.zk_store.ControllerEpoch`). A controller
that was paused or cut off past its ZooKeeper session timeout — while another broker was elected and
bumped the epoch — has its writes refused (:class:`~kafka_broker.cluster.zk_store.ControllerMovedError`)
and resigns. It also resigns as soon as it hears its session is lost (:meth:`Controller.resign`), and
when its watch shows another broker in ``/controller``.

The active controller is level-triggered: any change to brokers, topics, partition states or the
admin znodes schedules one reconcile pass over the whole metadata, which

1. deletes topics marked in ``/admin/delete_topics``, once every live broker holding one of their
   replicas has dropped it (each broker drops its replicas as soon as it sees the mark and acknowledges
   under the request, as Kafka's brokers answer the controller's StopReplica; brokers that were down
   delete their stray logs, or a log of an earlier life of a topic, when they start). Until then the
   name is taken: a topic's old life is gone from every live broker before a new one can be created;
2. gives new partitions their first state and re-elects leaders of partitions whose leader is
   gone (rules in :mod:`.election`);
3. advances reassignments (:mod:`.reassignment`) and preferred-leader elections, including the
   periodic automatic rebalance when ``auto.leader.rebalance.enable`` is on;
4. gives a topic id to a topic written without one (by Kafka 2.x's ZooKeeper-era tools), as Kafka's
   controller does: the brokers tell one life of a topic name from another by it.

Admin requests served by the controller (the brokers' handlers call it; on another broker they answer
NOT_CONTROLLER, as Kafka's do, and the admin client retries on the controller): ElectLeaders
(:meth:`Controller.elect_leaders`), AlterPartitionReassignments (:meth:`Controller.alter_reassignments`,
which merges the new targets into the ``/admin/reassign_partitions`` plan and takes the first step at once,
as Kafka's controller does before it answers). They run between passes (one lock), fenced like a pass.

Every state write is also conditional on the znode version; a lost race just means another pass. Which
brokers are alive is read from ``/brokers/ids`` at each pass, not from the watch-fed cache, which may
not yet know of a registration that went with its broker's session.

The cache may also lag behind a topic's deletion and re-creation (by this controller, or by the one before
it): versions start again at 0 in the new topic's znodes, so a write conditional on a version of the old
topic could land on the new one — its first state made from the old assignment, or the new topic deleted
for the old one's request. Before its first write for a topic in a pass, the controller checks that the
topic znode is still the one its cache read (same creation zxid); if not, it waits for the watch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
from collections.abc import Iterable, Mapping

from kafka_broker import metadata as md
from kafka_broker.cluster.metadata_cache import MetadataCache, PartitionInfo, TopicInfo
from kafka_broker.cluster.zk_store import ControllerEpoch, ControllerMovedError, ZkStore
from kafka_broker.config import BrokerConfig
from kafka_broker.controller import election, reassignment
from kafka_broker.controller.reassignment import Assignment
from kafka_broker.protocol import ErrorCode

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]

DELETION_RECHECK_S = 1.0
"""While a deletion waits for brokers to drop their replicas, another pass this soon (the acknowledgements'
watch wakes the controller at once; this covers a watch lost to a request deleted and made again at once)."""


class ElectionType(enum.IntEnum):
    """ElectLeaders' election types (Kafka's ``ElectionType``)."""

    PREFERRED = 0
    UNCLEAN = 1


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """A partition's answer to an admin request: an error code and message (NONE: done)."""

    error: int = ErrorCode.NONE
    message: str | None = None


UNKNOWN_PARTITION = Outcome(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The partition does not exist.")
ELECTION_ATTEMPTS = 3
"""An admin-requested election that loses a race (a leader changing its ISR) is made again on the new state."""


class Controller:
    def __init__(self, config: BrokerConfig, cache: MetadataCache, store: ZkStore) -> None:
        self.config = config
        self.broker_id = config.broker_id
        self.cache = cache
        self.store = store
        self.epoch = 0
        """The epoch of this broker's last controllership (0: never the controller)."""
        self.held: ControllerEpoch | None = None
        """The controllership this broker holds now, if any: what its writes are fenced with."""
        self._wakeup = asyncio.Event()
        self._rebalance_due = False
        self._recheck: asyncio.TimerHandle | None = None
        self._deletion_waits: dict[str, set[int]] = {}
        """Per topic whose deletion waits: the brokers it waits for (logged when that changes)."""
        self._current: dict[str, bool] = {}
        """This pass: whether each topic znode is still the one the cache read (see the module docstring)."""
        self._lock = asyncio.Lock()
        """Held by a pass and by an admin request: they never interleave their writes."""
        cache.on_broker_change(self.trigger)
        cache.on_topic_change(lambda _t, _p: self.trigger())

    @property
    def active(self) -> bool:
        """Whether this broker acts as the controller."""
        return self.held is not None

    def trigger(self) -> None:
        self._wakeup.set()

    def resign(self, reason: str) -> None:
        """Stop acting as the controller (a pass in progress stops at its next write). Idempotent."""
        if self.held is not None:
            log.warning("broker %d resigns as the controller (epoch %d): %s", self.broker_id, self.held.epoch,
                        reason)
            self.held = None

    def _fence(self) -> ControllerEpoch:
        """The controllership a write must be fenced with; raises if it was given up meanwhile."""
        if self.held is None:
            raise ControllerMovedError(f"broker {self.broker_id} is no longer the controller")
        return self.held

    async def run(self) -> None:
        """Contend for controllership and, while holding it, reconcile on every change."""
        rebalance = asyncio.get_running_loop().create_task(self._rebalance_timer())
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                try:
                    await self.run_pass()
                except Exception:
                    log.exception("controller pass failed; retrying")
                    await asyncio.sleep(0.5)
                    self.trigger()
        finally:
            rebalance.cancel()

    async def run_pass(self) -> None:
        """React to a change: contend for ``/controller`` when it is free, step down when another broker
        holds it, and reconcile while this broker is the controller."""
        if self.cache.controller_id == md.NO_LEADER:
            await self.try_elect()
        elif self.cache.controller_id != self.broker_id and self.active:
            self.resign(f"controllership moved to broker {self.cache.controller_id}")
        if self.active:
            try:
                async with self._lock:
                    await self.reconcile()
            except ControllerMovedError as exc:
                self.resign(str(exc))

    async def _rebalance_timer(self) -> None:
        interval = self.config.replication.leader_imbalance_check_interval_seconds
        while True:
            await asyncio.sleep(interval)
            if self.config.replication.auto_leader_rebalance_enable:
                self._rebalance_due = True
                self.trigger()

    async def try_elect(self) -> None:
        """Take ``/controller`` if it is free."""
        won = await self.store.try_become_controller(self.broker_id)
        if won is not None:
            self.held, self.epoch = won, won.epoch
            self.cache.controller_id = self.broker_id
            log.info("broker %d is the controller (epoch %d)", self.broker_id, self.epoch)

    # --- one reconcile pass -------------------------------------------------------------------------

    async def reconcile(self) -> None:
        live = await self._live_brokers()
        self._current = {}
        for topic in list(self.cache.topics.values()):
            if topic.marked_for_deletion:
                await self._delete_once_dropped(topic, live)
                continue
            if topic.topic_id is None:
                await self._give_topic_id(topic)
            unclean = self._unclean_allowed(topic.config)
            for info in list(topic.partitions.values()):
                await self._reconcile_partition(topic, info, live, unclean=unclean)
        await self._forget_deletions_of_missing_topics()
        await reassignment.step(self.cache, self.store, self._fence(), is_current=self._is_current_topic)
        await self._preferred_elections(live)

    async def _is_current(self, topic: TopicInfo) -> bool:
        """Whether the topic znode is still the one the cache read (checked once a pass, before a first write)."""
        known = self._current.get(topic.name)
        if known is None:
            czxid = await self.store.topic_czxid(topic.name)
            known = self._current[topic.name] = czxid is not None and czxid == topic.czxid
            if not known:
                log.info("topic %s was deleted%s since this broker's cache read it: waiting for the watch",
                         topic.name, "" if czxid is None else " and created again")
        return known

    async def _is_current_topic(self, name: str) -> bool:
        topic = self.cache.topics.get(name)
        return topic is not None and not topic.marked_for_deletion and await self._is_current(topic)

    async def _give_topic_id(self, topic: TopicInfo) -> None:
        """A topic created without an id (by a tool that writes only ``/brokers/topics/<t>``, as Kafka 2.x's did)
        gets one, as Kafka's controller gives it (KIP-516): the id is what tells the topic's replicas from those
        of an earlier or later topic of the same name."""
        if not await self._is_current(topic):
            return
        read = await self.store.read_topic_assignment(topic.name)
        if read is None or read[0].topic_id is not None:
            return
        assignment, version = read
        updated = dataclasses.replace(assignment, topic_id=md.new_topic_id())
        if await self.store.write_topic_assignment(topic.name, updated, version, fence=self._fence()):
            log.info("topic %s had no topic id: gave it %s", topic.name, updated.topic_id)

    async def _delete_once_dropped(self, topic: TopicInfo, live: set[int]) -> None:
        """Delete a marked topic once every live broker holding a replica of it has dropped it."""
        if not await self._is_current(topic):
            return
        hosts = {b for p in topic.partitions.values() for b in (*p.replicas, *p.adding_replicas, *p.removing_replicas)}
        waiting = (hosts & live) - await self.store.deletion_acknowledgements(topic.name)
        if waiting:
            if self._deletion_waits.get(topic.name) != waiting:
                log.info("deletion of topic %s waits for brokers %s to drop their replicas", topic.name,
                         sorted(waiting))
                self._deletion_waits[topic.name] = waiting
            self._recheck_soon()
            return
        self._deletion_waits.pop(topic.name, None)
        log.info("deleting topic %s", topic.name)
        await self.store.delete_topic(topic.name, fence=self._fence())

    def _recheck_soon(self) -> None:
        loop = asyncio.get_running_loop()
        if self._recheck is None or self._recheck.when() <= loop.time():
            self._recheck = loop.call_later(DELETION_RECHECK_S, self.trigger)

    async def _live_brokers(self) -> set[int]:
        """The registered brokers as ZooKeeper has them now. The cache can lag: a controller that just
        took over may not have heard yet that the old controller's registration went with its session,
        and would keep (or make) that broker a leader."""
        ids = await self.store.read_children(md.BROKER_IDS_PATH)
        return {int(i) for i in ids if i.isdigit()}

    def _unclean_allowed(self, overrides: dict[str, str]) -> bool:
        value = overrides.get(
            "unclean.leader.election.enable", self.config.topic_defaults["unclean.leader.election.enable"]
        )
        return value.lower() == "true"

    async def _write(self, info: PartitionInfo, new_state: md.PartitionState, why: str) -> bool:
        topic = self.cache.topics.get(info.topic)
        if topic is None or not await self._is_current(topic):
            return False
        version = await self.store.write_partition_state(info.topic, info.partition, new_state,
                                                         info.state_version, fence=self._fence())
        if version is None:
            log.info("lost a race writing %s-%d; will retry", info.topic, info.partition)
            return False
        log.info("%s-%d (%s): leader %d, epoch %d, isr %s", info.topic, info.partition, why, new_state.leader,
                 new_state.leader_epoch, list(new_state.isr))
        info.state, info.state_version = new_state, version
        return True

    async def _reconcile_partition(self, topic: TopicInfo, info: PartitionInfo, live: set[int], *,
                                   unclean: bool) -> None:
        if info.state is None:
            new = election.initial_state(info.replicas, live, self.epoch)
            if new is None or not await self._is_current(topic):
                return
            version = await self.store.create_partition_state(info.topic, info.partition, new, fence=self._fence())
            if version is not None:
                info.state, info.state_version = new, version
            return
        new_state = election.on_broker_change(info.replicas, info.state, live, unclean=unclean,
                                              controller_epoch=self.epoch)
        if new_state is not None:
            await self._write(info, new_state, "broker change")

    async def _preferred_elections(self, live: set[int]) -> None:
        requested = list(self.cache.preferred_elections)
        targets: list[PartitionInfo] = []
        for topic, partition in requested:
            info = self.cache.partition(topic, partition)
            if info is not None:
                targets.append(info)
        if self._rebalance_due:
            self._rebalance_due = False
            targets.extend(self.cache.iter_partitions())
        for info in targets:
            if info.state is None or (info.topic, info.partition) in self.cache.reassignments:
                continue
            new_state = election.preferred(info.replicas, info.state, live, self.epoch)
            if new_state is not None:
                await self._write(info, new_state, "preferred leader")
        if requested:
            await self.store.delete_path(md.PREFERRED_REPLICA_ELECTION_PATH, fence=self._fence())
            self.cache.preferred_elections = []

    async def _forget_deletions_of_missing_topics(self) -> None:
        """A deletion request for a topic that does not exist is done: remove it (with any acknowledgements).
        So is one older than the topic of its name (made before that topic was created, by a tool that wrote
        the topic without looking): it is not for this topic. ZooKeeper says which topic exists: the cache
        may not have heard of a topic just created."""
        for name in await self.store.read_children(md.DELETE_TOPICS_PATH):
            topic = self.cache.topics.get(name)
            if topic is not None and topic.marked_for_deletion:
                continue
            request = await self.store.deletion_request_czxid(name)
            exists = await self.store.topic_czxid(name)
            if request is not None and (exists is None or request < exists):
                await self.store.delete_tree(md.delete_topic_path(name), fence=self._fence())

    # --- admin requests (ElectLeaders, AlterPartitionReassignments) -------------------------------------

    async def _serving(self, timeout_s: float) -> bool:
        """Take the lock within ``timeout_s``; False if the request timed out waiting for a pass."""
        try:
            await asyncio.wait_for(self._lock.acquire(), timeout_s)
        except TimeoutError:
            return False
        self._current = {}
        return True

    async def elect_leaders(self, partitions: Iterable[TopicPartition] | None, election_type: ElectionType, *,
                            timeout_s: float) -> dict[TopicPartition, Outcome]:
        """ElectLeaders: a preferred or unclean election for each partition (None: every partition), with
        Kafka's per-partition outcomes (ELECTION_NOT_NEEDED when the leader is already the one asked for)."""
        wanted = list(partitions) if partitions is not None else [
            (p.topic, p.partition) for p in self.cache.iter_partitions()]
        if not self.active:
            return dict.fromkeys(wanted, Outcome(ErrorCode.NOT_CONTROLLER))
        if not await self._serving(timeout_s):
            return dict.fromkeys(wanted, Outcome(ErrorCode.REQUEST_TIMED_OUT, "Timed out waiting for the controller"))
        try:
            live = await self._live_brokers()
            results: dict[TopicPartition, Outcome] = {}
            for key in wanted:
                results[key] = await self._elect(key, election_type, live)
            return results
        except ControllerMovedError as exc:
            self.resign(str(exc))
            return dict.fromkeys(wanted, Outcome(ErrorCode.NOT_CONTROLLER))
        finally:
            self._lock.release()

    async def _elect(self, key: TopicPartition, election_type: ElectionType, live: set[int]) -> Outcome:
        topic = self.cache.topics.get(key[0])
        info = self.cache.partition(*key)
        if topic is None or info is None:
            return UNKNOWN_PARTITION
        if topic.marked_for_deletion:
            return Outcome(ErrorCode.INVALID_TOPIC_EXCEPTION, "The topic is being deleted")
        name = f"{key[0]}-{key[1]}"
        for _ in range(ELECTION_ATTEMPTS):
            state = info.state
            if election_type == ElectionType.PREFERRED:
                if state is not None and info.replicas and state.leader == info.replicas[0]:
                    return Outcome(ErrorCode.ELECTION_NOT_NEEDED)
                new = None if state is None else election.preferred(info.replicas, state, live, self.epoch)
                if new is None:
                    return Outcome(ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
                                   f"Failed to elect leader for partition {name} under strategy "
                                   "PreferredReplicaPartitionLeaderElectionStrategy")
            else:
                if state is not None and state.leader in live:
                    return Outcome(ErrorCode.ELECTION_NOT_NEEDED)
                new = None if state is None else election.unclean(info.replicas, state, live, self.epoch)
                if new is None:
                    return Outcome(ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE,
                                   f"Failed to elect leader for partition {name} under strategy "
                                   "OfflinePartitionLeaderElectionStrategy(true)")
            if await self._write(info, new, f"{election_type.name.lower()} election requested"):
                return Outcome()
            read = await self.store.read_partition_state(*key)  # lost a race: elect again on the new state
            if read is None or not await self._is_current(topic):
                return UNKNOWN_PARTITION
            info.state, info.state_version = read
        return Outcome(ErrorCode.REQUEST_TIMED_OUT, f"The state of {name} kept changing")

    async def alter_reassignments(self, targets: Mapping[TopicPartition, list[int] | None], *,
                                  timeout_s: float) -> dict[TopicPartition, Outcome] | Outcome:
        """AlterPartitionReassignments: new targets (None: cancel, back to the original replicas) go into the
        plan, and the first step is taken. Per partition outcomes, or one for the whole request."""
        if not self.active:
            return Outcome(ErrorCode.NOT_CONTROLLER)
        if not await self._serving(timeout_s):
            return Outcome(ErrorCode.REQUEST_TIMED_OUT, "Timed out waiting for the controller")
        try:
            live = await self._live_brokers()
            plan = dict(self.cache.reassignments)
            results: dict[TopicPartition, Outcome] = {}
            for key, target in targets.items():
                results[key] = self._plan_reassignment(plan, key, target, live)
            if plan != self.cache.reassignments:
                await self.store.write_data(md.REASSIGN_PARTITIONS_PATH, md.encode_reassignment(plan),
                                            fence=self._fence())
                self.cache.reassignments = plan
                await reassignment.step(self.cache, self.store, self._fence(), is_current=self._is_current_topic)
            return results
        except ControllerMovedError as exc:
            self.resign(str(exc))
            return Outcome(ErrorCode.NOT_CONTROLLER)
        finally:
            self._lock.release()
            self.trigger()

    def _plan_reassignment(self, plan: dict[TopicPartition, list[int]], key: TopicPartition,
                           target: list[int] | None, live: set[int]) -> Outcome:
        topic = self.cache.topics.get(key[0])
        info = self.cache.partition(*key)
        if topic is None or info is None or topic.marked_for_deletion:
            return UNKNOWN_PARTITION
        now = Assignment.of(info)
        if target is None:
            if not now.in_progress and key not in plan:
                return Outcome(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS)
            log.info("cancelling the reassignment of %s-%d: back to %s", *key, now.originals)
            plan[key] = now.originals
            return Outcome()
        invalid = reassignment.invalid_target(info, target, live)
        if invalid is not None:
            return Outcome(ErrorCode.INVALID_REPLICA_ASSIGNMENT, invalid)
        plan[key] = list(target)
        return Outcome()
