"""DescribeGroups: state, protocol and members of groups (metadata and assignments once Stable).

An unknown group is described as Dead without an error, as Kafka does. A group the principal may not DESCRIBE
answers GROUP_AUTHORIZATION_FAILED (Kafka's error description). From v3 a client may ask for the operations it
is allowed on each group (``include_authorized_operations``): the answer is their bit field
(:func:`~kafka_broker.handlers.authorization.authorized_operations`; every operation a group supports — READ,
DESCRIBE and DELETE: 328 — without an authorizer) for each group described without an error; otherwise the
field keeps Kafka's "not asked" value (INT32 min).
"""

from __future__ import annotations

from typing import Any

from kafka_broker.coordinator.group import dead_group_description
from kafka_broker.handlers.authorization import authorize, authorized_operations
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.DESCRIBE_GROUPS
VERSIONS = (0, 5)

async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    groups = ctx.services.groups
    with_operations = ctx.version >= 3 and bool(request.get("include_authorized_operations"))
    out = []
    for group_id in request["groups"]:
        if not authorize(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
            described = dead_group_description(group_id, ErrorCode.GROUP_AUTHORIZATION_FAILED)
        elif groups is None:
            described = dead_group_description(group_id, ErrorCode.COORDINATOR_NOT_AVAILABLE)
        else:
            described = groups.describe_group(group_id)
        if with_operations and described["error_code"] == ErrorCode.NONE:
            described["authorized_operations"] = authorized_operations(ctx, ResourceType.GROUP, group_id)
        out.append(described)
    return {"throttle_time_ms": 0, "groups": out}
