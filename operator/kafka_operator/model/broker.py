"""The broker side of a KafkaCluster as manifest dicts: ConfigMap, Services, StatefulSet, PDB.

Broker ids are the pod ordinals: pod ``<cluster>-broker-2`` runs ``broker.id=2`` and advertises its stable
DNS name under the headless Service, so a broker keeps its id, its PVC and its address across restarts.
The StatefulSet uses the ``OnDelete`` update strategy: the operator's roller (``roller.py``) restarts
brokers one at a time, in an order that respects partition leadership, instead of the StatefulSet
controller's blind ordinal order. The pod template carries a hash of everything a broker reads at start (the
ConfigMap and, in a secured cluster, its certificates): a change there is what the roller rolls for.

The ConfigMap holds ``server.properties`` for every broker and ``advertised-<id>``, each broker's own
``advertised.listeners``; the start command reads its own, putting in the node's address for NodePort
listeners (``listeners.HOST_IP_PLACEHOLDER``), and points the key store at its own certificate.

Pods are hardened: non-root, read-only root file system (``/tmp`` is an emptyDir), no capabilities, the
runtime's default seccomp profile.
"""

from __future__ import annotations

from typing import Any

from . import names
from .config import config_hash, server_properties
from .listeners import HOST_IP_PLACEHOLDER, Ingresses, NodePorts, advertised_listeners
from .names import BROKER
from .spec import ClusterSpec

CONFIG_KEY = "server.properties"
ADVERTISED_PREFIX = "advertised-"
TMP_DIR = "/tmp"

# The pod's own name gives its broker id (the ordinal). exec keeps the broker PID 1 so it receives SIGTERM
# directly and runs controlled shutdown.
_BROKER_SCRIPT = (
    "ORD=${{POD_NAME##*-}}; "
    "ADVERTISED=$(sed \"s/{placeholder}/${{HOST_IP}}/g\" {config_dir}/{prefix}${{ORD}}) || exit 1; "
    'exec kopfka-broker {config_dir}/{config_key} --override "broker.id=${{ORD}}"'
    ' --override "advertised.listeners=${{ADVERTISED}}"'
)
_KEYSTORE_OVERRIDE = ' --override "ssl.keystore.location={certs_dir}/broker-${{ORD}}.pem"'


def config_map_data(
    spec: ClusterSpec, *, cluster_domain: str, node_ports: NodePorts, ingresses: Ingresses
) -> dict[str, str]:
    data = {CONFIG_KEY: server_properties(spec, cluster_domain=cluster_domain)}
    for broker in range(spec.brokers):
        data[f"{ADVERTISED_PREFIX}{broker}"] = advertised_listeners(
            spec, broker, cluster_domain=cluster_domain, node_ports=node_ports, ingresses=ingresses
        )
    return data


def config_map(
    spec: ClusterSpec, *, cluster_domain: str, node_ports: NodePorts | None = None, ingresses: Ingresses | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": names.metadata(spec, names.config_map_name(spec), BROKER),
        "data": config_map_data(
            spec, cluster_domain=cluster_domain, node_ports=node_ports or {}, ingresses=ingresses or {}
        ),
    }


def template_hash(data: dict[str, str], *, certificates_digest: str = "") -> str:
    """What the pod template is stamped with: the ConfigMap's contents and the broker certificates' digest."""
    text = "".join(f"{key}\0{data[key]}\0" for key in sorted(data)) + certificates_digest
    return config_hash(text)


def _broker_ports(spec: ClusterSpec) -> list[dict[str, Any]]:
    ports = [
        {"name": lst.name, "port": lst.port, "targetPort": lst.port, "protocol": "TCP"} for lst in spec.listeners
    ]
    if spec.secured:
        ports.insert(0, {"name": "replication", "port": names.REPLICATION_PORT, "targetPort": names.REPLICATION_PORT,
                         "protocol": "TCP"})
    return [*ports, {"name": "http", "port": names.HTTP_PORT, "targetPort": "http", "protocol": "TCP"}]


