"""Before a scale-down, move every replica off the brokers that are going away.

The StatefulSet removes the highest ordinals, so brokers ``brokers .. current-1`` leave. Their replicas are
moved to the remaining brokers (least-loaded first, never twice in one partition) with one reassignment;
the StatefulSet keeps its old size until the reassignment is done and no partition names a leaving broker.
If the brokers cannot be reached at all (none ready), there is nothing to drain and the scale-down goes on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from .zookeeper import ZooKeeper, ZooKeeperUnavailable


def drain_plan(
    assignments: Mapping[str, Mapping[int, Sequence[int]]],
    *,
    keep: Sequence[int],
    leaving: Sequence[int],
    keep_replication_factor: bool = False,
) -> dict[tuple[str, int], list[int]]:
    """New replica lists for the partitions that name a ``leaving`` broker, each leaving replica replaced
    by the least-loaded ``keep`` broker the partition does not have yet.

    When ``keep`` has too few brokers for that, a scale-down drops the replica (the user asked for fewer
    brokers); with ``keep_replication_factor`` (a lost broker) the leaving broker stays in the list instead,
    so the partition keeps its replication factor and catches up when the broker returns.
    """
    load = Counter({b: 0 for b in keep})
    for parts in assignments.values():
        for replicas in parts.values():
            load.update(b for b in replicas if b in load)
    plan: dict[tuple[str, int], list[int]] = {}
    for topic in sorted(assignments):
        for partition, replicas in sorted(assignments[topic].items()):
            if not any(b in leaving for b in replicas):
                continue
            staying = [b for b in replicas if b not in leaving]
            added: list[int] = []
            kept: set[int] = set()
            for old in (b for b in replicas if b in leaving):
                choices = sorted((b for b in keep if b not in staying + added), key=lambda b: (load[b], b))
                if choices:
                    added.append(choices[0])
                    load[choices[0]] += 1
                elif keep_replication_factor:
                    kept.add(old)
            # Survivors (and unreplaced lost brokers) keep their places, so the preferred leader stays.
            new = [b for b in replicas if b not in leaving or b in kept] + added
            if new != list(replicas):
                plan[(topic, partition)] = new
    return plan


def drain(zookeeper: ZooKeeper, connect: str, *, current: int, desired: int) -> str | None:
    """Start or check the drain; None when the scale-down may proceed, else what it waits for."""
    leaving = list(range(desired, current))
    keep = list(range(desired))
    try:
        with zookeeper.session(connect) as zk:
            if zk.reassignment_in_progress():
                return "a partition reassignment is in progress"
            plan = drain_plan(zk.topic_assignments(), keep=keep, leaving=leaving)
            if not plan:
                return None
            zk.request_reassignment(plan)
            return f"moving {len(plan)} partition(s) off brokers {leaving}"
    except ZooKeeperUnavailable:
        return None
