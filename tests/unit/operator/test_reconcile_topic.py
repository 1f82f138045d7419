"""reconcile/topic.py against the fakes: a KafkaTopic's spec → admin calls, reassignments, status and Events."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError
from reconcile_fakes import World, cluster_body, topic_body

from kafka_operator.model.topic import ObservedTopic
from kafka_operator.reconcile.topic import TopicNotReady, delete_topic, reconcile_topic


@pytest.fixture
def world() -> World:
    world = World()
    world.kube.add(cluster_body(brokers=3, bootstrapOverride="127.0.0.1:9092"))
    return world


def ready(status: dict) -> dict:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def topic(world: World, **spec) -> dict:
    return world.kube.add(topic_body(**spec))


def test_a_missing_topic_is_created_and_ready(world):
    status = reconcile_topic(world.ctx, topic(world, partitions=3, replicationFactor=2, config={"retention.ms": "1"}))
    assert ("create", ("orders", 3, 2, {"retention.ms": "1"})) in world.kafka.calls
    assert world.kafka.bootstraps == ["127.0.0.1:9092"]
    assert status["phase"] == "Ready" and status["partitions"] == 3 and status["replicationFactor"] == 2
    assert ready(status)["reason"] == "Synced"
    assert world.kube.reasons() == ["TopicCreated"]
    assert world.kube.find("KafkaTopic", "orders")["status"] == status


def test_topic_name_defaults_to_the_resource_name_and_can_differ(world):
    reconcile_topic(world.ctx, topic(world, topicName="orders.v2"))
    assert "orders.v2" in world.kafka.topics and "orders" not in world.kafka.topics


def test_a_missing_cluster_is_pending_and_retried(world):
    with pytest.raises(TopicNotReady, match="KafkaCluster nowhere not found"):
        reconcile_topic(world.ctx, topic(world, cluster="nowhere"))
    status = world.kube.find("KafkaTopic", "orders")["status"]
    assert status["phase"] == "Pending" and ready(status)["reason"] == "ClusterNotFound"


def test_replication_factor_above_the_brokers_touches_nothing_and_warns_once(world):
    body = topic(world, replicationFactor=4)
    status = reconcile_topic(world.ctx, body)
    assert world.kafka.calls == []
    assert status["phase"] == "Refused" and ready(status)["reason"] == "ReplicationFactorExceedsBrokers"
    (event,) = world.kube.events
    assert event.type == "Warning" and "replicationFactor 4 exceeds the 3 broker(s)" in event.message
    reconcile_topic(world.ctx, world.kube.find("KafkaTopic", "orders"))
    assert len(world.kube.events) == 1


def test_partitions_grow_and_config_changes_apply(world):
    world.kafka.topics["orders"] = ObservedTopic(partitions={0: [0], 1: [1]}, config={"cleanup.policy": "compact"})
    status = reconcile_topic(world.ctx, topic(world, partitions=4, config={"retention.ms": "5"}))
    assert ("grow_partitions", ("orders", 4)) in world.kafka.calls
    assert ("alter_config", ("orders", {"retention.ms": "5"}, ("cleanup.policy",))) in world.kafka.calls
    assert world.kube.reasons() == ["PartitionsAdded", "ConfigChanged"]
    assert status["phase"] == "Ready" and status["partitions"] == 4


def test_shrinking_partitions_is_refused_while_the_rest_applies(world):
    world.kafka.topics["orders"] = ObservedTopic(partitions={0: [0], 1: [1]})
    status = reconcile_topic(world.ctx, topic(world, partitions=1, config={"retention.ms": "5"}))
    assert status["phase"] == "Refused" and ready(status)["reason"] == "PartitionsCannotShrink"
    assert world.kafka.topics["orders"].config == {"retention.ms": "5"}
    assert "PartitionsCannotShrink" in world.kube.reasons()


def test_a_replication_factor_change_is_a_reassignment_in_zookeeper(world):
    world.kafka.topics["orders"] = ObservedTopic(partitions={0: [0], 1: [1]})
    with pytest.raises(TopicNotReady, match="waiting for the brokers"):
        reconcile_topic(world.ctx, topic(world, partitions=2, replicationFactor=2))
    (plan,) = world.zk.requested
    assert set(plan) == {("orders", 0), ("orders", 1)} and all(len(set(r)) == 2 for r in plan.values())
    assert plan[("orders", 0)][0] == 0  # the preferred leader stays first
    assert "ReassignmentStarted" in world.kube.reasons()
    status = world.kube.find("KafkaTopic", "orders")["status"]
    assert status["phase"] == "Pending" and ready(status)["reason"] == "InProgress"


def test_an_unreachable_zookeeper_during_a_reassignment_is_not_ready(world):
    world.kafka.topics["orders"] = ObservedTopic(partitions={0: [0]})
    world.zk.unavailable = True
    with pytest.raises(TopicNotReady, match="ZooKeeper"):
        reconcile_topic(world.ctx, topic(world, partitions=1, replicationFactor=2))
    assert ready(world.kube.find("KafkaTopic", "orders")["status"])["reason"] == "ZooKeeperUnavailable"


def test_a_kafka_error_is_reported_and_retried(world):
    world.kafka.error = KafkaError(KafkaError._TRANSPORT)
    with pytest.raises(TopicNotReady, match="Kafka admin request failed"):
        reconcile_topic(world.ctx, topic(world))
    status = world.kube.find("KafkaTopic", "orders")["status"]
    assert status["phase"] == "Error" and ready(status)["reason"] == "KafkaError"


def test_deleting_a_topic_deletes_it_in_kafka(world):
    world.kafka.topics["orders"] = ObservedTopic(partitions={0: [0]})
    delete_topic(world.ctx, topic(world))
    assert "orders" not in world.kafka.topics
    assert world.kube.reasons() == ["TopicDeleted"]


def test_deleting_a_topic_of_a_deleted_cluster_does_nothing(world):
    delete_topic(world.ctx, topic(world, cluster="gone"))
    assert world.kafka.calls == [] and world.kube.events == []
