"""DescribeAcls: the ACLs matching a filter, as Kafka's ``AclApis.handleDescribeAcls`` answers.

With an authorizer (``authorizer.class.name``, :mod:`kafka_broker.cluster.acl_authorizer`) the answer is every
cached ACL the filter matches (:class:`~kafka_broker.security.acl.AclBindingFilter`), grouped by resource
pattern, patterns and ACLs in a fixed order (Kafka's is its hash map's). The request needs DESCRIBE on the
cluster (:mod:`.acls`). Without an authorizer, as Apache Kafka 3.9 configured without one, the answer is
SECURITY_DISABLED with Kafka's message and no resources (``kafka-acls.sh --list`` prints Kafka's "No Authorizer
is configured on the broker").
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.acls import binding_filter, binding_order, check_filter
from kafka_broker.handlers.authorization import cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclBinding, AclOperation, ResourcePattern

API = ApiKey.DESCRIBE_ACLS
VERSIONS = (0, 3)

NO_AUTHORIZER = "No Authorizer is configured on the broker"


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    check_filter(request, ctx.version, "DescribeAcls")
    authorizer = ctx.services.authorizer
    if not cluster_authorized(ctx, AclOperation.DESCRIBE):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "error_message": None,
                "resources": []}
    if authorizer is None:
        return {"throttle_time_ms": 0, "error_code": ErrorCode.SECURITY_DISABLED, "error_message": NO_AUTHORIZER,
                "resources": []}
    return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "error_message": None,
            "resources": resources(authorizer.acls(binding_filter(request)))}


def resources(bindings: list[AclBinding]) -> list[dict[str, Any]]:
    """``bindings`` grouped by pattern, as DescribeAcls answers them."""
    by_pattern: dict[ResourcePattern, list[dict[str, Any]]] = {}
    for b in sorted(bindings, key=binding_order):
        by_pattern.setdefault(b.pattern, []).append({"principal": b.entry.principal, "host": b.entry.host,
                                                     "operation": b.entry.operation,
                                                     "permission_type": b.entry.permission_type})
    return [{"resource_type": pattern.resource_type, "resource_name": pattern.name,
             "pattern_type": pattern.pattern_type, "acls": acls} for pattern, acls in by_pattern.items()]
