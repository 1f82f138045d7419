"""The Kafka admin calls the topic reconcile needs, through confluent-kafka's AdminClient (librdkafka).

Each function is synchronous and bounded by ``timeout`` seconds; kopf runs sync handlers in threads.
"""

from __future__ import annotations

from collections.abc import Mapping

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

from ..model.topic import ObservedTopic


def client(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def broker_ids(admin: AdminClient, *, timeout: float) -> list[int]:
    return sorted(admin.list_topics(timeout=timeout).brokers)


def describe(admin: AdminClient, topic: str, *, timeout: float) -> ObservedTopic | None:
    # Metadata for all topics, never for the one topic: a Metadata request naming a missing topic lets a
    # broker with auto.create.topics.enable create it, with default partitions and replication.
    meta = admin.list_topics(timeout=timeout).topics.get(topic)
    if meta is None or (meta.error is not None and meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
        return None
    if meta.error is not None:
        raise KafkaException(meta.error)
    partitions = {p: list(pm.replicas) for p, pm in meta.partitions.items()}
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([resource], request_timeout=timeout)[resource].result(timeout)
    config = {
        name: entry.value
        for name, entry in entries.items()
        if getattr(entry.source, "value", entry.source) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        and entry.value is not None
    }
    return ObservedTopic(partitions=partitions, config=config)


def create(
    admin: AdminClient,
    topic: str,
    *,
    partitions: int,
    replication_factor: int,
    config: Mapping[str, str],
    timeout: float,
) -> None:
    new = NewTopic(topic, num_partitions=partitions, replication_factor=replication_factor, config=dict(config))
    try:
        admin.create_topics([new], request_timeout=timeout)[topic].result(timeout)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise


def grow_partitions(admin: AdminClient, topic: str, *, count: int, timeout: float) -> None:
    admin.create_partitions([NewPartitions(topic, count)], request_timeout=timeout)[topic].result(timeout)


def alter_config(
    admin: AdminClient, topic: str, *, set_config: Mapping[str, str], delete: tuple[str, ...], timeout: float
) -> None:
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in set_config.items()]
    entries += [ConfigEntry(k, "", incremental_operation=AlterConfigOpType.DELETE) for k in delete]
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=entries)
    admin.incremental_alter_configs([resource], request_timeout=timeout)[resource].result(timeout)


def delete(admin: AdminClient, topic: str, *, timeout: float) -> None:
    try:
        admin.delete_topics([topic], request_timeout=timeout)[topic].result(timeout)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise
