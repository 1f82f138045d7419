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

Versions: v0-v3 read magic 0/1 message sets, which kopfka does not down-convert (our logs hold v2
batches only): every partition is answered UNSUPPORTED_VERSION, as Kafka 4.0 (KIP-896) refuses them.
From v13 topics are named by id (an unknown id answers UNKNOWN_TOPIC_ID); from v15 a follower names
itself in the tagged ``replica_state``; from v16 a partition answered NOT_LEADER_OR_FOLLOWER or
FENCED_LEADER_EPOCH names the leader we know of (``current_leader``) and the response carries that
broker's endpoint (``node_endpoints``, KIP-951), as Kafka does.

A follower's fetch of a partition throttled on this leader (``leader.replication.throttled.replicas``) gets no
records while that follower is outside the ISR and the leader throttle's rate is above
``leader.replication.throttled.rate``; the bytes sent for throttled partitions count toward it
(:mod:`kafka_broker.cluster.replication_quota`).

A consumer needs READ on each topic (the partitions of the others answer TOPIC_AUTHORIZATION_FAILED), a follower
CLUSTER_ACTION on the cluster (without it every partition answers TOPIC_AUTHORIZATION_FAILED at once), as Kafka's
(:mod:`kafka_broker.handlers.authorization`).

A consumer's fetch counts its response's bytes against the client's ``consumer_byte_rate`` quota, and
asks for no more than the quota lets through in its window; over the quota the response carries no data
and ``throttle_time_ms``, and the connection is muted that long (:mod:`kafka_broker.cluster.client_quotas`).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from kafka_broker.cluster.partition import Partition
from kafka_broker.cluster.replication_quota import ReplicationQuota
from kafka_broker.handlers.authorization import authorized_names, cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.handlers.produce import add_current_leader, node_endpoints
from kafka_broker.metadata import topic_id_to_uuid
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.FETCH
VERSIONS = (0, 17)
FIRST_SERVED = 4
"""The first version whose records are v2 batches; older ones are answered UNSUPPORTED_VERSION."""
FIRST_TOPIC_IDS = 13
FIRST_LEADER_HINTS = 16
_LEADER_ERRORS = (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.FENCED_LEADER_EPOCH)

READ_COMMITTED = 1
_RESPONSE_OVERHEAD = 16
"""Bytes of a fetch response around its topics (size, correlation id, throttle, error, session id)."""
_PARTITION_OVERHEAD = 50
"""About the bytes of one partition's header in a fetch response (index, error, offsets, sizes, topic share)."""
_NO_ID = uuid.UUID(int=0)


def _error_partition(index: int, code: int) -> dict[str, Any]:
    return {"partition_index": index, "error_code": code, "high_watermark": -1, "last_stable_offset": -1,
            "log_start_offset": -1, "aborted_transactions": [], "preferred_read_replica": -1, "records": b""}


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    if ctx.version < FIRST_SERVED:
        return _all_partitions(request, ErrorCode.UNSUPPORTED_VERSION)
    if ctx.version >= FIRST_TOPIC_IDS:
        _name_topics(request, ctx)
    readable: set[str] | None = None  # the topics a consumer may read; None: a follower, which reads every one
    if _replica_id(request, ctx.version) >= 0:
        if not cluster_authorized(ctx, AclOperation.CLUSTER_ACTION):
            return _all_partitions(request, ErrorCode.TOPIC_AUTHORIZATION_FAILED)
    else:
        readable = authorized_names(ctx, AclOperation.READ, ResourceType.TOPIC,
                                    (t["topic"] for t in request["topics"] if t["topic"]))
    quota = ctx.services.quotas.fetch
    consumer = quota.enabled and _replica_id(request, ctx.version) < 0
    if consumer:  # never more at once than the quota lets through without a certain throttle (Kafka's cap)
        cap = quota.max_value_in_window(ctx.principal.name, ctx.header.client_id)
        if cap < request.get("max_bytes", 0x7FFFFFFF):
            request = {**request, "max_bytes": max(int(cap), 1)}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(request["max_wait_ms"], 0) / 1000
    while True:
        responses, total, partitions, errors = _read_all(request, ctx, readable)
        remaining = deadline - loop.time()
        if total >= max(request["min_bytes"], 1) or errors or remaining <= 0 or not partitions:
            response = {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "session_id": 0,
                        "responses": responses}
            if consumer:
                _apply_quota(response, total, ctx)
            elif ctx.services.leader_quota is not None and ctx.services.leader_quota.active:
                _record_replication(response, ctx.services.leader_quota)
            if ctx.version >= FIRST_LEADER_HINTS:
                _add_leader_hints(response, ctx)
            return response
        leader_quota = ctx.services.leader_quota
        if leader_quota is not None and leader_quota.active and _replica_id(request, ctx.version) >= 0:
            # a partition held back by the throttle may be read again as soon as the rate is under it
            back_under = leader_quota.time_to_bound_ms() / 1000
            if back_under > 0:
                remaining = min(remaining, back_under)
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


