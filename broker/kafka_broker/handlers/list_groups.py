"""ListGroups: the groups this broker coordinates (v4: filtered by state; v5: by type).

Every group here is a classic group, so a types filter without "classic" (any case) lists none, as
Kafka's ZooKeeper-mode coordinator answers. A principal with DESCRIBE on the cluster sees every group, any other
the groups it may DESCRIBE, as Kafka's."""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.authorization import authorize, cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.LIST_GROUPS
VERSIONS = (0, 5)
CLASSIC = "classic"


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    groups = ctx.services.groups
    if groups is None:
        return {"throttle_time_ms": 0, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "groups": []}
    states = set(request.get("states_filter") or [])
    types = {t.lower() for t in request.get("types_filter") or []}
    if types and CLASSIC not in types:
        return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "groups": []}
    listed = groups.list_groups(states)
    if not cluster_authorized(ctx, AclOperation.DESCRIBE, log_denied=False):
        listed = [g for g in listed if authorize(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, g.group_id,
                                                 log_denied=False)]
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.COORDINATOR_LOAD_IN_PROGRESS if groups.loading else ErrorCode.NONE,
        "groups": [{"group_id": g.group_id, "protocol_type": g.protocol_type or "", "group_state": str(g.state),
                    "group_type": CLASSIC}
                   for g in listed],
    }
