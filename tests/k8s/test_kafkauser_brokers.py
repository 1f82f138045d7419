"""KafkaUser end to end: credentials, ACLs and quotas the operator puts into real, secured brokers.

What is real: the API server, the chart's CRDs, RBAC and admission webhook, the operator (a local process), three
kopfka broker processes with their ZooKeeper, and every Kafka client call. The brokers are secured as the operator
secures a cluster: a mutual-TLS ``REPLICATION`` listener (replication, and the operator's admin client as a super
user), a ``TLS`` listener (SASL_SSL, SCRAM-SHA-512) where users log in, Kafka's ACL authorizer on. Their certificates
come from a CA the test makes; the KafkaCluster ``real`` names that CA (a Secret) as its cluster and clients CA, so
the certificate the operator issues itself (``CN=real-operator,O=kopfka.io``) is trusted by the brokers, which list
it among their super users. ``spec.bootstrapOverride`` points the operator at the brokers' ``REPLICATION`` listener
and ``spec.zookeeper.connect`` at their ZooKeeper, since they are not pods behind the cluster's Services.

What the test plays: the kubelet. No kubelet runs here, so the test marks the StatefulSet's broker pods Running and
Ready through the status subresource; the cluster's ``status.readyBrokers``, which the user reconcile waits for,
follows from them.

What other clients see is the judge: confluent-kafka's DescribeUserScramCredentials and DescribeAcls (as a super
user with the test's own certificate), the quotas as Kafka stores them in ZooKeeper (``/config/users/<user>``), a
SCRAM login and a produce with the password from the user's Secret, a mutual-TLS login with a TLS user's certificate.
Every wait polls a condition (``tests.waiting``), with the operator, the control plane and the brokers watched.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    NewTopic,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from tests import user_checks
from tests.brokers import BrokersAlive
from tests.certs import CertificateAuthority, Identity
from tests.user_checks import Acl
from tests.waiting import wait_for

from kafka_broker.local.cluster import LocalCluster
from kafka_broker.local.processes import free_port

from .local_cluster import LocalKubernetes, Process
from .test_secured_cluster import play_kubelet, signed_by

pytestmark = [pytest.mark.k8s, pytest.mark.integration]

CLUSTER = "real"
CA_SECRET = "real-ca"
OPERATOR_PRINCIPAL = "CN=real-operator,O=kopfka.io"
"""The subject of the certificate the operator issues itself from the cluster CA (names.operator_principal)."""
BROKER_PRINCIPAL = "CN=real-broker,O=kopfka.io"
ADMIN_PRINCIPAL = "CN=test-admin,O=kopfka.io"
"""The test's own super user, for looking at the brokers independently of the operator."""
LISTENERS = {"REPLICATION": "SSL", "TLS": "SASL_SSL"}
BROKER_PODS = f"kopfka.io/cluster={CLUSTER},app.kubernetes.io/component=broker"
TOPIC = "orders"
TIMEOUT = 30.0
"""Upper bound of one admin request."""
WAIT = 180.0
"""Upper bound of one wait for the operator (a reconcile, a retry after an error, a broker's ZooKeeper watch)."""



@dataclass
class RealBrokers:
    cluster: LocalCluster
    ca: CertificateAuthority
    admin: Identity
    ports: dict[str, dict[int, int]]
    """listener → broker id → port."""

    def bootstrap(self, listener: str) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports[listener].values())

    def admin_client(self) -> AdminClient:
        """A super user's admin client on the mutual-TLS listener, with the test's own certificate."""
        return AdminClient(
            {
                "bootstrap.servers": self.bootstrap("REPLICATION"),
                "security.protocol": "SSL",
                "ssl.ca.pem": self.ca.pem(),
                "ssl.certificate.pem": self.admin.chain_pem(),
                "ssl.key.pem": self.admin.key_pem(),
            }
        )


