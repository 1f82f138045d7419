"""The version floor and the versions up to Kafka 3.9's: old Produce/Fetch refused in their own version,
Fetch by topic id (v13+), the follower's replica_state (v15+), KIP-951 leader hints (v16+), ListOffsets v0
and v8/v9, Metadata v0, ListGroups v5, FindCoordinator's share key, and no address clients cannot dial."""

from __future__ import annotations

import uuid

import pytest

from kafka_broker.handlers import (
    api_versions,
    describe_cluster,
    fetch,
    find_coordinator,
    list_groups,
    list_offsets,
    metadata,
    produce,
)
from kafka_broker.handlers.api_versions import unsupported_version_response
from kafka_broker.metadata import BrokerRegistration, topic_id_to_uuid
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.storage.records import Record, build_batch, iter_batches

from .harness import Broker


def append(broker: Broker, topic: str, partition: int, count: int) -> None:
    part = broker.partition(topic, partition)
    records = [Record(i, 1_000 + i, None, b"v%d" % i) for i in range(count)]
    part.log.append_as_leader(bytearray(build_batch(records, base_offset=0)), leader_epoch=part.leader_epoch,
                              now_ms=10_000)
    part.after_leader_append()


def fetch_request(topics: list[dict]) -> dict:
    return {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1_000_000, "topics": topics}


def partitions(*indexes: int, offset: int = 0) -> list[dict]:
    return [{"partition": i, "fetch_offset": offset, "partition_max_bytes": 1_000_000} for i in indexes]


def offsets_of(records: object) -> list[int]:
    data = records.read() if hasattr(records, "read") else bytes(records)  # type: ignore[union-attr]
    return [o for h in iter_batches(data) for o in range(h.base_offset, h.last_offset + 1)]


@pytest.mark.parametrize("version", [0, 1, 2])
async def test_old_produce_versions_are_refused_per_partition(broker: Broker, version: int) -> None:
    broker.add_topic("t", {0: [1]})
    response = await broker.call(produce, version, {"acks": 1, "timeout_ms": 1000, "topic_data": [
        {"name": "t", "partition_data": [{"index": 0, "records": b"\x00" * 40}]}]})
    assert response is not None
    (part,) = response["responses"][0]["partition_responses"]
    assert (part["error_code"], part["base_offset"]) == (ErrorCode.UNSUPPORTED_VERSION, -1)
    assert broker.partition("t", 0).log.log_end_offset == 0


@pytest.mark.parametrize("version", [0, 1, 2, 3])
async def test_old_fetch_versions_are_refused_per_partition(broker: Broker, version: int) -> None:
    broker.add_topic("t", {0: [1], 1: [1]})
    append(broker, "t", 0, 2)
    response = await broker.call(fetch, version, fetch_request([{"topic": "t", "partitions": partitions(0, 1)}]))
    codes = [(p["partition_index"], p["error_code"]) for p in response["responses"][0]["partitions"]]
    assert codes == [(0, ErrorCode.UNSUPPORTED_VERSION), (1, ErrorCode.UNSUPPORTED_VERSION)]


@pytest.mark.parametrize("version", [13, 14, 15, 16, 17])
async def test_fetch_names_topics_by_id(broker: Broker, version: int) -> None:
    broker.add_topic("t", {0: [1]})
    append(broker, "t", 0, 3)
    known = topic_id_to_uuid(broker.cache.topics["t"].topic_id)
    unknown = uuid.uuid4()
    response = await broker.call(fetch, version, fetch_request([
        {"topic_id": known, "partitions": partitions(0)},
        {"topic_id": unknown, "partitions": partitions(0)},
    ]))
    first, second = response["responses"]
    assert first["topic_id"] == known and second["topic_id"] == unknown
    (p0,) = first["partitions"]
    assert (p0["error_code"], p0["high_watermark"], offsets_of(p0["records"])) == (ErrorCode.NONE, 3, [0, 1, 2])
    assert second["partitions"][0]["error_code"] == ErrorCode.UNKNOWN_TOPIC_ID


async def test_fetch_v15_follower_names_itself_in_replica_state(broker: Broker) -> None:
    broker.add_topic("t", {0: [1, 2]})
    append(broker, "t", 0, 2)
    known = topic_id_to_uuid(broker.cache.topics["t"].topic_id)
    request = fetch_request([{"topic_id": known, "partitions": partitions(0, offset=2)}])
    request["replica_state"] = {"replica_id": 2, "replica_epoch": -1}
    response = await broker.call(fetch, 15, request)
    (p0,) = response["responses"][0]["partitions"]
    assert p0["error_code"] == ErrorCode.NONE
    assert broker.partition("t", 0).high_watermark == 2  # the follower's fetch at 2 moved it


@pytest.mark.parametrize("version", [12, 16, 17])
async def test_fetch_from_a_follower_names_the_leader_from_v16(broker: Broker, version: int) -> None:
    broker.add_topic("t", {0: [2, 1]})  # broker 2 leads; we (1) follow
    topic = ({"topic": "t"} if version < 13 else {"topic_id": topic_id_to_uuid(broker.cache.topics["t"].topic_id)})
    response = await broker.call(fetch, version, fetch_request([{**topic, "partitions": partitions(0)}]))
    (p0,) = response["responses"][0]["partitions"]
    assert p0["error_code"] == ErrorCode.NOT_LEADER_OR_FOLLOWER
    if version >= 16:
        assert p0["current_leader"] == {"leader_id": 2, "leader_epoch": broker.cache.partition("t", 0).leader_epoch}
        assert response["node_endpoints"] == [{"node_id": 2, "host": "127.0.0.1", "port": 9093, "rack": None}]
    else:
        assert "node_endpoints" not in response


