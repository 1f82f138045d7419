"""OffsetDelete: drop a group's committed offsets for partitions of topics it does not subscribe to.

Partitions the cluster does not have are answered UNKNOWN_TOPIC_OR_PARTITION before the group is asked;
a group error answers no partitions (as Kafka does). It needs DELETE on the group (else the group error
GROUP_AUTHORIZATION_FAILED) and READ on each topic (else its partitions answer TOPIC_AUTHORIZATION_FAILED, before
they are looked up), as Kafka's."""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.authorization import authorize, authorized_names
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.OFFSET_DELETE
VERSIONS = (0, 0)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    groups, cache = ctx.services.groups, ctx.services.cache
    if not authorize(ctx, AclOperation.DELETE, ResourceType.GROUP, request["group_id"] or ""):
        return {"error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED, "throttle_time_ms": 0, "topics": []}
    readable = authorized_names(ctx, AclOperation.READ, ResourceType.TOPIC, (t["name"] for t in request["topics"]))
    asked = [(t["name"], p["partition_index"]) for t in request["topics"] for p in t["partitions"]]
    refused = {tp: ErrorCode.TOPIC_AUTHORIZATION_FAILED for tp in asked if tp[0] not in readable}
    refused |= {tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION for tp in asked
                if tp not in refused and cache.partition(*tp) is None}
    code: int
    errors: dict[tuple[str, int], int]
    if groups is None:
        code, errors = ErrorCode.COORDINATOR_NOT_AVAILABLE, {}
    else:
        code, errors = await groups.delete_offsets(request["group_id"] or "",
                                                   [tp for tp in asked if tp not in refused])
    errors = {**errors, **refused}
    return {
        "error_code": code,
        "throttle_time_ms": 0,
        "topics": [
            {"name": t["name"], "partitions": [
                {"partition_index": p["partition_index"],
                 "error_code": errors.get((t["name"], p["partition_index"]), ErrorCode.NONE)}
                for p in t["partitions"]]}
            for t in request["topics"]
        ] if code == ErrorCode.NONE else [],
    }