@pytest.fixture(scope="module")
def brokers(
    module_cluster_factory: Callable[..., LocalCluster], tmp_path_factory: pytest.TempPathFactory
) -> RealBrokers:
    folder = tmp_path_factory.mktemp("kafkauser-brokers")
    ca = CertificateAuthority(subject="CN=real test CA,O=kopfka.io", key_type="rsa")
    ca.write_pem(folder / "ca.pem")
    broker = ca.server(dns=["localhost"], ips=["127.0.0.1"], subject=BROKER_PRINCIPAL, key_type="rsa")
    broker.write_pem(folder / "broker.pem")
    ports = {name: {i: free_port("127.0.0.1") for i in (1, 2, 3)} for name in LISTENERS}
    overrides = {
        "listener.security.protocol.map": ",".join(f"{name}:{protocol}" for name, protocol in LISTENERS.items()),
        "inter.broker.listener.name": "REPLICATION",
        "listener.name.replication.ssl.client.auth": "required",
        "listener.name.tls.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(folder / "broker.pem"),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(folder / "ca.pem"),
        "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
        "super.users": ";".join(f"User:{p}" for p in (BROKER_PRINCIPAL, OPERATOR_PRINCIPAL, ADMIN_PRINCIPAL)),
    }
    per_broker = {}
    for i in (1, 2, 3):
        listeners = ",".join(f"{name}://127.0.0.1:{ports[name][i]}" for name in LISTENERS)
        per_broker[i] = {"listeners": listeners, "advertised.listeners": listeners}
    cluster = module_cluster_factory(brokers=3, overrides=overrides, per_broker_overrides=per_broker)
    real = RealBrokers(cluster, ca, ca.client(ADMIN_PRINCIPAL, key_type="rsa"), ports)
    client = real.admin_client()
    for future in client.create_topics([NewTopic(TOPIC, 1, 3)], request_timeout=TIMEOUT).values():
        future.result(60)
    return real


@pytest.fixture(scope="module")
def alive(kube: LocalKubernetes, operator: Process, brokers: RealBrokers) -> list[Any]:
    return [operator, *kube.processes, BrokersAlive(brokers.cluster)]


def wait(alive: list[Any], condition: Callable[[], Any], what: str) -> Any:
    return wait_for(condition, timeout=WAIT, interval=0.5, what=what, alive=alive)


@pytest.fixture(scope="module")
def secured(kube: LocalKubernetes, operator: Process, brokers: RealBrokers, alive: list[Any]) -> Iterator[str]:
    """A namespace with the KafkaCluster ``real`` (its own CA, SCRAM listener, ACL authorizer) whose three broker
    pods the test has marked Ready: ``status.readyBrokers`` is 3."""
    name = f"u-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    ca_key = brokers.ca.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    ca_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": CA_SECRET},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": _b64(brokers.ca.pem()), "tls.key": _b64(ca_key)},
    }
    kube.kubectl("apply", "-n", name, "-f", "-", input=yaml.safe_dump(ca_secret))
    doc = {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": CLUSTER},
        "spec": {
            "brokers": 3,
            "zookeeper": {"connect": brokers.cluster.zookeeper_connect},
            "bootstrapOverride": brokers.bootstrap("REPLICATION"),
            "listeners": [{"name": "tls", "port": 9093, "tls": True, "authentication": "scram-sha-512"}],
            "authorization": {"type": "simple"},
            "certificates": {"clusterCa": {"secretName": CA_SECRET}, "clientsCa": {"secretName": CA_SECRET}},
        },
    }
    kube.kubectl("apply", "-n", name, "-f", "-", input=yaml.safe_dump(doc))
    wait(alive, lambda: len(broker_pods(kube, name)) == 3, "3 broker pods from the StatefulSet")
    play_kubelet(kube, name, *broker_pods(kube, name))
    wait(alive, lambda: cluster_status(kube, name).get("readyBrokers") == 3, "status.readyBrokers 3")
    operator_cert = certificate((secret(kube, name, f"{CLUSTER}-operator-certs") or {})["tls.crt"])
    assert operator_cert.subject.rfc4514_string() == OPERATOR_PRINCIPAL
    assert signed_by(operator_cert, brokers.ca.certificate)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


# --- the Kubernetes side -------------------------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def get(kube: LocalKubernetes, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    result = kube.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def broker_pods(kube: LocalKubernetes, namespace: str) -> list[str]:
    out = kube.kubectl("get", "pods", "-n", namespace, "-l", BROKER_PODS, "-o", "json").stdout
    return sorted(p["metadata"]["name"] for p in json.loads(out)["items"])


