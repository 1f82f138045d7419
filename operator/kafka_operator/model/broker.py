"""The broker side of a KafkaCluster as manifest dicts: ConfigMap, Services, StatefulSet, PDB.

Broker ids are the pod ordinals: pod ``<cluster>-broker-2`` runs ``broker.id=2`` and advertises its stable
DNS name under the headless Service, so a broker keeps its id, its PVC and its address across restarts.
The StatefulSet uses the ``OnDelete`` update strategy: the operator's roller (``roller.py``) restarts
brokers one at a time, in an order that respects partition leadership, instead of the StatefulSet
controller's blind ordinal order.
"""

from __future__ import annotations

from typing import Any

from . import names
from .config import config_hash, server_properties
from .names import BROKER
from .spec import ClusterSpec

CONFIG_KEY = "server.properties"

# The pod's own name gives its broker id (the ordinal) and its DNS name. exec keeps the broker PID 1 so
# it receives SIGTERM directly and runs controlled shutdown.
_BROKER_SCRIPT = (
    "exec kopfka-broker {config_dir}/{config_key}"
    ' --override "broker.id=${{POD_NAME##*-}}"'
    ' --override "advertised.listeners=PLAINTEXT://${{POD_NAME}}.{headless}.${{POD_NAMESPACE}}'
    '.svc.{domain}:{port}"'
)


def config_map(spec: ClusterSpec, *, cluster_domain: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": names.metadata(spec, names.config_map_name(spec), BROKER),
        "data": {CONFIG_KEY: server_properties(spec, cluster_domain=cluster_domain)},
    }


def _broker_ports() -> list[dict[str, Any]]:
    return [
        {"name": "kafka", "port": names.KAFKA_PORT, "targetPort": "kafka", "protocol": "TCP"},
        {"name": "http", "port": names.HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
    ]


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
            "ports": _broker_ports(),
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
            "ports": [{"name": "kafka", "port": names.KAFKA_PORT, "targetPort": "kafka", "protocol": "TCP"}],
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


def broker_container(spec: ClusterSpec, *, cluster_domain: str) -> dict[str, Any]:
    script = _BROKER_SCRIPT.format(
        config_dir=names.CONFIG_DIR,
        config_key=CONFIG_KEY,
        headless=names.headless_service_name(spec),
        domain=cluster_domain,
        port=names.KAFKA_PORT,
    )
    container: dict[str, Any] = {
        "name": "broker",
        "image": spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": ["/bin/sh", "-c", script],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "KOPFKA_CLUSTER", "value": spec.name},
        ],
        "ports": [
            {"name": "kafka", "containerPort": names.KAFKA_PORT, "protocol": "TCP"},
            {"name": "http", "containerPort": names.HTTP_PORT, "protocol": "TCP"},
        ],
        "livenessProbe": _probe("/healthz", period=10, failures=6),
        "readinessProbe": _probe("/readyz", period=5, failures=3),
        "volumeMounts": [
            {"name": "data", "mountPath": names.DATA_DIR},
            {"name": "config", "mountPath": names.CONFIG_DIR, "readOnly": True},
        ],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    if spec.resources:
        container["resources"] = dict(spec.resources)
    return container


def broker_statefulset(spec: ClusterSpec, *, cluster_domain: str) -> dict[str, Any]:
    properties = server_properties(spec, cluster_domain=cluster_domain)
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
                    "annotations": {names.CONFIG_HASH_ANNOTATION: config_hash(properties)},
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
                    },
                    "containers": [broker_container(spec, cluster_domain=cluster_domain)],
                    "volumes": [{"name": "config", "configMap": {"name": names.config_map_name(spec)}}],
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
