"""The ACL authorizer on a real ZooKeeper: two authorizers stand for two brokers of one cluster (one chroot).

Kafka's layout round trip (the bytes Kafka 3.9.2 writes, ACLs written by Kafka read back), changes on one
broker reaching the other through the change notices, concurrent changes of one resource from both (the
conditional writes retry), Kafka's deletion semantics (first matching filter, patterns named by a filter read
from ZooKeeper), and the purge of notices older than 15 minutes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import pytest
from kazoo.client import KazooClient
from tests.waiting import wait_for

from kafka_broker import metadata as md
from kafka_broker.cluster.acl_authorizer import CHANGE_EXPIRATION_MS, AclAuthorizer
from kafka_broker.config import AuthorizerSettings
from kafka_broker.security.acl import (
    AccessControlEntry,
    AccessControlEntryFilter,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)
from kafka_broker.security.principal import KafkaPrincipal

TOPIC, GROUP, CLUSTER = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER
LITERAL, PREFIXED = PatternType.LITERAL, PatternType.PREFIXED
READ, WRITE, DESCRIBE = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
ALICE, BOB = KafkaPrincipal.user("alice"), KafkaPrincipal.user("bob")
SETTINGS = AuthorizerSettings(class_name="kafka.security.authorizer.AclAuthorizer", super_users="User:admin")


def binding(resource_type: ResourceType, name: str, pattern_type: PatternType, principal: str,
            operation: AclOperation, permission: AclPermissionType = ALLOW, host: str = "*") -> AclBinding:
    return AclBinding(ResourcePattern(resource_type, name, pattern_type),
                      AccessControlEntry(principal, host, operation, permission))


def for_pattern(pattern: ResourcePattern) -> AclBindingFilter:
    return AclBindingFilter(ResourcePatternFilter(pattern.resource_type, pattern.name, pattern.pattern_type),
                            AccessControlEntryFilter.ANY)


@dataclass
class Cluster:
    """Kazoo sessions on one chroot; :meth:`broker` starts an authorizer on a session of its own."""

    connect: str
    sessions: list[KazooClient]
    authorizers: list[AclAuthorizer]

    def session(self) -> KazooClient:
        client = KazooClient(hosts=self.connect)
        client.start(timeout=30)
        self.sessions.append(client)
        return client

    async def broker(self, now_ms: Callable[[], float] | None = None) -> AclAuthorizer:
        authorizer = AclAuthorizer(SETTINGS, self.session(), **({"now_ms": now_ms} if now_ms else {}))
        await asyncio.to_thread(authorizer.start)
        self.authorizers.append(authorizer)
        return authorizer


@pytest.fixture
def cluster(zookeeper_chroot: str) -> Iterator[Cluster]:
    cluster = Cluster(zookeeper_chroot, [], [])
    yield cluster
    for authorizer in cluster.authorizers:
        authorizer.stop()
    for client in cluster.sessions:
        client.stop()
        client.close()


@pytest.fixture
async def two(cluster: Cluster) -> AsyncIterator[tuple[AclAuthorizer, AclAuthorizer]]:
    yield await cluster.broker(), await cluster.broker()


async def test_layout_is_kafkas(cluster: Cluster, two: tuple[AclAuthorizer, AclAuthorizer]) -> None:
    one, _ = two
    zk = cluster.session()
    assert all(zk.exists(path) for path in md.acl_paths())  # created at start, as Kafka's createAclPaths
    errors = await one.create_acls([
        binding(TOPIC, "t1", LITERAL, "User:alice", WRITE), binding(TOPIC, "t1", LITERAL, "User:alice", READ),
        binding(TOPIC, "pre-", PREFIXED, "User:bob", READ, DENY),
        binding(CLUSTER, "kafka-cluster", LITERAL, "User:carol", AclOperation.IDEMPOTENT_WRITE),
        binding(ResourceType.TRANSACTIONAL_ID, "tx", LITERAL, "User:carol", DESCRIBE, host="10.0.0.1")])
    assert errors == [None] * 5

    def znode(path: str) -> bytes:
        data: bytes = zk.get(path)[0]
        return data

    assert znode("/kafka-acl/Topic/t1") == (
        b'{"acls":[{"principal":"User:alice","permissionType":"Allow","host":"*","operation":"Read"},'
        b'{"principal":"User:alice","permissionType":"Allow","host":"*","operation":"Write"}],"version":1}')
    assert znode("/kafka-acl-extended/prefixed/Topic/pre-") == (
        b'{"acls":[{"principal":"User:bob","permissionType":"Deny","host":"*","operation":"Read"}],"version":1}')
    assert json.loads(znode("/kafka-acl/Cluster/kafka-cluster"))["acls"] == [
        {"principal": "User:carol", "permissionType": "Allow", "host": "*", "operation": "IdempotentWrite"}]
    assert json.loads(znode("/kafka-acl/TransactionalId/tx"))["acls"][0]["host"] == "10.0.0.1"
    literal = [znode(f"{md.ACL_CHANGES_PATH}/{n}") for n in sorted(zk.get_children(md.ACL_CHANGES_PATH))]
    assert literal == [b"TOPIC:t1", b"CLUSTER:kafka-cluster", b"TRANSACTIONAL_ID:tx"]
    extended = [znode(f"{md.EXTENDED_ACL_CHANGES_PATH}/{n}")
                for n in sorted(zk.get_children(md.EXTENDED_ACL_CHANGES_PATH))]
    assert extended == [b'{"version":1,"resourceType":"TOPIC","name":"pre-","patternType":"PREFIXED"}']

    # adding what is there rewrites the znode (as Kafka does) but announces nothing
    assert await one.create_acls([binding(TOPIC, "t1", LITERAL, "User:alice", READ)]) == [None]
    assert zk.exists("/kafka-acl/Topic/t1").version == 1 and len(zk.get_children(md.ACL_CHANGES_PATH)) == 3


async def test_acls_written_by_kafka_are_read_at_start(cluster: Cluster) -> None:
    zk = cluster.session()
    # as Kafka wrote them: its key order, its set order; a resource type kopfka does not know is skipped
    zk.create("/kafka-acl/Topic/orders", b'{"acls":[{"principal":"User:alice","permissionType":"Allow","host":"*",'
              b'"operation":"Write"},{"principal":"User:*","permissionType":"Allow","host":"*","operation":"Read"}],'
              b'"version":1}', makepath=True)
    zk.create("/kafka-acl-extended/prefixed/Group/app-", b'{"acls":[{"principal":"User:bob","permissionType":"Deny",'
              b'"host":"10.0.0.9","operation":"All"}],"version":1}', makepath=True)
    zk.create("/kafka-acl/Gadget/x", b'{"acls":[],"version":1}', makepath=True)
    authorizer = await cluster.broker()
    assert sorted(map(str, authorizer.acls(AclBindingFilter.ANY))) == [
        "(pattern=ResourcePattern(resourceType=GROUP, name=app-, patternType=PREFIXED), entry=(principal=User:bob, "
        "host=10.0.0.9, operation=ALL, permissionType=DENY))",
        "(pattern=ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL), entry=(principal=User:*, "
        "host=*, operation=READ, permissionType=ALLOW))",
        "(pattern=ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL), entry=(principal=User:alice, "
        "host=*, operation=WRITE, permissionType=ALLOW))"]
    assert authorizer.authorize(BOB, "10.0.0.1", READ, TOPIC, "orders")
    assert not authorizer.authorize(BOB, "10.0.0.1", READ, GROUP, "app-1")  # an ACL applies, none allows
    assert not authorizer.authorize(BOB, "10.0.0.1", WRITE, TOPIC, "orders")
    assert authorizer.authorize(KafkaPrincipal.user("admin"), "10.0.0.9", WRITE, GROUP, "app-1")  # super user


async def test_a_change_on_one_broker_applies_on_the_other(two: tuple[AclAuthorizer, AclAuthorizer]) -> None:
    one, other = two
    assert not other.authorize(ALICE, "10.0.0.1", READ, TOPIC, "orders-eu")
    assert await one.create_acls([binding(TOPIC, "orders-", PREFIXED, "User:alice", READ)]) == [None]
    wait_for(lambda: other.authorize(ALICE, "10.0.0.1", READ, TOPIC, "orders-eu"), timeout=10,
             what="the other broker allows alice")
    assert other.authorize(ALICE, "10.0.0.1", DESCRIBE, TOPIC, "orders-eu")  # READ implies DESCRIBE
    assert not other.authorize(ALICE, "10.0.0.1", READ, TOPIC, "order")

    deleted = await other.delete_acls([for_pattern(ResourcePattern(TOPIC, "orders-", PREFIXED))])
    assert [[(str(b.entry), e) for b, e in result] for result in deleted] == [
        [("(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)", None)]]
    wait_for(lambda: not one.acls(AclBindingFilter.ANY), timeout=10, what="the first broker forgets it")
    assert not one.authorize(ALICE, "10.0.0.1", READ, TOPIC, "orders-eu")


async def test_concurrent_changes_of_one_resource_all_land(cluster: Cluster,
                                                         two: tuple[AclAuthorizer, AclAuthorizer]) -> None:
    one, other = two
    creations = [(one if i % 2 else other).create_acls([binding(TOPIC, "hot", LITERAL, f"User:u{i}", READ)])
                 for i in range(20)]
    assert await asyncio.gather(*creations) == [[None]] * 20
    data, stat = cluster.session().get("/kafka-acl/Topic/hot")
    assert sorted(acl["principal"] for acl in json.loads(data)["acls"]) == sorted(f"User:u{i}" for i in range(20))
    assert stat.version == 19
    for authorizer in two:
        wait_for(lambda a=authorizer: len(a.acls(AclBindingFilter.ANY)) == 20, timeout=10,  # type: ignore[misc]
                 what="every ACL cached")


async def test_deletion_is_kafkas(cluster: Cluster, two: tuple[AclAuthorizer, AclAuthorizer]) -> None:
    """Kafka's testAclsFilter: an ACL matched by two filters is reported under the first."""
    one, _ = two
    foo, bar = ResourcePattern(TOPIC, "foo-1", LITERAL), ResourcePattern(TOPIC, "bar-1", LITERAL)
    bar_prefix = ResourcePattern(TOPIC, "bar-", PREFIXED)
    acl1 = AclBinding(foo, AccessControlEntry("User:alice", "*", READ, ALLOW))
    acl2 = AclBinding(foo, AccessControlEntry("User:alice", "192.168.0.1", WRITE, ALLOW))
    acl3 = AclBinding(bar, AccessControlEntry("User:alice", "*", DESCRIBE, ALLOW))
    acl4 = AclBinding(bar_prefix, AccessControlEntry("User:*", "*", READ, ALLOW))
    assert await one.create_acls([acl1, acl2, acl3, acl4]) == [None] * 4
    assert set(one.acls(AclBindingFilter.ANY)) == {acl1, acl2, acl3, acl4}
    assert set(one.acls(for_pattern(foo))) == {acl1, acl2}
    assert set(one.acls(for_pattern(bar_prefix))) == {acl4}
    matching = AclBindingFilter(ResourcePatternFilter(ResourceType.ANY, "bar-1", PatternType.MATCH),
                                AccessControlEntryFilter.ANY)
    assert set(one.acls(matching)) == {acl3, acl4}

    acl1_filter = AclBindingFilter(ResourcePatternFilter(TOPIC, "foo-1", LITERAL),
                                   AccessControlEntryFilter("User:alice", "*", READ, ALLOW))
    results = await one.delete_acls([
        matching, acl1_filter, for_pattern(bar),
        AclBindingFilter(ResourcePatternFilter(TOPIC, "baz", PatternType.ANY), AccessControlEntryFilter.ANY)])
    assert [{b for b, _ in result} for result in results] == [{acl3, acl4}, {acl1}, set(), set()]
    assert all(error is None for result in results for _, error in result)
    assert set(one.acls(AclBindingFilter.ANY)) == {acl2}
    zk = cluster.session()
    assert not zk.exists("/kafka-acl/Topic/bar-1") and not zk.exists("/kafka-acl-extended/prefixed/Topic/bar-")
    assert zk.exists("/kafka-acl/Topic/foo-1") is not None


