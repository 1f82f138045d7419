"""The roll step wires roller.plan_roll to the cluster: the controller (read from ZooKeeper's /controller)
restarts last; when it is unknown, the documented order (highest ordinal first) holds for every broker."""

from __future__ import annotations

import pytest
from reconcile_fakes import World, start_cluster

from kafka_operator.reconcile.cluster import reconcile_cluster


def change_config(world: World) -> dict:
    body = world.cluster()
    body["spec"]["config"] = {"log.retention.hours": "2"}
    body["metadata"]["generation"] += 1
    return world.kube.add(body)


def restart_order(world: World, brokers: int) -> list[str]:
    """Reconcile until the roll is done, bringing each restarted pod back as the StatefulSet would."""
    from reconcile_fakes import broker_pod

    from kafka_operator.model import names

    for _ in range(brokers + 1):
        reconcile_cluster(world.ctx, world.cluster())
        if not world.kube.deleted_pods or world.kube.find("Pod", world.kube.deleted_pods[-1]):
            continue
        sts = world.kube.find("StatefulSet", "demo-broker")
        desired = sts["spec"]["template"]["metadata"]["annotations"][names.CONFIG_HASH_ANNOTATION]
        ordinal = int(world.kube.deleted_pods[-1].rsplit("-", 1)[1])
        world.kube.add(broker_pod("demo", ordinal, config_hash=desired))
    return world.kube.deleted_pods


@pytest.mark.parametrize(("controller", "expected"), [(2, [1, 0, 2]), (0, [2, 1, 0]), (1, [2, 0, 1])])
def test_the_controller_restarts_last(controller, expected):
    world = World()
    start_cluster(world, brokers=3)
    world.zk.controller = controller
    change_config(world)
    assert restart_order(world, 3) == [f"demo-broker-{i}" for i in expected]
    assert "controller_id" in world.zk.calls


@pytest.mark.parametrize("unknown", ["unreachable", "no controller", "request fails"])
def test_an_unknown_controller_keeps_the_highest_ordinal_first_order(unknown):
    world = World()
    start_cluster(world, brokers=3)
    world.zk.controller = None
    if unknown == "unreachable":
        world.zk.unavailable = True
    elif unknown == "request fails":
        world.zk.controller = 2
        world.zk.fail_on = {"controller_id"}
    change_config(world)
    assert restart_order(world, 3) == ["demo-broker-2", "demo-broker-1", "demo-broker-0"]


def test_zookeeper_is_not_asked_for_the_controller_when_nothing_restarts():
    world = World()
    start_cluster(world, brokers=3)
    world.zk.controller = 1
    reconcile_cluster(world.ctx, world.cluster())
    assert "controller_id" not in world.zk.calls
