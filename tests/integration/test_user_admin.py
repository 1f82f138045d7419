"""The KafkaUser reconcile's admin client (``reconcile/user_admin.KafkaUserAdmin``) against three real kopfka brokers
secured as the operator secures a cluster: the ``REPLICATION`` listener is mutual TLS (replication, and the
operator's admin client, whose certificate is a super user), Kafka's ACL authorizer is on, and a ``SCRAM`` listener
(SASL_SSL, SCRAM-SHA-512) is where users log in.

SCRAM credentials, ACLs and quotas are checked as they appear, change and disappear through other clients' own
calls — confluent-kafka's ``describe_user_scram_credentials`` / ``describe_acls``, and Kafka's storage of quotas in
ZooKeeper (``/config/users/<user>``) — and a SCRAM client logs in with the password, produces where its ACLs allow,
and is refused once its credential is deleted.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    NewTopic,
)
from tests import user_checks
from tests.brokers import BrokersAlive
from tests.certs import CertificateAuthority
from tests.user_checks import Acl
from tests.waiting import wait_for

from kafka_broker.local.cluster import LocalCluster, free_port
from kafka_operator.model.access import AdminConnection
from kafka_operator.model.user import AclBinding
from kafka_operator.reconcile.user_admin import KafkaUserAdmin, UserAdminError

pytestmark = pytest.mark.integration

OPERATOR = "CN=kopfka-operator,O=kopfka"
BROKER = "CN=localhost,O=kopfka"
LISTENERS = {"REPLICATION": "SSL", "SCRAM": "SASL_SSL"}
TIMEOUT = 30.0


@dataclass
class Secured:
    cluster: LocalCluster
    dir: Path
    ca: CertificateAuthority
    ports: dict[str, dict[int, int]]
    connection: AdminConnection

    def bootstrap(self, listener: str) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports[listener].values())

    def operator_client(self) -> AdminClient:
        """An independent admin client with the operator's identity (a super user)."""
        return AdminClient(self.connection.confluent_config())

    def scram_config(self, user: str, password: str) -> dict[str, str]:
        return {"bootstrap.servers": self.bootstrap("SCRAM"), "security.protocol": "SASL_SSL",
                "ssl.ca.location": str(self.dir / "ca.pem"), "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": user, "sasl.password": password}


@pytest.fixture(scope="module")
def secured(module_cluster_factory, tmp_path_factory) -> Secured:
    folder = tmp_path_factory.mktemp("user-admin")
    ca = CertificateAuthority(key_type="rsa")
    ca.write_pem(folder / "ca.pem")
    ca.server(dns=["localhost"], ips=["127.0.0.1"], subject=BROKER).write_pem(folder / "broker.pem")
    operator = ca.client(OPERATOR)
    ports = {name: {i: free_port("127.0.0.1") for i in (1, 2, 3)} for name in LISTENERS}
    overrides = {
        "listener.security.protocol.map": ",".join(f"{name}:{protocol}" for name, protocol in LISTENERS.items()),
        "inter.broker.listener.name": "REPLICATION",
        "listener.name.replication.ssl.client.auth": "required",
        "listener.name.scram.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "ssl.keystore.type": "PEM", "ssl.keystore.location": str(folder / "broker.pem"),
        "ssl.truststore.type": "PEM", "ssl.truststore.location": str(folder / "ca.pem"),
        "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
        "super.users": f"User:{BROKER};User:{OPERATOR}",
    }
    per_broker = {}
    for i in (1, 2, 3):
        listeners = ",".join(f"{name}://127.0.0.1:{ports[name][i]}" for name in LISTENERS)
        per_broker[i] = {"listeners": listeners, "advertised.listeners": listeners}
    cluster = module_cluster_factory(brokers=3, overrides=overrides, per_broker_overrides=per_broker)
    bootstrap = ",".join(f"127.0.0.1:{port}" for port in ports["REPLICATION"].values())
    connection = AdminConnection(bootstrap, ca_pem=ca.pem(), cert_pem=operator.chain_pem(),
                                 key_pem=operator.key_pem())
    return Secured(cluster, folder, ca, ports, connection)


