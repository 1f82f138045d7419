"""Creating, growing, reconfiguring and deleting topics: validation, replica placement, ZooKeeper writes.

Any broker may do this (as Kafka 2.x's admin tools did by writing ZooKeeper directly); the
controller then brings the new partitions to life. Replica placement follows Kafka's scheme:
the first replica of partition *p* is broker ``(p + start) mod n`` and the followers are spread
with a shift that grows every *n* partitions, so leaders and followers are both balanced.
With ``broker.rack`` set on every broker, the broker list is interleaved by rack first, so
consecutive replicas land on different racks.

One request may ask for at most :data:`MAX_PARTITIONS_PER_REQUEST` new partitions, over all its
topics (a :class:`PartitionBudget` per CreateTopics or CreatePartitions request): a count beyond it
is answered INVALID_PARTITIONS before any placement is computed. Without that, a 43-byte
CreateTopics asking for 2^31-1 partitions (even ``validate_only``) had the event loop build an
assignment until memory ran out. Kafka's controller bounds a request the same way (it refuses an
operation that would write more than 10,000 metadata records).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence

from kafka_broker import metadata as md
from kafka_broker.cluster.metadata_cache import MetadataCache
from kafka_broker.cluster.zk_store import ZkStore
from kafka_broker.config import ConfigError, valid_stored_config, validate_topic_config
from kafka_broker.protocol.errors import ErrorCode, KafkaError

LEGAL_TOPIC = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_TOPIC_NAME = 249
_CONFIG_WRITE_ATTEMPTS = 10
"""Conditional writes of a topic's config tried before giving up on a race that never ends."""
MAX_PARTITIONS_PER_REQUEST = 10_000
"""New partitions one CreateTopics or CreatePartitions request may create, over all its topics
(Kafka's controller: ``QuorumController.MAX_RECORDS_PER_USER_OP``, 10,000 records per request)."""


class PartitionBudget:
    """The new partitions one request may still create: each topic takes its count before its replicas
    are placed, so an absurd count costs nothing but its answer (INVALID_PARTITIONS)."""

    def __init__(self, limit: int = MAX_PARTITIONS_PER_REQUEST) -> None:
        self.limit = limit
        self.remaining = limit

    def take(self, count: int) -> None:
        if count > self.remaining:
            taken = self.limit - self.remaining
            raise KafkaError(
                f"Cannot create {count} partitions: one request may create at most {self.limit}"
                + (f", and {taken} are already asked for by its other topics." if taken else "."),
                code=ErrorCode.INVALID_PARTITIONS,
            )
        self.remaining -= count


def validate_topic_name(name: str) -> None:
    if not name:
        raise KafkaError("topic name is empty", code=ErrorCode.INVALID_TOPIC_EXCEPTION)
    if name in (".", ".."):
        raise KafkaError("topic name cannot be '.' or '..'", code=ErrorCode.INVALID_TOPIC_EXCEPTION)
    if len(name) > MAX_TOPIC_NAME:
        raise KafkaError(
            f"topic name is longer than {MAX_TOPIC_NAME} characters", code=ErrorCode.INVALID_TOPIC_EXCEPTION
        )
    if not LEGAL_TOPIC.match(name):
        raise KafkaError(
            f"topic name {name!r} has characters other than ASCII alphanumerics, '.', '_' and '-'",
            code=ErrorCode.INVALID_TOPIC_EXCEPTION,
        )


def rack_alternated(brokers: Sequence[int], racks: Mapping[int, str | None]) -> list[int]:
    """Brokers ordered so that consecutive entries sit on different racks where possible."""
    by_rack: dict[str, list[int]] = {}
    for broker in sorted(brokers):
        by_rack.setdefault(racks.get(broker) or "", []).append(broker)
    ordered: list[int] = []
    queues = [by_rack[r] for r in sorted(by_rack)]
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop(0))
    return ordered


