"""The declarations: which APIs and versions we serve, the naming rule, defaults, and the checks the
declaration language makes on itself."""

from __future__ import annotations

import re
import uuid

import pytest

from kafka_broker.protocol import (
    API_SPECS,
    ApiKey,
    ApiSpec,
    RequestHeader,
    decode_response,
    encode_response,
)
from kafka_broker.protocol.primitives import INT32, STRING
from kafka_broker.protocol.schema import API, ArrayOf, F, Field, StructOf

# (min, max, first flexible version) per API, from the brief, checked against the protocol docs
SERVED = {
    ApiKey.PRODUCE: (0, 11, 9),
    ApiKey.FETCH: (0, 17, 12),
    ApiKey.LIST_OFFSETS: (0, 9, 6),
    ApiKey.METADATA: (0, 12, 9),
    ApiKey.OFFSET_COMMIT: (1, 9, 8),
    ApiKey.OFFSET_FETCH: (1, 9, 6),
    ApiKey.FIND_COORDINATOR: (0, 6, 3),
    ApiKey.JOIN_GROUP: (0, 9, 6),
    ApiKey.HEARTBEAT: (0, 4, 4),
    ApiKey.LEAVE_GROUP: (0, 5, 4),
    ApiKey.SYNC_GROUP: (0, 5, 4),
    ApiKey.DESCRIBE_GROUPS: (0, 5, 5),
    ApiKey.LIST_GROUPS: (0, 5, 3),
    ApiKey.SASL_HANDSHAKE: (0, 1, None),
    ApiKey.API_VERSIONS: (0, 4, 3),
    ApiKey.CREATE_TOPICS: (0, 7, 5),
    ApiKey.DELETE_TOPICS: (0, 6, 4),
    ApiKey.DELETE_RECORDS: (0, 2, 2),
    ApiKey.INIT_PRODUCER_ID: (0, 5, 2),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: (0, 4, 4),
    ApiKey.DESCRIBE_CONFIGS: (0, 4, 4),
    ApiKey.ALTER_CONFIGS: (0, 2, 2),
    ApiKey.DESCRIBE_LOG_DIRS: (0, 4, 2),
    ApiKey.SASL_AUTHENTICATE: (0, 2, 2),
    ApiKey.CREATE_PARTITIONS: (0, 3, 2),
    ApiKey.DELETE_GROUPS: (0, 2, 2),
    ApiKey.ELECT_LEADERS: (0, 2, 2),
    ApiKey.INCREMENTAL_ALTER_CONFIGS: (0, 1, 1),
    ApiKey.ALTER_PARTITION_REASSIGNMENTS: (0, 0, 0),
    ApiKey.LIST_PARTITION_REASSIGNMENTS: (0, 0, 0),
    ApiKey.OFFSET_DELETE: (0, 0, None),
    ApiKey.DESCRIBE_CLIENT_QUOTAS: (0, 1, 1),
    ApiKey.ALTER_CLIENT_QUOTAS: (0, 1, 1),
    ApiKey.DESCRIBE_ACLS: (0, 3, 2),
    ApiKey.CREATE_ACLS: (0, 3, 2),
    ApiKey.DELETE_ACLS: (0, 3, 2),
    ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS: (0, 0, 0),
    ApiKey.ALTER_USER_SCRAM_CREDENTIALS: (0, 0, 0),
    ApiKey.DESCRIBE_CLUSTER: (0, 1, 0),
    ApiKey.DESCRIBE_PRODUCERS: (0, 0, 0),
    ApiKey.DESCRIBE_TRANSACTIONS: (0, 0, 0),
    ApiKey.LIST_TRANSACTIONS: (0, 1, 0),
}


def test_served_apis_and_versions() -> None:
    assert {k: (s.min_version, s.max_version, s.flexible_from) for k, s in API_SPECS.items()} == SERVED
    for key, spec in API_SPECS.items():
        assert isinstance(spec, ApiSpec) and spec.key == key
    assert API_SPECS[ApiKey.LIST_OFFSETS].name == "ListOffsets"
    assert API_SPECS[ApiKey.API_VERSIONS].name == "ApiVersions"


def test_api_key_values() -> None:
    expected = {
        "PRODUCE": 0, "FETCH": 1, "LIST_OFFSETS": 2, "METADATA": 3, "OFFSET_COMMIT": 8, "OFFSET_FETCH": 9,
        "FIND_COORDINATOR": 10, "JOIN_GROUP": 11, "HEARTBEAT": 12, "LEAVE_GROUP": 13, "SYNC_GROUP": 14,
        "DESCRIBE_GROUPS": 15, "LIST_GROUPS": 16, "SASL_HANDSHAKE": 17, "API_VERSIONS": 18, "CREATE_TOPICS": 19,
        "DELETE_TOPICS": 20, "DELETE_RECORDS": 21, "INIT_PRODUCER_ID": 22, "OFFSET_FOR_LEADER_EPOCH": 23,
        "DESCRIBE_CONFIGS": 32, "ALTER_CONFIGS": 33, "CREATE_PARTITIONS": 37, "DELETE_GROUPS": 42,
        "ELECT_LEADERS": 43, "INCREMENTAL_ALTER_CONFIGS": 44, "OFFSET_DELETE": 47, "DESCRIBE_CLUSTER": 60,
    }
    assert {name: ApiKey[name].value for name in expected} == expected


