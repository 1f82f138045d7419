"""ListPartitionReassignments (KIP-455): the reassignments in progress (of the given partitions, or all):
each partition's replicas, and the replicas being added and removed.

Answered from this broker's metadata cache — the plan in ``/admin/reassign_partitions`` and the topic
znodes — so any broker can answer (Kafka's ZooKeeper-mode brokers send it to the controller); a reassignment
accepted but not yet started shows the replicas its first step gives. Partitions with no reassignment in
progress, unknown ones included, are left out, as in Kafka. It needs DESCRIBE on the cluster: without it the
answer is CLUSTER_AUTHORIZATION_FAILED, listing the partitions asked with no replicas (Kafka's error answer).
"""

from __future__ import annotations

from typing import Any

from kafka_broker.controller import reassignment
from kafka_broker.handlers.authorization import cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation

API = ApiKey.LIST_PARTITION_REASSIGNMENTS
VERSIONS = (0, 0)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    asked = request["topics"]
    if not cluster_authorized(ctx, AclOperation.DESCRIBE):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "error_message": None,
                "topics": [{"name": t["name"], "partitions": [
                    {"partition_index": p, "replicas": [], "adding_replicas": [], "removing_replicas": []}
                    for p in t["partition_indexes"]]} for t in asked or []]}
    partitions = None if asked is None else [(t["name"], p) for t in asked for p in t["partition_indexes"]]
    listed = reassignment.listing(ctx.services.cache, partitions)
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for (topic, partition), assignment in listed.items():
        by_topic.setdefault(topic, []).append({
            "partition_index": partition,
            "replicas": assignment.replicas,
            "adding_replicas": assignment.adding,
            "removing_replicas": assignment.removing,
        })
    return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "error_message": None,
            "topics": [{"name": name, "partitions": parts} for name, parts in by_topic.items()]}