def headless_service(spec: ClusterSpec) -> dict[str, Any]:
    """Publishes not-ready pods too: brokers must resolve each other while starting, to replicate."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": names.metadata(spec, names.headless_service_name(spec), BROKER),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": names.selector_labels(spec, BROKER),
            "ports": _broker_ports(spec),
        },
    }


def bootstrap_service(spec: ClusterSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": names.metadata(spec, names.bootstrap_service_name(spec), BROKER),
        "spec": {
            "type": "ClusterIP",
            "selector": names.selector_labels(spec, BROKER),
            "ports": [p for p in _broker_ports(spec) if p["name"] != "http"],
        },
    }


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "initialDelaySeconds": 5,
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _volume_claim_template(spec: ClusterSpec) -> dict[str, Any]:
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": spec.storage.size}},
    }
    if spec.storage.storage_class_name:
        claim["storageClassName"] = spec.storage.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "labels": names.selector_labels(spec, BROKER)},
        "spec": claim,
    }


HARDENED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}
"""The container securityContext of every pod a KafkaCluster runs."""


def broker_container(spec: ClusterSpec) -> dict[str, Any]:
    script = _BROKER_SCRIPT.format(
        placeholder=HOST_IP_PLACEHOLDER, config_dir=names.CONFIG_DIR, prefix=ADVERTISED_PREFIX, config_key=CONFIG_KEY
    )
    if spec.secured:
        script += _KEYSTORE_OVERRIDE.format(certs_dir=names.CERTS_DIR)
    mounts = [
        {"name": "data", "mountPath": names.DATA_DIR},
        {"name": "config", "mountPath": names.CONFIG_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": TMP_DIR},
    ]
    if spec.secured:
        mounts.append({"name": "certs", "mountPath": names.CERTS_DIR, "readOnly": True})
    ports = [{"name": p["name"], "containerPort": p["port"], "protocol": "TCP"} for p in _broker_ports(spec)]
    container: dict[str, Any] = {
        "name": "broker",
        "image": spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": ["/bin/sh", "-c", script],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
            {"name": "KOPFKA_CLUSTER", "value": spec.name},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
        ],
        "ports": ports,
        "livenessProbe": _probe("/healthz", period=10, failures=6),
        "readinessProbe": _probe("/readyz", period=5, failures=3),
        "volumeMounts": mounts,
        "securityContext": dict(HARDENED_CONTAINER),
    }
    if spec.resources:
        container["resources"] = dict(spec.resources)
    return container


def broker_statefulset(spec: ClusterSpec, *, template_hash: str) -> dict[str, Any]:
    """``template_hash`` (``template_hash()``) marks the configuration the pods are meant to run."""
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": names.config_map_name(spec)}},
        {"name": "tmp", "emptyDir": {}},
    ]
    if spec.secured:
        volumes.append({"name": "certs", "secret": {"secretName": names.broker_certs_secret_name(spec)}})
    selector = names.selector_labels(spec, BROKER)
    anti_affinity = {
        "weight": 100,
        "podAffinityTerm": {
            "labelSelector": {"matchLabels": selector},
            "topologyKey": "kubernetes.io/hostname",
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": names.metadata(spec, names.broker_statefulset_name(spec), BROKER),
        "spec": {
            "serviceName": names.headless_service_name(spec),
            "replicas": spec.brokers,
            # Brokers coordinate through ZooKeeper, not through start order: start them all at once.
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "OnDelete"},
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Delete" if spec.storage.delete_claim else "Retain",
                "whenScaled": "Retain",
            },
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": names.labels(spec, BROKER),
                    "annotations": {names.CONFIG_HASH_ANNOTATION: template_hash},
                },
                "spec": {
                    "terminationGracePeriodSeconds": spec.termination_grace_seconds,
                    # Preferred, not required: a one-node cluster must still run every broker.
                    "affinity": {
                        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [anti_affinity]}
                    },
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1000,
                        "runAsGroup": 1000,
                        "fsGroup": 1000,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [broker_container(spec)],
                    "volumes": volumes,
                },
            },
            "volumeClaimTemplates": [_volume_claim_template(spec)],
        },
    }


def broker_pdb(spec: ClusterSpec) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": names.metadata(spec, names.broker_pdb_name(spec), BROKER),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": names.selector_labels(spec, BROKER)}},
    }
