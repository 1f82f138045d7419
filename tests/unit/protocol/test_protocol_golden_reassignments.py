"""Golden bytes for KIP-455's AlterPartitionReassignments and ListPartitionReassignments (v0, flexible)."""

from __future__ import annotations

import pytest
from protocol_golden import Golden, Wire, check_golden, i16, i32

from kafka_broker.protocol import API_SPECS, ApiKey


def alter_partition_reassignments(v: int) -> Golden:
    w = Wire(True)
    req_body = {
        "timeout_ms": 30000,
        "topics": [{"name": "orders", "partitions": [
            {"partition_index": 0, "replicas": [2, 3]},
            {"partition_index": 1, "replicas": None},  # cancel
        ]}],
    }
    req = (
        i32(30000)
        + w.arr([
            w.str("orders")
            + w.arr([
                i32(0) + w.narr([i32(2), i32(3)]) + w.tags(),
                i32(1) + w.narr(None) + w.tags(),
            ])
            + w.tags()
        ])
        + w.tags()
    )
    resp_body = {
        "throttle_time_ms": 0,
        "error_code": 0,
        "error_message": None,
        "responses": [{"name": "orders", "partitions": [
            {"partition_index": 0, "error_code": 0, "error_message": None},
            {"partition_index": 1, "error_code": 85, "error_message": "none"},
        ]}],
    }
    resp = (
        i32(0) + i16(0) + w.nstr(None)
        + w.arr([
            w.str("orders")
            + w.arr([
                i32(0) + i16(0) + w.nstr(None) + w.tags(),
                i32(1) + i16(85) + w.nstr("none") + w.tags(),
            ])
            + w.tags()
        ])
        + w.tags()
    )
    return Golden(req_body, req, resp_body, resp)


def list_partition_reassignments(v: int) -> Golden:
    w = Wire(True)
    req_body = {"timeout_ms": 60000, "topics": [{"name": "orders", "partition_indexes": [0, 2]}]}
    req = i32(60000) + w.narr([w.str("orders") + w.arr([i32(0), i32(2)]) + w.tags()]) + w.tags()
    resp_body = {
        "throttle_time_ms": 0,
        "error_code": 0,
        "error_message": None,
        "topics": [{"name": "orders", "partitions": [
            {"partition_index": 0, "replicas": [2, 3, 1], "adding_replicas": [3], "removing_replicas": [1]},
        ]}],
    }
    resp = (
        i32(0) + i16(0) + w.nstr(None)
        + w.arr([
            w.str("orders")
            + w.arr([
                i32(0) + w.arr([i32(2), i32(3), i32(1)]) + w.arr([i32(3)]) + w.arr([i32(1)]) + w.tags(),
            ])
            + w.tags()
        ])
        + w.tags()
    )
    return Golden(req_body, req, resp_body, resp)


def list_everything() -> Golden:
    """``topics`` null: every reassignment in progress; none in progress answers an empty list."""
    w = Wire(True)
    resp_body = {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "topics": []}
    return Golden({"timeout_ms": 60000, "topics": None}, i32(60000) + w.narr(None) + w.tags(),
                  resp_body, i32(0) + i16(0) + w.nstr(None) + w.arr([]) + w.tags())


GOLDENS = {
    ApiKey.ALTER_PARTITION_REASSIGNMENTS: alter_partition_reassignments,
    ApiKey.LIST_PARTITION_REASSIGNMENTS: list_partition_reassignments,
}

CASES = [
    (key, v)
    for key in GOLDENS
    for v in range(API_SPECS[key].min_version, API_SPECS[key].max_version + 1)
]


@pytest.mark.parametrize(("key", "version"), CASES, ids=[f"{ApiKey(k).name}-v{v}" for k, v in CASES])
def test_golden(key: int, version: int) -> None:
    check_golden(key, version, GOLDENS[key](version))


def test_listing_every_reassignment() -> None:
    check_golden(ApiKey.LIST_PARTITION_REASSIGNMENTS, 0, list_everything())
