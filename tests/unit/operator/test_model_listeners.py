"""model/listeners.py: spec.listeners → Kafka listener keys, advertised addresses, Services, SANs, status.

The generated configuration is also fed to the broker's own config loader (``kafka_broker.config``), so a key
the broker would refuse fails here rather than in a pod.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kafka_broker.config.broker import load_config
from kafka_operator.model import broker, listeners, names
from kafka_operator.model.spec import ClusterSpec

DOMAIN = "cluster.local"
POD0 = "demo-broker-0.demo-brokers.kafka.svc.cluster.local"

SECURED = [
    {"name": "tls", "port": 9093, "tls": True, "authentication": "scram-sha-512"},
    {"name": "mtls", "port": 9094, "tls": True, "authentication": "tls"},
    {"name": "external", "port": 9095, "type": "nodeport", "tls": True, "authentication": "scram-sha-512"},
]


def make_spec(**fields: object) -> ClusterSpec:
    body = {"metadata": {"name": "demo", "namespace": "kafka", "uid": "u"}, "spec": {"brokers": 3, **fields}}
    return ClusterSpec.from_resource(body)


def test_default_is_one_plaintext_listener_inside_kubernetes():
    spec = make_spec()
    assert not spec.secured
    props = listeners.listener_properties(spec)
    assert props == {
        "listeners": "PLAIN://0.0.0.0:9092",
        "listener.security.protocol.map": "PLAIN:PLAINTEXT",
        "inter.broker.listener.name": "PLAIN",
    }
    assert listeners.advertised_listeners(spec, 0, cluster_domain=DOMAIN, node_ports={}, ingresses={}) == (
        f"PLAIN://{POD0}:9092"
    )
    assert listeners.external_services(spec) == []


def test_secured_cluster_adds_the_mutual_tls_replication_listener():
    spec = make_spec(listeners=SECURED, authorization={"superUsers": ["admin", "User:CN=ops"]})
    assert spec.secured
    props = listeners.listener_properties(spec)
    assert props["listeners"] == (
        "REPLICATION://0.0.0.0:9091,TLS://0.0.0.0:9093,MTLS://0.0.0.0:9094,EXTERNAL://0.0.0.0:9095"
    )
    assert props["listener.security.protocol.map"] == "REPLICATION:SSL,TLS:SASL_SSL,MTLS:SSL,EXTERNAL:SASL_SSL"
    assert props["inter.broker.listener.name"] == "REPLICATION"
    assert props["listener.name.replication.ssl.client.auth"] == "required"
    assert props["listener.name.replication.ssl.truststore.location"] == listeners.CA_FILE
    assert props["listener.name.mtls.ssl.client.auth"] == "required"
    assert props["listener.name.mtls.ssl.truststore.location"] == listeners.CLIENTS_CA_FILE
    assert props["listener.name.tls.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert "listener.name.tls.scram-sha-512.sasl.jaas.config" in props
    assert props["authorizer.class.name"] == "kafka.security.authorizer.AclAuthorizer"
    assert props["super.users"].split(";") == [
        "User:CN=demo-broker,O=kopfka.io",
        "User:CN=demo-operator,O=kopfka.io",
        "User:admin",
        "User:CN=ops",
    ]


def test_nodeport_brokers_advertise_their_node_and_allocated_port():
    spec = make_spec(listeners=SECURED)
    node_ports = {("external", 0): 31000, ("external", 1): 31001}
    advertised = listeners.advertised_listeners(spec, 0, cluster_domain=DOMAIN, node_ports=node_ports, ingresses={})
    assert advertised.split(",") == [
        f"REPLICATION://{POD0}:9091",
        f"TLS://{POD0}:9093",
        f"MTLS://{POD0}:9094",
        "EXTERNAL://@HOST_IP@:31000",
    ]
    assert listeners.missing_addresses(spec, 3, node_ports=node_ports, ingresses={}) == ["external/broker-2: nodePort"]


def test_overrides_win_and_per_broker_services_select_one_pod():
    spec = make_spec(
        listeners=[
            {
                "name": "external",
                "port": 9094,
                "type": "nodeport",
                "configuration": {
                    "bootstrap": {"nodePort": 32100},
                    "brokers": [{"broker": 1, "advertisedHost": "kafka-1.example.com", "nodePort": 32101}],
                },
            }
        ]
    )
    services = listeners.external_services(spec)
    assert [s["metadata"]["name"] for s in services] == [
        "demo-external-bootstrap",
        "demo-broker-0-external",
        "demo-broker-1-external",
        "demo-broker-2-external",
    ]
    assert all(s["spec"]["type"] == "NodePort" for s in services)
    assert services[0]["spec"]["ports"][0]["nodePort"] == 32100
    assert services[2]["spec"]["ports"][0]["nodePort"] == 32101
    assert services[2]["spec"]["selector"][listeners.POD_NAME_LABEL] == "demo-broker-1"
    assert listeners.POD_NAME_LABEL not in services[0]["spec"]["selector"]
    assert services[1]["metadata"]["ownerReferences"][0]["kind"] == "KafkaCluster"
    advertised = listeners.advertised_listeners(spec, 1, cluster_domain=DOMAIN, node_ports={}, ingresses={})
    assert advertised == "EXTERNAL://kafka-1.example.com:32101"


def test_load_balancer_advertises_its_ingress_once_known():
    spec = make_spec(listeners=[{"name": "lb", "port": 9094, "type": "loadbalancer", "tls": True}])
    before = listeners.advertised_listeners(spec, 0, cluster_domain=DOMAIN, node_ports={}, ingresses={})
    assert "LB://demo-broker-0-lb.kafka.svc.cluster.local:9094" in before
    assert listeners.missing_addresses(spec, 1, node_ports={}, ingresses={}) == ["lb/broker-0: load balancer address"]
    known = {("lb", 0): "1.2.3.4"}
    after = listeners.advertised_listeners(spec, 0, cluster_domain=DOMAIN, node_ports={}, ingresses=known)
    assert "LB://1.2.3.4:9094" in after
    sans = listeners.broker_sans(spec, 0, cluster_domain=DOMAIN, node_addresses=[], ingresses=known)
    assert "1.2.3.4" in sans
    service = {"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}}
    assert listeners.service_ingress(service) == "lb.example.com"


def test_certificate_names_cover_every_address_a_client_may_dial():
    spec = make_spec(listeners=SECURED)
    sans = listeners.broker_sans(spec, 0, cluster_domain=DOMAIN, node_addresses=["172.18.0.2", "node-a"],
                                 ingresses={})
    assert POD0 in sans
    assert "demo-bootstrap.kafka.svc.cluster.local" in sans
    assert "demo-bootstrap" in sans
    assert "demo-external-bootstrap.kafka.svc.cluster.local" in sans
    assert {"172.18.0.2", "node-a"} <= set(sans)
    assert sans == sorted(set(sans))
    internal_only = make_spec(listeners=SECURED[:1])
    assert "172.18.0.2" not in listeners.broker_sans(
        internal_only, 0, cluster_domain=DOMAIN, node_addresses=["172.18.0.2"], ingresses={}
    )


@pytest.mark.parametrize(
    ("entries", "fragment"),
    [
        ([{"name": "a", "port": 9092}, {"name": "a", "port": 9093}], "two listeners have this name"),
        ([{"name": "a", "port": 9092}, {"name": "b", "port": 9092}], "two listeners use port 9092"),
        ([{"name": "a", "port": 9091}], "reserved"),
        ([{"name": "a", "port": 8080}], "reserved"),
        ([{"name": "replication", "port": 9092}], "reserved"),
        ([{"name": "Bad_Name", "port": 9092}], "lower-case"),
        ([{"name": "a", "port": 9092, "authentication": "tls"}], "needs tls: true"),
        ([{"name": "a", "port": 9092, "authentication": "plain"}], "authentication 'plain'"),
        ([{"name": "a", "port": 9092, "type": "route"}], "type 'route'"),
        ([{"name": "a", "port": 9092, "configuration": {"bootstrap": {"nodePort": 31000}}}], "only for listeners"),
        ([{"name": "a", "port": 9092, "type": "nodeport", "configuration": {"bootstrap": {"nodePort": 80}}}],
         "within 30000-32767"),
        ([{"name": "a", "port": 9092, "type": "nodeport",
           "configuration": {"brokers": [{"broker": 0}, {"broker": 0}]}}], "same broker"),
    ],
)
def test_invalid_listeners_are_refused_with_a_reason(entries: list[dict[str, object]], fragment: str):
    refusal = listeners.validate(make_spec(listeners=entries))
    assert refusal is not None
    assert refusal[0] == "InvalidListener"
    assert fragment in refusal[1]


def test_valid_listeners_pass():
    assert listeners.validate(make_spec()) is None
    assert listeners.validate(make_spec(listeners=SECURED, authorization={"type": "simple"})) is None


def test_status_lists_bootstrap_addresses_and_the_ca_for_tls_listeners():
    spec = make_spec(listeners=[SECURED[0], SECURED[2], {"name": "plain", "port": 9092}])
    status = listeners.listener_status(
        spec,
        cluster_domain=DOMAIN,
        node_ports={},
        ingresses={},
        bootstrap_node_ports={"external": 32100},
        bootstrap_ingresses={},
        broker_node_addresses=["172.18.0.3", "172.18.0.2", "172.18.0.3"],
        ca_certificate="-----BEGIN CERTIFICATE-----",
    )
    assert [s["name"] for s in status] == ["tls", "external", "plain"]
    assert status[0]["bootstrapServers"] == "demo-bootstrap.kafka.svc.cluster.local:9093"
    assert status[0]["certificates"] == ["-----BEGIN CERTIFICATE-----"]
    assert status[1]["bootstrapServers"] == "172.18.0.2:32100,172.18.0.3:32100"
    assert status[1]["securityProtocol"] == "SASL_SSL"
    assert "certificates" not in status[2]


def test_the_broker_accepts_the_generated_configuration(tmp_path: Path):
    """server.properties and a broker's advertised listeners, loaded by kafka_broker's own config loader."""
    spec = make_spec(listeners=SECURED, authorization={"superUsers": ["admin"]})
    data = broker.config_map_data(spec, cluster_domain=DOMAIN, node_ports={("external", 0): 31000}, ingresses={})
    config_file = tmp_path / "server.properties"
    config_file.write_text(data[broker.CONFIG_KEY])
    advertised = data["advertised-0"].replace(listeners.HOST_IP_PLACEHOLDER, "172.18.0.2")
    keystore = tmp_path / "broker-0.pem"
    keystore.write_text("unused: the loader checks keys, the broker reads stores when it starts listening")
    config = load_config(
        config_file,
        {"broker.id": "0", "advertised.listeners": advertised, "ssl.keystore.location": str(keystore)},
        environ={},
    )
    by_name = {lst.name: lst for lst in config.listeners.all}
    assert set(by_name) == {"REPLICATION", "TLS", "MTLS", "EXTERNAL"}
    assert config.listeners.inter_broker == "REPLICATION"
    assert by_name["EXTERNAL"].advertised_host == "172.18.0.2"
    assert by_name["EXTERNAL"].advertised_port == 31000
    assert by_name["REPLICATION"].advertised_host == POD0


def test_pods_read_their_own_advertised_listeners_and_certificate():
    spec = make_spec(listeners=SECURED)
    sts = broker.broker_statefulset(spec, template_hash="h")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    script = container["command"][-1]
    assert f"{names.CONFIG_DIR}/advertised-${{ORD}}" in script
    assert "@HOST_IP@" in script
    assert f"ssl.keystore.location={names.CERTS_DIR}/broker-${{ORD}}.pem" in script
    env = {e["name"]: e for e in container["env"]}
    assert env["HOST_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["certs"]["secret"]["secretName"] == "demo-broker-certs"
    assert [p["containerPort"] for p in container["ports"]] == [9091, 9093, 9094, 9095, 8080]
    plain = broker.broker_statefulset(make_spec(), template_hash="h")
    plain_container = plain["spec"]["template"]["spec"]["containers"][0]
    assert "ssl.keystore.location" not in plain_container["command"][-1]
    assert "certs" not in {v["name"] for v in plain["spec"]["template"]["spec"]["volumes"]}
