"""OffsetFetch: a group's committed positions (-1 where nothing was committed).

v1 carries coordinator errors per partition; v2-7 at the top and v8 per group of a batch, with no
partitions (as Kafka answers them).
A null topic list (v2+) asks for every partition the group has committed. v9's member id and epoch
(KIP-848 consumer groups) are not checked: every group here is a classic group. v0 (which Kafka reads
from ZooKeeper) is not served.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError

API = ApiKey.OFFSET_FETCH
VERSIONS = (1, 9)


def _fetch(ctx: RequestContext, group_id: str, topics: list[dict[str, Any]] | None) -> tuple[int, list[dict[str, Any]]]:
    """(group error, topics of the response)."""
    wanted = None if topics is None else [(t["name"], p) for t in topics for p in t["partition_indexes"]]
    groups = ctx.services.groups
    code = ErrorCode.NONE
    try:
        if groups is None:
            raise KafkaError(code=ErrorCode.COORDINATOR_NOT_AVAILABLE)
        found = groups.fetch_offsets(group_id, wanted)
    except KafkaError as exc:
        code = exc.code
        # v1 has no group-level error: each partition carries it. From v2 the group's error stands alone.
        found = dict.fromkeys(wanted or []) if ctx.version < 2 else {}
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for (topic, partition), committed in found.items():
        by_topic.setdefault(topic, []).append({
            "partition_index": partition,
            "committed_offset": -1 if committed is None else committed.offset,
            "committed_leader_epoch": -1 if committed is None else committed.leader_epoch,
            "metadata": "" if committed is None else committed.metadata,
            "error_code": code if ctx.version < 2 else ErrorCode.NONE,
        })
    return code, [{"name": t, "partitions": parts} for t, parts in by_topic.items()]


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    if ctx.version >= 8:
        out = []
        for group in request["groups"]:
            code, topics = _fetch(ctx, group["group_id"] or "", group.get("topics"))
            out.append({"group_id": group["group_id"], "topics": topics, "error_code": code})
        return {"throttle_time_ms": 0, "groups": out}
    code, topics = _fetch(ctx, request["group_id"] or "", request.get("topics"))
    return {"throttle_time_ms": 0, "topics": topics, "error_code": code}
