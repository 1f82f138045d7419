"""The Helm chart: lint, render, every rendered object accepted by a real API server; manifests/ in sync."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import CHART, REPO, require_tools
from .local_cluster import LocalKubernetes, tool

pytestmark = pytest.mark.k8s

ALL_OPTIONS = [
    "--set",
    "webhook.enabled=true",
    "--set",
    "exampleCluster.enabled=true",
    "--set",
    "exampleTopic.enabled=true",
]
VALUE_SETS = {
    "defaults": [],
    "everything": ALL_OPTIONS,
    "namespaced": [*ALL_OPTIONS, "--set", "watchNamespaces={team-a,team-b}"],
}


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    require_tools("helm")
    return subprocess.run([str(tool("helm")), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_helm_lint(values):
    result = helm("lint", "--strict", str(CHART), *values)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_objects():
    result = helm("template", "kopfka", str(CHART), "--namespace", "kopfka", *ALL_OPTIONS)
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
    assert kinds == sorted(
        [
            "ServiceAccount/kopfka",
            "ClusterRole/kopfka",
            "ClusterRoleBinding/kopfka",
            "Deployment/kopfka",
            "Service/kopfka-webhook",
            "Secret/kopfka-webhook",
            "ValidatingWebhookConfiguration/kopfka",
            "KafkaCluster/demo",
            "KafkaTopic/orders",
        ]
    )
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:3] == ["run", "--standalone", "--module=kafka_operator.handlers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    verbs = {(g, r): set(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert "delete" not in verbs[("", "configmaps")]  # owned objects are removed by the garbage collector
    assert "delete" in verbs[("", "services")]  # ... but a removed listener's or broker's Services go at once
    assert verbs[("", "pods")] == {"get", "list", "watch", "delete"}  # the roller deletes pods, nothing else
    # Secrets: CAs, certificates and SCRAM passwords the operator owns (namespaced rules, never cluster rules).
    assert verbs[("", "secrets")] == {"get", "list", "watch", "create", "patch", "update", "delete"}
    assert verbs[("networking.k8s.io", "networkpolicies")] >= {"get", "create", "patch", "delete"}
    assert verbs[("", "nodes")] == {"get", "list", "watch"}  # read-only: NodePort listeners' node addresses
    assert {"kafkausers", "kafkausers/status", "kafkausers/finalizers"} <= {r for g, r in verbs if g == "kopfka.io"}
    assert not any(g == "admissionregistration.k8s.io" for g, _ in verbs)  # the chart registers the webhook
    webhooks = next(d for d in docs if d["kind"] == "ValidatingWebhookConfiguration")["webhooks"]
    assert {w["rules"][0]["resources"][0]: w["clientConfig"]["service"]["path"] for w in webhooks} == {
        "kafkaclusters": "/validate-kafkacluster",
        "kafkatopics": "/validate-kafkatopic",
        "kafkausers": "/validate-kafkauser",
    }
    assert {w["failurePolicy"] for w in webhooks} == {"Ignore"}


def test_namespaced_install_uses_roles():
    result = helm("template", "kopfka", str(CHART), *VALUE_SETS["namespaced"])
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    roles = sorted((d["kind"], d["metadata"]["namespace"]) for d in docs if d["kind"] in ("Role", "RoleBinding"))
    assert roles == [("Role", "team-a"), ("Role", "team-b"), ("RoleBinding", "team-a"), ("RoleBinding", "team-b")]
    cluster_role = next(d for d in docs if d["kind"] == "ClusterRole")
    assert {r for rule in cluster_role["rules"] for r in rule["resources"]} == {
        "customresourcedefinitions",
        "namespaces",
        "nodes",
    }
    args = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=team-a" in args and "--all-namespaces" not in args


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_rendered_object_is_accepted_by_the_api_server(kube: LocalKubernetes, chart_installed, values):
    namespace = "dry-run"
    kube.kubectl("create", "namespace", namespace, check=False)
    for ns in ("team-a", "team-b"):
        kube.kubectl("create", "namespace", ns, check=False)
    rendered = helm("template", "dry", str(CHART), "--namespace", namespace, *values)
    assert rendered.returncode == 0, rendered.stderr
    result = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered.stdout)
    assert result.stdout.count("(server dry run)") == len([d for d in yaml.safe_load_all(rendered.stdout) if d])
    crds = kube.kubectl("apply", "--dry-run=server", "-f", str(CHART / "crds"))
    assert crds.stdout.count("(server dry run)") == 3


def test_manifests_are_in_sync_with_the_chart(tmp_path: Path):
    require_tools("helm")
    subprocess.run(
        ["bash", str(REPO / "scripts" / "render-manifests.sh"), str(tmp_path)],
        check=True,
        env={"HELM": str(tool("helm")), "PATH": "/usr/bin:/bin"},
    )
    committed = REPO / "manifests"
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.yaml"))
    assert fresh == sorted(p.relative_to(committed) for p in committed.rglob("*.yaml"))
    stale = [str(p) for p in fresh if not filecmp.cmp(tmp_path / p, committed / p, shallow=False)]
    assert not stale, f"manifests/ is stale, run scripts/render-manifests.sh: {stale}"


def test_manifests_apply_to_the_api_server(kube: LocalKubernetes, chart_installed):
    for path in ("crds", "operator.yaml"):
        result = kube.kubectl("apply", "--dry-run=server", "-f", str(REPO / "manifests" / path))
        assert "(server dry run)" in result.stdout
    kube.kubectl("create", "namespace", "examples", check=False)
    result = kube.kubectl("apply", "--dry-run=server", "-n", "examples", "-f", str(REPO / "manifests" / "examples"))
    assert result.stdout.count("(server dry run)") == 2
