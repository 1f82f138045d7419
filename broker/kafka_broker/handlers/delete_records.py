"""DeleteRecords: move partitions' log start forward, on every replica (``kafka-delete-records.sh``).

Per partition, on its leader: a topic without DELETE permission is TOPIC_AUTHORIZATION_FAILED (Kafka's first
check), an unknown partition is UNKNOWN_TOPIC_OR_PARTITION, one led elsewhere
NOT_LEADER_OR_FOLLOWER, one of a topic whose ``cleanup.policy`` lacks ``delete`` POLICY_VIOLATION; the
offset -1 stands for the high watermark, and an offset below 0 or above the high watermark is
OFFSET_OUT_OF_RANGE. Otherwise the leader's log start moves there at once (whole segments below it are
deleted, and the log manager checkpoints the new start so a restart keeps it).

The answer waits, as Kafka's ``DelayedDeleteRecords``, until the partition's **low watermark** — the
smallest log start among the leader and its followers on live brokers (:meth:`Partition.low_watermark`)
— reaches the requested offset: followers learn the leader's log start from their Fetch responses, move
theirs, and report it in their next Fetch request, which wakes this wait. Every partition answers its low
watermark; one whose followers do not get there within ``timeout_ms`` answers REQUEST_TIMED_OUT with
the low watermark of the moment the records were deleted; a leader deposed meanwhile
NOT_LEADER_OR_FOLLOWER. Errors carry the low watermark -1.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from kafka_broker.cluster.partition import Partition
from kafka_broker.handlers.authorization import authorized_names
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.DELETE_RECORDS
VERSIONS = (0, 2)

HIGH_WATERMARK = -1
"""The offset that means "everything below the high watermark"."""
INVALID_LOW_WATERMARK = -1


@dataclass(slots=True)
class _Pending:
    result: dict[str, Any]
    part: Partition
    required: int


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    topics = []
    pending: list[_Pending] = []
    deletable = authorized_names(ctx, AclOperation.DELETE, ResourceType.TOPIC, (t["name"] for t in request["topics"]))
    for treq in request["topics"]:
        results = []
        for preq in treq["partitions"]:
            index = preq["partition_index"]
            result = {"partition_index": index, "low_watermark": INVALID_LOW_WATERMARK, "error_code": ErrorCode.NONE}
            if treq["name"] not in deletable:
                result["error_code"] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
                results.append(result)
                continue
            try:
                part, required = _delete_on_leader(ctx, treq["name"], index, preq["offset"])
            except KafkaError as exc:
                result["error_code"] = exc.code
            else:
                result["low_watermark"] = part.low_watermark(ctx.services.cache.brokers)
                pending.append(_Pending(result, part, required))
            results.append(result)
        topics.append({"name": treq["name"], "partitions": results})
    if pending:
        await _wait_for_replicas(pending, timeout_ms=request["timeout_ms"], ctx=ctx)
    return {"throttle_time_ms": 0, "topics": topics}


def _delete_on_leader(ctx: RequestContext, topic: str, index: int, offset: int) -> tuple[Partition, int]:
    """Move the leader's log start to ``offset`` (-1: the high watermark); the partition and the offset
    its low watermark must reach. Raises the partition's error."""
    if ctx.services.cache.partition(topic, index) is None:
        raise KafkaError(code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    part = ctx.services.replicas.leader_partition(topic, index)
    if not part.log.config.deletes:
        raise KafkaError(f"records of {topic}-{index} cannot be deleted: its cleanup.policy has no delete",
                         code=ErrorCode.POLICY_VIOLATION)
    required = part.high_watermark if offset == HIGH_WATERMARK else offset
    if required < 0 or required > part.high_watermark:
        raise KafkaError(f"offset {required} of {topic}-{index} is outside [0, high watermark "
                         f"{part.high_watermark}]", code=ErrorCode.OFFSET_OUT_OF_RANGE)
    part.log.delete_records_before(required)
    part.wake()
    return part, required


async def _wait_for_replicas(pending: list[_Pending], *, timeout_ms: int, ctx: RequestContext) -> None:
    """Settle each partition once its low watermark reaches the requested offset, or it stops being led here;
    those left at ``timeout_ms`` answer REQUEST_TIMED_OUT (Kafka checks once even with no time to wait)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(timeout_ms, 0) / 1000
    alive = ctx.services.cache.brokers
    while True:
        waiting = []
        for entry in pending:
            part = entry.part
            if part.deleted or not part.is_leader:
                entry.result.update(error_code=ErrorCode.NOT_LEADER_OR_FOLLOWER, low_watermark=INVALID_LOW_WATERMARK)
                continue
            low = part.low_watermark(alive)
            if low >= entry.required:
                entry.result.update(error_code=ErrorCode.NONE, low_watermark=low)
                continue
            waiting.append(entry)
        pending = waiting
        remaining = deadline - loop.time()
        if not pending or remaining <= 0:
            break
        future: asyncio.Future[None] = loop.create_future()
        for entry in pending:
            entry.part.add_waiter(future)
        try:
            await asyncio.wait_for(future, remaining)
        except TimeoutError:
            pass
        finally:
            for entry in pending:
                entry.part.remove_waiter(future)
    for entry in pending:
        entry.result["error_code"] = ErrorCode.REQUEST_TIMED_OUT
