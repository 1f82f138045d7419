"""DescribeUserScramCredentials: which SCRAM mechanisms (and iteration counts) users have credentials for.

Any broker answers, reading ZooKeeper (not its own view of it, which may lag a change made through another
broker), with Kafka's ZooKeeper-mode semantics: :mod:`kafka_broker.cluster.scram_admin`. Secrets (salt, keys)
are never returned. A failure to read ZooKeeper is UNKNOWN_SERVER_ERROR for the whole request. Describing needs
DESCRIBE on the cluster: without it the request and a result per user asked (Kafka's leave the user name
empty) are CLUSTER_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

from typing import Any

from kazoo.exceptions import KazooException

from kafka_broker.cluster.scram_admin import UNKNOWN_SERVER_ERROR, ScramAdmin
from kafka_broker.handlers.authorization import cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation

API = ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS
VERSIONS = (0, 0)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    users = request["users"]
    if not cluster_authorized(ctx, AclOperation.DESCRIBE):
        denied = ErrorCode.CLUSTER_AUTHORIZATION_FAILED
        return {"throttle_time_ms": 0, "error_code": denied, "error_message": None, "results": [
            {"user": "", "error_code": denied, "error_message": None, "credential_infos": []} for _ in users or []]}
    try:
        found = await ScramAdmin(ctx.services.store.zk).describe(None if users is None else [u["name"] for u in users])
    except KazooException:
        return {"throttle_time_ms": 0, "error_code": ErrorCode.UNKNOWN_SERVER_ERROR,
                "error_message": UNKNOWN_SERVER_ERROR, "results": []}
    results = [
        {"user": r.user, "error_code": r.error, "error_message": r.message,
         "credential_infos": [{"mechanism": mechanism, "iterations": iterations}
                              for mechanism, iterations in r.credentials]}
        for r in found
    ]
    return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "error_message": None, "results": results}
