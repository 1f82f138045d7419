"""DescribeTransactions (KIP-664): the state of transactional ids (``kafka-transactions.sh describe``).

kopfka serves no transactions: every transactional id is answered as a Kafka coordinator answers one it
does not know, TRANSACTIONAL_ID_NOT_FOUND, and an empty id INVALID_REQUEST, the other fields at their
zero defaults, as Kafka leaves them — after the check Kafka makes first: an id the principal may not DESCRIBE
answers TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.authorization import authorize
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.DESCRIBE_TRANSACTIONS
VERSIONS = (0, 0)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    states = [
        {"error_code": _error(ctx, transactional_id), "transactional_id": transactional_id, "transaction_state": "",
         "transaction_timeout_ms": 0, "transaction_start_time_ms": 0, "producer_id": 0, "producer_epoch": 0,
         "topics": []}
        for transactional_id in request["transactional_ids"]
    ]
    return {"throttle_time_ms": 0, "transaction_states": states}


def _error(ctx: RequestContext, transactional_id: str) -> ErrorCode:
    if not authorize(ctx, AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, transactional_id):
        return ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    return ErrorCode.TRANSACTIONAL_ID_NOT_FOUND if transactional_id else ErrorCode.INVALID_REQUEST
