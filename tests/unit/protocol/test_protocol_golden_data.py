"""Golden bytes for the data-path APIs: Produce, InitProducerId, Fetch, ListOffsets,
OffsetForLeaderEpoch, DeleteRecords, Metadata, DescribeCluster — every version we serve.

Each vector is assembled field by field from the protocol documentation with the primitives in
protocol_golden, and checked through encode_request/decode_request/encode_response/decode_response.
"""

from __future__ import annotations

import uuid

import pytest
from protocol_golden import Golden, Wire, boolean, check_golden, i8, i16, i32, i64

from kafka_broker.protocol import API_SPECS, ApiKey

TOPIC_ID = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
OTHER_ID = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
DIR_ID = uuid.UUID("f0e1d2c3-b4a5-9687-7869-5a4b3c2d1e0f")


def produce(v: int) -> Golden:
    w = Wire(v >= 9)
    req_body: dict = {
        "acks": -1,
        "timeout_ms": 1500,
        "topic_data": [
            {"name": "orders", "partition_data": [{"index": 2, "records": b"BATCH"}, {"index": 3, "records": None}]}
        ],
    }
    if v >= 3:
        req_body["transactional_id"] = "tx-1"
    req = (
        (w.nstr("tx-1") if v >= 3 else b"") + i16(-1) + i32(1500)
        + w.arr([
            w.str("orders")
            + w.arr([i32(2) + w.nbytes(b"BATCH") + w.tags(), i32(3) + w.nbytes(None) + w.tags()])
            + w.tags()
        ])
        + w.tags()
    )
    part = {"index": 2, "error_code": 0, "base_offset": 1000}
    part_raw = i32(2) + i16(0) + i64(1000)
    if v >= 2:
        part["log_append_time_ms"] = 1700000000000
        part_raw += i64(1700000000000)
    if v >= 5:
        part["log_start_offset"] = 7
        part_raw += i64(7)
    if v >= 8:
        part["record_errors"] = [
            {"batch_index": 4, "batch_index_error_message": "bad"},
            {"batch_index": 5, "batch_index_error_message": None},
        ]
        part["error_message"] = "some records failed"
        part_raw += (
            w.arr([i32(4) + w.nstr("bad") + w.tags(), i32(5) + w.nstr(None) + w.tags()])
            + w.nstr("some records failed")
        )
    resp_body: dict = {"responses": [{"name": "orders", "partition_responses": [part]}]}
    if v >= 1:
        resp_body["throttle_time_ms"] = 25
    if v >= 10:  # KIP-951: two tagged fields, CurrentLeader (per partition) and NodeEndpoints
        part["current_leader"] = {"leader_id": 4, "leader_epoch": 9}
        part_raw += w.tags((0, i32(4) + i32(9) + w.tags()))
        resp_body["node_endpoints"] = [{"node_id": 4, "host": "b4", "port": 9092, "rack": None}]
        top_tags = w.tags((0, w.arr([i32(4) + w.str("b4") + i32(9092) + w.nstr(None) + w.tags()])))
    else:
        part_raw += w.tags()
        top_tags = w.tags()
    resp = w.arr([w.str("orders") + w.arr([part_raw]) + w.tags()]) + (i32(25) if v >= 1 else b"") + top_tags
    return Golden(req_body, req, resp_body, resp)


