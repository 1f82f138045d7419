"""ElectLeaders: preferred (0) or unclean (1) leader elections, carried out by the controller.

The request goes to the controller (admin clients send it there); another broker answers NOT_CONTROLLER
for every partition, as Kafka's brokers do, and the client retries on the controller. The controller
elects under its epoch fence and answers once the new states are written (its cache has them), waiting at
most ``timeout_ms`` for a reconcile pass in progress (REQUEST_TIMED_OUT otherwise). ``topic_partitions``
null means every partition, and then, as in Kafka, partitions that needed no election are left out of the
answer. An unknown election type is INVALID_REQUEST. Electing needs ALTER on the cluster, checked first: without
it the answer and every partition asked are CLUSTER_AUTHORIZATION_FAILED, as Kafka's.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.controller import ElectionType, Outcome
from kafka_broker.handlers.authorization import cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation

API = ApiKey.ELECT_LEADERS
VERSIONS = (0, 2)


def _results(outcomes: dict[tuple[str, int], Outcome]) -> list[dict[str, Any]]:
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for (topic, partition), outcome in outcomes.items():
        by_topic.setdefault(topic, []).append(
            {"partition_id": partition, "error_code": outcome.error, "error_message": outcome.message})
    return [{"topic": topic, "partition_result": results} for topic, results in by_topic.items()]


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    asked = request["topic_partitions"]
    partitions = None if asked is None else [
        (t["topic"], p) for t in asked for p in dict.fromkeys(t["partitions"])]
    if not cluster_authorized(ctx, AclOperation.ALTER):
        denied = Outcome(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
        return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                "replica_election_results": _results(dict.fromkeys(partitions or [], denied))}
    try:
        election_type = ElectionType(request.get("election_type", ElectionType.PREFERRED))
    except ValueError:
        message = f"Unknown election type {request['election_type']}"
        invalid = Outcome(ErrorCode.INVALID_REQUEST, message)
        return {"throttle_time_ms": 0, "error_code": ErrorCode.INVALID_REQUEST,
                "replica_election_results": _results(dict.fromkeys(partitions or [], invalid))}
    controller = ctx.services.controller
    if controller is None:
        outcomes = dict.fromkeys(partitions or [], Outcome(ErrorCode.NOT_CONTROLLER))
    else:
        outcomes = await controller.elect_leaders(partitions, election_type,
                                                  timeout_s=max(request["timeout_ms"], 0) / 1000)
    if partitions is None:
        outcomes = {k: o for k, o in outcomes.items() if o.error != ErrorCode.ELECTION_NOT_NEEDED}
    return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "replica_election_results": _results(outcomes)}
