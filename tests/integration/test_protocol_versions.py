"""Protocol versions against a real broker: Kafka 3.9's ranges served, old message formats refused in their
own version (and the connection still serves), unknown keys and versions answered as Kafka 3.9 answers them
(ApiVersions at v0 with its own range; anything else: the connection is closed, as Kafka closes it), and
kafka-python pinned to a 0.10-era api_version getting a clear error."""

from __future__ import annotations

import struct
import time

import pytest
from tests.integration.admin import create_topic
from tests.integration.wire import WireClient

from kafka_broker.metadata import topic_id_to_uuid
from kafka_broker.protocol import ApiKey, ErrorCode, decode_response
from kafka_broker.storage.records import Record, build_batch, iter_batches

pytestmark = pytest.mark.integration

TOPIC = "versions"


@pytest.fixture(scope="module")
def cluster(module_cluster_factory):
    cluster = module_cluster_factory(brokers=1)
    create_topic(cluster.bootstrap_servers, TOPIC, partitions=1, replication_factor=1)
    return cluster


def batch(*values: bytes) -> bytes:
    now = int(time.time() * 1000)
    return build_batch([Record(i, now, None, v) for i, v in enumerate(values)], base_offset=0, compression=0)


def produce_body(records: bytes) -> dict:
    return {"transactional_id": None, "acks": 1, "timeout_ms": 10_000,
            "topic_data": [{"name": TOPIC, "partition_data": [{"index": 0, "records": records}]}]}


def fetch_body(topic: dict, offset: int = 0) -> dict:
    return {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1_000_000, "isolation_level": 0,
            "topics": [{**topic, "partitions": [{"partition": 0, "fetch_offset": offset,
                                                  "partition_max_bytes": 1_000_000}]}]}