def init_producer_id(v: int) -> Golden:
    w = Wire(v >= 2)
    req_body = {"transactional_id": None, "transaction_timeout_ms": 60000}
    req = w.nstr(None) + i32(60000)
    if v >= 3:
        req_body |= {"producer_id": 4000, "producer_epoch": 3}
        req += i64(4000) + i16(3)
    req += w.tags()
    resp_body = {"throttle_time_ms": 0, "error_code": 0, "producer_id": 4001, "producer_epoch": 4}
    resp = i32(0) + i16(0) + i64(4001) + i16(4) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def fetch(v: int) -> Golden:
    flexible = v >= 12
    w = Wire(flexible)
    req_body: dict = {"max_wait_ms": 500, "min_bytes": 1}
    req = b""
    if v <= 14:
        req_body["replica_id"] = -1
        req += i32(-1)
    req += i32(500) + i32(1)
    if v >= 3:
        req_body["max_bytes"] = 52428800
        req += i32(52428800)
    if v >= 4:
        req_body["isolation_level"] = 1
        req += i8(1)
    if v >= 7:
        req_body |= {"session_id": 77, "session_epoch": 2}
        req += i32(77) + i32(2)
    partition = {"partition": 0, "fetch_offset": 42, "partition_max_bytes": 1048576}
    partition_raw = i32(0)
    if v >= 9:
        partition["current_leader_epoch"] = 5
        partition_raw += i32(5)
    partition_raw += i64(42)
    if v >= 12:
        partition["last_fetched_epoch"] = 4
        partition_raw += i32(4)
    if v >= 5:
        partition["log_start_offset"] = -1
        partition_raw += i64(-1)
    partition_raw += i32(1048576)
    if v >= 17:  # KIP-853: the follower's log directory, tagged
        partition["replica_directory_id"] = DIR_ID
        partition_raw += w.tags((0, DIR_ID.bytes))
    else:
        partition_raw += w.tags()
    name = (w.str("orders"), {"topic": "orders"}) if v < 13 else (TOPIC_ID.bytes, {"topic_id": TOPIC_ID})
    req_body["topics"] = [{**name[1], "partitions": [partition]}]
    req += w.arr([name[0] + w.arr([partition_raw]) + w.tags()])
    if v >= 7:
        old = (w.str("old"), {"topic": "old"}) if v < 13 else (OTHER_ID.bytes, {"topic_id": OTHER_ID})
        req_body["forgotten_topics_data"] = [{**old[1], "partitions": [1, 2]}]
        req += w.arr([old[0] + w.arr([i32(1), i32(2)]) + w.tags()])
    if v >= 11:
        req_body["rack_id"] = "rack-a"
        req += w.str("rack-a")
    if v >= 15:  # KIP-903: the follower names itself in a tagged struct
        req_body["cluster_id"] = "cluster-x"
        req_body["replica_state"] = {"replica_id": 2, "replica_epoch": 7}
        req += w.tags((0, w.nstr("cluster-x")), (1, i32(2) + i64(7) + w.tags()))
    elif flexible:
        req_body["cluster_id"] = "cluster-x"
        req += w.tags((0, w.nstr("cluster-x")))

    resp_body: dict = {}
    resp = b""
    if v >= 1:
        resp_body["throttle_time_ms"] = 10
        resp += i32(10)
    if v >= 7:
        resp_body |= {"error_code": 0, "session_id": 77}
        resp += i16(0) + i32(77)
    first = {"partition_index": 0, "error_code": 0, "high_watermark": 100}
    first_raw = i32(0) + i16(0) + i64(100)
    second = {"partition_index": 1, "error_code": 6, "high_watermark": -1}
    second_raw = i32(1) + i16(6) + i64(-1)
    if v >= 4:
        first["last_stable_offset"] = 90
        second["last_stable_offset"] = -1
        first_raw += i64(90)
        second_raw += i64(-1)
    if v >= 5:
        first["log_start_offset"] = 3
        second["log_start_offset"] = -1
        first_raw += i64(3)
        second_raw += i64(-1)
    if v >= 4:
        first["aborted_transactions"] = [{"producer_id": 9, "first_offset": 50}]
        second["aborted_transactions"] = None
        first_raw += w.narr([i64(9) + i64(50) + w.tags()])
        second_raw += w.narr(None)
    if v >= 11:
        first["preferred_read_replica"] = -1
        second["preferred_read_replica"] = 2
        first_raw += i32(-1)
        second_raw += i32(2)
    first["records"] = b"RECORD-BATCHES"
    second["records"] = None
    first_raw += w.nbytes(b"RECORD-BATCHES")
    second_raw += w.nbytes(None)
    if flexible:
        first |= {
            "diverging_epoch": {"epoch": 3, "end_offset": 80},
            "current_leader": {"leader_id": -1, "leader_epoch": -1},
            "snapshot_id": {"end_offset": 60, "epoch": 2},
        }
        first_raw += w.tags((0, i32(3) + i64(80) + w.tags()), (2, i64(60) + i32(2) + w.tags()))
        second |= {
            "diverging_epoch": {"epoch": -1, "end_offset": -1},
            "current_leader": {"leader_id": 2, "leader_epoch": 9},
            "snapshot_id": {"end_offset": -1, "epoch": -1},
        }
        second_raw += w.tags((1, i32(2) + i32(9) + w.tags()))
    resp_body["responses"] = [{**name[1], "partitions": [first, second]}]
    resp += w.arr([name[0] + w.arr([first_raw, second_raw]) + w.tags()])
    if v >= 16:  # KIP-951: the endpoints of the leaders named in current_leader
        resp_body["node_endpoints"] = [{"node_id": 2, "host": "b2", "port": 9093, "rack": "r2"}]
        resp += w.tags((0, w.arr([i32(2) + w.str("b2") + i32(9093) + w.nstr("r2") + w.tags()])))
    else:
        resp += w.tags()
    return Golden(req_body, req, resp_body, resp)


