"""The e2e tier's kind cluster: names, the images it runs, and a small client for kubectl, helm and the node.

Kept out of conftest.py so the tests can import it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml
from tests import waiting

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("KOPFKA_CACHE", Path.home() / ".cache" / "kopfka"))
BIN = CACHE / "bin"
CHART = REPO / "charts" / "kopfka"
TAG = next(
    line.split('"')[1] for line in (REPO / "pyproject.toml").read_text().splitlines() if line.startswith("version = ")
)
BROKER_IMAGE = f"kopfka/broker:{TAG}"
OPERATOR_IMAGE = f"kopfka/operator:{TAG}"
ZOOKEEPER_IMAGE = "kopfka/zookeeper:3.8"
CLUSTER_NAME = "kopfka-e2e"
OPERATOR_NAMESPACE = "kopfka"
PV_ROOT = "/var/local-pv"  # on the node (its /var is a Docker volume, so not the image's layer)
PV_SIZE = "5Gi"
STORAGE_CLASS = "standard"  # the node image's default class (scripts/kind-node/files/kind/manifests)


def log(message: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, input: str | None = None, timeout: float = 300, check: bool = True, env=None):
    result = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd[:6])} … failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        )
    return result


T = TypeVar("T")


def wait_for(check: Callable[[], T], *, timeout: float, what: str, interval: float = 2.0) -> T:
    """:func:`tests.waiting.wait_for`, polling every 2 s by default: each check runs kubectl in the node."""
    return waiting.wait_for(check, timeout=timeout, what=what, interval=interval)


@dataclass
class KindCluster:
    """The kind cluster of this session: ``kubectl`` against it, ``node_exec`` inside its one node."""

    name: str
    kubeconfig: Path
    workdir: Path

    @property
    def node(self) -> str:
        return f"{self.name}-control-plane"

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120):
        return run(
            [str(BIN / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args], input=input, check=check, timeout=timeout
        )

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", "-o", "json", *args).stdout)

    def apply(self, doc: dict | list[dict], namespace: str | None = None) -> None:
        docs = doc if isinstance(doc, list) else [doc]
        ns = ["-n", namespace] if namespace else []
        self.kubectl("apply", *ns, "-f", "-", input=yaml.safe_dump_all(docs))

    def helm(self, *args: str, timeout: float = 600):
        return run([str(BIN / "helm"), f"--kubeconfig={self.kubeconfig}", *args], timeout=timeout)

    def node_exec(self, *args: str, check: bool = True):
        return run(["docker", "exec", self.node, *args], check=check)

    def add_volumes(self, count: int, *, first: int, storage_class: str = STORAGE_CLASS) -> list[str]:
        """``count`` local PersistentVolumes (of the default class unless told), each a fresh (0777) folder on the
        node."""
        names = []
        for i in range(first, first + count):
            name = f"local-pv-{i:02d}"
            path = f"{PV_ROOT}/{name}"
            self.node_exec("mkdir", "-p", "-m", "0777", path)
            self.node_exec("chmod", "0777", path)
            self.apply(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {"name": name, "labels": {"kopfka.io/e2e": "true"}},
                    "spec": {
                        "capacity": {"storage": PV_SIZE},
                        "accessModes": ["ReadWriteOnce"],
                        "persistentVolumeReclaimPolicy": "Retain",
                        "storageClassName": storage_class,
                        "local": {"path": path},
                        "nodeAffinity": {
                            "required": {
                                "nodeSelectorTerms": [
                                    {
                                        "matchExpressions": [
                                            {"key": "kubernetes.io/hostname", "operator": "In", "values": [self.node]}
                                        ]
                                    }
                                ]
                            }
                        },
                    },
                }
            )
            names.append(name)
        return names

    def diagnostics(self, namespace: str | None = None) -> str:
        """What to look at when something did not come up: pods, events, the operator's log tail."""
        parts = []
        for args in (
            ("get", "pods", "-A", "-o", "wide"),
            ("get", "pv,pvc", "-A"),
            ("get", "kafkaclusters,kafkatopics", "-A", "-o", "yaml"),
            ("get", "events", "-A", "--sort-by=.lastTimestamp"),
            ("logs", "-n", OPERATOR_NAMESPACE, "deploy/kopfka", "--tail=80"),
        ):
            result = self.kubectl(*args, check=False)
            parts.append(f"$ kubectl {' '.join(args)}\n{result.stdout[-6000:]}{result.stderr[-1000:]}")
        return "\n".join(parts)


NAMESPACE = "e2e"
CLUSTER = "demo"
BROKERS = 3
ZOOKEEPERS = 3
GRACE_SECONDS = 20


def kafka_cluster_resource(images: dict[str, str]) -> dict:
    return {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": CLUSTER, "namespace": NAMESPACE},
        "spec": {
            "brokers": BROKERS,
            "image": images["broker"],
            "imagePullPolicy": "Never",
            "storage": {"size": "1Gi"},
            "zookeeper": {"replicas": ZOOKEEPERS, "image": images["zookeeper"], "storage": {"size": "1Gi"}},
            "config": {"default.replication.factor": "3", "min.insync.replicas": "2"},
            "rebalance": {"onNodeLoss": True, "gracePeriodSeconds": GRACE_SECONDS},
            "terminationGracePeriodSeconds": 30,
        },
    }
