"""Partition reassignment (KIP-455), driven by the plan in ``/admin/reassign_partitions`` (Kafka's JSON,
written by the ZooKeeper-era tools or, for AlterPartitionReassignments, by the controller itself) and
by topic znodes that record a reassignment in progress without a plan entry (then the target is
``replicas - removing_replicas``, as Kafka's controller resumes it after a failover).

A partition's *original* replicas are its replicas minus those being added. Reassigning it to a target
gives (Kafka's ``ReplicaAssignment.reassignTo``) replicas = target + originals, adding = target - originals,
removing = originals - target. Each pass moves every reassigned partition one step along:

1. **start** — or **restart**, when the topic znode does not record exactly that for the current target
   (the target was changed mid-flight, or cancelled: the target is then the originals): replicas that
   leave the set (added for an earlier target and no longer wanted) first lose leadership and their ISR
   places; then the topic znode gets the replicas with ``adding_replicas`` / ``removing_replicas``; new
   replicas create their logs and start following the leader, dropped ones delete theirs;
2. **wait** until every target replica is in the ISR (caught up);
3. **lead**: if the leader is not a target replica, leadership moves to one (epoch + 1);
4. **finish**: removed replicas leave the ISR, the topic znode gets replicas = target and empty
   adding/removing, and brokers no longer named delete their logs;
5. the partition is dropped from the plan; an empty plan deletes the znode.

Nothing is dropped before its replacement is in sync, so a reassignment under load loses no data.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from kafka_broker import metadata as md
from kafka_broker.cluster.metadata_cache import MetadataCache, PartitionInfo
from kafka_broker.cluster.zk_store import ControllerEpoch, ZkStore
from kafka_broker.controller.election import leader_within

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Assignment:
    """A partition's replicas with the reassignment bookkeeping of its topic znode."""

    replicas: list[int]
    adding: list[int]
    removing: list[int]

    @property
    def originals(self) -> list[int]:
        """The replicas before the reassignment in progress (all of them when none is)."""
        return [r for r in self.replicas if r not in self.adding]

    @property
    def target(self) -> list[int]:
        return [r for r in self.replicas if r not in self.removing]

    @property
    def in_progress(self) -> bool:
        return bool(self.adding or self.removing)

    def same_as(self, other: Assignment) -> bool:
        """Same replicas (in order) and the same replicas being added and removed (in any order)."""
        return (self.replicas == other.replicas and set(self.adding) == set(other.adding)
                and set(self.removing) == set(other.removing))

    @classmethod
    def of(cls, info: PartitionInfo) -> Assignment:
        return cls(list(info.replicas), list(info.adding_replicas), list(info.removing_replicas))

    def reassign_to(self, target: Sequence[int]) -> Assignment:
        """The assignment that moves the original replicas to ``target`` (KIP-455)."""
        originals = self.originals
        replicas = list(dict.fromkeys([*target, *originals]))
        return Assignment(replicas, [r for r in replicas if r not in originals],
                          [r for r in replicas if r not in target])


def ongoing(cache: MetadataCache) -> dict[tuple[str, int], list[int]]:
    """Every reassignment to carry out: the plan's targets, and those of partitions whose topic znode records
    one in progress that the plan does not name."""
    targets = dict(cache.reassignments)
    for info in cache.iter_partitions():
        key = (info.topic, info.partition)
        if key not in targets and (info.adding_replicas or info.removing_replicas):
            targets[key] = Assignment.of(info).target
    return targets


def listing(cache: MetadataCache, partitions: Iterable[tuple[str, int]] | None) -> dict[tuple[str, int], Assignment]:
    """ListPartitionReassignments: every reassignment in progress (of the given partitions), as its topic znode
    records it or as its next step will (one accepted but not started yet)."""
    targets = ongoing(cache)
    keys = sorted(targets) if partitions is None else [k for k in dict.fromkeys(partitions) if k in targets]
    result: dict[tuple[str, int], Assignment] = {}
    for key in keys:
        info = cache.partition(*key)
        if info is None:
            continue
        wanted = Assignment.of(info).reassign_to(targets[key])
        if wanted.in_progress:
            result[key] = wanted
    return result


def invalid_target(info: PartitionInfo, target: Sequence[int], live: Collection[int]) -> str | None:
    """Why ``target`` cannot be a partition's replicas (Kafka's checks and messages), or None."""
    if not target:
        return "Empty replica list specified in partition reassignment."
    if len(set(target)) != len(target):
        return f"Duplicate replica ids in partition reassignment replica list: {list(target)}"
    if any(r < 0 for r in target):
        return f"Invalid broker id in replica list: {list(target)}"
    adding = Assignment.of(info).reassign_to(target).adding
    if not set(adding) <= set(live):
        return (f"Replica assignment has brokers that are not alive. Replica list: {adding}, "
                f"live broker list: {sorted(live)}")
    return None


