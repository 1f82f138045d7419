"""kafka-acls against kopfka and against real Apache Kafka 3.9.2, both with Kafka's AclAuthorizer: the same
commands, the same outputs, the same znodes in ZooKeeper.

One broker each (the ACLs live in ZooKeeper; the three-broker propagation is tests/kafka_tools/
test_acls_and_scram.py's), ``super.users=User:ANONYMOUS`` on both: the tool connects without authentication,
and Kafka's own inter-broker requests need it too. Outputs are compared after sorting the tool's blocks and the
ACLs within each (the tool prints them in the order of its hash maps, which changes from run to run); znodes by
path, each resource's ACLs as a set (Kafka writes its hash set's order), each change notice byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from tests.brokers import ClusterFactory

from kafka_broker.local import LocalCluster

from .test_acls_and_scram import ACL_AUTHORIZER, acl_blocks
from .test_against_apache_kafka import KafkaTool, SmallApacheKafka, Twins, normalised

ACL_ROOTS = ("/kafka-acl", "/kafka-acl-extended", "/kafka-acl-changes", "/kafka-acl-extended-changes")


@pytest.fixture(scope="module")
def acl_twins(module_cluster_factory: ClusterFactory, kafka_jars: Path, kafka_tool: KafkaTool) -> Iterator[Twins]:
    overrides = {"group.initial.rebalance.delay.ms": "0", **ACL_AUTHORIZER}
    twins = Twins(module_cluster_factory(brokers=1, overrides=overrides),
                  module_cluster_factory(brokers=1, overrides=overrides, cluster_class=SmallApacheKafka), kafka_tool)
    yield twins
    twins.pool.shutdown()


def znodes(cluster: LocalCluster) -> dict[str, object]:
    """Every znode under the ACL roots: a resource's ACLs sorted, a notice's data as written, None for the rest."""
    zk = KazooClient(hosts=cluster.zookeeper_connect)
    zk.start(timeout=30)
    found: dict[str, object] = {}

    def walk(path: str) -> None:
        data, _ = zk.get(path)
        children = sorted(zk.get_children(path))
        if "-changes/" in path:
            found[path] = data
        elif data and not children:
            znode = json.loads(data)
            found[path] = (list(znode), znode["version"],
                           sorted(json.dumps(entry) for entry in znode["acls"]))  # keys in order, ACLs as a set
        else:
            found[path] = None
        for child in children:
            walk(f"{path}/{child}")

    try:
        for root in ACL_ROOTS:
            walk(root)
    finally:
        zk.stop()
        zk.close()
    return found


def same(twins: Twins, *args: str) -> list[tuple[str, list[str]]]:
    """`kafka-acls args` on both: the (sorted) output, the same on both."""
    kopfka, kafka = (acl_blocks(out) for out in twins.run("kafka-acls", *args))
    assert kopfka == kafka
    return kopfka


def test_kafka_acls_and_znodes_are_kafkas(acl_twins: Twins) -> None:
    assert same(acl_twins, "--list") == []
    assert znodes(acl_twins.kopfka) == znodes(acl_twins.kafka)

    additions = [
        ("--add", "--allow-principal", "User:alice", "--operation", "Read", "--operation", "Write", "--topic",
         "orders"),
        ("--add", "--deny-principal", "User:bob", "--deny-host", "10.0.0.9", "--operation", "All", "--topic", "orders-",
         "--resource-pattern-type", "prefixed"),
        ("--add", "--allow-principal", "User:*", "--operation", "Describe", "--topic", "*"),
        ("--add", "--allow-principal", "User:eve", "--operation", "Read", "--topic", "*", "--resource-pattern-type",
         "prefixed"),
        ("--add", "--allow-principal", "User:carol", "--producer", "--topic", "payments", "--transactional-id", "tx-1",
         "--idempotent"),
        ("--add", "--allow-principal", "User:dave", "--consumer", "--topic", "payments", "--group", "billing-",
         "--resource-pattern-type", "prefixed"),
        ("--add", "--allow-principal", "User:ops", "--operation", "AlterConfigs", "--operation", "DescribeConfigs",
         "--cluster"),
    ]
    for args in additions:
        assert same(acl_twins, *args)  # "Adding ACLs for resource ..." blocks
    listed = same(acl_twins, "--list")
    assert len(listed) == 9
    assert same(acl_twins, "--list", "--topic", "orders-eu", "--resource-pattern-type", "match") == sorted([
        (f"Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name={name}, patternType={kind})`:", acls)
        for name, kind, acls in (
            ("orders-", "PREFIXED", ["(principal=User:bob, host=10.0.0.9, operation=ALL, permissionType=DENY)"]),
            ("*", "LITERAL", ["(principal=User:*, host=*, operation=DESCRIBE, permissionType=ALLOW)"]))])
    assert same(acl_twins, "--list", "--principal", "User:carol")
    assert same(acl_twins, "--list", "--cluster")
    assert znodes(acl_twins.kopfka) == znodes(acl_twins.kafka)

    removals = [
        ("--remove", "--force", "--allow-principal", "User:alice", "--operation", "Read", "--topic", "orders"),
        ("--remove", "--force", "--topic", "orders-", "--resource-pattern-type", "prefixed"),
        ("--remove", "--force", "--allow-principal", "User:dave", "--consumer", "--topic", "payments", "--group",
         "billing-", "--resource-pattern-type", "prefixed"),
        ("--remove", "--force", "--topic", "payments", "--resource-pattern-type", "any"),
    ]
    for args in removals:
        assert same(acl_twins, *args) == []
    assert same(acl_twins, "--list")
    assert znodes(acl_twins.kopfka) == znodes(acl_twins.kafka)

    # names Kafka refuses: the same error from both
    for name in ("a/b", "tx/1"):
        kopfka, kafka = acl_twins.each(lambda c, n=name: normalised(c, acl_twins.tool(  # type: ignore[misc]
            "kafka-acls", "--bootstrap-server", c.bootstrap_servers, "--add", "--allow-principal", "User:alice",
            "--operation", "Read", "--topic", n, check=False).stdout))
        assert kopfka == kafka
        assert "InvalidRequestException: Failed to create ACL" in kopfka
    assert znodes(acl_twins.kopfka) == znodes(acl_twins.kafka)