def cluster_status(kube: LocalKubernetes, namespace: str) -> dict[str, Any]:
    return (get(kube, namespace, "kafkacluster", CLUSTER) or {}).get("status") or {}


def user_status(kube: LocalKubernetes, namespace: str, name: str) -> dict[str, Any]:
    return (get(kube, namespace, "kafkauser", name) or {}).get("status") or {}


def secret(kube: LocalKubernetes, namespace: str, name: str) -> dict[str, bytes] | None:
    found = get(kube, namespace, "secret", name)
    if found is None:
        return None
    return {k: base64.b64decode(v) for k, v in (found.get("data") or {}).items()}


def certificate(pem: bytes | str) -> x509.Certificate:
    return x509.load_pem_x509_certificates(pem if isinstance(pem, bytes) else pem.encode())[0]


def user_doc(name: str, authentication: str, *, acls: list[dict[str, Any]], **spec: Any) -> str:
    doc = {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaUser",
        "metadata": {"name": name},
        "spec": {
            "cluster": CLUSTER,
            "authentication": {"type": authentication},
            "authorization": {"type": "simple", "acls": acls},
            **spec,
        },
    }
    return yaml.safe_dump(doc)


def event_reasons(kube: LocalKubernetes, namespace: str, name: str) -> list[str]:
    out = kube.kubectl("get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}",
                       "-o", "json").stdout
    return [e["reason"] for e in json.loads(out)["items"]]


# --- what the brokers say ------------------------------------------------------------------------------------


def described_scram(brokers: RealBrokers, user: str) -> dict[str, int]:
    client = brokers.admin_client()
    return user_checks.described_scram(client, user, timeout=TIMEOUT)


def described_acls(brokers: RealBrokers, principal: str) -> set[Acl]:
    return user_checks.described_acls(brokers.admin_client(), principal, timeout=TIMEOUT)


def stored_quotas(brokers: RealBrokers, user: str) -> dict[str, str]:
    return user_checks.stored_quotas(brokers.cluster.zookeeper_connect, user)


def scram_config(brokers: RealBrokers, credentials: dict[str, bytes], password: bytes | None = None) -> dict[str, Any]:
    """A SCRAM-SHA-512 client of the ``TLS`` listener, from the user's Secret: its username, password (or
    ``password``) and the CA it says to trust."""
    return {
        "bootstrap.servers": brokers.bootstrap("TLS"),
        "security.protocol": "SASL_SSL",
        "ssl.ca.pem": credentials["ca.crt"].decode(),
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": credentials["username"].decode(),
        "sasl.password": (password or credentials["password"]).decode(),
    }


def can_log_in(brokers: RealBrokers, config: dict[str, Any]) -> bool:
    """A login on every broker's SCRAM listener (Metadata needs no ACL)."""
    for port in brokers.ports["TLS"].values():
        client = AdminClient({**config, "bootstrap.servers": f"127.0.0.1:{port}"})
        try:
            client.list_topics(timeout=5)
        except KafkaException:
            return False
    return True


def produce(config: dict[str, Any], topic: str) -> str | None:
    """Produce one record: None when delivered, else the error's name."""
    producer = Producer({**config, "message.timeout.ms": 15000})
    errors: list[str | None] = []
    producer.produce(topic, b"x", partition=0, on_delivery=lambda err, _m: errors.append(err.name() if err else None))
    producer.flush(30)
    return errors[0] if errors else "NOT_DELIVERED"


def only_new_password_works(brokers: RealBrokers, credentials: dict[str, bytes], old: bytes) -> bool:
    return can_log_in(brokers, scram_config(brokers, credentials)) and not can_log_in(
        brokers, scram_config(brokers, credentials, old)
    )


# --- tests ---------------------------------------------------------------------------------------------------

ALICE_ACLS = [
    {"resource": {"type": "topic", "name": TOPIC}, "operations": ["Write", "Describe", "Read"]},
    {"resource": {"type": "group", "name": "orders-", "patternType": "prefix"}, "operations": ["Read"]},
]


