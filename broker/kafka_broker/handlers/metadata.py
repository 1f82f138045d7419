"""Metadata: brokers, controller, cluster id and the topics' partitions with leader, replicas and ISR.

Answered from the metadata cache, so every broker gives the same answer. Asking for an unknown
topic with ``allow_auto_topic_creation`` creates it when ``auto.create.topics.enable`` is on
(answered LEADER_NOT_AVAILABLE until the controller elects its leaders, as Kafka does). A
partition the controller has not elected a leader for yet (no state znode) is left out, and a topic
none of whose partitions has one answers LEADER_NOT_AVAILABLE with no partitions — never a
partition with leader -1, which clients would try to dial.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from kafka_broker.cluster.metadata_cache import MetadataCache, TopicInfo
from kafka_broker.handlers.context import RequestContext
from kafka_broker.metadata import topic_id_to_uuid
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError
from kafka_broker.protocol.primitives import AUTHORIZED_OPERATIONS_OMITTED

API = ApiKey.METADATA
VERSIONS = (1, 12)

log = logging.getLogger(__name__)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    services = ctx.services
    cache = services.cache
    requested = request.get("topics")
    if requested is None or (ctx.version == 0 and not requested):
        names = sorted(cache.topics)
        wanted: list[tuple[str | None, uuid.UUID | None]] = [(n, None) for n in names]
    else:
        wanted = [(t.get("name"), t.get("topic_id")) for t in requested]
    topics: list[dict[str, Any]] = []
    for name, topic_id in wanted:
        if name is None and topic_id is not None:
            info = _by_id(cache, topic_id)
            if info is None:
                topics.append({"error_code": ErrorCode.UNKNOWN_TOPIC_ID, "name": None, "topic_id": topic_id,
                               "is_internal": False, "partitions": [],
                               "topic_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED})
                continue
            name = info.name
        info = cache.topics.get(name) if name is not None else None
        if info is None:
            topics.append(await _missing_topic(name or "", request, ctx))
            continue
        topics.append(describe_topic(info, cache))
    return {
        "throttle_time_ms": 0,
        "brokers": [
            {"node_id": b.broker_id, "host": b.host, "port": b.port, "rack": b.rack}
            for b in sorted(cache.brokers.values(), key=lambda b: b.broker_id)
        ],
        "cluster_id": cache.cluster_id,
        "controller_id": cache.controller_id,
        "topics": topics,
        "cluster_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
    }


def _by_id(cache: MetadataCache, topic_id: uuid.UUID) -> TopicInfo | None:
    for info in cache.topics.values():
        if topic_id_to_uuid(info.topic_id) == topic_id:
            return info
    return None


def describe_topic(info: TopicInfo, cache: MetadataCache) -> dict[str, Any]:
    live = cache.brokers
    partitions = []
    for index in sorted(info.partitions):
        p = info.partitions[index]
        if p.state is None:
            continue  # not elected yet: Kafka's brokers do not know the partition until it has a state
        leader = p.leader
        partitions.append({
            "error_code": ErrorCode.NONE if leader in live else ErrorCode.LEADER_NOT_AVAILABLE,
            "partition_index": index,
            "leader_id": leader,
            "leader_epoch": p.leader_epoch,
            "replica_nodes": list(p.replicas),
            "isr_nodes": list(p.isr),
            "offline_replicas": [r for r in p.replicas if r not in live],
        })
    return {
        "error_code": ErrorCode.NONE if partitions else ErrorCode.LEADER_NOT_AVAILABLE,
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
