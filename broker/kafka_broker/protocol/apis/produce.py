"""Produce and InitProducerId: writing record batches, and the producer ids that make them idempotent."""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import INT16, INT32, INT64, RECORDS, STRING
from ..schema import API, F, Struct

PRODUCE = API(
    ApiKey.PRODUCE,
    "0-11",  # v0-v2 (magic 0/1 message sets) are refused per partition; v10 (KIP-951) and v11 (KIP-890)
    # send what v9 sends; v10 adds two tagged response fields
    flexible="9+",
    request=[
        F("transactional_id", STRING, "3+", nullable="3+"),
        F("acks", INT16),
        F("timeout_ms", INT32),
        F("topic_data", [
            F("name", STRING),
            F("partition_data", [
                F("index", INT32),
                F("records", RECORDS, nullable="0+"),
            ]),
        ]),
    ],
    response=[
        F("responses", [
            F("name", STRING),
            F("partition_responses", [
                F("index", INT32),
                F("error_code", INT16),
                F("base_offset", INT64),
                F("log_append_time_ms", INT64, "2+", default=-1),
                F("log_start_offset", INT64, "5+", default=-1),
                F("record_errors", [
                    F("batch_index", INT32, "8+"),
                    F("batch_index_error_message", STRING, "8+", nullable="8+"),
                ], "8+"),
                F("error_message", STRING, "8+", nullable="8+"),
                F("current_leader", Struct(
                    F("leader_id", INT32, "10+", default=-1),
                    F("leader_epoch", INT32, "10+", default=-1),
                ), "10+", tag=0),
            ]),
        ]),
        F("throttle_time_ms", INT32, "1+"),
        F("node_endpoints", [
            F("node_id", INT32, "10+"),
            F("host", STRING, "10+"),
            F("port", INT32, "10+"),
            F("rack", STRING, "10+", nullable="10+"),
        ], "10+", tag=0),
    ],
)

INIT_PRODUCER_ID = API(
    ApiKey.INIT_PRODUCER_ID,
    "0-5",  # v5 (KIP-890) is v4
    flexible="2+",
    request=[
        F("transactional_id", STRING, nullable="0+"),
        F("transaction_timeout_ms", INT32),
        F("producer_id", INT64, "3+", default=-1),
        F("producer_epoch", INT16, "3+", default=-1),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("error_code", INT16),
        F("producer_id", INT64, default=-1),
        F("producer_epoch", INT16),
    ],
)
