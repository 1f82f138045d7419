"""CreatePartitions: grow topics (never shrink), optionally with an explicit placement of the new
partitions; answer once the new partitions have leaders. The request's topics share one
:class:`~kafka_broker.cluster.topic_admin.PartitionBudget` of new partitions: growth beyond it is
answered INVALID_PARTITIONS at once. Each topic needs ALTER (else TOPIC_AUTHORIZATION_FAILED, Kafka's message),
as Kafka's."""

from __future__ import annotations

from typing import Any

from kafka_broker.cluster.topic_admin import PartitionBudget
from kafka_broker.handlers.authorization import authorized_names
from kafka_broker.handlers.context import RequestContext
from kafka_broker.handlers.waiting import wait_until
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.CREATE_PARTITIONS
VERSIONS = (0, 3)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    services = ctx.services
    cache = services.cache
    results = []
    grown: dict[str, int] = {}
    budget = PartitionBudget()
    alterable = authorized_names(ctx, AclOperation.ALTER, ResourceType.TOPIC, (t["name"] for t in request["topics"]))
    for treq in request["topics"]:
        name = treq["name"]
        result: dict[str, Any] = {"name": name, "error_code": ErrorCode.NONE, "error_message": None}
        results.append(result)
        if name not in alterable:
            result.update(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                          error_message="The topic authorization is failed.")
            continue
        assignments = [list(a["broker_ids"]) for a in (treq.get("assignments") or [])]
        try:
            await services.admin.add_partitions(name, treq["count"], assignments or None,
                                                validate_only=request["validate_only"], budget=budget)
            if not request["validate_only"]:
                grown[name] = treq["count"]
        except KafkaError as exc:
            result.update(error_code=exc.code, error_message=exc.message or None)

    def all_led() -> bool:
        for name, count in grown.items():
            info = cache.topics.get(name)
            if info is None or len(info.partitions) < count:
                return False
            if any(p.leader not in cache.brokers for p in info.partitions.values()):
                return False
        return True

    if grown and not await wait_until(all_led, timeout_ms=request["timeout_ms"]):
        for result in results:
            if result["name"] in grown:
                result["error_code"] = ErrorCode.REQUEST_TIMED_OUT
    return {"throttle_time_ms": 0, "results": results}
