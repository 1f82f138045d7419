"""FindCoordinator: which broker coordinates a group (the leader of its ``__consumer_offsets`` partition).

v4 looks up a batch of keys at once. Transactions are not supported: a transactional key (key type 1)
is answered with COORDINATOR_NOT_AVAILABLE, and so is a share-group key (key type 2, v6+; before v6
it is INVALID_REQUEST), as Kafka 3.9 answers it. An error answer carries node -1, host "" and port -1
(Kafka's ``Node.noNode``); a successful one always names a registered broker with a host and a port.
The first lookup creates ``__consumer_offsets``.

A key is looked up only if the principal may DESCRIBE it, as Kafka's: a group (else GROUP_AUTHORIZATION_FAILED),
a transactional id (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED); a share key (v6) needs CLUSTER_ACTION on the
cluster (else CLUSTER_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.authorization import authorize, cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.handlers.metadata import endpoint
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.FIND_COORDINATOR
VERSIONS = (0, 6)


GROUP_KEY_TYPE, TRANSACTION_KEY_TYPE, SHARE_KEY_TYPE = 0, 1, 2
FIRST_SHARE_VERSION = 6


async def _find(ctx: RequestContext, key: str, key_type: int) -> tuple[int, int, str, int]:
    if key_type == GROUP_KEY_TYPE and not authorize(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, key):
        return ErrorCode.GROUP_AUTHORIZATION_FAILED, -1, "", -1
    if key_type == TRANSACTION_KEY_TYPE and not authorize(ctx, AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID,
                                                          key):
        return ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1, "", -1
    if key_type == SHARE_KEY_TYPE and ctx.version < FIRST_SHARE_VERSION:
        return ErrorCode.INVALID_REQUEST, -1, "", -1
    if key_type == SHARE_KEY_TYPE and not cluster_authorized(ctx, AclOperation.CLUSTER_ACTION):
        return ErrorCode.CLUSTER_AUTHORIZATION_FAILED, -1, "", -1
    groups = ctx.services.groups
    if groups is None:
        return ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, "", -1
    code, node = await groups.find_coordinator(key, key_type)
    if code != ErrorCode.NONE:
        return code, -1, "", -1
    broker = ctx.services.cache.brokers.get(node)
    address = None if broker is None else endpoint(broker, ctx.listener)
    if address is None:
        return ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, "", -1  # never an address clients cannot dial
    return code, node, *address


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    key_type = request.get("key_type", 0)
    if ctx.version >= 4:
        coordinators = []
        for key in request.get("coordinator_keys") or []:
            code, node, host, port = await _find(ctx, key, key_type)
            coordinators.append({"key": key, "node_id": node, "host": host, "port": port, "error_code": code,
                                 "error_message": None if code == ErrorCode.NONE else ErrorCode(code).name})
        return {"throttle_time_ms": 0, "coordinators": coordinators}
    code, node, host, port = await _find(ctx, request.get("key") or "", key_type)
    return {"throttle_time_ms": 0, "error_code": code,
            "error_message": None if code == ErrorCode.NONE else ErrorCode(code).name,
            "node_id": node, "host": host, "port": port}
