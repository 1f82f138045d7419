"""DescribeAcls, CreateAcls and DeleteAcls: access control lists (KIP-140; pattern types from v1, KIP-290).

An ACL binds a resource pattern (type, name, pattern type) to an entry (principal, host, operation,
permission type); the filters of Describe and Delete use the same fields, each nullable string matching any.
"""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import INT8, INT16, INT32, STRING
from ..schema import API, F

LITERAL_PATTERN = 3
"""``PatternType.LITERAL``: the pattern type of versions without one (v0)."""

_FILTER = [
    F("resource_type_filter", INT8),
    F("resource_name_filter", STRING, nullable="0+"),
    F("pattern_type_filter", INT8, "1+", default=LITERAL_PATTERN),
    F("principal_filter", STRING, nullable="0+"),
    F("host_filter", STRING, nullable="0+"),
    F("operation", INT8),
    F("permission_type", INT8),
]

DESCRIBE_ACLS = API(
    ApiKey.DESCRIBE_ACLS,
    "0-3",
    flexible="2+",
    request=_FILTER,
    response=[
        F("throttle_time_ms", INT32),
        F("error_code", INT16),
        F("error_message", STRING, nullable="0+"),
        F("resources", [
            F("resource_type", INT8),
            F("resource_name", STRING),
            F("pattern_type", INT8, "1+", default=LITERAL_PATTERN),
            F("acls", [
                F("principal", STRING),
                F("host", STRING),
                F("operation", INT8),
                F("permission_type", INT8),
            ]),
        ]),
    ],
)

CREATE_ACLS = API(
    ApiKey.CREATE_ACLS,
    "0-3",
    flexible="2+",
    request=[
        F("creations", [
            F("resource_type", INT8),
            F("resource_name", STRING),
            F("resource_pattern_type", INT8, "1+", default=LITERAL_PATTERN),
            F("principal", STRING),
            F("host", STRING),
            F("operation", INT8),
            F("permission_type", INT8),
        ]),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("results", [
            F("error_code", INT16),
            F("error_message", STRING, nullable="0+"),
        ]),
    ],
)

DELETE_ACLS = API(
    ApiKey.DELETE_ACLS,
    "0-3",
    flexible="2+",
    request=[
        F("filters", _FILTER),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("filter_results", [
            F("error_code", INT16),
            F("error_message", STRING, nullable="0+"),
            F("matching_acls", [
                F("error_code", INT16),
                F("error_message", STRING, nullable="0+"),
                F("resource_type", INT8),
                F("resource_name", STRING),
                F("pattern_type", INT8, "1+", default=LITERAL_PATTERN),
                F("principal", STRING),
                F("host", STRING),
                F("operation", INT8),
                F("permission_type", INT8),
            ]),
        ]),
    ],
)
