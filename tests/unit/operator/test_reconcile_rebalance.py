"""reconcile/rebalance.py through the cluster reconcile: lost brokers are remembered with their first-seen
time and, past the grace period, their replicas move to registered brokers."""

from __future__ import annotations

from reconcile_fakes import World, start_cluster

from kafka_operator.reconcile.cluster import reconcile_cluster

GRACE = 120


def lost_world(*, on_node_loss: bool = True) -> World:
    world = World()
    start_cluster(world, brokers=4, rebalance={"gracePeriodSeconds": GRACE, "onNodeLoss": on_node_loss})
    world.zk.assignments = {"t": {0: [0, 2], 1: [2, 1]}, "u": {0: [0, 1]}}
    world.zk.registered = [0, 1, 3]  # broker 2 is gone
    return world


def test_a_lost_broker_is_recorded_and_its_replicas_stay_within_the_grace_period():
    world = lost_world()
    status = reconcile_cluster(world.ctx, world.cluster())
    assert status["lostBrokers"] == [{"id": 2, "since": "2026-01-01T12:00:00Z"}]
    world.clock.advance(GRACE - 1)
    status = reconcile_cluster(world.ctx, world.cluster())
    assert status["lostBrokers"] == [{"id": 2, "since": "2026-01-01T12:00:00Z"}]
    assert world.zk.requested == [] and "BrokerLost" not in world.kube.reasons()


def test_past_the_grace_period_the_lost_brokers_replicas_move():
    world = lost_world()
    reconcile_cluster(world.ctx, world.cluster())
    world.clock.advance(GRACE)
    reconcile_cluster(world.ctx, world.cluster())
    (plan,) = world.zk.requested
    assert plan == {("t", 0): [0, 3], ("t", 1): [1, 3]}
    (event,) = [e for e in world.kube.events if e.reason == "BrokerLost"]
    assert event.type == "Warning" and "moving 2 partition(s)" in event.message
    # While the controller moves them, no second plan.
    world.clock.advance(30)
    reconcile_cluster(world.ctx, world.cluster())
    assert len(world.zk.requested) == 1


def test_without_a_broker_to_take_its_place_the_replication_factor_is_kept_and_said():
    world = lost_world()
    world.zk.registered = [0, 1]
    world.zk.assignments = {"t": {0: [0, 1, 2]}}
    reconcile_cluster(world.ctx, world.cluster())
    world.clock.advance(GRACE)
    reconcile_cluster(world.ctx, world.cluster())
    assert world.zk.requested == []
    (event,) = [e for e in world.kube.events if e.reason == "BrokerLostNoReplacement"]
    assert "t-0" in event.message


def test_a_returning_broker_is_forgotten():
    world = lost_world()
    reconcile_cluster(world.ctx, world.cluster())
    world.zk.registered = [0, 1, 2, 3]
    assert reconcile_cluster(world.ctx, world.cluster())["lostBrokers"] == []


def test_an_unreachable_zookeeper_keeps_the_lost_broker_list():
    world = lost_world()
    reconcile_cluster(world.ctx, world.cluster())
    world.zk.unavailable = True
    world.clock.advance(GRACE * 2)
    status = reconcile_cluster(world.ctx, world.cluster())
    assert status["lostBrokers"] == [{"id": 2, "since": "2026-01-01T12:00:00Z"}]
    assert world.zk.requested == []


def test_rebalance_off_or_no_broker_reachable_asks_zookeeper_nothing():
    world = lost_world(on_node_loss=False)
    reconcile_cluster(world.ctx, world.cluster())
    assert "topic_assignments" not in world.zk.calls
    world = lost_world()
    for ordinal in range(4):
        pod = world.kube.find("Pod", f"demo-broker-{ordinal}")
        pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
        world.kube.add(pod)
    reconcile_cluster(world.ctx, world.cluster())
    assert "topic_assignments" not in world.zk.calls
