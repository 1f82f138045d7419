"""DescribeGroups: state, protocol and members of groups (metadata and assignments once Stable).

An unknown group is described as Dead without an error, as Kafka does. From v3 a client may ask for the
operations it is allowed on each group (``include_authorized_operations``): kopfka has no authorizer, so,
as Apache Kafka without ``authorizer.class.name``, every operation a group supports is allowed and the
answer is their bit field (READ, DESCRIBE and DELETE: 328) for each group described without an error;
otherwise the field keeps Kafka's "not asked" value (INT32 min).
"""

from __future__ import annotations

from typing import Any

from kafka_broker.coordinator.group import dead_group_description
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode

API = ApiKey.DESCRIBE_GROUPS
VERSIONS = (0, 5)

ACL_READ, ACL_DELETE, ACL_DESCRIBE = 3, 6, 8
"""Kafka's ``AclOperation`` codes of the operations a group supports (``AclEntry.supportedOperations``)."""
GROUP_OPERATIONS = (1 << ACL_READ) | (1 << ACL_DELETE) | (1 << ACL_DESCRIBE)
"""The authorized operations of a group without an authorizer, as a bit field (``Utils.to32BitField``)."""


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    groups = ctx.services.groups
    with_operations = ctx.version >= 3 and bool(request.get("include_authorized_operations"))
    out = []
    for group_id in request["groups"]:
        if groups is None:
            described = dead_group_description(group_id, ErrorCode.COORDINATOR_NOT_AVAILABLE)
        else:
            described = groups.describe_group(group_id)
        if with_operations and described["error_code"] == ErrorCode.NONE:
            described["authorized_operations"] = GROUP_OPERATIONS
        out.append(described)
    return {"throttle_time_ms": 0, "groups": out}