def test_scram_user_lifecycle(kube: LocalKubernetes, brokers: RealBrokers, secured: str, alive: list[Any]) -> None:
    ns = secured
    quotas = {"producerByteRate": 1048576, "consumerByteRate": 2097152}
    kube.kubectl("apply", "-n", ns, "-f", "-", input=user_doc("alice", "scram-sha-512", acls=ALICE_ACLS,
                                                                quotas=quotas))
    wait(alive, lambda: user_status(kube, ns, "alice").get("phase") == "Ready", "alice Ready")
    status = user_status(kube, ns, "alice")
    assert status["username"] == "alice" and status["secret"] == "alice"

    # The Secret: the generated password, the client's JAAS line, the CA that signed the brokers' certificates.
    credentials = secret(kube, ns, "alice")
    assert credentials is not None
    assert {"username", "password", "sasl.jaas.config", "ca.crt"} <= credentials.keys()
    password = credentials["password"]
    assert credentials["username"] == b"alice" and len(password) >= 32
    assert f'username="alice" password="{password.decode()}";'.encode() in credentials["sasl.jaas.config"]
    assert certificate(credentials["ca.crt"]) == brokers.ca.certificate

    # The brokers: the SCRAM credential, one ACL per operation, the quotas. (Each broker learns of what the
    # operator wrote through its own ZooKeeper watches, so whichever broker answers is waited for.)
    read_group: Acl = ("GROUP", "orders-", "PREFIXED", "*", "READ", "ALLOW")
    topic_acls: set[Acl] = {("TOPIC", TOPIC, "LITERAL", "*", op, "ALLOW") for op in ("WRITE", "DESCRIBE", "READ")}
    wait(alive, lambda: described_scram(brokers, "alice") == {"SCRAM_SHA_512": 4096}, "alice's SCRAM credential")
    wait(alive, lambda: described_acls(brokers, "User:alice") == topic_acls | {read_group}, "alice's ACLs")
    assert stored_quotas(brokers, "alice") == {"producer_byte_rate": "1048576", "consumer_byte_rate": "2097152"}
    wait(alive, lambda: produce(scram_config(brokers, credentials), TOPIC) is None,
         "alice producing to orders with the password from her Secret")
    assert not can_log_in(brokers, scram_config(brokers, credentials, b"not-" + password))

    # The spec's ACLs change: the brokers' follow (Read on the topic goes, the rest stays).
    patch = {"spec": {"authorization": {"type": "simple", "acls": [
        {"resource": {"type": "topic", "name": TOPIC}, "operations": ["Write", "Describe"]}, ALICE_ACLS[1]]}}}
    kube.kubectl("patch", "kafkauser", "alice", "-n", ns, "--type=merge", "-p", json.dumps(patch))
    expected = (topic_acls - {("TOPIC", TOPIC, "LITERAL", "*", "READ", "ALLOW")}) | {read_group}
    wait(alive, lambda: described_acls(brokers, "User:alice") == expected, "alice's ACLs without Read on orders")

    # Rotation by annotation: a new password in the Secret, the old one refused; the annotation is consumed.
    kube.kubectl("annotate", "kafkauser", "alice", "-n", ns, "kopfka.io/rotate-password=now")
    rotated = wait(alive, lambda: (s := secret(kube, ns, "alice")) and s["password"] != password and s,
                   "a rotated password in the Secret")
    assert f'password="{rotated["password"].decode()}"'.encode() in rotated["sasl.jaas.config"]
    wait(alive, lambda: only_new_password_works(brokers, rotated, password), "only the rotated password accepted")
    wait(alive, lambda: "kopfka.io/rotate-password" not in
         ((get(kube, ns, "kafkauser", "alice") or {})["metadata"].get("annotations") or {}),
         "the rotation annotation removed")
    assert "PasswordRotated" in event_reasons(kube, ns, "alice")

    # Rotation by deleting the Secret: a new Secret with a new password.
    kube.kubectl("delete", "secret", "alice", "-n", ns)
    renewed = wait(alive, lambda: (s := secret(kube, ns, "alice")) and s["password"] != rotated["password"] and s,
                   "a new Secret with a new password")
    wait(alive, lambda: only_new_password_works(brokers, renewed, rotated["password"]),
         "only the new Secret's password accepted")
    wait(alive, lambda: produce(scram_config(brokers, renewed), TOPIC) is None, "alice producing again")

    # Deletion: credential, ACLs and quotas gone from the brokers, the login refused, the Secret collected.
    kube.kubectl("delete", "kafkauser", "alice", "-n", ns, "--timeout=240s", timeout=300)
    assert stored_quotas(brokers, "alice") == {}  # ZooKeeper itself: gone before the finalizer let go
    wait(alive, lambda: described_scram(brokers, "alice") == {}, "alice's SCRAM credential gone")
    wait(alive, lambda: described_acls(brokers, "User:alice") == set(), "alice's ACLs gone")
    wait(alive, lambda: not can_log_in(brokers, scram_config(brokers, renewed)), "alice refused after deletion")
    wait(alive, lambda: secret(kube, ns, "alice") is None, "alice's Secret garbage-collected")


