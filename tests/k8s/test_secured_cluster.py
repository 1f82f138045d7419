"""A secured KafkaCluster against a real API server: listeners, certificates, NetworkPolicies, renewal rolls.

No kubelet or scheduler runs here, so the test plays the node: it registers a Node object with an address (what
a NodePort listener is reached on) and marks broker pods scheduled there and Ready through the status
subresource, as a kubelet would. Everything else — Services with nodePorts Kubernetes allocates, the Secrets the
operator issues, the StatefulSet controller's pods, the rolling restarts — is the real thing.
"""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding

from .test_kafkacluster import get, wait_for

pytestmark = pytest.mark.k8s

NODE_ADDRESS = "10.89.0.7"
LISTENERS = [
    {"name": "tls", "port": 9093, "tls": True, "authentication": "scram-sha-512"},
    {"name": "external", "port": 9094, "type": "nodeport", "tls": True, "authentication": "scram-sha-512"},
]
BROKERS = "kopfka.io/cluster=demo,app.kubernetes.io/component=broker"


@pytest.fixture
def node(kube):
    """A Node object: its address is what NodePort listeners advertise and what broker certificates name."""
    name = f"node-{uuid.uuid4().hex[:6]}"
    doc = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))
    status = {"status": {"addresses": [{"type": "InternalIP", "address": NODE_ADDRESS}]}}
    kube.kubectl("patch", "node", name, "--subresource=status", "--type=merge", "-p", json.dumps(status))
    yield name
    kube.kubectl("delete", "node", name, "--wait=false", check=False)


def secured_cluster(**spec: Any) -> str:
    doc = {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": "demo"},
        "spec": {
            "brokers": 3,
            "zookeeper": {"replicas": 1},
            "listeners": LISTENERS,
            "authorization": {"type": "simple", "superUsers": ["admin"]},
            "certificates": {"validityDays": 1, "renewalDays": 0},
            **spec,
        },
    }
    return yaml.safe_dump(doc)


def secret(kube, namespace: str, name: str) -> dict[str, str] | None:
    found = get(kube, namespace, "secret", name)
    if not found:
        return None
    return {k: base64.b64decode(v).decode() for k, v in (found.get("data") or {}).items()}


