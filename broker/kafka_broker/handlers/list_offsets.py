"""ListOffsets: earliest (-2), latest (-1), max-timestamp (-3) or by-timestamp offsets of partitions.

"Latest" is the high watermark for consumers (what they can read) and the log end for replicas;
a timestamp lookup uses the time index and answers the first offset whose timestamp is at or
after the requested one.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError

API = ApiKey.LIST_OFFSETS
VERSIONS = (1, 7)

LATEST, EARLIEST, MAX_TIMESTAMP = -1, -2, -3


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    replicas = ctx.services.replicas
    is_replica = request.get("replica_id", -1) >= 0
    topics = []
    for treq in request["topics"]:
        results = []
        for preq in treq["partitions"]:
            index = preq["partition_index"]
            try:
                part = replicas.leader_partition(treq["name"], index, preq.get("current_leader_epoch", -1))
            except KafkaError as exc:
                results.append({"partition_index": index, "error_code": exc.code, "timestamp": -1, "offset": -1,
                                "leader_epoch": -1})
                continue
            timestamp = preq["timestamp"]
            offset, found_ts = -1, -1
            if timestamp == LATEST:
                offset = part.log.log_end_offset if is_replica else part.high_watermark
            elif timestamp == EARLIEST:
                offset = part.log.log_start_offset
            else:
                target = 0 if timestamp == MAX_TIMESTAMP else timestamp
                hit = (part.log.max_timestamp_offset() if timestamp == MAX_TIMESTAMP
                       else part.log.offset_for_timestamp(target))
                if hit is not None and (is_replica or hit[0] < part.high_watermark):
                    offset, found_ts = hit
            results.append({"partition_index": index, "error_code": ErrorCode.NONE, "timestamp": found_ts,
                            "offset": offset, "leader_epoch": part.leader_epoch,
                            "old_style_offsets": [offset]})
        topics.append({"name": treq["name"], "partitions": results})
    return {"throttle_time_ms": 0, "topics": topics}
