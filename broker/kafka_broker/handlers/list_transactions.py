"""ListTransactions (KIP-664): the transactions this broker coordinates (``kafka-transactions.sh list``).

kopfka serves no transactions, so the answer is the one of a Kafka transaction coordinator that has loaded
its partitions and holds no transactional id: no error, no transaction; state filters that name no
transaction state of Kafka's come back as ``unknown_state_filters``, as Kafka reports them. (Kafka leaves out the
transactions whose id the principal may not DESCRIBE: none is listed here.)
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode

API = ApiKey.LIST_TRANSACTIONS
VERSIONS = (0, 1)

TRANSACTION_STATES = frozenset({"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit",
                                "CompleteAbort", "Dead", "PrepareEpochFence"})
"""Kafka's transaction state names (``TransactionState.AllStates``)."""


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    unknown = [name for name in dict.fromkeys(request.get("state_filters") or ()) if name not in TRANSACTION_STATES]
    return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "unknown_state_filters": unknown,
            "transaction_states": []}
