"""Fetch: consumers and follower replicas reading record batches from partition leaders.

v0-v3 are declared so that their requests can be answered (UNSUPPORTED_VERSION per partition: they
carry magic 0/1 message sets, which we do not down-convert); v13+ name topics by id, v15 moves the
replica id into the tagged ``replica_state`` (KIP-903), v16 adds ``node_endpoints`` (KIP-951) and v17
the replica's log directory (KIP-853).
"""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import INT8, INT16, INT32, INT64, RECORDS, STRING, UUID
from ..schema import API, Array, F, Struct

FETCH = API(
    ApiKey.FETCH,
    "0-17",
    flexible="12+",
    request=[
        F("cluster_id", STRING, "12+", nullable="12+", tag=0),
        F("replica_id", INT32, "0-14", default=-1),
        F("replica_state", Struct(
            F("replica_id", INT32, "15+", default=-1),
            F("replica_epoch", INT64, "15+", default=-1),
        ), "15+", tag=1),
        F("max_wait_ms", INT32),
        F("min_bytes", INT32),
        F("max_bytes", INT32, "3+", default=0x7FFFFFFF),
        F("isolation_level", INT8, "4+"),
        F("session_id", INT32, "7+"),
        F("session_epoch", INT32, "7+", default=-1),
        F("topics", [
            F("topic", STRING, "0-12"),
            F("topic_id", UUID, "13+"),
            F("partitions", [
                F("partition", INT32),
                F("current_leader_epoch", INT32, "9+", default=-1),
                F("fetch_offset", INT64),
                F("last_fetched_epoch", INT32, "12+", default=-1),
                F("log_start_offset", INT64, "5+", default=-1),
                F("partition_max_bytes", INT32),
                F("replica_directory_id", UUID, "17+", tag=0),
            ]),
        ]),
        F("forgotten_topics_data", [
            F("topic", STRING, "7-12"),
            F("topic_id", UUID, "13+"),
            F("partitions", Array(INT32), "7+"),
        ], "7+"),
        F("rack_id", STRING, "11+"),
    ],
    response=[
        F("throttle_time_ms", INT32, "1+"),
        F("error_code", INT16, "7+"),
        F("session_id", INT32, "7+"),
        F("responses", [
            F("topic", STRING, "0-12"),
            F("topic_id", UUID, "13+"),
            F("partitions", [
                F("partition_index", INT32),
                F("error_code", INT16),
                F("high_watermark", INT64),
                F("last_stable_offset", INT64, "4+", default=-1),
                F("log_start_offset", INT64, "5+", default=-1),
                F("diverging_epoch", Struct(
                    F("epoch", INT32, "12+", default=-1),
                    F("end_offset", INT64, "12+", default=-1),
                ), "12+", tag=0),
                F("current_leader", Struct(
                    F("leader_id", INT32, "12+", default=-1),
                    F("leader_epoch", INT32, "12+", default=-1),
                ), "12+", tag=1),
                F("snapshot_id", Struct(
                    F("end_offset", INT64, default=-1),
                    F("epoch", INT32, default=-1),
                ), "12+", tag=2),
                F("aborted_transactions", [
                    F("producer_id", INT64, "4+"),
                    F("first_offset", INT64, "4+"),
                ], "4+", nullable="4+"),
                F("preferred_read_replica", INT32, "11+", default=-1),
                F("records", RECORDS, nullable="0+"),
            ]),
        ]),
        F("node_endpoints", [
            F("node_id", INT32, "16+"),
            F("host", STRING, "16+"),
            F("port", INT32, "16+"),
            F("rack", STRING, "16+", nullable="16+"),
        ], "16+", tag=0),
    ],
)
