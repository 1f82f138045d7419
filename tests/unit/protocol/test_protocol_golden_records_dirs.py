"""Golden bytes for DescribeLogDirs, DescribeProducers, ListTransactions and DescribeTransactions — every
version we serve (DeleteRecords' are with the other data APIs)."""

from __future__ import annotations

import pytest
from protocol_golden import Golden, Wire, boolean, check_golden, i16, i32, i64

from kafka_broker.protocol import API_SPECS, ApiKey


def describe_log_dirs(v: int) -> Golden:
    w = Wire(v >= 2)
    if v % 2:  # odd versions ask for everything (null), even ones for some partitions
        req_body: dict = {"topics": None}
        req = w.narr(None)
    else:
        req_body = {"topics": [{"topic": "orders", "partitions": [0, 2]}]}
        req = w.narr([w.str("orders") + w.arr([i32(0), i32(2)]) + w.tags()])
    req += w.tags()
    partition = {"partition_index": 2, "partition_size": 4096, "offset_lag": 0, "is_future_key": False}
    partition_raw = i32(2) + i64(4096) + i64(0) + boolean(False) + w.tags()
    result: dict = {"error_code": 0, "log_dir": "/data/kafka",
                    "topics": [{"name": "orders", "partitions": [partition]}]}
    result_raw = i16(0) + w.str("/data/kafka") + w.arr([w.str("orders") + w.arr([partition_raw]) + w.tags()])
    if v >= 4:
        result |= {"total_bytes": 10_000_000, "usable_bytes": 7_500_000}
        result_raw += i64(10_000_000) + i64(7_500_000)
    offline: dict = {"error_code": 56, "log_dir": "/data/broken", "topics": []}
    offline_raw = i16(56) + w.str("/data/broken") + w.arr([])
    if v >= 4:
        offline |= {"total_bytes": -1, "usable_bytes": -1}
        offline_raw += i64(-1) + i64(-1)
    resp_body: dict = {"throttle_time_ms": 0}
    resp = i32(0)
    if v >= 3:
        resp_body["error_code"] = 0
        resp += i16(0)
    resp_body["results"] = [result, offline]
    resp += w.arr([result_raw + w.tags(), offline_raw + w.tags()]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def describe_producers(v: int) -> Golden:
    w = Wire(True)
    req_body = {"topics": [{"name": "orders", "partition_indexes": [0, 1]}]}
    req = w.arr([w.str("orders") + w.arr([i32(0), i32(1)]) + w.tags()]) + w.tags()
    producer = {"producer_id": 4000, "producer_epoch": 3, "last_sequence": 41, "last_timestamp": 1_700_000_000_000,
                "coordinator_epoch": -1, "current_txn_start_offset": -1}
    producer_raw = i64(4000) + i32(3) + i32(41) + i64(1_700_000_000_000) + i32(-1) + i64(-1) + w.tags()
    resp_body = {"throttle_time_ms": 0, "topics": [{"name": "orders", "partitions": [
        {"partition_index": 0, "error_code": 0, "error_message": None, "active_producers": [producer]},
        {"partition_index": 1, "error_code": 6, "error_message": "not here", "active_producers": []},
    ]}]}
    resp = i32(0) + w.arr([w.str("orders") + w.arr([
        i32(0) + i16(0) + w.nstr(None) + w.arr([producer_raw]) + w.tags(),
        i32(1) + i16(6) + w.nstr("not here") + w.arr([]) + w.tags(),
    ]) + w.tags()]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def list_transactions(v: int) -> Golden:
    w = Wire(True)
    req_body: dict = {"state_filters": ["Ongoing"], "producer_id_filters": [7, 8]}
    req = w.arr([w.str("Ongoing")]) + w.arr([i64(7), i64(8)])
    if v >= 1:
        req_body["duration_filter"] = 60_000
        req += i64(60_000)
    req += w.tags()
    resp_body = {"throttle_time_ms": 0, "error_code": 0, "unknown_state_filters": ["Bogus"],
                 "transaction_states": [{"transactional_id": "app", "producer_id": 7, "transaction_state": "Ongoing"}]}
    resp = (i32(0) + i16(0) + w.arr([w.str("Bogus")])
            + w.arr([w.str("app") + i64(7) + w.str("Ongoing") + w.tags()]) + w.tags())
    return Golden(req_body, req, resp_body, resp)


def describe_transactions(v: int) -> Golden:
    w = Wire(True)
    req_body = {"transactional_ids": ["app", "other"]}
    req = w.arr([w.str("app"), w.str("other")]) + w.tags()
    found = {"error_code": 0, "transactional_id": "app", "transaction_state": "Ongoing",
             "transaction_timeout_ms": 60_000, "transaction_start_time_ms": 1_700_000_000_000, "producer_id": 7,
             "producer_epoch": 1,
             "topics": [{"topic": "orders", "partitions": [0, 3]}]}
    found_raw = (i16(0) + w.str("app") + w.str("Ongoing") + i32(60_000) + i64(1_700_000_000_000) + i64(7) + i16(1)
                 + w.arr([w.str("orders") + w.arr([i32(0), i32(3)]) + w.tags()]) + w.tags())
    missing = {"error_code": 105, "transactional_id": "other", "transaction_state": "", "transaction_timeout_ms": 0,
               "transaction_start_time_ms": 0, "producer_id": 0, "producer_epoch": 0, "topics": []}
    missing_raw = (i16(105) + w.str("other") + w.str("") + i32(0) + i64(0) + i64(0) + i16(0) + w.arr([])
                   + w.tags())
    resp_body = {"throttle_time_ms": 0, "transaction_states": [found, missing]}
    resp = i32(0) + w.arr([found_raw, missing_raw]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


GOLDENS = {
    ApiKey.DESCRIBE_LOG_DIRS: describe_log_dirs,
    ApiKey.DESCRIBE_PRODUCERS: describe_producers,
    ApiKey.LIST_TRANSACTIONS: list_transactions,
    ApiKey.DESCRIBE_TRANSACTIONS: describe_transactions,
}

CASES = [
    (key, v)
    for key in GOLDENS
    for v in range(API_SPECS[key].min_version, API_SPECS[key].max_version + 1)
]


@pytest.mark.parametrize(("key", "version"), CASES, ids=[f"{ApiKey(k).name}-v{v}" for k, v in CASES])
def test_golden(key: int, version: int) -> None:
    check_golden(key, version, GOLDENS[key](version))