def _all_partitions(request: dict[str, Any], code: int) -> dict[str, Any]:
    """Every partition of the request answered ``code``."""
    return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "session_id": 0, "responses": [
        {"topic": t.get("topic", ""), "topic_id": t.get("topic_id") or _NO_ID,
         "partitions": [_error_partition(p["partition"], code) for p in t["partitions"]]}
        for t in request["topics"]]}


def _name_topics(request: dict[str, Any], ctx: RequestContext) -> None:
    """v13+: fill in each requested topic's name from its id ("" for an id we do not know)."""
    names = {topic_id_to_uuid(info.topic_id): name for name, info in ctx.services.cache.topics.items()
             if info.topic_id}
    for topic in request["topics"]:
        topic["topic"] = names.get(topic.get("topic_id"), "")


def _add_leader_hints(response: dict[str, Any], ctx: RequestContext) -> None:
    """KIP-951 (v16+): the current leader of each partition we do not lead, and its endpoint."""
    leaders: set[int] = set()
    for topic in response["responses"]:
        for part in topic["partitions"]:
            if part["error_code"] in _LEADER_ERRORS:
                add_current_leader(part, topic["topic"], part["partition_index"], ctx, leaders)
    if leaders:
        response["node_endpoints"] = node_endpoints(ctx, leaders)


def _apply_quota(response: dict[str, Any], total: int, ctx: RequestContext) -> None:
    """Count the response's bytes (its records plus an estimate of the per-partition headers) against the
    client's ``consumer_byte_rate``; over it, take them back and answer no data with the throttle time, as
    Kafka does (``fetchContext.getThrottledResponse``)."""
    quota = ctx.services.quotas.fetch
    size = total + _RESPONSE_OVERHEAD + _PARTITION_OVERHEAD * sum(len(t["partitions"]) for t in response["responses"])
    throttle = quota.record(ctx.principal.name, ctx.header.client_id, size)
    if throttle > 0:
        quota.unrecord(ctx.principal.name, ctx.header.client_id, size)
        response["responses"] = []
        response["throttle_time_ms"] = ctx.throttle_time_ms = throttle


def _record_replication(response: dict[str, Any], quota: ReplicationQuota) -> None:
    """A follower's fetch: the bytes sent for partitions the leader throttle applies to count toward it."""
    for topic in response["responses"]:
        for part in topic["partitions"]:
            records = part["records"]
            if records is not None and len(records):
                quota.record(topic["topic"], part["partition_index"], len(records))


def _replica_id(request: dict[str, Any], version: int) -> int:
    if version >= 15:
        state = request.get("replica_state")
        return -1 if state is None else int(state["replica_id"])
    return int(request.get("replica_id", -1))


def _read_all(request: dict[str, Any], ctx: RequestContext,
              readable: set[str] | None) -> tuple[list[dict[str, Any]], int, list[Partition], bool]:
    replicas = ctx.services.replicas
    leader_quota = ctx.services.leader_quota
    replica_id = _replica_id(request, ctx.version)
    by_id = ctx.version >= FIRST_TOPIC_IDS
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
            if by_id and not topic:
                results.append(_error_partition(index, ErrorCode.UNKNOWN_TOPIC_ID))
                errors = True
                continue
            if readable is not None and topic not in readable:
                results.append(_error_partition(index, ErrorCode.TOPIC_AUTHORIZATION_FAILED))
                errors = True
                continue
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
            if is_follower and leader_quota is not None and leader_quota.holds_back(
                    topic, index, in_sync=replica_id in part.isr):
                # over the leader's replication throttle: this follower gets no records for now
                replicas.follower_fetched(part, replica_id, fetch_offset, preq.get("log_start_offset", -1))
                results.append({**_ok(part, index), "records": b""})
                continue
            max_bytes = min(preq["partition_max_bytes"], budget)  # the first batch comes regardless (KIP-74)
            try:
                read = part.log.read(fetch_offset, max_bytes=max(max_bytes, 1), max_offset=max_offset)
            except KafkaError as exc:
                results.append(_error_partition(index, exc.code) | _offsets(part))
                errors = True
                continue
            if is_follower:
                replicas.follower_fetched(part, replica_id, fetch_offset, preq.get("log_start_offset", -1))
            chunk = read.slice
            size = len(chunk) if chunk is not None else 0
            total += size
            budget -= size
            results.append({**_ok(part, index), "records": chunk if chunk is not None else b""})
        responses.append({"topic": topic, "topic_id": topic_req.get("topic_id") or _NO_ID, "partitions": results})
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
