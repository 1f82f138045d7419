"""The operator image against a real API server: the Deployment's command, as the chart's ServiceAccount.

The container runs with the host's network namespace and reaches the loopback API server started by the
k8s tier's ``LocalKubernetes``; it reconciles a KafkaCluster into its StatefulSet like the operator in a pod.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.waiting import wait_for

from k8s.conftest import CHART, OPERATOR_NAMESPACE, RELEASE, require_tools
from k8s.local_cluster import TOOLS, LocalKubernetes

from .conftest import container_name, docker

pytestmark = [pytest.mark.images, pytest.mark.k8s]


def _readable_by_all(path: Path) -> None:
    """The image runs as uid 1000: let it read the kubeconfig and CA that pytest wrote as root."""
    for p in [path, *path.parents]:
        if str(p) in ("/", "/tmp"):
            break
        mode = os.stat(p).st_mode
        os.chmod(p, mode | stat.S_IROTH | (stat.S_IXOTH if p.is_dir() else 0))


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKubernetes]:
    require_tools(*TOOLS)
    with LocalKubernetes(tmp_path_factory.mktemp("kube")) as cluster:
        yield cluster


def test_operator_image_reconciles_a_cluster(images, containers, kube: LocalKubernetes, tmp_path: Path):
    kube.helm("install", RELEASE, str(CHART), "--namespace", OPERATOR_NAMESPACE, "--create-namespace")
    kubeconfig = kube.token_kubeconfig(
        tmp_path / "operator.kubeconfig", namespace=OPERATOR_NAMESPACE, service_account=RELEASE
    )
    for path in (kubeconfig, kube.pki.dir / "ca.crt"):
        _readable_by_all(path)
    deployment = yaml.safe_load(
        subprocess.run(
            [str(kube.helm_path), "template", RELEASE, str(CHART), "--show-only", "templates/deployment.yaml"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    name = container_name("operator")
    containers.append(name)
    mounts = ["-v", f"{kubeconfig}:{kubeconfig}:ro", "-v", f"{kube.pki.dir}:{kube.pki.dir}:ro"]
    docker(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",
        *mounts,
        "-e",
        f"KUBECONFIG={kubeconfig}",
        "-e",
        "KOPFKA_RESYNC_SECONDS=3",
        images["operator"],
        *[a.replace("8080", "18080") for a in args],
    )

    kube.kubectl("create", "namespace", "image-test")
    doc = yaml.safe_load((CHART.parents[1] / "manifests" / "examples" / "kafkacluster.yaml").read_text())
    kube.kubectl("apply", "-n", "image-test", "-f", "-", input=yaml.safe_dump(doc))

    def reconciled() -> bool:
        out = kube.kubectl("get", "statefulset", "demo-broker", "-n", "image-test", "-o", "json", check=False)
        return out.returncode == 0 and json.loads(out.stdout)["spec"]["replicas"] == 3

    def status() -> dict:
        out = kube.kubectl("get", "kc", "demo", "-n", "image-test", "-o", "json").stdout
        return json.loads(out).get("status") or {}

    try:
        wait_for(reconciled, timeout=300, what="the StatefulSet from the operator image")
        # the reconcile writes the status after it applied the StatefulSet
        wait_for(lambda: "observedGeneration" in status(), timeout=120, what="the KafkaCluster's status")
    except TimeoutError:
        print(docker("logs", "--tail", "60", name, check=False).stderr)
        raise
    assert status()["observedGeneration"] == 1
