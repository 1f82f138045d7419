"""DescribeClientQuotas and AlterClientQuotas: quotas of users, client ids and both (KIP-546)."""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import BOOL, FLOAT64, INT8, INT16, INT32, STRING
from ..schema import API, F

_ENTITY = [
    F("entity_type", STRING),
    F("entity_name", STRING, nullable="0+"),
]

DESCRIBE_CLIENT_QUOTAS = API(
    ApiKey.DESCRIBE_CLIENT_QUOTAS,
    "0-1",
    flexible="1+",
    request=[
        F("components", [
            F("entity_type", STRING),
            F("match_type", INT8),
            F("match", STRING, nullable="0+"),
        ]),
        F("strict", BOOL),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("error_code", INT16),
        F("error_message", STRING, nullable="0+"),
        F("entries", [
            F("entity", _ENTITY),
            F("values", [
                F("key", STRING),
                F("value", FLOAT64),
            ]),
        ], nullable="0+"),
    ],
)

ALTER_CLIENT_QUOTAS = API(
    ApiKey.ALTER_CLIENT_QUOTAS,
    "0-1",
    flexible="1+",
    request=[
        F("entries", [
            F("entity", _ENTITY),
            F("ops", [
                F("key", STRING),
                F("value", FLOAT64),
                F("remove", BOOL),
            ]),
        ]),
        F("validate_only", BOOL),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("entries", [
            F("error_code", INT16),
            F("error_message", STRING, nullable="0+"),
            F("entity", _ENTITY),
        ]),
    ],
)
