"""What to do to make a Kafka topic match its KafkaTopic: a pure plan from desired and observed state.

Rules (the README's Kubernetes section): the replication factor may not exceed the cluster's
brokers — then nothing at all is done and the reason is ``ReplicationFactorExceedsBrokers``;
partitions only grow — a smaller count is refused with ``PartitionsCannotShrink`` while other
changes still apply; a replication factor change is a partition reassignment (replicas added to, or
dropped from the end of, each partition's list, keeping the preferred leader first and spreading
new replicas over the least-loaded brokers).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .spec import TopicSpec

RF_EXCEEDS_BROKERS = "ReplicationFactorExceedsBrokers"
PARTITIONS_CANNOT_SHRINK = "PartitionsCannotShrink"


@dataclass(frozen=True)
class ObservedTopic:
    """The topic as the brokers report it."""

    partitions: dict[int, list[int]]
    """Replica list of every partition."""
    config: Mapping[str, str] = field(default_factory=dict)
    """Topic-level overrides only (not broker defaults)."""

    @property
    def partition_count(self) -> int:
        return len(self.partitions)

    @property
    def replication_factor(self) -> int:
        return min((len(r) for r in self.partitions.values()), default=0)


@dataclass(frozen=True)
class TopicPlan:
    create: bool = False
    grow_partitions_to: int | None = None
    set_config: Mapping[str, str] = field(default_factory=dict)
    delete_config: tuple[str, ...] = ()
    reassignment: Mapping[int, list[int]] = field(default_factory=dict)
    refusal: tuple[str, str] | None = None
    """``(reason, message)`` when the spec cannot be (fully) applied."""
    blocked: bool = False
    """True when nothing may be done at all (the refusal covers the whole spec)."""

    @property
    def empty(self) -> bool:
        return not (
            self.create or self.grow_partitions_to or self.set_config or self.delete_config or self.reassignment
        )


def validate(spec: TopicSpec, *, brokers: int) -> tuple[str, str] | None:
    if spec.replication_factor > brokers:
        return (
            RF_EXCEEDS_BROKERS,
            f"replicationFactor {spec.replication_factor} exceeds the {brokers} broker(s) of cluster {spec.cluster}",
        )
    return None


def reassign_replication(
    assignment: Mapping[int, Sequence[int]], *, broker_ids: Sequence[int], replication_factor: int
) -> dict[int, list[int]]:
    """New replica lists for ``replication_factor``: only the partitions that change are returned."""
    load = Counter(b for replicas in assignment.values() for b in replicas)
    for b in broker_ids:
        load.setdefault(b, 0)
    ring = max(broker_ids, default=0) + 1
    result: dict[int, list[int]] = {}
    for partition in sorted(assignment):
        replicas = list(assignment[partition])
        if len(replicas) > replication_factor:
            for dropped in replicas[replication_factor:]:
                load[dropped] -= 1
            replicas = replicas[:replication_factor]
        while len(replicas) < replication_factor:
            # Least-loaded first; on a tie the broker right after the leader, so replicas form a ring.
            leader = replicas[0] if replicas else 0
            rank = {b: (load[b], (b - leader) % ring, b) for b in broker_ids if b not in replicas}
            candidates = sorted(rank, key=rank.__getitem__)
            if not candidates:
                break
            replicas.append(candidates[0])
            load[candidates[0]] += 1
        if replicas != list(assignment[partition]):
            result[partition] = replicas
    return result


def plan_topic(
    spec: TopicSpec, observed: ObservedTopic | None, *, brokers: int, broker_ids: Sequence[int] = ()
) -> TopicPlan:
    refusal = validate(spec, brokers=brokers)
    if refusal:
        return TopicPlan(refusal=refusal, blocked=True)
    if observed is None:
        return TopicPlan(create=True, set_config=dict(spec.config))
    grow = spec.partitions if spec.partitions > observed.partition_count else None
    if spec.partitions < observed.partition_count:
        refusal = (
            PARTITIONS_CANNOT_SHRINK,
            f"partitions can only grow: the topic has {observed.partition_count}, the spec asks for {spec.partitions}",
        )
    set_config = {k: v for k, v in spec.config.items() if observed.config.get(k) != v}
    delete_config = tuple(sorted(k for k in observed.config if k not in spec.config))
    reassignment: dict[int, list[int]] = {}
    if observed.replication_factor != spec.replication_factor and broker_ids:
        reassignment = reassign_replication(
            observed.partitions, broker_ids=broker_ids, replication_factor=spec.replication_factor
        )
    return TopicPlan(
        grow_partitions_to=grow,
        set_config=set_config,
        delete_config=delete_config,
        reassignment=reassignment,
        refusal=refusal,
    )
