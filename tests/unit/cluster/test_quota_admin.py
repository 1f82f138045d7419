"""DescribeClientQuotas' match semantics and AlterClientQuotas' validation and writes, against an in-memory
ZooKeeper holding Kafka's layout."""

from __future__ import annotations

import json

import pytest

from kafka_broker import metadata as md
from kafka_broker.cluster.quota_admin import (
    MATCH_ANY,
    MATCH_DEFAULT,
    MATCH_EXACT,
    QuotaAdmin,
    filter_component,
)
from kafka_broker.protocol import ErrorCode, KafkaError

from .fakes import FakeZooKeeper

SCRAM = "salt=c2FsdA==,stored_key=c3RvcmVk,server_key=c2VydmVy,iterations=4096"


def _put(zk: FakeZooKeeper, path: str, config: dict[str, str]) -> None:
    zk.client().create(path, md.encode_entity_config(config), makepath=True)


@pytest.fixture
def zk() -> FakeZooKeeper:
    zk = FakeZooKeeper()
    for path in (md.CONFIG_USERS_PATH, md.CONFIG_CLIENTS_PATH, md.CONFIG_CHANGES_PATH):
        zk.client().ensure_path(path)
    _put(zk, "/config/users/alice", {"producer_byte_rate": "100"})
    _put(zk, "/config/users/<default>", {"producer_byte_rate": "200"})
    _put(zk, "/config/users/bob", {"SCRAM-SHA-512": SCRAM})  # credentials only: no quota to describe
    _put(zk, "/config/clients/app", {"consumer_byte_rate": "300"})
    _put(zk, "/config/clients/<default>", {"consumer_byte_rate": "400"})
    _put(zk, "/config/users/alice/clients/app", {"request_percentage": "12.5"})
    _put(zk, "/config/users/alice/clients/<default>", {"producer_byte_rate": "500"})
    _put(zk, "/config/users/<default>/clients/app", {"producer_byte_rate": "600"})
    return zk


def _key(entity: dict[str, str | None]) -> tuple[str | None, ...]:
    return tuple(entity.get(t, "-") for t in ("user", "client-id"))


async def _describe(zk: FakeZooKeeper, *components: tuple[str, int, str | None], strict: bool = False) -> set:
    found = await QuotaAdmin(zk.client()).describe([filter_component(*c) for c in components], strict=strict)
    return {_key(entity) for entity, _values in found}


ALL = {("alice", "-"), (None, "-"), ("-", "app"), ("-", None), ("alice", "app"), ("alice", None), (None, "app")}


@pytest.mark.parametrize(("components", "strict", "expected"), [
    ((), False, ALL),
    ((), True, set()),
    ((("user", MATCH_EXACT, "alice"),), False, {("alice", "-"), ("alice", "app"), ("alice", None)}),
    ((("user", MATCH_EXACT, "alice"),), True, {("alice", "-")}),
    ((("user", MATCH_ANY, None),), True, {("alice", "-"), (None, "-")}),
    ((("user", MATCH_ANY, None),), False, {("alice", "-"), (None, "-"), ("alice", "app"), ("alice", None),
                                            (None, "app")}),
    ((("user", MATCH_DEFAULT, None),), False, {(None, "-"), (None, "app")}),
    ((("client-id", MATCH_DEFAULT, None),), False, {("-", None), ("alice", None)}),
    ((("client-id", MATCH_EXACT, "app"),), True, {("-", "app")}),
    ((("user", MATCH_DEFAULT, None), ("client-id", MATCH_EXACT, "app")), True, {(None, "app")}),
    ((("user", MATCH_ANY, None), ("client-id", MATCH_ANY, None)), True, {("alice", "app"), ("alice", None),
                                                                          (None, "app")}),
    ((("user", MATCH_EXACT, "bob"),), False, set()),
    ((("user", MATCH_EXACT, "nobody"), ("client-id", MATCH_EXACT, "app")), False, set()),
    ((("ip", MATCH_ANY, None),), False, set()),
])
async def test_describe_matches_as_kafka_does(zk, components, strict, expected) -> None:
    assert await _describe(zk, *components, strict=strict) == expected


async def test_describe_answers_values_as_numbers(zk) -> None:
    found = await QuotaAdmin(zk.client()).describe([filter_component("user", MATCH_EXACT, "alice"),
                                                    filter_component("client-id", MATCH_EXACT, "app")], strict=True)
    assert found == [({"user": "alice", "client-id": "app"}, {"request_percentage": 12.5})]


@pytest.mark.parametrize(("components", "code", "message"), [
    ((("user", 0, "a"), ("user", 1, None)), ErrorCode.INVALID_REQUEST, "Duplicate user filter component entity type"),
    ((("client-id", 2, None), ("client-id", 2, None)), ErrorCode.INVALID_REQUEST,
     "Duplicate client filter component entity type"),
    ((("", 2, None),), ErrorCode.INVALID_REQUEST, "Unexpected empty filter component entity type"),
    ((("group", 2, None),), ErrorCode.UNSUPPORTED_VERSION, "Custom entity type 'group' not supported"),
    ((("ip", 2, None), ("user", 2, None)), ErrorCode.INVALID_REQUEST,
     "Invalid entity filter component combination, IP filter component should not be used with user or clientId "
     "filter component."),
])
async def test_bad_filters_fail_with_kafkas_errors(zk, components, code, message) -> None:
    with pytest.raises(KafkaError) as failure:
        await QuotaAdmin(zk.client()).describe([filter_component(*c) for c in components], strict=False)
    assert (failure.value.code, failure.value.message) == (code, message)