def assign_replicas(
    brokers: Sequence[int],
    partitions: int,
    replication_factor: int,
    *,
    first_partition: int = 0,
    racks: Mapping[int, str | None] | None = None,
    rng: random.Random | None = None,
) -> dict[int, list[int]]:
    """Spread ``partitions`` x ``replication_factor`` replicas over ``brokers`` (Kafka's scheme)."""
    if replication_factor > len(brokers):
        raise KafkaError(
            f"Replication factor: {replication_factor} larger than available brokers: {len(brokers)}.",
            code=ErrorCode.INVALID_REPLICATION_FACTOR,
        )
    rng = rng or random.Random()
    ordered = rack_alternated(brokers, racks or {}) if racks and any(racks.values()) else sorted(brokers)
    n = len(ordered)
    start = rng.randrange(n)
    shift = rng.randrange(n)
    out: dict[int, list[int]] = {}
    for i in range(partitions):
        p = first_partition + i
        if p > 0 and p % n == 0:
            shift += 1
        first = (p + start) % n
        replicas = [ordered[first]]
        for j in range(replication_factor - 1):
            step = 1 + (shift + j) % (n - 1) if n > 1 else 0
            replicas.append(_next_replica(ordered, (first + step) % n, replicas, racks or {}))
        out[p] = replicas
    return out


def _next_replica(ordered: Sequence[int], index: int, chosen: list[int], racks: Mapping[int, str | None]) -> int:
    """The broker at ``index``, or the next one that is not chosen yet and, while racks remain
    without a replica, sits on such a rack."""
    used_racks = {racks.get(b) for b in chosen}
    all_racks = {racks.get(b) for b in ordered}
    n = len(ordered)
    for offset in range(n):
        broker = ordered[(index + offset) % n]
        if broker in chosen:
            continue
        if used_racks >= all_racks or racks.get(broker) not in used_racks:
            return broker
    raise AssertionError("no broker left for a replica")  # replication factor was checked


def validate_assignment(assignment: Mapping[int, Sequence[int]], live: Sequence[int]) -> None:
    sizes = {len(r) for r in assignment.values()}
    if len(sizes) > 1:
        raise KafkaError("all partitions must have the same number of replicas",
                         code=ErrorCode.INVALID_REPLICA_ASSIGNMENT)
    for partition, replicas in assignment.items():
        if len(set(replicas)) != len(replicas):
            raise KafkaError(f"duplicate replicas for partition {partition}",
                             code=ErrorCode.INVALID_REPLICA_ASSIGNMENT)
        unknown = [b for b in replicas if b not in live]
        if unknown:
            raise KafkaError(f"unknown brokers {unknown} in the assignment of partition {partition}",
                             code=ErrorCode.INVALID_REPLICA_ASSIGNMENT)


def _exists(name: str, *, marked: bool) -> KafkaError:
    """Kafka's answer to a creation under a name in use: by a topic, or by one still being deleted (the name is
    free only once every replica dropped it)."""
    message = f"Topic '{name}' is marked for deletion." if marked else f"Topic '{name}' already exists."
    return KafkaError(message, code=ErrorCode.TOPIC_ALREADY_EXISTS)