def list_offsets(v: int) -> Golden:
    w = Wire(v >= 6)
    req_body: dict = {"replica_id": -1}
    req = i32(-1)
    if v >= 2:
        req_body["isolation_level"] = 1
        req += i8(1)
    partition = {"partition_index": 4}
    partition_raw = i32(4)
    if v >= 4:
        partition["current_leader_epoch"] = 6
        partition_raw += i32(6)
    partition["timestamp"] = -2 if v < 8 else -4 - (v - 8)  # v8: earliest-local, v9: latest-tiered
    partition_raw += i64(partition["timestamp"])
    if v == 0:
        partition["max_num_offsets"] = 3
        partition_raw += i32(3)
    partition_raw += w.tags()
    req_body["topics"] = [{"name": "orders", "partitions": [partition]}]
    req += w.arr([w.str("orders") + w.arr([partition_raw]) + w.tags()]) + w.tags()

    resp_body: dict = {}
    resp = b""
    if v >= 2:
        resp_body["throttle_time_ms"] = 0
        resp += i32(0)
    rpart: dict = {"partition_index": 4, "error_code": 0}
    rpart_raw = i32(4) + i16(0)
    if v == 0:
        rpart["old_style_offsets"] = [1234, 1000]
        rpart_raw += w.arr([i64(1234), i64(1000)])
    else:
        rpart |= {"timestamp": -1, "offset": 1234}
        rpart_raw += i64(-1) + i64(1234)
    if v >= 4:
        rpart["leader_epoch"] = 6
        rpart_raw += i32(6)
    rpart_raw += w.tags()
    resp_body["topics"] = [{"name": "orders", "partitions": [rpart]}]
    resp += w.arr([w.str("orders") + w.arr([rpart_raw]) + w.tags()]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def offset_for_leader_epoch(v: int) -> Golden:
    w = Wire(v >= 4)
    req_body: dict = {}
    req = b""
    if v >= 3:
        req_body["replica_id"] = 2
        req += i32(2)
    partition = {"partition": 1}
    partition_raw = i32(1)
    if v >= 2:
        partition["current_leader_epoch"] = 8
        partition_raw += i32(8)
    partition["leader_epoch"] = 7
    partition_raw += i32(7) + w.tags()
    req_body["topics"] = [{"topic": "orders", "partitions": [partition]}]
    req += w.arr([w.str("orders") + w.arr([partition_raw]) + w.tags()]) + w.tags()

    resp_body: dict = {}
    resp = b""
    if v >= 2:
        resp_body["throttle_time_ms"] = 0
        resp += i32(0)
    rpart = {"error_code": 0, "partition": 1}
    rpart_raw = i16(0) + i32(1)
    if v >= 1:
        rpart["leader_epoch"] = 7
        rpart_raw += i32(7)
    rpart["end_offset"] = 555
    rpart_raw += i64(555) + w.tags()
    resp_body["topics"] = [{"topic": "orders", "partitions": [rpart]}]
    resp += w.arr([w.str("orders") + w.arr([rpart_raw]) + w.tags()]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def delete_records(v: int) -> Golden:
    w = Wire(v >= 2)
    req_body = {
        "topics": [{"name": "orders", "partitions": [{"partition_index": 0, "offset": 10}]}],
        "timeout_ms": 3000,
    }
    req = w.arr([w.str("orders") + w.arr([i32(0) + i64(10) + w.tags()]) + w.tags()]) + i32(3000) + w.tags()
    resp_body = {
        "throttle_time_ms": 0,
        "topics": [{"name": "orders", "partitions": [{"partition_index": 0, "low_watermark": 10, "error_code": 0}]}],
    }
    resp = i32(0) + w.arr([w.str("orders") + w.arr([i32(0) + i64(10) + i16(0) + w.tags()]) + w.tags()]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def metadata(v: int) -> Golden:
    w = Wire(v >= 9)
    req_body: dict = {}
    if v == 0:
        req_body["topics"] = []  # v0: empty means all topics
        req = w.arr([])
    elif v % 2 == 0:
        req_body["topics"] = None  # null: all topics
        req = w.narr(None)
    else:
        topics = [{"name": "orders"}]
        raws = []
        if v >= 10:
            topics = [{"topic_id": uuid.UUID(int=0), "name": "orders"}, {"topic_id": TOPIC_ID, "name": None}]
            raws = [bytes(16) + w.nstr("orders") + w.tags(), TOPIC_ID.bytes + w.nstr(None) + w.tags()]
        else:
            raws = [w.str("orders") + w.tags()]
        req_body["topics"] = topics
        req = w.narr(raws)
    if v >= 4:
        req_body["allow_auto_topic_creation"] = False
        req += boolean(False)
    if 8 <= v <= 10:
        req_body["include_cluster_authorized_operations"] = True
        req += boolean(True)
    if v >= 8:
        req_body["include_topic_authorized_operations"] = True
        req += boolean(True)
    req += w.tags()

    resp_body: dict = {}
    resp = b""
    if v >= 3:
        resp_body["throttle_time_ms"] = 0
        resp += i32(0)
    resp_body["brokers"] = [
        {"node_id": 1, "host": "b1.kafka", "port": 9092, "rack": "r1"},
        {"node_id": 2, "host": "b2.kafka", "port": 9093, "rack": None},
    ]
    if v == 0:  # no racks before v1
        resp_body["brokers"] = [{k: b[k] for k in ("node_id", "host", "port")} for b in resp_body["brokers"]]
    rack = (lambda r: w.nstr(r)) if v >= 1 else (lambda r: b"")
    resp += w.arr([
        i32(1) + w.str("b1.kafka") + i32(9092) + rack("r1") + w.tags(),
        i32(2) + w.str("b2.kafka") + i32(9093) + rack(None) + w.tags(),
    ])
    if v >= 2:
        resp_body["cluster_id"] = "kopfka-cluster"
        resp += w.nstr("kopfka-cluster")
    if v >= 1:
        resp_body["controller_id"] = 2
        resp += i32(2)
    partition = {"error_code": 0, "partition_index": 0, "leader_id": 1}
    partition_raw = i16(0) + i32(0) + i32(1)
    if v >= 7:
        partition["leader_epoch"] = 3
        partition_raw += i32(3)
    partition |= {"replica_nodes": [1, 2], "isr_nodes": [1]}
    partition_raw += w.arr([i32(1), i32(2)]) + w.arr([i32(1)])
    if v >= 5:
        partition["offline_replicas"] = [2]
        partition_raw += w.arr([i32(2)])
    partition_raw += w.tags()
    topic: dict = {"error_code": 0, "name": "orders"}
    topic_raw = i16(0) + w.str("orders")
    if v >= 10:
        topic["topic_id"] = TOPIC_ID
        topic_raw += TOPIC_ID.bytes
    if v >= 1:
        topic["is_internal"] = False
        topic_raw += boolean(False)
    topic["partitions"] = [partition]
    topic_raw += w.arr([partition_raw])
    if v >= 8:
        topic["topic_authorized_operations"] = 0b11111000
        topic_raw += i32(0b11111000)
    topic_raw += w.tags()
    resp_body["topics"] = [topic]
    resp += w.arr([topic_raw])
    if 8 <= v <= 10:
        resp_body["cluster_authorized_operations"] = -(2**31)
        resp += i32(-(2**31))
    resp += w.tags()
    return Golden(req_body, req, resp_body, resp)


def describe_cluster(v: int) -> Golden:
    w = Wire(True)
    req_body: dict = {"include_cluster_authorized_operations": True}
    req = boolean(True)
    if v >= 1:
        req_body["endpoint_type"] = 1
        req += i8(1)
    req += w.tags()
    resp_body: dict = {"throttle_time_ms": 0, "error_code": 0, "error_message": None}
    resp = i32(0) + i16(0) + w.nstr(None)
    if v >= 1:
        resp_body["endpoint_type"] = 1
        resp += i8(1)
    resp_body |= {
        "cluster_id": "kopfka-cluster",
        "controller_id": 3,
        "brokers": [{"broker_id": 3, "host": "b3", "port": 9092, "rack": "r3"}],
        "cluster_authorized_operations": 0x0F00,
    }
    resp += (
        w.str("kopfka-cluster") + i32(3)
        + w.arr([i32(3) + w.str("b3") + i32(9092) + w.nstr("r3") + w.tags()])
        + i32(0x0F00) + w.tags()
    )
    return Golden(req_body, req, resp_body, resp)


GOLDENS = {
    ApiKey.PRODUCE: produce,
    ApiKey.INIT_PRODUCER_ID: init_producer_id,
    ApiKey.FETCH: fetch,
    ApiKey.LIST_OFFSETS: list_offsets,
    ApiKey.OFFSET_FOR_LEADER_EPOCH: offset_for_leader_epoch,
    ApiKey.DELETE_RECORDS: delete_records,
    ApiKey.METADATA: metadata,
    ApiKey.DESCRIBE_CLUSTER: describe_cluster,
}

CASES = [
    (key, v)
    for key in GOLDENS
    for v in range(API_SPECS[key].min_version, API_SPECS[key].max_version + 1)
]


@pytest.mark.parametrize(("key", "version"), CASES, ids=[f"{ApiKey(k).name}-v{v}" for k, v in CASES])
def test_golden(key: int, version: int) -> None:
    check_golden(key, version, GOLDENS[key](version))
