"""AlterPartitionReassignments (KIP-455): give partitions new target replicas, or cancel (``replicas``
null) a reassignment in progress, back to the original replicas.

The controller does it (another broker answers NOT_CONTROLLER, as Kafka's do): it checks each target
(INVALID_REPLICA_ASSIGNMENT for an empty list, duplicates, negative ids or new replicas on brokers that are
not alive; UNKNOWN_TOPIC_OR_PARTITION; NO_REASSIGNMENT_IN_PROGRESS for a cancel of nothing), merges the
accepted ones into the ``/admin/reassign_partitions`` plan and takes the first step — the topic znode
records the replicas being added and removed — before answering; the rest follows in its passes
(:mod:`kafka_broker.controller.reassignment`). A target changed mid-flight restarts from the original
replicas, dropping replicas added for the earlier target.

It needs ALTER on the cluster: without it the answer and every partition are CLUSTER_AUTHORIZATION_FAILED
(without a message: Kafka's names its internal request object).
"""

from __future__ import annotations

from typing import Any

from kafka_broker.controller import Outcome
from kafka_broker.handlers.authorization import cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation

API = ApiKey.ALTER_PARTITION_REASSIGNMENTS
VERSIONS = (0, 0)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    if not cluster_authorized(ctx, AclOperation.ALTER):
        denied = ErrorCode.CLUSTER_AUTHORIZATION_FAILED
        return {"throttle_time_ms": 0, "error_code": denied, "error_message": None, "responses": [
            {"name": topic["name"], "partitions": [
                {"partition_index": p["partition_index"], "error_code": denied, "error_message": None}
                for p in topic["partitions"]]}
            for topic in request["topics"]]}
    targets: dict[tuple[str, int], list[int] | None] = {}
    for topic in request["topics"]:
        for part in topic["partitions"]:
            replicas = part["replicas"]
            targets[(topic["name"], part["partition_index"])] = None if replicas is None else list(replicas)
    controller = ctx.services.controller
    if controller is None:
        answer: dict[tuple[str, int], Outcome] | Outcome = Outcome(ErrorCode.NOT_CONTROLLER)
    else:
        answer = await controller.alter_reassignments(targets, timeout_s=max(request["timeout_ms"], 0) / 1000)
    if isinstance(answer, Outcome):
        return {"throttle_time_ms": 0, "error_code": answer.error, "error_message": answer.message,
                "responses": []}
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for (topic_name, partition), outcome in answer.items():
        by_topic.setdefault(topic_name, []).append(
            {"partition_index": partition, "error_code": outcome.error, "error_message": outcome.message})
    return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "error_message": None,
            "responses": [{"name": name, "partitions": parts} for name, parts in by_topic.items()]}
