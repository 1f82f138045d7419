"""InitProducerId: a producer id (and epoch 0) for an idempotent producer.

Without a transactional id every call gets a fresh producer id from this broker's block (see
:mod:`kafka_broker.coordinator.producer_ids`) and epoch 0, as Kafka does for idempotent producers;
any broker may answer. A request with a transactional id is answered with
TRANSACTIONAL_ID_AUTHORIZATION_FAILED: transactions are not supported, and clients report that
code as a fatal, clearly worded error instead of retrying forever (COORDINATOR_NOT_AVAILABLE would
make them retry until their timeout); an empty transactional id is an INVALID_REQUEST. A request with
a producer id and epoch (v3+, an idempotent producer asking for a bump after an error) also gets a
fresh id at epoch 0, which clients accept; one with only one of the two is an INVALID_REQUEST.

Authorization first, as Kafka's: a transactional id needs WRITE on it (else
TRANSACTIONAL_ID_AUTHORIZATION_FAILED), an idempotent producer IDEMPOTENT_WRITE on the cluster or, as Kafka 3.x
allows (KIP-679), WRITE on some topic (else CLUSTER_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.authorization import authorize, authorized_for_some, cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.INIT_PRODUCER_ID
VERSIONS = (0, 5)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    transactional_id = request.get("transactional_id")
    if transactional_id is not None:
        if not authorize(ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, transactional_id):
            return _error(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    elif not (cluster_authorized(ctx, AclOperation.IDEMPOTENT_WRITE, log_denied=False)
              or authorized_for_some(ctx, AclOperation.WRITE, ResourceType.TOPIC)):
        return _error(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    if transactional_id == "":
        return _error(ErrorCode.INVALID_REQUEST)
    if transactional_id is not None:
        return _error(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    if (request.get("producer_id", -1) == -1) != (request.get("producer_epoch", -1) == -1):
        return _error(ErrorCode.INVALID_REQUEST)  # a producer id without its epoch, or the reverse (KIP-360)
    manager = ctx.services.producer_ids
    if manager is None:
        return _error(ErrorCode.COORDINATOR_NOT_AVAILABLE)
    try:
        producer_id = await manager.next_producer_id()
    except Exception:
        return _error(ErrorCode.COORDINATOR_NOT_AVAILABLE)
    return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "producer_id": producer_id, "producer_epoch": 0}


def _error(code: ErrorCode) -> dict[str, Any]:
    return {"throttle_time_ms": 0, "error_code": code, "producer_id": -1, "producer_epoch": -1}
