"""model/: a KafkaCluster spec → the manifests it owns, checked field by field without a cluster."""

from __future__ import annotations

import pytest

from kafka_operator.model import broker, cluster, names, zookeeper
from kafka_operator.model.config import OPERATOR_KEYS, ignored_config_keys, server_properties
from kafka_operator.model.spec import ClusterSpec

DOMAIN = "cluster.local"


def make_spec(**spec_fields) -> ClusterSpec:
    body = {
        "apiVersion": "kopfka.io/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": "demo", "namespace": "kafka", "uid": "uid-1", "generation": 1},
        "spec": {"brokers": 3, "image": "kopfka/broker:test", **spec_fields},
    }
    return ClusterSpec.from_resource(body)


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_defaults_from_an_empty_spec():
    spec = ClusterSpec.from_resource({"metadata": {"name": "x", "namespace": "ns"}, "spec": {}})
    assert spec.brokers == 3
    assert spec.storage.size == "10Gi"
    assert spec.zookeeper.managed and spec.zookeeper.replicas == 3 and spec.zookeeper.storage.size == "1Gi"
    assert spec.rebalance.grace_period_seconds == 120
    assert spec.bootstrap_override is None


def test_server_properties_operator_keys_win_and_user_config_is_kept():
    spec = make_spec(config={"log.dirs": "/tmp/evil", "retention.ms": "1000", "min.insync.replicas": "1"})
    props = properties(server_properties(spec, cluster_domain=DOMAIN))
    assert props["log.dirs"] == names.LOG_DIRS
    assert props["zookeeper.connect"] == "demo-zookeeper.kafka.svc.cluster.local:2181"
    assert props["listeners"] == "PLAIN://0.0.0.0:9092"
    assert props["listener.security.protocol.map"] == "PLAIN:PLAINTEXT"
    assert props["kopfka.http.port"] == "8080"
    assert props["retention.ms"] == "1000"
    assert props["min.insync.replicas"] == "1"
    assert props["default.replication.factor"] == "3"
    assert "broker.id" not in props and "advertised.listeners" not in props
    assert ignored_config_keys(spec) == ["log.dirs"]
    assert set(ignored_config_keys(make_spec(config=dict.fromkeys(OPERATOR_KEYS, "x")))) == OPERATOR_KEYS


def test_replication_defaults_follow_small_clusters():
    props = properties(server_properties(make_spec(brokers=1), cluster_domain=DOMAIN))
    assert props["default.replication.factor"] == "1"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"


def test_external_zookeeper_means_no_managed_ensemble():
    spec = make_spec(zookeeper={"connect": "zk1:2181,zk2:2181/kafka"})
    assert cluster.zookeeper_objects(spec, cluster_domain=DOMAIN) == []
    assert properties(server_properties(spec, cluster_domain=DOMAIN))["zookeeper.connect"] == "zk1:2181,zk2:2181/kafka"
    kinds = [o["kind"] for o in cluster.owned_objects(spec, cluster_domain=DOMAIN)]
    assert kinds == ["ConfigMap", "Service", "Service", "StatefulSet", "PodDisruptionBudget"]


def test_every_owned_object_is_owned_and_labelled():
    spec = make_spec()
    objects = cluster.owned_objects(spec, cluster_domain=DOMAIN)
    assert len(objects) == 9
    for obj in objects:
        meta = obj["metadata"]
        assert meta["namespace"] == "kafka"
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "kopfka.io/v1alpha1",
                "kind": "KafkaCluster",
                "name": "demo",
                "uid": "uid-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert meta["labels"][names.MANAGED_BY_LABEL] == names.MANAGED_BY
        assert meta["labels"][names.CLUSTER_LABEL] == "demo"
    assert len({(o["kind"], o["metadata"]["name"]) for o in objects}) == len(objects)


