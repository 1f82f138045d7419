"""Fetch: consumers read below the high watermark, followers up to the log end (and move it), long polls
wake on appends, budgets, diverging epochs (KIP-320) and per-partition errors."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from kafka_broker.handlers import fetch
from kafka_broker.protocol import ErrorCode
from kafka_broker.storage.records import Record, build_batch, iter_batches

from .harness import Broker


def append(broker: Broker, topic: str, partition: int, count: int, *, first: int = 0) -> None:
    part = broker.partition(topic, partition)
    records = [Record(i, 1_000 + i, b"k%d" % (first + i), b"v%d" % (first + i)) for i in range(count)]
    part.log.append_as_leader(bytearray(build_batch(records, base_offset=0)), leader_epoch=part.leader_epoch,
                              now_ms=10_000)
    part.after_leader_append()


def request(*partitions: tuple[int, int], topic: str = "t", replica_id: int = -1, max_wait_ms: int = 0,
            min_bytes: int = 1, max_bytes: int = 50_000_000, partition_max_bytes: int = 1_048_576,
            last_fetched_epoch: int = -1) -> dict:
    return {"replica_id": replica_id, "max_wait_ms": max_wait_ms, "min_bytes": min_bytes, "max_bytes": max_bytes,
            "isolation_level": 0, "session_id": 0, "session_epoch": -1, "forgotten_topics_data": [], "rack_id": "",
            "topics": [{"topic": topic, "partitions": [
                {"partition": p, "current_leader_epoch": -1, "fetch_offset": offset, "log_start_offset": -1,
                 "partition_max_bytes": partition_max_bytes, "last_fetched_epoch": last_fetched_epoch}
                for p, offset in partitions]}]}


def offsets_of(records: object) -> list[int]:
    data = records.read() if hasattr(records, "read") else bytes(records)  # type: ignore[union-attr]
    return [o for h in iter_batches(data) for o in range(h.base_offset, h.last_offset + 1)]


@pytest.fixture
def led(broker: Broker) -> Broker:
    broker.add_topic("t", {0: [1], 1: [1, 2]})
    return broker


@pytest.mark.parametrize("version", [4, 7, 11, 12])
async def test_a_consumer_reads_up_to_the_high_watermark(led: Broker, version: int) -> None:
    append(led, "t", 0, 3)
    append(led, "t", 1, 2)  # partition 1's follower has not fetched: high watermark 0
    response = await led.call(fetch, version, request((0, 0), (1, 0)))
    p0, p1 = response["responses"][0]["partitions"]
    assert (p0["error_code"], p0["high_watermark"], offsets_of(p0["records"])) == (ErrorCode.NONE, 3, [0, 1, 2])
    assert (p1["error_code"], p1["high_watermark"], offsets_of(p1["records"])) == (ErrorCode.NONE, 0, [])
    assert response["session_id"] == 0


async def test_a_follower_reads_to_the_log_end_and_moves_the_high_watermark(led: Broker) -> None:
    append(led, "t", 1, 2)
    follower = await led.call(fetch, 12, request((1, 0), replica_id=2))
    assert offsets_of(follower["responses"][0]["partitions"][0]["records"]) == [0, 1]
    await led.call(fetch, 12, request((1, 2), replica_id=2))  # the follower now holds offsets 0-1
    assert led.partition("t", 1).high_watermark == 2
    consumer = await led.call(fetch, 12, request((1, 0)))
    assert offsets_of(consumer["responses"][0]["partitions"][0]["records"]) == [0, 1]


async def test_a_long_poll_returns_when_records_arrive(led: Broker) -> None:
    poll = asyncio.create_task(led.call(fetch, 12, request((0, 0), max_wait_ms=60_000)))
    await asyncio.sleep(0)  # the poll is parked on the empty partition
    assert not poll.done()
    append(led, "t", 0, 1)
    response = await asyncio.wait_for(poll, 30)
    assert offsets_of(response["responses"][0]["partitions"][0]["records"]) == [0]


async def test_a_long_poll_ends_at_max_wait_with_nothing(led: Broker) -> None:
    response = await led.call(fetch, 12, request((0, 0), max_wait_ms=1))
    assert offsets_of(response["responses"][0]["partitions"][0]["records"]) == []


async def test_the_response_budget_always_lets_the_first_batch_through(led: Broker) -> None:
    append(led, "t", 0, 3)
    append(led, "t", 0, 3, first=3)
    response = await led.call(fetch, 12, request((0, 0), max_bytes=1, partition_max_bytes=1))
    assert offsets_of(response["responses"][0]["partitions"][0]["records"]) == [0, 1, 2]


async def test_errors_are_per_partition(led: Broker) -> None:
    led.add_topic("elsewhere", {0: [2, 1]})
    append(led, "t", 0, 2)
    response = await led.call(fetch, 12, request((0, 9)))
    assert response["responses"][0]["partitions"][0]["error_code"] == ErrorCode.OFFSET_OUT_OF_RANGE
    response = await led.call(fetch, 12, request((7, 0)))
    assert response["responses"][0]["partitions"][0]["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    response = await led.call(fetch, 12, request((0, 0), topic="elsewhere"))
    assert response["responses"][0]["partitions"][0]["error_code"] == ErrorCode.NOT_LEADER_OR_FOLLOWER


async def test_a_follower_with_a_diverged_epoch_is_told_where_to_truncate(led: Broker) -> None:
    """KIP-320: epochs 0 (offsets 0-1) and 2 (from 2) here; a follower that last fetched epoch 1 up to offset 3
    has a tail this leader never had: it must truncate to the end of epoch 0, offset 2."""
    append(led, "t", 1, 2)
    part = led.partition("t", 1)
    part.become_leader(leader_epoch=2, isr=(1, 2), replicas=[1, 2])
    append(led, "t", 1, 1, first=2)
    response = await led.call(fetch, 12, request((1, 3), replica_id=2, last_fetched_epoch=1))
    answer = response["responses"][0]["partitions"][0]
    assert answer["diverging_epoch"] == {"epoch": 0, "end_offset": 2}
    assert offsets_of(answer["records"]) == []
    caught_up = await led.call(fetch, 12, request((1, 2), replica_id=2, last_fetched_epoch=0))
    assert offsets_of(caught_up["responses"][0]["partitions"][0]["records"]) == [2]


async def test_a_follower_fetching_past_the_leaders_end_is_not_counted(led: Broker) -> None:
    """A follower that asks for an offset past this leader's end holds records the leader never wrote — the
    tail of an old leader, or the log of an earlier life of the topic that it has not dropped yet. It is
    answered OFFSET_OUT_OF_RANGE and must not count as having replicated anything (Kafka reads before it
    records a follower's position): before, the leader took its offset, put it back into the ISR and could
    move the high watermark on its say-so."""
    append(led, "t", 1, 2)
    info = led.cache.partition("t", 1)
    assert info is not None and info.state is not None
    await led.store.write_partition_state("t", 1, replace(info.state, isr=(1,)), info.state_version)
    led.cache.notify_topic("t", 1)
    assert led.partition("t", 1).isr == (1,)
    response = await led.call(fetch, 12, request((1, 5), replica_id=2))
    assert response["responses"][0]["partitions"][0]["error_code"] == ErrorCode.OFFSET_OUT_OF_RANGE
    await led.replicas.expansions_done()
    assert [s.isr for _t, _p, s in led.store.state_writes] == [(1,)]  # the test's own write only
    assert led.partition("t", 1).isr == (1,)
    response = await led.call(fetch, 12, request((1, 2), replica_id=2))  # caught up, from where it should be
    await led.replicas.expansions_done()
    assert led.partition("t", 1).isr == (1, 2)
