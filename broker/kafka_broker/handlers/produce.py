"""Produce: append producer batches to the partitions this broker leads.

Batches are validated (CRC-32C, sizes, then every record: :mod:`kafka_broker.storage.validation`)
and given offsets by the log without re-encoding (recompression only when the topic's
``compression.type`` asks for it). A malformed batch fails its partition only, and nothing of that
partition's data is appended: INVALID_RECORD for bad records (with ``record_errors``, v8+, where Kafka
lists records one by one: a compacted topic's keyless records), CORRUPT_MESSAGE for a bad CRC or a
section that does not decompress, MESSAGE_TOO_LARGE for one that decompresses beyond the bound.

``acks=1`` is answered after the local append, ``acks=-1`` (all) after every ISR member has the
batch — and is refused up front with NOT_ENOUGH_REPLICAS when the ISR is smaller than
``min.insync.replicas``. All appends
happen before the first ``await``, so pipelined produce requests on one connection are appended in
the order they were sent.

``acks=0`` gets no response. When such a request fails, for any partition or as a whole (the
partitions that succeeded keep their appends), the handler raises :class:`CloseConnection`: the
server closes the connection once the responses to earlier requests have gone out, as Kafka does
(``KafkaApis.handleProduceRequest``), so the producer notices and refreshes its metadata instead of
writing into the void.

v0-v2 carry magic 0/1 message sets, which kopfka does not up-convert (our logs hold v2 batches
only): they are advertised (as Kafka 4.0 still advertises them after KAFKA-18659, for librdkafka)
and every partition is answered UNSUPPORTED_VERSION, as Kafka 4.0 (KIP-896) does.

From v10 (KIP-951) a NOT_LEADER_OR_FOLLOWER partition also names the leader we know of
(``current_leader``), and the response lists that broker's endpoint (``node_endpoints``).

Idempotent producers (batches with a producer id) are checked by the log against the partition's
producer state: a retried batch already in the log is answered with its original base offset
(and, with acks=all, once it is replicated); a sequence gap answers OUT_OF_ORDER_SEQUENCE_NUMBER, an
old epoch INVALID_PRODUCER_EPOCH. Transactional produce (a ``transactional_id``) is refused with
TRANSACTIONAL_ID_AUTHORIZATION_FAILED: transactions are not supported.

Each topic needs WRITE (:mod:`kafka_broker.handlers.authorization`): the partitions of the others answer
TOPIC_AUTHORIZATION_FAILED before anything else is checked, as Kafka's do.

The request's size counts against the client's ``producer_byte_rate`` quota; over it, the response
carries ``throttle_time_ms`` and the connection is muted that long (even with ``acks=0``), as in Kafka
(:mod:`kafka_broker.cluster.client_quotas`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kafka_broker.cluster.partition import Partition, now_ms
from kafka_broker.handlers.authorization import authorized_names
from kafka_broker.handlers.context import CloseConnection, RequestContext
from kafka_broker.handlers.metadata import endpoint
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.PRODUCE
VERSIONS = (0, 11)
FIRST_SERVED = 3
"""The first version whose records are v2 batches; older ones are answered UNSUPPORTED_VERSION."""

log = logging.getLogger(__name__)


def _partition_error(
    index: int, code: int, message: str | None = None, record_errors: list[tuple[int, str]] | None = None
) -> dict[str, Any]:
    return {"index": index, "error_code": code, "base_offset": -1, "log_append_time_ms": -1,
            "log_start_offset": -1, "error_message": message,
            "record_errors": [{"batch_index": i, "batch_index_error_message": m} for i, m in record_errors or ()]}


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any] | None:
    services = ctx.services
    replicas = services.replicas
    acks = request["acks"]
    if ctx.version < FIRST_SERVED:
        if acks == 0:
            raise CloseConnection(f"produce v{ctx.version} (magic 0/1 message sets) with acks=0: UNSUPPORTED_VERSION")
        return _all_errors(request, ErrorCode.UNSUPPORTED_VERSION)
    if acks not in (-1, 0, 1):
        return _all_errors(request, ErrorCode.INVALID_REQUIRED_ACKS)
    if request.get("transactional_id"):
        if acks == 0:
            raise CloseConnection("transactional produce with acks=0: TRANSACTIONAL_ID_AUTHORIZATION_FAILED")
        return _all_errors(request, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    waits: list[tuple[dict[str, Any], Partition, int]] = []
    responses = []
    leaders: set[int] = set()  # brokers named as current_leader (v10+)
    writable = authorized_names(ctx, AclOperation.WRITE, ResourceType.TOPIC, (t["name"] for t in request["topic_data"]))
    for topic_data in request["topic_data"]:
        topic = topic_data["name"]
        results = []
        for pdata in topic_data["partition_data"]:
            index = pdata["index"]
            if topic not in writable:
                results.append(_partition_error(index, ErrorCode.TOPIC_AUTHORIZATION_FAILED))
                continue
            records = pdata["records"]
            try:
                part = replicas.leader_partition(topic, index)
                if records is None or len(records) == 0:
                    raise KafkaError("empty produce payload", code=ErrorCode.CORRUPT_MESSAGE)
                if acks == -1 and len(part.isr) < replicas.min_insync_replicas(topic):
                    raise KafkaError(code=ErrorCode.NOT_ENOUGH_REPLICAS)
                info = part.log.append_as_leader(records, leader_epoch=part.leader_epoch, now_ms=now_ms())
                part.after_leader_append()
            except KafkaError as exc:
                error = _partition_error(index, exc.code, exc.message or None, getattr(exc, "record_errors", None))
                if exc.code == ErrorCode.NOT_LEADER_OR_FOLLOWER and ctx.version >= 10:
                    add_current_leader(error, topic, index, ctx, leaders)
                results.append(error)
                continue
            result = {
                "index": index,
                "error_code": ErrorCode.NONE,
                "base_offset": info.first_offset,
                "log_append_time_ms": info.log_append_time,
                "log_start_offset": part.log.log_start_offset,
                "record_errors": [],
                "error_message": None,
            }
            results.append(result)
            if acks == -1:
                waits.append((result, part, info.last_offset + 1))
        responses.append({"name": topic, "partition_responses": results})
    quota = services.quotas.produce
    if quota.enabled:  # the request's bytes count against the client's producer_byte_rate
        ctx.throttle_time_ms = quota.record(ctx.principal.name, ctx.header.client_id, ctx.size)
    if acks == 0:
        failed = [f"{topic['name']}-{p['index']}: {ErrorCode(p['error_code']).name}"
                  for topic in responses for p in topic["partition_responses"] if p["error_code"]]
        if failed:
            raise CloseConnection(f"produce with acks=0 failed ({', '.join(failed)})")
        return None
    if waits:
        await _await_replication(waits, timeout_ms=request["timeout_ms"], ctx=ctx)
    response: dict[str, Any] = {"responses": responses, "throttle_time_ms": ctx.throttle_time_ms}
    if leaders:
        response["node_endpoints"] = node_endpoints(ctx, leaders)
    return response


def add_current_leader(
    error: dict[str, Any], topic: str, index: int, ctx: RequestContext, leaders: set[int]
) -> None:
    """KIP-951 (Produce v10+, Fetch v16+): name the partition's leader as our metadata knows it; a live
    leader's id is added to ``leaders``, whose endpoints go into ``node_endpoints`` (Kafka's
    ``getCurrentLeader``: -1 and -1 for a partition it does not know)."""
    info = ctx.services.cache.partition(topic, index)
    if info is None:
        error["current_leader"] = {"leader_id": -1, "leader_epoch": -1}
        return
    error["current_leader"] = {"leader_id": info.leader, "leader_epoch": info.leader_epoch}
    broker = ctx.services.cache.brokers.get(info.leader)
    if broker is not None and endpoint(broker, ctx.listener) is not None:
        leaders.add(info.leader)


def node_endpoints(ctx: RequestContext, leaders: set[int]) -> list[dict[str, Any]]:
    """The ``node_endpoints`` of a KIP-951 answer: the endpoints of the brokers named as leaders."""
    brokers = ctx.services.cache.brokers
    answer = []
    for broker in (brokers[i] for i in sorted(leaders)):
        address = endpoint(broker, ctx.listener)
        if address is not None:
            answer.append({"node_id": broker.broker_id, "host": address[0], "port": address[1], "rack": broker.rack})
    return answer


async def _await_replication(
    waits: list[tuple[dict[str, Any], Partition, int]], *, timeout_ms: int, ctx: RequestContext
) -> None:
    """Wait until each partition's high watermark reaches the end of the batch we appended."""
    replicas = ctx.services.replicas
    codes = await asyncio.gather(*(
        part.wait_until_replicated(required, timeout_s=timeout_ms / 1000,
                                   min_insync=replicas.min_insync_replicas(part.topic))
        for _result, part, required in waits
    ))
    for (result, _part, _required), code in zip(waits, codes, strict=True):
        result["error_code"] = code


def _all_errors(request: dict[str, Any], code: int) -> dict[str, Any]:
    return {
        "responses": [
            {"name": t["name"], "partition_responses": [_partition_error(p["index"], code)
                                                        for p in t["partition_data"]]}
            for t in request["topic_data"]
        ],
        "throttle_time_ms": 0,
    }
