"""Golden bytes for DescribeClientQuotas and AlterClientQuotas, every version we serve."""

from __future__ import annotations

import struct

import pytest
from protocol_golden import Golden, Wire, boolean, check_golden, i8, i16, i32

from kafka_broker.protocol import API_SPECS, ApiKey


def f64(v: float) -> bytes:
    return struct.pack(">d", v)


def _entity(w: Wire, parts: list[tuple[str, str | None]]) -> tuple[list[dict], bytes]:
    body = [{"entity_type": t, "entity_name": n} for t, n in parts]
    return body, w.arr([w.str(t) + w.nstr(n) + w.tags() for t, n in parts])


def describe_client_quotas(v: int) -> Golden:
    w = Wire(v >= 1)
    req_body = {
        "components": [
            {"entity_type": "user", "match_type": 0, "match": "alice"},
            {"entity_type": "client-id", "match_type": 1, "match": None},
        ],
        "strict": True,
    }
    req = (
        w.arr([
            w.str("user") + i8(0) + w.nstr("alice") + w.tags(),
            w.str("client-id") + i8(1) + w.nstr(None) + w.tags(),
        ])
        + boolean(True) + w.tags()
    )
    entity, entity_bytes = _entity(w, [("user", "alice"), ("client-id", None)])
    resp_body = {
        "throttle_time_ms": 7,
        "error_code": 0,
        "error_message": None,
        "entries": [{
            "entity": entity,
            "values": [{"key": "consumer_byte_rate", "value": 2048.0}, {"key": "request_percentage", "value": 12.5}],
        }],
    }
    resp = (
        i32(7) + i16(0) + w.nstr(None)
        + w.narr([
            entity_bytes
            + w.arr([
                w.str("consumer_byte_rate") + f64(2048.0) + w.tags(),
                w.str("request_percentage") + f64(12.5) + w.tags(),
            ])
            + w.tags()
        ])
        + w.tags()
    )
    return Golden(req_body, req, resp_body, resp)


def describe_client_quotas_error(v: int) -> Golden:
    """A failed describe: a message and null entries."""
    w = Wire(v >= 1)
    req_body = {"components": [{"entity_type": "group", "match_type": 2, "match": None}], "strict": False}
    req = w.arr([w.str("group") + i8(2) + w.nstr(None) + w.tags()]) + boolean(False) + w.tags()
    resp_body = {"throttle_time_ms": 0, "error_code": 35, "error_message": "Custom entity type 'group' not supported",
                 "entries": None}
    resp = i32(0) + i16(35) + w.nstr("Custom entity type 'group' not supported") + w.narr(None) + w.tags()
    return Golden(req_body, req, resp_body, resp)


def alter_client_quotas(v: int) -> Golden:
    w = Wire(v >= 1)
    entity, entity_bytes = _entity(w, [("user", None), ("client-id", "app")])
    req_body = {
        "entries": [{
            "entity": entity,
            "ops": [
                {"key": "producer_byte_rate", "value": 1024.0, "remove": False},
                {"key": "consumer_byte_rate", "value": 0.0, "remove": True},
            ],
        }],
        "validate_only": False,
    }
    req = (
        w.arr([
            entity_bytes
            + w.arr([
                w.str("producer_byte_rate") + f64(1024.0) + boolean(False) + w.tags(),
                w.str("consumer_byte_rate") + f64(0.0) + boolean(True) + w.tags(),
            ])
            + w.tags()
        ])
        + boolean(False) + w.tags()
    )
    resp_body = {
        "throttle_time_ms": 0,
        "entries": [{"error_code": 42, "error_message": "Invalid configuration key foo", "entity": entity}],
    }
    resp = (
        i32(0)
        + w.arr([i16(42) + w.nstr("Invalid configuration key foo") + entity_bytes + w.tags()])
        + w.tags()
    )
    return Golden(req_body, req, resp_body, resp)


GOLDENS = {
    ApiKey.DESCRIBE_CLIENT_QUOTAS: describe_client_quotas,
    ApiKey.ALTER_CLIENT_QUOTAS: alter_client_quotas,
}

CASES = [
    (key, v)
    for key in GOLDENS
    for v in range(API_SPECS[key].min_version, API_SPECS[key].max_version + 1)
]


@pytest.mark.parametrize(("key", "version"), CASES, ids=[f"{ApiKey(k).name}-v{v}" for k, v in CASES])
def test_golden(key: int, version: int) -> None:
    check_golden(key, version, GOLDENS[key](version))


@pytest.mark.parametrize("version", [0, 1])
def test_golden_describe_error(version: int) -> None:
    check_golden(ApiKey.DESCRIBE_CLIENT_QUOTAS, version, describe_client_quotas_error(version))


def test_versions_are_kafka_39s() -> None:
    for key in (ApiKey.DESCRIBE_CLIENT_QUOTAS, ApiKey.ALTER_CLIENT_QUOTAS):
        assert (API_SPECS[key].min_version, API_SPECS[key].max_version) == (0, 1)
