"""OffsetForLeaderEpoch: where a leader epoch ends in the leader's log (KIP-101/279).

A follower (or a consumer checking for log truncation, KIP-320) asks for epoch *E*; the answer is
the largest epoch ≤ *E* the leader knows and the offset where it ends — the start of the next
epoch, or the log end for the current one. The follower truncates its log there.

CLUSTER_ACTION on the cluster (a follower) allows every topic; else each topic needs DESCRIBE (a consumer), the
partitions of the others answering TOPIC_AUTHORIZATION_FAILED, as Kafka's.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.authorization import authorized_names, cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.OFFSET_FOR_LEADER_EPOCH
VERSIONS = (0, 4)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    replicas = ctx.services.replicas
    describable = None if cluster_authorized(ctx, AclOperation.CLUSTER_ACTION, log_denied=False) else \
        authorized_names(ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, (t["topic"] for t in request["topics"]))
    topics = []
    for treq in request["topics"]:
        results = []
        for preq in treq["partitions"]:
            index = preq["partition"]
            if describable is not None and treq["topic"] not in describable:
                results.append({"error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED, "partition": index,
                                "leader_epoch": -1, "end_offset": -1})
                continue
            try:
                part = replicas.leader_partition(treq["topic"], index, preq.get("current_leader_epoch", -1))
                epoch, end_offset = part.log.end_offset_for_epoch(preq["leader_epoch"])
                results.append({"error_code": ErrorCode.NONE, "partition": index, "leader_epoch": epoch,
                                "end_offset": end_offset})
            except KafkaError as exc:
                results.append({"error_code": exc.code, "partition": index, "leader_epoch": -1,
                                "end_offset": -1})
        topics.append({"topic": treq["topic"], "partitions": results})
    return {"throttle_time_ms": 0, "topics": topics}
