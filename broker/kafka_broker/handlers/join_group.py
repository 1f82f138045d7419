"""JoinGroup: a member joins (or rejoins) a group and waits for the join phase to end.

From v4 a member without an id is first given one with MEMBER_ID_REQUIRED and must join again
with it (KIP-394); static members (``group_instance_id``, v5+) are exempt. The answer to the
leader lists every member's protocol metadata; the leader then computes the assignment.

Joining needs READ on the group (else GROUP_AUTHORIZATION_FAILED with Kafka's error fields), as Kafka's.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.authorization import authorize
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.JOIN_GROUP
VERSIONS = (0, 9)


def client_host(ctx: RequestContext) -> str:
    """Kafka's form of the member's address: ``/127.0.0.1``."""
    return "/" + ctx.peer.rsplit(":", 1)[0] if ctx.peer else ""


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    groups = ctx.services.groups
    member_id = request["member_id"] or ""
    if not authorize(ctx, AclOperation.READ, ResourceType.GROUP, request["group_id"] or ""):
        return _response(ctx, ErrorCode.GROUP_AUTHORIZATION_FAILED, member_id="")
    if groups is None:
        return _response(ctx, ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id=member_id)
    result = await groups.join_group(
        group_id=request["group_id"] or "",
        member_id=member_id,
        group_instance_id=request.get("group_instance_id"),
        client_id=ctx.header.client_id or "",
        client_host=client_host(ctx),
        session_timeout_ms=request["session_timeout_ms"],
        rebalance_timeout_ms=request.get("rebalance_timeout_ms", -1) if ctx.version >= 1 else -1,
        protocol_type=request["protocol_type"] or "",
        protocols=[(p["name"], bytes(p["metadata"] or b"")) for p in request["protocols"]],
        require_known_member_id=ctx.version >= 4,
    )
    return _response(
        ctx, result.error, member_id=result.member_id, generation_id=result.generation_id,
        protocol_type=result.protocol_type, protocol_name=result.protocol_name, leader=result.leader,
        skip_assignment=result.skip_assignment,
        members=[{"member_id": m, "group_instance_id": i, "metadata": md} for m, i, md in result.members],
    )


def _response(ctx: RequestContext, code: int, *, member_id: str, generation_id: int = -1,
              protocol_type: str | None = None, protocol_name: str | None = None, leader: str = "",
              skip_assignment: bool = False, members: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    nullable = ctx.version >= 7
    return {
        "throttle_time_ms": 0,
        "error_code": code,
        "generation_id": generation_id,
        "protocol_type": protocol_type,
        "protocol_name": protocol_name if nullable else (protocol_name or ""),
        "leader": leader,
        "skip_assignment": skip_assignment,
        "member_id": member_id,
        "members": members or [],
    }
