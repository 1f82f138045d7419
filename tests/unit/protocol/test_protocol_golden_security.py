"""Golden bytes for the ACL APIs (DescribeAcls, CreateAcls, DeleteAcls) and the SCRAM credential APIs
(DescribeUserScramCredentials, AlterUserScramCredentials), every version we serve, written from the protocol
documentation: v1 adds the pattern type to the ACL messages, v2 makes them flexible; the SCRAM messages are
flexible from v0."""

from __future__ import annotations

from typing import Any

import pytest
from protocol_golden import Golden, Wire, check_golden, i8, i16, i32

from kafka_broker.protocol import API_SPECS, ApiKey

PREFIXED = 4
"""``PatternType.PREFIXED``, sent where the version has a pattern type (v0 has none: LITERAL)."""


def _pattern(v: int, name: str, value: int) -> dict[str, Any]:
    return {name: value} if v >= 1 else {}


def _pattern_bytes(v: int, value: int) -> bytes:
    return i8(value) if v >= 1 else b""


def describe_acls(v: int) -> Golden:
    w = Wire(v >= 2)
    req_body = {"resource_type_filter": 2, "resource_name_filter": "orders",
                **_pattern(v, "pattern_type_filter", PREFIXED),
                "principal_filter": "User:alice", "host_filter": None, "operation": 3, "permission_type": 1}
    req = (i8(2) + w.nstr("orders") + _pattern_bytes(v, PREFIXED) + w.nstr("User:alice") + w.nstr(None)
           + i8(3) + i8(1) + w.tags())
    resp_body = {
        "throttle_time_ms": 5, "error_code": 0, "error_message": None,
        "resources": [{
            "resource_type": 2, "resource_name": "orders", **_pattern(v, "pattern_type", PREFIXED),
            "acls": [{"principal": "User:alice", "host": "*", "operation": 3, "permission_type": 3}],
        }],
    }
    resp = (
        i32(5) + i16(0) + w.nstr(None)
        + w.arr([
            i8(2) + w.str("orders") + _pattern_bytes(v, PREFIXED)
            + w.arr([w.str("User:alice") + w.str("*") + i8(3) + i8(3) + w.tags()])
            + w.tags()
        ])
        + w.tags()
    )
    return Golden(req_body, req, resp_body, resp)


