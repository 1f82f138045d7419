"""Authorization of requests: what each handler asks the ACL authorizer, as Kafka's ``AuthHelper`` does.

A handler asks whether the request's principal (``ctx.principal``), connected from the client's address (the
host of ``ctx.peer``), may do an operation on a resource: :func:`authorize` for one resource,
:func:`cluster_authorized` for the cluster, :func:`authorized_names` for the names of a request's topics or
groups (each distinct name asked once, as Kafka's ``filterByAuthorized``), :func:`authorized_for_some` for any
resource of a type (Kafka's ``authorizeByResourceType``). Without an authorizer (no ``authorizer.class.name``)
everything is allowed. Which operation each API needs, and what it answers when denied, is the handler's
(Kafka's ``KafkaApis``).

**Authorized operations** (Metadata, DescribeCluster, DescribeGroups with ``include_*_authorized_operations``):
the operations a resource type supports (:data:`SUPPORTED_OPERATIONS`, Kafka's ``AclEntry.supportedOperations``)
that the principal is allowed, as a bit field with bit ``1 << code`` per operation (Kafka's
``Utils.to32BitField``); every supported operation without an authorizer.

**Logging** (Kafka's authorizer logger): a denial is logged at INFO with the principal, the operation, the
host, the resource and the API, unless the handler only filters or computes authorized operations
(``log_denied=False``, Kafka's ``logIfDenied``); what is allowed is logged by the authorizer at DEBUG.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import CLUSTER_NAME, AclOperation, ResourceType

__all__ = [
    "SUPPORTED_OPERATIONS",
    "authorize",
    "authorized_for_some",
    "authorized_names",
    "authorized_operations",
    "client_host",
    "cluster_authorized",
    "cluster_authorized_operations",
    "error_message",
]

log = logging.getLogger(__name__)

_O = AclOperation
SUPPORTED_OPERATIONS: dict[ResourceType, tuple[AclOperation, ...]] = {
    ResourceType.TOPIC: (_O.READ, _O.WRITE, _O.CREATE, _O.DESCRIBE, _O.DELETE, _O.ALTER, _O.DESCRIBE_CONFIGS,
                         _O.ALTER_CONFIGS),
    ResourceType.GROUP: (_O.READ, _O.DESCRIBE, _O.DELETE),
    ResourceType.CLUSTER: (_O.CREATE, _O.CLUSTER_ACTION, _O.DESCRIBE_CONFIGS, _O.ALTER_CONFIGS, _O.IDEMPOTENT_WRITE,
                           _O.ALTER, _O.DESCRIBE),
    ResourceType.TRANSACTIONAL_ID: (_O.DESCRIBE, _O.WRITE),
    ResourceType.DELEGATION_TOKEN: (_O.DESCRIBE,),
    ResourceType.USER: (_O.CREATE_TOKENS, _O.DESCRIBE_TOKENS),
}
"""The operations each resource type has (Kafka's ``AclEntry.supportedOperations``)."""

_MESSAGES = {
    ErrorCode.TOPIC_AUTHORIZATION_FAILED: "Topic authorization failed.",
    ErrorCode.GROUP_AUTHORIZATION_FAILED: "Group authorization failed.",
    ErrorCode.CLUSTER_AUTHORIZATION_FAILED: "Cluster authorization failed.",
    ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: "Transactional Id authorization failed.",
}


def error_message(code: ErrorCode) -> str:
    """Kafka's default message of an authorization error (``Errors.message()``), which some APIs answer."""
    return _MESSAGES[code]


def client_host(ctx: RequestContext) -> str:
    """The client's address, as ACL hosts name it: ``127.0.0.1`` of ``127.0.0.1:53412``."""
    return ctx.peer.rpartition(":")[0].strip("[]") or ctx.peer


def authorize(ctx: RequestContext, operation: AclOperation, resource_type: ResourceType, name: str, *,
              log_denied: bool = True) -> bool:
    """Whether the request's principal may do ``operation`` on the resource ``name`` (always, without an
    authorizer); a denial is logged unless ``log_denied`` is false."""
    authorizer = ctx.services.authorizer
    if authorizer is None:
        return True
    host = client_host(ctx)
    if authorizer.authorize(ctx.principal, host, operation, resource_type, name):
        return True
    if log_denied:
        log.info("Principal = %s is Denied Operation = %s from host = %s on resource = %s:LITERAL:%s for request = %s",
                 ctx.principal, operation.zk_name, host, resource_type.zk_name, name, _api_name(ctx))
    return False


def cluster_authorized(ctx: RequestContext, operation: AclOperation, *, log_denied: bool = True) -> bool:
    """Whether the request's principal may do ``operation`` on the cluster."""
    return authorize(ctx, operation, ResourceType.CLUSTER, CLUSTER_NAME, log_denied=log_denied)


def authorized_names(ctx: RequestContext, operation: AclOperation, resource_type: ResourceType,
                     names: Iterable[str], *, log_denied: bool = True) -> set[str]:
    """Those of ``names`` (resources of ``resource_type``) the principal may do ``operation`` on."""
    return {name for name in dict.fromkeys(names)
            if authorize(ctx, operation, resource_type, name, log_denied=log_denied)}


def authorized_for_some(ctx: RequestContext, operation: AclOperation, resource_type: ResourceType) -> bool:
    """Whether the principal may do ``operation`` on some resource of ``resource_type`` (Kafka's
    ``authorizeByResourceType``)."""
    authorizer = ctx.services.authorizer
    if authorizer is None:
        return True
    host = client_host(ctx)
    if authorizer.authorize_by_resource_type(ctx.principal, host, operation, resource_type):
        return True
    log.info("Principal = %s is Denied Operation = %s from host = %s on resource = %s:UNKNOWN:NONE for request = %s",
             ctx.principal, operation.zk_name, host, resource_type.zk_name, _api_name(ctx))
    return False


def authorized_operations(ctx: RequestContext, resource_type: ResourceType, name: str) -> int:
    """The bit field of the operations on the resource ``name`` the principal is allowed (module docstring)."""
    bits = 0
    for operation in SUPPORTED_OPERATIONS[resource_type]:
        if authorize(ctx, operation, resource_type, name, log_denied=False):
            bits |= 1 << operation
    return bits


def cluster_authorized_operations(ctx: RequestContext) -> int:
    """The cluster's authorized operations as Metadata (v8-10) and DescribeCluster answer them when asked: none
    (0) without DESCRIBE on the cluster (Kafka's ``computeDescribeClusterResponse``)."""
    if not cluster_authorized(ctx, AclOperation.DESCRIBE):
        return 0
    return authorized_operations(ctx, ResourceType.CLUSTER, CLUSTER_NAME)


def _api_name(ctx: RequestContext) -> str:
    try:
        return ApiKey(ctx.header.api_key).name
    except ValueError:
        return str(ctx.header.api_key)
