"""Fetch: consumers and followers read log slices, sent to the socket with sendfile.

For every requested partition the log returns a :class:`FileSlice` of whole batches — for
consumers only below the high watermark, for followers (``replica_id >= 0``) up to the log end —
and the response carries it untouched: no record is looked at on this path. If fewer than
``min_bytes`` are available the request waits (up to ``max_wait_ms``) for an append to any of its
partitions. A follower's fetch offset tells the leader how far that follower has replicated — once the
read succeeded and the follower has not diverged (Kafka's order): a fetch past this leader's end
(OFFSET_OUT_OF_RANGE) comes from a replica holding records the leader never wrote, a tail of an old
leader or the log of an earlier life of the topic, and counts for nothing.
Fetch sessions (KIP-227) are not kept: every response has session id 0, so clients send full
fetch requests, which the protocol allows.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kafka_broker.cluster.partition import Partition
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError

API = ApiKey.FETCH
VERSIONS = (4, 12)

READ_COMMITTED = 1


def _error_partition(index: int, code: int) -> dict[str, Any]:
    return {"partition_index": index, "error_code": code, "high_watermark": -1, "last_stable_offset": -1,
            "log_start_offset": -1, "aborted_transactions": [], "preferred_read_replica": -1, "records": b""}


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(request["max_wait_ms"], 0) / 1000
    while True:
        responses, total, partitions, errors = _read_all(request, ctx)
        remaining = deadline - loop.time()
        if total >= max(request["min_bytes"], 1) or errors or remaining <= 0 or not partitions:
            return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "session_id": 0,
                    "responses": responses}
        future: asyncio.Future[None] = loop.create_future()
        for part in partitions:
            part.add_waiter(future)
        try:
            await asyncio.wait_for(future, remaining)
        except TimeoutError:
            pass
        finally:
            for part in partitions:
                part.remove_waiter(future)


def _read_all(request: dict[str, Any], ctx: RequestContext) -> tuple[list[dict[str, Any]], int, list[Partition], bool]:
    replicas = ctx.services.replicas
    replica_id = request.get("replica_id", -1)
    is_follower = replica_id >= 0
    budget = request.get("max_bytes", 0x7FFFFFFF)
    if budget <= 0:
        budget = 0x7FFFFFFF
    total = 0
    errors = False
    touched: list[Partition] = []
    responses = []
    for topic_req in request["topics"]:
        topic = topic_req["topic"]
        results = []
        for preq in topic_req["partitions"]:
            index = preq["partition"]
            try:
                part = replicas.leader_partition(topic, index, preq.get("current_leader_epoch", -1))
            except KafkaError as exc:
                results.append(_error_partition(index, exc.code))
                errors = True
                continue
            touched.append(part)
            fetch_offset = preq["fetch_offset"]
            if is_follower:
                diverging = _diverging_epoch(part, preq)
                if diverging is not None:
                    results.append({**_ok(part, index), "diverging_epoch": diverging, "records": b""})
                    errors = True
                    continue
                max_offset = None
            else:
                max_offset = part.high_watermark
            max_bytes = min(preq["partition_max_bytes"], budget) if total else preq["partition_max_bytes"]
            try:
                read = part.log.read(fetch_offset, max_bytes=max(max_bytes, 1), max_offset=max_offset)
            except KafkaError as exc:
                results.append(_error_partition(index, exc.code) | _offsets(part))
                errors = True
                continue
            if is_follower:
                replicas.follower_fetched(part, replica_id, fetch_offset)
            chunk = read.slice
            size = len(chunk) if chunk is not None else 0
            total += size
            budget -= size
            results.append({**_ok(part, index), "records": chunk if chunk is not None else b""})
        responses.append({"topic": topic, "partitions": results})
    return responses, total, touched, errors


def _offsets(part: Partition) -> dict[str, Any]:
    return {"high_watermark": part.high_watermark, "last_stable_offset": part.high_watermark,
            "log_start_offset": part.log.log_start_offset}


def _ok(part: Partition, index: int) -> dict[str, Any]:
    return {"partition_index": index, "error_code": ErrorCode.NONE, **_offsets(part),
            "aborted_transactions": [], "preferred_read_replica": -1}


def _diverging_epoch(part: Partition, preq: dict[str, Any]) -> dict[str, int] | None:
    """KIP-320: a follower whose last fetched epoch ends after our end for that epoch has diverged."""
    last_epoch = preq.get("last_fetched_epoch", -1)
    if last_epoch < 0:
        return None
    epoch, end_offset = part.log.end_offset_for_epoch(last_epoch)
    if epoch != last_epoch or end_offset < preq["fetch_offset"]:
        return {"epoch": epoch, "end_offset": end_offset}
    return None
