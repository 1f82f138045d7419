"""Fixtures for the e2e tier: a real kind cluster, the operator installed with helm, a KafkaCluster running.

Everything is built here, offline: ``scripts/build-images.sh --zookeeper`` (kopfka/broker, kopfka/operator,
kopfka/zookeeper), ``scripts/build-kind-node.sh`` (the kind node image, with every control-plane image
preloaded), kind and the Kubernetes binaries by ``make tools``. The fixtures create one single-node kind
cluster, load the images into it, create local PersistentVolumes on the node (the node's default
StorageClass has no provisioner), install charts/kopfka, and delete the cluster at the end
(``KOPFKA_E2E_KEEP=1`` keeps it for a look: ``kind get kubeconfig --name kopfka-e2e``).

The fixtures are package-scoped, so the cluster is gone before the next tier starts (`make test` runs
every tier in one pytest session, and a running cluster would take CPU and memory from them).
Under ``CI=true`` a missing prerequisite is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .kind_cluster import (
    BIN,
    BROKER_IMAGE,
    BROKERS,
    CHART,
    CLUSTER,
    CLUSTER_NAME,
    NAMESPACE,
    OPERATOR_IMAGE,
    OPERATOR_NAMESPACE,
    REPO,
    ZOOKEEPER_IMAGE,
    ZOOKEEPERS,
    KindCluster,
    kafka_cluster_resource,
    log,
    run,
    wait_for,
)

pytestmark = pytest.mark.e2e


def _require(require, name: str, hint: str) -> Path:
    path = BIN / name
    require(path, f"{path} is missing: {hint}")
    return path


def _build(script: str, *args: str, timeout: float) -> str:
    started = time.monotonic()
    result = run(
        ["bash", str(REPO / "scripts" / script), *args],
        timeout=timeout,
        env={**os.environ, "PYTHON": sys.executable},  # wheels for this interpreter's Python version
    )
    log(f"{script} {' '.join(args)}: {time.monotonic() - started:.0f} s")
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


@pytest.fixture(scope="package")
def kind_cluster(require, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KindCluster]:
    for name in ("kind", "kubectl", "helm", "kubelet", "kubeadm", "containerd", "coredns"):
        _require(require, name, "run `make tools` (scripts/build-tools.sh)")
    can_install = os.geteuid() == 0 and shutil.which("apt-get")
    require(bool(shutil.which("docker") and (shutil.which("dockerd") or can_install)), "docker is not available")
    require(os.geteuid() == 0, "the e2e tier needs root (dockerd, privileged kind nodes)")

    _build("build-images.sh", "--zookeeper", timeout=1800)
    node_image = _build("build-kind-node.sh", timeout=1800)
    assert node_image.startswith("kopfka/kind-node:"), node_image

    workdir = tmp_path_factory.mktemp("kind")
    cluster = KindCluster(name=CLUSTER_NAME, kubeconfig=workdir / "kubeconfig", workdir=workdir)
    kind = str(BIN / "kind")
    # A cluster left by an interrupted run would make `kind create` fail.
    run([kind, "delete", "cluster", "--name", CLUSTER_NAME], check=False, timeout=180)
    config = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        # The node image brings its CNI config (ptp + host-local); kind's default CNI image is not there.
        "networking": {"disableDefaultCNI": True},
        "nodes": [{"role": "control-plane", "image": node_image}],
    }
    if not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        # Kubernetes >= 1.35's kubelet refuses cgroup v1 unless told otherwise; this machine is cgroup v1.
        config["kubeadmConfigPatches"] = ["kind: KubeletConfiguration\nfailCgroupV1: false\n"]
    (workdir / "kind.yaml").write_text(yaml.safe_dump(config))
    started = time.monotonic()
    created = run(
        [
            kind,
            "create",
            "cluster",
            "--name",
            CLUSTER_NAME,
            "--config",
            str(workdir / "kind.yaml"),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--retain",
            "--wait",
            "0s",
        ],
        timeout=900,
        check=False,
    )
    if created.returncode != 0:
        logs = run(["docker", "logs", "--tail", "60", cluster.node], check=False)
        journal = run(
            [
                "docker",
                "exec",
                cluster.node,
                "journalctl",
                "--no-pager",
                "-n",
                "80",
                "-u",
                "kubelet",
                "-u",
                "containerd",
            ],
            check=False,
        )
        run([kind, "delete", "cluster", "--name", CLUSTER_NAME], check=False, timeout=180)
        raise AssertionError(
            f"kind create cluster failed:\n{created.stderr[-4000:]}\n--- node output\n{logs.stdout}{logs.stderr}"
            f"\n--- kubelet/containerd journal\n{journal.stdout[-6000:]}"
        )
    try:
        cluster.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=300s", timeout=320)
        cluster.kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=300s", timeout=320)
        log(f"kind cluster {CLUSTER_NAME} ready in {time.monotonic() - started:.0f} s")
        yield cluster
    finally:
        if os.environ.get("KOPFKA_E2E_KEEP", "") not in ("", "0"):
            log(f"keeping kind cluster {CLUSTER_NAME} (KOPFKA_E2E_KEEP)")
        else:
            run([kind, "delete", "cluster", "--name", CLUSTER_NAME], check=False, timeout=300)


@pytest.fixture(scope="package")
def images_loaded(kind_cluster: KindCluster) -> dict[str, str]:
    started = time.monotonic()
    run(
        [
            str(BIN / "kind"),
            "load",
            "docker-image",
            "--name",
            CLUSTER_NAME,
            BROKER_IMAGE,
            OPERATOR_IMAGE,
            ZOOKEEPER_IMAGE,
        ],
        timeout=900,
    )
    log(f"images loaded into the node in {time.monotonic() - started:.0f} s")
    return {"broker": BROKER_IMAGE, "operator": OPERATOR_IMAGE, "zookeeper": ZOOKEEPER_IMAGE}


@pytest.fixture(scope="package")
def operator(kind_cluster: KindCluster, images_loaded: dict[str, str]) -> str:
    """charts/kopfka installed with helm: CRDs, RBAC, the operator Deployment running the operator image."""
    repository, tag = images_loaded["operator"].rsplit(":", 1)
    kind_cluster.helm(
        "install",
        "kopfka",
        str(CHART),
        "--namespace",
        OPERATOR_NAMESPACE,
        "--create-namespace",
        "--set",
        f"image.repository={repository}",
        "--set",
        f"image.tag={tag}",
        "--set",
        "image.pullPolicy=Never",
        "--set",
        "resyncSeconds=5",
        "--wait",
        "--timeout",
        "10m",
        timeout=900,
    )
    return "kopfka"


@pytest.fixture(scope="package")
def kafka_cluster(kind_cluster: KindCluster, operator: str, images_loaded: dict[str, str]) -> Iterator[dict]:
    """KafkaCluster ``demo`` (3 brokers, a managed 3-server ZooKeeper) in namespace ``e2e``, Running.

    One local volume per ZooKeeper server and broker, and one spare: the healing tests replace a broker's
    claim once."""
    kind_cluster.kubectl("create", "namespace", NAMESPACE)
    kind_cluster.add_volumes(ZOOKEEPERS + BROKERS + 1, first=0)
    started = time.monotonic()
    kind_cluster.apply(kafka_cluster_resource(images_loaded))
    try:
        body = wait_for(
            lambda: _running(kind_cluster.get("kafkacluster", CLUSTER, "-n", NAMESPACE)),
            timeout=600,
            what=f"KafkaCluster {CLUSTER} Running with {BROKERS} ready brokers",
            interval=3,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{kind_cluster.diagnostics()}") from None
    log(f"KafkaCluster {CLUSTER} Running in {time.monotonic() - started:.0f} s")
    yield body


def _running(body: dict) -> dict | None:
    status = body.get("status") or {}
    return body if status.get("phase") == "Running" and status.get("readyBrokers") == BROKERS else None
