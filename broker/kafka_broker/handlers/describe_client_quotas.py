"""DescribeClientQuotas: the quotas of the user, client-id and <user, client-id> entities matching a filter.

Read from ZooKeeper (not from this broker's view of it, which may lag a change made through another broker)
with Kafka's match semantics: :mod:`kafka_broker.cluster.quota_admin`. A bad filter fails the whole request
with Kafka's error code and message, and no entries. Describing needs DESCRIBE_CONFIGS on the cluster (else
CLUSTER_AUTHORIZATION_FAILED and no entries), as Kafka's.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.cluster.quota_admin import QuotaAdmin, filter_component
from kafka_broker.handlers.authorization import cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError
from kafka_broker.security.acl import AclOperation

API = ApiKey.DESCRIBE_CLIENT_QUOTAS
VERSIONS = (0, 1)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    if not cluster_authorized(ctx, AclOperation.DESCRIBE_CONFIGS):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "error_message": None,
                "entries": None}
    try:
        components = [filter_component(c["entity_type"], c["match_type"], c["match"]) for c in request["components"]]
        found = await QuotaAdmin(ctx.services.store.zk).describe(components, strict=request["strict"])
    except KafkaError as exc:
        return {"throttle_time_ms": 0, "error_code": exc.code, "error_message": exc.message or None, "entries": None}
    entries = [
        {"entity": [{"entity_type": entity_type, "entity_name": name} for entity_type, name in entity.items()],
         "values": [{"key": key, "value": value} for key, value in sorted(values.items())]}
        for entity, values in found
    ]
    return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "error_message": None, "entries": entries}
