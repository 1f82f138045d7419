"""A partition-count bomb (CreateTopics or CreatePartitions asking for 2^31-1 partitions, even with
``validate_only``) is answered INVALID_PARTITIONS at once, before any replica placement is computed;
the partitions one request may create are shared by its topics."""

from __future__ import annotations

import time

import pytest
from handlers.harness import Broker

from kafka_broker.cluster.topic_admin import MAX_PARTITIONS_PER_REQUEST
from kafka_broker.handlers import create_partitions, create_topics
from kafka_broker.protocol import ErrorCode

HUGE = 2**31 - 1


def new_topic(name: str, partitions: int) -> dict:
    return {"name": name, "num_partitions": partitions, "replication_factor": 1, "assignments": [], "configs": []}


def create(*topics: dict, validate_only: bool = True) -> dict:
    return {"topics": list(topics), "timeout_ms": 5000, "validate_only": validate_only}


def grow(*counts: tuple[str, int], validate_only: bool = True) -> dict:
    return {"topics": [{"name": name, "count": count, "assignments": None} for name, count in counts],
            "timeout_ms": 5000, "validate_only": validate_only}


@pytest.fixture
def broker(tmp_path) -> Broker:
    b = Broker(tmp_path / "data")
    yield b
    b.close()


@pytest.mark.parametrize("validate_only", [True, False])
async def test_a_huge_partition_count_is_refused_at_once(broker: Broker, validate_only: bool) -> None:
    started = time.monotonic()
    response = await broker.call(create_topics, 7, create(new_topic("bomb", HUGE), validate_only=validate_only))
    assert time.monotonic() - started < 5  # an upper bound for a loaded machine; it took minutes and GiBs before
    (result,) = response["topics"]
    assert result["error_code"] == ErrorCode.INVALID_PARTITIONS
    assert result["error_message"] == f"Cannot create {HUGE} partitions: one request may create at most " \
                                      f"{MAX_PARTITIONS_PER_REQUEST}."
    assert (result["num_partitions"], result["replication_factor"]) == (-1, -1)
    assert "bomb" not in broker.store.assignments


async def test_the_topics_of_one_request_share_the_limit(broker: Broker) -> None:
    half = MAX_PARTITIONS_PER_REQUEST // 2
    response = await broker.call(create_topics, 7, create(
        new_topic("a", half), new_topic("b", half), new_topic("c", 1), new_topic("d", -1)))
    codes = {r["name"]: (r["error_code"], r["error_message"]) for r in response["topics"]}
    assert codes["a"] == (ErrorCode.NONE, None) and codes["b"] == (ErrorCode.NONE, None)
    assert codes["c"] == (ErrorCode.INVALID_PARTITIONS, f"Cannot create 1 partitions: one request may create at "
                          f"most {MAX_PARTITIONS_PER_REQUEST}, and {MAX_PARTITIONS_PER_REQUEST} are already "
                          f"asked for by its other topics.")
    assert codes["d"][0] == ErrorCode.INVALID_PARTITIONS  # the broker's default count counts as well
    # a new request starts afresh
    response = await broker.call(create_topics, 7, create(new_topic("c", 1)))
    assert response["topics"][0]["error_code"] == ErrorCode.NONE


async def test_a_topic_of_exactly_the_limit_is_created(broker: Broker) -> None:
    response = await broker.call(create_topics, 7, create(new_topic("big", MAX_PARTITIONS_PER_REQUEST)))
    assert response["topics"][0]["error_code"] == ErrorCode.NONE
    assert response["topics"][0]["num_partitions"] == MAX_PARTITIONS_PER_REQUEST


async def test_an_explicit_assignment_counts_too(broker: Broker) -> None:
    too_many = [{"partition_index": p, "broker_ids": [1]} for p in range(MAX_PARTITIONS_PER_REQUEST + 1)]
    topic = {**new_topic("t", -1), "replication_factor": -1, "assignments": too_many}
    (result,) = (await broker.call(create_topics, 7, create(topic)))["topics"]
    assert result["error_code"] == ErrorCode.INVALID_PARTITIONS


@pytest.mark.parametrize("validate_only", [True, False])
async def test_create_partitions_refuses_a_huge_count_at_once(broker: Broker, validate_only: bool) -> None:
    broker.add_topic("t", {0: [1], 1: [2]})
    broker.add_topic("u", {0: [1]})
    started = time.monotonic()
    response = await broker.call(create_partitions, 3, grow(("t", HUGE), validate_only=validate_only))
    assert time.monotonic() - started < 5
    (result,) = response["results"]
    assert result["error_code"] == ErrorCode.INVALID_PARTITIONS
    assert result["error_message"] == f"Cannot create {HUGE - 2} partitions: one request may create at most " \
                                      f"{MAX_PARTITIONS_PER_REQUEST}."
    assert len(broker.store.assignments["t"].partitions) == 2
    # the request's topics share the limit: growing two topics by half of it each fits, a third does not
    half = MAX_PARTITIONS_PER_REQUEST // 2
    response = await broker.call(create_partitions, 3, grow(("t", 2 + half), ("u", 1 + half), ("t", 3 + half)))
    codes = [r["error_code"] for r in response["results"]]
    assert codes == [ErrorCode.NONE, ErrorCode.NONE, ErrorCode.INVALID_PARTITIONS]
