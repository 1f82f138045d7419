"""DescribeLogDirs: the log directories of a broker and the partition replicas each one holds."""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import BOOL, INT16, INT32, INT64, STRING
from ..schema import API, Array, F

DESCRIBE_LOG_DIRS = API(
    ApiKey.DESCRIBE_LOG_DIRS,
    "0-4",
    flexible="2+",
    request=[
        F("topics", [  # null: every partition with a log on the broker
            F("topic", STRING),
            F("partitions", Array(INT32)),
        ], nullable="0+", default=None),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("error_code", INT16, "3+"),
        F("results", [
            F("error_code", INT16),
            F("log_dir", STRING),
            F("topics", [
                F("name", STRING),
                F("partitions", [
                    F("partition_index", INT32),
                    F("partition_size", INT64),
                    F("offset_lag", INT64),
                    F("is_future_key", BOOL),
                ]),
            ]),
            F("total_bytes", INT64, "4+", default=-1),
            F("usable_bytes", INT64, "4+", default=-1),
        ]),
    ],
)
