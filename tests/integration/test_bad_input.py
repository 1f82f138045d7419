"""Bad input gets a clear error or a closed connection — and the broker keeps serving, its logs intact."""

from __future__ import annotations

import struct
import time

import pytest
from tests.integration.admin import create_topic
from tests.integration.clients import ConfluentClient, Outgoing
from tests.integration.wire import WireClient

from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.storage.records import Record, build_batch

pytestmark = pytest.mark.integration

MAX_REQUEST = 1_048_576


@pytest.fixture(scope="module")
def cluster(module_cluster_factory):
    cluster = module_cluster_factory(brokers=1, overrides={"socket.request.max.bytes": str(MAX_REQUEST)})
    create_topic(cluster.bootstrap_servers, "bad", partitions=2, replication_factor=1)
    return cluster


def produce_body(topic: str, partition: int, records: bytes, acks: int = 1) -> dict:
    return {
        "transactional_id": None,
        "acks": acks,
        "timeout_ms": 10_000,
        "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": records}]}],
    }


def produce(client: WireClient, topic: str, partition: int, records: bytes) -> dict:
    response = client.request(ApiKey.PRODUCE, 8, produce_body(topic, partition, records))
    return response["responses"][0]["partition_responses"][0]


def batch(values: list[bytes]) -> bytes:
    now = int(time.time() * 1000)
    return build_batch([Record(i, now, None, v) for i, v in enumerate(values)], base_offset=0, compression=0)


def still_serving(cluster) -> None:
    client = WireClient.to(cluster.bootstrap_servers)
    try:
        response = client.request(ApiKey.API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"})
        assert response["error_code"] == ErrorCode.NONE
    finally:
        client.close()


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(struct.pack(">i", MAX_REQUEST + 1) + b"\0" * 64, id="oversized-frame"),
        pytest.param(struct.pack(">i", -5), id="negative-size"),
        pytest.param(struct.pack(">i", 3) + b"\x00\x12\x00", id="frame-shorter-than-a-header"),
        pytest.param(struct.pack(">i", 10) + struct.pack(">hhi", 999, 0, 1) + b"\xff\xff", id="unknown-api"),
        pytest.param(struct.pack(">i", 10) + struct.pack(">hhi", 0, 1, 1) + b"\xff\xff", id="produce-v1"),
        pytest.param(struct.pack(">i", 12) + struct.pack(">hhi", 0, 8, 1) + b"\x00\x00\xff\x00", id="garbage-body"),
    ],
)
def test_bad_frames_close_the_connection_only(cluster, payload: bytes) -> None:
    client = WireClient.to(cluster.bootstrap_servers)
    try:
        client.send_raw(payload)
        assert client.is_closed_by_peer()
    finally:
        client.close()
    still_serving(cluster)


def test_truncated_frame_then_disconnect(cluster) -> None:
    client = WireClient.to(cluster.bootstrap_servers)
    client.send_raw(struct.pack(">i", 100) + b"\x00" * 50)
    client.close()
    still_serving(cluster)


def test_api_versions_with_a_future_version_gets_v0_error_and_its_own_range(cluster) -> None:
    client = WireClient.to(cluster.bootstrap_servers)
    try:
        # ApiVersions v9 does not exist: the answer is a v0 body with UNSUPPORTED_VERSION and, as Kafka
        # answers it, ApiVersions' own range only
        client.send_raw(_header_only(ApiKey.API_VERSIONS, 9, 77))
        from kafka_broker.protocol import decode_response

        correlation_id, body = decode_response(ApiKey.API_VERSIONS, 0, client.read_frame())
        assert correlation_id == 77
        assert body["error_code"] == ErrorCode.UNSUPPORTED_VERSION
        keys = {k["api_key"]: (k["min_version"], k["max_version"]) for k in body["api_keys"]}
        assert keys == {ApiKey.API_VERSIONS: (0, 4)}
    finally:
        client.close()


def _header_only(api_key: int, version: int, correlation_id: int) -> bytes:
    client_id = b"wire-test"
    body = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id + b"\x00"
    return struct.pack(">i", len(body)) + body


def test_bad_crc_is_refused_and_the_log_stays_clean(cluster) -> None:
    client = WireClient.to(cluster.bootstrap_servers)
    try:
        good = batch([b"one", b"two"])
        corrupted = bytearray(good)
        corrupted[-1] ^= 0xFF  # flips a byte covered by the CRC
        result = produce(client, "bad", 0, bytes(corrupted))
        assert result["error_code"] == ErrorCode.CORRUPT_MESSAGE
        truncated = good[: len(good) - 3]
        assert produce(client, "bad", 0, truncated)["error_code"] == ErrorCode.CORRUPT_MESSAGE
        result = produce(client, "bad", 0, good)
        assert result["error_code"] == ErrorCode.NONE and result["base_offset"] == 0
    finally:
        client.close()
    read = ConfluentClient().consume(cluster.bootstrap_servers, "bad", [0], 2)
    assert [(m.offset, m.value) for m in read] == [(0, b"one"), (1, b"two")]


def test_unknown_topic_and_partition(cluster) -> None:
    client = WireClient.to(cluster.bootstrap_servers)
    try:
        assert produce(client, "no-such-topic", 0, batch([b"x"]))["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        assert produce(client, "bad", 7, batch([b"x"]))["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        fetch = client.request(
            ApiKey.FETCH,
            11,
            {
                "replica_id": -1,
                "max_wait_ms": 0,
                "min_bytes": 1,
                "max_bytes": 1 << 20,
                "isolation_level": 0,
                "session_id": 0,
                "session_epoch": -1,
                "forgotten_topics_data": [],
                "rack_id": "",
                "topics": [
                    {
                        "topic": "bad",
                        "partitions": [
                            {
                                "partition": 9,
                                "current_leader_epoch": -1,
                                "fetch_offset": 0,
                                "last_fetched_epoch": -1,
                                "log_start_offset": -1,
                                "partition_max_bytes": 1 << 20,
                            },
                            {
                                "partition": 1,
                                "current_leader_epoch": -1,
                                "fetch_offset": 1000,
                                "last_fetched_epoch": -1,
                                "log_start_offset": -1,
                                "partition_max_bytes": 1 << 20,
                            },
                        ],
                    }
                ],
            },
        )
        codes = {p["partition_index"]: p["error_code"] for p in fetch["responses"][0]["partitions"]}
        assert codes == {9: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 1: ErrorCode.OFFSET_OUT_OF_RANGE}
    finally:
        client.close()


def test_invalid_acks_is_answered_with_its_error(cluster) -> None:
    client = WireClient.to(cluster.bootstrap_servers)
    try:
        response = client.request(ApiKey.PRODUCE, 8, produce_body("bad", 0, batch([b"x"]), acks=2))
        assert response["responses"][0]["partition_responses"][0]["error_code"] == ErrorCode.INVALID_REQUIRED_ACKS
    finally:
        client.close()
    sent = [Outgoing(1, b"k", b"after-bad-input")]
    ConfluentClient().produce(cluster.bootstrap_servers, "bad", sent, "none")
    assert [m.value for m in ConfluentClient().consume(cluster.bootstrap_servers, "bad", [1], 1)] == [
        b"after-bad-input"
    ]
