"""The broker's ZooKeeper client: its SASL login read from the JAAS file of ``KAFKA_OPTS``, and the ACL each
znode gets with ``zookeeper.set.acl`` (Kafka's ``ZkData.defaultAcls``). Against a real ZooKeeper:
tests/integration/test_zookeeper_acls.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import AuthFailedError, ConnectionLoss, SessionClosedRequireSaslError
from kazoo.protocol.states import KeeperState
from kazoo.security import ACL, Id, Permissions

from kafka_broker import metadata as md
from kafka_broker.cluster.zk_client import (
    PLAIN,
    SecureAclClient,
    ZooKeeperLogin,
    ZooKeeperLoginRefusedError,
    ZooKeeperSecurity,
    on_login_refused,
    start_client,
    znode_acl,
    zookeeper_client,
    zookeeper_login,
)
from kafka_broker.config import ConfigError, ZooKeeperSaslProperties, build_config

CLIENT = ('Client {\n  org.apache.zookeeper.server.auth.DigestLoginModule required username="kafka" '
          'password="kafka-secret";\n};\n')
CREATOR_ALL = ACL(Permissions.ALL, Id("auth", ""))
WORLD_READ = ACL(Permissions.READ, Id("world", "anyone"))


@pytest.mark.parametrize("path", [
    "/brokers/ids/1", "/brokers/topics/t", "/brokers/topics/t/partitions/0/state", "/controller",
    "/controller_epoch", "/config", "/config/topics/t", "/config/clients/c", "/config/changes/config_change_",
    "/cluster/id", "/admin/delete_topics/t", "/kafka-acl/Topic/t", "/latest_producer_id_block", "/kafka",
    "/delegation_token", "/consumers/g",
])
def test_a_znode_is_the_creators_and_readable_by_everyone(path: str) -> None:
    assert znode_acl(path) == [CREATOR_ALL, WORLD_READ]


@pytest.mark.parametrize("path", [
    "/config/users", "/config/users/alice", "/config/users/alice/clients/c", "/config/users/<default>",
    "/config/brokers", "/config/brokers/1", "/config/brokers/<default>", "/delegation_token/tokens",
    "/delegation_token/tokens/id",
])
def test_a_sensitive_znode_is_only_the_creators(path: str) -> None:
    assert md.sensitive_path(path)
    assert znode_acl(path) == [CREATOR_ALL]


def test_the_old_consumers_path_stays_open() -> None:
    assert znode_acl("/consumers") == [ACL(Permissions.ALL, Id("world", "anyone"))]


def test_a_transaction_creates_with_the_acl_of_each_path() -> None:
    tx = SecureAclClient(hosts="127.0.0.1:1").transaction()
    tx.create("/brokers/topics/t", b"{}")
    tx.create("/config/users/alice", b"{}", acl=[WORLD_READ])  # a caller's ACL is replaced
    assert [op.acl for op in tx.operations] == [[CREATOR_ALL, WORLD_READ], [CREATOR_ALL]]


def _properties(tmp_path: Path, text: str | None, **given: str) -> ZooKeeperSaslProperties:
    path = tmp_path / "jaas.conf"
    if text is not None:
        path.write_text(text)
    return ZooKeeperSaslProperties(login_config=str(path), **given)


def test_the_login_is_the_client_sections_digest_credentials(tmp_path: Path) -> None:
    login = zookeeper_login(_properties(tmp_path, CLIENT))
    assert login == ZooKeeperLogin("kafka", "kafka-secret", f"JAAS section Client of {tmp_path / 'jaas.conf'}")
    assert "kafka-secret" not in repr(login)
    assert login is not None and login.sasl_options() == {
        "mechanism": "DIGEST-MD5", "username": "kafka", "password": "kafka-secret"}
    url = ZooKeeperSaslProperties(login_config=f"={(tmp_path / 'jaas.conf').as_uri()}")  # -D...config==file:...
    assert zookeeper_login(url) == login
    other = zookeeper_login(_properties(tmp_path, CLIENT.replace("Client", "ZkClient"), context_name="ZkClient"))
    assert other is not None and other.username == "kafka"


def test_no_file_or_no_section_is_no_login(tmp_path: Path) -> None:
    assert zookeeper_login(ZooKeeperSaslProperties()) is None
    assert zookeeper_login(_properties(tmp_path, CLIENT.replace("Client", "KafkaServer"))) is None
    assert zookeeper_login(_properties(tmp_path, "KafkaServer { a.B required; };", sasl_client="false")) is None


@pytest.mark.parametrize(("text", "given", "message"), [
    (None, {}, "Exception while loading Zookeeper JAAS login context [java.security.auth.login.config={path}, "
               "zookeeper.sasl.client=default:true, zookeeper.sasl.clientconfig=default:Client]: cannot read "
               "{path}: No such file or directory"),
    ("Client {", {}, "Exception while loading Zookeeper JAAS login context [java.security.auth.login.config="
                     "{path}, zookeeper.sasl.client=default:true, zookeeper.sasl.clientconfig=default:Client]: "
                     "{path}: expected [}}], read [end of file]"),
    (CLIENT, {"sasl_client": "false"},
     "Exception while determining if ZooKeeper is secure [java.security.auth.login.config={path}, "
     "zookeeper.sasl.client=false, zookeeper.sasl.clientconfig=default:Client]: JAAS configuration is present, "
     "but system property zookeeper.sasl.client is set to false, which disables SASL in the ZooKeeper client"),
    ("Client { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true; };", {},
     "JAAS section Client of {path}: kopfka logs in to ZooKeeper with SASL DIGEST-MD5 only, from a "
     "org.apache.zookeeper.server.auth.DigestLoginModule entry; found com.sun.security.auth.module.Krb5LoginModule"),
    ("Client { };", {}, "JAAS section Client of {path}: kopfka logs in to ZooKeeper with SASL DIGEST-MD5 only, "
                        "from a org.apache.zookeeper.server.auth.DigestLoginModule entry; found no login module"),
    ('Client { org.apache.zookeeper.server.auth.DigestLoginModule required username="kafka"; };', {},
     "JAAS section Client of {path}: the org.apache.zookeeper.server.auth.DigestLoginModule entry needs username "
     "and password options"),
])
def test_a_login_that_cannot_be_used_is_a_configuration_error(tmp_path: Path, text: str | None,
                                                              given: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        zookeeper_login(_properties(tmp_path, text, **given))
    assert str(raised.value) == message.format(path=tmp_path / "jaas.conf")


BASE = {"broker.id": "1", "zookeeper.connect": "127.0.0.1:2181/kafka"}


def test_secure_acls_need_a_login_as_in_kafka(tmp_path: Path) -> None:
    config = build_config({**BASE, "zookeeper.set.acl": "true"})
    with pytest.raises(ConfigError) as raised:
        ZooKeeperSecurity.from_settings(config.zookeeper)
    assert str(raised.value) == (
        "zookeeper.set.acl is true, but ZooKeeper client TLS configuration identifying at least "
        "zookeeper.ssl.client.enable, zookeeper.clientCnxnSocket, and zookeeper.ssl.keystore.location was not "
        "present and the verification of the JAAS login file failed [java.security.auth.login.config=null, "
        "zookeeper.sasl.client=default:true, zookeeper.sasl.clientconfig=default:Client] (kopfka logs in to "
        "ZooKeeper with SASL only: set -Djava.security.auth.login.config=<JAAS file> in KAFKA_OPTS)")
    assert ZooKeeperSecurity.from_settings(build_config(BASE).zookeeper) == PLAIN


def test_the_brokers_client_logs_in_and_sets_acls_as_configured(tmp_path: Path) -> None:
    sasl = _properties(tmp_path, CLIENT)
    plain = zookeeper_client(build_config(BASE).zookeeper)
    assert type(plain) is KazooClient and plain._connection.sasl_options is None
    secure = zookeeper_client(build_config({**BASE, "zookeeper.set.acl": "true"}, zookeeper_sasl=sasl).zookeeper)
    assert isinstance(secure, SecureAclClient) and secure.chroot == "/kafka"
    assert secure._connection.sasl_options == {"mechanism": "DIGEST-MD5", "username": "kafka",
                                               "password": "kafka-secret"}
    login_only = zookeeper_client(build_config(BASE, zookeeper_sasl=sasl).zookeeper)
    assert type(login_only) is KazooClient and login_only._connection.sasl_options is not None


class FakeClient:
    """What :func:`start_client` and :func:`on_login_refused` use of kazoo's client: the first read fails with
    ``error`` while the client is in ``state``."""

    def __init__(self, error: Exception | None = None, state: str = KeeperState.CONNECTED) -> None:
        self.error, self.client_state = error, state
        self.hosts = [("127.0.0.1", 2181)]
        self.calls: list[str] = []
        self.listeners: list[Callable[[str], object]] = []

    def start(self, timeout: float) -> None:
        self.calls.append("start")

    def exists(self, path: str) -> object:
        self.calls.append("exists")
        if self.error is not None:
            raise self.error
        return object()

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")

    def add_listener(self, listener: Callable[[str], object]) -> None:
        self.listeners.append(listener)


LOGIN = ZooKeeperLogin("kafka", "kafka-secret", "JAAS section Client of /j.conf")


def test_start_waits_for_the_login_and_reports_a_refused_one() -> None:
    accepted = FakeClient()
    start_client(accepted, timeout=1, login=LOGIN)
    assert accepted.calls == ["start", "exists"]
    plain = FakeClient()
    start_client(plain, timeout=1, login=None)
    assert plain.calls == ["start"]
    for refused in (FakeClient(AuthFailedError(), KeeperState.AUTH_FAILED), FakeClient(SessionClosedRequireSaslError()),
                    FakeClient(ConnectionLoss(), KeeperState.CLOSED)):  # enforce.auth: kazoo's thread ends
        with pytest.raises(ZooKeeperLoginRefusedError) as raised:
            start_client(refused, timeout=1, login=LOGIN)
        assert str(raised.value) == (
            "ZooKeeper at 127.0.0.1:2181 refused the broker's SASL DIGEST-MD5 login as 'kafka' (JAAS section Client "
            "of /j.conf): wrong username or password, or a user ZooKeeper does not know (Auth failed either before "
            "or while waiting for connection)")
        assert refused.calls == ["start", "exists", "stop", "close"]
    dropped = FakeClient(ConnectionLoss(), KeeperState.CONNECTING)  # not about the login: as it came
    with pytest.raises(ConnectionLoss):
        start_client(dropped, timeout=1, login=LOGIN)


def test_a_login_refused_on_a_later_connection_is_reported() -> None:
    zk = FakeClient()
    reports: list[str] = []
    on_login_refused(zk, lambda: reports.append("refused"))
    (listener,) = zk.listeners
    for state, kazoo_state in ((KazooState.SUSPENDED, KeeperState.CONNECTING), (KazooState.LOST, KeeperState.CLOSED),
                               (KazooState.LOST, KeeperState.EXPIRED_SESSION)):
        zk.client_state = kazoo_state
        listener(state)
    assert reports == []  # a stop, an expired session: not a refused login
    zk.client_state = KeeperState.AUTH_FAILED
    listener(KazooState.LOST)
    assert reports == ["refused"]
