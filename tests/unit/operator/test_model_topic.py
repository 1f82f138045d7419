"""model/topic.py: the KafkaTopic plan — validation, growth-only partitions, config diffs, RF reassignment."""

from __future__ import annotations

from kafka_operator.model.spec import TopicSpec
from kafka_operator.model.topic import (
    PARTITIONS_CANNOT_SHRINK,
    RF_EXCEEDS_BROKERS,
    ObservedTopic,
    plan_topic,
    reassign_replication,
)


def topic(**spec) -> TopicSpec:
    return TopicSpec.from_resource(
        {"metadata": {"name": "orders-cr", "namespace": "ns"}, "spec": {"cluster": "demo", **spec}}
    )


def test_topic_name_defaults_to_the_resource_name():
    assert topic().topic_name == "orders-cr"
    assert topic(topicName="orders").topic_name == "orders"


def test_rf_above_brokers_blocks_everything():
    plan = plan_topic(topic(partitions=3, replicationFactor=4), None, brokers=3)
    assert plan.blocked and plan.empty
    assert plan.refusal[0] == RF_EXCEEDS_BROKERS
    assert "replicationFactor 4 exceeds the 3 broker(s)" in plan.refusal[1]


def test_missing_topic_is_created_with_its_config():
    plan = plan_topic(topic(partitions=3, replicationFactor=2, config={"retention.ms": "1"}), None, brokers=3)
    assert plan.create and plan.set_config == {"retention.ms": "1"} and plan.refusal is None


def test_partitions_grow_and_never_shrink():
    observed = ObservedTopic(partitions={0: [0], 1: [1]})
    assert plan_topic(topic(partitions=4), observed, brokers=3).grow_partitions_to == 4
    shrink = plan_topic(topic(partitions=1, config={"a": "b"}), observed, brokers=3)
    assert shrink.grow_partitions_to is None
    assert shrink.refusal[0] == PARTITIONS_CANNOT_SHRINK and not shrink.blocked
    assert shrink.set_config == {"a": "b"}  # the other changes still apply


def test_config_diff_sets_changed_and_deletes_removed_keys():
    observed = ObservedTopic(partitions={0: [0]}, config={"retention.ms": "1", "cleanup.policy": "compact"})
    plan = plan_topic(topic(config={"retention.ms": "2"}), observed, brokers=1)
    assert plan.set_config == {"retention.ms": "2"}
    assert plan.delete_config == ("cleanup.policy",)
    assert plan_topic(topic(config={"retention.ms": "1", "cleanup.policy": "compact"}), observed, brokers=1).empty


def test_replication_factor_growth_spreads_new_replicas():
    assignment = {0: [0], 1: [1], 2: [2]}
    new = reassign_replication(assignment, broker_ids=[0, 1, 2], replication_factor=2)
    assert set(new) == {0, 1, 2}
    for p, replicas in new.items():
        assert replicas[0] == assignment[p][0] and len(set(replicas)) == 2
    loads = [sum(b in r for r in new.values()) for b in (0, 1, 2)]
    assert loads == [2, 2, 2]


def test_replication_factor_shrink_keeps_the_preferred_leader():
    assert reassign_replication({0: [2, 0, 1]}, broker_ids=[0, 1, 2], replication_factor=1) == {0: [2]}


def test_plan_includes_reassignment_when_rf_differs():
    observed = ObservedTopic(partitions={0: [0], 1: [1]})
    plan = plan_topic(topic(partitions=2, replicationFactor=3), observed, brokers=3, broker_ids=[0, 1, 2])
    assert {p: len(r) for p, r in plan.reassignment.items()} == {0: 3, 1: 3}