def certificate(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates(pem.encode())[0]


def sans(cert: x509.Certificate) -> set[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {*ext.get_values_for_type(x509.DNSName), *(str(ip) for ip in ext.get_values_for_type(x509.IPAddress))}


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        ca.public_key().verify(  # type: ignore[union-attr, call-arg]
            cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm
        )
    except Exception:
        return False
    return cert.issuer == ca.subject


def pods(kube, namespace: str) -> dict[str, dict]:
    out = kube.kubectl("get", "pods", "-n", namespace, "-l", BROKERS, "-o", "json").stdout
    return {p["metadata"]["name"]: p for p in json.loads(out)["items"]}


def play_kubelet(kube, namespace: str, *names: str) -> None:
    """Report the pods Running and Ready with the node's address as hostIP. They are not bound to the Node: its
    lifecycle controller would mark pods on a node without a kubelet not ready."""
    for name in names:
        status = {
            "status": {
                "phase": "Running",
                "hostIP": NODE_ADDRESS,
                "conditions": [{"type": "Ready", "status": "True"}],
            }
        }
        kube.kubectl("patch", "pod", name, "-n", namespace, "--subresource=status", "--type=merge",
                     "-p", json.dumps(status))


def cluster_status(kube, namespace: str) -> dict:
    return (get(kube, namespace, "kafkacluster", "demo") or {}).get("status") or {}


def test_secured_cluster_objects_certificates_and_status(kube, operator, namespace, node):
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=secured_cluster())
    external = ["demo-external-bootstrap", *(f"demo-broker-{i}-external" for i in range(3))]
    certs = ["demo-cluster-ca", "demo-cluster-ca-cert", "demo-clients-ca", "demo-broker-certs", "demo-operator-certs"]
    wait_for(
        kube,
        operator,
        lambda: all(get(kube, namespace, "service", n) for n in external)
        and all(get(kube, namespace, "secret", n) for n in certs)
        and get(kube, namespace, "statefulset", "demo-broker"),
        "external Services, certificate Secrets and the StatefulSet",
    )

    # One NodePort Service per broker, selecting exactly its pod; Kubernetes allocated the ports.
    node_ports = {}
    for i in range(3):
        service = get(kube, namespace, "service", f"demo-broker-{i}-external")
        assert service["spec"]["type"] == "NodePort"
        assert service["spec"]["selector"]["statefulset.kubernetes.io/pod-name"] == f"demo-broker-{i}"
        node_ports[i] = service["spec"]["ports"][0]["nodePort"]
        assert 30000 <= node_ports[i] <= 32767
    assert len(set(node_ports.values())) == 3

    # Each broker advertises REPLICATION, the internal TLS listener and its node's address with its nodePort.
    config = get(kube, namespace, "configmap", "demo-config")["data"]
    properties = dict(line.split("=", 1) for line in config["server.properties"].splitlines() if "=" in line)
    assert properties["listener.security.protocol.map"] == "REPLICATION:SSL,TLS:SASL_SSL,EXTERNAL:SASL_SSL"
    assert properties["inter.broker.listener.name"] == "REPLICATION"
    assert properties["authorizer.class.name"] == "kafka.security.authorizer.AclAuthorizer"
    assert "User:admin" in properties["super.users"].split(";")
    pod_host = f"demo-broker-1.demo-brokers.{namespace}.svc.cluster.local"
    assert config["advertised-1"].split(",") == [
        f"REPLICATION://{pod_host}:9091",
        f"TLS://{pod_host}:9093",
        f"EXTERNAL://@HOST_IP@:{node_ports[1]}",
    ]

    # Certificates: broker certificates signed by the cluster CA and naming every address a client dials.
    ca = certificate(secret(kube, namespace, "demo-cluster-ca-cert")["ca.crt"])
    assert "ca.key" not in secret(kube, namespace, "demo-cluster-ca-cert")
    broker_certs = secret(kube, namespace, "demo-broker-certs")
    assert sorted(broker_certs) == ["broker-0.pem", "broker-1.pem", "broker-2.pem", "ca.crt", "clients-ca.crt"]
    broker_1 = certificate(broker_certs["broker-1.pem"])
    assert "PRIVATE KEY" in broker_certs["broker-1.pem"]
    assert broker_1.subject.rfc4514_string() == "CN=demo-broker,O=kopfka.io"
    assert signed_by(broker_1, ca)
    assert {pod_host, f"demo-bootstrap.{namespace}.svc.cluster.local", NODE_ADDRESS,
            f"demo-external-bootstrap.{namespace}.svc.cluster.local"} <= sans(broker_1)
    assert broker_1.not_valid_after_utc - broker_1.not_valid_before_utc <= datetime.timedelta(days=1, minutes=2)
    operator_cert = certificate(secret(kube, namespace, "demo-operator-certs")["tls.crt"])
    assert operator_cert.subject.rfc4514_string() == "CN=demo-operator,O=kopfka.io"
    assert signed_by(operator_cert, ca)

    # Pods mount the broker certificates and read their own advertised listeners.
    sts = get(kube, namespace, "statefulset", "demo-broker")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in sts["volumes"]}
    assert volumes["certs"]["secret"]["secretName"] == "demo-broker-certs"
    assert sts["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sts["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True

    # NetworkPolicies: ZooKeeper only from its brokers, the operator and itself; REPLICATION only from brokers
    # and the operator.
    policies = {p["metadata"]["name"]: p for p in get(kube, namespace, "networkpolicy")["items"]}
    assert set(policies) == {"demo-network-policy-broker", "demo-network-policy-zookeeper"}
    broker_rules = {r["ports"][0]["port"]: r for r in policies["demo-network-policy-broker"]["spec"]["ingress"]}
    assert broker_rules[9091]["from"]  # restricted
    assert not broker_rules[9094].get("from")  # no networkPolicyPeers: everyone

    # Status: the bootstrap address a client outside uses, and the CA it must trust.
    wait_for(kube, operator, lambda: len(pods(kube, namespace)) == 3, "3 broker pods")
    play_kubelet(kube, namespace, *pods(kube, namespace))

    def external_status() -> dict | None:
        entries = {e["name"]: e for e in cluster_status(kube, namespace).get("listeners") or []}
        found = entries.get("external")
        return found if found and found["bootstrapServers"] else None

    wait_for(kube, operator, external_status, "status.listeners with the NodePort bootstrap address")
    bootstrap_port = get(kube, namespace, "service", "demo-external-bootstrap")["spec"]["ports"][0]["nodePort"]
    entry = external_status()
    assert entry["bootstrapServers"] == f"{NODE_ADDRESS}:{bootstrap_port}"
    assert entry["securityProtocol"] == "SASL_SSL"
    assert certificate(entry["certificates"][0]) == ca
    printed = kube.kubectl("get", "kafkacluster", "demo", "-n", namespace).stdout
    assert f"external={NODE_ADDRESS}:{bootstrap_port}" in printed


def test_certificate_renewal_rolls_brokers_one_at_a_time(kube, operator, namespace, node):
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=secured_cluster())
    wait_for(kube, operator, lambda: len(pods(kube, namespace)) == 3, "3 broker pods")
    play_kubelet(kube, namespace, *pods(kube, namespace))
    wait_for(kube, operator, lambda: cluster_status(kube, namespace).get("phase") == "Running", "phase Running")
    before_certs = secret(kube, namespace, "demo-broker-certs")
    before = {name: p["metadata"]["uid"] for name, p in pods(kube, namespace).items()}

    # The 1-day certificates enter a 2-day renewal window: each is re-issued (for 3 days) and brokers roll.
    patch = {"spec": {"certificates": {"validityDays": 3, "renewalDays": 2}}}
    kube.kubectl("patch", "kafkacluster", "demo", "-n", namespace, "--type=merge", "-p", json.dumps(patch))
    wait_for(
        kube,
        operator,
        lambda: secret(kube, namespace, "demo-broker-certs")["broker-0.pem"] != before_certs["broker-0.pem"],
        "renewed broker certificates",
    )
    renewed = secret(kube, namespace, "demo-broker-certs")
    for i in range(3):
        cert = certificate(renewed[f"broker-{i}.pem"])
        assert cert.not_valid_after_utc - cert.not_valid_before_utc > datetime.timedelta(days=2)

    order: list[str] = []
    for _ in range(3):
        def restarted() -> list[str]:
            current = pods(kube, namespace)
            return [n for n, uid in before.items() if n not in current or current[n]["metadata"]["uid"] != uid]

        expected = len(order) + 1
        wait_for(kube, operator, lambda n=expected: len(restarted()) == n, f"restart #{expected}")
        (new,) = [n for n in restarted() if n not in order]
        order.append(new)
        wait_for(kube, operator, lambda n=new: n in pods(kube, namespace), f"{new} recreated")
        assert len(restarted()) == len(order)  # one at a time: nobody else went down meanwhile
        play_kubelet(kube, namespace, new)
    assert order == ["demo-broker-2", "demo-broker-1", "demo-broker-0"]
    events = json.loads(kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    reasons = [e["reason"] for e in events]
    assert "CertificatesIssued" in reasons
    assert sum(r == "RollingRestart" for r in reasons) == 3


def test_invalid_listeners_are_refused_at_admission(kube, operator, namespace):
    doc = yaml.safe_load(secured_cluster())
    doc["spec"]["listeners"] = [
        {"name": "a", "port": 9093},
        {"name": "b", "port": 9093},
    ]
    result = kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc), check=False)
    assert result.returncode != 0
    assert "InvalidListener" in result.stderr and "two listeners use port 9093" in result.stderr
    doc["spec"]["listeners"] = [{"name": "a", "port": 9093, "authentication": "tls"}]
    result = kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc), check=False)
    assert result.returncode != 0 and "needs tls: true" in result.stderr


