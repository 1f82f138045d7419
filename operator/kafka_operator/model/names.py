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
HTTP_PORT = 8080
ZK_CLIENT_PORT = 2181
ZK_PEER_PORT = 2888
ZK_ELECTION_PORT = 3888

CONFIG_DIR = "/etc/kopfka"
DATA_DIR = "/var/lib/kopfka"
LOG_DIRS = f"{DATA_DIR}/data"


def config_map_name(spec: ClusterSpec) -> str:
    return f"{spec.name}-config"


def headless_service_name(spec: ClusterSpec) -> str:
    """Governs the broker StatefulSet: gives each pod the DNS name used in ``advertised.listeners``."""
    return f"{spec.name}-brokers"


def bootstrap_service_name(spec: ClusterSpec) -> str:
    return f"{spec.name}-bootstrap"


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
    return f"{bootstrap_service_name(spec)}.{spec.namespace}.svc.{cluster_domain}:{KAFKA_PORT}"
