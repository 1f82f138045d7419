"""Heartbeat: a member says it is alive; REBALANCE_IN_PROGRESS tells it to join again. It needs READ on the
group (else GROUP_AUTHORIZATION_FAILED), as Kafka's."""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.authorization import authorize
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.HEARTBEAT
VERSIONS = (0, 4)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    groups = ctx.services.groups
    if not authorize(ctx, AclOperation.READ, ResourceType.GROUP, request["group_id"] or ""):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED}
    if groups is None:
        return {"throttle_time_ms": 0, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE}
    code = groups.heartbeat(group_id=request["group_id"] or "", generation_id=request["generation_id"],
                            member_id=request["member_id"] or "", group_instance_id=request.get("group_instance_id"))
    return {"throttle_time_ms": 0, "error_code": code}
