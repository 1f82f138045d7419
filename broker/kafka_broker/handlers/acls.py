"""What DescribeAcls, CreateAcls and DeleteAcls share: the checks Kafka makes while parsing them, their
filters and bindings from the wire, and the authorization of the request itself.

**Parsing** (Kafka's ``DescribeAclsRequest`` / ``CreateAclsRequest`` / ``DeleteAclsRequest``): a v0 filter's
pattern type ANY is read as LITERAL (v0 has only literal patterns); any other pattern type than LITERAL at v0,
or a resource type, pattern type, operation or permission type with code 0 (UNKNOWN), fails the parse, and
Kafka closes the connection (:class:`~kafka_broker.handlers.context.CloseConnection`), with or without an
authorizer. A code Kafka does not know is UNKNOWN from there on (``fromCode``).

**Authorization** (Kafka's ``authorizeClusterOperation``,
:func:`~kafka_broker.handlers.authorization.cluster_authorized`): DescribeAcls needs DESCRIBE on the cluster,
CreateAcls and DeleteAcls ALTER; without it every answer is CLUSTER_AUTHORIZATION_FAILED (without a message:
Kafka's names its internal request object).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kafka_broker.handlers.context import CloseConnection
from kafka_broker.protocol import ErrorCode
from kafka_broker.security.acl import (
    AccessControlEntryFilter,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePatternFilter,
    ResourceType,
)

UNKNOWN = 0
"""The code of every enum's UNKNOWN."""
CLUSTER_AUTHORIZATION_FAILED = ErrorCode.CLUSTER_AUTHORIZATION_FAILED


def check_filter(acl_filter: dict[str, Any], version: int, what: str) -> None:
    """Kafka's parse-time checks of a DescribeAcls / DeleteAcls filter (module docstring); normalises a v0 ANY
    pattern type to LITERAL in place."""
    if version == 0:
        if acl_filter["pattern_type_filter"] == PatternType.ANY:
            acl_filter["pattern_type_filter"] = PatternType.LITERAL
        elif acl_filter["pattern_type_filter"] != PatternType.LITERAL:
            raise CloseConnection(f"{what} v0 only supports literal resource pattern types")
    if UNKNOWN in (acl_filter["pattern_type_filter"], acl_filter["resource_type_filter"],
                   acl_filter["operation"], acl_filter["permission_type"]):
        raise CloseConnection(f"{what} contains UNKNOWN elements")


def check_creations(creations: Iterable[dict[str, Any]], version: int) -> None:
    """Kafka's parse-time checks of CreateAcls' creations (module docstring)."""
    for creation in creations:
        if version == 0 and creation["resource_pattern_type"] != PatternType.LITERAL:
            raise CloseConnection("CreateAcls v0 only supports literal resource pattern types")
        if UNKNOWN in (creation["resource_pattern_type"], creation["resource_type"], creation["operation"],
                       creation["permission_type"]):
            raise CloseConnection("CreateAcls contains unknown elements")


def binding_filter(acl_filter: dict[str, Any]) -> AclBindingFilter:
    """The filter of a DescribeAcls request or of one DeleteAcls filter."""
    return AclBindingFilter(
        ResourcePatternFilter(ResourceType.from_code(acl_filter["resource_type_filter"]),
                              acl_filter["resource_name_filter"],
                              PatternType.from_code(acl_filter["pattern_type_filter"])),
        AccessControlEntryFilter(acl_filter["principal_filter"], acl_filter["host_filter"],
                                 AclOperation.from_code(acl_filter["operation"]),
                                 AclPermissionType.from_code(acl_filter["permission_type"])))


def binding_fields(binding: AclBinding) -> dict[str, Any]:
    """A binding as DeleteAcls' matching ACLs carry it."""
    return {"resource_type": binding.pattern.resource_type, "resource_name": binding.pattern.name,
            "pattern_type": binding.pattern.pattern_type, "principal": binding.entry.principal,
            "host": binding.entry.host, "operation": binding.entry.operation,
            "permission_type": binding.entry.permission_type}


def binding_order(binding: AclBinding) -> tuple[Any, ...]:
    """The order bindings are answered in (Kafka's is its hash maps'): by resource type, pattern type, name,
    then principal, host, operation, permission type."""
    pattern, entry = binding.pattern, binding.entry
    return (pattern.resource_type, pattern.pattern_type, pattern.name, entry.principal, entry.host, entry.operation,
            entry.permission_type)