def api_versions(client: WireClient) -> dict[int, tuple[int, int]]:
    response = client.request(ApiKey.API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"})
    return {k["api_key"]: (k["min_version"], k["max_version"]) for k in response["api_keys"]}


def header_only(api_key: int, version: int, correlation_id: int, *, flexible: bool, body: bytes = b"") -> bytes:
    client_id = b"wire-test"
    frame = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    frame += (b"\x00" if flexible else b"") + body
    return struct.pack(">i", len(frame)) + frame


def test_kafka_39_ranges_are_advertised(cluster) -> None:
    client = WireClient.to(cluster.bootstrap_servers)
    try:
        ranges = api_versions(client)
    finally:
        client.close()
    expected = {ApiKey.PRODUCE: (0, 11), ApiKey.FETCH: (0, 17), ApiKey.LIST_OFFSETS: (0, 9),
                ApiKey.METADATA: (0, 12), ApiKey.API_VERSIONS: (0, 4), ApiKey.INIT_PRODUCER_ID: (0, 5),
                ApiKey.FIND_COORDINATOR: (0, 6), ApiKey.LIST_GROUPS: (0, 5), ApiKey.OFFSET_FETCH: (1, 9),
                ApiKey.OFFSET_COMMIT: (1, 9), ApiKey.CREATE_TOPICS: (0, 7), ApiKey.DELETE_TOPICS: (0, 6)}
    assert {k: ranges[k] for k in expected} == expected


def test_old_message_formats_are_refused_in_their_own_version(cluster) -> None:
    client = WireClient.to(cluster.bootstrap_servers)
    try:
        for version in (0, 1, 2):
            response = client.request(ApiKey.PRODUCE, version, produce_body(b"\x00" * 34))
            part = response["responses"][0]["partition_responses"][0]
            assert part["error_code"] == ErrorCode.UNSUPPORTED_VERSION
        for version in (0, 1, 2, 3):
            response = client.request(ApiKey.FETCH, version, fetch_body({"topic": TOPIC}))
            assert response["responses"][0]["partitions"][0]["error_code"] == ErrorCode.UNSUPPORTED_VERSION
        # the same connection still serves
        assert api_versions(client)[ApiKey.PRODUCE] == (0, 11)
    finally:
        client.close()


def test_new_versions_produce_and_fetch_by_topic_id(cluster) -> None:
    client = WireClient.to(cluster.bootstrap_servers)
    try:
        response = client.request(ApiKey.PRODUCE, 10, produce_body(batch(b"a", b"b")))
        part = response["responses"][0]["partition_responses"][0]
        assert part["error_code"] == ErrorCode.NONE
        base = part["base_offset"]
        meta = client.request(ApiKey.METADATA, 12, {"topics": [{"name": TOPIC}], "allow_auto_topic_creation": False})
        topic_id = meta["topics"][0]["topic_id"]
        assert topic_id != topic_id_to_uuid(None)
        for version in (13, 15, 17):
            response = client.request(ApiKey.FETCH, version, fetch_body({"topic_id": topic_id}, base))
            (fetched,) = response["responses"][0]["partitions"]
            assert response["responses"][0]["topic_id"] == topic_id and fetched["error_code"] == ErrorCode.NONE
            values = [o for h in iter_batches(bytes(fetched["records"])) for o in range(h.base_offset,
                                                                                         h.last_offset + 1)]
            assert values[:2] == [base, base + 1]
        for version in (0, 8, 9):
            body = {"replica_id": -1, "isolation_level": 0, "topics": [
                {"name": TOPIC, "partitions": [{"partition_index": 0, "timestamp": -1, "max_num_offsets": 1}]}]}
            (answer,) = client.request(ApiKey.LIST_OFFSETS, version, body)["topics"][0]["partitions"]
            latest = answer["old_style_offsets"][0] if version == 0 else answer["offset"]
            assert (answer["error_code"], latest) == (ErrorCode.NONE, base + 2)
        meta0 = client.request(ApiKey.METADATA, 0, {"topics": []})
        assert TOPIC in {t["name"] for t in meta0["topics"]}
        assert all(b["host"] and b["port"] > 0 for b in meta0["brokers"])
    finally:
        client.close()


def test_api_versions_of_an_unknown_version_answers_v0_with_its_own_range(cluster) -> None:
    client = WireClient.to(cluster.bootstrap_servers)
    try:
        client.send_raw(header_only(ApiKey.API_VERSIONS, 5, 41, flexible=True, body=b"\x00\x00\x00"))
        correlation_id, body = decode_response(ApiKey.API_VERSIONS, 0, client.read_frame())
        assert (correlation_id, body["error_code"]) == (41, ErrorCode.UNSUPPORTED_VERSION)
        assert [(k["api_key"], k["min_version"], k["max_version"]) for k in body["api_keys"]] == [(18, 0, 4)]
        assert api_versions(client)[ApiKey.API_VERSIONS] == (0, 4)  # still serving
    finally:
        client.close()


@pytest.mark.parametrize(("api_key", "version", "flexible"), [
    pytest.param(200, 0, False, id="unknown-key"),
    pytest.param(ApiKey.DESCRIBE_QUORUM, 0, True, id="kraft-only-key"),
    pytest.param(ApiKey.METADATA, 13, True, id="metadata-v13"),
    pytest.param(ApiKey.PRODUCE, 12, True, id="produce-v12"),
    pytest.param(ApiKey.FETCH, 18, True, id="fetch-v18"),
])
def test_unknown_keys_and_versions_close_the_connection_as_kafka_39_does(cluster, api_key: int, version: int,
                                                                         flexible: bool) -> None:
    client = WireClient.to(cluster.bootstrap_servers)
    try:
        client.send_raw(header_only(api_key, version, 7, flexible=flexible))
        assert client.is_closed_by_peer()
    finally:
        client.close()
    other = WireClient.to(cluster.bootstrap_servers)
    try:
        assert api_versions(other)[ApiKey.METADATA] == (0, 12)
    finally:
        other.close()


def test_kafka_python_pinned_to_0_10_gets_a_clear_error(cluster) -> None:
    import kafka  # a dev dependency: imported, never skipped (CI must run this test)
    from kafka import errors
    producer = kafka.KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, api_version=(0, 10, 1),
                                   retries=0, request_timeout_ms=10_000)
    try:
        future = producer.send(TOPIC, b"old")
        with pytest.raises(errors.UnsupportedVersionError):
            future.get(timeout=30)
    finally:
        producer.close(timeout=5)
