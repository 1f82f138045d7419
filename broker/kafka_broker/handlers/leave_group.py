"""LeaveGroup: members leave at once instead of waiting for their session to time out.

v0-2 name one member; v3+ a batch, by member id or by ``group_instance_id`` (static members). Leaving needs READ
on the group (else GROUP_AUTHORIZATION_FAILED and no members), as Kafka's.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.authorization import authorize
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.LEAVE_GROUP
VERSIONS = (0, 5)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    groups = ctx.services.groups
    if not authorize(ctx, AclOperation.READ, ResourceType.GROUP, request["group_id"] or ""):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED, "members": []}
    if ctx.version >= 3:
        leaving = [(m["member_id"] or "", m.get("group_instance_id")) for m in request["members"] or []]
    else:
        leaving = [(request["member_id"] or "", None)]
    top: int
    errors: list[int]
    if groups is None:
        top, errors = ErrorCode.COORDINATOR_NOT_AVAILABLE, []
    else:
        top, errors = groups.leave_group(group_id=request["group_id"] or "", members=leaving)
    if ctx.version < 3 and top == ErrorCode.NONE:
        top = errors[0]
    return {
        "throttle_time_ms": 0,
        "error_code": top,
        "members": [{"member_id": m, "group_instance_id": i, "error_code": e}
                    for (m, i), e in zip(leaving, errors, strict=True)] if errors else [],
    }
