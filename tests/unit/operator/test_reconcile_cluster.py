"""reconcile/cluster.py against the fakes: what one reconcile applies, deletes, writes to status and reports."""

from __future__ import annotations

from reconcile_fakes import World, broker_pod, cluster_body, start_cluster

from kafka_operator.model import names
from kafka_operator.reconcile.cluster import reconcile_cluster, refresh_status


def conditions(status: dict) -> dict[str, dict]:
    return {c["type"]: c for c in status["conditions"]}


def test_first_reconcile_applies_every_owned_object_in_order_and_reports_it():
    world = World()
    body = world.kube.add(cluster_body(brokers=3))
    status = reconcile_cluster(world.ctx, body)
    applied = [(m["kind"], m["metadata"]["name"]) for m in world.kube.applied]
    assert applied == [
        ("Service", "demo-zookeeper-nodes"),
        ("Service", "demo-zookeeper"),
        ("StatefulSet", "demo-zookeeper"),
        ("PodDisruptionBudget", "demo-zookeeper"),
        ("Service", "demo-brokers"),
        ("Service", "demo-bootstrap"),
        ("ConfigMap", "demo-config"),
        ("NetworkPolicy", "demo-network-policy-zookeeper"),
        ("NetworkPolicy", "demo-network-policy-broker"),
        ("StatefulSet", "demo-broker"),
        ("PodDisruptionBudget", "demo-broker"),
    ]
    (sts,) = world.kube.applied_named("StatefulSet", "demo-broker")
    assert sts["spec"]["replicas"] == 3
    assert sts["metadata"]["ownerReferences"][0]["uid"] == "uid-demo"
    assert world.kube.reasons() == ["Created"] * 11
    assert world.status() == status
    assert status["phase"] == "Pending" and status["readyBrokers"] == 0
    assert status["bootstrapServers"] == "demo-bootstrap.kafka.svc.cluster.local:9092"
    assert conditions(status)["Reconciled"]["status"] == "True"
    assert conditions(status)["Ready"]["reason"] == "BrokersNotReady"
    assert status["observedGeneration"] == 1


def test_external_zookeeper_applies_no_ensemble():
    world = World()
    body = world.kube.add(cluster_body(zookeeper={"connect": "zk:2181/kafka"}))
    status = reconcile_cluster(world.ctx, body)
    assert {m["metadata"]["name"] for m in world.kube.applied if "zookeeper" in m["metadata"]["name"]} == set()
    assert status["zookeeperConnect"] == "zk:2181/kafka"


def test_a_steady_cluster_changes_nothing_and_is_running():
    world = World()
    body = start_cluster(world)
    status = reconcile_cluster(world.ctx, body)
    assert world.kube.reasons() == []
    assert world.kube.deleted_pods == []
    assert status["phase"] == "Running" and status["readyBrokers"] == 3
    assert conditions(status)["Ready"]["status"] == "True"
    assert conditions(status)["Rolling"]["reason"] == "Idle"


def test_a_deleted_service_is_applied_again():
    world = World()
    body = start_cluster(world)
    del world.kube.objects[("v1", "Service", "kafka", "demo-bootstrap")]
    reconcile_cluster(world.ctx, body)
    assert world.kube.find("Service", "demo-bootstrap") is not None
    assert world.kube.reasons() == ["Created"]


def test_operator_keys_in_spec_config_are_reported_once_per_generation():
    world = World()
    body = world.kube.add(cluster_body(config={"log.dirs": "/evil"}))
    reconcile_cluster(world.ctx, body)
    assert "ConfigIgnored" in world.kube.reasons()
    world.kube.events.clear()
    reconcile_cluster(world.ctx, world.cluster())
    assert "ConfigIgnored" not in world.kube.reasons()


def test_config_change_updates_the_config_map_and_restarts_one_broker_highest_ordinal_first():
    world = World()
    start_cluster(world)
    body = world.cluster()
    body["spec"]["config"] = {"log.retention.hours": "2"}
    body["metadata"]["generation"] = 2
    body = world.kube.add(body)
    status = reconcile_cluster(world.ctx, body)
    (config_map,) = world.kube.applied_named("ConfigMap", "demo-config")
    assert "log.retention.hours=2" in config_map["data"]["server.properties"]
    assert world.kube.deleted_pods == ["demo-broker-2"]
    rolling = [e for e in world.kube.events if e.reason == "RollingRestart"]
    assert [e.message for e in rolling] == ["restarting demo-broker-2: ConfigChanged"]
    assert status["phase"] == "Rolling"
    assert conditions(status)["Rolling"]["status"] == "True"
    assert {"ConfigMap", "StatefulSet"} <= {e.message.split()[1] for e in world.kube.events if e.reason == "Updated"}


