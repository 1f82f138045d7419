"""Metadata and DescribeCluster: which brokers exist, and who leads each partition."""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import BOOL, INT8, INT16, INT32, STRING, UUID
from ..schema import API, Array, F

NO_AUTHORIZED_OPERATIONS = -(2**31)
"""Kafka's default for the authorized-operations bitfields: "not requested"."""

METADATA = API(
    ApiKey.METADATA,
    "0-12",
    flexible="9+",
    request=[
        F("topics", [
            F("topic_id", UUID, "10+"),
            F("name", STRING, nullable="10+"),
        ], nullable="1+"),
        F("allow_auto_topic_creation", BOOL, "4+", default=True),
        F("include_cluster_authorized_operations", BOOL, "8-10"),
        F("include_topic_authorized_operations", BOOL, "8+"),
    ],
    response=[
        F("throttle_time_ms", INT32, "3+"),
        F("brokers", [
            F("node_id", INT32),
            F("host", STRING),
            F("port", INT32),
            F("rack", STRING, "1+", nullable="1+"),
        ]),
        F("cluster_id", STRING, "2+", nullable="2+"),
        F("controller_id", INT32, "1+", default=-1),
        F("topics", [
            F("error_code", INT16),
            F("name", STRING, nullable="12+"),
            F("topic_id", UUID, "10+"),
            F("is_internal", BOOL, "1+"),
            F("partitions", [
                F("error_code", INT16),
                F("partition_index", INT32),
                F("leader_id", INT32),
                F("leader_epoch", INT32, "7+", default=-1),
                F("replica_nodes", Array(INT32)),
                F("isr_nodes", Array(INT32)),
                F("offline_replicas", Array(INT32), "5+"),
            ]),
            F("topic_authorized_operations", INT32, "8+", default=NO_AUTHORIZED_OPERATIONS),
        ]),
        F("cluster_authorized_operations", INT32, "8-10", default=NO_AUTHORIZED_OPERATIONS),
    ],
)

DESCRIBE_CLUSTER = API(
    ApiKey.DESCRIBE_CLUSTER,
    "0-1",
    flexible="0+",
    request=[
        F("include_cluster_authorized_operations", BOOL),
        F("endpoint_type", INT8, "1+", default=1),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("error_code", INT16),
        F("error_message", STRING, nullable="0+"),
        F("endpoint_type", INT8, "1+", default=1),
        F("cluster_id", STRING),
        F("controller_id", INT32, default=-1),
        F("brokers", [
            F("broker_id", INT32),
            F("host", STRING),
            F("port", INT32),
            F("rack", STRING, nullable="0+"),
        ]),
        F("cluster_authorized_operations", INT32, default=NO_AUTHORIZED_OPERATIONS),
    ],
)
