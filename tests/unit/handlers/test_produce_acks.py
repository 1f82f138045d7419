"""Produce with acks=0 answers nothing; when it fails, the handler asks the server to close the
connection (Kafka's ``KafkaApis.handleProduceRequest``), so the producer learns of the failure and
refreshes its metadata. With acks=1 the same failures are answered as partition errors."""

from __future__ import annotations

from typing import Any

import pytest

from kafka_broker.handlers import produce
from kafka_broker.handlers.context import CloseConnection, RequestContext
from kafka_broker.protocol import ErrorCode, RequestHeader
from kafka_broker.storage.records import Record, build_batch

from .harness import Broker


def batch() -> bytearray:
    return bytearray(build_batch([Record(0, 1_000, b"k", b"v")], base_offset=0))


def request(*partitions: tuple[str, int], acks: int, records: bytearray | None = None,
            transactional_id: str | None = None) -> dict[str, Any]:
    topics: dict[str, list[dict[str, Any]]] = {}
    for topic, index in partitions:
        topics.setdefault(topic, []).append({"index": index, "records": batch() if records is None else records})
    return {"transactional_id": transactional_id, "acks": acks, "timeout_ms": 1_000,
            "topic_data": [{"name": t, "partition_data": p} for t, p in topics.items()]}


@pytest.fixture
def led(broker: Broker) -> Broker:
    """Broker 1 leads t-0; broker 2 leads t-1."""
    broker.add_topic("t", {0: [1, 2], 1: [2, 1]})
    return broker


async def test_a_good_acks0_produce_appends_and_answers_nothing(led: Broker) -> None:
    assert await led.call(produce, 9, request(("t", 0), acks=0)) is None
    assert led.partition("t", 0).log.log_end_offset == 1


@pytest.mark.parametrize(("partition", "reason"), [
    (("t", 1), "NOT_LEADER_OR_FOLLOWER"),
    (("missing", 0), "UNKNOWN_TOPIC_OR_PARTITION"),
], ids=["not-leader", "unknown-topic"])
async def test_a_failed_acks0_produce_closes_the_connection(led: Broker, partition, reason) -> None:
    with pytest.raises(CloseConnection, match=reason):
        await led.call(produce, 9, request(partition, acks=0))


async def test_an_empty_acks0_payload_closes_the_connection(led: Broker) -> None:
    with pytest.raises(CloseConnection, match="CORRUPT_MESSAGE"):
        await led.call(produce, 9, request(("t", 0), acks=0, records=bytearray()))


async def test_partitions_that_succeeded_keep_their_appends(led: Broker) -> None:
    """Kafka appends what it can and then closes: the producer cannot tell which partitions failed."""
    with pytest.raises(CloseConnection, match=r"t-1: NOT_LEADER_OR_FOLLOWER"):
        await led.call(produce, 9, request(("t", 0), ("t", 1), acks=0))
    assert led.partition("t", 0).log.log_end_offset == 1


async def test_a_transactional_acks0_produce_closes_the_connection(led: Broker) -> None:
    """Refused as a whole (no transactions): with acks=0 there is no response to carry the error."""
    with pytest.raises(CloseConnection, match="TRANSACTIONAL_ID_AUTHORIZATION_FAILED"):
        await led.call(produce, 9, request(("t", 0), acks=0, transactional_id="tx"))
    assert led.partition("t", 0).log.log_end_offset == 0


async def test_with_acks1_the_same_failures_are_answered(led: Broker) -> None:
    response = await led.call(produce, 9, request(("t", 0), ("t", 1), ("missing", 0), acks=1))
    assert response is not None
    codes = {(t["name"], p["index"]): p["error_code"] for t in response["responses"] for p in t["partition_responses"]}
    assert codes == {("t", 0): ErrorCode.NONE, ("t", 1): ErrorCode.NOT_LEADER_OR_FOLLOWER,
                     ("missing", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}


async def test_from_v10_a_not_leader_error_names_the_current_leader(led: Broker) -> None:
    """KIP-951. Called without the codec: what v10 adds to the response is two tagged fields."""
    header = RequestHeader(int(produce.API), 10, 7, "unit-test")
    ctx = RequestContext(header=header, services=led.services, peer="127.0.0.1:50000")
    response = await produce.handle(request(("t", 0), ("t", 1), acks=1), ctx)
    assert response is not None
    led_here, elsewhere = response["responses"][0]["partition_responses"]
    assert "current_leader" not in led_here
    assert elsewhere["error_code"] == ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert elsewhere["current_leader"] == {"leader_id": 2, "leader_epoch": 0}
    assert response["node_endpoints"] == [{"node_id": 2, "host": "127.0.0.1", "port": 9093, "rack": None}]


async def test_before_v10_no_current_leader_is_added(led: Broker) -> None:
    response = await led.call(produce, 9, request(("t", 1), acks=1))
    assert response is not None
    assert "current_leader" not in response["responses"][0]["partition_responses"][0]
    assert "node_endpoints" not in response
