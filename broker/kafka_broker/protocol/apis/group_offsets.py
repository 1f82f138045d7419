"""OffsetCommit, OffsetFetch and OffsetDelete: the positions consumer groups store in __consumer_offsets."""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import BOOL, INT16, INT32, INT64, STRING
from ..schema import API, Array, F

OFFSET_COMMIT = API(
    ApiKey.OFFSET_COMMIT,
    "1-9",  # v0 commits to ZooKeeper in Kafka: not served; v9 (KIP-848) is v8
    flexible="8+",
    request=[
        F("group_id", STRING),
        F("generation_id_or_member_epoch", INT32, "1+", default=-1),
        F("member_id", STRING, "1+"),
        F("group_instance_id", STRING, "7+", nullable="7+"),
        F("retention_time_ms", INT64, "2-4", default=-1),
        F("topics", [
            F("name", STRING),
            F("partitions", [
                F("partition_index", INT32),
                F("committed_offset", INT64),
                F("committed_leader_epoch", INT32, "6+", default=-1),
                F("commit_timestamp", INT64, "1", default=-1),
                F("committed_metadata", STRING, nullable="0+"),
            ]),
        ]),
    ],
    response=[
        F("throttle_time_ms", INT32, "3+"),
        F("topics", [
            F("name", STRING),
            F("partitions", [
                F("partition_index", INT32),
                F("error_code", INT16),
            ]),
        ]),
    ],
)

OFFSET_FETCH = API(
    ApiKey.OFFSET_FETCH,
    "1-9",  # v0 reads ZooKeeper in Kafka: not served; v9 (KIP-848) adds the member id and epoch
    flexible="6+",
    request=[
        F("group_id", STRING, "0-7"),
        F("topics", [
            F("name", STRING, "0-7"),
            F("partition_indexes", Array(INT32), "0-7"),
        ], "0-7", nullable="2-7"),
        F("groups", [
            F("group_id", STRING, "8+"),
            F("member_id", STRING, "9+", nullable="9+"),
            F("member_epoch", INT32, "9+", default=-1),
            F("topics", [
                F("name", STRING, "8+"),
                F("partition_indexes", Array(INT32), "8+"),
            ], "8+", nullable="8+"),
        ], "8+"),
        F("require_stable", BOOL, "7+"),
    ],
    response=[
        F("throttle_time_ms", INT32, "3+"),
        F("topics", [
            F("name", STRING, "0-7"),
            F("partitions", [
                F("partition_index", INT32, "0-7"),
                F("committed_offset", INT64, "0-7"),
                F("committed_leader_epoch", INT32, "5-7", default=-1),
                F("metadata", STRING, "0-7", nullable="0-7"),
                F("error_code", INT16, "0-7"),
            ], "0-7"),
        ], "0-7"),
        F("error_code", INT16, "2-7"),
        F("groups", [
            F("group_id", STRING, "8+"),
            F("topics", [
                F("name", STRING, "8+"),
                F("partitions", [
                    F("partition_index", INT32, "8+"),
                    F("committed_offset", INT64, "8+"),
                    F("committed_leader_epoch", INT32, "8+", default=-1),
                    F("metadata", STRING, "8+", nullable="8+"),
                    F("error_code", INT16, "8+"),
                ], "8+"),
            ], "8+"),
            F("error_code", INT16, "8+"),
        ], "8+"),
    ],
)

OFFSET_DELETE = API(
    ApiKey.OFFSET_DELETE,
    "0",
    flexible=None,
    request=[
        F("group_id", STRING),
        F("topics", [
            F("name", STRING),
            F("partitions", [
                F("partition_index", INT32),
            ]),
        ]),
    ],
    response=[
        F("error_code", INT16),
        F("throttle_time_ms", INT32),
        F("topics", [
            F("name", STRING),
            F("partitions", [
                F("partition_index", INT32),
                F("error_code", INT16),
            ]),
        ]),
    ],
)
