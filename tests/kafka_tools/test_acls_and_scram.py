"""kafka-acls.sh and SCRAM credentials with kafka-configs.sh, against three kopfka brokers.

Without ``authorizer.class.name`` kafka-acls answers exactly as against Apache Kafka 3.9 started without it (the
expected outputs below are what Kafka 3.9.2's tool printed against such a broker, stack trace included). With
Kafka's AclAuthorizer configured (a second cluster, ``super.users=User:ANONYMOUS`` so the tool may manage ACLs),
ACLs are added, listed and removed with kafka-acls — literal and prefixed, allow and deny, the ``--producer`` and
``--consumer`` shorthands — each change stored in ZooKeeper in Kafka's layout and seen by every broker. SCRAM
credentials are set, described and deleted with kafka-configs as on Kafka in ZooKeeper mode: ZooKeeper holds
Kafka's format, with keys that verify against the password, next to the user's quota, and errors come back
with Kafka's exceptions and messages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient
from tests.brokers import ClusterFactory
from tests.waiting import wait_for

from kafka_broker.local import LocalCluster

_TRACE_HEAD = """\tat java.base/java.util.concurrent.CompletableFuture.reportGet(CompletableFuture.java:396)
\tat java.base/java.util.concurrent.CompletableFuture.get(CompletableFuture.java:2073)
\tat org.apache.kafka.common.internals.KafkaFutureImpl.get(KafkaFutureImpl.java:165)
"""

LIST_OUTPUT = (
    "Error while executing ACL command: org.apache.kafka.common.errors.SecurityDisabledException: No Authorizer is "
    "configured on the broker\n"
    "java.util.concurrent.ExecutionException: org.apache.kafka.common.errors.SecurityDisabledException: No Authorizer "
    "is configured on the broker\n" + _TRACE_HEAD +
    """\tat kafka.admin.AclCommand$AdminClientService.getAcls(AclCommand.scala:177)
\tat kafka.admin.AclCommand$AdminClientService.listAcls(AclCommand.scala:146)
\tat kafka.admin.AclCommand$AdminClientService.$anonfun$listAcls$1(AclCommand.scala:139)
\tat kafka.admin.AclCommand$AdminClientService.listAcls(AclCommand.scala:138)
\tat kafka.admin.AclCommand$.main(AclCommand.scala:78)
\tat kafka.admin.AclCommand.main(AclCommand.scala)
Caused by: org.apache.kafka.common.errors.SecurityDisabledException: No Authorizer is configured on the broker

""")
"""`kafka-acls --bootstrap-server B --list` against Apache Kafka 3.9 without an authorizer (stdout; exit code 1)."""

_NOT_CONFIGURED = "org.apache.kafka.common.errors.SecurityDisabledException: No Authorizer is configured."
_SCALA_FOREACH = """\tat scala.collection.IterableOnceOps.foreach(IterableOnce.scala:619)
\tat scala.collection.IterableOnceOps.foreach$(IterableOnce.scala:617)
\tat scala.collection.AbstractIterable.foreach(Iterable.scala:935)
\tat scala.collection.IterableOps$WithFilter.foreach(Iterable.scala:905)
"""
ADD_OUTPUT = (
    "Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name=t1, patternType=LITERAL)`: \n"
    " \t(principal=User:alice, host=*, operation=READ, permissionType=ALLOW) \n\n"
    f"Error while executing ACL command: {_NOT_CONFIGURED}\n"
    f"java.util.concurrent.ExecutionException: {_NOT_CONFIGURED}\n" + _TRACE_HEAD
    + "\tat kafka.admin.AclCommand$AdminClientService.$anonfun$addAcls$3(AclCommand.scala:116)\n" + _SCALA_FOREACH
    + """\tat kafka.admin.AclCommand$AdminClientService.$anonfun$addAcls$1(AclCommand.scala:113)
