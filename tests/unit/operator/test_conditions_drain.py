"""Status conditions keep transition times; the drain plan empties leaving brokers."""

from __future__ import annotations

from kafka_operator.model.conditions import Condition, merge_conditions
from kafka_operator.reconcile.drain import drain_plan, replication_blockers


def test_transition_time_moves_only_when_status_changes():
    first = merge_conditions([], [Condition("Ready", False, "BrokersNotReady", "0/3")], now="t1")
    same = merge_conditions(first, [Condition("Ready", False, "BrokersNotReady", "1/3")], now="t2")
    flipped = merge_conditions(same, [Condition("Ready", True, "BrokersReady", "3/3")], now="t3")
    assert first[0]["lastTransitionTime"] == "t1"
    assert same[0]["lastTransitionTime"] == "t1" and same[0]["message"] == "1/3"
    assert flipped[0] == {
        "type": "Ready",
        "status": "True",
        "reason": "BrokersReady",
        "message": "3/3",
        "lastTransitionTime": "t3",
    }


def test_drain_moves_every_replica_off_leaving_brokers():
    assignments = {"t": {0: [0, 3], 1: [3, 4], 2: [1, 2]}}
    plan = drain_plan(assignments, keep=[0, 1, 2], leaving=[3, 4])
    assert set(plan) == {("t", 0), ("t", 1)}
    for replicas in plan.values():
        assert len(replicas) == 2 and len(set(replicas)) == 2 and not set(replicas) & {3, 4}
    assert plan[("t", 0)][0] == 0


def test_a_replica_without_a_replacement_is_never_dropped():
    # The plan never lowers a replication factor; a scale-down is refused before it gets here.
    assert drain_plan({"t": {0: [0, 1, 2]}}, keep=[0, 1], leaving=[2]) == {}
    assert replication_blockers({"t": {0: [0, 1, 2]}, "u": {0: [0, 1]}}, brokers=2) == {"t": 3}
    assert replication_blockers({"t": {0: [0, 1, 2]}}, brokers=3) == {}


def test_a_lost_broker_without_a_replacement_keeps_its_place():
    # Three brokers, RF 3, broker 2 lost for good: nowhere to move its replicas, so the replication factor
    # is kept (the partition catches up when a broker 2 returns) rather than shrunk to 2 for ever.
    assignments = {"t": {0: [0, 1, 2], 1: [2, 0, 1]}, "u": {0: [0, 1]}}
    assert drain_plan(assignments, keep=[0, 1], leaving=[2]) == {}
    # With a fourth broker, the lost one's replicas move there.
    plan = drain_plan(assignments, keep=[0, 1, 3], leaving=[2])
    assert plan == {("t", 0): [0, 1, 3], ("t", 1): [0, 1, 3]}
