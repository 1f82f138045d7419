"""ListOffsets: earliest, latest, by timestamp and max-timestamp (KIP-734), against real partition logs."""

from __future__ import annotations

import pytest

from kafka_broker.handlers import list_offsets
from kafka_broker.protocol import ErrorCode
from kafka_broker.storage.records import Record, build_batch

from .harness import Broker

LATEST, EARLIEST, MAX_TIMESTAMP = -1, -2, -3


def append(broker: Broker, topic: str, partition: int, timestamps: list[int], *, high_watermark: bool = True) -> None:
    """Append one batch of records stamped ``timestamps`` as the leader would."""
    part = broker.partition(topic, partition)
    records = [Record(i, ts, b"k%d" % i, b"v%d" % i) for i, ts in enumerate(timestamps)]
    part.log.append_as_leader(bytearray(build_batch(records, base_offset=0)), leader_epoch=part.leader_epoch,
                              now_ms=10_000)
    if high_watermark:
        part.after_leader_append()


def request(*partitions: tuple[int, int], replica_id: int = -1, topic: str = "t") -> dict:
    return {"replica_id": replica_id, "isolation_level": 0,
            "topics": [{"name": topic, "partitions": [
                {"partition_index": p, "current_leader_epoch": -1, "timestamp": ts} for p, ts in partitions]}]}


def answers(response: dict) -> list[tuple[int, int, int]]:
    return [(p["error_code"], p["offset"], p["timestamp"]) for p in response["topics"][0]["partitions"]]


@pytest.fixture
def led(broker: Broker) -> Broker:
    broker.add_topic("t", {0: [1], 1: [1, 2]})
    return broker


@pytest.mark.parametrize("version", [1, 4, 7])
async def test_max_timestamp_answers_the_record_with_the_largest_timestamp(led: Broker, version: int) -> None:
    """Used to raise AttributeError (max_timestamp_offset() did not exist) and drop the connection."""
    append(led, "t", 0, [1_000, 5_000, 2_000])
    append(led, "t", 0, [3_000, 5_000, 4_000])  # a tie: the first record stamped 5,000 wins
    response = await led.call(list_offsets, version, request((0, MAX_TIMESTAMP)))
    assert answers(response) == [(ErrorCode.NONE, 1, 5_000)]
    if version >= 4:
        assert response["topics"][0]["partitions"][0]["leader_epoch"] == 0


async def test_max_timestamp_of_an_empty_partition_is_minus_one(led: Broker) -> None:
    response = await led.call(list_offsets, 7, request((0, MAX_TIMESTAMP)))
    assert answers(response) == [(ErrorCode.NONE, -1, -1)]


async def test_consumers_are_not_answered_offsets_above_the_high_watermark(led: Broker) -> None:
    """Partition 1 has a follower that has fetched nothing: its high watermark stays at 0."""
    append(led, "t", 1, [1_000, 9_000])
    assert led.partition("t", 1).high_watermark == 0
    consumer = await led.call(list_offsets, 7, request((1, MAX_TIMESTAMP), (1, LATEST), (1, 500)))
    assert answers(consumer) == [(ErrorCode.NONE, -1, -1), (ErrorCode.NONE, 0, -1), (ErrorCode.NONE, -1, -1)]
    replica = await led.call(list_offsets, 7, request((1, MAX_TIMESTAMP), (1, LATEST), replica_id=2))
    assert answers(replica) == [(ErrorCode.NONE, 1, 9_000), (ErrorCode.NONE, 2, -1)]


async def test_earliest_latest_and_by_timestamp(led: Broker) -> None:
    append(led, "t", 0, [1_000, 2_000, 3_000])
    response = await led.call(list_offsets, 5, request((0, EARLIEST), (0, LATEST), (0, 1_500), (0, 3_000), (0, 9_999)))
    assert answers(response) == [(ErrorCode.NONE, 0, -1), (ErrorCode.NONE, 3, -1), (ErrorCode.NONE, 1, 2_000),
                                 (ErrorCode.NONE, 2, 3_000), (ErrorCode.NONE, -1, -1)]


async def test_errors_per_partition(led: Broker) -> None:
    led.add_topic("elsewhere", {0: [2, 1]})
    response = await led.call(list_offsets, 7, request((9, LATEST)))
    assert answers(response) == [(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1, -1)]
    response = await led.call(list_offsets, 7, request((0, LATEST), topic="elsewhere"))
    assert answers(response) == [(ErrorCode.NOT_LEADER_OR_FOLLOWER, -1, -1)]
    response = await led.call(list_offsets, 7, request((0, -7)))
    assert answers(response) == [(ErrorCode.INVALID_REQUEST, -1, -1)]
