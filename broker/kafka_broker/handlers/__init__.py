"""One handler per API: ``async def handle(request: dict, ctx: RequestContext) -> dict | None``.

Each module names its ``API`` key and the ``VERSIONS`` it serves; :data:`HANDLERS` is the table
the server dispatches from and ApiVersions advertises — exactly what is implemented here.
A handler returning ``None`` sends no response (Produce with ``acks=0``); one raising
:class:`~kafka_broker.handlers.context.CloseConnection` sends none and has the connection closed
(a failed ``acks=0`` Produce, as Kafka does).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from kafka_broker.handlers import (
    alter_client_quotas,
    alter_configs,
    alter_partition_reassignments,
    alter_user_scram_credentials,
    api_versions,
    create_acls,
    create_partitions,
    create_topics,
    delete_acls,
    delete_groups,
    delete_records,
    delete_topics,
    describe_acls,
    describe_client_quotas,
    describe_cluster,
    describe_configs,
    describe_groups,
    describe_log_dirs,
    describe_producers,
    describe_transactions,
    describe_user_scram_credentials,
    elect_leaders,
    fetch,
    find_coordinator,
    heartbeat,
    incremental_alter_configs,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    list_partition_reassignments,
    list_transactions,
    metadata,
    offset_commit,
    offset_delete,
    offset_fetch,
    offset_for_leader_epoch,
    produce,
    sasl_authenticate,
    sasl_handshake,
    sync_group,
)
from kafka_broker.handlers.context import BrokerServices, CloseConnection, RequestContext

Handler = Callable[[dict[str, Any], RequestContext], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class Route:
    api_key: int
    min_version: int
    max_version: int
    handle: Handler


def _route(module: ModuleType) -> Route:
    low, high = module.VERSIONS
    return Route(int(module.API), low, high, module.handle)


HANDLER_MODULES: list[ModuleType] = [
    produce,
    fetch,
    list_offsets,
    metadata,
    api_versions,
    create_topics,
    delete_topics,
    create_partitions,
    describe_configs,
    incremental_alter_configs,
    alter_configs,
    describe_cluster,
    offset_for_leader_epoch,
    init_producer_id,
    find_coordinator,
    join_group,
    sync_group,
    heartbeat,
    leave_group,
    offset_commit,
    offset_fetch,
    list_groups,
    describe_groups,
    delete_groups,
    offset_delete,
    describe_client_quotas,
    alter_client_quotas,
    describe_acls,
    create_acls,
    delete_acls,
    describe_user_scram_credentials,
    alter_user_scram_credentials,
    delete_records,
    describe_log_dirs,
    describe_producers,
    list_transactions,
    describe_transactions,
    elect_leaders,
    alter_partition_reassignments,
    list_partition_reassignments,
    sasl_handshake,
    sasl_authenticate,
]

HANDLERS: dict[int, Route] = {route.api_key: route for route in map(_route, HANDLER_MODULES)}
"""The dispatch table: API key → the versions served and the handler."""

__all__ = ["HANDLERS", "BrokerServices", "CloseConnection", "RequestContext", "Route"]