\tat kafka.admin.AclCommand$AdminClientService.addAcls(AclCommand.scala:112)
\tat kafka.admin.AclCommand$.main(AclCommand.scala:74)
\tat kafka.admin.AclCommand.main(AclCommand.scala)
""" + f"Caused by: {_NOT_CONFIGURED}\n\n")
"""`kafka-acls --add --allow-principal User:alice --operation Read --topic t1` against Kafka 3.9 (exit code 1)."""

REMOVE_OUTPUT = (
    f"Error while executing ACL command: {_NOT_CONFIGURED}\n"
    f"java.util.concurrent.ExecutionException: {_NOT_CONFIGURED}\n" + _TRACE_HEAD
    + """\tat kafka.admin.AclCommand$AdminClientService.removeAcls(AclCommand.scala:171)
\tat kafka.admin.AclCommand$AdminClientService.$anonfun$removeAcls$3(AclCommand.scala:131)
\tat kafka.admin.AclCommand$AdminClientService.$anonfun$removeAcls$3$adapted(AclCommand.scala:125)
""" + _SCALA_FOREACH + """\tat kafka.admin.AclCommand$AdminClientService.$anonfun$removeAcls$1(AclCommand.scala:125)
\tat kafka.admin.AclCommand$AdminClientService.removeAcls(AclCommand.scala:122)
\tat kafka.admin.AclCommand$.main(AclCommand.scala:76)
\tat kafka.admin.AclCommand.main(AclCommand.scala)
""" + f"Caused by: {_NOT_CONFIGURED}\n\n")
"""`kafka-acls --remove --force …` (the same binding) against Kafka 3.9 (exit code 1)."""


@pytest.fixture(scope="module")
def zk(cluster) -> Iterator[KazooClient]:
    client = KazooClient(hosts=cluster.zookeeper_connect)
    client.start(timeout=15)
    yield client
    client.stop()
    client.close()


ACL_AUTHORIZER = {"authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
                  "super.users": "User:ANONYMOUS"}
"""Kafka's AclAuthorizer, the tools' principal (no authentication: User:ANONYMOUS) a super user."""


@pytest.fixture(scope="module")
def secured(module_cluster_factory: ClusterFactory) -> LocalCluster:
    return module_cluster_factory(brokers=3, overrides={"group.initial.rebalance.delay.ms": "0", **ACL_AUTHORIZER})


def acl_blocks(output: str) -> list[tuple[str, list[str]]]:
    """kafka-acls' output as (heading, its ACLs), both sorted: the tool prints them in its hash maps' order. A
    heading is any line that is not an ACL entry ``(principal=…)``: with ``--principal`` the tool prints one line
    naming the principal, then resource headings with no blank line between."""
    blocks: list[tuple[str, list[str]]] = []
    for line in output.splitlines():
        text = line.strip()
        if not text:
            continue
        if text.startswith("(") and blocks:
            blocks[-1][1].append(text)
        else:
            blocks.append((text, []))
    return sorted((heading, sorted(entries)) for heading, entries in blocks)


def acl(principal: str, operation: str, permission: str = "ALLOW", host: str = "*") -> str:
    return f"(principal={principal}, host={host}, operation={operation}, permissionType={permission})"


def listing(resource_type: str, name: str, pattern_type: str, *acls: str) -> tuple[str, list[str]]:
    return (f"Current ACLs for resource `ResourcePattern(resourceType={resource_type}, name={name}, "
            f"patternType={pattern_type})`:", sorted(acls))


def adding(resource_type: str, name: str, pattern_type: str, *acls: str) -> tuple[str, list[str]]:
    heading, entries = listing(resource_type, name, pattern_type, *acls)
    return heading.replace("Current ACLs", "Adding ACLs"), entries


def znode_acls(zk: KazooClient, path: str) -> list[dict[str, str]]:
    """A resource znode's ACLs, sorted; its format checked."""
    znode = json.loads(zk.get(path)[0])
    assert list(znode) == ["acls", "version"] and znode["version"] == 1
    assert all(list(entry) == ["principal", "permissionType", "host", "operation"] for entry in znode["acls"])
    return sorted(znode["acls"], key=lambda entry: sorted(entry.items()))


