"""SyncGroup: the leader hands in the assignment; every member gets its own share back. It needs READ on the
group (else GROUP_AUTHORIZATION_FAILED), as Kafka's."""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.authorization import authorize
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.SYNC_GROUP
VERSIONS = (0, 5)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    groups = ctx.services.groups
    if not authorize(ctx, AclOperation.READ, ResourceType.GROUP, request["group_id"] or ""):
        return _error(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    if groups is None:
        return _error(ErrorCode.COORDINATOR_NOT_AVAILABLE)
    result = await groups.sync_group(
        group_id=request["group_id"] or "",
        generation_id=request["generation_id"],
        member_id=request["member_id"] or "",
        group_instance_id=request.get("group_instance_id"),
        protocol_type=request.get("protocol_type"),
        protocol_name=request.get("protocol_name"),
        assignments={a["member_id"]: bytes(a["assignment"] or b"") for a in request["assignments"] or []},
    )
    return {"throttle_time_ms": 0, "error_code": result.error, "protocol_type": result.protocol_type,
            "protocol_name": result.protocol_name, "assignment": result.assignment}


def _error(code: ErrorCode) -> dict[str, Any]:
    return {"throttle_time_ms": 0, "error_code": code, "protocol_type": None, "protocol_name": None, "assignment": b""}
