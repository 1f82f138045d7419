"""DescribeCluster: the cluster id, the controller and the live brokers (the admin client's view).

Only brokers clients can dial are listed (a host and a port), as in Metadata. Anyone may ask, as in Kafka; with
``include_cluster_authorized_operations`` the answer carries the operations on the cluster the principal is
allowed (none without DESCRIBE on it: :func:`~kafka_broker.handlers.authorization.cluster_authorized_operations`).
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.authorization import cluster_authorized_operations
from kafka_broker.handlers.context import RequestContext
from kafka_broker.handlers.metadata import reachable_brokers
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.protocol.primitives import AUTHORIZED_OPERATIONS_OMITTED

API = ApiKey.DESCRIBE_CLUSTER
VERSIONS = (0, 1)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    cache = ctx.services.cache
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "endpoint_type": 1,
        "cluster_id": cache.cluster_id or "",
        "controller_id": cache.controller_id,
        "brokers": [
            {"broker_id": b.broker_id, "host": host, "port": port, "rack": b.rack}
            for b, host, port in reachable_brokers(cache, ctx.listener)
        ],
        "cluster_authorized_operations": cluster_authorized_operations(ctx)
        if request.get("include_cluster_authorized_operations") else AUTHORIZED_OPERATIONS_OMITTED,
    }