@pytest.mark.parametrize(("timestamp", "expected"), [(-1, [3]), (-2, [0])])
async def test_list_offsets_v0_answers_old_style_offsets(broker: Broker, timestamp: int, expected: list[int]) -> None:
    broker.add_topic("t", {0: [1]})
    append(broker, "t", 0, 3)
    response = await broker.call(list_offsets, 0, {"replica_id": -1, "topics": [
        {"name": "t", "partitions": [{"partition_index": 0, "timestamp": timestamp, "max_num_offsets": 1}]}]})
    (part,) = response["topics"][0]["partitions"]
    assert (part["error_code"], part["old_style_offsets"]) == (ErrorCode.NONE, expected)


@pytest.mark.parametrize(("version", "timestamp", "offset"), [(8, -4, 0), (9, -4, 0), (9, -5, -1)])
async def test_list_offsets_local_and_tiered(broker: Broker, version: int, timestamp: int, offset: int) -> None:
    """No tiered storage: earliest-local is the log start, latest-tiered -1 (as Kafka without remote storage)."""
    broker.add_topic("t", {0: [1]})
    append(broker, "t", 0, 3)
    response = await broker.call(list_offsets, version, {"replica_id": -1, "topics": [
        {"name": "t", "partitions": [{"partition_index": 0, "timestamp": timestamp}]}]})
    (part,) = response["topics"][0]["partitions"]
    assert (part["error_code"], part["offset"], part["timestamp"]) == (ErrorCode.NONE, offset, -1)


async def test_metadata_v0_empty_list_is_every_topic(broker: Broker) -> None:
    broker.add_topic("a", {0: [1]})
    broker.add_topic("b", {0: [2]})
    response = await broker.call(metadata, 0, {"topics": []})
    assert sorted(t["name"] for t in response["topics"]) == ["a", "b"]


async def test_brokers_without_an_endpoint_are_never_handed_out(broker: Broker) -> None:
    broker.cache.brokers[3] = BrokerRegistration(3, "", 9094)  # registered for another listener / empty host
    broker.add_topic("t", {0: [3, 1]})
    response = await broker.call(metadata, 12, {"topics": [{"name": "t", "topic_id": None}],
                                                "allow_auto_topic_creation": False})
    assert [b["node_id"] for b in response["brokers"]] == [1, 2]
    (part,) = response["topics"][0]["partitions"]
    assert (part["error_code"], part["leader_id"]) == (ErrorCode.LISTENER_NOT_FOUND, -1)
    cluster = await broker.call(describe_cluster, 1, {"include_cluster_authorized_operations": False})
    assert [b["broker_id"] for b in cluster["brokers"]] == [1, 2]
    assert all(b["host"] for b in cluster["brokers"])


async def test_a_coordinator_without_an_endpoint_is_not_available(broker: Broker) -> None:
    await broker.start_groups({0: [2]})
    try:
        found = await broker.send(find_coordinator, 4, {"key_type": 0, "coordinator_keys": ["g"]})
        assert found is not None
        assert (found["coordinators"][0]["error_code"], found["coordinators"][0]["host"]) == (ErrorCode.NONE,
                                                                                             "127.0.0.1")
        broker.cache.brokers[2] = BrokerRegistration(2, "", 9093)
        found = await broker.send(find_coordinator, 4, {"key_type": 0, "coordinator_keys": ["g"]})
        assert found is not None
        (coordinator,) = found["coordinators"]
        assert (coordinator["error_code"], coordinator["node_id"]) == (ErrorCode.COORDINATOR_NOT_AVAILABLE, -1)
    finally:
        await broker.stop_groups()


@pytest.mark.parametrize(("version", "code"), [(5, ErrorCode.INVALID_REQUEST),
                                               (6, ErrorCode.COORDINATOR_NOT_AVAILABLE)])
async def test_share_group_keys(broker: Broker, version: int, code: int) -> None:
    found = await broker.send(find_coordinator, version, {"key_type": 2, "coordinator_keys": ["s"]})
    assert found is not None
    assert found["coordinators"][0]["error_code"] == code


@pytest.mark.parametrize(("types", "listed"), [([], True), (["Classic"], True), (["consumer"], False)])
async def test_list_groups_v5_types_filter(broker: Broker, types: list[str], listed: bool) -> None:
    groups = await broker.start_groups()
    try:
        await groups.commit_offsets(group_id="g", generation_id=-1, member_id="", group_instance_id=None,
                                    offsets={})
        response = await broker.send(list_groups, 5, {"states_filter": [], "types_filter": types})
        assert response is not None
        expected = [("g", "classic")] if listed else []
        assert [(g["group_id"], g["group_type"]) for g in response["groups"]] == expected
    finally:
        await broker.stop_groups()


async def test_api_versions_advertises_kafka_39_ranges(broker: Broker) -> None:
    response = await broker.call(api_versions, 4, {"client_software_name": "t", "client_software_version": "1"})
    ranges = {k["api_key"]: (k["min_version"], k["max_version"]) for k in response["api_keys"]}
    assert ranges[ApiKey.PRODUCE] == (0, 11) and ranges[ApiKey.FETCH] == (0, 17)
    assert ranges[ApiKey.LIST_OFFSETS] == (0, 9) and ranges[ApiKey.METADATA] == (0, 12)
    assert ranges[ApiKey.API_VERSIONS] == (0, 4)
    # An unknown ApiVersions version: only ApiVersions' own range, as Kafka answers it
    assert unsupported_version_response()["api_keys"] == [{"api_key": 18, "min_version": 0, "max_version": 4}]