@pytest.fixture
def admin(secured: Secured):
    client = KafkaUserAdmin(secured.connection, timeout=TIMEOUT)
    yield client
    client.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- what other clients see ------------------------------------------------------------------------------


def described_scram(secured: Secured, user: str) -> dict[str, int]:
    client = secured.operator_client()
    return user_checks.described_scram(client, user, timeout=TIMEOUT)


def described_acls(secured: Secured, principal: str) -> set[Acl]:
    return user_checks.described_acls(secured.operator_client(), principal, timeout=TIMEOUT)


def stored_quotas(secured: Secured, user: str) -> dict[str, str]:
    return user_checks.stored_quotas(secured.cluster.zookeeper_connect, user)


def can_log_in(secured: Secured, user: str, password: str) -> bool:
    """A SCRAM-SHA-512 login on every broker's SASL_SSL listener (Metadata needs no ACL)."""
    for port in secured.ports["SCRAM"].values():
        client = AdminClient({**secured.scram_config(user, password), "bootstrap.servers": f"127.0.0.1:{port}"})
        try:
            client.list_topics(timeout=5)
        except KafkaException:
            return False
    return True


def produce(secured: Secured, user: str, password: str, topic: str) -> str | None:
    """Produce one record as ``user``: None when delivered, else the error's name."""
    producer = Producer({**secured.scram_config(user, password), "message.timeout.ms": 15000})
    errors: list[str | None] = []
    producer.produce(topic, b"x", partition=0, on_delivery=lambda err, _m: errors.append(err and err.name()))
    producer.flush(30)
    return errors[0] if errors else "NOT_DELIVERED"


def alive(secured: Secured) -> list[BrokersAlive]:
    return [BrokersAlive(secured.cluster)]


# --- tests -----------------------------------------------------------------------------------------------


def test_scram_credentials_appear_let_the_user_in_and_disappear(secured: Secured, admin: KafkaUserAdmin) -> None:
    user, password = unique("alice"), "s3cret-" + uuid.uuid4().hex
    assert admin.scram_mechanisms(user) == frozenset()
    admin.upsert_scram(user, password)
    assert described_scram(secured, user) == {"SCRAM_SHA_512": 4096}
    assert admin.scram_mechanisms(user) == {"SCRAM-SHA-512"}
    wait_for(lambda: can_log_in(secured, user, password), timeout=60, what=f"{user} logging in on every broker",
             alive=alive(secured))
    assert not can_log_in(secured, user, "wrong")

    rotated = "rotated-" + uuid.uuid4().hex
    admin.upsert_scram(user, rotated)
    wait_for(lambda: can_log_in(secured, user, rotated) and not can_log_in(secured, user, password), timeout=60,
             what="only the new password accepted", alive=alive(secured))

    admin.delete_scram(user)
    assert described_scram(secured, user) == {}
    assert admin.scram_mechanisms(user) == frozenset()
    wait_for(lambda: not can_log_in(secured, user, rotated), timeout=60, what=f"{user} refused after deletion",
             alive=alive(secured))
    admin.delete_scram(user)  # nothing left: not an error


