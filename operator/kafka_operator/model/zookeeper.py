"""A managed ZooKeeper ensemble for a KafkaCluster (skipped when ``spec.zookeeper.connect`` is given).

Written for the official ``zookeeper`` image, whose entrypoint builds ``zoo.cfg`` from ``ZOO_SERVERS`` and
writes ``myid`` from ``ZOO_MY_ID``; each pod derives its id from its ordinal (ordinal + 1, as ids start at 1).

Pods are hardened like the brokers' (non-root as the image's ``zookeeper`` user, read-only root file system, no
capabilities, the runtime's default seccomp profile), so every path the image writes is a volume:

- ``/data`` (the PVC): snapshots and ``myid``, and the transaction log too (``ZOO_DATA_LOG_DIR``), which must
  outlive the pod as much as the snapshots do;
- ``/conf`` (emptyDir): the entrypoint writes ``zoo.cfg`` there; an init container first copies the image's own
  ``/conf`` into it (the official image keeps ``logback.xml`` there);
- ``/logs`` (emptyDir, the image's ``ZOO_LOG_DIR``) and ``/tmp`` (emptyDir: the JVM's ``hsperfdata``).
"""

from __future__ import annotations

import copy
from typing import Any

from . import names
from .broker import HARDENED_CONTAINER
from .names import ZOOKEEPER
from .spec import ClusterSpec

_ZK_SCRIPT = "export ZOO_MY_ID=$(( ${HOSTNAME##*-} + 1 )); exec /docker-entrypoint.sh zkServer.sh start-foreground"

ZOOKEEPER_USER = 1000
"""uid and gid of the official image's ``zookeeper`` user."""
DATA_DIR = "/data"
CONF_DIR = "/conf"
"""The image's ``ZOO_CONF_DIR``."""
CONF_COPY_DIR = "/mnt/conf"
"""Where the init container sees the ``conf`` emptyDir while it copies the image's ``/conf`` into it."""
SCRATCH_DIRS = {"conf": CONF_DIR, "logs": "/logs", "tmp": "/tmp"}
"""emptyDir volumes of the ZooKeeper container, by name: their mount paths."""


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
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": ZOOKEEPER_USER,
                        "runAsGroup": ZOOKEEPER_USER,
                        "fsGroup": ZOOKEEPER_USER,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "initContainers": [
                        {
                            "name": "conf",
                            "image": zk.image,
                            "command": ["cp", "-R", f"{CONF_DIR}/.", CONF_COPY_DIR],
                            "volumeMounts": [{"name": "conf", "mountPath": CONF_COPY_DIR}],
                            "securityContext": copy.deepcopy(HARDENED_CONTAINER),
                        }
                    ],
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
                                {"name": "ZOO_DATA_DIR", "value": DATA_DIR},
                                {"name": "ZOO_DATA_LOG_DIR", "value": DATA_DIR},
                            ],
                            "ports": [
                                {"name": "client", "containerPort": names.ZK_CLIENT_PORT},
                                {"name": "peer", "containerPort": names.ZK_PEER_PORT},
                                {"name": "election", "containerPort": names.ZK_ELECTION_PORT},
                            ],
                            "readinessProbe": tcp_probe,
                            "livenessProbe": {**tcp_probe, "failureThreshold": 6},
                            "volumeMounts": [
                                {"name": "data", "mountPath": DATA_DIR},
                                *({"name": name, "mountPath": path} for name, path in SCRATCH_DIRS.items()),
                            ],
                            "securityContext": copy.deepcopy(HARDENED_CONTAINER),
                        }
                    ],
                    "volumes": [{"name": name, "emptyDir": {}} for name in SCRATCH_DIRS],
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
