"""OffsetCommit: store a group's consumed positions in ``__consumer_offsets``.

Members of a group commit with their generation and member id; a consumer that manages its own
partitions commits with generation -1 to an Empty (or new) group. ``retention_time_ms`` (v2-4) is
accepted and ignored, as Kafka does since 2.1, and so is v1's per-partition ``commit_timestamp``. v0
(which Kafka stores in ZooKeeper) is not served; v9 (KIP-848) is v8 for classic groups.

Committing needs READ on the group (else every partition answers GROUP_AUTHORIZATION_FAILED) and READ on each
topic (else its partitions answer TOPIC_AUTHORIZATION_FAILED and are not committed), as Kafka's.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.coordinator.group import CommittedOffset
from kafka_broker.handlers.authorization import authorize, authorized_names
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.OFFSET_COMMIT
VERSIONS = (1, 9)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    groups = ctx.services.groups
    if not authorize(ctx, AclOperation.READ, ResourceType.GROUP, request["group_id"] or ""):
        return _answer(request, {}, ErrorCode.GROUP_AUTHORIZATION_FAILED)
    readable = authorized_names(ctx, AclOperation.READ, ResourceType.TOPIC, (t["name"] for t in request["topics"]))
    offsets = {
        (t["name"], p["partition_index"]): CommittedOffset(p["committed_offset"], p.get("committed_leader_epoch", -1),
                                                           p.get("committed_metadata") or "")
        for t in request["topics"] if t["name"] in readable for p in t["partitions"]
    }
    results: dict[tuple[str, int], int]
    if not offsets:
        results = {}
    elif groups is None:
        results = dict.fromkeys(offsets, ErrorCode.COORDINATOR_NOT_AVAILABLE)
    else:
        results = await groups.commit_offsets(
            group_id=request["group_id"] or "", generation_id=request.get("generation_id_or_member_epoch", -1),
            member_id=request.get("member_id") or "", group_instance_id=request.get("group_instance_id"),
            offsets=offsets)
    for t in request["topics"]:
        if t["name"] not in readable:
            results.update({(t["name"], p["partition_index"]): ErrorCode.TOPIC_AUTHORIZATION_FAILED
                            for p in t["partitions"]})
    return _answer(request, results, ErrorCode.NONE)


def _answer(request: dict[str, Any], results: dict[tuple[str, int], int], default: int) -> dict[str, Any]:
    """Every partition of the request with its result (``default`` where it has none)."""
    return {
        "throttle_time_ms": 0,
        "topics": [
            {"name": t["name"], "partitions": [
                {"partition_index": p["partition_index"],
                 "error_code": results.get((t["name"], p["partition_index"]), default)}
                for p in t["partitions"]]}
            for t in request["topics"]
        ],
    }
