"""CreatePartitions, DeleteTopics, OffsetForLeaderEpoch and ApiVersions on the handler harness."""

from __future__ import annotations

import uuid

import pytest

from kafka_broker.handlers import HANDLERS, api_versions, create_partitions, delete_topics, offset_for_leader_epoch
from kafka_broker.metadata import topic_id_to_uuid
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.storage.records import Record, build_batch

from .harness import Broker


def grow(name: str, count: int, assignments: list[list[int]] | None = None, *, validate_only: bool = False) -> dict:
    return {"topics": [{"name": name, "count": count,
                        "assignments": None if assignments is None else [{"broker_ids": a} for a in assignments]}],
            "timeout_ms": 30_000, "validate_only": validate_only}


@pytest.mark.parametrize("version", [0, 3])
async def test_create_partitions(broker: Broker, version: int) -> None:
    broker.add_topic("t", {0: [1, 2]})
    response = await broker.call(create_partitions, version, grow("t", 3))
    assert response["results"][0]["error_code"] == ErrorCode.NONE
    partitions = broker.store.assignments["t"].partitions
    assert sorted(partitions) == [0, 1, 2] and all(len(r) == 2 for r in partitions.values())
    response = await broker.call(create_partitions, version, grow("t", 4, [[3, 1]]))
    assert broker.store.assignments["t"].partitions[3] == [3, 1]


async def test_create_partitions_errors(broker: Broker) -> None:
    broker.add_topic("t", {0: [1], 1: [2]})
    cases = [
        (grow("t", 1), ErrorCode.INVALID_PARTITIONS, "Topic currently has 2 partitions, which is higher than the "
                                                     "requested 1."),
        (grow("t", 2), ErrorCode.INVALID_PARTITIONS, "Topic already has 2 partitions."),
        (grow("t", 4, [[1]]), ErrorCode.INVALID_REPLICA_ASSIGNMENT,
         "Increasing the number of partitions by 2 but 1 assignments provided."),
        (grow("nope", 3), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "Topic 'nope' does not exist."),
    ]
    for request, code, message in cases:
        result = (await broker.call(create_partitions, 3, request))["results"][0]
        assert (result["error_code"], result["error_message"]) == (code, message)
    result = (await broker.call(create_partitions, 3, grow("t", 5, validate_only=True)))["results"][0]
    assert result["error_code"] == ErrorCode.NONE and len(broker.store.assignments["t"].partitions) == 2


async def test_a_topic_being_deleted_does_not_grow(broker: Broker) -> None:
    broker.add_topic("t", {0: [1, 2]})
    broker.cache.topics["t"].marked_for_deletion = True
    result = (await broker.call(create_partitions, 3, grow("t", 2)))["results"][0]
    assert (result["error_code"], result["error_message"]) == (ErrorCode.INVALID_TOPIC_EXCEPTION,
                                                               "The topic is queued for deletion.")
    assert len(broker.store.assignments["t"].partitions) == 1


