"""CreateTopics: validate, place replicas, write the topic to ZooKeeper, then wait (up to the
request's timeout) until the controller has elected a leader for every partition.

From v5 each created topic's result carries its partition count, replication factor and every
effective topic config (its overrides, else the broker's setting, else the default), as Kafka
answers: validate_only answers the configs the topic would have; a failed topic answers an empty
list and -1 counts. Kafka's AdminClient reads that list for every created topic. Only a created
topic has a topic id (v7); the others answer the zero UUID.

The request's topics share one :class:`~kafka_broker.cluster.topic_admin.PartitionBudget`: a topic
that would take the request past the partitions one request may create is answered
INVALID_PARTITIONS at once, before any placement is computed.

Authorization, as Kafka's: creating needs CREATE on the cluster or on the topic (else TOPIC_AUTHORIZATION_FAILED,
"Authorization failed."); the configs, counts and topic id of the answer need DESCRIBE_CONFIGS on the topic —
without it they are left out and the topic's ``topic_config_error_code`` is TOPIC_AUTHORIZATION_FAILED (unless
its creation was tried and failed).
"""

from __future__ import annotations

from typing import Any

from kafka_broker.cluster.topic_admin import PartitionBudget
from kafka_broker.handlers.authorization import authorized_names, cluster_authorized
from kafka_broker.handlers.configs import topic_config_entries
from kafka_broker.handlers.context import RequestContext
from kafka_broker.handlers.waiting import wait_until
from kafka_broker.metadata import topic_id_to_uuid
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError
from kafka_broker.protocol.primitives import ZERO_UUID
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.CREATE_TOPICS
VERSIONS = (0, 7)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    admin = ctx.services.admin
    cache = ctx.services.cache
    results = []
    created = []
    seen: set[str] = set()
    budget = PartitionBudget()
    names = [t["name"] for t in request["topics"]]
    creatable = set(names) if cluster_authorized(ctx, AclOperation.CREATE, log_denied=False) else \
        authorized_names(ctx, AclOperation.CREATE, ResourceType.TOPIC, names)
    described = authorized_names(ctx, AclOperation.DESCRIBE_CONFIGS, ResourceType.TOPIC, names, log_denied=False)
    for treq in request["topics"]:
        name = treq["name"]
        result: dict[str, Any] = {"name": name, "topic_id": ZERO_UUID, "error_code": ErrorCode.NONE,
                                  "error_message": None, **_failed()}
        results.append(result)
        if name not in described:
            result["topic_config_error_code"] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
        if name in seen:
            result.update(error_code=ErrorCode.INVALID_REQUEST, error_message="Duplicate topic name.")
            continue
        seen.add(name)
        if name not in creatable:
            result.update(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, error_message="Authorization failed.")
            continue
        try:
            nulls = [c["name"] for c in treq["configs"] if c["value"] is None]
            if nulls:
                raise KafkaError(f"Null value not supported for topic configs: {','.join(nulls)}",
                                 code=ErrorCode.INVALID_CONFIG)
            config = {c["name"]: c["value"] for c in treq["configs"]}
            assignment = admin.plan_topic(
                name,
                partitions=treq["num_partitions"],
                replication_factor=treq["replication_factor"],
                assignment={a["partition_index"]: list(a["broker_ids"]) for a in treq["assignments"]},
                config=config,
                budget=budget,
            )
            if not request["validate_only"]:
                await admin.create_topic(name, assignment, config)
                created.append(name)
            if name in described:
                result.update(num_partitions=len(assignment),
                              replication_factor=len(next(iter(assignment.values()))),
                              configs=_configs(ctx, config))
        except KafkaError as exc:
            result.update(error_code=exc.code, error_message=exc.message or None,
                          topic_config_error_code=ErrorCode.NONE)
    if created:
        def all_led() -> bool:
            return all(
                name in cache.topics and cache.topics[name].partitions
                and all(p.leader in cache.brokers for p in cache.topics[name].partitions.values())
                for name in created
            )

        if not await wait_until(all_led, timeout_ms=request["timeout_ms"]):
            for result in results:
                if result["name"] in created:
                    result.update(error_code=ErrorCode.REQUEST_TIMED_OUT,
                                  error_message="The topic was created but its leaders are not elected yet.",
                                  topic_config_error_code=ErrorCode.NONE, **_failed())
    for result in results:
        info = cache.topics.get(result["name"])
        if info is not None and result["error_code"] == ErrorCode.NONE and result["name"] in described:
            result["topic_id"] = topic_id_to_uuid(info.topic_id)
    return {"throttle_time_ms": 0, "topics": results}


def _failed() -> dict[str, Any]:
    """The result fields of a topic that was not created, as Kafka resets them: no counts, no configs."""
    return {"num_partitions": -1, "replication_factor": -1, "configs": []}


def _configs(ctx: RequestContext, overrides: dict[str, str]) -> list[dict[str, Any]]:
    """The topic's effective configs as CreateTopics carries them (no synonyms or documentation)."""
    return [
        {"name": e["name"], "value": e["value"], "read_only": e["read_only"],
         "config_source": e["config_source"], "is_sensitive": e["is_sensitive"]}
        for e in topic_config_entries(ctx.services.dynamic, overrides, keys=None, synonyms=False)
    ]
