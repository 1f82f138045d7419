"""Topic administration: CreateTopics, DeleteTopics, CreatePartitions and ElectLeaders."""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import BOOL, INT8, INT16, INT32, STRING, UUID
from ..schema import API, Array, F

CREATE_TOPICS = API(
    ApiKey.CREATE_TOPICS,
    "0-7",
    flexible="5+",
    request=[
        F("topics", [
            F("name", STRING),
            F("num_partitions", INT32),
            F("replication_factor", INT16),
            F("assignments", [
                F("partition_index", INT32),
                F("broker_ids", Array(INT32)),
            ]),
            F("configs", [
                F("name", STRING),
                F("value", STRING, nullable="0+"),
            ]),
        ]),
        F("timeout_ms", INT32, default=60000),
        F("validate_only", BOOL, "1+"),
    ],
    response=[
        F("throttle_time_ms", INT32, "2+"),
        F("topics", [
            F("name", STRING),
            F("topic_id", UUID, "7+"),
            F("error_code", INT16),
            F("error_message", STRING, "1+", nullable="0+"),
            F("topic_config_error_code", INT16, "5+", tag=0),
            F("num_partitions", INT32, "5+", default=-1),
            F("replication_factor", INT16, "5+", default=-1),
            F("configs", [
                F("name", STRING, "5+"),
                F("value", STRING, "5+", nullable="5+"),
                F("read_only", BOOL, "5+"),
                F("config_source", INT8, "5+", default=-1),
                F("is_sensitive", BOOL, "5+"),
            ], "5+", nullable="5+"),
        ]),
    ],
)

DELETE_TOPICS = API(
    ApiKey.DELETE_TOPICS,
    "0-6",
    flexible="4+",
    request=[
        F("topics", [
            F("name", STRING, "6+", nullable="6+"),
            F("topic_id", UUID, "6+"),
        ], "6+"),
        F("topic_names", Array(STRING), "0-5"),
        F("timeout_ms", INT32),
    ],
    response=[
        F("throttle_time_ms", INT32, "1+"),
        F("responses", [
            F("name", STRING, nullable="6+"),
            F("topic_id", UUID, "6+"),
            F("error_code", INT16),
            F("error_message", STRING, "5+", nullable="5+"),
        ]),
    ],
)

CREATE_PARTITIONS = API(
    ApiKey.CREATE_PARTITIONS,
    "0-3",
    flexible="2+",
    request=[
        F("topics", [
            F("name", STRING),
            F("count", INT32),
            F("assignments", [
                F("broker_ids", Array(INT32)),
            ], nullable="0+"),
        ]),
        F("timeout_ms", INT32),
        F("validate_only", BOOL),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("results", [
            F("name", STRING),
            F("error_code", INT16),
            F("error_message", STRING, nullable="0+"),
        ]),
    ],
)

ELECT_LEADERS = API(
    ApiKey.ELECT_LEADERS,
    "0-2",
    flexible="2+",
    request=[
        F("election_type", INT8, "1+"),
        F("topic_partitions", [
            F("topic", STRING),
            F("partitions", Array(INT32)),
        ], nullable="0+"),
        F("timeout_ms", INT32, default=60000),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("error_code", INT16, "1+"),
        F("replica_election_results", [
            F("topic", STRING),
            F("partition_result", [
                F("partition_id", INT32),
                F("error_code", INT16),
                F("error_message", STRING, nullable="0+"),
            ]),
        ]),
    ],
)
