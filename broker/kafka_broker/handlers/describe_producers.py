"""DescribeProducers (KIP-664): the idempotent producers a partition replica knows (``kafka-transactions.sh
describe-producers``).

Answered by any broker holding a replica of the partition (the admin client asks the leader unless told
another broker), from the replica's producer state (:mod:`kafka_broker.storage.producer_state`): per
producer id its epoch, the sequence of its last record, the max timestamp of its last batch. kopfka has
no transactions, so the coordinator epoch is always -1 and no transaction is open (start offset -1).
Errors as Kafka's, in its order: an invalid topic name INVALID_TOPIC_EXCEPTION, a topic without READ permission
TOPIC_AUTHORIZATION_FAILED, an unknown topic or partition UNKNOWN_TOPIC_OR_PARTITION, a partition with no replica
here NOT_LEADER_OR_FOLLOWER.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.cluster.topic_admin import validate_topic_name
from kafka_broker.handlers.authorization import authorize, error_message
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError
from kafka_broker.security.acl import AclOperation, ResourceType
from kafka_broker.storage.log import PartitionLog

API = ApiKey.DESCRIBE_PRODUCERS
VERSIONS = (0, 0)

NO_COORDINATOR_EPOCH = -1
NO_TRANSACTION = -1


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    topics = []
    for treq in request["topics"]:
        name = treq["name"]
        partitions = []
        refusal = _refusal(ctx, name)
        for index in treq["partition_indexes"]:
            try:
                if refusal is not None:
                    raise refusal
                plog = _replica_log(ctx, name, index)
            except KafkaError as exc:
                partitions.append({"partition_index": index, "error_code": exc.code,
                                   "error_message": exc.message or None, "active_producers": []})
                continue
            partitions.append({"partition_index": index, "error_code": ErrorCode.NONE, "error_message": None,
                               "active_producers": _active_producers(plog)})
        topics.append({"name": name, "partitions": partitions})
    return {"throttle_time_ms": 0, "topics": topics}


def _refusal(ctx: RequestContext, topic: str) -> KafkaError | None:
    """The error of every partition of ``topic`` before it is looked up: an invalid name, or no READ on it."""
    try:
        validate_topic_name(topic)
    except KafkaError as exc:
        return exc
    if not authorize(ctx, AclOperation.READ, ResourceType.TOPIC, topic):
        denied = ErrorCode.TOPIC_AUTHORIZATION_FAILED
        return KafkaError(error_message(denied), code=denied)
    return None


def _replica_log(ctx: RequestContext, topic: str, index: int) -> PartitionLog:
    """The log of the local replica of ``topic``-``index``, or the partition's error."""
    cache = ctx.services.cache
    if topic not in cache.topics or cache.partition(topic, index) is None:
        raise KafkaError(code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    part = ctx.services.replicas.get(topic, index)
    if part is None:
        raise KafkaError(code=ErrorCode.NOT_LEADER_OR_FOLLOWER)
    return part.log


def _active_producers(plog: PartitionLog) -> list[dict[str, Any]]:
    return [
        {"producer_id": producer_id, "producer_epoch": entry.epoch, "last_sequence": entry.last_seq,
         "last_timestamp": entry.last_timestamp, "coordinator_epoch": NO_COORDINATOR_EPOCH,
         "current_txn_start_offset": NO_TRANSACTION}
        for producer_id, entry in sorted(plog.producer_state.producers.items())
    ]
