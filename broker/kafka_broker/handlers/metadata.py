"""Metadata: brokers, controller, cluster id and the topics' partitions with leader, replicas and ISR.

Answered from the metadata cache, so every broker gives the same answer. Asking for an unknown
topic with ``allow_auto_topic_creation`` creates it when ``auto.create.topics.enable`` is on
(answered LEADER_NOT_AVAILABLE until the controller elects its leaders, as Kafka does).

A topic any of whose partitions the controller has not elected a leader for yet (no state znode: a
topic just created, or partitions just added) answers LEADER_NOT_AVAILABLE at topic level with no
partitions, as Kafka's brokers answer a topic until the controller's UpdateMetadata, which carries
every partition of it with its leader, reaches them. A partition whose leader is not a live broker
answers LEADER_NOT_AVAILABLE with leader -1, and one whose leader has no usable endpoint (an empty
host, no port) LISTENER_NOT_FOUND with leader -1, as Kafka's MetadataCache does; such a broker is
not listed. So every address in the answer is a real host:port, and no leader without an error is
ever -1 or a broker missing from the list: clients dial what they are given.

v0 is served: its empty topic list asks for every topic.

Authorization, as Kafka's: the principal sees the topics it may DESCRIBE. A topic asked by name without it
answers TOPIC_AUTHORIZATION_FAILED (with the zero topic id, whether it exists or not), one asked by id the same
with its id and no name; a request for every topic leaves such topics out. A missing topic that would be
auto-created needs CREATE on the cluster or on the topic, else it answers TOPIC_AUTHORIZATION_FAILED. When asked
(``include_topic_authorized_operations``, v8+; ``include_cluster_authorized_operations``, v8-10) a topic and the
cluster carry the bit field of the operations the principal is allowed
(:func:`~kafka_broker.handlers.authorization.authorized_operations`), else Kafka's "omitted" value.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from kafka_broker.cluster.metadata_cache import INTERNAL_TOPICS, MetadataCache, TopicInfo
from kafka_broker.handlers.authorization import (
    authorize,
    authorized_names,
    authorized_operations,
    cluster_authorized,
    cluster_authorized_operations,
)
from kafka_broker.handlers.context import RequestContext
from kafka_broker.metadata import BrokerRegistration, topic_id_to_uuid
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError
from kafka_broker.protocol.primitives import AUTHORIZED_OPERATIONS_OMITTED, ZERO_UUID
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.METADATA
VERSIONS = (0, 12)

log = logging.getLogger(__name__)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    services = ctx.services
    cache = services.cache
    requested = request.get("topics")
    all_topics = requested is None or (ctx.version == 0 and not requested)
    if all_topics:
        wanted: list[tuple[str | None, uuid.UUID | None]] = [(n, None) for n in sorted(cache.topics)]
    else:
        wanted = [(t.get("name"), t.get("topic_id")) for t in requested or []]
    asked: list[tuple[str | None, uuid.UUID | None]] = []  # by name, or by id (with its name; None: unknown id)
    for name, topic_id in wanted:
        if name is None and topic_id is not None:
            info = _by_id(cache, topic_id)
            asked.append((None if info is None else info.name, topic_id))
        else:
            asked.append((name or "", None))
    describable = authorized_names(ctx, AclOperation.DESCRIBE, ResourceType.TOPIC,
                                   (n for n, _ in asked if n is not None), log_denied=not all_topics)
    auto = request.get("allow_auto_topic_creation", True) and services.config.auto_create_topics_enable
    with_operations = ctx.version >= 8 and bool(request.get("include_topic_authorized_operations"))
    topics: list[dict[str, Any]] = []
    for name, topic_id in asked:
        if name is None:
            topics.append({"error_code": ErrorCode.UNKNOWN_TOPIC_ID, "name": None, "topic_id": topic_id,
                           "is_internal": False, "partitions": [],
                           "topic_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED})
            continue
        if name not in describable:
            if not all_topics:  # not even whether it exists; a topic id is not a secret
                topics.append(_refused(None if topic_id else name, topic_id or ZERO_UUID, is_internal=False))
            continue
        info = cache.topics.get(name)
        if info is None:
            if auto and not _may_create(ctx, name):
                topics.append(_refused(name, ZERO_UUID, is_internal=name in INTERNAL_TOPICS))
                continue
            topic = await _missing_topic(name, request, ctx)
        else:
            topic = describe_topic(info, cache, ctx.listener)
        if with_operations:
            topic["topic_authorized_operations"] = authorized_operations(ctx, ResourceType.TOPIC, name)
        topics.append(topic)
    with_cluster_operations = 8 <= ctx.version <= 10 and bool(request.get("include_cluster_authorized_operations"))
    return {
        "throttle_time_ms": 0,
        "brokers": [
            {"node_id": b.broker_id, "host": host, "port": port, "rack": b.rack}
            for b, host, port in reachable_brokers(cache, ctx.listener)
        ],
        "cluster_id": cache.cluster_id,
        "controller_id": cache.controller_id,
        "topics": topics,
        "cluster_authorized_operations": cluster_authorized_operations(ctx) if with_cluster_operations
        else AUTHORIZED_OPERATIONS_OMITTED,
    }


def _refused(name: str | None, topic_id: uuid.UUID, *, is_internal: bool) -> dict[str, Any]:
    return {"error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED, "name": name, "topic_id": topic_id,
            "is_internal": is_internal, "partitions": [], "topic_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED}


def _may_create(ctx: RequestContext, name: str) -> bool:
    """Whether the principal may have ``name`` created: CREATE on the cluster or on the topic."""
    return cluster_authorized(ctx, AclOperation.CREATE, log_denied=False) or \
        authorize(ctx, AclOperation.CREATE, ResourceType.TOPIC, name)


def _by_id(cache: MetadataCache, topic_id: uuid.UUID) -> TopicInfo | None:
    for info in cache.topics.values():
        if topic_id_to_uuid(info.topic_id) == topic_id:
            return info
    return None


def endpoint(broker: BrokerRegistration, listener: str) -> tuple[str, int] | None:
    """Where clients of ``listener`` dial the broker: the host and port it advertises on the listener of
    the same name (as Kafka answers each listener's clients with that listener's addresses), or None when it
    has no such listener or an empty host."""
    address = broker.address(listener)
    if address is None or not address[0] or not 0 < address[1] <= 0xFFFF:
        return None
    return address


def reachable_brokers(cache: MetadataCache, listener: str) -> list[tuple[BrokerRegistration, str, int]]:
    """The live brokers clients of ``listener`` can dial, by id, with their host and port there."""
    reachable = []
    for broker in sorted(cache.brokers.values(), key=lambda b: b.broker_id):
        address = endpoint(broker, listener)
        if address is not None:
            reachable.append((broker, *address))
    return reachable


def describe_topic(info: TopicInfo, cache: MetadataCache, listener: str) -> dict[str, Any]:
    live = cache.brokers
    if not info.partitions or any(p.state is None for p in info.partitions.values()):
        # Not every leader elected yet: Kafka's brokers do not know the topic until they all are.
        return {"error_code": ErrorCode.LEADER_NOT_AVAILABLE, "name": info.name,
                "topic_id": topic_id_to_uuid(info.topic_id), "is_internal": info.is_internal, "partitions": [],
                "topic_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED}
    partitions = []
    for index in sorted(info.partitions):
        p = info.partitions[index]
        leader = p.leader
        broker = live.get(leader)
        if broker is None:
            error, leader = ErrorCode.LEADER_NOT_AVAILABLE, -1
        elif endpoint(broker, listener) is None:
            error, leader = ErrorCode.LISTENER_NOT_FOUND, -1
        else:
            error = ErrorCode.NONE
        partitions.append({
            "error_code": error,
            "partition_index": index,
            "leader_id": leader,
            "leader_epoch": p.leader_epoch,
            "replica_nodes": list(p.replicas),
            "isr_nodes": list(p.isr),
            "offline_replicas": [r for r in p.replicas if r not in live],
        })
    return {
        "error_code": ErrorCode.NONE,
        "name": info.name,
        "topic_id": topic_id_to_uuid(info.topic_id),
        "is_internal": info.is_internal,
        "partitions": partitions,
        "topic_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
    }


async def _missing_topic(name: str, request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    services = ctx.services
    auto = request.get("allow_auto_topic_creation", True) and services.config.auto_create_topics_enable
    error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    if auto and not name.startswith("__"):
        try:
            assignment = services.admin.plan_topic(name)
            await services.admin.create_topic(name, assignment)
            log.info("auto-created topic %s with %d partitions", name, len(assignment))
            error = ErrorCode.LEADER_NOT_AVAILABLE
        except KafkaError as exc:
            error = ErrorCode.LEADER_NOT_AVAILABLE if exc.code == ErrorCode.TOPIC_ALREADY_EXISTS else exc.code
    return {"error_code": error, "name": name, "topic_id": uuid.UUID(int=0), "is_internal": False,
            "partitions": [], "topic_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED}
