"""What every API checks with the ACL authorizer (ZooKeeper in memory), as Kafka 3.9's ``KafkaApis``: requests come
from ``User:alice`` at ``127.0.0.1`` (``User:admin`` is the super user) through the handlers and the wire codec.
For each API: denied → Kafka's error code (and fields), allowed → it works, and the filtering of what the
principal may see; then the shared helpers (authorized operations, the host, the denial log)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from cluster.fakes import FakeZooKeeper

from kafka_broker.cluster.acl_authorizer import AclAuthorizer
from kafka_broker.config import AuthorizerSettings
from kafka_broker.coordinator.group import CommittedOffset
from kafka_broker.handlers import (
    alter_client_quotas,
    alter_configs,
    alter_partition_reassignments,
    alter_user_scram_credentials,
    create_partitions,
    create_topics,
    delete_groups,
    delete_records,
    delete_topics,
    describe_client_quotas,
    describe_cluster,
    describe_configs,
    describe_groups,
    describe_log_dirs,
    describe_producers,
    describe_transactions,
    describe_user_scram_credentials,
    elect_leaders,
    fetch,
    find_coordinator,
    heartbeat,
    incremental_alter_configs,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    list_partition_reassignments,
    metadata,
    offset_commit,
    offset_delete,
    offset_fetch,
    offset_for_leader_epoch,
    produce,
    sync_group,
)
from kafka_broker.handlers.authorization import (
    authorize,
    authorized_for_some,
    authorized_operations,
    client_host,
)
from kafka_broker.handlers.context import CloseConnection, RequestContext
from kafka_broker.metadata import topic_id_to_uuid
from kafka_broker.protocol import ApiKey, ErrorCode, RequestHeader
from kafka_broker.protocol.primitives import AUTHORIZED_OPERATIONS_OMITTED, ZERO_UUID
from kafka_broker.security.acl import (
    CLUSTER_NAME,
    IMPLIED_BY,
    AccessControlEntry,
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)
from kafka_broker.security.principal import KafkaPrincipal
from kafka_broker.storage.records import Record, build_batch

from . import test_fetch, test_groups
from .harness import Broker

ALICE = KafkaPrincipal.user("alice")
TOPIC, GROUP, CLUSTER, TXN = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER, ResourceType.TRANSACTIONAL_ID
Op = AclOperation
TOPIC_DENIED, GROUP_DENIED = ErrorCode.TOPIC_AUTHORIZATION_FAILED, ErrorCode.GROUP_AUTHORIZATION_FAILED
CLUSTER_DENIED, TXN_DENIED = ErrorCode.CLUSTER_AUTHORIZATION_FAILED, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED


def bits(*operations: AclOperation) -> int:
    return sum(1 << op for op in operations)


EVERY_TOPIC_OPERATION = bits(Op.READ, Op.WRITE, Op.CREATE, Op.DESCRIBE, Op.DELETE, Op.ALTER, Op.DESCRIBE_CONFIGS,
                             Op.ALTER_CONFIGS)
EVERY_CLUSTER_OPERATION = bits(Op.CREATE, Op.CLUSTER_ACTION, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS,
                               Op.IDEMPOTENT_WRITE, Op.ALTER, Op.DESCRIBE)


@pytest.fixture
async def secured(broker: Broker) -> Broker:
    """Broker 1 with the ACL authorizer; alice has no ACL yet. Topics t (led here) and u (led here)."""
    zk = FakeZooKeeper()
    settings = AuthorizerSettings(class_name="kafka.security.authorizer.AclAuthorizer", super_users="User:admin")
    authorizer = AclAuthorizer(settings, zk.client())
    await asyncio.to_thread(authorizer.start)
    broker.services.authorizer = authorizer
    broker.principal = ALICE
    broker.add_topic("t", {0: [1]})
    broker.add_topic("u", {0: [1]})
    return broker


@pytest.fixture
async def grouped(secured: Broker) -> AsyncIterator[Broker]:
    """``secured`` with a running group coordinator that owns every group."""
    await secured.start_groups()
    yield secured
    await secured.stop_groups()


async def allow(broker: Broker, resource_type: ResourceType, name: str, *operations: AclOperation,
                pattern: PatternType = PatternType.LITERAL, host: str = "*",
                permission: AclPermissionType = AclPermissionType.ALLOW) -> None:
    """Give alice ``operations`` on the resource (or take them, with ``permission`` DENY)."""
    authorizer = broker.services.authorizer
    assert authorizer is not None
    bindings = [AclBinding(ResourcePattern(resource_type, name, pattern),
                           AccessControlEntry(str(ALICE), host, op, permission)) for op in operations]
    assert await authorizer.create_acls(bindings) == [None] * len(bindings)


def context(broker: Broker, *, peer: str = "127.0.0.1:50000", api: ApiKey = ApiKey.METADATA) -> RequestContext:
    return RequestContext(header=RequestHeader(int(api), 0, 1, "test"), services=broker.services, peer=peer,
                          principal=broker.principal)


async def send(broker: Broker, handler: ModuleType, version: int, request: dict[str, Any]) -> dict[str, Any]:
    response = await broker.send(handler, version, request)
    assert response is not None
    return response


def partition_errors(response: dict[str, Any], topics: str = "topics", name: str = "name",
                     partitions: str = "partitions", index: str = "partition_index") -> dict[tuple[str, int], int]:
    return {(t[name], p[index]): p["error_code"] for t in response[topics] for p in t[partitions]}


# --- the shared helpers ---------------------------------------------------------------------------------------

async def test_without_an_authorizer_everything_is_allowed(broker: Broker) -> None:
    ctx = context(broker)
    assert authorize(ctx, Op.ALTER, CLUSTER, CLUSTER_NAME) and authorized_for_some(ctx, Op.WRITE, TOPIC)
    assert authorized_operations(ctx, TOPIC, "t") == EVERY_TOPIC_OPERATION
    assert authorized_operations(ctx, GROUP, "g") == bits(Op.READ, Op.DESCRIBE, Op.DELETE) == 328


async def test_authorized_operations_are_the_supported_ones_allowed(secured: Broker) -> None:
    ctx = context(secured)
    assert authorized_operations(ctx, TOPIC, "t") == 0
    await allow(secured, TOPIC, "t", Op.WRITE)
    assert authorized_operations(ctx, TOPIC, "t") == bits(Op.WRITE, Op.DESCRIBE)  # WRITE implies DESCRIBE
    await allow(secured, TOPIC, "*", Op.ALL)
    assert authorized_operations(ctx, TOPIC, "t") == EVERY_TOPIC_OPERATION
    await allow(secured, CLUSTER, CLUSTER_NAME, Op.ALTER_CONFIGS)
    assert authorized_operations(ctx, CLUSTER, CLUSTER_NAME) == bits(Op.ALTER_CONFIGS, Op.DESCRIBE_CONFIGS)


async def test_acls_name_the_client_address(secured: Broker) -> None:
    assert client_host(context(secured, peer="10.1.2.3:4567")) == "10.1.2.3"
    assert client_host(context(secured, peer="::1:4567")) == "::1"
    await allow(secured, TOPIC, "t", Op.READ, host="10.1.2.3")
    assert not authorize(context(secured), Op.READ, TOPIC, "t")
    assert authorize(context(secured, peer="10.1.2.3:4567"), Op.READ, TOPIC, "t")


async def test_a_denial_is_logged_at_info_a_filter_is_not(grouped: Broker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kafka_broker.handlers.authorization")

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "kafka_broker.handlers.authorization"]

    await send(grouped, produce, 9, produce_request("t", acks=1))
    assert logged() == ["Principal = User:alice is Denied Operation = Write from host = 127.0.0.1 on "
                               "resource = Topic:LITERAL:t for request = PRODUCE"]
    caplog.clear()
    await send(grouped, list_groups, 4, {"states_filter": [], "types_filter": []})
    await send(grouped, metadata, 12, metadata_request(None))
    assert logged() == []


# --- Produce, InitProducerId, Fetch, ListOffsets, OffsetForLeaderEpoch ----------------------------------------

def produce_request(*topics: str, acks: int, transactional_id: str | None = None) -> dict[str, Any]:
    batch = bytearray(build_batch([Record(0, 1_000, b"k", b"v")], base_offset=0))
    return {"transactional_id": transactional_id, "acks": acks, "timeout_ms": 1_000,
            "topic_data": [{"name": t, "partition_data": [{"index": 0, "records": batch}]} for t in topics]}


async def test_produce_needs_write_on_each_topic(secured: Broker) -> None:
    await allow(secured, TOPIC, "t", Op.WRITE)
    response = await send(secured, produce, 9, produce_request("t", "u", "nope", acks=1))
    assert partition_errors(response, "responses", "name", "partition_responses", "index") == {
        ("t", 0): 0, ("u", 0): TOPIC_DENIED, ("nope", 0): TOPIC_DENIED}  # whether it exists or not
    assert secured.partition("t", 0).log.log_end_offset == 1
    assert secured.partition("u", 0).log.log_end_offset == 0
    with pytest.raises(CloseConnection):  # acks=0: a refused partition closes the connection, as any error
        await secured.call(produce, 9, produce_request("u", acks=0))


@pytest.mark.parametrize(("acls", "code"), [
    ([], CLUSTER_DENIED),
    ([(CLUSTER, CLUSTER_NAME, PatternType.LITERAL, Op.IDEMPOTENT_WRITE)], ErrorCode.NONE),
    ([(TOPIC, "x-", PatternType.PREFIXED, Op.WRITE)], ErrorCode.NONE),  # WRITE on some topic will do (KIP-679)
    ([(TOPIC, "t", PatternType.LITERAL, Op.READ)], CLUSTER_DENIED),
])
async def test_init_producer_id_of_an_idempotent_producer(secured: Broker, acls: list[Any], code: ErrorCode) -> None:
    secured.start_producer_ids()
    for resource_type, name, pattern, operation in acls:
        await allow(secured, resource_type, name, operation, pattern=pattern)
    request = {"transactional_id": None, "transaction_timeout_ms": -1, "producer_id": -1, "producer_epoch": -1}
    assert (await send(secured, init_producer_id, 4, request))["error_code"] == code


async def test_init_producer_id_of_a_transactional_id_needs_write_on_it(secured: Broker) -> None:
    await allow(secured, CLUSTER, CLUSTER_NAME, Op.IDEMPOTENT_WRITE)
    request = {"transactional_id": "tx", "transaction_timeout_ms": 60_000, "producer_id": -1, "producer_epoch": -1}
    assert (await send(secured, init_producer_id, 4, request))["error_code"] == TXN_DENIED


@pytest.mark.parametrize("version", [12, 13])
async def test_a_consumer_fetch_needs_read_on_each_topic(secured: Broker, version: int) -> None:
    test_fetch.append(secured, "t", 0, 2)
    test_fetch.append(secured, "u", 0, 2)
    await allow(secured, TOPIC, "t", Op.READ)
    request = test_fetch.request((0, 0))
    request["topics"].append({**request["topics"][0], "topic": "u"})
    for topic in request["topics"]:
        topic["topic_id"] = topic_id_to_uuid(secured.cache.topics[topic["topic"]].topic_id)
    response = await send(secured, fetch, version, request)
    t, u = (topic["partitions"][0] for topic in response["responses"])
    assert (t["error_code"], test_fetch.offsets_of(t["records"])) == (ErrorCode.NONE, [0, 1])
    assert (u["error_code"], u["high_watermark"], test_fetch.offsets_of(u["records"])) == (TOPIC_DENIED, -1, [])


async def test_a_follower_fetch_needs_cluster_action(secured: Broker) -> None:
    secured.add_topic("r", {0: [1, 2]})
    test_fetch.append(secured, "r", 0, 2)
    await allow(secured, TOPIC, "r", Op.ALL)  # topic permissions do not make a follower
    response = await send(secured, fetch, 12, test_fetch.request((0, 0), topic="r", replica_id=2))
    assert partition_errors(response, "responses", "topic", "partitions") == {("r", 0): TOPIC_DENIED}
    assert secured.partition("r", 0).high_watermark == 0  # the refused fetch moved nothing
    await allow(secured, CLUSTER, CLUSTER_NAME, Op.CLUSTER_ACTION)
    response = await send(secured, fetch, 12, test_fetch.request((0, 2), topic="r", replica_id=2))
    assert partition_errors(response, "responses", "topic", "partitions") == {("r", 0): ErrorCode.NONE}
    assert secured.partition("r", 0).high_watermark == 2


@pytest.mark.parametrize("version", [0, 7])
async def test_list_offsets_needs_describe_on_each_topic(secured: Broker, version: int) -> None:
    await allow(secured, TOPIC, "t", Op.READ)  # READ implies DESCRIBE
    request = {"replica_id": -1, "isolation_level": 0, "topics": [
        {"name": name, "partitions": [{"partition_index": 0, "current_leader_epoch": -1, "timestamp": -1,
                                       "max_num_offsets": 1}]} for name in ("t", "u")]}
    response = await send(secured, list_offsets, version, request)
    assert partition_errors(response) == {("t", 0): ErrorCode.NONE, ("u", 0): TOPIC_DENIED}
    assert response["topics"][1]["partitions"][0]["offset"] == -1


async def test_offset_for_leader_epoch_needs_cluster_action_or_describe(secured: Broker) -> None:
    request = {"replica_id": -1, "topics": [
        {"topic": name, "partitions": [{"partition": 0, "current_leader_epoch": -1, "leader_epoch": 0}]}
        for name in ("t", "u")]}

    async def errors() -> dict[tuple[str, int], int]:
        return partition_errors(await send(secured, offset_for_leader_epoch, 4, request), "topics", "topic",
                                "partitions", "partition")

    assert await errors() == {("t", 0): TOPIC_DENIED, ("u", 0): TOPIC_DENIED}
    await allow(secured, TOPIC, "t", Op.DESCRIBE)
    assert await errors() == {("t", 0): ErrorCode.NONE, ("u", 0): TOPIC_DENIED}
    await allow(secured, CLUSTER, CLUSTER_NAME, Op.CLUSTER_ACTION)
    assert await errors() == {("t", 0): ErrorCode.NONE, ("u", 0): ErrorCode.NONE}


# --- Metadata, DescribeCluster ---------------------------------------------------------------------------------

def metadata_request(names: list[str] | None, *, auto: bool = False, topic_ops: bool = False,
                     cluster_ops: bool = False) -> dict[str, Any]:
    return {"topics": None if names is None else [{"name": n, "topic_id": None} for n in names],
            "allow_auto_topic_creation": auto, "include_cluster_authorized_operations": cluster_ops,
            "include_topic_authorized_operations": topic_ops}


def topics_of(response: dict[str, Any]) -> list[tuple[str | None, int, uuid.UUID]]:
    return [(t["name"], t["error_code"], t["topic_id"]) for t in response["topics"]]


async def test_metadata_shows_the_topics_the_principal_may_describe(secured: Broker) -> None:
    await allow(secured, TOPIC, "t", Op.DESCRIBE)
    t_id = topic_id_to_uuid(secured.cache.topics["t"].topic_id)
    u_id = topic_id_to_uuid(secured.cache.topics["u"].topic_id)
    response = await send(secured, metadata, 12, metadata_request(["t", "u", "nope"]))
    assert topics_of(response) == [("t", 0, t_id), ("u", TOPIC_DENIED, ZERO_UUID), ("nope", TOPIC_DENIED, ZERO_UUID)]
    assert topics_of(await send(secured, metadata, 12, metadata_request(None))) == [("t", 0, t_id)]
    assert topics_of(await send(secured, metadata, 0, metadata_request([]))) == [("t", 0, t_id)]
    by_id = {"topics": [{"name": None, "topic_id": u_id}], "allow_auto_topic_creation": False,
             "include_topic_authorized_operations": False}
    assert topics_of(await send(secured, metadata, 12, by_id)) == [(None, TOPIC_DENIED, u_id)]


async def test_auto_creation_needs_create_on_the_cluster_or_the_topic(secured: Broker) -> None:
    await allow(secured, TOPIC, "*", Op.DESCRIBE)
    await allow(secured, TOPIC, "mine-", Op.CREATE, pattern=PatternType.PREFIXED)
    response = await send(secured, metadata, 12, metadata_request(["theirs", "mine-1"], auto=True))
    assert [(n, e) for n, e, _ in topics_of(response)] == [("theirs", TOPIC_DENIED),
                                                         ("mine-1", ErrorCode.LEADER_NOT_AVAILABLE)]
    assert "theirs" not in secured.cache.topics and "mine-1" in secured.cache.topics
    await allow(secured, CLUSTER, CLUSTER_NAME, Op.CREATE)
    response = await send(secured, metadata, 12, metadata_request(["theirs"], auto=True))
    assert topics_of(response)[0][:2] == ("theirs", ErrorCode.LEADER_NOT_AVAILABLE)


@pytest.mark.parametrize("version", [8, 10])
async def test_metadata_authorized_operations_when_asked(secured: Broker, version: int) -> None:
    await allow(secured, TOPIC, "t", Op.READ)
    asked = await send(secured, metadata, version, metadata_request(["t", "u"], topic_ops=True, cluster_ops=True))
    assert [t["topic_authorized_operations"] for t in asked["topics"]] == [bits(Op.READ, Op.DESCRIBE),
                                                                           AUTHORIZED_OPERATIONS_OMITTED]
    assert asked["cluster_authorized_operations"] == 0  # no DESCRIBE on the cluster: none
    await allow(secured, CLUSTER, CLUSTER_NAME, Op.DESCRIBE, Op.CREATE)
    asked = await send(secured, metadata, version, metadata_request(["t"], topic_ops=True, cluster_ops=True))
    assert asked["cluster_authorized_operations"] == bits(Op.DESCRIBE, Op.CREATE)
    not_asked = await send(secured, metadata, version, metadata_request(["t"]))
    assert not_asked["topics"][0]["topic_authorized_operations"] == AUTHORIZED_OPERATIONS_OMITTED
    assert not_asked["cluster_authorized_operations"] == AUTHORIZED_OPERATIONS_OMITTED


async def test_without_an_authorizer_metadata_answers_every_operation_when_asked(broker: Broker) -> None:
    broker.add_topic("t", {0: [1]})
    response = await send(broker, metadata, 10, metadata_request(["t"], topic_ops=True, cluster_ops=True))
    assert response["topics"][0]["topic_authorized_operations"] == EVERY_TOPIC_OPERATION
    assert response["cluster_authorized_operations"] == EVERY_CLUSTER_OPERATION


async def test_describe_cluster_authorized_operations(secured: Broker) -> None:
    async def operations(asked: bool) -> int:
        request = {"include_cluster_authorized_operations": asked, "endpoint_type": 1}
        return int((await send(secured, describe_cluster, 1, request))["cluster_authorized_operations"])

    assert (await operations(False), await operations(True)) == (AUTHORIZED_OPERATIONS_OMITTED, 0)
    await allow(secured, CLUSTER, CLUSTER_NAME, Op.ALTER)
    assert await operations(True) == bits(Op.ALTER, Op.DESCRIBE)


# --- topic administration --------------------------------------------------------------------------------------

def new_topic(name: str) -> dict[str, Any]:
    return {"name": name, "num_partitions": 1, "replication_factor": 1, "assignments": [],
            "configs": [{"name": "retention.ms", "value": "1000"}]}


async def test_create_topics_needs_create_and_describe_configs_for_the_details(secured: Broker) -> None:
    await allow(secured, TOPIC, "a", Op.CREATE)
    await allow(secured, TOPIC, "b", Op.CREATE, Op.DESCRIBE_CONFIGS)
    request = {"topics": [new_topic(n) for n in ("a", "b", "c")], "timeout_ms": 5_000, "validate_only": False}
    a, b, c = (await send(secured, create_topics, 7, request))["topics"]
    assert (a["error_code"], a["num_partitions"], a["configs"], a["topic_id"], a["topic_config_error_code"]) == \
        (ErrorCode.NONE, -1, [], ZERO_UUID, TOPIC_DENIED)
    assert (b["error_code"], b["num_partitions"], b.get("topic_config_error_code", 0)) == (ErrorCode.NONE, 1, 0)
    assert {e["name"]: e["value"] for e in b["configs"]}["retention.ms"] == "1000" and b["topic_id"] != ZERO_UUID
    assert (c["error_code"], c["error_message"], c["topic_config_error_code"]) == \
        (TOPIC_DENIED, "Authorization failed.", TOPIC_DENIED)
    assert {"a", "b"} <= set(secured.cache.topics) and "c" not in secured.cache.topics
    await allow(secured, CLUSTER, CLUSTER_NAME, Op.CREATE)
    request = {"topics": [new_topic("c")], "timeout_ms": 5_000, "validate_only": False}
    assert (await send(secured, create_topics, 7, request))["topics"][0]["error_code"] == ErrorCode.NONE


async def test_delete_topics_needs_delete_and_describe_for_an_id(secured: Broker) -> None:
    u_id = topic_id_to_uuid(secured.cache.topics["u"].topic_id)
    request = {"topics": [{"name": "t", "topic_id": ZERO_UUID}, {"name": None, "topic_id": u_id}], "timeout_ms": 5_000}
    responses = (await send(secured, delete_topics, 6, request))["responses"]
    assert [(r["name"], r["topic_id"], r["error_code"]) for r in responses] == [
        ("t", ZERO_UUID, TOPIC_DENIED), (None, u_id, TOPIC_DENIED)]
    await allow(secured, TOPIC, "u", Op.DELETE)  # DELETE implies DESCRIBE
    responses = (await send(secured, delete_topics, 6, request))["responses"]
    assert [(r["name"], r["error_code"]) for r in responses] == [("t", TOPIC_DENIED), ("u", ErrorCode.NONE)]
    assert set(secured.cache.topics) == {"t"}


async def test_create_partitions_needs_alter(secured: Broker) -> None:
    await allow(secured, TOPIC, "u", Op.ALTER)
    request = {"topics": [{"name": n, "count": 2, "assignments": None} for n in ("t", "u")], "timeout_ms": 5_000,
               "validate_only": False}
    results = (await send(secured, create_partitions, 3, request))["results"]
    assert [(r["name"], r["error_code"], r["error_message"]) for r in results] == [
        ("t", TOPIC_DENIED, "The topic authorization is failed."), ("u", ErrorCode.NONE, None)]


async def test_delete_records_needs_delete(secured: Broker) -> None:
    await allow(secured, TOPIC, "u", Op.DELETE)
    request = {"topics": [{"name": n, "partitions": [{"partition_index": 0, "offset": -1}]} for n in ("t", "u")],
               "timeout_ms": 1_000}
    response = await send(secured, delete_records, 2, request)
    assert partition_errors(response) == {("t", 0): TOPIC_DENIED, ("u", 0): ErrorCode.NONE}


async def test_describe_producers_needs_read(secured: Broker) -> None:
    await allow(secured, TOPIC, "u", Op.READ)
    request = {"topics": [{"name": n, "partition_indexes": [0]} for n in ("t", "u", "bad name")]}
    response = await send(secured, describe_producers, 0, request)
    assert partition_errors(response) == {("t", 0): TOPIC_DENIED, ("u", 0): ErrorCode.NONE,
                                          ("bad name", 0): ErrorCode.INVALID_TOPIC_EXCEPTION}
    assert response["topics"][0]["partitions"][0]["error_message"] == "Topic authorization failed."


# --- configs --------------------------------------------------------------------------------------------------

TOPIC_CONFIG, BROKER_CONFIG = 2, 4


async def test_describe_configs_needs_describe_configs(secured: Broker) -> None:
    await allow(secured, TOPIC, "u", Op.ALTER_CONFIGS)  # implies DESCRIBE_CONFIGS
    request = {"resources": [{"resource_type": rtype, "resource_name": name, "configuration_keys": None}
                             for rtype, name in ((TOPIC_CONFIG, "t"), (TOPIC_CONFIG, "u"), (BROKER_CONFIG, "1"))],
               "include_synonyms": False, "include_documentation": False}
    results = (await send(secured, describe_configs, 4, request))["results"]
    assert [(r["error_code"], r["error_message"], bool(r["configs"])) for r in results] == [
        (TOPIC_DENIED, "Topic authorization failed.", False), (ErrorCode.NONE, None, True),
        (CLUSTER_DENIED, "Cluster authorization failed.", False)]


@pytest.mark.parametrize("handler", [alter_configs, incremental_alter_configs])
async def test_altering_configs_needs_alter_configs(secured: Broker, handler: ModuleType) -> None:
    await allow(secured, TOPIC, "u", Op.ALTER_CONFIGS)
    request = {"resources": [{"resource_type": rtype, "resource_name": name, "configs": [
        {"name": "retention.ms", "value": "1000", "config_operation": 0}]}
        for rtype, name in ((TOPIC_CONFIG, "t"), (TOPIC_CONFIG, "u"), (BROKER_CONFIG, ""))], "validate_only": False}
    responses = (await send(secured, handler, 1, request))["responses"]
    assert [(r["resource_name"], r["error_code"], r["error_message"]) for r in responses] == [
        ("t", TOPIC_DENIED, None), ("u", ErrorCode.NONE, None), ("", CLUSTER_DENIED, None)]
    assert secured.cache.topics["u"].config == {"retention.ms": "1000"} and secured.cache.topics["t"].config == {}


# --- the cluster's permissions -----------------------------------------------------------------------------------

QUOTA_ENTITY = [{"entity_type": "user", "entity_name": "bob"}]
CLUSTER_APIS = [
    # handler, version, request, the operation it needs, what the refusal answers
    (describe_log_dirs, 4, {"topics": None}, Op.DESCRIBE,
     lambda r: (r["error_code"], r["results"]) == (CLUSTER_DENIED, [])),
    (list_partition_reassignments, 0, {"timeout_ms": 1_000, "topics": [{"name": "t", "partition_indexes": [0]}]},
     Op.DESCRIBE, lambda r: (r["error_code"], [p for t in r["topics"] for p in t["partitions"]]) == (
         CLUSTER_DENIED, [{"partition_index": 0, "replicas": [], "adding_replicas": [], "removing_replicas": []}])),
    (alter_partition_reassignments, 0, {"timeout_ms": 1_000, "topics": [
        {"name": "t", "partitions": [{"partition_index": 0, "replicas": [1, 2]}]}]}, Op.ALTER,
     lambda r: (r["error_code"], partition_errors(r, "responses")) == (CLUSTER_DENIED, {("t", 0): CLUSTER_DENIED})),
    (elect_leaders, 2, {"election_type": 0, "topic_partitions": [{"topic": "t", "partitions": [0]}],
                        "timeout_ms": 1_000}, Op.ALTER,
     lambda r: (r["error_code"], partition_errors(r, "replica_election_results", "topic", "partition_result",
                                                  "partition_id")) == (CLUSTER_DENIED, {("t", 0): CLUSTER_DENIED})),
    (describe_client_quotas, 1, {"components": [], "strict": False}, Op.DESCRIBE_CONFIGS,
     lambda r: (r["error_code"], r["entries"]) == (CLUSTER_DENIED, None)),
    (alter_client_quotas, 1, {"entries": [{"entity": QUOTA_ENTITY, "ops": [
        {"key": "producer_byte_rate", "value": 1024.0, "remove": False}]}], "validate_only": False}, Op.ALTER_CONFIGS,
     lambda r: [(e["error_code"], e["error_message"], e["entity"]) for e in r["entries"]] == [
         (CLUSTER_DENIED, "Cluster authorization failed.", QUOTA_ENTITY)]),
    (describe_user_scram_credentials, 0, {"users": [{"name": "bob"}]}, Op.DESCRIBE,
     lambda r: (r["error_code"], [(x["user"], x["error_code"]) for x in r["results"]]) == (
         CLUSTER_DENIED, [("", CLUSTER_DENIED)])),
    (alter_user_scram_credentials, 0, {"deletions": [{"name": "bob", "mechanism": 2}], "upsertions": []}, Op.ALTER,
     lambda r: [(x["user"], x["error_code"]) for x in r["results"]] == [("bob", CLUSTER_DENIED)]),
]


@pytest.mark.parametrize(("handler", "version", "request_", "operation", "refused"), CLUSTER_APIS,
                         ids=[api[0].__name__.rsplit(".", 1)[-1] for api in CLUSTER_APIS])
async def test_apis_that_need_a_cluster_permission(secured: Broker, handler: ModuleType, version: int,
                                                   request_: dict[str, Any], operation: AclOperation,
                                                   refused: Any) -> None:
    zk = FakeZooKeeper()
    secured.store.zk = zk.client()  # type: ignore[attr-defined]  # quotas and credentials are read from ZooKeeper
    for path in ("/config/users", "/config/changes"):
        zk.client().ensure_path(path)
    secured.services.controller = SimpleNamespace(active=True)  # type: ignore[assignment]
    implying = IMPLIED_BY.get(operation, {operation})  # every other operation on the cluster, and still refused
    await allow(secured, CLUSTER, CLUSTER_NAME, *(op for op in Op if op not in (Op.UNKNOWN, Op.ANY, Op.ALL, *implying)))
    response = await send(secured, handler, version, request_)
    assert refused(response), response
    await allow(secured, CLUSTER, CLUSTER_NAME, operation)
    secured.services.controller = None  # allowed: elections and reassignments go on to the (absent) controller
    if handler is alter_user_scram_credentials:
        secured.services.controller = SimpleNamespace(active=True)  # type: ignore[assignment]
    assert not refused(await send(secured, handler, version, request_))


# --- transactions ------------------------------------------------------------------------------------------------

async def test_describe_transactions_needs_describe_on_the_transactional_id(secured: Broker) -> None:
    await allow(secured, TXN, "mine", Op.DESCRIBE)
    states = (await send(secured, describe_transactions, 0, {"transactional_ids": ["mine", "theirs"]}))
    assert [(s["transactional_id"], s["error_code"]) for s in states["transaction_states"]] == [
        ("mine", ErrorCode.TRANSACTIONAL_ID_NOT_FOUND), ("theirs", TXN_DENIED)]


# --- groups ------------------------------------------------------------------------------------------------------

async def test_find_coordinator_needs_describe_on_the_key(grouped: Broker) -> None:
    await allow(grouped, GROUP, "g", Op.READ)
    request = {"key_type": 0, "coordinator_keys": ["g", "h"]}
    answer = (await send(grouped, find_coordinator, 4, request))["coordinators"]
    assert [(c["key"], c["error_code"], c["node_id"]) for c in answer] == [("g", 0, 1), ("h", GROUP_DENIED, -1)]
    answer = (await send(grouped, find_coordinator, 4, {"key_type": 1, "coordinator_keys": ["tx"]}))["coordinators"]
    assert answer[0]["error_code"] == TXN_DENIED
    assert (await send(grouped, find_coordinator, 3, {"key_type": 0, "key": "h"}))["error_code"] == GROUP_DENIED


async def test_the_membership_apis_need_read_on_the_group(grouped: Broker) -> None:
    assert (await send(grouped, join_group, 9, test_groups.join()))["error_code"] == GROUP_DENIED
    for handler, version, request in ((sync_group, 5, test_groups.sync("m", 1)),
                                      (heartbeat, 4, test_groups.beat("m", 1)),
                                      (leave_group, 5, test_groups.leave(("m", None)))):
        response = await send(grouped, handler, version, request)
        assert response["error_code"] == GROUP_DENIED, handler
    await allow(grouped, GROUP, "g", Op.READ)
    joined = await send(grouped, join_group, 9, test_groups.join())  # MEMBER_ID_REQUIRED, then in
    joined = await send(grouped, join_group, 9, test_groups.join(joined["member_id"]))
    assert joined["error_code"] == ErrorCode.NONE
    member, generation = joined["member_id"], joined["generation_id"]
    synced = await send(grouped, sync_group, 5, test_groups.sync(member, generation, {member: b"a"}))
    assert (synced["error_code"], synced["assignment"]) == (ErrorCode.NONE, b"a")
    assert (await send(grouped, heartbeat, 4, test_groups.beat(member, generation)))["error_code"] == 0
    assert (await send(grouped, leave_group, 5, test_groups.leave((member, None))))["error_code"] == 0


async def test_offset_commit_needs_read_on_the_group_and_on_each_topic(grouped: Broker) -> None:
    request = test_groups.commit({("t", 0): (5, -1, None), ("u", 0): (7, -1, None)})
    assert test_groups.commit_errors(await send(grouped, offset_commit, 8, request)) == {
        ("t", 0): GROUP_DENIED, ("u", 0): GROUP_DENIED}
    await allow(grouped, GROUP, "g", Op.READ)
    await allow(grouped, TOPIC, "t", Op.READ)
    assert test_groups.commit_errors(await send(grouped, offset_commit, 8, request)) == {
        ("t", 0): ErrorCode.NONE, ("u", 0): TOPIC_DENIED}
    assert grouped.services.groups is not None
    assert set(grouped.services.groups.fetch_offsets("g", None)) == {("t", 0)}


@pytest.mark.parametrize("version", [1, 7, 8])
async def test_offset_fetch_needs_describe_on_the_group_and_shows_the_topics_described(grouped: Broker,
                                                                                      version: int) -> None:
    await allow(grouped, GROUP, "g", Op.READ)
    await allow(grouped, TOPIC, "*", Op.READ)
    await send(grouped, offset_commit, 8, test_groups.commit({("t", 0): (5, -1, None), ("u", 0): (7, -1, None)}))
    await allow(grouped, TOPIC, "u", Op.DESCRIBE, permission=AclPermissionType.DENY)
    await send(grouped, offset_fetch, version, test_groups.fetch(("g", {"t": [0], "u": [0]})))
    error, partitions = test_groups.fetched(grouped.last_decoded, version).popitem()[1]
    assert (error, {tp: (p[0], p[3]) for tp, p in partitions.items()}) == (
        ErrorCode.NONE, {("t", 0): (5, 0), ("u", 0): (-1, TOPIC_DENIED)})
    if version >= 2:
        await send(grouped, offset_fetch, version, test_groups.fetch(("g", None)))
        _, partitions = test_groups.fetched(grouped.last_decoded, version).popitem()[1]
        assert set(partitions) == {("t", 0)}  # every committed partition: u's is left out
    await send(grouped, offset_fetch, version, test_groups.fetch(("other", {"t": [0]})))
    error, partitions = test_groups.fetched(grouped.last_decoded, version).popitem()[1]
    assert (error if version >= 2 else GROUP_DENIED, partitions) == (GROUP_DENIED, {})  # v1: no error field


async def test_list_groups_shows_the_groups_described_unless_the_cluster_is(grouped: Broker) -> None:
    coordinator = grouped.services.groups
    assert coordinator is not None
    for group in ("g", "h"):
        await coordinator.commit_offsets(group_id=group, generation_id=-1, member_id="", group_instance_id=None,
                                         offsets={("t", 0): CommittedOffset(1, -1, "")})
    await allow(grouped, GROUP, "h", Op.DESCRIBE)
    request = {"states_filter": [], "types_filter": []}

    async def listed() -> list[str]:
        return sorted(g["group_id"] for g in (await send(grouped, list_groups, 5, request))["groups"])

    assert await listed() == ["h"]
    await allow(grouped, CLUSTER, CLUSTER_NAME, Op.DESCRIBE)
    assert await listed() == ["g", "h"]


async def test_describe_groups_needs_describe_and_answers_the_operations(grouped: Broker) -> None:
    await allow(grouped, GROUP, "g", Op.DELETE)
    request = {"groups": ["g", "h"], "include_authorized_operations": True}
    g, h = (await send(grouped, describe_groups, 5, request))["groups"]
    assert (g["error_code"], g["authorized_operations"]) == (ErrorCode.NONE, bits(Op.DELETE, Op.DESCRIBE))
    assert (h["group_id"], h["error_code"], h["group_state"], h["authorized_operations"]) == (
        "h", GROUP_DENIED, "", AUTHORIZED_OPERATIONS_OMITTED)


async def test_delete_groups_needs_delete(grouped: Broker) -> None:
    await allow(grouped, GROUP, "g", Op.DELETE)
    results = (await send(grouped, delete_groups, 2, {"groups_names": ["g", "h"]}))["results"]
    assert [(r["group_id"], r["error_code"]) for r in results] == [
        ("g", ErrorCode.GROUP_ID_NOT_FOUND), ("h", GROUP_DENIED)]


async def test_offset_delete_needs_delete_on_the_group_and_read_on_each_topic(grouped: Broker) -> None:
    request = test_groups.delete_offsets("g", ("t", 0), ("u", 0))
    refused = await send(grouped, offset_delete, 0, request)
    assert (refused["error_code"], refused["topics"]) == (GROUP_DENIED, [])
    await allow(grouped, GROUP, "g", Op.DELETE, Op.READ)
    await allow(grouped, TOPIC, "t", Op.READ)
    await send(grouped, offset_commit, 8, test_groups.commit({("t", 0): (5, -1, None)}))
    response = await send(grouped, offset_delete, 0, request)
    assert (response["error_code"], partition_errors(response)) == (
        ErrorCode.NONE, {("t", 0): ErrorCode.NONE, ("u", 0): TOPIC_DENIED})
