"""Controlled shutdown: before a broker exits, its partitions are handed to other in-sync replicas.

For each partition the leaving broker leads, the first other live ISR member becomes leader
(leader epoch + 1) and the leaving broker leaves the ISR; for each partition it follows, it
leaves the ISR so acks=all producers stop waiting for it. Follower fetching stops first, so the
leaders do not add it back. Every change is a conditional write of the state znode — the same
fencing the controller relies on. A write that loses a race reads the state back at once (as the
replica manager's ISR changes do) and the next round works from it, instead of waiting for a watch
that a busy or disconnected event thread may deliver late. Producers see
NOT_LEADER_OR_FOLLOWER, refresh metadata and retry on the new leader, so a rolling restart loses
no acks=all write.
"""

from __future__ import annotations

import asyncio
import logging

from kafka_broker import metadata as md
from kafka_broker.cluster.metadata_cache import MetadataCache, PartitionInfo
from kafka_broker.cluster.zk_store import ZkStore

log = logging.getLogger(__name__)


def _handover(info: PartitionInfo, me: int, live: set[int]) -> md.PartitionState | None:
    state = info.state
    if state is None or me not in state.isr:
        return None
    rest = tuple(r for r in state.isr if r != me)
    if state.leader == me:
        successors = [r for r in info.replicas if r in rest and r in live]
        if not successors:
            return None  # nobody to hand over to; the partition goes offline with us
        return md.PartitionState(successors[0], state.leader_epoch + 1, rest, state.controller_epoch)
    if not rest:
        return None
    return md.PartitionState(state.leader, state.leader_epoch, rest, state.controller_epoch)


async def hand_over_partitions(me: int, cache: MetadataCache, store: ZkStore, *, timeout_s: float) -> int:
    """Move leadership and ISR membership away from broker ``me``; returns partitions still led."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        live = set(cache.brokers) - {me}
        pending = 0
        for info in list(cache.iter_partitions()):
            topic = cache.topics.get(info.topic)
            if topic is None or topic.marked_for_deletion:
                continue  # being deleted: nothing to hand over (and no write to race the deletion with)
            new_state = _handover(info, me, live)
            if new_state is None:
                continue
            pending += 1
            version = await store.write_partition_state(info.topic, info.partition, new_state,
                                                        info.state_version)
            if version is None:
                read = await store.read_partition_state(info.topic, info.partition)
                if read is not None and read[1] > info.state_version:
                    info.state, info.state_version = read
            elif version > info.state_version:
                info.state, info.state_version = new_state, version
                if new_state.leader != me:
                    log.info("handed %s-%d to broker %d", info.topic, info.partition, new_state.leader)
        if pending == 0 or loop.time() >= deadline:
            break
        await asyncio.sleep(0.05)
    still_led = sum(1 for info in cache.iter_partitions() if info.leader == me)
    return still_led
