"""AlterClientQuotas: set or remove quotas of user, client-id and <user, client-id> entities.

Any broker may receive it: the change is written to ZooKeeper in Kafka's layout, with a change notice, and
every broker applies it when its watch fires (:mod:`kafka_broker.cluster.client_quotas`). Each entry
succeeds or fails on its own, with Kafka's error and message (:mod:`kafka_broker.cluster.quota_admin`);
``validate_only`` checks without writing. Altering needs ALTER_CONFIGS on the cluster: without it every entry
answers CLUSTER_AUTHORIZATION_FAILED with Kafka's default message, as Kafka's.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.cluster.quota_admin import QuotaAdmin
from kafka_broker.handlers.authorization import cluster_authorized, error_message
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError
from kafka_broker.security.acl import AclOperation

API = ApiKey.ALTER_CLIENT_QUOTAS
VERSIONS = (0, 1)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    if not cluster_authorized(ctx, AclOperation.ALTER_CONFIGS):
        denied = ErrorCode.CLUSTER_AUTHORIZATION_FAILED
        return {"throttle_time_ms": 0, "entries": [
            {"error_code": denied, "error_message": error_message(denied), "entity": entry["entity"]}
            for entry in request["entries"]]}
    admin = QuotaAdmin(ctx.services.store.zk)
    results = []
    for entry in request["entries"]:
        result: dict[str, Any] = {"error_code": ErrorCode.NONE, "error_message": None, "entity": entry["entity"]}
        entity = {e["entity_type"]: e["entity_name"] for e in entry["entity"]}
        ops = [(op["key"], None if op["remove"] else op["value"]) for op in entry["ops"]]
        try:
            await admin.alter(entity, ops, validate_only=request["validate_only"])
        except KafkaError as exc:
            result["error_code"], result["error_message"] = exc.code, exc.message or None
        results.append(result)
    return {"throttle_time_ms": 0, "entries": results}
