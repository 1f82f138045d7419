"""Fixtures for the k8s tier: a real control plane on loopback, the chart installed, the operator running.

Under ``CI=true`` a missing tool is a failure, never a skip (``make tools`` builds them all).
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.waiting import wait_for

from .local_cluster import TOOLS, LocalKubernetes, free_port, operator_process, tool

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "kopfka"
RELEASE = "kopfka"
OPERATOR_NAMESPACE = "kopfka"

pytestmark = pytest.mark.k8s


def require_tools(*names: str) -> None:
    missing = [n for n in names if tool(n) is None]
    if not missing:
        return
    message = f"missing {', '.join(missing)}: run `make tools` (scripts/build-tools.sh)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKubernetes]:
    require_tools(*TOOLS)
    with LocalKubernetes(tmp_path_factory.mktemp("kube")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def chart_installed(kube: LocalKubernetes) -> str:
    """``helm install`` of the chart: CRDs, RBAC, ServiceAccount, operator Deployment (its pod never runs)."""
    kube.helm("install", RELEASE, str(CHART), "--namespace", OPERATOR_NAMESPACE, "--create-namespace", "--wait=false")
    for crd in ("kafkaclusters.kopfka.io", "kafkatopics.kopfka.io", "kafkausers.kopfka.io"):
        kube.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=240s", timeout=300)
    return RELEASE


WEBHOOK_NAME = "kopfka-test-webhook"
PROBE_NAMESPACE = "webhook-probe"

# What the operator must be allowed before it starts: the API server applies a new (Cluster)RoleBinding
# through its own informers, a moment after helm stored it.
OPERATOR_NEEDS = [
    ("watch", "kafkaclusters.kopfka.io"),
    ("watch", "kafkatopics.kopfka.io"),
    ("watch", "kafkausers.kopfka.io"),
    ("create", "secrets"),
    ("list", "statefulsets.apps"),
]


@pytest.fixture(scope="session")
def operator(kube: LocalKubernetes, chart_installed: str, tmp_path_factory: pytest.TempPathFactory):
    """The operator, authenticated as the chart's ServiceAccount (the chart's RBAC is all it gets), serving
    the KafkaTopic admission webhook on loopback, registered the way the chart registers it."""
    workdir = tmp_path_factory.mktemp("operator")
    kubeconfig = kube.token_kubeconfig(
        workdir / "operator.kubeconfig", namespace=OPERATOR_NAMESPACE, service_account=RELEASE
    )
    port = free_port()
    cert_dir = kube.pki.serving_cert(workdir / "webhook", hosts=["127.0.0.1"])
    env = {
        "KOPFKA_WEBHOOK_ENABLED": "true",
        "KOPFKA_WEBHOOK_ADDR": "127.0.0.1",
        "KOPFKA_WEBHOOK_PORT": str(port),
        "KOPFKA_WEBHOOK_CERT_DIR": str(cert_dir),
        # short, so unreachable brokers are reported soon; still ample for the real brokers on loopback
        "KOPFKA_ADMIN_TIMEOUT_SECONDS": "10",
    }
    log = workdir / "operator.log"
    account = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{RELEASE}"
    wait_for(
        lambda: all(
            kube.kubectl("auth", "can-i", verb, resource, "--all-namespaces", f"--as={account}", check=False).returncode
            == 0
            for verb, resource in OPERATOR_NEEDS
        ),
        timeout=120,
        what=f"the chart's RBAC to authorize {account}",
    )
    with operator_process(kubeconfig, log, extra_env=env) as proc:
        wait_for(lambda: _listening(port), timeout=180, what="the operator's webhook server", alive=[proc])
        kube.kubectl("apply", "-f", "-", input=_webhook_registration(kube, port))
        try:
            _wait_for_the_webhook(kube, proc)
            yield proc
        finally:
            kube.kubectl("delete", "validatingwebhookconfiguration", WEBHOOK_NAME, check=False)
            kube.kubectl("delete", "namespace", PROBE_NAMESPACE, "--wait=false", check=False)
    print(log.read_text(errors="replace")[-20000:])


def _wait_for_the_webhook(kube: LocalKubernetes, operator: object) -> None:
    """Until the API server calls the webhook it was just told about (it loads webhook registrations through
    its own informers): a server-side dry run of a KafkaTopic wider than its cluster is rejected."""
    kube.kubectl("create", "namespace", PROBE_NAMESPACE, check=False)
    cluster = {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": "probe"},
        "spec": {"brokers": 1, "zookeeper": {"connect": "127.0.0.1:1"}, "bootstrapOverride": "127.0.0.1:1"},
    }
    kube.kubectl("apply", "-n", PROBE_NAMESPACE, "-f", "-", input=yaml.safe_dump(cluster))
    topic = {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaTopic",
        "metadata": {"name": "probe"},
        "spec": {"cluster": "probe", "partitions": 1, "replicationFactor": 2},
    }

    def rejected() -> bool:
        result = kube.kubectl(
            "create", "--dry-run=server", "-n", PROBE_NAMESPACE, "-f", "-", input=yaml.safe_dump(topic), check=False
        )
        return result.returncode != 0 and "ReplicationFactorExceedsBrokers" in result.stderr

    wait_for(rejected, timeout=120, interval=0.5, what="the KafkaTopic webhook to be in effect", alive=[operator])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _webhook_registration(kube: LocalKubernetes, port: int) -> str:
    """The chart's ValidatingWebhookConfiguration, but by URL (the operator is not behind a Service here) and
    with failurePolicy Fail, so a webhook that does not answer fails the test instead of passing silently."""
    rendered = subprocess.run(
        [
            str(tool("helm")),
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            OPERATOR_NAMESPACE,
            "--set",
            "webhook.enabled=true",
            "--show-only",
            "templates/webhook.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    registration = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "ValidatingWebhookConfiguration")
    registration["metadata"] = {"name": WEBHOOK_NAME}
    for hook in registration["webhooks"]:
        path = hook["clientConfig"]["service"]["path"]
        ca = base64.b64encode((kube.pki.dir / "ca.crt").read_bytes()).decode()
        hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca}
        hook["failurePolicy"] = "Fail"
    return yaml.safe_dump(registration)


@pytest.fixture
def namespace(kube: LocalKubernetes) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)
