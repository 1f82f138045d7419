"""Names, labels and owner references of the objects a KafkaCluster owns — the one place that knows them."""

from __future__ import annotations

from typing import Any

from .. import API_VERSION
from .spec import ClusterSpec

MANAGED_BY = "kopfka-operator"
CLUSTER_LABEL = "kopfka.io/cluster"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
CONFIG_HASH_ANNOTATION = "kopfka.io/config-hash"
MANUAL_ROLL_ANNOTATION = "kopfka.io/manual-rolling-update"

BROKER = "broker"
ZOOKEEPER = "zookeeper"

KAFKA_PORT = 9092
REPLICATION_PORT = 9091
"""The operator-owned mutual-TLS listener of a secured cluster: replication and the operator's admin client."""
REPLICATION_LISTENER = "REPLICATION"
HTTP_PORT = 8080
ZK_CLIENT_PORT = 2181
ZK_PEER_PORT = 2888
ZK_ELECTION_PORT = 3888

CONFIG_DIR = "/etc/kopfka"
CERTS_DIR = "/etc/kopfka-certs"
"""Where a broker pod mounts its cluster's broker-certs Secret."""
PRINCIPAL_ORGANIZATION = "kopfka.io"
"""O= of the certificates the operator issues to brokers and to itself."""
DATA_DIR = "/var/lib/kopfka"
LOG_DIRS = f"{DATA_DIR}/data"


def config_map_name(spec: ClusterSpec) -> str:
    return f"{spec.name}-config"


def headless_service_name(spec: ClusterSpec) -> str:
    """Governs the broker StatefulSet: gives each pod the DNS name used in ``advertised.listeners``."""
    return f"{spec.name}-brokers"


def bootstrap_service_name(spec: ClusterSpec) -> str:
    return f"{spec.name}-bootstrap"


def cluster_ca_secret_name(spec: ClusterSpec) -> str:
    """The generated cluster CA, certificate and key (``ca.crt``, ``ca.key``): signs broker and operator
    certificates."""
    return f"{spec.name}-cluster-ca"


def cluster_ca_cert_secret_name(spec: ClusterSpec) -> str:
    """The cluster CA's certificate alone (``ca.crt``): what a client mounts to trust the brokers."""
    return f"{spec.name}-cluster-ca-cert"


def clients_ca_secret_name(spec: ClusterSpec) -> str:
    """The generated clients CA (``ca.crt``, ``ca.key``): signs KafkaUsers' client certificates."""
    return f"{spec.name}-clients-ca"


def broker_certs_secret_name(spec: ClusterSpec) -> str:
    """``broker-<id>.pem`` (key and certificate chain) per broker, ``ca.crt``, ``clients-ca.crt``."""
    return f"{spec.name}-broker-certs"


def operator_certs_secret_name(spec: ClusterSpec) -> str:
    """The operator's client certificate for the cluster (``tls.crt``, ``tls.key``, ``ca.crt``)."""
    return f"{spec.name}-operator-certs"


def broker_principal(spec: ClusterSpec) -> str:
    """The subject (as Kafka prints it: RFC 2253, most specific first) of every broker's certificate."""
    return f"CN={spec.name}-broker,O={PRINCIPAL_ORGANIZATION}"


def operator_principal(spec: ClusterSpec) -> str:
    """The subject of the operator's client certificate for this cluster."""
    return f"CN={spec.name}-operator,O={PRINCIPAL_ORGANIZATION}"


def broker_statefulset_name(spec: ClusterSpec) -> str:
    return f"{spec.name}-broker"


def broker_pdb_name(spec: ClusterSpec) -> str:
    return f"{spec.name}-broker"


def zookeeper_statefulset_name(spec: ClusterSpec) -> str:
    return f"{spec.name}-zookeeper"


def zookeeper_headless_service_name(spec: ClusterSpec) -> str:
    return f"{spec.name}-zookeeper-nodes"


def zookeeper_client_service_name(spec: ClusterSpec) -> str:
    return f"{spec.name}-zookeeper"


def zookeeper_pdb_name(spec: ClusterSpec) -> str:
    return f"{spec.name}-zookeeper"


def broker_pod_name(spec: ClusterSpec, ordinal: int) -> str:
    return f"{broker_statefulset_name(spec)}-{ordinal}"


def broker_host(spec: ClusterSpec, ordinal: int, *, cluster_domain: str) -> str:
    pod, service = broker_pod_name(spec, ordinal), headless_service_name(spec)
    return f"{pod}.{service}.{spec.namespace}.svc.{cluster_domain}"


def selector_labels(spec: ClusterSpec, component: str) -> dict[str, str]:
    """The immutable subset used in selectors: never add to it (StatefulSet selectors cannot change)."""
    return {CLUSTER_LABEL: spec.name, COMPONENT_LABEL: component}


def labels(spec: ClusterSpec, component: str) -> dict[str, str]:
    return {
        **selector_labels(spec, component),
        "app.kubernetes.io/name": "kafka" if component == BROKER else "zookeeper",
        "app.kubernetes.io/instance": spec.name,
        MANAGED_BY_LABEL: MANAGED_BY,
    }


def owner_reference(spec: ClusterSpec) -> dict[str, Any]:
    """Makes the KafkaCluster the controller of an object, so deleting it garbage-collects the object."""
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaCluster",
        "name": spec.name,
        "uid": spec.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(spec: ClusterSpec, name: str, component: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": spec.namespace, "labels": labels(spec, component)}
    if spec.uid:
        meta["ownerReferences"] = [owner_reference(spec)]
    return meta


def zookeeper_connect(spec: ClusterSpec, *, cluster_domain: str) -> str:
    if spec.zookeeper.connect:
        return spec.zookeeper.connect
    host = f"{zookeeper_client_service_name(spec)}.{spec.namespace}.svc.{cluster_domain}"
    return f"{host}:{ZK_CLIENT_PORT}"


def bootstrap_servers(spec: ClusterSpec, *, cluster_domain: str) -> str:
    """What clients (and the operator's admin client) use: the override when given, else the Service."""
    if spec.bootstrap_override:
        return spec.bootstrap_override
    return f"{bootstrap_service_name(spec)}.{spec.namespace}.svc.{cluster_domain}:{spec.listeners[0].port}"


def admin_bootstrap_servers(spec: ClusterSpec, *, cluster_domain: str) -> str:
    """Where the operator's admin client connects: the override when given, else the bootstrap Service on the
    ``REPLICATION`` listener (secured cluster) or on the first listener."""
    if spec.bootstrap_override:
        return spec.bootstrap_override
    port = REPLICATION_PORT if spec.secured else spec.listeners[0].port
    return f"{bootstrap_service_name(spec)}.{spec.namespace}.svc.{cluster_domain}:{port}"


def zookeeper_network_policy_name(spec: ClusterSpec) -> str:
    return f"{spec.name}-network-policy-zookeeper"


def broker_network_policy_name(spec: ClusterSpec) -> str:
    return f"{spec.name}-network-policy-broker"
