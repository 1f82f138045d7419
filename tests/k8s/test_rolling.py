"""Rolling restarts and readiness-driven status, with pod readiness played by the test.

No kubelet runs here, so the test marks broker pods Ready through the status subresource, as a kubelet
would after ``/readyz`` answers; the StatefulSet controller and the operator react to that for real.
"""

from __future__ import annotations

import json

import pytest
import yaml
from tests.waiting import wait_for

from .conftest import REPO
from .local_cluster import LocalKubernetes

pytestmark = pytest.mark.k8s

BROKERS = "kopfka.io/cluster=demo,app.kubernetes.io/component=broker"


def pods(kube: LocalKubernetes, namespace: str) -> dict[str, dict]:
    out = kube.kubectl("get", "pods", "-n", namespace, "-l", BROKERS, "-o", "json").stdout
    return {p["metadata"]["name"]: p for p in json.loads(out)["items"]}


def mark_ready(kube: LocalKubernetes, namespace: str, *names: str) -> None:
    status = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    for name in names:
        kube.kubectl(
            "patch", "pod", name, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status)
        )


def cluster_status(kube: LocalKubernetes, namespace: str) -> dict:
    out = kube.kubectl("get", "kafkacluster", "demo", "-n", namespace, "-o", "json").stdout
    return json.loads(out).get("status") or {}


def test_ready_pods_make_the_cluster_running_and_config_changes_roll_one_broker_at_a_time(kube, operator, namespace):
    def wait(check, what, timeout=180):  # an upper bound, generous for a loaded machine
        wait_for(check, timeout=timeout, interval=0.3, what=what, alive=[operator])

    doc = yaml.safe_load((REPO / "manifests" / "examples" / "kafkacluster.yaml").read_text())
    doc["spec"]["zookeeper"] = {"connect": "zookeeper.example:2181"}
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))
    wait(lambda: len(pods(kube, namespace)) == 3, "3 broker pods")
    mark_ready(kube, namespace, *pods(kube, namespace))
    wait(lambda: cluster_status(kube, namespace).get("phase") == "Running", "phase Running")
    status = cluster_status(kube, namespace)
    assert status["readyBrokers"] == 3 and all(b["ready"] for b in status["brokers"])
    assert next(c for c in status["conditions"] if c["type"] == "Ready")["status"] == "True"

    before = {name: p["metadata"]["uid"] for name, p in pods(kube, namespace).items()}
    kube.kubectl(
        "patch",
        "kafkacluster",
        "demo",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"config": {"log.retention.hours": "2"}}}),
    )
    order = []
    for _ in range(3):
        # Exactly one broker is restarted, then nothing more until it is ready again.
        def restarted() -> list[str]:
            current = pods(kube, namespace)
            return [n for n, uid in before.items() if n not in current or current[n]["metadata"]["uid"] != uid]

        expected = len(order) + 1
        wait(lambda n=expected: len(restarted()) == n, f"restart #{expected}")
        (new,) = [n for n in restarted() if n not in order]
        order.append(new)
        wait(lambda n=new: n in pods(kube, namespace), f"{new} recreated")
        wait(lambda: cluster_status(kube, namespace).get("phase") == "Rolling", "phase Rolling")
        assert len(restarted()) == len(order)  # nobody else went down meanwhile
        mark_ready(kube, namespace, new)
    assert order == ["demo-broker-2", "demo-broker-1", "demo-broker-0"]
    wait(lambda: cluster_status(kube, namespace).get("phase") == "Running", "phase Running after the roll")
    rolling = next(c for c in cluster_status(kube, namespace)["conditions"] if c["type"] == "Rolling")
    assert rolling["status"] == "False"
    events = json.loads(kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    restarts = sorted(e["message"] for e in events if e["reason"] == "RollingRestart")
    assert restarts == [f"restarting demo-broker-{i}: ConfigChanged" for i in range(3)]
