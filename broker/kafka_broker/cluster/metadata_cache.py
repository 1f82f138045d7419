"""The broker's in-memory copy of the cluster metadata, kept current from ZooKeeper watches.

Every broker watches ZooKeeper itself (instead of waiting for the controller's UpdateMetadata
requests as Kafka's brokers do); the cache is what Metadata, Produce and Fetch answer from.
It is only changed on the event loop, by :mod:`kafka_broker.cluster.zk_watcher`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kafka_broker.metadata import NO_LEADER, BrokerRegistration, PartitionState

INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})


@dataclass(slots=True)
class PartitionInfo:
    """A partition's replicas (from the topic znode) and its state (from the state znode)."""

    topic: str
    partition: int
    replicas: list[int]
    state: PartitionState | None = None
    state_version: int = -1
    """ZooKeeper version of the state znode, for conditional writes."""
    adding_replicas: list[int] = field(default_factory=list)
    removing_replicas: list[int] = field(default_factory=list)

    @property
    def leader(self) -> int:
        return self.state.leader if self.state is not None else NO_LEADER

    @property
    def leader_epoch(self) -> int:
        return self.state.leader_epoch if self.state is not None else -1

    @property
    def isr(self) -> tuple[int, ...]:
        return self.state.isr if self.state is not None else ()


@dataclass(slots=True)
class TopicInfo:
    name: str
    topic_id: str | None
    partitions: dict[int, PartitionInfo] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    """Per-topic overrides from ``/config/topics/<t>`` (broker defaults are not included)."""
    marked_for_deletion: bool = False
    czxid: int = -1
    """Creation zxid of the topic znode this was read from: tells one life of a topic name from the next
    (versions start again at 0 in a re-created topic, zxids never repeat). -1: not read from ZooKeeper."""

    @property
    def is_internal(self) -> bool:
        return self.name in INTERNAL_TOPICS


Listener = Callable[[str, int | None], None]
"""Called with (topic, partition) after a partition changed, or (topic, None) after a topic did."""


class MetadataCache:
    """Brokers, topics, partition states, controller and cluster id, as last seen in ZooKeeper."""

    def __init__(self) -> None:
        self.brokers: dict[int, BrokerRegistration] = {}
        self.topics: dict[str, TopicInfo] = {}
        self.controller_id: int = NO_LEADER
        self.cluster_id: str | None = None
        self.reassignments: dict[tuple[str, int], list[int]] = {}
        """The plan in ``/admin/reassign_partitions``: target replicas per partition."""
        self.preferred_elections: list[tuple[str, int]] = []
        """Partitions named in ``/admin/preferred_replica_election``."""
        self._topic_listeners: list[Listener] = []
        self._broker_listeners: list[Callable[[], None]] = []

    # --- subscriptions (the replica manager and the controller react to changes) -------------

    def on_topic_change(self, listener: Listener) -> None:
        self._topic_listeners.append(listener)

    def on_broker_change(self, listener: Callable[[], None]) -> None:
        self._broker_listeners.append(listener)

    def notify_topic(self, topic: str, partition: int | None) -> None:
        for listener in self._topic_listeners:
            listener(topic, partition)

    def set_controller(self, controller_id: int) -> None:
        self.controller_id = controller_id
        self.notify_brokers()

    def notify_brokers(self) -> None:
        for listener in self._broker_listeners:
            listener()

    # --- queries -------------------------------------------------------------------------------

    def partition(self, topic: str, partition: int) -> PartitionInfo | None:
        info = self.topics.get(topic)
        return None if info is None else info.partitions.get(partition)

    def iter_partitions(self) -> Iterator[PartitionInfo]:
        for topic in self.topics.values():
            yield from topic.partitions.values()

    def live_broker_ids(self) -> list[int]:
        return sorted(self.brokers)

    def topic_by_id(self, topic_id: str) -> TopicInfo | None:
        for topic in self.topics.values():
            if topic.topic_id == topic_id:
                return topic
        return None