def test_load_balancer_listener_advertises_its_ingress_once_provisioned(kube, operator, namespace):
    """No cloud controller runs here: the test gives the Services their load balancer addresses, as one would."""
    listeners = [{"name": "lb", "port": 9094, "type": "loadbalancer", "tls": True,
                  "configuration": {"brokers": [{"broker": 0, "annotations": {"example.com/lb": "internal"}}]}}]
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=secured_cluster(brokers=2, listeners=listeners))
    services = ["demo-lb-bootstrap", "demo-broker-0-lb", "demo-broker-1-lb"]
    wait_for(kube, operator, lambda: all(get(kube, namespace, "service", n) for n in services), "LoadBalancer Services")
    broker_0 = get(kube, namespace, "service", "demo-broker-0-lb")
    assert broker_0["spec"]["type"] == "LoadBalancer"
    assert broker_0["metadata"]["annotations"]["example.com/lb"] == "internal"

    def awaiting() -> str:
        conditions = {c["type"]: c for c in cluster_status(kube, namespace).get("conditions") or []}
        found = conditions.get("ListenersReady") or {}
        return found.get("message", "") if found.get("status") == "False" else ""

    wait_for(kube, operator, awaiting, "ListenersReady False while no load balancer has an address")
    assert "lb/broker-0: load balancer address" in awaiting()

    addresses = {"demo-lb-bootstrap": "203.0.113.10", "demo-broker-0-lb": "203.0.113.11",
                 "demo-broker-1-lb": "203.0.113.12"}
    for name, address in addresses.items():
        status = {"status": {"loadBalancer": {"ingress": [{"ip": address}]}}}
        kube.kubectl("patch", "service", name, "-n", namespace, "--subresource=status", "--type=merge",
                     "-p", json.dumps(status))
    wait_for(
        kube,
        operator,
        lambda: "LB://203.0.113.12:9094" in (get(kube, namespace, "configmap", "demo-config")["data"]["advertised-1"]),
        "broker 1 advertising its load balancer's address",
    )
    wait_for(
        kube,
        operator,
        lambda: "203.0.113.11" in sans(certificate(secret(kube, namespace, "demo-broker-certs")["broker-0.pem"])),
        "broker 0's certificate naming its load balancer's address",
    )
    wait_for(
        kube,
        operator,
        lambda: any(e["name"] == "lb" and e["bootstrapServers"] == "203.0.113.10:9094"
                    for e in cluster_status(kube, namespace).get("listeners") or []),
        "status.listeners with the bootstrap load balancer's address",
    )
    wait_for(kube, operator, lambda: not awaiting(), "ListenersReady")
