"""DeleteRecords end to end, in process: the leader's handler moves its log start, followers learn it from
their Fetch responses and move theirs (deleting whole segments below it), report it in their next Fetch,
and the answer comes once the low watermark — the smallest log start over the live replicas — is there.
The new log starts survive a restart of every broker."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from kafka_broker.cluster.client_quotas import ClientQuotas
from kafka_broker.handlers import delete_records
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, RequestHeader

from .fakes import FakeCluster, Node, append

SMALL_SEGMENTS = {"segment.bytes": "200"}
"""A few batches per segment, so deleting records deletes whole segments too."""


def delete(node: Node, offset: int, *, timeout_ms: int = 5_000) -> Any:
    """A DeleteRecords for t-0 to ``node``, as a task (it waits for the followers)."""
    header = RequestHeader(int(ApiKey.DELETE_RECORDS), 2, 1, "test")
    ctx = RequestContext(header=header, services=SimpleNamespace(replicas=node.replicas, cache=node.cache,
                                                                   quotas=ClientQuotas(), leader_quota=None,
                                                                   authorizer=None))  # type: ignore[arg-type]
    request = {"topics": [{"name": "t", "partitions": [{"partition_index": 0, "offset": offset}]}],
               "timeout_ms": timeout_ms}
    return asyncio.create_task(delete_records.handle(request, ctx))


def answer(response: dict[str, Any]) -> tuple[int, int]:
    [partition] = response["topics"][0]["partitions"]
    return partition["error_code"], partition["low_watermark"]


async def replicated_topic(cluster: FakeCluster, batches: int) -> Node:
    """t-0 on brokers 1 (leader), 2 and 3 with ``batches`` batches of 2 records, all replicated."""
    await cluster.create_topic("t", {0: [1, 2, 3]}, SMALL_SEGMENTS)
    await cluster.controller_pass()
    leader = cluster.nodes[1]
    for _ in range(batches):
        append(leader.partition("t").log, 2, epoch=0)
    leader.partition("t").after_leader_append()
    for _ in range(2 * batches):  # a fetch reads one segment at most
        if leader.partition("t").high_watermark == 2 * batches:
            break
        await cluster.fetch_round()
    assert leader.partition("t").high_watermark == 2 * batches
    await cluster.fetch_round()  # the followers learn the high watermark
    return leader


async def test_every_replica_moves_its_log_start_and_the_answer_waits_for_them(cluster: FakeCluster) -> None:
    leader = await replicated_topic(cluster, batches=10)
    followers = [cluster.nodes[2].partition("t"), cluster.nodes[3].partition("t")]
    segments_before = [len(f.log.segments) for f in followers]
    assert min(segments_before) > 3

    task = delete(leader, 11)
    await asyncio.sleep(0)
    assert leader.partition("t").log.log_start_offset == 11
    assert not task.done()  # the followers still start at 0
    await cluster.fetch_round()  # they learn the leader's log start ...
    assert [f.log.log_start_offset for f in followers] == [11, 11]
    assert not task.done()
    await cluster.fetch_round()  # ... and tell it in their next fetch
    assert answer(await task) == (ErrorCode.NONE, 11)

    for follower, before in zip(followers, segments_before, strict=True):
        assert len(follower.log.segments) < before
        assert follower.log.segments[0].base_offset <= 11 < follower.log.segments[1].base_offset
        assert follower.log.read(11, max_bytes=1 << 20).slice is not None
    files = sorted(p.name for p in followers[0].log.directory.glob("*.log"))
    assert files == [f"{s.base_offset:020d}.log" for s in followers[0].log.segments]


async def test_minus_one_deletes_up_to_the_high_watermark(cluster: FakeCluster) -> None:
    leader = await replicated_topic(cluster, batches=3)
    task = delete(leader, -1)
    await cluster.fetch_round(rounds=2)
    assert answer(await task) == (ErrorCode.NONE, 6)


async def test_a_follower_that_never_reports_times_the_request_out(cluster: FakeCluster) -> None:
    leader = await replicated_topic(cluster, batches=3)
    cluster.nodes[3].fetchers.fetchers[1].partitions.clear()  # broker 3 stops fetching
    task = delete(leader, 4, timeout_ms=50)
    await cluster.fetch_round(rounds=2)
    code, low = answer(await task)
    assert code == ErrorCode.REQUEST_TIMED_OUT
    assert low == 0  # the low watermark when the records were deleted: broker 3 still started at 0


async def test_a_dead_follower_does_not_hold_the_low_watermark(cluster: FakeCluster) -> None:
    leader = await replicated_topic(cluster, batches=3)
    await cluster.stop_broker(3)
    task = delete(leader, 4)
    await cluster.fetch_round(rounds=2)
    assert answer(await task) == (ErrorCode.NONE, 4)


async def test_the_log_starts_survive_a_restart_of_every_broker(cluster: FakeCluster) -> None:
    leader = await replicated_topic(cluster, batches=10)
    task = delete(leader, 11)
    await cluster.fetch_round(rounds=2)
    assert answer(await task) == (ErrorCode.NONE, 11)
    for broker_id in (1, 2, 3):
        node = await cluster.stop_broker(broker_id)
        node.logs.close_all()
    for broker_id in (1, 2, 3):
        await cluster.add_broker(broker_id)
    await cluster.controller_pass()
    for broker_id in (1, 2, 3):
        assert cluster.nodes[broker_id].partition("t").log.log_start_offset == 11, broker_id


async def test_the_log_start_is_checkpointed_when_it_moves_not_only_at_shutdown(cluster: FakeCluster) -> None:
    """A broker killed after a DeleteRecords (no clean close) must not bring the records back."""
    leader = await replicated_topic(cluster, batches=10)
    task = delete(leader, 11)
    await cluster.fetch_round(rounds=2)
    await task
    for broker_id in (1, 2, 3):
        log_dir = cluster.nodes[broker_id].partition("t").log.directory.parent
        lines = (log_dir / "log-start-offset-checkpoint").read_text().splitlines()
        assert "t 0 11" in lines[2:], broker_id
