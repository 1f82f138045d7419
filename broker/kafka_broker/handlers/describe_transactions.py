"""DescribeTransactions (KIP-664): the state of transactional ids (``kafka-transactions.sh describe``).

kopfka serves no transactions: every transactional id is answered as a Kafka coordinator answers one it
does not know, TRANSACTIONAL_ID_NOT_FOUND, and an empty id INVALID_REQUEST, the other fields at their
zero defaults, as Kafka leaves them.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode

API = ApiKey.DESCRIBE_TRANSACTIONS
VERSIONS = (0, 0)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    states = [
        {"error_code": ErrorCode.TRANSACTIONAL_ID_NOT_FOUND if transactional_id else ErrorCode.INVALID_REQUEST,
         "transactional_id": transactional_id, "transaction_state": "", "transaction_timeout_ms": 0,
         "transaction_start_time_ms": 0, "producer_id": 0, "producer_epoch": 0, "topics": []}
        for transactional_id in request["transactional_ids"]
    ]
    return {"throttle_time_ms": 0, "transaction_states": states}
