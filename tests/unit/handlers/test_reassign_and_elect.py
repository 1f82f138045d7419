"""ElectLeaders, AlterPartitionReassignments and ListPartitionReassignments handlers: requests as a client
encodes them, answered on a broker that is not the controller (NOT_CONTROLLER, as Kafka's) and on the
controller of in-process brokers (the controller's own behaviour is tested in tests/unit/controller)."""

from __future__ import annotations

from types import ModuleType, SimpleNamespace
from typing import Any

from cluster.fakes import FakeCluster, state

from kafka_broker.handlers import alter_partition_reassignments, elect_leaders, list_partition_reassignments
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import (
    ErrorCode,
    decode_request,
    decode_request_header,
    decode_response,
    encode_request,
    encode_response,
)

from .harness import Broker
from .shape import assert_response_shape

STATE = "/brokers/topics/t/partitions/0/state"


async def on_node(cluster: FakeCluster, broker_id: int, handler: ModuleType, version: int,
                  request: dict[str, Any]) -> dict[str, Any]:
    """Send ``request`` over the wire codec to broker ``broker_id``'s handler; the response as a client decodes it."""
    node = cluster.nodes[broker_id]
    frame = encode_request(int(handler.API), version, 7, "unit-test", request)[4:]
    header, offset = decode_request_header(frame)
    services = SimpleNamespace(controller=node.controller, cache=node.cache, authorizer=None)
    response = await handler.handle(decode_request(header, frame, offset), RequestContext(header, services))
    assert_response_shape(handler.API, version, response)
    wire = b"".join(bytes(c) for c in encode_response(header, response))
    await cluster.sync()
    return decode_response(int(handler.API), version, wire[4:])[1]


def partition_errors(response: dict[str, Any]) -> dict[tuple[str, int], int]:
    return {(t["topic"], p["partition_id"]): p["error_code"]
            for t in response["replica_election_results"] for p in t["partition_result"]}


async def test_elect_leaders_on_the_controller_at_every_version(cluster: FakeCluster) -> None:
    await cluster.create_topic("t", {0: [1, 2], 1: [2, 1]})
    await cluster.controller_pass()
    for version in (0, 1, 2):
        await cluster.nodes[1].store.write_partition_state("t", 0, state(2, version + 1, [1, 2]),
                                                           cluster.zk.version(STATE))
        await cluster.sync()
        request = {"election_type": 0, "timeout_ms": 5000,
                   "topic_partitions": [{"topic": "t", "partitions": [0, 1, 7]}]}
        response = await on_node(cluster, 1, elect_leaders, version, request)
        assert response["error_code"] == ErrorCode.NONE
        assert partition_errors(response) == {("t", 0): ErrorCode.NONE, ("t", 1): ErrorCode.ELECTION_NOT_NEEDED,
                                              ("t", 7): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
        assert cluster.zk.state("t", 0).leader == 1


async def test_elect_leaders_for_all_partitions_lists_only_those_that_needed_one(cluster: FakeCluster) -> None:
    await cluster.create_topic("t", {0: [1, 2], 1: [2, 1]})
    await cluster.controller_pass()
    await cluster.nodes[1].store.write_partition_state("t", 0, state(2, 1, [1, 2]), cluster.zk.version(STATE))
    await cluster.sync()
    response = await on_node(cluster, 1, elect_leaders, 2,
                             {"election_type": 0, "timeout_ms": 5000, "topic_partitions": None})
    assert partition_errors(response) == {("t", 0): ErrorCode.NONE}
    response = await on_node(cluster, 1, elect_leaders, 2,
                             {"election_type": 0, "timeout_ms": 5000, "topic_partitions": None})
    assert response["replica_election_results"] == []


async def test_a_broker_that_is_not_the_controller_says_so(cluster: FakeCluster) -> None:
    await cluster.create_topic("t", {0: [1, 2]})
    await cluster.controller_pass()
    response = await on_node(cluster, 2, elect_leaders, 1, {
        "election_type": 1, "timeout_ms": 5000, "topic_partitions": [{"topic": "t", "partitions": [0]}]})
    assert partition_errors(response) == {("t", 0): ErrorCode.NOT_CONTROLLER}
    response = await on_node(cluster, 2, alter_partition_reassignments, 0, {
        "timeout_ms": 5000, "topics": [{"name": "t", "partitions": [{"partition_index": 0, "replicas": [3]}]}]})
    assert (response["error_code"], response["responses"]) == (ErrorCode.NOT_CONTROLLER, [])


async def test_an_unknown_election_type_is_an_invalid_request(broker: Broker) -> None:
    response = await broker.send(elect_leaders, 2, {
        "election_type": 5, "timeout_ms": 100, "topic_partitions": [{"topic": "t", "partitions": [0]}]})
    assert response is not None and response["error_code"] == ErrorCode.INVALID_REQUEST
    assert partition_errors(response) == {("t", 0): ErrorCode.INVALID_REQUEST}


async def test_alter_then_list_then_cancel(cluster: FakeCluster) -> None:
    await cluster.create_topic("t", {0: [1, 2], 1: [2, 3]})
    await cluster.controller_pass()
    alter = {"timeout_ms": 5000, "topics": [{"name": "t", "partitions": [
        {"partition_index": 0, "replicas": [1, 3]},
        {"partition_index": 1, "replicas": None},
        {"partition_index": 2, "replicas": [1]},
    ]}]}
    response = await on_node(cluster, 1, alter_partition_reassignments, 0, alter)
    assert response["error_code"] == ErrorCode.NONE
    assert [(p["partition_index"], p["error_code"]) for p in response["responses"][0]["partitions"]] == [
        (0, ErrorCode.NONE), (1, ErrorCode.NO_REASSIGNMENT_IN_PROGRESS), (2, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)]

    expected = [{"name": "t", "partitions": [
        {"partition_index": 0, "replicas": [1, 3, 2], "adding_replicas": [3], "removing_replicas": [2]}]}]
    for broker_id in (1, 2):  # any broker answers from its metadata
        listed = await on_node(cluster, broker_id, list_partition_reassignments, 0, {"timeout_ms": 5000})
        assert (listed["error_code"], listed["topics"]) == (ErrorCode.NONE, expected)
    listed = await on_node(cluster, 3, list_partition_reassignments, 0, {
        "timeout_ms": 5000,
        "topics": [{"name": "t", "partition_indexes": [1]}, {"name": "u", "partition_indexes": [0]}]})
    assert listed["topics"] == []

    cancel = {"timeout_ms": 5000, "topics": [{"name": "t", "partitions": [{"partition_index": 0, "replicas": None}]}]}
    response = await on_node(cluster, 1, alter_partition_reassignments, 0, cancel)
    assert response["responses"][0]["partitions"][0]["error_code"] == ErrorCode.NONE
    await cluster.controller_pass()
    assert (await on_node(cluster, 1, list_partition_reassignments, 0, {"timeout_ms": 5000}))["topics"] == []
    assert cluster.nodes[1].cache.partition("t", 0).replicas == [1, 2]  # type: ignore[union-attr]
