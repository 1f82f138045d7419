"""Partition leader election rules, as pure functions of a partition's replicas, state and the live
brokers (so they are unit-tested without ZooKeeper).

* A new partition starts with the first live replica as leader and all live replicas in the ISR.
* A partition whose leader died gets the first replica (assignment order) that is live and in the
  ISR; dead brokers leave the ISR. With no such replica it goes offline (leader -1, ISR kept, so
  the last in-sync replica can take over when it returns) unless unclean election is enabled,
  which lets any live replica lead (accepting data loss).
* A partition with a live leader only loses dead brokers from its ISR.
* Preferred election moves leadership to the first replica when it is live and in the ISR.
* Unclean election (asked for with ElectLeaders) gives an offline partition its first live in-sync
  replica, else its first live replica.
Every leader change bumps the leader epoch.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from kafka_broker import metadata as md


def initial_state(replicas: Sequence[int], live: Collection[int], controller_epoch: int) -> md.PartitionState | None:
    alive = [r for r in replicas if r in live]
    if not alive:
        return None
    return md.PartitionState(leader=alive[0], leader_epoch=0, isr=tuple(alive), controller_epoch=controller_epoch)


def on_broker_change(
    replicas: Sequence[int], state: md.PartitionState, live: Collection[int], *, unclean: bool, controller_epoch: int
) -> md.PartitionState | None:
    """The state after brokers came or went, or None if nothing needs to change."""
    if state.leader in live:
        isr = tuple(r for r in state.isr if r in live)
        if isr == state.isr or not isr:
            return None
        return md.PartitionState(state.leader, state.leader_epoch + 1, isr, controller_epoch)
    candidates = [r for r in replicas if r in live and r in state.isr]
    if candidates:
        isr = tuple(r for r in state.isr if r in live)
        return md.PartitionState(candidates[0], state.leader_epoch + 1, isr, controller_epoch)
    alive = [r for r in replicas if r in live]
    if unclean and alive:
        return md.PartitionState(alive[0], state.leader_epoch + 1, (alive[0],), controller_epoch)
    if state.leader == md.NO_LEADER:
        return None
    return md.PartitionState(md.NO_LEADER, state.leader_epoch + 1, state.isr, controller_epoch)


def preferred(
    replicas: Sequence[int], state: md.PartitionState, live: Collection[int], controller_epoch: int
) -> md.PartitionState | None:
    """Leadership to the preferred (first) replica, if it can take it and does not have it."""
    if not replicas:
        return None
    first = replicas[0]
    if state.leader == first or first not in live or first not in state.isr:
        return None
    return md.PartitionState(first, state.leader_epoch + 1, state.isr, controller_epoch)


def leader_within(
    targets: Sequence[int], state: md.PartitionState, live: Collection[int], controller_epoch: int
) -> md.PartitionState | None:
    """For a reassignment: move leadership into the target replicas if it is outside them."""
    if state.leader in targets and state.leader in live:
        return None
    candidates = [r for r in targets if r in live and r in state.isr]
    if not candidates:
        return None
    return md.PartitionState(candidates[0], state.leader_epoch + 1, state.isr, controller_epoch)


def unclean(
    replicas: Sequence[int], state: md.PartitionState, live: Collection[int], controller_epoch: int
) -> md.PartitionState | None:
    """For an offline partition (leader gone), asked for by an admin: the first live in-sync replica, else the
    first live replica (accepting data loss, ISR = that replica alone); None if no replica is live."""
    in_sync = [r for r in replicas if r in live and r in state.isr]
    if in_sync:
        return md.PartitionState(in_sync[0], state.leader_epoch + 1, tuple(r for r in state.isr if r in live),
                                 controller_epoch)
    alive = [r for r in replicas if r in live]
    if not alive:
        return None
    return md.PartitionState(alive[0], state.leader_epoch + 1, (alive[0],), controller_epoch)