def describe_acls_disabled(v: int) -> Golden:
    """What kopfka answers (no authorizer): SECURITY_DISABLED with Kafka's message and no resources."""
    w = Wire(v >= 2)
    req_body = {"resource_type_filter": 1, "resource_name_filter": None, **_pattern(v, "pattern_type_filter", 1),
                "principal_filter": None, "host_filter": None, "operation": 1, "permission_type": 1}
    req = i8(1) + w.nstr(None) + _pattern_bytes(v, 1) + w.nstr(None) + w.nstr(None) + i8(1) + i8(1) + w.tags()
    message = "No Authorizer is configured on the broker"
    resp_body = {"throttle_time_ms": 0, "error_code": 54, "error_message": message, "resources": []}
    resp = i32(0) + i16(54) + w.nstr(message) + w.arr([]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def create_acls(v: int) -> Golden:
    w = Wire(v >= 2)
    req_body = {"creations": [{
        "resource_type": 2, "resource_name": "orders", **_pattern(v, "resource_pattern_type", PREFIXED),
        "principal": "User:alice", "host": "*", "operation": 4, "permission_type": 3,
    }]}
    req = (
        w.arr([i8(2) + w.str("orders") + _pattern_bytes(v, PREFIXED) + w.str("User:alice") + w.str("*")
               + i8(4) + i8(3) + w.tags()])
        + w.tags()
    )
    message = "No Authorizer is configured."
    resp_body = {"throttle_time_ms": 0, "results": [{"error_code": 54, "error_message": message}]}
    resp = i32(0) + w.arr([i16(54) + w.nstr(message) + w.tags()]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def delete_acls(v: int) -> Golden:
    w = Wire(v >= 2)
    req_body = {"filters": [{
        "resource_type_filter": 2, "resource_name_filter": "orders", **_pattern(v, "pattern_type_filter", PREFIXED),
        "principal_filter": None, "host_filter": "*", "operation": 1, "permission_type": 3,
    }]}
    req = (
        w.arr([i8(2) + w.nstr("orders") + _pattern_bytes(v, PREFIXED) + w.nstr(None) + w.nstr("*")
               + i8(1) + i8(3) + w.tags()])
        + w.tags()
    )
    resp_body = {"throttle_time_ms": 1, "filter_results": [
        {"error_code": 0, "error_message": None, "matching_acls": [{
            "error_code": 0, "error_message": None, "resource_type": 2, "resource_name": "orders",
            **_pattern(v, "pattern_type", PREFIXED), "principal": "User:bob", "host": "*", "operation": 4,
            "permission_type": 3,
        }]},
        {"error_code": 54, "error_message": "No Authorizer is configured.", "matching_acls": []},
    ]}
    resp = (
        i32(1)
        + w.arr([
            i16(0) + w.nstr(None)
            + w.arr([i16(0) + w.nstr(None) + i8(2) + w.str("orders") + _pattern_bytes(v, PREFIXED)
                     + w.str("User:bob") + w.str("*") + i8(4) + i8(3) + w.tags()])
            + w.tags(),
            i16(54) + w.nstr("No Authorizer is configured.") + w.arr([]) + w.tags(),
        ])
        + w.tags()
    )
    return Golden(req_body, req, resp_body, resp)


def describe_user_scram_credentials(v: int) -> Golden:
    w = Wire(True)
    req_body = {"users": [{"name": "alice"}, {"name": "bob"}]}
    req = w.narr([w.str("alice") + w.tags(), w.str("bob") + w.tags()]) + w.tags()
    missing = "Attempt to describe a user credential that does not exist: bob"
    resp_body = {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "results": [
        {"user": "alice", "error_code": 0, "error_message": None,
         "credential_infos": [{"mechanism": 1, "iterations": 4096}, {"mechanism": 2, "iterations": 8192}]},
        {"user": "bob", "error_code": 91, "error_message": missing, "credential_infos": []},
    ]}
    resp = (
        i32(0) + i16(0) + w.nstr(None)
        + w.arr([
            w.str("alice") + i16(0) + w.nstr(None)
            + w.arr([i8(1) + i32(4096) + w.tags(), i8(2) + i32(8192) + w.tags()]) + w.tags(),
            w.str("bob") + i16(91) + w.nstr(missing) + w.arr([]) + w.tags(),
        ])
        + w.tags()
    )
    return Golden(req_body, req, resp_body, resp)


def describe_all_user_scram_credentials(v: int) -> Golden:
    """Every user: a null user list (one byte, 0, in a compact nullable array)."""
    w = Wire(True)
    req_body = {"users": None}
    req = w.narr(None) + w.tags()
    resp_body = {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "results": []}
    resp = i32(0) + i16(0) + w.nstr(None) + w.arr([]) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def alter_user_scram_credentials(v: int) -> Golden:
    w = Wire(True)
    salt, salted = b"\x01\x02salt", bytes(range(64))
    req_body = {
        "deletions": [{"name": "bob", "mechanism": 1}],
        "upsertions": [{"name": "alice", "mechanism": 2, "iterations": 8192, "salt": salt,
                        "salted_password": salted}],
    }
    req = (
        w.arr([w.str("bob") + i8(1) + w.tags()])
        + w.arr([w.str("alice") + i8(2) + i32(8192) + w.bytes(salt) + w.bytes(salted) + w.tags()])
        + w.tags()
    )
    resp_body = {"throttle_time_ms": 0, "results": [
        {"user": "bob", "error_code": 91, "error_message": "Attempt to delete a user credential that does not exist"},
        {"user": "alice", "error_code": 0, "error_message": None},
    ]}
    resp = (
        i32(0)
        + w.arr([
            w.str("bob") + i16(91) + w.nstr("Attempt to delete a user credential that does not exist") + w.tags(),
            w.str("alice") + i16(0) + w.nstr(None) + w.tags(),
        ])
        + w.tags()
    )
    return Golden(req_body, req, resp_body, resp)


GOLDENS = {
    ApiKey.DESCRIBE_ACLS: describe_acls,
    ApiKey.CREATE_ACLS: create_acls,
    ApiKey.DELETE_ACLS: delete_acls,
    ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS: describe_user_scram_credentials,
    ApiKey.ALTER_USER_SCRAM_CREDENTIALS: alter_user_scram_credentials,
}

CASES = [
    (key, v)
    for key in GOLDENS
    for v in range(API_SPECS[key].min_version, API_SPECS[key].max_version + 1)
]


@pytest.mark.parametrize(("key", "version"), CASES, ids=[f"{ApiKey(k).name}-v{v}" for k, v in CASES])
def test_golden(key: int, version: int) -> None:
    check_golden(key, version, GOLDENS[key](version))


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_golden_describe_acls_without_authorizer(version: int) -> None:
    check_golden(ApiKey.DESCRIBE_ACLS, version, describe_acls_disabled(version))


def test_golden_describe_every_user() -> None:
    check_golden(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS, 0, describe_all_user_scram_credentials(0))


def test_versions_are_kafka_39s() -> None:
    """Kafka 3.9 serves the ACL APIs at v0-v3 (flexible from v2) and the SCRAM APIs at v0 (flexible)."""
    for key in (ApiKey.DESCRIBE_ACLS, ApiKey.CREATE_ACLS, ApiKey.DELETE_ACLS):
        assert (API_SPECS[key].min_version, API_SPECS[key].max_version, API_SPECS[key].flexible_from) == (0, 3, 2)
    for key in (ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS, ApiKey.ALTER_USER_SCRAM_CREDENTIALS):
        assert (API_SPECS[key].min_version, API_SPECS[key].max_version, API_SPECS[key].flexible_from) == (0, 0, 0)
