"""DescribeAcls, CreateAcls and DeleteAcls with the ACL authorizer (ZooKeeper in memory), through their handlers
and the wire codec at every version: Kafka's per-creation and per-filter results and messages, the requests
Kafka refuses while parsing (the connection is closed), and the cluster permission the APIs need."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from cluster.fakes import FakeZooKeeper

from kafka_broker.cluster.acl_authorizer import AclAuthorizer
from kafka_broker.config import AuthorizerSettings
from kafka_broker.handlers import create_acls, delete_acls, describe_acls
from kafka_broker.handlers.context import CloseConnection
from kafka_broker.protocol import ErrorCode
from kafka_broker.security.acl import (
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)
from kafka_broker.security.principal import KafkaPrincipal

from .harness import Broker

TOPIC, GROUP, CLUSTER, ANY_TYPE = 2, 3, 4, 1
ANY, MATCH, LITERAL, PREFIXED = 1, 2, 3, 4
READ, WRITE, DESCRIBE, ANY_OP = 3, 4, 8, 1
DENY, ALLOW = 2, 3
INVALID_REQUEST, UNKNOWN_SERVER_ERROR = ErrorCode.INVALID_REQUEST, ErrorCode.UNKNOWN_SERVER_ERROR


async def _start(broker: Broker, **settings: Any) -> tuple[AclAuthorizer, FakeZooKeeper]:
    zk = FakeZooKeeper()
    authorizer = AclAuthorizer(AuthorizerSettings(class_name="kafka.security.authorizer.AclAuthorizer", **settings),
                               zk.client())
    await asyncio.to_thread(authorizer.start)
    broker.services.authorizer = authorizer
    return authorizer, zk


@pytest.fixture
async def authorizer(broker: Broker) -> AclAuthorizer:
    """The ACL authorizer, the request's principal (User:ANONYMOUS) a super user."""
    return (await _start(broker, super_users="User:ANONYMOUS"))[0]


def creation(name: str, *, resource_type: int = TOPIC, pattern: int = LITERAL, principal: str = "User:alice",
             host: str = "*", operation: int = READ, permission: int = ALLOW) -> dict[str, Any]:
    return {"resource_type": resource_type, "resource_name": name, "resource_pattern_type": pattern,
            "principal": principal, "host": host, "operation": operation, "permission_type": permission}


def acl_filter(name: str | None = None, *, resource_type: int = ANY_TYPE, pattern: int = ANY,
               principal: str | None = None, host: str | None = None, operation: int = ANY_OP,
               permission: int = ANY) -> dict[str, Any]:
    return {"resource_type_filter": resource_type, "resource_name_filter": name, "pattern_type_filter": pattern,
            "principal_filter": principal, "host_filter": host, "operation": operation, "permission_type": permission}


async def _create(broker: Broker, version: int, *creations: dict[str, Any]) -> list[tuple[int, str | None]]:
    response = await broker.send(create_acls, version, {"creations": list(creations)})
    assert response is not None
    return [(r["error_code"], r["error_message"]) for r in response["results"]]


async def _describe(broker: Broker, version: int, request: dict[str, Any]) -> dict[str, Any]:
    response = await broker.send(describe_acls, version, request)
    assert response is not None
    return response


@pytest.mark.parametrize("version", [0, 1, 2, 3])
async def test_create_describe_delete(broker: Broker, authorizer: AclAuthorizer, version: int) -> None:
    assert await _create(broker, version, creation("t1"), creation("t1", operation=WRITE, host="10.0.0.1"),
                         creation("g1", resource_type=GROUP, principal="User:bob", permission=DENY)) == [(0, None)] * 3
    if version >= 1:
        assert await _create(broker, version, creation("t-", pattern=PREFIXED)) == [(0, None)]
    literal = 3 if version == 0 else ANY  # a v0 filter is literal: ANY is read as LITERAL
    described = await _describe(broker, version, acl_filter(pattern=literal))
    assert (described["error_code"], described["error_message"]) == (0, None)
    resources = [(r["resource_type"], r["resource_name"], r["pattern_type"],
                  [(a["principal"], a["host"], a["operation"], a["permission_type"]) for a in r["acls"]])
                 for r in described["resources"]]
    expected = [(TOPIC, "t1", LITERAL, [("User:alice", "*", READ, ALLOW), ("User:alice", "10.0.0.1", WRITE, ALLOW)]),
                *([(TOPIC, "t-", PREFIXED, [("User:alice", "*", READ, ALLOW)])] if version >= 1 else []),
                (GROUP, "g1", LITERAL, [("User:bob", "*", READ, DENY)])]
    assert resources == expected
    assert authorizer.authorize(KafkaPrincipal.user("alice"), "10.0.0.1", AclOperation.WRITE, ResourceType.TOPIC, "t1")

    if version >= 1:  # MATCH: what applies to topic t-1 (the prefixed pattern; not the literal t1)
        matched = await _describe(broker, version, acl_filter("t-1", resource_type=TOPIC, pattern=MATCH))
        assert [r["resource_name"] for r in matched["resources"]] == ["t-"]

    response = await broker.send(delete_acls, version, {"filters": [
        acl_filter("t1", resource_type=TOPIC, pattern=LITERAL, operation=READ),
        acl_filter(resource_type=TOPIC, pattern=literal), acl_filter("nothing", pattern=literal)]})
    assert response is not None
    results = [[(m["error_code"], m["resource_name"], m["operation"]) for m in r["matching_acls"]]
               for r in response["filter_results"]]
    # t1 READ goes to the first filter that matched it; the second gets the rest of the topics' ACLs
    assert results == [[(0, "t1", READ)], [(0, "t1", WRITE), *([(0, "t-", READ)] if version >= 1 else [])], []]
    assert all(r["error_code"] == 0 and r["error_message"] is None for r in response["filter_results"])
    left = await _describe(broker, version, acl_filter(pattern=literal))
    assert [r["resource_name"] for r in left["resources"]] == ["g1"]


