"""DescribeLogDirs: each of this broker's ``log.dirs`` and the partition replicas it holds (``kafka-log-dirs.sh``).

For every log dir (its absolute path) the answer lists the requested partitions that have a log there —
all of them when the request's topics are null — each with its size (the bytes of its segments' ``.log``
files, as Kafka's ``UnifiedLog.size``), its offset lag and ``is_future_key`` false (kopfka has no future
logs: AlterReplicaLogDirs is not served). The offset lag is Kafka's: how far the replica's log end is
behind its high watermark, never below 0 — so 0 for a leader, and for a follower too, whose high
watermark is capped at its own log end — and -1 for a log no local replica uses (one being deleted).
From v4 each dir carries the total and usable bytes of its file system. A dir that cannot be read
answers KAFKA_STORAGE_ERROR, as Kafka answers for an offline dir. Without DESCRIBE on the cluster the answer
is CLUSTER_AUTHORIZATION_FAILED (v3+) and no dir, as Kafka's.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from kafka_broker.handlers.authorization import cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.security.acl import AclOperation
from kafka_broker.storage.log import PartitionLog

API = ApiKey.DESCRIBE_LOG_DIRS
VERSIONS = (0, 4)

INVALID_OFFSET_LAG = -1


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    if not cluster_authorized(ctx, AclOperation.DESCRIBE):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "results": []}
    logs = ctx.services.replicas.logs
    wanted: set[tuple[str, int]] | None = None
    if request.get("topics") is not None:
        wanted = {(t["topic"], p) for t in request["topics"] for p in t["partitions"]}
    by_dir: dict[Path, list[PartitionLog]] = defaultdict(list)
    for plog in logs:
        if wanted is None or (plog.topic, plog.partition) in wanted:
            by_dir[plog.directory.parent.absolute()].append(plog)
    results = [_describe_dir(Path(d).absolute(), by_dir.get(Path(d).absolute(), []), ctx) for d in logs.log_dirs]
    return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "results": results}


def _describe_dir(log_dir: Path, plogs: list[PartitionLog], ctx: RequestContext) -> dict[str, Any]:
    try:
        usage = shutil.disk_usage(log_dir)
    except OSError:
        return {"error_code": ErrorCode.KAFKA_STORAGE_ERROR, "log_dir": str(log_dir), "topics": [],
                "total_bytes": -1, "usable_bytes": -1}
    topics: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for plog in sorted(plogs, key=lambda p: (p.topic, p.partition)):
        topics[plog.topic].append({
            "partition_index": plog.partition,
            "partition_size": plog.size,
            "offset_lag": _offset_lag(plog, ctx),
            "is_future_key": False,
        })
    return {
        "error_code": ErrorCode.NONE,
        "log_dir": str(log_dir),
        "topics": [{"name": name, "partitions": partitions} for name, partitions in topics.items()],
        "total_bytes": usage.total,
        "usable_bytes": usage.free,
    }


def _offset_lag(plog: PartitionLog, ctx: RequestContext) -> int:
    part = ctx.services.replicas.get(plog.topic, plog.partition)
    if part is None or part.log is not plog:
        return INVALID_OFFSET_LAG
    return max(part.high_watermark - plog.log_end_offset, 0)
