"""OffsetCommit: store a group's consumed positions in ``__consumer_offsets``.

Members of a group commit with their generation and member id; a consumer that manages its own
partitions commits with generation -1 to an Empty (or new) group. ``retention_time_ms`` (v2-4) is
accepted and ignored, as Kafka does since 2.1, and so is v1's per-partition ``commit_timestamp``. v0
(which Kafka stores in ZooKeeper) is not served; v9 (KIP-848) is v8 for classic groups.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.coordinator.group import CommittedOffset
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode

API = ApiKey.OFFSET_COMMIT
VERSIONS = (1, 9)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    groups = ctx.services.groups
    offsets = {
        (t["name"], p["partition_index"]): CommittedOffset(p["committed_offset"], p.get("committed_leader_epoch", -1),
                                                           p.get("committed_metadata") or "")
        for t in request["topics"] for p in t["partitions"]
    }
    results: dict[tuple[str, int], int]
    if groups is None:
        results = dict.fromkeys(offsets, ErrorCode.COORDINATOR_NOT_AVAILABLE)
    else:
        results = await groups.commit_offsets(
            group_id=request["group_id"] or "", generation_id=request.get("generation_id_or_member_epoch", -1),
            member_id=request.get("member_id") or "", group_instance_id=request.get("group_instance_id"),
            offsets=offsets)
    return {
        "throttle_time_ms": 0,
        "topics": [
            {"name": t["name"], "partitions": [
                {"partition_index": p["partition_index"],
                 "error_code": results.get((t["name"], p["partition_index"]), ErrorCode.NONE)}
                for p in t["partitions"]]}
            for t in request["topics"]
        ],
    }
