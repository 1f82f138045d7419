"""handlers.py only wires kopf's events to reconcile steps: which event runs which step, on which cluster."""

from __future__ import annotations

import kopf
import pytest
from reconcile_fakes import World, start_cluster, topic_body

from kafka_operator import handlers


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    world = World()
    start_cluster(world, brokers=3)
    monkeypatch.setattr(handlers, "_ctx", world.ctx)
    return world


def owned(world: World, kind: str, name: str) -> dict:
    found = world.kube.find(kind, name)
    assert found is not None
    return found


async def test_a_deleted_owned_object_is_applied_again(world):
    service = owned(world, "Service", "demo-bootstrap")
    del world.kube.objects[("v1", "Service", "kafka", "demo-bootstrap")]
    await handlers.owned_object_event(type="DELETED", body=service)
    assert world.kube.find("Service", "demo-bootstrap") is not None
    assert len(world.kube.status_patches) == 1


async def test_other_owned_object_changes_are_ignored_and_statefulset_changes_refresh_status(world):
    await handlers.owned_object_event(type="MODIFIED", body=owned(world, "Service", "demo-bootstrap"))
    assert world.kube.status_patches == []
    await handlers.statefulset_event(type="MODIFIED", body=owned(world, "StatefulSet", "demo-broker"))
    assert world.kube.applied == [] and len(world.kube.status_patches) == 1


async def test_objects_of_a_cluster_being_deleted_or_gone_change_nothing(world):
    statefulset = owned(world, "StatefulSet", "demo-broker")
    body = world.cluster()
    body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    world.kube.add(body)
    await handlers.statefulset_event(type="DELETED", body=statefulset)
    await handlers.resync_cluster(body=body)
    del world.kube.objects[("kopfka.io/v1alpha1", "KafkaCluster", "kafka", "demo")]
    await handlers.statefulset_event(type="DELETED", body=statefulset)
    assert world.kube.applied == [] and world.kube.status_patches == []


async def test_objects_without_a_kafkacluster_owner_are_ignored(world):
    stray = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "namespace": "kafka"}}
    await handlers.owned_object_event(type="DELETED", body=stray)
    assert world.kube.applied == [] and world.kube.status_patches == []


def test_a_topic_that_cannot_be_reconciled_yet_is_retried_by_kopf(world):
    with pytest.raises(kopf.TemporaryError):
        handlers.reconcile_topic(body=world.kube.add(topic_body(cluster="missing")))
    assert world.kube.status_patches[-1][2]["phase"] == "Pending"


def test_the_webhook_refuses_a_replication_factor_above_the_brokers(world):
    with pytest.raises(kopf.AdmissionError, match="ReplicationFactorExceedsBrokers"):
        handlers.validate_topic(body=topic_body(partitions=1, replicationFactor=4), old=None)
    handlers.validate_topic(body=topic_body(partitions=1, replicationFactor=3), old=None)
