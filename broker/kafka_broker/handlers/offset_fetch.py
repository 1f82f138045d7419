"""OffsetFetch: a group's committed positions (-1 where nothing was committed).

v1 carries coordinator errors per partition; v2-7 at the top and v8 per group of a batch, with no
partitions (as Kafka answers them).
A null topic list (v2+) asks for every partition the group has committed. v9's member id and epoch
(KIP-848 consumer groups) are not checked: every group here is a classic group. v0 (which Kafka reads
from ZooKeeper) is not served.

Fetching needs DESCRIBE on the group (else the group answers GROUP_AUTHORIZATION_FAILED with no partitions, at
v1 too, as Kafka's) and DESCRIBE on each topic: a topic asked without it answers TOPIC_AUTHORIZATION_FAILED for
its partitions; when every committed partition is asked, such topics are left out.
"""

from __future__ import annotations

from typing import Any

from kafka_broker.coordinator.group import CommittedOffset
from kafka_broker.handlers.authorization import authorize, authorized_names
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError
from kafka_broker.security.acl import AclOperation, ResourceType

API = ApiKey.OFFSET_FETCH
VERSIONS = (1, 9)


def _fetch(ctx: RequestContext, group_id: str, topics: list[dict[str, Any]] | None) -> tuple[int, list[dict[str, Any]]]:
    """(group error, topics of the response)."""
    if not authorize(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
        return ErrorCode.GROUP_AUTHORIZATION_FAILED, []
    refused: list[dict[str, Any]] = []
    wanted = None
    if topics is not None:
        describable = authorized_names(ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, (t["name"] for t in topics))
        refused = [t for t in topics if t["name"] not in describable]
        wanted = [(t["name"], p) for t in topics if t["name"] in describable for p in t["partition_indexes"]]
    groups = ctx.services.groups
    code = ErrorCode.NONE
    try:
        if groups is None:
            raise KafkaError(code=ErrorCode.COORDINATOR_NOT_AVAILABLE)
        found = groups.fetch_offsets(group_id, wanted)
    except KafkaError as exc:
        code = exc.code
        # v1 has no group-level error: each partition carries it. From v2 the group's error stands alone.
        found = dict.fromkeys(wanted or []) if ctx.version < 2 else {}
    if topics is None:  # every committed partition: those of topics the principal may not describe are left out
        describable = authorized_names(ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, (t for t, _ in found))
        found = {tp: committed for tp, committed in found.items() if tp[0] in describable}
    by_topic: dict[str, list[dict[str, Any]]] = {}
    partition_code = code if ctx.version < 2 else ErrorCode.NONE
    for (topic, partition), committed in found.items():
        by_topic.setdefault(topic, []).append(_partition(partition, committed, partition_code))
    if code == ErrorCode.NONE:
        for t in refused:
            by_topic.setdefault(t["name"], []).extend(
                _partition(p, None, ErrorCode.TOPIC_AUTHORIZATION_FAILED) for p in t["partition_indexes"])
    return code, [{"name": t, "partitions": parts} for t, parts in by_topic.items()]


def _partition(index: int, committed: CommittedOffset | None, code: int) -> dict[str, Any]:
    return {
        "partition_index": index,
        "committed_offset": -1 if committed is None else committed.offset,
        "committed_leader_epoch": -1 if committed is None else committed.leader_epoch,
        "metadata": "" if committed is None else committed.metadata,
        "error_code": code,
    }


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    if ctx.version >= 8:
        out = []
        for group in request["groups"]:
            code, topics = _fetch(ctx, group["group_id"] or "", group.get("topics"))
            out.append({"group_id": group["group_id"], "topics": topics, "error_code": code})
        return {"throttle_time_ms": 0, "groups": out}
    code, topics = _fetch(ctx, request["group_id"] or "", request.get("topics"))
    return {"throttle_time_ms": 0, "topics": topics, "error_code": code}
