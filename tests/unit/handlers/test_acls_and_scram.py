"""The ACL APIs answered as Kafka 3.9 without an authorizer, and DescribeUserScramCredentials /
AlterUserScramCredentials through their handlers (wire round trip, ZooKeeper in memory): Kafka's znode format,
keys derived from the salted password, quota keys of the same znode kept, Kafka's validation and messages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from types import SimpleNamespace
from typing import Any

import pytest
from cluster.fakes import FakeZooKeeper

from kafka_broker import metadata as md
from kafka_broker.handlers import (
    alter_user_scram_credentials,
    create_acls,
    delete_acls,
    describe_acls,
    describe_user_scram_credentials,
)
from kafka_broker.protocol import ErrorCode

from .harness import Broker

SHA_256, SHA_512 = 1, 2
SALT = b"0123456789abcdef"


@pytest.fixture
def zk(broker: Broker) -> FakeZooKeeper:
    zk = FakeZooKeeper()
    broker.store.zk = zk.client()  # type: ignore[attr-defined]  # the handlers read and write ZooKeeper itself
    broker.services.controller = SimpleNamespace(active=True)  # type: ignore[assignment]  # this broker controls
    for path in (md.CONFIG_USERS_PATH, md.CONFIG_CHANGES_PATH):
        zk.client().ensure_path(path)
    return zk


def _config(zk: FakeZooKeeper, user: str) -> dict[str, str]:
    data = zk.data(f"/config/users/{user}")
    assert data is not None
    znode = json.loads(data)
    assert znode["version"] == 1
    return dict(znode["config"])


def _notices(zk: FakeZooKeeper) -> list[str]:
    return [json.loads(zk.data(f"{md.CONFIG_CHANGES_PATH}/{name}") or b"")["entity_path"]
            for name in sorted(zk.client().get_children(md.CONFIG_CHANGES_PATH))]


def _salted(password: str, hash_name: str = "sha512", iterations: int = 4096) -> bytes:
    return hashlib.pbkdf2_hmac(hash_name, password.encode(), SALT, iterations)


def _upsert(name: str, mechanism: int = SHA_512, iterations: int = 4096, password: str = "secret") -> dict[str, Any]:
    hash_name = "sha512" if mechanism == SHA_512 else "sha256"
    return {"name": name, "mechanism": mechanism, "iterations": iterations, "salt": SALT,
            "salted_password": _salted(password, hash_name, iterations)}


async def _alter(broker: Broker, *, deletions: list[dict[str, Any]] = (),  # type: ignore[assignment]
                 upsertions: list[dict[str, Any]] = ()) -> list[tuple[str, int, str | None]]:  # type: ignore[assignment]
    response = await broker.send(alter_user_scram_credentials, 0,
                                 {"deletions": list(deletions), "upsertions": list(upsertions)})
    assert response is not None
    return [(r["user"], r["error_code"], r["error_message"]) for r in response["results"]]


async def _describe(broker: Broker, users: list[str] | None) -> dict[str, Any]:
    response = await broker.send(describe_user_scram_credentials, 0,
                                 {"users": None if users is None else [{"name": u} for u in users]})
    assert response is not None
    return response


# --- ACLs: no authorizer ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 1, 2, 3])
async def test_acl_apis_say_security_disabled_as_kafka_without_an_authorizer(broker: Broker, version: int) -> None:
    acl_filter = {"resource_type_filter": 1, "resource_name_filter": None, "pattern_type_filter": 1,
                  "principal_filter": None, "host_filter": None, "operation": 1, "permission_type": 1}
    described = await broker.send(describe_acls, version, acl_filter)
    assert described == {"throttle_time_ms": 0, "error_code": ErrorCode.SECURITY_DISABLED,
                         "error_message": "No Authorizer is configured on the broker", "resources": []}

    creation = {"resource_type": 2, "resource_name": "t", "resource_pattern_type": 3, "principal": "User:alice",
                "host": "*", "operation": 3, "permission_type": 3}
    created = await broker.send(create_acls, version, {"creations": [creation, creation]})
    assert created == {"throttle_time_ms": 0, "results": [
        {"error_code": ErrorCode.SECURITY_DISABLED, "error_message": "No Authorizer is configured."}] * 2}

    deleted = await broker.send(delete_acls, version, {"filters": [acl_filter]})
    assert deleted == {"throttle_time_ms": 0, "filter_results": [
        {"error_code": ErrorCode.SECURITY_DISABLED, "error_message": "No Authorizer is configured.",
         "matching_acls": []}]}
    assert await broker.send(create_acls, version, {"creations": []}) == {"throttle_time_ms": 0, "results": []}


# --- SCRAM credentials --------------------------------------------------------------------------------


async def test_upsert_stores_kafkas_format_and_keeps_quotas(broker: Broker, zk: FakeZooKeeper) -> None:
    zk.client().create("/config/users/alice", md.encode_entity_config({"producer_byte_rate": "1024"}))
    assert await _alter(broker, upsertions=[_upsert("alice", iterations=8192, password="alice-secret"),
                                            _upsert("bob", SHA_256)]) == [("alice", 0, None), ("bob", 0, None)]

    config = _config(zk, "alice")
    assert config["producer_byte_rate"] == "1024"  # the quota stays
    fields = dict(kv.split("=", 1) for kv in config["SCRAM-SHA-512"].split(","))
    assert list(fields) == ["salt", "stored_key", "server_key", "iterations"]
    assert base64.b64decode(fields["salt"]) == SALT and fields["iterations"] == "8192"
    salted = _salted("alice-secret", iterations=8192)
    client_key = hmac.new(salted, b"Client Key", "sha512").digest()
    assert base64.b64decode(fields["stored_key"]) == hashlib.sha512(client_key).digest()
    assert base64.b64decode(fields["server_key"]) == hmac.new(salted, b"Server Key", "sha512").digest()
    assert list(_config(zk, "bob")) == ["SCRAM-SHA-256"]
    assert _notices(zk) == ["users/alice", "users/bob"]

    # describe one, all, and one without credentials
    response = await _describe(broker, ["alice", "carol"])
    assert response["error_code"] == 0 and response["error_message"] is None
    assert response["results"] == [
        {"user": "alice", "error_code": 0, "error_message": None,
         "credential_infos": [{"mechanism": SHA_512, "iterations": 8192}]},
        {"user": "carol", "error_code": ErrorCode.RESOURCE_NOT_FOUND,
         "error_message": "Attempt to describe a user credential that does not exist: carol", "credential_infos": []},
    ]
    everyone = await _describe(broker, None)
    assert [(r["user"], r["credential_infos"]) for r in everyone["results"]] == [
        ("alice", [{"mechanism": SHA_512, "iterations": 8192}]), ("bob", [{"mechanism": SHA_256, "iterations": 4096}])]
    assert (await _describe(broker, []))["results"] == everyone["results"]

    # a second mechanism, listed in Kafka's order; then delete one: the other and the quota stay
    assert await _alter(broker, upsertions=[_upsert("alice", SHA_256)]) == [("alice", 0, None)]
    assert (await _describe(broker, ["alice"]))["results"][0]["credential_infos"] == [
        {"mechanism": SHA_256, "iterations": 4096}, {"mechanism": SHA_512, "iterations": 8192}]
    assert await _alter(broker, deletions=[{"name": "alice", "mechanism": SHA_512}]) == [("alice", 0, None)]
    assert sorted(_config(zk, "alice")) == ["SCRAM-SHA-256", "producer_byte_rate"]
    assert await _alter(broker, deletions=[{"name": "alice", "mechanism": SHA_512}]) == [
        ("alice", ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist")]


async def test_users_with_only_quotas_or_odd_names(broker: Broker, zk: FakeZooKeeper) -> None:
    zk.client().create("/config/users/dave", md.encode_entity_config({"consumer_byte_rate": "1"}))
    zk.client().create("/config/users/<default>", md.encode_entity_config({"consumer_byte_rate": "1"}))
    assert await _alter(broker, upsertions=[_upsert("User:e f")]) == [("User:e f", 0, None)]
    assert "SCRAM-SHA-512" in _config(zk, "User%3Ae%20f")  # sanitized as Kafka's Sanitizer does
    everyone = await _describe(broker, None)
    assert [r["user"] for r in everyone["results"]] == ["User:e f"]  # dave has quotas only
    response = await _describe(broker, ["dave"])
    assert response["results"][0]["error_code"] == ErrorCode.RESOURCE_NOT_FOUND


async def test_describe_refuses_empty_and_repeated_names(broker: Broker, zk: FakeZooKeeper) -> None:
    assert await _alter(broker, upsertions=[_upsert("alice")]) == [("alice", 0, None)]
    response = await _describe(broker, ["alice", "", "alice", "bob"])
    assert [(r["user"], r["error_code"], r["error_message"]) for r in response["results"]] == [
        ("alice", ErrorCode.DUPLICATE_RESOURCE,
         "Cannot describe SCRAM credentials for the same user twice in a single request: alice"),
        ("", ErrorCode.RESOURCE_NOT_FOUND, "Username must not be empty"),
        ("bob", ErrorCode.RESOURCE_NOT_FOUND, "Attempt to describe a user credential that does not exist: bob"),
    ]


async def test_describe_reports_a_corrupt_credential(broker: Broker, zk: FakeZooKeeper) -> None:
    zk.client().create("/config/users/eve", md.encode_entity_config({"SCRAM-SHA-256": "garbage"}))
    response = await _describe(broker, ["eve"])
    assert response["results"] == [{"user": "eve", "error_code": ErrorCode.UNKNOWN_SERVER_ERROR,
                                    "error_message": "The server experienced an unexpected error when processing "
                                                     "the request.", "credential_infos": []}]


async def test_alter_validates_as_kafka(broker: Broker, zk: FakeZooKeeper) -> None:
    results = await _alter(broker, deletions=[
        {"name": "", "mechanism": SHA_512},
        {"name": "u-mech", "mechanism": 7},
        {"name": "dup", "mechanism": SHA_256},
        {"name": "gone", "mechanism": SHA_256},
    ], upsertions=[
        _upsert("few", iterations=4095),
        _upsert("many", iterations=16385),
        _upsert("dup", SHA_256),
        _upsert("ok", iterations=16384),
        {**_upsert("u-mech2"), "mechanism": 0},
    ])
    assert results == [
        ("", ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty"),
        ("u-mech", ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"),
        ("few", ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too few iterations"),
        ("many", ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too many iterations"),
        ("u-mech2", ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"),
        ("dup", ErrorCode.DUPLICATE_RESOURCE, "A user credential cannot be altered twice in the same request"),
        ("ok", 0, None),
        ("gone", ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist"),
    ]
    assert sorted(zk.client().get_children(md.CONFIG_USERS_PATH)) == ["ok"]  # nothing else written
    assert _notices(zk) == ["users/ok"]


async def test_a_failed_user_leaves_its_znode_alone(broker: Broker, zk: FakeZooKeeper) -> None:
    """A user's changes apply together or not at all: an upsertion next to a deletion of nothing is not stored."""
    zk.client().create("/config/users/alice", md.encode_entity_config({"producer_byte_rate": "5"}))
    assert await _alter(broker, deletions=[{"name": "alice", "mechanism": SHA_256}],
                        upsertions=[_upsert("alice")]) == [
        ("alice", ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist")]
    assert _config(zk, "alice") == {"producer_byte_rate": "5"}
    assert _notices(zk) == []


async def test_alter_on_a_broker_that_is_not_the_controller(broker: Broker, zk: FakeZooKeeper) -> None:
    broker.services.controller = SimpleNamespace(active=False)  # type: ignore[assignment]
    assert await _alter(broker, deletions=[{"name": "bob", "mechanism": SHA_256}],
                        upsertions=[_upsert("alice"), _upsert("bob")]) == [
        ("alice", ErrorCode.NOT_CONTROLLER, "This is not the correct controller for this cluster."),
        ("bob", ErrorCode.NOT_CONTROLLER, "This is not the correct controller for this cluster.")]
    assert zk.client().get_children(md.CONFIG_USERS_PATH) == []


async def test_a_concurrent_quota_change_is_kept(broker: Broker, zk: FakeZooKeeper) -> None:
    """Another writer changing the znode between the read and the write: the credential goes onto its version."""
    zk.client().create("/config/users/alice", md.encode_entity_config({"producer_byte_rate": "5"}))
    zk.before_next("set", lambda: zk.client().set(
        "/config/users/alice", md.encode_entity_config({"producer_byte_rate": "6"})), path="/config/users/alice")
    assert await _alter(broker, upsertions=[_upsert("alice")]) == [("alice", 0, None)]
    assert sorted(_config(zk, "alice").items())[1] == ("producer_byte_rate", "6")