def test_the_roll_waits_while_a_broker_is_not_ready():
    world = World()
    start_cluster(world)
    world.kube.add(broker_pod("demo", 1, ready=False, config_hash="stale"))
    status = reconcile_cluster(world.ctx, world.cluster())
    assert world.kube.deleted_pods == []
    assert conditions(status)["Rolling"]["message"] == "brokers not ready: demo-broker-1"
    assert status["phase"] == "Rolling"


def test_refresh_status_keeps_conditions_and_follows_readiness_without_applying():
    world = World()
    start_cluster(world)
    reconcile_cluster(world.ctx, world.cluster())
    world.kube.add(broker_pod("demo", 0, ready=False))
    world.kube.applied.clear()
    status = refresh_status(world.ctx, world.cluster())
    assert world.kube.applied == []
    assert status["readyBrokers"] == 2 and status["phase"] == "Degraded"
    assert conditions(status)["Ready"]["message"] == "2/3 brokers ready"
    assert conditions(status)["Reconciled"]["reason"] == "Applied"


def test_statefulset_rejection_is_reported_and_the_reconcile_goes_on():
    world = World()
    start_cluster(world)
    body = world.cluster()
    body["spec"]["storage"] = {"size": "20Gi"}
    body["metadata"]["generation"] = 2
    body = world.kube.add(body)
    world.kube.reject("StatefulSet", "demo-broker", "spec: Forbidden: updates to statefulset spec are forbidden")
    status = reconcile_cluster(world.ctx, body)
    reconciled = conditions(status)["Reconciled"]
    assert reconciled["status"] == "False" and reconciled["reason"] == "StatefulSetRejected"
    assert "updates to statefulset spec are forbidden" in reconciled["message"]
    (event,) = [e for e in world.kube.events if e.reason == "StatefulSetRejected"]
    assert event.type == "Warning" and "demo-broker" in event.message
    # The later steps still ran against the StatefulSet as it is.
    assert world.kube.applied_named("PodDisruptionBudget", "demo-broker")
    assert status["readyBrokers"] == 3
    assert world.status() == status


def test_owned_object_names_are_the_model_names():
    world = World()
    body = world.kube.add(cluster_body(name="other"))
    reconcile_cluster(world.ctx, body)
    assert world.kube.find("StatefulSet", "other-broker") is not None
    assert world.kube.find("ConfigMap", "other-config") is not None
    labels = world.kube.find("StatefulSet", "other-broker")["metadata"]["labels"]
    assert labels[names.MANAGED_BY_LABEL] == names.MANAGED_BY


def test_external_listener_services_follow_the_spec_and_stale_ones_are_deleted():
    external = [{"name": "external", "port": 9094, "type": "nodeport"}]
    world = World()
    body = world.kube.add(cluster_body(brokers=3, listeners=[{"name": "plain", "port": 9092}, *external]))
    reconcile_cluster(world.ctx, body)
    services = {s["metadata"]["name"] for s in world.kube.list_services("kafka", labels={})}
    assert {"demo-external-bootstrap", "demo-broker-0-external", "demo-broker-2-external"} <= services
    body = world.cluster("demo")
    body["spec"] = {**body["spec"], "brokers": 2}
    reconcile_cluster(world.ctx, world.kube.add(body))
    assert world.kube.deleted_services == ["demo-broker-2-external"]
    body = world.cluster("demo")
    body["spec"] = {**body["spec"], "listeners": [{"name": "plain", "port": 9092}]}
    reconcile_cluster(world.ctx, world.kube.add(body))
    assert sorted(world.kube.deleted_services) == [
        "demo-broker-0-external", "demo-broker-1-external", "demo-broker-2-external", "demo-external-bootstrap"
    ]
    left = {s["metadata"]["name"] for s in world.kube.list_services("kafka", labels={})}
    assert {"demo-brokers", "demo-bootstrap"} <= left and not any("external" in n for n in left)
