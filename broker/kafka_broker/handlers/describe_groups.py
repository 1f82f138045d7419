"""DescribeGroups: state, protocol and members of groups (metadata and assignments once Stable).

An unknown group is described as Dead without an error, as Kafka does.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.coordinator.group import dead_group_description
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode

API = ApiKey.DESCRIBE_GROUPS
VERSIONS = (0, 5)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    groups = ctx.services.groups
    out = []
    for group_id in request["groups"]:
        if groups is None:
            out.append(dead_group_description(group_id, ErrorCode.COORDINATOR_NOT_AVAILABLE))
        else:
            out.append(groups.describe_group(group_id))
    return {"throttle_time_ms": 0, "groups": out}