def user_config(zk: KazooClient, user: str) -> dict[str, str]:
    data, _ = zk.get(f"/config/users/{user}")
    znode = json.loads(data)
    assert znode["version"] == 1
    return znode["config"]


def notices(zk: KazooClient) -> list[str]:
    return [json.loads(zk.get(f"/config/changes/{name}")[0])["entity_path"]
            for name in sorted(zk.get_children("/config/changes"))]


def verify(credential: str, password: str, hash_name: str, iterations: int) -> None:
    """The credential is Kafka's string and its keys are RFC 5802's for ``password`` and the stored salt."""
    fields = dict(kv.split("=", 1) for kv in credential.split(","))
    assert list(fields) == ["salt", "stored_key", "server_key", "iterations"]
    assert fields["iterations"] == str(iterations)
    salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), base64.b64decode(fields["salt"]), iterations)
    client_key = hmac.new(salted, b"Client Key", hash_name).digest()
    assert base64.b64decode(fields["stored_key"]) == hashlib.new(hash_name, client_key).digest()
    assert base64.b64decode(fields["server_key"]) == hmac.new(salted, b"Server Key", hash_name).digest()


def test_acls_answer_as_kafka_without_an_authorizer(bootstrap, kafka_tool):
    listed = kafka_tool("kafka-acls", "--bootstrap-server", bootstrap, "--list", check=False)
    assert (listed.returncode, listed.stdout) == (1, LIST_OUTPUT)
    added = kafka_tool("kafka-acls", "--bootstrap-server", bootstrap, "--add", "--allow-principal", "User:alice",
                       "--operation", "Read", "--topic", "t1", check=False)
    assert (added.returncode, added.stdout) == (1, ADD_OUTPUT)
    removed = kafka_tool("kafka-acls", "--bootstrap-server", bootstrap, "--remove", "--force", "--allow-principal",
                         "User:alice", "--operation", "Read", "--topic", "t1", check=False)
    assert (removed.returncode, removed.stdout) == (1, REMOVE_OUTPUT)


def test_scram_credentials_with_kafka_configs(bootstrap, kafka_tool, zk):
    def configs(*args: str, check: bool = True):
        return kafka_tool("kafka-configs", "--bootstrap-server", bootstrap, *args, check=check)

    alice = ("--entity-type", "users", "--entity-name", "alice")
    assert configs("--describe", *alice).stdout == ""  # no quota, no credential: nothing, as Kafka prints
    assert configs("--alter", *alice, "--add-config", "producer_byte_rate=1024").stdout \
        == "Completed updating config for user alice.\n"
    assert configs("--alter", *alice, "--add-config", "SCRAM-SHA-512=[iterations=8192,password=alice-secret]").stdout \
        == "Completed updating config for user alice.\n"

    # ZooKeeper holds Kafka's format next to the quota, with a change notice
    config = user_config(zk, "alice")
    assert sorted(config) == ["SCRAM-SHA-512", "producer_byte_rate"] and config["producer_byte_rate"] == "1024"
    verify(config["SCRAM-SHA-512"], "alice-secret", "sha512", 8192)
    assert notices(zk)[-2:] == ["users/alice", "users/alice"]

    assert configs("--describe", *alice).stdout == (
        "Quota configs for user-principal 'alice' are producer_byte_rate=1024.0\n"
        "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-512=iterations=8192\n")
    assert configs("--alter", *alice, "--add-config", "SCRAM-SHA-256=[password=x]").returncode == 0
    verify(user_config(zk, "alice")["SCRAM-SHA-256"], "x", "sha256", 4096)
    both = ("Quota configs for user-principal 'alice' are producer_byte_rate=1024.0\n"
            "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=4096, "
            "SCRAM-SHA-512=iterations=8192\n")
    assert configs("--describe", *alice).stdout == both
    assert configs("--describe", "--entity-type", "users").stdout == both  # every user

    # delete one credential: the other and the quota stay; deleting it again is Kafka's error
    assert configs("--alter", *alice, "--delete-config", "SCRAM-SHA-512").stdout \
        == "Completed updating config for user alice.\n"
    assert sorted(user_config(zk, "alice")) == ["SCRAM-SHA-256", "producer_byte_rate"]
    again = configs("--alter", *alice, "--delete-config", "SCRAM-SHA-512", check=False)
    assert again.returncode == 1
    assert again.stderr.splitlines()[:2] == [
        f"Error while executing config command with args '--bootstrap-server {bootstrap} --alter --entity-type users "
        "--entity-name alice --delete-config SCRAM-SHA-512'",
        "java.util.concurrent.ExecutionException: org.apache.kafka.common.errors.ResourceNotFoundException: "
        "Attempt to delete a user credential that does not exist"]
    too_many = configs("--alter", "--entity-type", "users", "--entity-name", "bob", "--add-config",
                       "SCRAM-SHA-256=[iterations=20000,password=x]", check=False)
    assert too_many.returncode == 1
    assert ("java.util.concurrent.ExecutionException: org.apache.kafka.common.errors.UnacceptableCredentialException: "
            "Too many iterations") in too_many.stderr.splitlines()
    assert not zk.exists("/config/users/bob")
    assert configs("--describe", "--entity-type", "users", "--entity-name", "bob").stdout == ""
    assert configs("--describe", *alice).stdout == (
        "Quota configs for user-principal 'alice' are producer_byte_rate=1024.0\n"
        "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=4096\n")