class TopicAdmin:
    def __init__(self, store: ZkStore, cache: MetadataCache, *, default_partitions: int,
                 default_replication_factor: int) -> None:
        self.store = store
        self.cache = cache
        self.default_partitions = default_partitions
        self.default_replication_factor = default_replication_factor

    def _racks(self) -> dict[int, str | None]:
        return {b: reg.rack for b, reg in self.cache.brokers.items()}

    def plan_topic(
        self,
        name: str,
        *,
        partitions: int = -1,
        replication_factor: int = -1,
        assignment: Mapping[int, Sequence[int]] | None = None,
        config: Mapping[str, str] | None = None,
        budget: PartitionBudget | None = None,
    ) -> dict[int, list[int]]:
        """Validate a creation request and return the replica assignment it would get. ``budget``: the
        new partitions a client's request may still create (its topics share one); None for counts the
        broker's own configuration chose (auto-created and internal topics)."""
        validate_topic_name(name)
        known = self.cache.topics.get(name)
        if known is not None:
            raise _exists(name, marked=known.marked_for_deletion)
        try:
            validate_topic_config(config or {})
        except ConfigError as exc:
            raise KafkaError(str(exc), code=ErrorCode.INVALID_CONFIG) from None
        live = self.cache.live_broker_ids()
        if assignment:
            if partitions not in (-1, len(assignment)) or replication_factor != -1:
                raise KafkaError("give either an assignment or partitions and replication factor",
                                 code=ErrorCode.INVALID_REQUEST)
            if budget is not None:
                budget.take(len(assignment))
            if sorted(assignment) != list(range(len(assignment))):
                raise KafkaError("partitions in the assignment must be 0..n-1",
                                 code=ErrorCode.INVALID_REPLICA_ASSIGNMENT)
            validate_assignment(assignment, live)
            return {p: list(r) for p, r in assignment.items()}
        partitions = self.default_partitions if partitions == -1 else partitions
        replication_factor = self.default_replication_factor if replication_factor == -1 else replication_factor
        if partitions < 1:
            raise KafkaError("Number of partitions must be larger than 0.", code=ErrorCode.INVALID_PARTITIONS)
        if replication_factor < 1:
            raise KafkaError("Replication factor must be larger than 0.",
                             code=ErrorCode.INVALID_REPLICATION_FACTOR)
        if budget is not None:
            budget.take(partitions)
        if not live:
            raise KafkaError("no brokers are available", code=ErrorCode.BROKER_NOT_AVAILABLE)
        return assign_replicas(live, partitions, replication_factor, racks=self._racks())

    async def create_topic(self, name: str, assignment: Mapping[int, list[int]],
                           config: Mapping[str, str] | None = None) -> None:
        topic = md.TopicAssignment(partitions=dict(assignment), topic_id=md.new_topic_id())
        if not await self.store.create_topic(name, topic, config or {}):
            raise _exists(name, marked=await self.store.is_marked_for_deletion(name))

    async def add_partitions(self, name: str, total: int, assignment: Sequence[Sequence[int]] | None = None,
                             *, validate_only: bool = False, budget: PartitionBudget | None = None) -> None:
        """Grow ``name`` to ``total`` partitions (partitions only ever grow); ``budget`` as for
        :meth:`plan_topic`."""
        read = await self.store.read_topic_assignment(name)
        if read is None or name not in self.cache.topics:
            raise KafkaError(f"Topic '{name}' does not exist.", code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        if self.cache.topics[name].marked_for_deletion:
            raise KafkaError("The topic is queued for deletion.", code=ErrorCode.INVALID_TOPIC_EXCEPTION)
        current, version = read
        existing = len(current.partitions)
        if total <= existing:
            raise KafkaError(
                f"Topic currently has {existing} partitions, which is higher than the requested {total}."
                if total < existing else f"Topic already has {existing} partitions.",
                code=ErrorCode.INVALID_PARTITIONS,
            )
        if budget is not None:
            budget.take(total - existing)
        live = self.cache.live_broker_ids()
        rf = len(next(iter(current.partitions.values())))
        if assignment:
            if len(assignment) != total - existing:
                raise KafkaError(
                    f"Increasing the number of partitions by {total - existing} but "
                    f"{len(assignment)} assignments provided.", code=ErrorCode.INVALID_REPLICA_ASSIGNMENT)
            new = {existing + i: list(r) for i, r in enumerate(assignment)}
            validate_assignment({**current.partitions, **new}, live)
        else:
            new = assign_replicas(live, total - existing, rf, first_partition=existing, racks=self._racks())
        if validate_only:
            return
        updated = md.TopicAssignment(
            partitions={**current.partitions, **new},
            topic_id=current.topic_id,
            adding_replicas=current.adding_replicas,
            removing_replicas=current.removing_replicas,
        )
        if not await self.store.write_topic_assignment(name, updated, version):
            raise KafkaError("the topic changed concurrently; retry", code=ErrorCode.REASSIGNMENT_IN_PROGRESS)

    async def delete_topic(self, name: str) -> None:
        if name not in self.cache.topics:
            raise KafkaError(f"Topic '{name}' does not exist.", code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        await self.store.mark_topic_for_deletion(name)

    async def alter_topic_config(
        self, name: str, change: Callable[[dict[str, str]], dict[str, str]], *, defaults: Mapping[str, str],
        validate_only: bool = False,
    ) -> dict[str, str]:
        """Apply ``change`` to the topic's overrides as stored in ZooKeeper (not as this broker's cache
        last saw them) and write the result conditionally, so a concurrent change made through another
        broker is never lost: on a lost race the change is applied again to the newer overrides.
        Returns the new overrides; KafkaError (INVALID_CONFIG with Kafka's message) for a bad result."""
        if name not in self.cache.topics:
            raise KafkaError(f"Topic '{name}' does not exist.", code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        for _ in range(_CONFIG_WRITE_ATTEMPTS):
            stored, version = await self.store.read_topic_config(name)
            current, _invalid = valid_stored_config(stored)
            updated = change(current)
            try:
                validate_topic_config(updated, defaults=defaults)
            except ConfigError as exc:
                raise KafkaError(str(exc), code=ErrorCode.INVALID_CONFIG) from None
            if validate_only or await self.store.set_topic_config(name, updated, version=version):
                return updated
        raise KafkaError(f"the configs of topic '{name}' kept changing concurrently; retry",
                         code=ErrorCode.REQUEST_TIMED_OUT)
