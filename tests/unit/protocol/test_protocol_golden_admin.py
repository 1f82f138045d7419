"""Golden bytes for the handshake and admin APIs: ApiVersions, CreateTopics, DeleteTopics,
CreatePartitions, ElectLeaders, DescribeConfigs, AlterConfigs, IncrementalAlterConfigs — every version."""

from __future__ import annotations

import uuid

import pytest
from protocol_golden import Golden, Wire, boolean, check_golden, i8, i16, i32, i64

from kafka_broker.protocol import API_SPECS, ApiKey

TOPIC_ID = uuid.UUID("0f6e1c4e-8b7a-4d2e-9f00-123456789abc")


def api_versions(v: int) -> Golden:
    w = Wire(v >= 3)
    req_body: dict = {}
    req = b""
    if v >= 3:
        req_body = {"client_software_name": "kopfka-test", "client_software_version": "1.0"}
        req = w.str("kopfka-test") + w.str("1.0")
    req += w.tags()
    resp_body: dict = {
        "error_code": 0,
        "api_keys": [
            {"api_key": 0, "min_version": 3, "max_version": 9},
            {"api_key": 18, "min_version": 0, "max_version": 3},
        ],
    }
    resp = i16(0) + w.arr([i16(0) + i16(3) + i16(9) + w.tags(), i16(18) + i16(0) + i16(3) + w.tags()])
    if v >= 1:
        resp_body["throttle_time_ms"] = 0
        resp += i32(0)
    if v >= 3:
        resp_body |= {
            "supported_features": [{"name": "metadata.version", "min_version": 1, "max_version": 7}],
            "finalized_features_epoch": 12,
            "finalized_features": [],
            "zk_migration_ready": True,
        }
        resp += w.tags(
            (0, w.arr([w.str("metadata.version") + i16(1) + i16(7) + w.tags()])),
            (1, i64(12)),
            (3, boolean(True)),
        )
    return Golden(req_body, req, resp_body, resp)