def test_acls_with_kafkas_acl_authorizer(secured: LocalCluster, kafka_tool) -> None:
    brokers = [f"{secured.host}:{port}" for port in secured.broker_ports.values()]

    def acls(*args: str, broker: str = brokers[0]) -> str:
        return kafka_tool("kafka-acls", "--bootstrap-server", broker, *args).stdout

    zk = KazooClient(hosts=secured.zookeeper_connect)
    zk.start(timeout=30)
    try:
        assert acls("--list") == ""
        # the stores' znodes are there, as Kafka's AclAuthorizer creates them at start
        for store in ("/kafka-acl", "/kafka-acl-extended/prefixed"):
            assert sorted(zk.get_children(store)) == [
                "Cluster", "DelegationToken", "Group", "Topic", "TransactionalId", "User"]

        alice = acl("User:alice", "READ"), acl("User:alice", "WRITE")
        assert acl_blocks(acls("--add", "--allow-principal", "User:alice", "--operation", "Read", "--operation",
                               "Write", "--topic", "orders")) == [adding("TOPIC", "orders", "LITERAL", *alice)]
        bob = acl("User:bob", "READ", "DENY", host="10.0.0.9")
        assert acl_blocks(acls("--add", "--deny-principal", "User:bob", "--deny-host", "10.0.0.9", "--operation",
                               "Read", "--topic", "orders-", "--resource-pattern-type", "prefixed")) == [
            adding("TOPIC", "orders-", "PREFIXED", bob)]
        carol_topic = [acl("User:carol", op) for op in ("WRITE", "DESCRIBE", "CREATE")]
        carol_tx = [acl("User:carol", op) for op in ("WRITE", "DESCRIBE")]
        carol_cluster = acl("User:carol", "IDEMPOTENT_WRITE")
        assert acl_blocks(acls("--add", "--allow-principal", "User:carol", "--producer", "--topic", "payments",
                               "--transactional-id", "tx-1", "--idempotent")) == sorted([
            adding("TOPIC", "payments", "LITERAL", *carol_topic),
            adding("TRANSACTIONAL_ID", "tx-1", "LITERAL", *carol_tx),
            adding("CLUSTER", "kafka-cluster", "LITERAL", carol_cluster)])
        dave_topic = [acl("User:dave", op) for op in ("READ", "DESCRIBE")]
        assert acl_blocks(acls("--add", "--allow-principal", "User:dave", "--consumer", "--topic", "payments",
                               "--group", "billing")) == sorted([
            adding("TOPIC", "payments", "LITERAL", *dave_topic),
            adding("GROUP", "billing", "LITERAL", acl("User:dave", "READ"))])

        everything = sorted([
            listing("TOPIC", "orders", "LITERAL", *alice), listing("TOPIC", "orders-", "PREFIXED", bob),
            listing("TOPIC", "payments", "LITERAL", *carol_topic, *dave_topic),
            listing("TRANSACTIONAL_ID", "tx-1", "LITERAL", *carol_tx),
            listing("CLUSTER", "kafka-cluster", "LITERAL", carol_cluster),
            listing("GROUP", "billing", "LITERAL", acl("User:dave", "READ"))])
        for broker in brokers:  # every broker has every change (from the change notices)
            wait_for(lambda b=broker: acl_blocks(acls("--list", broker=b)) == everything, timeout=30,
                     what=f"{broker} lists every ACL")
        # what applies to topic orders-eu: the prefixed ACL only
        assert acl_blocks(acls("--list", "--topic", "orders-eu", "--resource-pattern-type", "match")) == [
            listing("TOPIC", "orders-", "PREFIXED", bob)]

        # ZooKeeper holds Kafka's layout and formats
        assert znode_acls(zk, "/kafka-acl/Topic/orders") == [
            {"principal": "User:alice", "permissionType": "Allow", "host": "*", "operation": op}
            for op in ("Read", "Write")]
        assert znode_acls(zk, "/kafka-acl-extended/prefixed/Topic/orders-") == [
            {"principal": "User:bob", "permissionType": "Deny", "host": "10.0.0.9", "operation": "Read"}]
        assert znode_acls(zk, "/kafka-acl/Cluster/kafka-cluster") == [
            {"principal": "User:carol", "permissionType": "Allow", "host": "*", "operation": "IdempotentWrite"}]
        assert sorted(zk.get_children("/kafka-acl/TransactionalId")) == ["tx-1"]
        assert sorted(zk.get_children("/kafka-acl/Group")) == ["billing"]
        literal = sorted(zk.get_children("/kafka-acl-changes"))
        assert all(name.startswith("acl_changes_") for name in literal)
        assert [zk.get(f"/kafka-acl-changes/{name}")[0] for name in literal] == [
            b"TOPIC:orders", b"TOPIC:payments", b"TRANSACTIONAL_ID:tx-1", b"CLUSTER:kafka-cluster", b"TOPIC:payments",
            b"GROUP:billing"]
        [extended] = zk.get_children("/kafka-acl-extended-changes")
        assert json.loads(zk.get(f"/kafka-acl-extended-changes/{extended}")[0]) == {
            "version": 1, "resourceType": "TOPIC", "name": "orders-", "patternType": "PREFIXED"}

        # remove one ACL on one broker, a whole prefixed pattern on another
        assert acls("--remove", "--force", "--allow-principal", "User:alice", "--operation", "Read", "--topic",
                    "orders") == ""
        assert acls("--remove", "--force", "--topic", "orders-", "--resource-pattern-type", "prefixed",
                    broker=brokers[1]) == ""
        assert znode_acls(zk, "/kafka-acl/Topic/orders") == [
            {"principal": "User:alice", "permissionType": "Allow", "host": "*", "operation": "Write"}]
        assert zk.exists("/kafka-acl-extended/prefixed/Topic/orders-") is None
        for broker in brokers:
            wait_for(lambda b=broker: acl_blocks(acls("--list", "--topic", "orders", "--topic", "orders-",
                                                      "--resource-pattern-type", "any", broker=b)) == [
                listing("TOPIC", "orders", "LITERAL", acl("User:alice", "WRITE"))], timeout=30,
                what=f"{broker} has the removals")

        # a name Kafka refuses: the tool fails with Kafka's error
        refused = kafka_tool("kafka-acls", "--bootstrap-server", brokers[2], "--add", "--allow-principal",
                             "User:alice", "--operation", "Read", "--topic", "a/b", check=False)
        assert refused.returncode == 1
        assert ("Error while executing ACL command: org.apache.kafka.common.errors.InvalidRequestException: "
                "Failed to create ACL") in refused.stdout.splitlines()
        assert zk.exists("/kafka-acl/Topic/a") is None
    finally:
        zk.stop()
        zk.close()
