"""DeleteGroups: remove Empty groups and their committed offsets (tombstones in ``__consumer_offsets``). Each group
needs DELETE (else GROUP_AUTHORIZATION_FAILED), as Kafka's."""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.authorization import authorized_names
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.DELETE_GROUPS
VERSIONS = (0, 2)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    groups = ctx.services.groups
    results = []
    deletable = authorized_names(ctx, AclOperation.DELETE, ResourceType.GROUP, request["groups_names"])
    for group_id in request["groups_names"]:
        code: int
        if group_id not in deletable:
            code = ErrorCode.GROUP_AUTHORIZATION_FAILED
        else:
            code = ErrorCode.COORDINATOR_NOT_AVAILABLE if groups is None else await groups.delete_group(group_id)
        results.append({"group_id": group_id, "error_code": code})
    return {"throttle_time_ms": 0, "results": results}
