"""OffsetDelete: drop a group's committed offsets for partitions of topics it does not subscribe to."""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode

API = ApiKey.OFFSET_DELETE
VERSIONS = (0, 0)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    groups = ctx.services.groups
    wanted = [(t["name"], p["partition_index"]) for t in request["topics"] for p in t["partitions"]]
    code: int
    errors: dict[tuple[str, int], int]
    if groups is None:
        code, errors = ErrorCode.COORDINATOR_NOT_AVAILABLE, {}
    else:
        code, errors = await groups.delete_offsets(request["group_id"] or "", wanted)
    return {
        "error_code": code,
        "throttle_time_ms": 0,
        "topics": [
            {"name": t["name"], "partitions": [
                {"partition_index": p["partition_index"],
                 "error_code": errors.get((t["name"], p["partition_index"]), ErrorCode.NONE)}
                for p in t["partitions"]]}
            for t in request["topics"]
        ] if code == ErrorCode.NONE else [],
    }
