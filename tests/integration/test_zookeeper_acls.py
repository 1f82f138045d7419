"""Brokers that log in to ZooKeeper with SASL DIGEST-MD5 and create their znodes with Kafka's secure ACLs
(``zookeeper.set.acl=true``), on a ZooKeeper 3.8 of their own that knows the user ``kafka``.

The brokers find their login as Kafka's do: ``KAFKA_OPTS=-Djava.security.auth.login.config=<file>`` whose
``Client`` section holds the ``DigestLoginModule`` credentials. Then every znode is ``sasl:kafka`` ALL plus world
READ, the sensitive ones (``/config/users``, ``/config/brokers`` and below) ``sasl:kafka`` only: a client that has
not logged in reads the topics' metadata but changes nothing and cannot read SCRAM credentials. A broker whose
password ZooKeeper refuses stops at once and says why; ``zookeeper.set.acl`` without a login is refused at start
with Kafka's message. A ZooKeeper that requires SASL of every session serves the brokers and turns the others
away. Kafka 3.9.2's own ``kafka-configs --zookeeper``, logged in through the same JAAS file, reads what the
brokers wrote and writes a SCRAM user the brokers then accept (the layout and the ACLs interoperate).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, SessionClosedRequireSaslError
from kazoo.security import ACL, Id, Permissions
from tests.brokers import BROKER_START_TIMEOUT, BROKER_STOP_TIMEOUT, ZOOKEEPER_START_TIMEOUT
from tests.integration.admin import admin, create_topic
from tests.integration.clients import ConfluentClient, Outgoing
from tests.kafka_tools.kafka_jars import KafkaUnavailable, ensure_kafka, is_cached, tool_command
from tests.waiting import wait_for

from kafka_broker import metadata as md
from kafka_broker.cluster.zk_client import ZooKeeperSecurity, connect_zookeeper
from kafka_broker.config import ZooKeeperSaslProperties, build_config
from kafka_broker.local import LocalCluster, ZooKeeperProcess
from kafka_broker.local.processes import free_port
from kafka_broker.local.zookeeper import ZOOKEEPER_JAR

pytestmark = pytest.mark.integration

USER, PASSWORD = "kafka", "kafka-secret"
CHROOT = "/kafka"
TOPIC = "guarded"
BROKERS_ALL = ACL(Permissions.ALL, Id("sasl", USER))
WORLD_READ = ACL(Permissions.READ, Id("world", "anyone"))
WORLD_ALL = ACL(Permissions.ALL, Id("world", "anyone"))


def user_path(user: str) -> str:
    return f"{md.CONFIG_USERS_PATH}/{user}"


def write_jaas(path: Path, *, password: str = PASSWORD) -> Path:
    path.write_text('Client {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n'
                    f'  username="{USER}" password="{password}";\n}};\n')
    return path


def kafka_opts(jaas: Path) -> dict[str, str]:
    return {"KAFKA_OPTS": f"-Djava.security.auth.login.config={jaas}"}


def logged_in(hosts: str) -> KazooClient:
    zk = KazooClient(hosts=hosts, sasl_options={"mechanism": "DIGEST-MD5", "username": USER, "password": PASSWORD})
    zk.start(timeout=60)
    zk.exists("/")  # queued behind the login: raises if it was refused
    return zk


def anonymous(hosts: str) -> KazooClient:
    zk = KazooClient(hosts=hosts)
    zk.start(timeout=60)
    return zk


def acl(zk: KazooClient, path: str) -> set[ACL]:
    return set(zk.get_acls(path)[0])


def stop(*clients: KazooClient) -> None:
    for zk in clients:
        zk.stop()
        zk.close()


@pytest.fixture(scope="module")
def sasl_zookeeper(require: Callable[[object, str], None],
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperProcess]:
    """A ZooKeeper that accepts the SASL login of ``kafka`` (and sessions without a login)."""
    require("java", "a Java runtime is needed for ZooKeeper (apt-get install default-jre-headless)")
    require(ZOOKEEPER_JAR, "ZooKeeper is needed (apt-get install zookeeper)")
    with ZooKeeperProcess(data_dir=tmp_path_factory.mktemp("sasl-zookeeper"), sasl_users={USER: PASSWORD},
                          startup_timeout=ZOOKEEPER_START_TIMEOUT) as zookeeper:
        yield zookeeper


@pytest.fixture(scope="module")
def jaas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jaas(tmp_path_factory.mktemp("jaas") / "zookeeper_jaas.conf")


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, sasl_zookeeper: ZooKeeperProcess, jaas: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(brokers=3, data_dir=tmp_path_factory.mktemp("secure-acl-cluster"),
                           zookeeper_connect=f"{sasl_zookeeper.connect}{CHROOT}",
                           overrides={"zookeeper.set.acl": "true"}, env=kafka_opts(jaas),
                           start_timeout=BROKER_START_TIMEOUT, stop_timeout=BROKER_STOP_TIMEOUT)
    request.node._kopfka_clusters = [cluster]  # broker logs attached to a failure (tests/brokers.py)
    with cluster:
        yield cluster


@pytest.fixture(scope="module")
def brokers_zk(cluster: LocalCluster) -> Iterator[KazooClient]:
    """Logged in as the brokers are, in their chroot."""
    zk = logged_in(cluster.zookeeper_connect)
    yield zk
    stop(zk)


@pytest.fixture(scope="module")
def with_data(cluster: LocalCluster, brokers_zk: KazooClient) -> LocalCluster:
    """A topic with records (idempotent producers: a producer id block), the SCRAM user alice and a dynamic
    config of broker 1, all written by the brokers."""
    bootstrap = cluster.bootstrap_servers
    create_topic(bootstrap, TOPIC, partitions=3, replication_factor=3)
    messages = [Outgoing(p, f"k{i}".encode(), f"v{i}".encode()) for i in range(30) for p in (i % 3,)]
    client = ConfluentClient()
    client.produce(bootstrap, TOPIC, messages, "none")
    got = client.consume(bootstrap, TOPIC, [0, 1, 2], count=len(messages))
    assert sorted(m.value for m in got) == sorted(m.value for m in messages)

    kafka_admin = admin(bootstrap)
    upsert = UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                          b"alice-secret")
    kafka_admin.alter_user_scram_credentials([upsert])["alice"].result(60)
    throttle = ConfigResource(ResourceType.BROKER, "1", incremental_configs=[
        ConfigEntry("leader.replication.throttled.rate", "1000000", incremental_operation=AlterConfigOpType.SET)])
    for future in kafka_admin.incremental_alter_configs([throttle]).values():
        future.result(60)
    wait_for(lambda: brokers_zk.exists(user_path("alice")) and brokers_zk.exists("/config/brokers/1"),
             what="alice's credentials and broker 1's dynamic config in ZooKeeper")
    return cluster


def test_the_cluster_serves_clients_with_secure_acls(with_data: LocalCluster, brokers_zk: KazooClient) -> None:
    assert all(with_data.is_running(b) for b in with_data.broker_ids)
    assert sorted(brokers_zk.get_children(md.BROKER_IDS_PATH)) == ["1", "2", "3"]


@pytest.mark.parametrize("path", [
    "/brokers", "/brokers/ids", "/brokers/ids/1", "/brokers/topics", f"/brokers/topics/{TOPIC}",
    f"/brokers/topics/{TOPIC}/partitions/0/state", "/controller", "/controller_epoch", "/cluster/id", "/config",
    "/config/topics", f"/config/topics/{TOPIC}", "/config/changes", "/admin/delete_topics",
    "/isr_change_notification", md.PRODUCER_ID_BLOCK_PATH,
])
def test_a_znode_is_the_brokers_and_readable_by_all(with_data: LocalCluster, brokers_zk: KazooClient,
                                                    path: str) -> None:
    assert acl(brokers_zk, path) == {BROKERS_ALL, WORLD_READ}


@pytest.mark.parametrize("path", ["/config/users", "/config/users/alice", "/config/brokers", "/config/brokers/1"])
def test_a_sensitive_znode_is_the_brokers_alone(with_data: LocalCluster, brokers_zk: KazooClient,
                                                path: str) -> None:
    assert acl(brokers_zk, path) == {BROKERS_ALL}


def test_the_chroot_and_the_change_notices_too(with_data: LocalCluster, brokers_zk: KazooClient,
                                               sasl_zookeeper: ZooKeeperProcess) -> None:
    notices = brokers_zk.get_children(md.CONFIG_CHANGES_PATH)
    assert notices
    for notice in notices:
        assert acl(brokers_zk, f"{md.CONFIG_CHANGES_PATH}/{notice}") == {BROKERS_ALL, WORLD_READ}
    root = logged_in(sasl_zookeeper.connect)
    try:
        assert acl(root, CHROOT) == {BROKERS_ALL, WORLD_READ}
    finally:
        stop(root)


def test_a_client_without_the_login_reads_metadata_but_changes_nothing_and_sees_no_secrets(
        with_data: LocalCluster) -> None:
    zk = anonymous(with_data.zookeeper_connect)
    try:
        data, _ = zk.get(md.topic_path(TOPIC))
        assert sorted(json.loads(data)["partitions"]) == ["0", "1", "2"]
        assert sorted(zk.get_children(md.BROKER_IDS_PATH)) == ["1", "2", "3"]
        changes: list[Callable[[], object]] = [
            lambda: zk.set(md.topic_path(TOPIC), b"{}"),
            lambda: zk.set(md.partition_state_path(TOPIC, 0), b"{}"),
            lambda: zk.delete(md.partition_state_path(TOPIC, 0)),
            lambda: zk.delete(md.broker_path(1)),
            lambda: zk.delete(md.CONTROLLER_PATH),
            lambda: zk.create(md.topic_path("intruder"), b"{}"),
            lambda: zk.create(md.delete_topic_path(TOPIC)),
            lambda: zk.create(md.REASSIGN_PARTITIONS_PATH, b"{}"),
            lambda: zk.create(user_path("mallory"), b"{}"),
            lambda: zk.get(user_path("alice")),
            lambda: zk.get_children(md.CONFIG_USERS_PATH),
            lambda: zk.get("/config/brokers/1"),
        ]
        for change in changes:
            with pytest.raises(NoAuthError):
                change()
    finally:
        stop(zk)


def test_every_create_gets_the_acl_of_its_own_path(sasl_zookeeper: ZooKeeperProcess, jaas: Path) -> None:
    """The broker's client itself, on a fresh chroot two levels deep: the parents a ``makepath`` create makes get
    their own path's ACL (not the child's), and so do transactions and ``ensure_path``."""
    config = build_config({"broker.id": "1", "zookeeper.connect": f"{sasl_zookeeper.connect}/direct/chroot",
                           "zookeeper.set.acl": "true"},
                          zookeeper_sasl=ZooKeeperSaslProperties(login_config=str(jaas)))
    zk = connect_zookeeper(config.zookeeper, security=ZooKeeperSecurity.from_settings(config.zookeeper))
    root = logged_in(sasl_zookeeper.connect)
    try:
        zk.create("/config/users/bob/clients/app", b"{}", makepath=True)
        tx = zk.transaction()
        tx.create("/brokers")
        tx.create("/brokers/topics")
        tx.create("/config/brokers")
        assert all(isinstance(result, str) for result in tx.commit())
        zk.ensure_path("/consumers/group")
        assert acl(root, "/direct") == acl(root, "/direct/chroot") == {BROKERS_ALL, WORLD_READ}
        for path in ("/config", "/brokers", "/brokers/topics", "/consumers/group"):
            assert acl(zk, path) == {BROKERS_ALL, WORLD_READ}, path
        for path in ("/config/users", "/config/users/bob", "/config/users/bob/clients",
                     "/config/users/bob/clients/app", "/config/brokers"):
            assert acl(zk, path) == {BROKERS_ALL}, path
        assert acl(zk, "/consumers") == {WORLD_ALL}
    finally:
        stop(zk, root)


def run_broker(tmp_path: Path, connect: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One broker run as ``kopfka-broker server.properties``, with ``zookeeper.set.acl=true``, to its end."""
    properties = tmp_path / "server.properties"
    listener = f"PLAINTEXT://127.0.0.1:{free_port()}"
    properties.write_text(f"broker.id=9\nzookeeper.connect={connect}\nlisteners={listener}\n"
                          f"log.dirs={tmp_path / 'data'}\nzookeeper.set.acl=true\n")
    environ = {k: v for k, v in os.environ.items() if k != "KAFKA_OPTS"}
    return subprocess.run([sys.executable, "-m", "kafka_broker.main", str(properties)], env={**environ, **env},
                          capture_output=True, text=True, timeout=BROKER_START_TIMEOUT, check=False)


