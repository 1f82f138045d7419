"""Partition reassignment, driven by ``/admin/reassign_partitions`` (Kafka's JSON plan).

Each pass moves every planned partition one step along (Kafka's KIP-455 order):

1. **start**: the topic znode gets replicas = target + remaining originals, with
   ``adding_replicas`` / ``removing_replicas`` recorded; new replicas create their logs and start
   following the leader;
2. **wait** until every target replica is in the ISR (caught up);
3. **lead**: if the leader is not a target replica, leadership moves to one (epoch + 1);
4. **finish**: removed replicas leave the ISR, the topic znode gets replicas = target and empty
   adding/removing, and brokers no longer named delete their logs;
5. the partition is dropped from the plan; an empty plan deletes the znode.

Nothing is dropped before its replacement is in sync, so a reassignment under load loses no data.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from kafka_broker import metadata as md
from kafka_broker.cluster.metadata_cache import MetadataCache
from kafka_broker.cluster.zk_store import ControllerEpoch, ZkStore
from kafka_broker.controller.election import leader_within

log = logging.getLogger(__name__)


async def _write_assignment(store: ZkStore, fence: ControllerEpoch, topic: str, partition: int, replicas: list[int],
                            adding: list[int], removing: list[int]) -> bool:
    read = await store.read_topic_assignment(topic)
    if read is None:
        return False
    current, version = read
    parts = dict(current.partitions)
    parts[partition] = replicas
    add = {p: r for p, r in current.adding_replicas.items() if p != partition}
    rem = {p: r for p, r in current.removing_replicas.items() if p != partition}
    if adding:
        add[partition] = adding
    if removing:
        rem[partition] = removing
    updated = md.TopicAssignment(partitions=parts, topic_id=current.topic_id, adding_replicas=add,
                                 removing_replicas=rem)
    return await store.write_topic_assignment(topic, updated, version, fence=fence)


async def step(cache: MetadataCache, store: ZkStore, fence: ControllerEpoch, *,
               is_current: Callable[[str], Awaitable[bool]] | None = None) -> None:
    """Advance every planned reassignment by one step; remove finished ones from the plan. Every write is
    fenced by the controllership ``fence``. ``is_current(topic)``: whether the cache's topic is the one in
    ZooKeeper and not being deleted (a partition of another life of the topic, or of one being deleted,
    is left alone until the cache catches up)."""
    if not cache.reassignments:
        return
    controller_epoch = fence.epoch
    live = set(cache.brokers)
    done: list[tuple[str, int]] = []
    for (topic, partition), target in list(cache.reassignments.items()):
        info = cache.partition(topic, partition)
        if info is None or not target:
            done.append((topic, partition))
            continue
        if is_current is not None and not await is_current(topic):
            continue
        current = list(info.replicas)
        if current == target and not info.adding_replicas and not info.removing_replicas:
            done.append((topic, partition))
            continue
        if not info.adding_replicas and not info.removing_replicas:
            merged = list(dict.fromkeys([*target, *current]))
            adding = [r for r in target if r not in current]
            removing = [r for r in current if r not in target]
            log.info("reassigning %s-%d from %s to %s", topic, partition, current, target)
            await _write_assignment(store, fence, topic, partition, merged, adding, removing)
            continue
        state = info.state
        if state is None or not all(r in state.isr for r in target):
            continue  # waiting for the new replicas to catch up
        moved = leader_within(target, state, live, controller_epoch)
        if moved is not None:
            version = await store.write_partition_state(topic, partition, moved, info.state_version, fence=fence)
            if version is not None:
                info.state, info.state_version = moved, version
            continue
        if state.leader not in target:
            continue
        isr = tuple(r for r in state.isr if r in target)
        if isr != state.isr:
            shrunk = md.PartitionState(state.leader, state.leader_epoch + 1, isr, controller_epoch)
            version = await store.write_partition_state(topic, partition, shrunk, info.state_version, fence=fence)
            if version is None:
                continue
            info.state, info.state_version = shrunk, version
        if await _write_assignment(store, fence, topic, partition, list(target), [], []):
            log.info("reassignment of %s-%d to %s complete", topic, partition, target)
            done.append((topic, partition))
    if done:
        remaining = {k: v for k, v in cache.reassignments.items() if k not in done}
        if remaining:
            await store.write_data(md.REASSIGN_PARTITIONS_PATH, md.encode_reassignment(remaining), fence=fence)
        else:
            await store.delete_path(md.REASSIGN_PARTITIONS_PATH, fence=fence)
        cache.reassignments = remaining
