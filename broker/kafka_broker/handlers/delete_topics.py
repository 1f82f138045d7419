"""DeleteTopics: mark topics for deletion in ZooKeeper; answer once the controller has removed them
(every broker drops its replicas as soon as it sees the mark; the controller deletes the topic once each
live broker holding one has). The topic marked is gone once this broker's cache no longer holds it — or
holds a new topic of the same name (another topic id), created by someone else right after the deletion.

Deleting needs DELETE on the topic (else TOPIC_AUTHORIZATION_FAILED, with no topic id); a topic asked by id also
DESCRIBE (else TOPIC_AUTHORIZATION_FAILED without its name), as Kafka's."""

from __future__ import annotations

from typing import Any

from kafka_broker.handlers.authorization import authorize
from kafka_broker.handlers.context import RequestContext
from kafka_broker.handlers.waiting import wait_until
from kafka_broker.metadata import topic_id_to_uuid
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError
from kafka_broker.protocol.primitives import ZERO_UUID
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.DELETE_TOPICS
VERSIONS = (0, 6)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    services = ctx.services
    cache = services.cache
    if ctx.version >= 6:
        wanted = [(t.get("name"), t.get("topic_id")) for t in request["topics"]]
    else:
        wanted = [(name, None) for name in request["topic_names"]]
    responses = []
    marked: list[tuple[str, str | None]] = []
    for name, topic_id in wanted:
        by_id = name is None and topic_id is not None
        if by_id:
            info = next((i for i in cache.topics.values() if topic_id_to_uuid(i.topic_id) == topic_id), None)
            if info is None:
                responses.append({"name": None, "topic_id": topic_id, "error_code": ErrorCode.UNKNOWN_TOPIC_ID,
                                  "error_message": None})
                continue
            name = info.name
        info = cache.topics.get(name) if name is not None else None
        result: dict[str, Any] = {"name": name, "error_code": ErrorCode.NONE, "error_message": None,
                                  "topic_id": topic_id_to_uuid(info.topic_id if info is not None else None)}
        responses.append(result)
        if not services.config.delete_topic_enable:
            result["error_code"] = ErrorCode.TOPIC_DELETION_DISABLED
            continue
        if by_id and not authorize(ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, name or ""):
            result.update(name=None, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED)
            continue
        if not authorize(ctx, AclOperation.DELETE, ResourceType.TOPIC, name or ""):
            result.update(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, topic_id=topic_id if by_id else ZERO_UUID)
            continue
        try:
            await services.admin.delete_topic(name)
            marked.append((name, None if info is None else info.topic_id))
        except KafkaError as exc:
            result.update(error_code=exc.code, error_message=exc.message or None)

    def still_there(name: str, topic_id: str | None) -> bool:
        info = cache.topics.get(name)
        return info is not None and (topic_id is None or info.topic_id == topic_id)

    if marked and not await wait_until(lambda: not any(still_there(*m) for m in marked),
                                       timeout_ms=request["timeout_ms"]):
        waiting = {name for name, topic_id in marked if still_there(name, topic_id)}
        for result in responses:
            if result["name"] in waiting:
                result["error_code"] = ErrorCode.REQUEST_TIMED_OUT
    return {"throttle_time_ms": 0, "responses": responses}