def test_services():
    spec = make_spec()
    headless = broker.headless_service(spec)
    assert headless["metadata"]["name"] == "demo-brokers"
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert {p["name"]: p["port"] for p in headless["spec"]["ports"]} == {"plain": 9092, "http": 8080}
    boot = broker.bootstrap_service(spec)
    assert boot["spec"]["type"] == "ClusterIP"
    assert boot["spec"]["selector"] == {names.CLUSTER_LABEL: "demo", names.COMPONENT_LABEL: "broker"}
    assert names.bootstrap_servers(spec, cluster_domain=DOMAIN) == "demo-bootstrap.kafka.svc.cluster.local:9092"
    assert names.bootstrap_servers(make_spec(bootstrapOverride="127.0.0.1:9092"), cluster_domain=DOMAIN) == (
        "127.0.0.1:9092"
    )


def test_broker_statefulset():
    spec = make_spec(
        brokers=5,
        storage={"size": "20Gi", "storageClassName": "fast", "deleteClaim": True},
        resources={"requests": {"cpu": "500m"}},
    )
    sts = broker.broker_statefulset(spec, template_hash="h")
    s = sts["spec"]
    assert sts["metadata"]["name"] == "demo-broker"
    assert s["replicas"] == 5
    assert s["serviceName"] == "demo-brokers"
    assert s["updateStrategy"] == {"type": "OnDelete"}
    assert s["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"
    assert s["selector"]["matchLabels"] == names.selector_labels(spec, "broker")
    claim = s["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert claim["spec"]["storageClassName"] == "fast"
    pod = s["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 120
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    (container,) = pod["containers"]
    assert container["image"] == "kopfka/broker:test"
    assert container["resources"] == {"requests": {"cpu": "500m"}}
    script = container["command"][-1]
    assert script.startswith("ORD=${POD_NAME##*-}; ")
    assert 'exec kopfka-broker /etc/kopfka/server.properties --override "broker.id=${ORD}"' in script
    assert '--override "advertised.listeners=${ADVERTISED}"' in script
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"plain": 9092, "http": 8080}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"data": "/var/lib/kopfka", "config": "/etc/kopfka", "tmp": "/tmp"}
    assert pod["volumes"] == [
        {"name": "config", "configMap": {"name": "demo-config"}},
        {"name": "tmp", "emptyDir": {}},
    ]
    assert container["command"][:2] == ["/bin/sh", "-c"]


def test_config_and_certificate_changes_change_the_pod_template_hash():
    def template_hash(spec: ClusterSpec, digest: str = "") -> str:
        data = broker.config_map_data(spec, cluster_domain=DOMAIN, node_ports={}, ingresses={})
        return broker.template_hash(data, certificates_digest=digest)

    hash_a = template_hash(make_spec())
    assert hash_a == template_hash(make_spec())
    assert hash_a != template_hash(make_spec(config={"retention.ms": "5"}))
    assert hash_a != template_hash(make_spec(), digest="renewed")
    assert hash_a != template_hash(make_spec(listeners=[{"name": "plain", "port": 9093}]))
    sts = broker.broker_statefulset(make_spec(), template_hash=hash_a)
    assert sts["spec"]["template"]["metadata"]["annotations"][names.CONFIG_HASH_ANNOTATION] == hash_a


def test_pdb_allows_one_broker_down():
    pdb = broker.broker_pdb(make_spec())
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("replicas", [1, 3])
def test_zookeeper_ensemble(replicas):
    spec = make_spec(zookeeper={"replicas": replicas, "storage": {"size": "2Gi"}})
    sts = zookeeper.zookeeper_statefulset(spec, cluster_domain=DOMAIN)
    assert sts["spec"]["replicas"] == replicas
    assert sts["spec"]["serviceName"] == "demo-zookeeper-nodes"
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "2Gi"
    env = {e["name"]: e["value"] for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    servers = env["ZOO_SERVERS"].split()
    assert len(servers) == replicas
    assert servers[0] == "server.1=demo-zookeeper-0.demo-zookeeper-nodes.kafka.svc.cluster.local:2888:3888;2181"
    assert env["ZOO_STANDALONE_ENABLED"] == ("true" if replicas == 1 else "false")
    client = zookeeper.zookeeper_client_service(spec)
    assert client["spec"]["ports"] == [{"name": "client", "port": 2181, "targetPort": "client", "protocol": "TCP"}]
