"""reconcile/kube.py's ApiKube: the kubernetes client calls behind the Kube seam, with the client's API
classes replaced by recorders (no API server)."""

from __future__ import annotations

import datetime
from typing import Any

import kubernetes
import pytest

from kafka_operator.reconcile.kube import FIELD_MANAGER, ApiKube

BODY = {
    "apiVersion": "kopfka.io/v1alpha1",
    "kind": "KafkaCluster",
    "metadata": {"name": "demo", "namespace": "kafka", "uid": "u-1"},
}


@pytest.fixture
def kube() -> ApiKube:
    return ApiKube(kubernetes.client.ApiClient())


def test_events_name_the_custom_resource_and_the_operator(kube, monkeypatch):
    sent: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        kubernetes.client.CoreV1Api, "create_namespaced_event", lambda self, ns, body: sent.append((ns, body))
    )
    at = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    kube.create_event(BODY, reason="Created", message="created X", type="Normal", time=at)
    ((namespace, event),) = sent
    wire = kube.api.sanitize_for_serialization(event)
    assert namespace == "kafka"
    assert wire["involvedObject"] == {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaCluster",
        "name": "demo",
        "namespace": "kafka",
        "uid": "u-1",
    }
    assert wire["metadata"] == {"generateName": "demo.", "namespace": "kafka"}
    assert (wire["reason"], wire["message"], wire["type"], wire["count"]) == ("Created", "created X", "Normal", 1)
    assert wire["source"] == {"component": FIELD_MANAGER} and wire["reportingComponent"] == FIELD_MANAGER
    assert wire["firstTimestamp"].startswith("2026-01-01T00:00:00")


def test_a_missing_custom_resource_is_none_and_other_errors_propagate(kube, monkeypatch):
    def get(self, group, version, namespace, plural, name):
        raise kubernetes.client.ApiException(status=404 if name == "gone" else 500)

    monkeypatch.setattr(kubernetes.client.CustomObjectsApi, "get_namespaced_custom_object", get)
    assert kube.get_custom("kafkaclusters", "kafka", "gone") is None
    with pytest.raises(kubernetes.client.ApiException):
        kube.get_custom("kafkaclusters", "kafka", "broken")


def test_status_is_a_merge_patch_of_the_status_subresource(kube, monkeypatch):
    calls = []
    monkeypatch.setattr(
        kubernetes.client.CustomObjectsApi,
        "patch_namespaced_custom_object_status",
        lambda self, *args: calls.append(args),
    )
    kube.patch_custom_status("kafkaclusters", "kafka", "demo", {"phase": "Running"})
    assert calls == [("kopfka.io", "v1alpha1", "kafka", "kafkaclusters", "demo", {"status": {"phase": "Running"}})]


def test_pods_are_listed_by_label_selector(kube, monkeypatch):
    selectors = []

    def list_pods(self, namespace, label_selector):
        selectors.append((namespace, label_selector))
        return kubernetes.client.V1PodList(items=[kubernetes.client.V1Pod(metadata={"name": "demo-broker-0"})])

    monkeypatch.setattr(kubernetes.client.CoreV1Api, "list_namespaced_pod", list_pods)
    pods = kube.list_pods("kafka", labels={"a": "1", "b": "2"})
    assert selectors == [("kafka", "a=1,b=2")]
    assert pods == [{"metadata": {"name": "demo-broker-0"}}]
