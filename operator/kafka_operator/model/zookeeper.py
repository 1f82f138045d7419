"""A managed ZooKeeper ensemble for a KafkaCluster (skipped when ``spec.zookeeper.connect`` is given).

Written for the official ``zookeeper`` image, whose entrypoint builds ``zoo.cfg`` from ``ZOO_SERVERS`` and
writes ``myid`` from ``ZOO_MY_ID``; each pod derives its id from its ordinal (ordinal + 1, as ids start at 1).
"""

from __future__ import annotations

from typing import Any

from . import names
from .names import ZOOKEEPER
from .spec import ClusterSpec

_ZK_SCRIPT = "export ZOO_MY_ID=$(( ${HOSTNAME##*-} + 1 )); exec /docker-entrypoint.sh zkServer.sh start-foreground"


def zookeeper_servers(spec: ClusterSpec, *, cluster_domain: str) -> str:
    sts = names.zookeeper_statefulset_name(spec)
    headless = names.zookeeper_headless_service_name(spec)
    return " ".join(
        f"server.{i + 1}={sts}-{i}.{headless}.{spec.namespace}.svc.{cluster_domain}"
        f":{names.ZK_PEER_PORT}:{names.ZK_ELECTION_PORT};{names.ZK_CLIENT_PORT}"
        for i in range(spec.zookeeper.replicas)
    )


def _ports() -> list[dict[str, Any]]:
    return [
        {"name": "client", "port": names.ZK_CLIENT_PORT, "targetPort": "client", "protocol": "TCP"},
        {"name": "peer", "port": names.ZK_PEER_PORT, "targetPort": "peer", "protocol": "TCP"},
        {"name": "election", "port": names.ZK_ELECTION_PORT, "targetPort": "election", "protocol": "TCP"},
    ]


def zookeeper_headless_service(spec: ClusterSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": names.metadata(spec, names.zookeeper_headless_service_name(spec), ZOOKEEPER),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": names.selector_labels(spec, ZOOKEEPER),
            "ports": _ports(),
        },
    }


def zookeeper_client_service(spec: ClusterSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": names.metadata(spec, names.zookeeper_client_service_name(spec), ZOOKEEPER),
        "spec": {
            "type": "ClusterIP",
            "selector": names.selector_labels(spec, ZOOKEEPER),
            "ports": _ports()[:1],
        },
    }


def zookeeper_statefulset(spec: ClusterSpec, *, cluster_domain: str) -> dict[str, Any]:
    zk = spec.zookeeper
    selector = names.selector_labels(spec, ZOOKEEPER)
    tcp_probe = {"tcpSocket": {"port": "client"}, "initialDelaySeconds": 5, "periodSeconds": 10}
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": zk.storage.size}},
    }
    if zk.storage.storage_class_name:
        claim["storageClassName"] = zk.storage.storage_class_name
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": names.metadata(spec, names.zookeeper_statefulset_name(spec), ZOOKEEPER),
        "spec": {
            "serviceName": names.zookeeper_headless_service_name(spec),
            "replicas": zk.replicas,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": names.labels(spec, ZOOKEEPER)},
                "spec": {
                    "securityContext": {"fsGroup": 1000},
                    "containers": [
                        {
                            "name": "zookeeper",
                            "image": zk.image,
                            "command": ["/bin/bash", "-c", _ZK_SCRIPT],
                            "env": [
                                {
                                    "name": "ZOO_SERVERS",
                                    "value": zookeeper_servers(spec, cluster_domain=cluster_domain),
                                },
                                {
                                    "name": "ZOO_STANDALONE_ENABLED",
                                    "value": "true" if zk.replicas == 1 else "false",
                                },
                                {"name": "ZOO_4LW_COMMANDS_WHITELIST", "value": "ruok,srvr,mntr"},
                                {"name": "ZOO_ADMINSERVER_ENABLED", "value": "false"},
                            ],
                            "ports": [
                                {"name": "client", "containerPort": names.ZK_CLIENT_PORT},
                                {"name": "peer", "containerPort": names.ZK_PEER_PORT},
                                {"name": "election", "containerPort": names.ZK_ELECTION_PORT},
                            ],
                            "readinessProbe": tcp_probe,
                            "livenessProbe": {**tcp_probe, "failureThreshold": 6},
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        }
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": "data", "labels": selector},
                    "spec": claim,
                }
            ],
        },
    }


def zookeeper_pdb(spec: ClusterSpec) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": names.metadata(spec, names.zookeeper_pdb_name(spec), ZOOKEEPER),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": names.selector_labels(spec, ZOOKEEPER)}},
    }
