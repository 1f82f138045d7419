"""model/network_policy.py: which peers may reach which ports of a KafkaCluster's ZooKeeper and broker pods."""

from __future__ import annotations

from typing import Any

from kafka_operator.model import cluster, names, network_policy
from kafka_operator.model.spec import ClusterSpec

DOMAIN = "cluster.local"
OPERATOR_NAMESPACE = "kopfka"
OPERATOR_LABELS = {"app.kubernetes.io/name": "kopfka-operator", "app.kubernetes.io/instance": "kopfka"}
OPERATOR = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": OPERATOR_NAMESPACE}},
    "podSelector": {"matchLabels": OPERATOR_LABELS},
}
BROKERS = {"podSelector": {"matchLabels": {names.CLUSTER_LABEL: "demo", names.COMPONENT_LABEL: "broker"}}}
ZOOKEEPERS = {"podSelector": {"matchLabels": {names.CLUSTER_LABEL: "demo", names.COMPONENT_LABEL: "zookeeper"}}}
CLIENTS = {"namespaceSelector": {"matchLabels": {"team": "payments"}}}
OFFICE = {"ipBlock": {"cidr": "10.20.0.0/16", "except": ["10.20.1.0/24"]}}


def make_spec(**spec_fields: Any) -> ClusterSpec:
    body = {
        "metadata": {"name": "demo", "namespace": "kafka", "uid": "uid-1"},
        "spec": {"brokers": 3, **spec_fields},
    }
    return ClusterSpec.from_resource(body)


def secured(**spec_fields: Any) -> ClusterSpec:
    listeners = [
        {"name": "tls", "port": 9093, "tls": True, "authentication": "tls", "networkPolicyPeers": [CLIENTS, OFFICE]},
        {"name": "plain", "port": 9092},
    ]
    return make_spec(listeners=listeners, **spec_fields)


def zookeeper_policy(spec: ClusterSpec, *, operator_namespace: str = OPERATOR_NAMESPACE) -> dict[str, Any] | None:
    return network_policy.zookeeper_network_policy(
        spec, operator_namespace=operator_namespace, operator_labels=OPERATOR_LABELS
    )


def broker_policy(spec: ClusterSpec, *, operator_namespace: str = OPERATOR_NAMESPACE) -> dict[str, Any]:
    return network_policy.broker_network_policy(
        spec, operator_namespace=operator_namespace, operator_labels=OPERATOR_LABELS
    )


def rules_by_port(policy: dict[str, Any]) -> dict[int, list[dict[str, Any]] | None]:
    """port → the peers admitted to it (None: everyone); every port in exactly one rule, over TCP."""
    rules: dict[int, list[dict[str, Any]] | None] = {}
    for rule in policy["spec"]["ingress"]:
        for port in rule["ports"]:
            assert port["protocol"] == "TCP"
            assert port["port"] not in rules
            rules[port["port"]] = rule.get("from")
    return rules


def test_zookeeper_admits_clients_from_brokers_and_operator_and_quorum_traffic_from_itself():
    spec = make_spec()
    policy = zookeeper_policy(spec)
    assert policy is not None
    assert policy["apiVersion"] == "networking.k8s.io/v1" and policy["kind"] == "NetworkPolicy"
    assert policy["metadata"]["name"] == names.zookeeper_network_policy_name(spec)
    assert policy["metadata"]["namespace"] == "kafka"
    assert policy["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert policy["spec"]["podSelector"] == {"matchLabels": names.selector_labels(spec, names.ZOOKEEPER)}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert rules_by_port(policy) == {
        names.ZK_CLIENT_PORT: [BROKERS, OPERATOR],
        names.ZK_PEER_PORT: [ZOOKEEPERS],
        names.ZK_ELECTION_PORT: [ZOOKEEPERS],
    }


def test_external_zookeeper_has_no_policy():
    assert zookeeper_policy(make_spec(zookeeper={"connect": "zk.example:2181/kafka"})) is None


def test_plain_cluster_has_no_replication_port_and_its_listener_is_open():
    spec = make_spec()
    policy = broker_policy(spec)
    assert policy["metadata"]["name"] == names.broker_network_policy_name(spec)
    assert policy["metadata"]["ownerReferences"][0]["kind"] == "KafkaCluster"
    assert policy["spec"]["podSelector"] == {"matchLabels": names.selector_labels(spec, names.BROKER)}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert rules_by_port(policy) == {names.HTTP_PORT: None, 9092: None}


def test_secured_cluster_replication_port_admits_only_brokers_and_operator():
    rules = rules_by_port(broker_policy(secured()))
    assert rules[names.REPLICATION_PORT] == [BROKERS, OPERATOR]
    assert rules[names.HTTP_PORT] is None  # probes and metrics scraping


def test_listener_peers_are_used_verbatim_and_a_listener_without_them_is_open():
    rules = rules_by_port(broker_policy(secured()))
    assert rules == {names.REPLICATION_PORT: [BROKERS, OPERATOR], names.HTTP_PORT: None, 9093: [CLIENTS, OFFICE],
                     9092: None}


def test_plain_cluster_first_listener_with_peers_also_admits_brokers_and_operator():
    """A plain cluster replicates and is administered over its first listener: restricting it must not cut
    replication or the operator off; later listeners keep exactly their peers."""
    spec = make_spec(
        listeners=[
            {"name": "plain", "port": 9092, "networkPolicyPeers": [CLIENTS]},
            {"name": "office", "port": 9094, "networkPolicyPeers": [OFFICE]},
        ]
    )
    assert not spec.secured
    rules = rules_by_port(broker_policy(spec))
    assert rules == {names.HTTP_PORT: None, 9092: [CLIENTS, BROKERS, OPERATOR], 9094: [OFFICE]}


def test_empty_peer_list_is_kept_and_admits_everyone():
    """``from: []`` admits every source in Kubernetes; the operator does not narrow it by adding itself."""
    spec = make_spec(listeners=[{"name": "plain", "port": 9092, "networkPolicyPeers": []}])
    assert rules_by_port(broker_policy(spec))[9092] == []


def test_operator_outside_kubernetes_is_no_peer():
    spec = secured()
    assert rules_by_port(broker_policy(spec, operator_namespace=""))[names.REPLICATION_PORT] == [BROKERS]
    policy = zookeeper_policy(spec, operator_namespace="")
    assert policy is not None
    assert rules_by_port(policy)[names.ZK_CLIENT_PORT] == [BROKERS]


def test_policies_do_not_share_peer_objects_with_the_spec():
    spec = secured()
    policy = broker_policy(spec)
    rules_by_port(policy)[9093][0]["namespaceSelector"]["matchLabels"]["team"] = "other"  # type: ignore[index]
    assert spec.listeners[0].network_policy_peers == (CLIENTS, OFFICE)


def container_ports(spec: ClusterSpec, component: str) -> set[int]:
    (sts,) = [
        o
        for o in cluster.owned_objects(spec, cluster_domain=DOMAIN)
        if o["kind"] == "StatefulSet" and o["metadata"]["labels"][names.COMPONENT_LABEL] == component
    ]
    return {p["containerPort"] for c in sts["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}


def test_every_port_the_pods_listen_on_has_a_rule():
    for spec in (make_spec(), secured()):
        assert container_ports(spec, names.BROKER) == set(rules_by_port(broker_policy(spec)))
        zk = zookeeper_policy(spec)
        assert zk is not None
        assert container_ports(spec, names.ZOOKEEPER) == set(rules_by_port(zk))