async def test_a_filter_naming_a_pattern_deletes_acls_not_yet_announced(cluster: Cluster) -> None:
    """An ACL written moments ago elsewhere, its notice not handled yet: a filter naming its pattern reads it."""
    authorizer = await cluster.broker()
    zk = cluster.session()
    zk.create("/kafka-acl/Group/g1", md.encode_acls([md.AclZnodeEntry("User:bob", "Allow", "Read", "*")]))
    assert authorizer.acls(AclBindingFilter.ANY) == []  # no notice: not cached
    [deleted] = await authorizer.delete_acls([AclBindingFilter(ResourcePatternFilter(GROUP, "g1", PatternType.ANY),
                                                               AccessControlEntryFilter.ANY)])
    assert [str(b) for b, _ in deleted] == [
        "(pattern=ResourcePattern(resourceType=GROUP, name=g1, patternType=LITERAL), entry=(principal=User:bob, "
        "host=*, operation=READ, permissionType=ALLOW))"]
    assert not zk.exists("/kafka-acl/Group/g1")
    assert [zk.get(f"{md.ACL_CHANGES_PATH}/{n}")[0] for n in zk.get_children(md.ACL_CHANGES_PATH)] == [b"GROUP:g1"]


async def test_notices_older_than_15_minutes_are_purged(cluster: Cluster) -> None:
    writer = await cluster.broker()
    assert await writer.create_acls([binding(TOPIC, "t", LITERAL, "User:alice", READ)]) == [None]
    zk = cluster.session()
    assert len(zk.get_children(md.ACL_CHANGES_PATH)) == 1
    # a broker whose clock is past the notice's expiry handles it, then deletes it
    late = await cluster.broker(now_ms=lambda: time.time() * 1000 + CHANGE_EXPIRATION_MS + 60_000)
    assert late.authorize(ALICE, "10.0.0.1", READ, TOPIC, "t")
    assert zk.get_children(md.ACL_CHANGES_PATH) == []
    # a malformed notice is skipped; the next one is handled
    zk.create(f"{md.EXTENDED_ACL_CHANGES_PATH}/{md.ACL_CHANGE_PREFIX}", b"not json", sequence=True)
    assert await writer.create_acls([binding(TOPIC, "u-", PREFIXED, "User:bob", WRITE)]) == [None]
    wait_for(lambda: late.authorize(BOB, "10.0.0.1", WRITE, TOPIC, "u-1"), timeout=10, what="the next notice")
