"""ListOffsets: earliest (-2), latest (-1), max-timestamp (-3) or by-timestamp offsets of partitions.

"Latest" is the high watermark for consumers (what they can read) and the log end for replicas;
a timestamp lookup uses the time index and answers the first offset whose timestamp is at or
after the requested one; max-timestamp (KIP-734) answers the offset and timestamp of the record with
the largest timestamp (the first such record on ties). Consumers are never answered an offset at or
above the high watermark (-1 instead), as in Kafka.

Without tiered storage, earliest-local (-4, v8+) is the log start offset and latest-tiered (-5, v9+)
is -1, as Kafka answers them for a topic without remote storage. v0 answers the same offset as a
list (``old_style_offsets``, at most ``max_num_offsets`` long) — Kafka 0.8 listed segment base offsets
for a timestamp there; a client asking for earliest or latest, which is what clients ask, gets the
same answer.

Each topic needs DESCRIBE: the partitions of the others answer TOPIC_AUTHORIZATION_FAILED, as Kafka's.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.authorization import authorized_names
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError
from kafka_broker.security.acl import AclOperation, ResourceType
from kafka_broker.storage.log import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_TIMESTAMP

API = ApiKey.LIST_OFFSETS
VERSIONS = (0, 9)
EARLIEST_LOCAL_TIMESTAMP = -4
LATEST_TIERED_TIMESTAMP = -5

async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    replicas = ctx.services.replicas
    is_replica = request.get("replica_id", -1) >= 0
    describable = authorized_names(ctx, AclOperation.DESCRIBE, ResourceType.TOPIC,
                                   (t["name"] for t in request["topics"]))
    topics = []
    for treq in request["topics"]:
        results = []
        for preq in treq["partitions"]:
            index = preq["partition_index"]
            if treq["name"] not in describable:
                results.append(_error(index, ErrorCode.TOPIC_AUTHORIZATION_FAILED))
                continue
            try:
                part = replicas.leader_partition(treq["name"], index, preq.get("current_leader_epoch", -1))
            except KafkaError as exc:
                results.append(_error(index, exc.code))
                continue
            timestamp = preq["timestamp"]
            offset, found_ts = -1, -1
            if timestamp == LATEST_TIMESTAMP:
                offset = part.log.log_end_offset if is_replica else part.high_watermark
            elif timestamp in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP):
                offset = part.log.log_start_offset
            elif timestamp == LATEST_TIERED_TIMESTAMP:
                results.append(_error(index, ErrorCode.NONE))  # nothing is tiered: offset and epoch -1
                continue
            elif timestamp >= 0 or timestamp == MAX_TIMESTAMP:
                hit = part.log.offset_for_timestamp(timestamp)
                # Only what a consumer could read: a record above the high watermark is not answered.
                if hit is not None and (is_replica or hit[0] < part.high_watermark):
                    offset, found_ts = hit
            else:
                results.append(_error(index, ErrorCode.INVALID_REQUEST))
                continue
            results.append({"partition_index": index, "error_code": ErrorCode.NONE, "timestamp": found_ts,
                            "offset": offset, "leader_epoch": part.leader_epoch,
                            "old_style_offsets": _old_style(offset, preq.get("max_num_offsets", 1))})
        topics.append({"name": treq["name"], "partitions": results})
    return {"throttle_time_ms": 0, "topics": topics}


def _old_style(offset: int, max_num_offsets: int) -> list[int]:
    """v0's list: the one offset found, if any and if at least one is asked for."""
    return [offset] if offset >= 0 and max_num_offsets > 0 else []


def _error(index: int, code: int) -> dict[str, Any]:
    return {"partition_index": index, "error_code": code, "timestamp": -1, "offset": -1, "leader_epoch": -1,
            "old_style_offsets": []}
