"""DescribeConfigs, AlterConfigs and IncrementalAlterConfigs: broker and topic configuration."""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import BOOL, INT8, INT16, INT32, STRING
from ..schema import API, Array, F

DESCRIBE_CONFIGS = API(
    ApiKey.DESCRIBE_CONFIGS,
    "0-4",
    flexible="4+",
    request=[
        F("resources", [
            F("resource_type", INT8),
            F("resource_name", STRING),
            F("configuration_keys", Array(STRING), nullable="0+"),
        ]),
        F("include_synonyms", BOOL, "1+"),
        F("include_documentation", BOOL, "3+"),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("results", [
            F("error_code", INT16),
            F("error_message", STRING, nullable="0+"),
            F("resource_type", INT8),
            F("resource_name", STRING),
            F("configs", [
                F("name", STRING),
                F("value", STRING, nullable="0+"),
                F("read_only", BOOL),
                F("is_default", BOOL, "0"),
                F("config_source", INT8, "1+", default=-1),
                F("is_sensitive", BOOL),
                F("synonyms", [
                    F("name", STRING, "1+"),
                    F("value", STRING, "1+", nullable="0+"),
                    F("source", INT8, "1+"),
                ], "1+"),
                F("config_type", INT8, "3+"),
                F("documentation", STRING, "3+", nullable="0+"),
            ]),
        ]),
    ],
)

_CONFIG_RESULTS = [
    F("throttle_time_ms", INT32),
    F("responses", [
        F("error_code", INT16),
        F("error_message", STRING, nullable="0+"),
        F("resource_type", INT8),
        F("resource_name", STRING),
    ]),
]

ALTER_CONFIGS = API(
    ApiKey.ALTER_CONFIGS,
    "0-2",
    flexible="2+",
    request=[
        F("resources", [
            F("resource_type", INT8),
            F("resource_name", STRING),
            F("configs", [
                F("name", STRING),
                F("value", STRING, nullable="0+"),
            ]),
        ]),
        F("validate_only", BOOL),
    ],
    response=_CONFIG_RESULTS,
)

INCREMENTAL_ALTER_CONFIGS = API(
    ApiKey.INCREMENTAL_ALTER_CONFIGS,
    "0-1",
    flexible="1+",
    request=[
        F("resources", [
            F("resource_type", INT8),
            F("resource_name", STRING),
            F("configs", [
                F("name", STRING),
                F("config_operation", INT8),
                F("value", STRING, nullable="0+"),
            ]),
        ]),
        F("validate_only", BOOL),
    ],
    response=_CONFIG_RESULTS,
)
