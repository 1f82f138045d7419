"""Produce with acks=0 on the wire, against real brokers.

The producer reads no response, so a failure can only be told by closing the connection, as Kafka
does: the client reconnects and refreshes its metadata. A good acks=0 produce keeps the connection.

Sarama's own ``TestFuncProducingNoResponse`` (``-v3.9.0``) turns the ApiVersions exchange off and
picks the Produce version from the Kafka version it is configured for: v10 for Kafka 3.9. Kafka 3.9
serves Produce v0-v11; a broker that closes the connection on v10 loses every record while the
producer, expecting no answer, reports success. v10 and v11 requests are v9's bytes with another
version number (checked against the frame sarama sends), which is how they are built here.
"""

from __future__ import annotations

import struct
import time
from typing import Any

import pytest
from tests.integration.admin import create_topic_with_assignment
from tests.integration.wire import WireClient
from tests.waiting import wait_for

from kafka_broker.protocol import ApiKey, ErrorCode, encode_request
from kafka_broker.storage.records import Record, build_batch

pytestmark = pytest.mark.integration

TOPIC = "acks0"
LATEST = -1


@pytest.fixture(scope="module")
def cluster(module_cluster_factory):
    """Two brokers; broker 1 leads acks0-0, broker 2 leads acks0-1."""
    cluster = module_cluster_factory(brokers=2)
    create_topic_with_assignment(cluster.bootstrap_servers, TOPIC, [[1], [2]])
    return cluster


@pytest.fixture
def client(cluster):
    """A raw connection to broker 1, once broker 1 leads acks0-0 and knows acks0-1 is led elsewhere."""
    wait_for(lambda: _partition_errors(cluster) == {0: ErrorCode.NONE, 1: ErrorCode.NOT_LEADER_OR_FOLLOWER},
             what="broker 1 to lead acks0-0 only")
    client = WireClient(cluster.host, cluster.broker_ports[1])
    yield client
    client.close()


def _partition_errors(cluster) -> dict[int, int]:
    client = WireClient(cluster.host, cluster.broker_ports[1])
    try:
        return {p: list_offsets(client, p)["error_code"] for p in (0, 1)}
    finally:
        client.close()


def list_offsets(client: WireClient, partition: int) -> dict[str, Any]:
    response = client.request(ApiKey.LIST_OFFSETS, 6, {
        "replica_id": -1, "isolation_level": 0,
        "topics": [{"name": TOPIC, "partitions": [
            {"partition_index": partition, "current_leader_epoch": -1, "timestamp": LATEST}]}]})
    return response["topics"][0]["partitions"][0]


def end_offset(client: WireClient, partition: int = 0) -> int:
    answer = list_offsets(client, partition)
    assert answer["error_code"] == ErrorCode.NONE
    return answer["offset"]


def appended_on_the_same_connection(client: WireClient, offset: int, *, timeout: float = 30) -> None:
    """Poll the end offset over ``client`` until it reaches ``offset``. Unlike ``wait_for``, a closed
    connection fails at once: that the connection stays open is what is being tested."""
    deadline = time.monotonic() + timeout
    while (last := end_offset(client)) < offset:
        assert time.monotonic() < deadline, f"end offset still {last}, expected {offset}"
        time.sleep(0.05)
    assert last == offset


def produce_frame(client: WireClient, *, topic: str = TOPIC, partition: int = 0, acks: int = 0,
                  version: int = 9) -> bytes:
    """A Produce request; v10 and v11 send exactly what v9 sends, under their own version number."""
    client.correlation_id += 1
    records = build_batch([Record(0, int(time.time() * 1000), None, b"fire and forget")], base_offset=0)
    frame = bytearray(encode_request(ApiKey.PRODUCE, min(version, 9), client.correlation_id, "acks0-test", {
        "transactional_id": None, "acks": acks, "timeout_ms": 10_000,
        "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": records}]}]}))
    struct.pack_into(">h", frame, 6, version)  # after the size prefix and the API key
    return bytes(frame)


def api_versions_frame(client: WireClient) -> bytes:
    client.correlation_id += 1
    return encode_request(ApiKey.API_VERSIONS, 3, client.correlation_id, "acks0-test",
                          {"client_software_name": "t", "client_software_version": "1"})


def test_a_good_acks0_produce_keeps_the_connection_open(client) -> None:
    before = end_offset(client)
    client.send_raw(produce_frame(client))
    # Answered on the same connection, with no response to the produce in between (correlation ids match).
    appended_on_the_same_connection(client, before + 1)


@pytest.mark.parametrize(("topic", "partition"), [(TOPIC, 1), ("no-such-topic", 0)],
                         ids=["partition-led-by-another-broker", "missing-topic"])
def test_a_failed_acks0_produce_closes_the_connection(client, topic, partition) -> None:
    client.send_raw(produce_frame(client, topic=topic, partition=partition))
    assert client.is_closed_by_peer()


def test_responses_before_a_failed_acks0_produce_still_arrive(client) -> None:
    """Pipelined: answered, then closed — the request after the failed produce is never answered."""
    first = api_versions_frame(client)
    client.send_raw(first + produce_frame(client, partition=1) + api_versions_frame(client))
    assert struct.unpack_from(">i", client.read_frame())[0] == struct.unpack_from(">i", first, 8)[0]
    assert client.is_closed_by_peer()


@pytest.mark.parametrize("version", [10, 11])
def test_acks0_produce_at_kafka_39s_versions_without_api_versions_is_appended(client, version) -> None:
    """Sarama's TestFuncProducingNoResponse-v3.9.0: no ApiVersions first, Produce v10, acks=0."""
    before = end_offset(client)
    client.send_raw(produce_frame(client, version=version))
    appended_on_the_same_connection(client, before + 1)
