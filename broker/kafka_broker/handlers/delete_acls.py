"""DeleteAcls: remove the ACLs matching filters, as Kafka's ``AclApis.handleDeleteAcls`` and
``AclAuthorizer.deleteAcls`` do.

With an authorizer (:mod:`kafka_broker.cluster.acl_authorizer`) each filter's result lists the ACLs it deleted
— an ACL matched by several filters under the first — each with NONE, or UNKNOWN_SERVER_ERROR when its
resource's ACLs could not be written. The request needs ALTER on the cluster (:mod:`.acls`).

Without an authorizer, as Apache Kafka 3.9 configured without ``authorizer.class.name``, each filter fails with
SECURITY_DISABLED and Kafka's message, matching no ACL.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.acls import binding_fields, binding_filter, binding_order, check_filter
from kafka_broker.handlers.authorization import cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.handlers.create_acls import NO_AUTHORIZER
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation

API = ApiKey.DELETE_ACLS
VERSIONS = (0, 3)


def _all(request: dict[str, Any], code: ErrorCode, message: str | None) -> dict[str, Any]:
    return {"throttle_time_ms": 0, "filter_results": [
        {"error_code": code, "error_message": message, "matching_acls": []} for _ in request["filters"]]}


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    for acl_filter in request["filters"]:
        check_filter(acl_filter, ctx.version, "DeleteAcls")
    authorizer = ctx.services.authorizer
    if not cluster_authorized(ctx, AclOperation.ALTER):
        return _all(request, ErrorCode.CLUSTER_AUTHORIZATION_FAILED, None)
    if authorizer is None:
        return _all(request, ErrorCode.SECURITY_DISABLED, NO_AUTHORIZER)
    results = await authorizer.delete_acls([binding_filter(f) for f in request["filters"]])
    return {"throttle_time_ms": 0, "filter_results": [
        {"error_code": ErrorCode.NONE, "error_message": None, "matching_acls": [
            {"error_code": ErrorCode.NONE if error is None else error.code,
             "error_message": None if error is None else error.message or None, **binding_fields(binding)}
            for binding, error in sorted(deleted, key=lambda item: binding_order(item[0]))]}
        for deleted in results]}
