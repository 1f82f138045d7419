"""DeleteRecords, DescribeLogDirs, DescribeProducers, ListTransactions and DescribeTransactions against a
broker's real logs and replicas (broker 1 of 3; followers are simulated by their fetch reports)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from kafka_broker.handlers import (
    delete_records,
    describe_log_dirs,
    describe_producers,
    describe_transactions,
    list_transactions,
)
from kafka_broker.protocol import ErrorCode
from kafka_broker.storage.log_manager import LOG_START_OFFSET_CHECKPOINT, LogManager
from kafka_broker.storage.records import Record, build_batch

from .harness import Broker


def append(broker: Broker, topic: str, partition: int, count: int, *, producer: tuple[int, int, int] | None = None,
           timestamp: int = 1_000) -> None:
    """``count`` records appended by the leader; ``producer`` = (id, epoch, base sequence) for an idempotent one."""
    part = broker.partition(topic, partition)
    records = [Record(i, timestamp + i, b"k%d" % i, b"v%d" % i) for i in range(count)]
    pid, epoch, seq = producer or (-1, -1, -1)
    batch = build_batch(records, base_offset=0, producer_id=pid, producer_epoch=epoch, base_sequence=seq)
    part.log.append_as_leader(bytearray(batch), leader_epoch=part.leader_epoch, now_ms=10_000)
    part.after_leader_append()


def deletion(*partitions: tuple[int, int], topic: str = "t", timeout_ms: int = 1_000) -> dict:
    return {"topics": [{"name": topic, "partitions": [{"partition_index": p, "offset": o} for p, o in partitions]}],
            "timeout_ms": timeout_ms}


def answers(response: dict) -> dict[int, tuple[int, int]]:
    return {p["partition_index"]: (p["error_code"], p["low_watermark"])
            for t in response["topics"] for p in t["partitions"]}


@pytest.fixture
def led(broker: Broker) -> Broker:
    """t-0 led here alone, t-1 led here with broker 2 following, t-2 led by broker 2."""
    broker.add_topic("t", {0: [1], 1: [1, 2], 2: [2, 1]}, {"segment.bytes": "150"})
    return broker


# --- DeleteRecords -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 1, 2])
async def test_delete_records_moves_the_log_start_and_answers_the_low_watermark(led: Broker, version: int) -> None:
    for _ in range(5):
        append(led, "t", 0, 2)
    segments = len(led.partition("t", 0).log.segments)
    response = await led.send(delete_records, version, deletion((0, 7)))
    assert answers(response) == {0: (ErrorCode.NONE, 7)}
    plog = led.partition("t", 0).log
    assert plog.log_start_offset == 7
    assert len(plog.segments) < segments  # whole segments below the new start are gone


async def test_minus_one_means_the_high_watermark(led: Broker) -> None:
    append(led, "t", 0, 4)
    assert answers(await led.call(delete_records, 2, deletion((0, -1)))) == {0: (ErrorCode.NONE, 4)}


@pytest.mark.parametrize("offset", [5, -2])
async def test_an_offset_above_the_high_watermark_or_negative_is_out_of_range(led: Broker, offset: int) -> None:
    append(led, "t", 1, 4)  # broker 2 has fetched nothing: the high watermark is 0
    led.partition("t", 1).update_follower(2, 4, 0)
    assert led.partition("t", 1).high_watermark == 4
    response = await led.call(delete_records, 2, deletion((1, offset)))
    assert answers(response) == {1: (ErrorCode.OFFSET_OUT_OF_RANGE, -1)}
    assert led.partition("t", 1).log.log_start_offset == 0


async def test_records_above_the_high_watermark_are_not_deletable(led: Broker) -> None:
    append(led, "t", 1, 4)  # broker 2 has fetched nothing: the high watermark is 0
    assert answers(await led.call(delete_records, 2, deletion((1, 3)))) == {1: (ErrorCode.OFFSET_OUT_OF_RANGE, -1)}


async def test_partitions_not_led_here_or_unknown(led: Broker) -> None:
    response = await led.call(delete_records, 2, deletion((2, 0), (9, 0)))
    assert answers(response) == {2: (ErrorCode.NOT_LEADER_OR_FOLLOWER, -1),
                                 9: (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1)}
    response = await led.call(delete_records, 2, deletion((0, 0), topic="nope"))
    assert answers(response) == {0: (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1)}


@pytest.mark.parametrize(("policy", "code"),
                         [("compact", ErrorCode.POLICY_VIOLATION), ("compact,delete", ErrorCode.NONE)])
async def test_a_compacted_only_topic_refuses_with_policy_violation(broker: Broker, policy: str, code: int) -> None:
    broker.add_topic("c", {0: [1]}, {"cleanup.policy": policy})
    append(broker, "c", 0, 3)
    response = await broker.call(delete_records, 2, deletion((0, 2), topic="c"))
    assert answers(response) == {0: (code, 2 if code == ErrorCode.NONE else -1)}


async def test_the_answer_waits_for_the_followers_log_start(led: Broker) -> None:
    append(led, "t", 1, 6)
    part = led.partition("t", 1)
    part.update_follower(2, 6, 0)
    task = asyncio.create_task(led.call(delete_records, 2, deletion((1, 4), timeout_ms=5_000)))
    await asyncio.sleep(0.05)
    assert not task.done()
    part.update_follower(2, 6, 4)  # the follower's next fetch: its log starts at 4 now
    assert answers(await task) == {1: (ErrorCode.NONE, 4)}


async def test_followers_that_do_not_follow_time_the_request_out(led: Broker) -> None:
    append(led, "t", 1, 6)
    led.partition("t", 1).update_follower(2, 6, 0)
    response = await led.call(delete_records, 2, deletion((1, 4), timeout_ms=30))
    assert answers(response) == {1: (ErrorCode.REQUEST_TIMED_OUT, 0)}
    zero = await led.call(delete_records, 2, deletion((1, 5), timeout_ms=0))  # checked once, not waited for
    assert answers(zero) == {1: (ErrorCode.REQUEST_TIMED_OUT, 0)}


async def test_a_leader_deposed_while_waiting_answers_not_leader(led: Broker) -> None:
    append(led, "t", 1, 6)
    part = led.partition("t", 1)
    part.update_follower(2, 6, 0)
    task = asyncio.create_task(led.call(delete_records, 2, deletion((1, 4), timeout_ms=5_000)))
    await asyncio.sleep(0.01)
    part.become_follower(leader_id=2, leader_epoch=1, isr=(1, 2), replicas=[1, 2])
    assert answers(await task) == {1: (ErrorCode.NOT_LEADER_OR_FOLLOWER, -1)}


async def test_the_new_log_start_is_checkpointed_at_once_and_read_back(led: Broker, tmp_path: Path) -> None:
    for _ in range(3):
        append(led, "t", 0, 3)
    await led.call(delete_records, 2, deletion((0, 4)))
    data = tmp_path / "data"
    assert "t 0 4" in (data / LOG_START_OFFSET_CHECKPOINT).read_text().splitlines()
    copy = tmp_path / "copy"  # the log dir as a killed broker leaves it (no close, no final checkpoint)
    shutil.copytree(data, copy)
    reopened = LogManager([copy], led.logs.default_config)
    reopened.load_all()
    try:
        restored = reopened.get("t", 0)
        assert restored is not None and restored.log_start_offset == 4
    finally:
        reopened.close_all()


# --- DescribeLogDirs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
async def test_describe_log_dirs_lists_every_partition_with_its_size(led: Broker, tmp_path: Path, version: int) -> None:
    append(led, "t", 0, 5)
    response = await led.send(describe_log_dirs, version, {"topics": None})
    [result] = response["results"]
    assert result["error_code"] == ErrorCode.NONE
    assert result["log_dir"] == str((tmp_path / "data").absolute())
    [topic] = result["topics"]
    sizes = {p["partition_index"]: (p["partition_size"], p["offset_lag"], p["is_future_key"])
             for p in topic["partitions"]}
    on_disk = {p: sum(f.stat().st_size for f in (tmp_path / "data" / f"t-{p}").glob("*.log")) for p in (0, 1, 2)}
    assert on_disk[0] > 0
    assert sizes == {p: (on_disk[p], 0, False) for p in (0, 1, 2)}
    if version >= 4:
        usage = shutil.disk_usage(tmp_path)
        assert result["total_bytes"] == usage.total
        assert 0 < result["usable_bytes"] <= usage.total
    else:
        assert led.last_decoded["results"][0].get("total_bytes", -1) == -1  # not on the wire before v4


async def test_describe_log_dirs_of_some_partitions(led: Broker) -> None:
    response = await led.send(describe_log_dirs, 4, {"topics": [{"topic": "t", "partitions": [1, 7]},
                                                                {"topic": "nope", "partitions": [0]}]})
    [result] = response["results"]
    assert [(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in result["topics"]] == [("t", [1])]


async def test_describe_log_dirs_with_no_partitions_asked(led: Broker) -> None:
    response = await led.send(describe_log_dirs, 4, {"topics": []})
    assert response["results"][0]["topics"] == []


# --- DescribeProducers ---------------------------------------------------------------------------------------


async def test_describe_producers_lists_the_idempotent_producers_of_a_replica(led: Broker) -> None:
    append(led, "t", 0, 3, producer=(1000, 2, 0), timestamp=5_000)
    append(led, "t", 0, 2, producer=(1000, 2, 3), timestamp=6_000)
    append(led, "t", 0, 1)  # not idempotent: not listed
    append(led, "t", 0, 4, producer=(77, 0, 0), timestamp=7_000)
    request = {"topics": [{"name": "t", "partition_indexes": [0, 1, 9]}, {"name": "nope", "partition_indexes": [0]},
                          {"name": "bad name!", "partition_indexes": [0]}]}
    response = await led.send(describe_producers, 0, request)
    [t, nope, bad] = response["topics"]
    p0, p1, p9 = t["partitions"]
    assert p0["error_code"] == ErrorCode.NONE
    assert p0["active_producers"] == [
        {"producer_id": 77, "producer_epoch": 0, "last_sequence": 3, "last_timestamp": 7_003, "coordinator_epoch": -1,
         "current_txn_start_offset": -1},
        {"producer_id": 1000, "producer_epoch": 2, "last_sequence": 4, "last_timestamp": 6_001,
         "coordinator_epoch": -1, "current_txn_start_offset": -1},
    ]
    assert (p1["error_code"], p1["active_producers"]) == (ErrorCode.NONE, [])
    assert p9["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert nope["partitions"][0]["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert bad["partitions"][0]["error_code"] == ErrorCode.INVALID_TOPIC_EXCEPTION


async def test_describe_producers_of_a_partition_with_no_replica_here(broker: Broker) -> None:
    broker.add_topic("elsewhere", {0: [2, 3]})
    response = await broker.send(describe_producers, 0, {"topics": [{"name": "elsewhere", "partition_indexes": [0]}]})
    assert response["topics"][0]["partitions"][0]["error_code"] == ErrorCode.NOT_LEADER_OR_FOLLOWER


# --- transactions ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 1])
async def test_list_transactions_is_empty(broker: Broker, version: int) -> None:
    request = {"state_filters": ["Ongoing", "Bogus"], "producer_id_filters": [5], "duration_filter": -1}
    response = await broker.send(list_transactions, version, request)
    assert (response["error_code"], response["transaction_states"]) == (ErrorCode.NONE, [])
    assert response["unknown_state_filters"] == ["Bogus"]


async def test_describe_transactions_knows_no_transactional_id(broker: Broker) -> None:
    response = await broker.send(describe_transactions, 0, {"transactional_ids": ["app-1", ""]})
    assert [(s["transactional_id"], s["error_code"]) for s in response["transaction_states"]] == [
        ("app-1", ErrorCode.TRANSACTIONAL_ID_NOT_FOUND), ("", ErrorCode.INVALID_REQUEST)]
