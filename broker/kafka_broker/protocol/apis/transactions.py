"""DescribeProducers, DescribeTransactions and ListTransactions: the admin view of producers (KIP-664).

The two transaction APIs are answered as by a Kafka broker whose transaction coordinator knows no
transactional id (kopfka does not serve transactions).
"""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import INT16, INT32, INT64, STRING
from ..schema import API, Array, F

DESCRIBE_PRODUCERS = API(
    ApiKey.DESCRIBE_PRODUCERS,
    "0",
    flexible="0+",
    request=[
        F("topics", [
            F("name", STRING),
            F("partition_indexes", Array(INT32)),
        ]),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("topics", [
            F("name", STRING),
            F("partitions", [
                F("partition_index", INT32),
                F("error_code", INT16),
                F("error_message", STRING, nullable="0+"),
                F("active_producers", [
                    F("producer_id", INT64),
                    F("producer_epoch", INT32),
                    F("last_sequence", INT32, default=-1),
                    F("last_timestamp", INT64, default=-1),
                    F("coordinator_epoch", INT32),
                    F("current_txn_start_offset", INT64, default=-1),
                ]),
            ]),
        ]),
    ],
)

DESCRIBE_TRANSACTIONS = API(
    ApiKey.DESCRIBE_TRANSACTIONS,
    "0",
    flexible="0+",
    request=[
        F("transactional_ids", Array(STRING)),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("transaction_states", [
            F("error_code", INT16),
            F("transactional_id", STRING),
            F("transaction_state", STRING),
            F("transaction_timeout_ms", INT32),
            F("transaction_start_time_ms", INT64),
            F("producer_id", INT64),
            F("producer_epoch", INT16),
            F("topics", [
                F("topic", STRING),
                F("partitions", Array(INT32)),
            ]),
        ]),
    ],
)

LIST_TRANSACTIONS = API(
    ApiKey.LIST_TRANSACTIONS,
    "0-1",
    flexible="0+",
    request=[
        F("state_filters", Array(STRING)),
        F("producer_id_filters", Array(INT64)),
        F("duration_filter", INT64, "1+", default=-1),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("error_code", INT16),
        F("unknown_state_filters", Array(STRING)),
        F("transaction_states", [
            F("transactional_id", STRING),
            F("producer_id", INT64),
            F("transaction_state", STRING),
        ]),
    ],
)
