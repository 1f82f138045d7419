"""Golden bytes for the consumer-group APIs: OffsetCommit, OffsetFetch, OffsetDelete, FindCoordinator,
JoinGroup, Heartbeat, LeaveGroup, SyncGroup, DescribeGroups, ListGroups, DeleteGroups — every version."""

from __future__ import annotations

import pytest
from protocol_golden import Golden, Wire, boolean, check_golden, i8, i16, i32, i64

from kafka_broker.protocol import API_SPECS, ApiKey


def offset_commit(v: int) -> Golden:
    w = Wire(v >= 8)
    req_body: dict = {"group_id": "g1", "generation_id_or_member_epoch": 3, "member_id": "m-1"}
    req = w.str("g1") + i32(3) + w.str("m-1")
    if v >= 7:
        req_body["group_instance_id"] = "static-1"
        req += w.nstr("static-1")
    if 2 <= v <= 4:
        req_body["retention_time_ms"] = -1
        req += i64(-1)
    partition: dict = {"partition_index": 0, "committed_offset": 99}
    partition_raw = i32(0) + i64(99)
    if v >= 6:
        partition["committed_leader_epoch"] = 4
        partition_raw += i32(4)
    if v == 1:
        partition["commit_timestamp"] = 1700000000000
        partition_raw += i64(1700000000000)
    partition["committed_metadata"] = None
    partition_raw += w.nstr(None) + w.tags()
    req_body["topics"] = [{"name": "orders", "partitions": [partition]}]
    req += w.arr([w.str("orders") + w.arr([partition_raw]) + w.tags()]) + w.tags()

    resp_body: dict = {}
    resp = b""
    if v >= 3:
        resp_body["throttle_time_ms"] = 0
        resp += i32(0)
    resp_body["topics"] = [{"name": "orders", "partitions": [{"partition_index": 0, "error_code": 0}]}]
    resp += w.arr([w.str("orders") + w.arr([i32(0) + i16(0) + w.tags()]) + w.tags()]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def offset_fetch(v: int) -> Golden:
    w = Wire(v >= 6)
    if v <= 7:
        topics = None if v >= 2 else [{"name": "orders", "partition_indexes": [0, 1]}]
        req_body: dict = {"group_id": "g1", "topics": topics}
        req = w.str("g1") + (
            w.narr(None) if topics is None else w.arr([w.str("orders") + w.arr([i32(0), i32(1)]) + w.tags()])
        )
    else:
        req_body = {
            "groups": [
                {"group_id": "g1", "topics": [{"name": "orders", "partition_indexes": [0]}]},
                {"group_id": "g2", "topics": None},
            ]
        }
        member = [b"", b""]
        if v >= 9:  # KIP-848: the member asking, and its epoch
            req_body["groups"][0] |= {"member_id": "m-1", "member_epoch": 5}
            req_body["groups"][1] |= {"member_id": None, "member_epoch": -1}
            member = [w.nstr("m-1") + i32(5), w.nstr(None) + i32(-1)]
        req = w.arr([
            w.str("g1") + member[0] + w.narr([w.str("orders") + w.arr([i32(0)]) + w.tags()]) + w.tags(),
            w.str("g2") + member[1] + w.narr(None) + w.tags(),
        ])
    if v >= 7:
        req_body["require_stable"] = True
        req += boolean(True)
    req += w.tags()

    resp_body: dict = {}
    resp = b""
    if v >= 3:
        resp_body["throttle_time_ms"] = 0
        resp += i32(0)
    partition: dict = {"partition_index": 0, "committed_offset": 99}
    partition_raw = i32(0) + i64(99)
    if v >= 5:
        partition["committed_leader_epoch"] = 4
        partition_raw += i32(4)
    partition |= {"metadata": "", "error_code": 0}
    partition_raw += w.nstr("") + i16(0) + w.tags()
    topic_raw = w.str("orders") + w.arr([partition_raw]) + w.tags()
    if v <= 7:
        resp_body["topics"] = [{"name": "orders", "partitions": [partition]}]
        resp += w.arr([topic_raw])
        if v >= 2:
            resp_body["error_code"] = 0
            resp += i16(0)
    else:
        resp_body["groups"] = [
            {"group_id": "g1", "topics": [{"name": "orders", "partitions": [partition]}], "error_code": 0},
            {"group_id": "g2", "topics": [], "error_code": 69},
        ]
        resp += w.arr([
            w.str("g1") + w.arr([topic_raw]) + i16(0) + w.tags(),
            w.str("g2") + w.arr([]) + i16(69) + w.tags(),
        ])
    resp += w.tags()
    return Golden(req_body, req, resp_body, resp)


def offset_delete(v: int) -> Golden:
    w = Wire(False)
    req_body = {"group_id": "g1", "topics": [{"name": "orders", "partitions": [{"partition_index": 2}]}]}
    req = w.str("g1") + w.arr([w.str("orders") + w.arr([i32(2)])])
    resp_body = {
        "error_code": 0,
        "throttle_time_ms": 5,
        "topics": [{"name": "orders", "partitions": [{"partition_index": 2, "error_code": 86}]}],
    }
    resp = i16(0) + i32(5) + w.arr([w.str("orders") + w.arr([i32(2) + i16(86)])])
    return Golden(req_body, req, resp_body, resp)


def find_coordinator(v: int) -> Golden:
    w = Wire(v >= 3)
    if v <= 3:
        req_body: dict = {"key": "g1"}
        req = w.str("g1")
        if v >= 1:
            req_body["key_type"] = 0
            req += i8(0)
    else:
        req_body = {"key_type": 1, "coordinator_keys": ["tx-a", "tx-b"]}
        req = i8(1) + w.arr([w.str("tx-a"), w.str("tx-b")])
    req += w.tags()

    resp_body: dict = {}
    resp = b""
    if v >= 1:
        resp_body["throttle_time_ms"] = 0
        resp += i32(0)
    if v <= 3:
        resp_body["error_code"] = 0
        resp += i16(0)
        if v >= 1:
            resp_body["error_message"] = None
            resp += w.nstr(None)
        resp_body |= {"node_id": 2, "host": "b2", "port": 9092}
        resp += i32(2) + w.str("b2") + i32(9092)
    else:
        resp_body["coordinators"] = [
            {"key": "tx-a", "node_id": 2, "host": "b2", "port": 9092, "error_code": 0, "error_message": None},
            {"key": "tx-b", "node_id": -1, "host": "", "port": -1, "error_code": 15, "error_message": "loading"},
        ]
        resp += w.arr([
            w.str("tx-a") + i32(2) + w.str("b2") + i32(9092) + i16(0) + w.nstr(None) + w.tags(),
            w.str("tx-b") + i32(-1) + w.str("") + i32(-1) + i16(15) + w.nstr("loading") + w.tags(),
        ])
    resp += w.tags()
    return Golden(req_body, req, resp_body, resp)


def join_group(v: int) -> Golden:
    w = Wire(v >= 6)
    req_body: dict = {"group_id": "g1", "session_timeout_ms": 10000}
    req = w.str("g1") + i32(10000)
    if v >= 1:
        req_body["rebalance_timeout_ms"] = 30000
        req += i32(30000)
    req_body["member_id"] = ""
    req += w.str("")
    if v >= 5:
        req_body["group_instance_id"] = None
        req += w.nstr(None)
    req_body |= {"protocol_type": "consumer", "protocols": [{"name": "range", "metadata": b"\x00\x01meta"}]}
    req += w.str("consumer") + w.arr([w.str("range") + w.bytes(b"\x00\x01meta") + w.tags()])
    if v >= 8:
        req_body["reason"] = "rebalance"
        req += w.nstr("rebalance")
    req += w.tags()

    resp_body: dict = {}
    resp = b""
    if v >= 2:
        resp_body["throttle_time_ms"] = 0
        resp += i32(0)
    resp_body |= {"error_code": 0, "generation_id": 5}
    resp += i16(0) + i32(5)
    if v >= 7:
        resp_body["protocol_type"] = "consumer"
        resp += w.nstr("consumer")
    resp_body |= {"protocol_name": "range", "leader": "m-1"}
    resp += w.str("range") + w.str("m-1")
    if v >= 9:
        resp_body["skip_assignment"] = False
        resp += boolean(False)
    member: dict = {"member_id": "m-1"}
    member_raw = w.str("m-1")
    if v >= 5:
        member["group_instance_id"] = "static-1"
        member_raw += w.nstr("static-1")
    member["metadata"] = b"meta"
    member_raw += w.bytes(b"meta") + w.tags()
    resp_body |= {"member_id": "m-1", "members": [member]}
    resp += w.str("m-1") + w.arr([member_raw]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def heartbeat(v: int) -> Golden:
    w = Wire(v >= 4)
    req_body: dict = {"group_id": "g1", "generation_id": 5, "member_id": "m-1"}
    req = w.str("g1") + i32(5) + w.str("m-1")
    if v >= 3:
        req_body["group_instance_id"] = None
        req += w.nstr(None)
    req += w.tags()
    resp_body: dict = {}
    resp = b""
    if v >= 1:
        resp_body["throttle_time_ms"] = 0
        resp += i32(0)
    resp_body["error_code"] = 27
    resp += i16(27) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def leave_group(v: int) -> Golden:
    w = Wire(v >= 4)
    req_body: dict = {"group_id": "g1"}
    req = w.str("g1")
    if v <= 2:
        req_body["member_id"] = "m-1"
        req += w.str("m-1")
    else:
        member: dict = {"member_id": "m-1", "group_instance_id": None}
        member_raw = w.str("m-1") + w.nstr(None)
        if v >= 5:
            member["reason"] = "shutdown"
            member_raw += w.nstr("shutdown")
        req_body["members"] = [member]
        req += w.arr([member_raw + w.tags()])
    req += w.tags()
    resp_body: dict = {}
    resp = b""
    if v >= 1:
        resp_body["throttle_time_ms"] = 0
        resp += i32(0)
    resp_body["error_code"] = 0
    resp += i16(0)
    if v >= 3:
        resp_body["members"] = [{"member_id": "m-1", "group_instance_id": None, "error_code": 0}]
        resp += w.arr([w.str("m-1") + w.nstr(None) + i16(0) + w.tags()])
    resp += w.tags()
    return Golden(req_body, req, resp_body, resp)


def sync_group(v: int) -> Golden:
    w = Wire(v >= 4)
    req_body: dict = {"group_id": "g1", "generation_id": 5, "member_id": "m-1"}
    req = w.str("g1") + i32(5) + w.str("m-1")
    if v >= 3:
        req_body["group_instance_id"] = None
        req += w.nstr(None)
    if v >= 5:
        req_body |= {"protocol_type": "consumer", "protocol_name": "range"}
        req += w.nstr("consumer") + w.nstr("range")
    req_body["assignments"] = [{"member_id": "m-1", "assignment": b"assign"}]
    req += w.arr([w.str("m-1") + w.bytes(b"assign") + w.tags()]) + w.tags()
    resp_body: dict = {}
    resp = b""
    if v >= 1:
        resp_body["throttle_time_ms"] = 0
        resp += i32(0)
    resp_body["error_code"] = 0
    resp += i16(0)
    if v >= 5:
        resp_body |= {"protocol_type": "consumer", "protocol_name": None}
        resp += w.nstr("consumer") + w.nstr(None)
    resp_body["assignment"] = b"assign"
    resp += w.bytes(b"assign") + w.tags()
    return Golden(req_body, req, resp_body, resp)


def describe_groups(v: int) -> Golden:
    w = Wire(v >= 5)
    req_body: dict = {"groups": ["g1", "g2"]}
    req = w.arr([w.str("g1"), w.str("g2")])
    if v >= 3:
        req_body["include_authorized_operations"] = True
        req += boolean(True)
    req += w.tags()
    resp_body: dict = {}
    resp = b""
    if v >= 1:
        resp_body["throttle_time_ms"] = 0
        resp += i32(0)
    member: dict = {"member_id": "m-1"}
    member_raw = w.str("m-1")
    if v >= 4:
        member["group_instance_id"] = None
        member_raw += w.nstr(None)
    member |= {"client_id": "c-1", "client_host": "/10.0.0.1", "member_metadata": b"md", "member_assignment": b""}
    member_raw += w.str("c-1") + w.str("/10.0.0.1") + w.bytes(b"md") + w.bytes(b"") + w.tags()
    group: dict = {
        "error_code": 0,
        "group_id": "g1",
        "group_state": "Stable",
        "protocol_type": "consumer",
        "protocol_data": "range",
        "members": [member],
    }
    group_raw = i16(0) + w.str("g1") + w.str("Stable") + w.str("consumer") + w.str("range") + w.arr([member_raw])
    if v >= 3:
        group["authorized_operations"] = 0b111
        group_raw += i32(0b111)
    resp_body["groups"] = [group]
    resp += w.arr([group_raw + w.tags()]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def list_groups(v: int) -> Golden:
    w = Wire(v >= 3)
    req_body: dict = {}
    req = b""
    if v >= 4:
        req_body["states_filter"] = ["Stable"]
        req += w.arr([w.str("Stable")])
    if v >= 5:
        req_body["types_filter"] = ["classic"]
        req += w.arr([w.str("classic")])
    req += w.tags()
    resp_body: dict = {}
    resp = b""
    if v >= 1:
        resp_body["throttle_time_ms"] = 0
        resp += i32(0)
    group: dict = {"group_id": "g1", "protocol_type": "consumer"}
    group_raw = w.str("g1") + w.str("consumer")
    if v >= 4:
        group["group_state"] = "Stable"
        group_raw += w.str("Stable")
    if v >= 5:
        group["group_type"] = "classic"
        group_raw += w.str("classic")
    resp_body |= {"error_code": 0, "groups": [group]}
    resp += i16(0) + w.arr([group_raw + w.tags()]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def delete_groups(v: int) -> Golden:
    w = Wire(v >= 2)
    req_body = {"groups_names": ["g1", "g2"]}
    req = w.arr([w.str("g1"), w.str("g2")]) + w.tags()
    resp_body = {
        "throttle_time_ms": 0,
        "results": [{"group_id": "g1", "error_code": 0}, {"group_id": "g2", "error_code": 68}],
    }
    resp = i32(0) + w.arr([w.str("g1") + i16(0) + w.tags(), w.str("g2") + i16(68) + w.tags()]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


GOLDENS = {
    ApiKey.OFFSET_COMMIT: offset_commit,
    ApiKey.OFFSET_FETCH: offset_fetch,
    ApiKey.OFFSET_DELETE: offset_delete,
    ApiKey.FIND_COORDINATOR: find_coordinator,
    ApiKey.JOIN_GROUP: join_group,
    ApiKey.HEARTBEAT: heartbeat,
    ApiKey.LEAVE_GROUP: leave_group,
    ApiKey.SYNC_GROUP: sync_group,
    ApiKey.DESCRIBE_GROUPS: describe_groups,
    ApiKey.LIST_GROUPS: list_groups,
    ApiKey.DELETE_GROUPS: delete_groups,
}

CASES = [
    (key, v)
    for key in GOLDENS
    for v in range(API_SPECS[key].min_version, API_SPECS[key].max_version + 1)
]


@pytest.mark.parametrize(("key", "version"), CASES, ids=[f"{ApiKey(k).name}-v{v}" for k, v in CASES])
def test_golden(key: int, version: int) -> None:
    check_golden(key, version, GOLDENS[key](version))