async def _write_assignment(store: ZkStore, fence: ControllerEpoch, topic: str, partition: int,
                            new: Assignment) -> bool:
    read = await store.read_topic_assignment(topic)
    if read is None:
        return False
    current, version = read
    parts = dict(current.partitions)
    parts[partition] = list(new.replicas)
    add = {p: r for p, r in current.adding_replicas.items() if p != partition}
    rem = {p: r for p, r in current.removing_replicas.items() if p != partition}
    if new.adding:
        add[partition] = list(new.adding)
    if new.removing:
        rem[partition] = list(new.removing)
    updated = md.TopicAssignment(partitions=parts, topic_id=current.topic_id, adding_replicas=add,
                                 removing_replicas=rem)
    return await store.write_topic_assignment(topic, updated, version, fence=fence)


async def _write_state(store: ZkStore, fence: ControllerEpoch, info: PartitionInfo, new: md.PartitionState) -> bool:
    version = await store.write_partition_state(info.topic, info.partition, new, info.state_version, fence=fence)
    if version is None:
        return False
    info.state, info.state_version = new, version
    return True


async def _confine(store: ZkStore, fence: ControllerEpoch, info: PartitionInfo, keep: Sequence[int],
                   live: Collection[int]) -> bool:
    """Leadership and ISR within ``keep`` (a write if needed); False when no replica of ``keep`` can lead."""
    state = info.state
    if state is None:
        return True
    leader = state.leader
    if leader not in keep:
        candidates = [r for r in keep if r in live and r in state.isr]
        if not candidates:
            return False
        leader = candidates[0]
    isr = tuple(r for r in state.isr if r in keep)
    if (leader, isr) == (state.leader, state.isr):
        return True
    return await _write_state(store, fence, info, md.PartitionState(leader, state.leader_epoch + 1, isr, fence.epoch))


async def step(cache: MetadataCache, store: ZkStore, fence: ControllerEpoch, *,
               is_current: Callable[[str], Awaitable[bool]] | None = None) -> None:
    """Advance every reassignment by one step; remove finished ones from the plan. Every write is
    fenced by the controllership ``fence``. ``is_current(topic)``: whether the cache's topic is the one in
    ZooKeeper and not being deleted (a partition of another life of the topic, or of one being deleted,
    is left alone until the cache catches up)."""
    targets = ongoing(cache)
    if not targets:
        return
    live = set(cache.brokers)
    done: list[tuple[str, int]] = []
    for (topic, partition), target in targets.items():
        info = cache.partition(topic, partition)
        if info is None or not target:
            done.append((topic, partition))
            continue
        if is_current is not None and not await is_current(topic):
            continue
        if await _advance(store, fence, info, target, live):
            done.append((topic, partition))
    planned = [key for key in done if key in cache.reassignments]
    if planned:
        remaining = {k: v for k, v in cache.reassignments.items() if k not in planned}
        if remaining:
            await store.write_data(md.REASSIGN_PARTITIONS_PATH, md.encode_reassignment(remaining), fence=fence)
        else:
            await store.delete_path(md.REASSIGN_PARTITIONS_PATH, fence=fence)
        cache.reassignments = remaining


async def _advance(store: ZkStore, fence: ControllerEpoch, info: PartitionInfo, target: list[int],
                   live: Collection[int]) -> bool:
    """One step of one partition's reassignment; True once it is complete."""
    topic, partition = info.topic, info.partition
    now = Assignment.of(info)
    wanted = now.reassign_to(target)
    if not now.same_as(wanted):  # start, or restart for a changed target
        dropped = [r for r in now.replicas if r not in wanted.replicas]
        if dropped and not await _confine(store, fence, info, wanted.replicas, live):
            return False  # no remaining replica can lead yet
        log.info("reassigning %s-%d from %s to %s (replicas %s)", topic, partition, now.originals, target,
                 wanted.replicas)
        written = await _write_assignment(store, fence, topic, partition, wanted)
        return written and not wanted.in_progress  # nothing to add or remove (a new order, a cancel): done
    if not now.in_progress:
        return True
    state = info.state
    if state is None or not all(r in state.isr for r in target):
        return False  # waiting for the new replicas to catch up
    moved = leader_within(target, state, live, fence.epoch)
    if moved is not None:
        await _write_state(store, fence, info, moved)
        return False
    if state.leader not in target:
        return False
    isr = tuple(r for r in state.isr if r in target)
    if isr != state.isr:
        shrunk = md.PartitionState(state.leader, state.leader_epoch + 1, isr, fence.epoch)
        if not await _write_state(store, fence, info, shrunk):
            return False
    if await _write_assignment(store, fence, topic, partition, Assignment(list(target), [], [])):
        log.info("reassignment of %s-%d to %s complete", topic, partition, target)
        return True
    return False
