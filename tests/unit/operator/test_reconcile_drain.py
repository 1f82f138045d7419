"""reconcile/drain.py through the cluster reconcile: a scale-down shrinks the StatefulSet only once the leaving
brokers hold no replica, waits when that cannot be known, and is refused when it would need a replication
factor lowered."""

from __future__ import annotations

from reconcile_fakes import World, start_cluster

from kafka_operator.reconcile.cluster import reconcile_cluster


def scale(world: World, brokers: int) -> dict:
    body = world.cluster()
    body["spec"]["brokers"] = brokers
    body["metadata"]["generation"] += 1
    return world.kube.add(body)


def sts_replicas(world: World) -> int:
    (sts,) = world.kube.applied_named("StatefulSet", "demo-broker")[-1:]
    return int(sts["spec"]["replicas"])


def reconciled(status: dict) -> dict:
    return next(c for c in status["conditions"] if c["type"] == "Reconciled")


def test_scale_down_moves_replicas_off_leaving_brokers_then_shrinks():
    world = World()
    start_cluster(world, brokers=4)
    world.zk.assignments = {"orders": {0: [0, 3], 1: [3, 1], 2: [1, 2]}}
    world.zk.registered = [0, 1, 2, 3]
    status = reconcile_cluster(world.ctx, scale(world, 3))
    assert sts_replicas(world) == 4
    (plan,) = world.zk.requested
    assert set(plan) == {("orders", 0), ("orders", 1)}
    assert all(3 not in replicas and len(set(replicas)) == 2 for replicas in plan.values())
    assert reconciled(status)["reason"] == "Draining"
    assert "moving 2 partition(s) off brokers [3]" in reconciled(status)["message"]
    assert world.kube.reasons().count("Draining") == 1

    # The controller is still moving them: wait, and do not write a second plan.
    status = reconcile_cluster(world.ctx, world.cluster())
    assert sts_replicas(world) == 4 and len(world.zk.requested) == 1
    assert reconciled(status)["message"] == "a partition reassignment is in progress"

    world.zk.finish_reassignment()
    status = reconcile_cluster(world.ctx, world.cluster())
    assert sts_replicas(world) == 3
    assert reconciled(status)["status"] == "True"


def test_zookeeper_unreachable_means_wait_not_proceed():
    world = World()
    start_cluster(world, brokers=3)
    world.zk.assignments = {"orders": {0: [2]}}  # held only by the broker that would go away
    world.zk.unavailable = True
    status = reconcile_cluster(world.ctx, scale(world, 2))
    assert sts_replicas(world) == 3
    condition = reconciled(status)
    assert condition["status"] == "False" and condition["reason"] == "DrainUnverified"
    assert "ZooKeeper" in condition["message"] and "keeps 3 broker(s)" in condition["message"]
    (event,) = [e for e in world.kube.events if e.reason == "DrainUnverified"]
    assert event.type == "Warning"


def test_a_zookeeper_error_mid_session_means_wait_too():
    world = World()
    start_cluster(world, brokers=3)
    world.zk.assignments = {"orders": {0: [2]}}
    world.zk.fail_on = {"topic_assignments"}
    status = reconcile_cluster(world.ctx, scale(world, 2))
    assert sts_replicas(world) == 3
    assert reconciled(status)["reason"] == "DrainUnverified"
    assert world.zk.requested == []


def test_scale_down_below_a_replication_factor_is_refused_and_lowers_nothing():
    world = World()
    start_cluster(world, brokers=3)
    world.zk.assignments = {"orders": {0: [0, 1, 2], 1: [1, 2, 0]}, "small": {0: [2]}}
    world.zk.registered = [0, 1, 2]
    status = reconcile_cluster(world.ctx, scale(world, 2))
    assert sts_replicas(world) == 3
    assert world.zk.requested == []  # no replica dropped, nothing moved
    condition = reconciled(status)
    assert condition["status"] == "False" and condition["reason"] == "ScaleDownRefused"
    assert "orders" in condition["message"] and "replication factor 3" in condition["message"]
    assert "small" not in condition["message"]
    (event,) = [e for e in world.kube.events if e.reason == "ScaleDownRefused"]
    assert event.type == "Warning" and "orders" in event.message

    # Still refused at the next resync, without a second Event.
    status = reconcile_cluster(world.ctx, world.cluster())
    assert sts_replicas(world) == 3 and reconciled(status)["reason"] == "ScaleDownRefused"
    assert [e.reason for e in world.kube.events].count("ScaleDownRefused") == 1


def test_a_refused_scale_down_proceeds_once_the_replication_factor_is_lowered():
    world = World()
    start_cluster(world, brokers=3)
    world.zk.assignments = {"orders": {0: [0, 1, 2]}}
    reconcile_cluster(world.ctx, scale(world, 2))
    assert sts_replicas(world) == 3
    world.zk.assignments = {"orders": {0: [0, 2]}}  # the user lowered the topic's RF to 2
    reconcile_cluster(world.ctx, world.cluster())
    assert world.zk.requested == [{("orders", 0): [0, 1]}]
    world.zk.finish_reassignment()
    status = reconcile_cluster(world.ctx, world.cluster())
    assert sts_replicas(world) == 2 and reconciled(status)["status"] == "True"


def test_a_refused_scale_down_is_withdrawn_by_raising_brokers_back():
    world = World()
    start_cluster(world, brokers=3)
    world.zk.assignments = {"orders": {0: [0, 1, 2]}}
    reconcile_cluster(world.ctx, scale(world, 2))
    status = reconcile_cluster(world.ctx, scale(world, 3))
    assert sts_replicas(world) == 3
    assert reconciled(status)["status"] == "True" and reconciled(status)["reason"] == "Applied"


def test_scale_down_of_a_cluster_with_no_ready_broker_goes_on():
    # Nothing can be moved while no broker runs (documented in drain.py); ZooKeeper is not even asked.
    world = World()
    start_cluster(world, brokers=3)
    sts = world.kube.find("StatefulSet", "demo-broker")
    sts["status"]["readyReplicas"] = 0
    world.kube.add(sts)
    world.zk.unavailable = True
    reconcile_cluster(world.ctx, scale(world, 2))
    assert sts_replicas(world) == 2