def create_topics(v: int) -> Golden:
    w = Wire(v >= 5)
    req_body: dict = {
        "topics": [
            {
                "name": "orders",
                "num_partitions": -1,
                "replication_factor": -1,
                "assignments": [{"partition_index": 0, "broker_ids": [1, 2]}],
                "configs": [{"name": "retention.ms", "value": "86400000"}, {"name": "cleanup.policy", "value": None}],
            }
        ],
        "timeout_ms": 30000,
    }
    if v >= 1:
        req_body["validate_only"] = True
    req = (
        w.arr([
            w.str("orders") + i32(-1) + i16(-1)
            + w.arr([i32(0) + w.arr([i32(1), i32(2)]) + w.tags()])
            + w.arr([
                w.str("retention.ms") + w.nstr("86400000") + w.tags(),
                w.str("cleanup.policy") + w.nstr(None) + w.tags(),
            ])
            + w.tags()
        ])
        + i32(30000) + (boolean(True) if v >= 1 else b"") + w.tags()
    )
    resp_body: dict = {"throttle_time_ms": 0} if v >= 2 else {}
    resp = i32(0) if v >= 2 else b""
    topic: dict = {"name": "orders"}
    topic_raw = w.str("orders")
    if v >= 7:
        topic["topic_id"] = TOPIC_ID
        topic_raw += TOPIC_ID.bytes
    topic["error_code"] = 0
    topic_raw += i16(0)
    if v >= 1:
        topic["error_message"] = None
        topic_raw += w.nstr(None)
    if v >= 5:
        topic |= {
            "num_partitions": 1,
            "replication_factor": 2,
            "configs": [
                {"name": "retention.ms", "value": "86400000", "read_only": False, "config_source": 1,
                 "is_sensitive": False},
            ],
            "topic_config_error_code": 29,
        }
        topic_raw += (
            i32(1) + i16(2)
            + w.narr([w.str("retention.ms") + w.nstr("86400000") + boolean(False) + i8(1) + boolean(False) + w.tags()])
            + w.tags((0, i16(29)))
        )
    resp_body["topics"] = [topic]
    resp += w.arr([topic_raw]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def delete_topics(v: int) -> Golden:
    w = Wire(v >= 4)
    if v >= 6:
        req_body: dict = {
            "topics": [{"name": "orders", "topic_id": uuid.UUID(int=0)}, {"name": None, "topic_id": TOPIC_ID}]
        }
        req = w.arr([
            w.nstr("orders") + bytes(16) + w.tags(),
            w.nstr(None) + TOPIC_ID.bytes + w.tags(),
        ])
    else:
        req_body = {"topic_names": ["orders", "payments"]}
        req = w.arr([w.str("orders"), w.str("payments")])
    req_body["timeout_ms"] = 15000
    req += i32(15000) + w.tags()
    resp_body: dict = {"throttle_time_ms": 0} if v >= 1 else {}
    resp = i32(0) if v >= 1 else b""
    result: dict = {"name": "orders"}
    result_raw = w.str("orders")
    if v >= 6:
        result["topic_id"] = TOPIC_ID
        result_raw += TOPIC_ID.bytes
    result["error_code"] = 3
    result_raw += i16(3)
    if v >= 5:
        result["error_message"] = "unknown topic"
        result_raw += w.nstr("unknown topic")
    resp_body["responses"] = [result]
    resp += w.arr([result_raw + w.tags()]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def create_partitions(v: int) -> Golden:
    w = Wire(v >= 2)
    req_body = {
        "topics": [
            {"name": "orders", "count": 6, "assignments": [{"broker_ids": [1, 2]}, {"broker_ids": [2, 3]}]},
            {"name": "payments", "count": 3, "assignments": None},
        ],
        "timeout_ms": 30000,
        "validate_only": False,
    }
    req = (
        w.arr([
            w.str("orders") + i32(6)
            + w.narr([w.arr([i32(1), i32(2)]) + w.tags(), w.arr([i32(2), i32(3)]) + w.tags()])
            + w.tags(),
            w.str("payments") + i32(3) + w.narr(None) + w.tags(),
        ])
        + i32(30000) + boolean(False) + w.tags()
    )
    resp_body = {
        "throttle_time_ms": 0,
        "results": [
            {"name": "orders", "error_code": 0, "error_message": None},
            {"name": "payments", "error_code": 37, "error_message": "partitions only grow"},
        ],
    }
    resp = (
        i32(0)
        + w.arr([
            w.str("orders") + i16(0) + w.nstr(None) + w.tags(),
            w.str("payments") + i16(37) + w.nstr("partitions only grow") + w.tags(),
        ])
        + w.tags()
    )
    return Golden(req_body, req, resp_body, resp)


def elect_leaders(v: int) -> Golden:
    w = Wire(v >= 2)
    req_body: dict = {}
    req = b""
    if v >= 1:
        req_body["election_type"] = 0
        req += i8(0)
    if v == 1:
        req_body["topic_partitions"] = None
        req += w.narr(None)
    else:
        req_body["topic_partitions"] = [{"topic": "orders", "partitions": [0, 1]}]
        req += w.narr([w.str("orders") + w.arr([i32(0), i32(1)]) + w.tags()])
    req_body["timeout_ms"] = 60000
    req += i32(60000) + w.tags()
    resp_body: dict = {"throttle_time_ms": 0}
    resp = i32(0)
    if v >= 1:
        resp_body["error_code"] = 0
        resp += i16(0)
    resp_body["replica_election_results"] = [
        {
            "topic": "orders",
            "partition_result": [
                {"partition_id": 0, "error_code": 0, "error_message": None},
                {"partition_id": 1, "error_code": 84, "error_message": "not needed"},
            ],
        }
    ]
    resp += (
        w.arr([
            w.str("orders")
            + w.arr([
                i32(0) + i16(0) + w.nstr(None) + w.tags(),
                i32(1) + i16(84) + w.nstr("not needed") + w.tags(),
            ])
            + w.tags()
        ])
        + w.tags()
    )
    return Golden(req_body, req, resp_body, resp)


def describe_configs(v: int) -> Golden:
    w = Wire(v >= 4)
    req_body: dict = {
        "resources": [
            {"resource_type": 2, "resource_name": "orders", "configuration_keys": None},
            {"resource_type": 4, "resource_name": "1", "configuration_keys": ["log.retention.ms"]},
        ],
    }
    req = w.arr([
        i8(2) + w.str("orders") + w.narr(None) + w.tags(),
        i8(4) + w.str("1") + w.narr([w.str("log.retention.ms")]) + w.tags(),
    ])
    if v >= 1:
        req_body["include_synonyms"] = True
        req += boolean(True)
    if v >= 3:
        req_body["include_documentation"] = False
        req += boolean(False)
    req += w.tags()

    config: dict = {"name": "retention.ms", "value": "86400000", "read_only": False}
    config_raw = w.str("retention.ms") + w.nstr("86400000") + boolean(False)
    if v == 0:  # is_default where later versions have the source and synonyms
        config |= {"is_default": False, "is_sensitive": False}
        config_raw += boolean(False) + boolean(False)
    else:
        config |= {"config_source": 1, "is_sensitive": False,
                   "synonyms": [{"name": "log.retention.ms", "value": None, "source": 5}]}
        config_raw += i8(1) + boolean(False) + w.arr([w.str("log.retention.ms") + w.nstr(None) + i8(5) + w.tags()])
    if v >= 3:
        config |= {"config_type": 5, "documentation": None}
        config_raw += i8(5) + w.nstr(None)
    config_raw += w.tags()
    resp_body = {
        "throttle_time_ms": 0,
        "results": [
            {"error_code": 0, "error_message": None, "resource_type": 2, "resource_name": "orders",
             "configs": [config]},
        ],
    }
    resp = i32(0) + w.arr([i16(0) + w.nstr(None) + i8(2) + w.str("orders") + w.arr([config_raw]) + w.tags()]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def _config_results(w: Wire) -> tuple[dict, bytes]:
    body = {
        "throttle_time_ms": 0,
        "responses": [
            {"error_code": 0, "error_message": None, "resource_type": 2, "resource_name": "orders"},
            {"error_code": 40, "error_message": "bad value", "resource_type": 4, "resource_name": "1"},
        ],
    }
    raw = (
        i32(0)
        + w.arr([
            i16(0) + w.nstr(None) + i8(2) + w.str("orders") + w.tags(),
            i16(40) + w.nstr("bad value") + i8(4) + w.str("1") + w.tags(),
        ])
        + w.tags()
    )
    return body, raw


def alter_configs(v: int) -> Golden:
    w = Wire(v >= 2)
    req_body = {
        "resources": [
            {"resource_type": 2, "resource_name": "orders",
             "configs": [{"name": "retention.ms", "value": "1000"}, {"name": "segment.ms", "value": None}]},
        ],
        "validate_only": False,
    }
    req = (
        w.arr([
            i8(2) + w.str("orders")
            + w.arr([w.str("retention.ms") + w.nstr("1000") + w.tags(), w.str("segment.ms") + w.nstr(None) + w.tags()])
            + w.tags()
        ])
        + boolean(False) + w.tags()
    )
    return Golden(req_body, req, *_config_results(w))


def incremental_alter_configs(v: int) -> Golden:
    w = Wire(v >= 1)
    req_body = {
        "resources": [
            {"resource_type": 2, "resource_name": "orders",
             "configs": [{"name": "retention.ms", "config_operation": 0, "value": "1000"},
                         {"name": "segment.ms", "config_operation": 1, "value": None}]},
        ],
        "validate_only": True,
    }
    req = (
        w.arr([
            i8(2) + w.str("orders")
            + w.arr([
                w.str("retention.ms") + i8(0) + w.nstr("1000") + w.tags(),
                w.str("segment.ms") + i8(1) + w.nstr(None) + w.tags(),
            ])
            + w.tags()
        ])
        + boolean(True) + w.tags()
    )
    return Golden(req_body, req, *_config_results(w))


GOLDENS = {
    ApiKey.API_VERSIONS: api_versions,
    ApiKey.CREATE_TOPICS: create_topics,
    ApiKey.DELETE_TOPICS: delete_topics,
    ApiKey.CREATE_PARTITIONS: create_partitions,
    ApiKey.ELECT_LEADERS: elect_leaders,
    ApiKey.DESCRIBE_CONFIGS: describe_configs,
    ApiKey.ALTER_CONFIGS: alter_configs,
    ApiKey.INCREMENTAL_ALTER_CONFIGS: incremental_alter_configs,
}

CASES = [
    (key, v)
    for key in GOLDENS
    for v in range(API_SPECS[key].min_version, API_SPECS[key].max_version + 1)
]


@pytest.mark.parametrize(("key", "version"), CASES, ids=[f"{ApiKey(k).name}-v{v}" for k, v in CASES])
def test_golden(key: int, version: int) -> None:
    check_golden(key, version, GOLDENS[key](version))


def test_every_declared_api_has_golden_vectors() -> None:
    import test_protocol_golden_data
    import test_protocol_golden_groups
    import test_protocol_golden_quotas
    import test_protocol_golden_reassignments
    import test_protocol_golden_records_dirs
    import test_protocol_golden_sasl
    import test_protocol_golden_security

    covered = set(GOLDENS) | set(test_protocol_golden_data.GOLDENS) | set(test_protocol_golden_groups.GOLDENS)
    covered |= set(test_protocol_golden_reassignments.GOLDENS)
    covered |= set(test_protocol_golden_records_dirs.GOLDENS)
    covered |= set(test_protocol_golden_quotas.GOLDENS)
    covered |= set(test_protocol_golden_security.GOLDENS)
    covered |= set(test_protocol_golden_sasl.GOLDENS)
    assert covered == set(API_SPECS)