def _all_fields(fields: tuple[Field, ...]):
    for f in fields:
        yield f
        inner = f.type.item if isinstance(f.type, ArrayOf) else f.type
        if isinstance(inner, StructOf):
            yield from _all_fields(inner.fields)


def test_field_names_are_snake_case() -> None:
    for spec in API_SPECS.values():
        for f in _all_fields(spec.request + spec.response):
            assert re.fullmatch(r"[a-z][a-z0-9_]*", f.name), (spec.name, f.name)
    with pytest.raises(ValueError, match="snake_case"):
        F("ThrottleTimeMs", INT32)


def test_declaration_checks_tags() -> None:
    with pytest.raises(ValueError, match="outside flexible"):
        API(ApiKey.HEARTBEAT, "0-4", flexible="4+", request=[F("x", INT32, "0+", tag=0)], response=[])
    with pytest.raises(ValueError, match="duplicate tag"):
        API(ApiKey.HEARTBEAT, "0-4", flexible="4+", request=[F("x", INT32, "4+", tag=0), F("y", STRING, "4+", tag=0)],
            response=[])


def _encode(key: int, version: int, body: dict) -> bytes:
    return b"".join(encode_response(RequestHeader(key, version, 1, "c"), body))[4:]


def test_missing_keys_take_declared_defaults() -> None:
    """Metadata v12 partition with only its index: error 0, leader 0, epoch -1, empty arrays; the topic
    defaults to a null-able name None, the zero uuid and the 'not requested' authorized operations."""
    wire = _encode(3, 12, {"topics": [{"partitions": [{"partition_index": 4}]}]})
    _, body = decode_response(3, 12, wire)
    topic = body["topics"][0]
    assert topic["name"] is None and topic["topic_id"] == uuid.UUID(int=0) and topic["is_internal"] is False
    assert topic["topic_authorized_operations"] == -(2**31)
    assert topic["partitions"] == [
        {"error_code": 0, "partition_index": 4, "leader_id": 0, "leader_epoch": -1,
         "replica_nodes": [], "isr_nodes": [], "offline_replicas": []}
    ]
    assert body["controller_id"] == -1 and body["cluster_id"] is None and body["brokers"] == []


def test_none_for_a_field_not_nullable_in_this_version_is_written_as_empty() -> None:
    """JoinGroup protocol_name is nullable only from v7: a None in v6 is sent as ""."""
    _, v6 = decode_response(11, 6, _encode(11, 6, {"protocol_name": None}))
    _, v7 = decode_response(11, 7, _encode(11, 7, {"protocol_name": None}))
    assert v6["protocol_name"] == "" and v7["protocol_name"] is None


def test_fields_outside_the_version_are_ignored_on_encode_and_defaulted_on_decode() -> None:
    body = {"responses": [{"name": "t", "partition_responses": [
        {"index": 0, "base_offset": 5, "log_start_offset": 9, "record_errors": [{"batch_index": 1}],
         "error_message": "x"}]}]}
    v3 = _encode(0, 3, body)
    _, decoded = decode_response(0, 3, v3)
    part = decoded["responses"][0]["partition_responses"][0]
    assert part["log_start_offset"] == -1 and part["record_errors"] == [] and part["error_message"] is None
    assert part["log_append_time_ms"] == -1
    _, v8 = decode_response(0, 8, _encode(0, 8, body))
    assert v8["responses"][0]["partition_responses"][0]["record_errors"] == [
        {"batch_index": 1, "batch_index_error_message": None}
    ]


def test_decoded_defaults_are_fresh_objects() -> None:
    _, a = decode_response(0, 3, _encode(0, 3, {"responses": [{"name": "t", "partition_responses": [{}, {}]}]}))
    first, second = a["responses"][0]["partition_responses"]
    first["record_errors"].append("mutated")
    assert second["record_errors"] == []


def test_unknown_tagged_fields_are_skipped_and_default_tagged_fields_not_written() -> None:
    # Heartbeat v4 response body with an unknown tag 5 carrying 3 bytes
    frame = b"\x00\x00\x00\x01" + b"\x00" + b"\x00\x00\x00\x00" + b"\x00\x00" + b"\x01\x05\x03abc"
    assert decode_response(12, 4, frame) == (1, {"throttle_time_ms": 0, "error_code": 0})
    # ApiVersions v3 with all tagged fields at their defaults: one empty tagged section
    wire = _encode(18, 3, {"finalized_features_epoch": -1, "zk_migration_ready": False, "supported_features": []})
    assert wire.endswith(b"\x00\x00\x00\x00" + b"\x00")