@pytest.mark.parametrize("version", [1, 4, 6])
async def test_delete_topics(broker: Broker, version: int) -> None:
    broker.add_topic("t", {0: [1]})
    log_dir = broker.partition("t", 0).log.directory
    request = ({"topics": [{"name": "t", "topic_id": None}, {"name": "nope", "topic_id": None}]}
               if version >= 6 else {"topic_names": ["t", "nope"]})
    response = await broker.call(delete_topics, version, {**request, "timeout_ms": 30_000})
    codes = {r["name"]: r["error_code"] for r in response["responses"]}
    assert codes == {"t": ErrorCode.NONE, "nope": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
    assert "t" not in broker.cache.topics and ("t", 0) not in broker.replicas.partitions
    assert not log_dir.exists() or log_dir.name.endswith("-delete")


async def test_a_deleted_topic_created_again_at_once_does_not_keep_the_deletion_waiting(broker: Broker) -> None:
    """Another client creates the topic again the moment the deletion is done: the answer is success, not a
    timeout while this broker knows a topic of that name (before, it waited for the name to be unknown)."""
    broker.add_topic("t", {0: [1]})
    old_id = broker.cache.topics["t"].topic_id
    marked = broker.store.mark_topic_for_deletion

    async def deleted_then_created_again(topic: str) -> None:
        await marked(topic)
        broker.add_topic(topic, {0: [1]})

    broker.store.mark_topic_for_deletion = deleted_then_created_again  # type: ignore[method-assign]
    response = await broker.call(delete_topics, 4, {"topic_names": ["t"], "timeout_ms": 500})
    assert response["responses"][0]["error_code"] == ErrorCode.NONE
    assert broker.cache.topics["t"].topic_id != old_id


async def test_delete_topics_disabled_or_timing_out(tmp_path) -> None:
    broker = Broker(tmp_path / "data", **{"delete.topic.enable": "false"})
    try:
        broker.add_topic("t", {0: [1]})
        response = await broker.call(delete_topics, 4, {"topic_names": ["t"], "timeout_ms": 30_000})
        assert response["responses"][0]["error_code"] == ErrorCode.TOPIC_DELETION_DISABLED
    finally:
        broker.close()


async def test_delete_topics_answers_timed_out_when_the_controller_does_not_act(broker: Broker) -> None:
    broker.add_topic("t", {0: [1]})
    broker.store.delete_at_once = False
    response = await broker.call(delete_topics, 4, {"topic_names": ["t"], "timeout_ms": 1})
    assert response["responses"][0]["error_code"] == ErrorCode.REQUEST_TIMED_OUT
    assert broker.store.deleted == ["t"]


@pytest.mark.parametrize("version", [0, 2, 4])
async def test_offset_for_leader_epoch(broker: Broker, version: int) -> None:
    broker.add_topic("t", {0: [1]})
    part = broker.partition("t", 0)
    records = [Record(i, 1_000, None, b"v") for i in range(3)]
    part.log.append_as_leader(bytearray(build_batch(records, base_offset=0)), leader_epoch=0, now_ms=1)
    part.become_leader(leader_epoch=4, isr=(1,), replicas=[1])
    part.log.append_as_leader(bytearray(build_batch(records[:1], base_offset=0)), leader_epoch=4, now_ms=1)

    def asked(*epochs: int) -> dict:
        return {"replica_id": -1, "topics": [{"topic": "t", "partitions": [
            {"partition": 0, "current_leader_epoch": -1, "leader_epoch": e} for e in epochs]}]}

    response = await broker.call(offset_for_leader_epoch, version, asked(0, 2, 4))
    answers = [(p["leader_epoch"], p["end_offset"]) for p in response["topics"][0]["partitions"]]
    assert answers == [(0, 3), (0, 3), (4, 4)]
    response = await broker.call(offset_for_leader_epoch, version, {"replica_id": -1, "topics": [
        {"topic": "t", "partitions": [{"partition": 5, "current_leader_epoch": -1, "leader_epoch": 0}]}]})
    assert response["topics"][0]["partitions"][0]["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


@pytest.mark.parametrize("version", [0, 3])
async def test_api_versions_advertise_exactly_the_handler_table(broker: Broker, version: int) -> None:
    response = await broker.call(api_versions, version, {"client_software_name": "t", "client_software_version": "1"})
    advertised = {k["api_key"]: (k["min_version"], k["max_version"]) for k in response["api_keys"]}
    assert advertised == {key: (r.min_version, r.max_version) for key, r in HANDLERS.items()}
    assert advertised[ApiKey.PRODUCE][1] >= 9
    assert (advertised[ApiKey.SASL_HANDSHAKE], advertised[ApiKey.SASL_AUTHENTICATE]) == ((0, 1), (0, 2))  # as Kafka 3.9


async def test_delete_topics_by_id(broker: Broker) -> None:
    broker.add_topic("t", {0: [1]})
    known, unknown = topic_id_to_uuid(broker.cache.topics["t"].topic_id), uuid.uuid4()
    response = await broker.call(delete_topics, 6, {"topics": [{"name": None, "topic_id": known},
                                                               {"name": None, "topic_id": unknown}],
                                                    "timeout_ms": 30_000})
    assert [(r["name"], r["topic_id"], r["error_code"]) for r in response["responses"]] == [
        ("t", known, ErrorCode.NONE), (None, unknown, ErrorCode.UNKNOWN_TOPIC_ID)]


async def test_a_timeout_of_zero_answers_without_waiting(broker: Broker) -> None:
    """As Kafka does: the change is made, success is answered at once, nothing is waited for."""
    broker.add_topic("t", {0: [1]})
    broker.store.delete_at_once = False
    response = await broker.call(delete_topics, 4, {"topic_names": ["t"], "timeout_ms": 0})
    assert response["responses"][0]["error_code"] == ErrorCode.NONE and broker.store.deleted == ["t"]