def test_a_broker_whose_login_zookeeper_refuses_stops_at_once_saying_why(
        cluster: LocalCluster, tmp_path: Path) -> None:
    wrong = write_jaas(tmp_path / "wrong_jaas.conf", password="not-the-secret")
    done = run_broker(tmp_path, cluster.zookeeper_connect, kafka_opts(wrong))
    assert done.returncode == 1, done.stderr
    assert (f"refused the broker's SASL DIGEST-MD5 login as 'kafka' (JAAS section Client of {wrong}): wrong "
            "username or password") in done.stderr
    assert "Traceback" not in done.stderr


def test_secure_acls_without_a_login_are_refused_at_start_as_in_kafka(cluster: LocalCluster,
                                                                      tmp_path: Path) -> None:
    done = run_broker(tmp_path, cluster.zookeeper_connect, {})
    assert done.returncode == 2, done.stderr
    assert ("kopfka-broker: invalid configuration: zookeeper.set.acl is true, but ZooKeeper client TLS "
            "configuration identifying at least zookeeper.ssl.client.enable") in done.stderr
    assert not (tmp_path / "data").exists()  # before any data was touched


def test_a_zookeeper_requiring_sasl_serves_the_brokers_and_turns_others_away(
        require: Callable[[object, str], None], jaas: Path, tmp_path: Path) -> None:
    require(ZOOKEEPER_JAR, "ZooKeeper is needed (apt-get install zookeeper)")
    with ZooKeeperProcess(data_dir=tmp_path / "zookeeper", sasl_users={USER: PASSWORD}, require_sasl=True,
                          startup_timeout=ZOOKEEPER_START_TIMEOUT) as zookeeper:
        connect = f"{zookeeper.connect}{CHROOT}"
        with LocalCluster(brokers=1, data_dir=tmp_path / "cluster", zookeeper_connect=connect,
                          overrides={"zookeeper.set.acl": "true"}, env=kafka_opts(jaas),
                          start_timeout=BROKER_START_TIMEOUT, stop_timeout=BROKER_STOP_TIMEOUT) as cluster:
            create_topic(cluster.bootstrap_servers, TOPIC, partitions=1)
            stranger = KazooClient(hosts=connect)
            try:
                with pytest.raises(SessionClosedRequireSaslError):
                    stranger.start(timeout=60)  # kazoo reads the chroot first: refused
                    stranger.get(md.topic_path(TOPIC))
            finally:
                stop(stranger)
            wrong = write_jaas(tmp_path / "wrong_jaas.conf", password="not-the-secret")
            done = run_broker(tmp_path, connect, kafka_opts(wrong))
            assert done.returncode == 1, done.stderr
            assert "refused the broker's SASL DIGEST-MD5 login as 'kafka'" in done.stderr


