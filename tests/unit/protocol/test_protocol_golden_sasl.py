"""Golden bytes for SaslHandshake (v0-v1, never flexible) and SaslAuthenticate (v0-v2: v1 adds the session
lifetime, v2 makes it flexible), written from the protocol documentation and checked against kafka-python's
encoder, which is generated from Kafka's own message specs."""

from __future__ import annotations

import pytest
from kafka.protocol.sasl import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)
from protocol_golden import Golden, Wire, check_golden, i16, i64

from kafka_broker.protocol import API_SPECS, ApiKey

SERVER_FIRST = b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
FAILED = "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"


def sasl_handshake(v: int) -> Golden:
    w = Wire(False)
    req_body = {"mechanism": "SCRAM-SHA-512"}
    req = w.str("SCRAM-SHA-512")
    resp_body = {"error_code": 33, "mechanisms": ["SCRAM-SHA-256", "PLAIN"]}
    resp = i16(33) + w.arr([w.str("SCRAM-SHA-256"), w.str("PLAIN")])
    return Golden(req_body, req, resp_body, resp)


def sasl_authenticate(v: int) -> Golden:
    w = Wire(v >= 2)
    req_body = {"auth_bytes": b"n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL"}
    req = w.bytes(b"n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL") + w.tags()
    resp_body: dict = {"error_code": 0, "error_message": None, "auth_bytes": SERVER_FIRST}
    resp = i16(0) + w.nstr(None) + w.bytes(SERVER_FIRST)
    if v >= 1:
        resp_body["session_lifetime_ms"] = 3_600_000
        resp += i64(3_600_000)
    return Golden(req_body, req, resp_body, resp + w.tags())


def sasl_authenticate_failed(v: int) -> Golden:
    w = Wire(v >= 2)
    req_body = {"auth_bytes": b""}
    req = w.bytes(b"") + w.tags()
    resp_body: dict = {"error_code": 58, "error_message": FAILED, "auth_bytes": b""}
    resp = i16(58) + w.nstr(FAILED) + w.bytes(b"")
    if v >= 1:
        resp_body["session_lifetime_ms"] = 0
        resp += i64(0)
    return Golden(req_body, req, resp_body, resp + w.tags())


GOLDENS = {
    ApiKey.SASL_HANDSHAKE: sasl_handshake,
    ApiKey.SASL_AUTHENTICATE: sasl_authenticate,
}

CASES = [
    (key, v)
    for key in GOLDENS
    for v in range(API_SPECS[key].min_version, API_SPECS[key].max_version + 1)
]


@pytest.mark.parametrize(("key", "version"), CASES, ids=[f"{ApiKey(k).name}-v{v}" for k, v in CASES])
def test_golden(key: int, version: int) -> None:
    check_golden(key, version, GOLDENS[key](version))


@pytest.mark.parametrize("version", [0, 1, 2])
def test_golden_failed_authentication(version: int) -> None:
    check_golden(ApiKey.SASL_AUTHENTICATE, version, sasl_authenticate_failed(version))


@pytest.mark.parametrize("version", [0, 1])
def test_kafka_python_writes_the_handshake_golden_bytes(version: int) -> None:
    golden = sasl_handshake(version)
    assert SaslHandshakeRequest[version](**golden.request_body).encode() == golden.request
    assert SaslHandshakeResponse[version](**golden.response_body).encode() == golden.response


@pytest.mark.parametrize("version", [0, 1, 2])
@pytest.mark.parametrize("vector", [sasl_authenticate, sasl_authenticate_failed])
def test_kafka_python_writes_the_authenticate_golden_bytes(version: int, vector) -> None:
    golden = vector(version)
    assert SaslAuthenticateRequest[version](**golden.request_body).encode() == golden.request
    assert SaslAuthenticateResponse[version](**golden.response_body).encode() == golden.response


def test_versions_are_kafka_39s() -> None:
    """Kafka 3.9 serves SaslHandshake v0-v1 (no flexible version: KAFKA-9577) and SaslAuthenticate v0-v2."""
    handshake, authenticate = API_SPECS[ApiKey.SASL_HANDSHAKE], API_SPECS[ApiKey.SASL_AUTHENTICATE]
    assert (handshake.min_version, handshake.max_version, handshake.flexible_from) == (0, 1, None)
    assert (authenticate.min_version, authenticate.max_version, authenticate.flexible_from) == (0, 2, 2)