def test_tls_user_gets_a_certificate_from_the_clients_ca(
    kube: LocalKubernetes, brokers: RealBrokers, secured: str, alive: list[Any]
) -> None:
    ns = secured
    acls = [{"resource": {"type": "topic", "name": TOPIC}, "operations": ["Describe"]}]
    kube.kubectl("apply", "-n", ns, "-f", "-", input=user_doc("bob", "tls", acls=acls))
    wait(alive, lambda: user_status(kube, ns, "bob").get("phase") == "Ready", "bob Ready")
    assert user_status(kube, ns, "bob")["username"] == "CN=bob"

    credentials = secret(kube, ns, "bob")
    assert credentials is not None
    assert {"user.crt", "user.key", "user.p12", "user.password", "ca.crt"} <= credentials.keys()
    assert "password" not in credentials
    cert = certificate(credentials["user.crt"])
    assert cert.subject.rfc4514_string() == "CN=bob"
    assert signed_by(cert, brokers.ca.certificate)  # the clients CA: the Secret the KafkaCluster names
    key = serialization.load_pem_private_key(credentials["user.key"], password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]
    stored = pkcs12.load_pkcs12(credentials["user.p12"], credentials["user.password"])
    assert stored.cert is not None and stored.cert.certificate == cert

    # The brokers: bob's ACL; bob logs in with his certificate on the mutual-TLS listener and sees the topic.
    describe: Acl = ("TOPIC", TOPIC, "LITERAL", "*", "DESCRIBE", "ALLOW")
    wait(alive, lambda: described_acls(brokers, "User:CN=bob") == {describe}, "bob's ACL")
    bob = AdminClient(
        {
            "bootstrap.servers": brokers.bootstrap("REPLICATION"),
            "security.protocol": "SSL",
            "ssl.ca.pem": credentials["ca.crt"].decode(),
            "ssl.certificate.pem": credentials["user.crt"].decode(),
            "ssl.key.pem": credentials["user.key"].decode(),
        }
    )
    wait(alive, lambda: TOPIC in bob.list_topics(timeout=10).topics, "bob seeing orders with his certificate")

    kube.kubectl("delete", "kafkauser", "bob", "-n", ns, "--timeout=240s", timeout=300)
    wait(alive, lambda: described_acls(brokers, "User:CN=bob") == set(), "bob's ACL gone")


def test_an_invalid_user_is_refused_at_admission(kube: LocalKubernetes, secured: str) -> None:
    """Write on a group: the CRD's validation rules refuse it. The API server checks them before it calls validating
    webhooks, so the reason kubectl prints is the CRD's; the operator's webhook judges the same rule but is not
    reached here."""
    acls = [{"resource": {"type": "group", "name": "orders-app"}, "operations": ["Write"]}]
    result = kube.kubectl("apply", "-n", secured, "-f", "-", input=user_doc("mallory", "scram-sha-512", acls=acls),
                          check=False)
    assert result.returncode != 0
    assert "a group has the operations Read, Describe, Delete" in result.stderr, result.stderr
    assert get(kube, secured, "kafkauser", "mallory") is None
