"""Metadata and DescribeCluster: brokers, controller, cluster id, topics with leaders/replicas/ISR, topic
ids, auto-creation, and leaders that are not (yet) there."""

from __future__ import annotations

import uuid

import pytest

from kafka_broker.handlers import describe_cluster, metadata
from kafka_broker.metadata import topic_id_to_uuid
from kafka_broker.protocol import ErrorCode

from .harness import Broker


def request(*names: str | None, auto: bool = False, all_topics: bool = False) -> dict:
    return {"topics": None if all_topics else [{"name": n, "topic_id": None} for n in names],
            "allow_auto_topic_creation": auto, "include_cluster_authorized_operations": False,
            "include_topic_authorized_operations": False}


def by_name(response: dict) -> dict[str, dict]:
    return {t["name"]: t for t in response["topics"]}


@pytest.mark.parametrize("version", [1, 4, 9, 10, 12])
async def test_brokers_controller_and_topics(broker: Broker, version: int) -> None:
    broker.add_topic("t", {0: [1, 2], 1: [2, 3]})
    broker.add_topic("__consumer_offsets", {0: [1]})
    response = await broker.call(metadata, version, request(all_topics=True))
    assert [(b["node_id"], b["port"]) for b in response["brokers"]] == [(1, 9092), (2, 9093), (3, 9094)]
    assert response["controller_id"] == 1
    if version >= 2:
        assert response["cluster_id"] == "kopfka-unit-test"
    topics = by_name(response)
    assert set(topics) == {"t", "__consumer_offsets"}
    assert topics["__consumer_offsets"]["is_internal"] and not topics["t"]["is_internal"]
    parts = {p["partition_index"]: p for p in topics["t"]["partitions"]}
    assert (parts[0]["leader_id"], parts[0]["replica_nodes"], parts[0]["isr_nodes"]) == (1, [1, 2], [1, 2])
    assert (parts[1]["leader_id"], parts[1]["replica_nodes"], parts[1]["isr_nodes"]) == (2, [2, 3], [2, 3])
    if version >= 10:
        assert topics["t"]["topic_id"] == topic_id_to_uuid(broker.cache.topics["t"].topic_id)


async def test_an_unknown_topic_is_not_created_unless_asked(broker: Broker) -> None:
    response = await broker.call(metadata, 12, request("nope"))
    assert by_name(response)["nope"]["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert "nope" not in broker.store.assignments


async def test_auto_creation_answers_leader_not_available_and_creates_the_topic(broker: Broker) -> None:
    response = await broker.call(metadata, 12, request("fresh", auto=True))
    topic = by_name(response)["fresh"]
    assert (topic["error_code"], topic["partitions"]) == (ErrorCode.LEADER_NOT_AVAILABLE, [])
    assert list(broker.store.assignments["fresh"].partitions) == [0]  # num.partitions=1
    response = await broker.call(metadata, 12, request("fresh", auto=True))
    assert by_name(response)["fresh"]["error_code"] == ErrorCode.NONE


async def test_auto_creation_respects_the_broker_setting_and_internal_names(tmp_path) -> None:
    broker = Broker(tmp_path / "data", **{"auto.create.topics.enable": "false"})
    try:
        response = await broker.call(metadata, 12, request("fresh", auto=True))
        assert by_name(response)["fresh"]["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    finally:
        broker.close()


async def test_a_partition_whose_leader_is_gone(broker: Broker) -> None:
    broker.add_topic("t", {0: [3, 2]})
    del broker.cache.brokers[3]
    response = await broker.call(metadata, 12, request("t"))
    part = by_name(response)["t"]["partitions"][0]
    # Kafka's MetadataCache: the error, and leader -1 (a leader id without a broker entry is not dialable)
    assert (part["error_code"], part["leader_id"]) == (ErrorCode.LEADER_NOT_AVAILABLE, -1)
    assert part["offline_replicas"] == [3]


async def test_a_topic_before_its_leaders_are_elected(broker: Broker) -> None:
    """Used to answer partitions with leader -1 and no topic error: clients then dialled an empty host."""
    broker.add_topic("t", {0: [1, 2], 1: [2, 3]}, leaders=False)
    response = await broker.call(metadata, 12, request("t"))
    topic = by_name(response)["t"]
    assert (topic["error_code"], topic["partitions"]) == (ErrorCode.LEADER_NOT_AVAILABLE, [])
    info = broker.cache.topics["t"].partitions[0]
    info.state = broker.store.state_for(info)  # partition 0 elected, partition 1 not yet
    topic = by_name(await broker.call(metadata, 12, request("t")))["t"]
    assert (topic["error_code"], topic["partitions"]) == (ErrorCode.LEADER_NOT_AVAILABLE, [])
    info = broker.cache.topics["t"].partitions[1]
    info.state = broker.store.state_for(info)  # now every leader is elected
    topic = by_name(await broker.call(metadata, 12, request("t")))["t"]
    assert topic["error_code"] == ErrorCode.NONE
    assert [(p["partition_index"], p["leader_id"]) for p in topic["partitions"]] == [(0, 1), (1, 2)]


async def test_topics_by_id(broker: Broker) -> None:
    broker.add_topic("t", {0: [1]})
    known = topic_id_to_uuid(broker.cache.topics["t"].topic_id)
    unknown = uuid.uuid4()
    req = request()
    req["topics"] = [{"name": None, "topic_id": known}, {"name": None, "topic_id": unknown}]
    response = await broker.call(metadata, 12, req)
    first, second = response["topics"]
    assert (first["name"], first["error_code"]) == ("t", ErrorCode.NONE)
    assert (second["topic_id"], second["error_code"]) == (unknown, ErrorCode.UNKNOWN_TOPIC_ID)


@pytest.mark.parametrize("version", [0, 1])
async def test_describe_cluster(broker: Broker, version: int) -> None:
    response = await broker.call(describe_cluster, version, {"include_cluster_authorized_operations": False,
                                                             "endpoint_type": 1})
    assert (response["cluster_id"], response["controller_id"]) == ("kopfka-unit-test", 1)
    assert [b["broker_id"] for b in response["brokers"]] == [1, 2, 3]
