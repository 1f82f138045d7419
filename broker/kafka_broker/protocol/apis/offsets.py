"""ListOffsets, OffsetForLeaderEpoch and DeleteRecords: questions about and changes to partition offsets."""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import INT8, INT16, INT32, INT64, STRING
from ..schema import API, Array, F

LIST_OFFSETS = API(
    ApiKey.LIST_OFFSETS,
    "0-9",  # v8 (KIP-405) and v9 (KIP-1005) only add timestamps -4 and -5 to what v7 asks
    flexible="6+",
    request=[
        F("replica_id", INT32),
        F("isolation_level", INT8, "2+"),
        F("topics", [
            F("name", STRING),
            F("partitions", [
                F("partition_index", INT32),
                F("current_leader_epoch", INT32, "4+", default=-1),
                F("timestamp", INT64),
                F("max_num_offsets", INT32, "0", default=1),
            ]),
        ]),
    ],
    response=[
        F("throttle_time_ms", INT32, "2+"),
        F("topics", [
            F("name", STRING),
            F("partitions", [
                F("partition_index", INT32),
                F("error_code", INT16),
                F("old_style_offsets", Array(INT64), "0"),
                F("timestamp", INT64, "1+", default=-1),
                F("offset", INT64, "1+", default=-1),
                F("leader_epoch", INT32, "4+", default=-1),
            ]),
        ]),
    ],
)

OFFSET_FOR_LEADER_EPOCH = API(
    ApiKey.OFFSET_FOR_LEADER_EPOCH,
    "0-4",
    flexible="4+",
    request=[
        F("replica_id", INT32, "3+", default=-2),
        F("topics", [
            F("topic", STRING),
            F("partitions", [
                F("partition", INT32),
                F("current_leader_epoch", INT32, "2+", default=-1),
                F("leader_epoch", INT32),
            ]),
        ]),
    ],
    response=[
        F("throttle_time_ms", INT32, "2+"),
        F("topics", [
            F("topic", STRING),
            F("partitions", [
                F("error_code", INT16),
                F("partition", INT32),
                F("leader_epoch", INT32, "1+", default=-1),
                F("end_offset", INT64, default=-1),
            ]),
        ]),
    ],
)

DELETE_RECORDS = API(
    ApiKey.DELETE_RECORDS,
    "0-2",
    flexible="2+",
    request=[
        F("topics", [
            F("name", STRING),
            F("partitions", [
                F("partition_index", INT32),
                F("offset", INT64),
            ]),
        ]),
        F("timeout_ms", INT32),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("topics", [
            F("name", STRING),
            F("partitions", [
                F("partition_index", INT32),
                F("low_watermark", INT64),
                F("error_code", INT16),
            ]),
        ]),
    ],
)
