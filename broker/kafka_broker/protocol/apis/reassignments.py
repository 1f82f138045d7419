"""Partition reassignment (KIP-455): AlterPartitionReassignments and ListPartitionReassignments."""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import INT16, INT32, STRING
from ..schema import API, Array, F

ALTER_PARTITION_REASSIGNMENTS = API(
    ApiKey.ALTER_PARTITION_REASSIGNMENTS,
    "0",
    flexible="0+",
    request=[
        F("timeout_ms", INT32, default=60000),
        F("topics", [
            F("name", STRING),
            F("partitions", [
                F("partition_index", INT32),
                F("replicas", Array(INT32), nullable="0+", default=None),  # null: cancel
            ]),
        ]),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("error_code", INT16),
        F("error_message", STRING, nullable="0+"),
        F("responses", [
            F("name", STRING),
            F("partitions", [
                F("partition_index", INT32),
                F("error_code", INT16),
                F("error_message", STRING, nullable="0+"),
            ]),
        ]),
    ],
)

LIST_PARTITION_REASSIGNMENTS = API(
    ApiKey.LIST_PARTITION_REASSIGNMENTS,
    "0",
    flexible="0+",
    request=[
        F("timeout_ms", INT32, default=60000),
        F("topics", [
            F("name", STRING),
            F("partition_indexes", Array(INT32)),
        ], nullable="0+", default=None),  # null: every reassignment in progress
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("error_code", INT16),
        F("error_message", STRING, nullable="0+"),
        F("topics", [
            F("name", STRING),
            F("partitions", [
                F("partition_index", INT32),
                F("replicas", Array(INT32)),
                F("adding_replicas", Array(INT32)),
                F("removing_replicas", Array(INT32)),
            ]),
        ]),
    ],
)