def test_kafkas_own_kafka_configs_shares_the_layout_and_the_acls(
        require: Callable[[object, str], None], with_data: LocalCluster, brokers_zk: KazooClient,
        jaas: Path) -> None:
    """``kafka-configs --zookeeper`` with ``KAFKA_OPTS``' JAAS file logs in as the brokers do: it reads the SCRAM
    user the brokers wrote, and writes one (with Kafka's own secure ACLs) that the brokers then accept."""
    if not is_cached():
        require(shutil.which("mvn") is not None, "Kafka's jars are fetched with Maven (apt-get install maven)")
    try:
        ensure_kafka()
    except KafkaUnavailable as exc:
        require(False, str(exc))

    def kafka_configs(*args: str) -> subprocess.CompletedProcess[str]:
        command = tool_command("kafka-configs", "--zookeeper", with_data.zookeeper_connect, *args,
                               jvm_options=[f"-Djava.security.auth.login.config={jaas}"])
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    described = kafka_configs("--describe", "--entity-type", "users", "--entity-name", "alice")
    assert "SCRAM-SHA-512=salt=" in described.stdout and "iterations=4096" in described.stdout
    kafka_configs("--alter", "--entity-type", "users", "--entity-name", "carol",
                  "--add-config", "SCRAM-SHA-256=[iterations=8192,password=carol-secret]")
    assert acl(brokers_zk, user_path("carol")) == {BROKERS_ALL}

    kafka_admin = admin(with_data.bootstrap_servers)  # kept: a collected client cancels its futures

    def carol_known() -> bool:
        result = kafka_admin.describe_user_scram_credentials(["carol"])["carol"]
        try:
            description = result.result(30)
        except Exception:
            return False
        return [(i.mechanism, i.iterations) for i in description.scram_credential_infos] == [
            (ScramMechanism.SCRAM_SHA_256, 8192)]

    wait_for(carol_known, what="the brokers to know carol, written by Kafka's kafka-configs")