def test_acls_appear_change_disappear_and_take_effect(secured: Secured, admin: KafkaUserAdmin) -> None:
    user, password = unique("carol"), uuid.uuid4().hex
    principal = f"User:{user}"
    topic = unique("orders")
    client = secured.operator_client()
    for future in client.create_topics([NewTopic(topic, 1, 3)], request_timeout=TIMEOUT).values():
        future.result(60)
    admin.upsert_scram(user, password)
    wait_for(lambda: can_log_in(secured, user, password), timeout=60, what=f"{user} logging in",
             alive=alive(secured))
    assert produce(secured, user, password, topic) == "TOPIC_AUTHORIZATION_FAILED"

    write = {AclBinding("TOPIC", topic[:10], "PREFIXED", principal, "*", op, "ALLOW") for op in ("WRITE", "DESCRIBE")}
    idempotent = AclBinding("CLUSTER", "kafka-cluster", "LITERAL", principal, "*", "IDEMPOTENT_WRITE", "ALLOW")
    denied = AclBinding("GROUP", "g", "LITERAL", principal, "10.0.0.1", "READ", "DENY")
    other = AclBinding("TOPIC", topic, "LITERAL", "User:someone-else", "*", "READ", "ALLOW")
    admin.create_acls(write | {idempotent, denied, other})
    assert admin.describe_acls(principal) == write | {idempotent, denied}
    assert described_acls(secured, principal) == {
        ("TOPIC", topic[:10], "PREFIXED", "*", "WRITE", "ALLOW"),
        ("TOPIC", topic[:10], "PREFIXED", "*", "DESCRIBE", "ALLOW"),
        ("BROKER", "kafka-cluster", "LITERAL", "*", "IDEMPOTENT_WRITE", "ALLOW"),  # librdkafka's name for CLUSTER
        ("GROUP", "g", "LITERAL", "10.0.0.1", "READ", "DENY"),
    }
    wait_for(lambda: produce(secured, user, password, topic) is None, timeout=60,
             what=f"{user} allowed to produce to {topic}", alive=alive(secured))

    admin.delete_acls(write | {denied})
    assert described_acls(secured, principal) == {("BROKER", "kafka-cluster", "LITERAL", "*", "IDEMPOTENT_WRITE",
                                                   "ALLOW")}
    assert admin.describe_acls("User:someone-else") == {other}
    wait_for(lambda: produce(secured, user, password, topic) == "TOPIC_AUTHORIZATION_FAILED", timeout=60,
             what=f"{user} refused again", alive=alive(secured))
    admin.delete_acls([idempotent, other])
    assert described_acls(secured, principal) == set() and admin.describe_acls(principal) == frozenset()
    admin.delete_scram(user)


@pytest.mark.parametrize("user", ["dave", "CN=erin"], ids=["scram-user", "tls-user"])
def test_quotas_appear_change_and_disappear(secured: Secured, admin: KafkaUserAdmin, user: str) -> None:
    user = f"{user}-{uuid.uuid4().hex[:6]}"
    assert admin.describe_quotas(user) == {}
    admin.alter_quotas(user, set_quotas={"producer_byte_rate": 1024, "request_percentage": 50}, remove=())
    assert admin.describe_quotas(user) == {"producer_byte_rate": 1024.0, "request_percentage": 50.0}
    assert stored_quotas(secured, user) == {"producer_byte_rate": "1024", "request_percentage": "50.0"}

    admin.alter_quotas(user, set_quotas={"consumer_byte_rate": 2048}, remove=["producer_byte_rate"])
    assert admin.describe_quotas(user) == {"consumer_byte_rate": 2048.0, "request_percentage": 50.0}
    assert stored_quotas(secured, user) == {"consumer_byte_rate": "2048", "request_percentage": "50.0"}

    admin.alter_quotas(user, set_quotas={}, remove=["consumer_byte_rate", "request_percentage"])
    assert admin.describe_quotas(user) == {}
    assert stored_quotas(secured, user) == {}


def test_unreachable_brokers_fail_within_the_timeout() -> None:
    nowhere = AdminConnection(f"127.0.0.1:{free_port('127.0.0.1')}")
    client = KafkaUserAdmin(nowhere, timeout=3)
    try:
        for call in (lambda: client.scram_mechanisms("x"), lambda: client.describe_acls("User:x"),
                     lambda: client.describe_quotas("x")):
            started = time.monotonic()
            with pytest.raises(UserAdminError):
                call()
            assert time.monotonic() - started < 10
    finally:
        client.close()


