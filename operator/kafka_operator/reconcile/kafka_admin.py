"""The Kafka admin calls the topic reconcile needs, through confluent-kafka's AdminClient (librdkafka).

Steps see a ``KafkaAdmin`` made by a ``KafkaAdminFactory`` (``ConfluentAdmin`` in the operator, an in-memory
fake in unit tests). Each call is synchronous and bounded by the admin's timeout; kopf runs sync handlers
in threads. Failures raise confluent-kafka's ``KafkaException``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)

from ..model.access import AdminConnection
from ..model.topic import ObservedTopic


class KafkaAdmin(Protocol):
    def broker_ids(self) -> list[int]:
        """Ids of the brokers the cluster's metadata lists, sorted."""

    def describe(self, topic: str) -> ObservedTopic | None:
        """The topic's replica assignment and topic-level config overrides, or None when it does not exist."""

    def create(self, topic: str, *, partitions: int, replication_factor: int, config: Mapping[str, str]) -> None:
        """Create the topic; one that already exists is left as it is."""

    def grow_partitions(self, topic: str, *, count: int) -> None: ...

    def alter_config(self, topic: str, *, set_config: Mapping[str, str], delete: tuple[str, ...]) -> None:
        """Incrementally set and delete topic-level config keys."""

    def delete(self, topic: str) -> None:
        """Delete the topic; a missing topic is not an error."""


class KafkaAdminFactory(Protocol):
    def __call__(self, connection: AdminConnection, *, timeout: float) -> KafkaAdmin: ...


class ConfluentAdmin:
    """``KafkaAdmin`` over confluent-kafka; ``timeout`` (seconds) bounds every request."""

    def __init__(self, connection: AdminConnection, *, timeout: float) -> None:
        self.admin = AdminClient({**connection.confluent_config(), "socket.timeout.ms": 10000})
        self.timeout = timeout
        self.operation_timeout = timeout * 2 / 3
        """How long the broker may wait for a topic change to take effect: well inside ``timeout``, so the
        broker answers (success or REQUEST_TIMED_OUT) before the client gives up on the request."""

    def broker_ids(self) -> list[int]:
        return sorted(self.admin.list_topics(timeout=self.timeout).brokers)

    def describe(self, topic: str) -> ObservedTopic | None:
        # Metadata for all topics, never for the one topic: a Metadata request naming a missing topic lets a
        # broker with auto.create.topics.enable create it, with default partitions and replication.
        meta = self.admin.list_topics(timeout=self.timeout).topics.get(topic)
        if meta is None or (meta.error is not None and meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
            return None
        if meta.error is not None:
            raise KafkaException(meta.error)
        partitions = {p: list(pm.replicas) for p, pm in meta.partitions.items()}
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
        entries = self.admin.describe_configs([resource], request_timeout=self.timeout)[resource].result(self.timeout)
        config = {
            name: entry.value
            for name, entry in entries.items()
            if getattr(entry.source, "value", entry.source) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
            and entry.value is not None
        }
        return ObservedTopic(partitions=partitions, config=config)

    def create(self, topic: str, *, partitions: int, replication_factor: int, config: Mapping[str, str]) -> None:
        new = NewTopic(topic, num_partitions=partitions, replication_factor=replication_factor, config=dict(config))
        try:
            self.admin.create_topics([new], operation_timeout=self.operation_timeout,
                                    request_timeout=self.timeout)[topic].result(self.timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    def grow_partitions(self, topic: str, *, count: int) -> None:
        futures = self.admin.create_partitions([NewPartitions(topic, count)], operation_timeout=self.operation_timeout,
                                               request_timeout=self.timeout)
        futures[topic].result(self.timeout)

    def alter_config(self, topic: str, *, set_config: Mapping[str, str], delete: tuple[str, ...]) -> None:
        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in set_config.items()]
        entries += [ConfigEntry(k, "", incremental_operation=AlterConfigOpType.DELETE) for k in delete]
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=entries)
        self.admin.incremental_alter_configs([resource], request_timeout=self.timeout)[resource].result(self.timeout)

    def delete(self, topic: str) -> None:
        try:
            futures = self.admin.delete_topics([topic], operation_timeout=self.operation_timeout,
                                               request_timeout=self.timeout)
            futures[topic].result(self.timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
