"""Listeners as Kafka configures them: names, protocols, advertised addresses, the inter-broker listener and
per-listener settings with the ``listener.name.<name>.`` prefix."""

import pytest

from kafka_broker.config import ConfigError, build_config

BASE = {"broker.id": "1", "zookeeper.connect": "127.0.0.1:2181"}
SCRAM_JAAS = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="s";'


def listeners(**props: str):
    return build_config({**BASE, **{k.replace("_", "."): v for k, v in props.items()}}).listeners


def test_protocols_come_from_the_map_and_default_to_the_listener_name():
    config = build_config({**BASE, "listeners": "PLAINTEXT://:9092,SSL://:9093,INTERNAL://127.0.0.1:9094",
                           "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL,INTERNAL:SASL_SSL",
                           "listener.name.internal.sasl.enabled.mechanisms": "SCRAM-SHA-512"})
    found = {lc.name: (lc.security_protocol, lc.host, lc.port, lc.tls, lc.sasl) for lc in config.listeners.all}
    assert found == {"PLAINTEXT": ("PLAINTEXT", "", 9092, False, False), "SSL": ("SSL", "", 9093, True, False),
                     "INTERNAL": ("SASL_SSL", "127.0.0.1", 9094, True, True)}
    assert config.listeners.inter_broker == "PLAINTEXT"
    assert config.listeners["INTERNAL"].mechanisms == ("SCRAM-SHA-512",)
    assert config.listeners["PLAINTEXT"].mechanisms == ()


def test_advertised_listeners_are_per_name_and_a_wildcard_advertises_loopback():
    config = build_config({**BASE, "listeners": "PLAINTEXT://0.0.0.0:9092,SSL://:9093",
                           "advertised.listeners": "PLAINTEXT://broker-1.example:19092"})
    assert [lc.advertised for lc in config.listeners.all] == [
        "PLAINTEXT://broker-1.example:19092", "SSL://127.0.0.1:9093"]


def test_per_listener_settings_win_over_broker_wide_ones_and_defaults_fill_the_rest():
    config = build_config({**BASE, "listeners": "A://:9093,B://:9094",
                           "listener.security.protocol.map": "A:SSL,B:SSL",
                           "inter.broker.listener.name": "A",
                           "ssl.client.auth": "requested", "listener.name.b.ssl.client.auth": "required"})
    assert config.listeners["A"].settings["ssl.client.auth"] == "requested"
    assert config.listeners["B"].settings["ssl.client.auth"] == "required"
    assert config.listeners["A"].settings["ssl.enabled.protocols"] == "TLSv1.2,TLSv1.3"  # the table's default


def test_jaas_config_per_mechanism():
    config = build_config({**BASE, "listeners": "SASL_PLAINTEXT://:9092",
                           "security.inter.broker.protocol": "SASL_PLAINTEXT",
                           "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
                           "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
                           "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": SCRAM_JAAS})
    listener = config.listeners.inter_broker_listener
    assert listener.jaas == {"SCRAM-SHA-512": SCRAM_JAAS}
    registration_protocols = config.listeners.protocol_map
    assert registration_protocols == {"SASL_PLAINTEXT": "SASL_PLAINTEXT"}


@pytest.mark.parametrize(("props", "message"), [
    ({"listeners": "PLAINTEXT://:9092,PLAINTEXT://:9093"}, "PLAINTEXT is repeated"),
    ({"listeners": "EXTERNAL://:9092,PLAINTEXT://:9093"}, "no security protocol defined for listener EXTERNAL"),
    ({"listeners": "PLAINTEXT://:9092", "advertised.listeners": "SSL://h:9093"},
     "must be equal to or a subset of the ones defined in listeners"),
    ({"listeners": "PLAINTEXT://:9092", "listener.security.protocol.map": "PLAINTEXT:TLS"}, "PLAINTEXT:TLS"),
    ({"listeners": "SSL://:9093,PLAINTEXT://:9092", "inter.broker.listener.name": "SSL",
      "security.inter.broker.protocol": "SSL"}, "Only one of inter.broker.listener.name"),
    ({"listeners": "SASL_SSL://:9093,PLAINTEXT://:9092"}, "sasl.enabled.mechanisms.*GSSAPI not supported"),
    ({"listeners": "SASL_SSL://:9093,PLAINTEXT://:9092", "sasl.enabled.mechanisms": "PLAIN,OAUTHBEARER"},
     "OAUTHBEARER not supported"),
    ({"listeners": "SASL_SSL://:9093", "security.inter.broker.protocol": "SASL_SSL",
      "sasl.enabled.mechanisms": "PLAIN"}, "sasl.mechanism.inter.broker.protocol: GSSAPI must be included"),
    ({"listeners": "SASL_SSL://:9093", "security.inter.broker.protocol": "SASL_SSL",
      "sasl.enabled.mechanisms": "PLAIN", "sasl.mechanism.inter.broker.protocol": "PLAIN"},
     "listener.name.sasl_ssl.plain.sasl.jaas.config: required for inter-broker SASL"),
    ({"listeners": "SSL://:9093,PLAINTEXT://:9092", "listener.name.ssl.ssl.client.auth": "always"},
     "listener.name.ssl.ssl.client.auth"),
])
def test_invalid_listener_settings_name_the_key(props, message):
    with pytest.raises(ConfigError, match=message):
        build_config({**BASE, **props})