async def test_alter_keeps_other_keys_and_notifies(zk) -> None:
    admin = QuotaAdmin(zk.client())
    await admin.alter({"user": "bob"}, [("producer_byte_rate", 1024.0), ("request_percentage", 12.5)],
                      validate_only=False)
    assert json.loads(zk.data("/config/users/bob")) == {
        "version": 1, "config": {"SCRAM-SHA-512": SCRAM, "producer_byte_rate": "1024", "request_percentage": "12.5"}}
    notices = sorted(zk.client().get_children(md.CONFIG_CHANGES_PATH))
    assert json.loads(zk.data(f"{md.CONFIG_CHANGES_PATH}/{notices[-1]}")) == {"version": 2, "entity_path": "users/bob"}
    assert notices[-1].startswith("config_change_")

    await admin.alter({"user": "bob"}, [("producer_byte_rate", None), ("never_set", None)], validate_only=False)
    assert json.loads(zk.data("/config/users/bob"))["config"] == {"SCRAM-SHA-512": SCRAM, "request_percentage": "12.5"}


async def test_alter_writes_kafkas_paths(zk) -> None:
    admin = QuotaAdmin(zk.client())
    await admin.alter({"user": None, "client-id": "my app"}, [("consumer_byte_rate", 5.0)], validate_only=False)
    await admin.alter({"client-id": None}, [("producer_byte_rate", 6.0)], validate_only=False)
    assert json.loads(zk.data("/config/users/<default>/clients/my%20app"))["config"] == {"consumer_byte_rate": "5"}
    assert json.loads(zk.data("/config/clients/<default>"))["config"] == {"producer_byte_rate": "6",
                                                                         "consumer_byte_rate": "400"}
    entity_paths = [json.loads(zk.data(f"{md.CONFIG_CHANGES_PATH}/{n}"))["entity_path"]
                    for n in sorted(zk.client().get_children(md.CONFIG_CHANGES_PATH))]
    assert entity_paths == ["users/<default>/clients/my%20app", "clients/<default>"]
    found = await QuotaAdmin(zk.client()).describe([filter_component("client-id", MATCH_EXACT, "my app")], strict=False)
    assert found == [({"user": None, "client-id": "my app"}, {"consumer_byte_rate": 5.0})]


async def test_validate_only_writes_nothing(zk) -> None:
    zk.forget_writes()
    await QuotaAdmin(zk.client()).alter({"client-id": "new"}, [("producer_byte_rate", 1.0)], validate_only=True)
    assert zk.writes == []
    with pytest.raises(KafkaError):
        await QuotaAdmin(zk.client()).alter({"client-id": "new"}, [("bogus", 1.0)], validate_only=True)


@pytest.mark.parametrize(("entity", "ops", "message"), [
    ({"user": "a"}, [("bogus", 1.0)], "Invalid configuration key bogus"),
    ({"user": "a"}, [("producer_byte_rate", 1.5)], "Configuration producer_byte_rate must be a LONG value"),
    ({"client-id": "a"}, [("consumer_byte_rate", float("nan"))],
     "Configuration consumer_byte_rate must be a LONG value"),
    ({}, [("producer_byte_rate", 1.0)], "Invalid empty client quota entity"),
    ({"user": ""}, [("producer_byte_rate", 1.0)], "Empty user not supported"),
    ({"client-id": ""}, [("producer_byte_rate", 1.0)], "Empty client-id not supported"),
    ({"group": "g"}, [("producer_byte_rate", 1.0)], "Unhandled client quota entity type: group"),
    ({"ip": "1.2.3.4", "user": "a"}, [("connection_creation_rate", 1.0)],
     "Invalid quota entity combination, IP entity should not be used with user/client ID entity."),
])
async def test_bad_alterations_fail_with_kafkas_messages(zk, entity, ops, message) -> None:
    zk.forget_writes()
    with pytest.raises(KafkaError) as failure:
        await QuotaAdmin(zk.client()).alter(entity, ops, validate_only=False)
    assert (failure.value.code, failure.value.message) == (ErrorCode.INVALID_REQUEST, message)
    assert zk.writes == []


async def test_a_whole_number_within_epsilon_is_a_long(zk) -> None:
    await QuotaAdmin(zk.client()).alter({"client-id": "x"}, [("producer_byte_rate", 1023.9999999)],
                                        validate_only=False)
    assert json.loads(zk.data("/config/clients/x"))["config"] == {"producer_byte_rate": "1024"}


@pytest.mark.parametrize(("name", "sanitized"), [
    ("alice", "alice"), ("a.b-c_d", "a.b-c_d"), ("a b", "a%20b"), ("x*y", "x%2Ay"), ("é~", "%C3%A9%7E"),
    ("<default>", "%3Cdefault%3E"), ("a+b/c", "a%2Bb%2Fc"), (None, "<default>"),
])
def test_names_are_sanitized_as_kafkas_sanitizer_does(name, sanitized) -> None:
    assert md.sanitize_entity_name(name) == sanitized
    assert md.desanitize_entity_name(sanitized) == name


def test_desanitize_reads_plus_as_space_as_javas_url_decoder() -> None:
    assert md.desanitize_entity_name("a+b") == "a b"