async def test_per_creation_errors_are_kafkas(broker: Broker, authorizer: AclAuthorizer) -> None:
    assert await _create(
        broker, 1,
        creation("my-cluster", resource_type=CLUSTER), creation("kafka-cluster", resource_type=CLUSTER),
        creation(""), creation("a/b"), creation("t", resource_type=99), creation("t", operation=77),
        creation("bad", principal="alice"), creation("bad", principal="User:carol"), creation("good"),
    ) == [
        (INVALID_REQUEST, "The only valid name for the CLUSTER resource is kafka-cluster"), (0, None),
        (INVALID_REQUEST, "Invalid empty resource name"), (INVALID_REQUEST, "Failed to create ACL"),
        (INVALID_REQUEST, "Failed to create ACL"), (INVALID_REQUEST, "Failed to create ACL"),
        # a principal without a type fails every creation of its resource in the request, as Kafka's write does
        (UNKNOWN_SERVER_ERROR, None), (UNKNOWN_SERVER_ERROR, None), (0, None)]
    described = await _describe(broker, 1, acl_filter())
    assert sorted(r["resource_name"] for r in described["resources"]) == ["good", "kafka-cluster"]


@pytest.mark.parametrize("bad", [{"resource_type": ANY_TYPE}, {"resource_pattern_type": MATCH},
                                 {"resource_pattern_type": ANY}, {"operation": ANY_OP}, {"permission_type": ANY}])
async def test_any_or_match_in_a_creation_fails_the_whole_request(broker: Broker, authorizer: AclAuthorizer,
                                                                  bad: dict[str, int]) -> None:
    assert await _create(broker, 1, creation("fine"), {**creation("t"), **bad}) == [(UNKNOWN_SERVER_ERROR, None)] * 2
    assert authorizer.acls(AclBindingFilter.ANY) == []


@pytest.mark.parametrize(("handler", "version", "request_body"), [
    (create_acls, 0, {"creations": [creation("t", pattern=PREFIXED)]}),
    (create_acls, 1, {"creations": [creation("t", operation=0)]}),
    (create_acls, 1, {"creations": [creation("t", resource_type=0)]}),
    (describe_acls, 0, acl_filter(pattern=MATCH)),
    (describe_acls, 1, acl_filter(permission=0)),
    (delete_acls, 0, {"filters": [acl_filter(pattern=PREFIXED)]}),
    (delete_acls, 2, {"filters": [acl_filter(), acl_filter(pattern=0)]}),
])
async def test_requests_kafka_cannot_parse_close_the_connection(broker: Broker, handler: Any, version: int,
                                                               request_body: dict[str, Any]) -> None:
    for _ in range(2):  # with an authorizer and without one
        with pytest.raises(CloseConnection):
            await broker.call(handler, version, request_body)
        await _start(broker, super_users="User:ANONYMOUS")


async def test_the_apis_need_cluster_permissions(broker: Broker) -> None:
    """User:ANONYMOUS, no super user: DescribeAcls needs DESCRIBE on the cluster, the others ALTER."""
    authorizer, _ = await _start(broker)
    described = await _describe(broker, 1, acl_filter())
    assert (described["error_code"], described["error_message"], described["resources"]) == \
        (ErrorCode.CLUSTER_AUTHORIZATION_FAILED, None, [])
    denied = (ErrorCode.CLUSTER_AUTHORIZATION_FAILED, None)
    assert await _create(broker, 1, creation("t"), creation("u")) == [denied] * 2
    deleted = await broker.send(delete_acls, 1, {"filters": [acl_filter()]})
    assert deleted is not None and [r["error_code"] for r in deleted["filter_results"]] == [
        ErrorCode.CLUSTER_AUTHORIZATION_FAILED]

    cluster = ResourcePattern(ResourceType.CLUSTER, "kafka-cluster", PatternType.LITERAL)
    assert await authorizer.create_acls([AclBinding(cluster, AccessControlEntry(
        "User:ANONYMOUS", "127.0.0.1", AclOperation.DESCRIBE, AclPermissionType.ALLOW))]) == [None]
    described = await _describe(broker, 1, acl_filter())
    assert described["error_code"] == 0 and [r["resource_name"] for r in described["resources"]] == ["kafka-cluster"]
    assert await _create(broker, 1, creation("t")) == [(ErrorCode.CLUSTER_AUTHORIZATION_FAILED, None)]

    # with allow.everyone.if.no.acl.found a cluster without ACLs is open (once it has one, it is not)
    await _start(broker, allow_everyone_if_no_acl_found=True)
    assert await _create(broker, 1, creation("t")) == [(0, None)]


async def test_znodes_are_kafkas(broker: Broker) -> None:
    _, zk = await _start(broker, super_users="User:ANONYMOUS")
    assert await _create(broker, 1, creation("pre-", pattern=PREFIXED, principal="User:bob", permission=DENY)) == \
        [(0, None)]
    data = zk.data("/kafka-acl-extended/prefixed/Topic/pre-")
    assert data is not None and json.loads(data) == {
        "acls": [{"principal": "User:bob", "permissionType": "Deny", "host": "*", "operation": "Read"}], "version": 1}
