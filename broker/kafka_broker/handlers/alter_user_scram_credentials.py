"""AlterUserScramCredentials: create, replace or delete users' SCRAM credentials.

As in Kafka's ZooKeeper mode the controller does it (admin clients send it there; another broker answers
NOT_CONTROLLER for every user, so the client finds the controller and tries again). It validates and writes
the users' config znodes in Kafka's layout with a change notice, keeping their quota keys, and answers one
result per user: :mod:`kafka_broker.cluster.scram_admin`. Altering needs ALTER on the cluster, checked after
NOT_CONTROLLER as Kafka does: without it every user answers CLUSTER_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.cluster.scram_admin import Deletion, ScramAdmin, Upsertion
from kafka_broker.handlers.authorization import cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation

API = ApiKey.ALTER_USER_SCRAM_CREDENTIALS
VERSIONS = (0, 0)

NOT_CONTROLLER = "This is not the correct controller for this cluster."


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    deletions = [Deletion(d["name"], d["mechanism"]) for d in request["deletions"]]
    upsertions = [Upsertion(u["name"], u["mechanism"], u["iterations"], bytes(u["salt"]), bytes(u["salted_password"]))
                  for u in request["upsertions"]]
    controller = ctx.services.controller
    if controller is None or not controller.active:
        users = sorted({d.user for d in deletions} | {u.user for u in upsertions})
        return {"throttle_time_ms": 0, "results": [
            {"user": user, "error_code": ErrorCode.NOT_CONTROLLER, "error_message": NOT_CONTROLLER} for user in users]}
    if not cluster_authorized(ctx, AclOperation.ALTER):
        users = sorted({d.user for d in deletions} | {u.user for u in upsertions})
        return {"throttle_time_ms": 0, "results": [
            {"user": user, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "error_message": None}
            for user in users]}
    results = await ScramAdmin(ctx.services.store.zk).alter(deletions, upsertions)
    return {"throttle_time_ms": 0, "results": [
        {"user": r.user, "error_code": r.error, "error_message": r.message} for r in results]}