def test_a_reconciled_user_logs_in_with_its_generated_password_until_it_is_deleted(secured: Secured) -> None:
    """``reconcile_user`` / ``delete_user`` with the real admin client (the Kubernetes API in memory): the password
    the reconcile generated and wrote to the Secret logs in; ACLs and quotas follow the spec; deletion removes
    everything and the password stops working."""
    from tests.unit.operator.reconcile_fakes import World, cluster_body, user_body

    from kafka_operator.reconcile.user import delete_user, reconcile_user

    world = World()
    world.ctx.user_admin_factory = KafkaUserAdmin
    listeners = [{"name": "scram", "port": 9094, "tls": True, "authentication": "scram-sha-512"}]
    status = {"readyBrokers": 3, "listeners": [{"name": "scram", "type": "internal", "securityProtocol": "SASL_SSL",
                                                "bootstrapServers": secured.bootstrap("SCRAM")}]}
    world.kube.add(cluster_body(bootstrapOverride=secured.connection.bootstrap, listeners=listeners, status=status))
    for name, data in (("demo-operator-certs", {"tls.crt": secured.connection.cert_pem,
                                                "tls.key": secured.connection.key_pem, "ca.crt": secured.ca.pem()}),
                       ("demo-cluster-ca-cert", {"ca.crt": secured.ca.pem()})):
        world.kube.add({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "kafka"},
                        "data": {k: base64.b64encode(str(v).encode()).decode() for k, v in data.items()}})
    user = unique("frank")
    topic = unique("ledger")
    acls = [{"resource": {"type": "topic", "name": topic}, "operations": ["Write", "Describe"]}]
    body = world.kube.add(user_body(user, authorization={"type": "simple", "acls": acls},
                                    quotas={"producerByteRate": 4096}))
    assert reconcile_user(world.ctx, body)["phase"] == "Ready"

    secret = {k: base64.b64decode(v).decode() for k, v in world.kube.find("Secret", user)["data"].items()}
    password = secret["password"]
    assert secret["bootstrap.scram"] == secured.bootstrap("SCRAM") and secret["security.protocol.scram"] == "SASL_SSL"
    assert secret["ca.crt"] == secured.ca.pem() and f'password="{password}"' in secret["sasl.jaas.config"]
    assert described_scram(secured, user) == {"SCRAM_SHA_512": 4096}
    assert described_acls(secured, f"User:{user}") == {("TOPIC", topic, "LITERAL", "*", "WRITE", "ALLOW"),
                                                       ("TOPIC", topic, "LITERAL", "*", "DESCRIBE", "ALLOW")}
    assert stored_quotas(secured, user) == {"producer_byte_rate": "4096"}
    client = secured.operator_client()
    for future in client.create_topics([NewTopic(topic, 1, 3)], request_timeout=TIMEOUT).values():
        future.result(60)
    wait_for(lambda: produce(secured, user, password, topic) is None, timeout=60,
             what=f"{user} producing with the generated password", alive=alive(secured))

    body = world.kube.find("KafkaUser", user)
    body["spec"]["quotas"] = {"consumerByteRate": 100}
    body["spec"]["authorization"]["acls"][0]["operations"] = ["Describe"]
    body["metadata"]["generation"] = 2
    assert reconcile_user(world.ctx, world.kube.add(body))["phase"] == "Ready"
    assert described_acls(secured, f"User:{user}") == {("TOPIC", topic, "LITERAL", "*", "DESCRIBE", "ALLOW")}
    assert stored_quotas(secured, user) == {"consumer_byte_rate": "100"}

    delete_user(world.ctx, world.kube.find("KafkaUser", user))
    assert described_scram(secured, user) == {}
    assert described_acls(secured, f"User:{user}") == set()
    assert stored_quotas(secured, user) == {}
    wait_for(lambda: not can_log_in(secured, user, password), timeout=60, what=f"{user} refused after deletion",
             alive=alive(secured))
