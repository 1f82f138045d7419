"""CreateAcls: add ACL bindings, as Kafka's ``AclApis.handleCreateAcls`` and ``AclAuthorizer.createAcls`` do.

With an authorizer (:mod:`kafka_broker.cluster.acl_authorizer`) each creation is answered on its own: NONE once
stored in ZooKeeper, or Kafka's error and message (:func:`kafka_broker.security.acl.creation_error`: a CLUSTER
binding not named ``kafka-cluster``, an empty name, UNKNOWN elements or a ``/`` in the name are
INVALID_REQUEST; a principal without a type fails its resource's creations with UNKNOWN_SERVER_ERROR). A
creation with ANY or MATCH where a concrete value is needed fails the whole request with UNKNOWN_SERVER_ERROR
for every creation, as Kafka's conversion throws. The request needs ALTER on the cluster (:mod:`.acls`).

Without an authorizer, as Apache Kafka 3.9 configured without ``authorizer.class.name``, each creation fails
with SECURITY_DISABLED and Kafka's message; nothing is stored.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.acls import check_creations
from kafka_broker.handlers.authorization import cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import (
    AccessControlEntry,
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)

API = ApiKey.CREATE_ACLS
VERSIONS = (0, 3)

NO_AUTHORIZER = "No Authorizer is configured."


def _all(request: dict[str, Any], code: ErrorCode, message: str | None) -> dict[str, Any]:
    return {"throttle_time_ms": 0, "results": [{"error_code": code, "error_message": message}
                                               for _ in request["creations"]]}


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    check_creations(request["creations"], ctx.version)
    authorizer = ctx.services.authorizer
    if not cluster_authorized(ctx, AclOperation.ALTER):
        return _all(request, ErrorCode.CLUSTER_AUTHORIZATION_FAILED, None)
    if authorizer is None:
        return _all(request, ErrorCode.SECURITY_DISABLED, NO_AUTHORIZER)
    try:
        bindings = [binding(creation) for creation in request["creations"]]
    except ValueError:
        return _all(request, ErrorCode.UNKNOWN_SERVER_ERROR, None)
    errors = await authorizer.create_acls(bindings)
    return {"throttle_time_ms": 0, "results": [
        {"error_code": ErrorCode.NONE, "error_message": None} if error is None
        else {"error_code": error.code, "error_message": error.message or None} for error in errors]}


def binding(creation: dict[str, Any]) -> AclBinding:
    """The binding a creation asks for; ValueError for ANY or MATCH values (Kafka's ``aclBinding``)."""
    return AclBinding(
        ResourcePattern(ResourceType.from_code(creation["resource_type"]), creation["resource_name"],
                        PatternType.from_code(creation["resource_pattern_type"])),
        AccessControlEntry(creation["principal"], creation["host"], AclOperation.from_code(creation["operation"]),
                           AclPermissionType.from_code(creation["permission_type"])))
