"""kafka-configs.sh on topics: describe, alter (add and delete), each change seen by the tool and by kopfka."""

from __future__ import annotations

import re

from confluent_kafka.admin import ConfigResource, ConfigSource
from tests.integration.admin import admin, create_topic

# `  retention.ms=7200000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=7200000, …}`
ENTRY = re.compile(r"^  (?P<name>[a-z0-9.]+)=(?P<value>\S*) sensitive=(?:true|false) synonyms=\{(?P<syn>.*)\}$")


def describe_with_tool(kafka_tool, bootstrap: str, topic: str, *extra: str) -> dict[str, tuple[str, str]]:
    """name → (value, first synonym's source) from `kafka-configs --describe`."""
    out = kafka_tool("kafka-configs", "--bootstrap-server", bootstrap, "--describe", "--entity-type", "topics",
                     "--entity-name", topic, *extra).stdout
    lines = out.splitlines()
    assert lines[0] == f"{'All' if extra else 'Dynamic'} configs for topic {topic} are:"
    entries = {}
    for line in lines[1:]:
        match = ENTRY.match(line)
        assert match, line
        entries[match["name"]] = (match["value"], match["syn"].split(":", 1)[0])
    return entries


def kopfka_overrides(bootstrap: str, topic: str) -> dict[str, str]:
    """The topic's own configs, as kopfka answers another client (confluent-kafka)."""
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    client = admin(bootstrap)  # keep a reference: a collected client cancels its futures
    entries = client.describe_configs([resource])[resource].result(30)
    return {n: e.value for n, e in entries.items() if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}


def test_describe_and_alter_topic_configs(bootstrap, kafka_tool):
    create_topic(bootstrap, "configured", partitions=1, replication_factor=2, config={"retention.ms": "86400000"})
    assert describe_with_tool(kafka_tool, bootstrap, "configured") == {
        "retention.ms": ("86400000", "DYNAMIC_TOPIC_CONFIG"),
    }

    altered = kafka_tool("kafka-configs", "--bootstrap-server", bootstrap, "--alter", "--entity-type", "topics",
                         "--entity-name", "configured", "--add-config", "retention.ms=7200000,cleanup.policy=compact")
    assert altered.stdout.strip() == "Completed updating config for topic configured."
    expected = {"retention.ms": "7200000", "cleanup.policy": "compact"}
    assert describe_with_tool(kafka_tool, bootstrap, "configured") == {
        name: (value, "DYNAMIC_TOPIC_CONFIG") for name, value in expected.items()
    }
    assert kopfka_overrides(bootstrap, "configured") == expected

    kafka_tool("kafka-configs", "--bootstrap-server", bootstrap, "--alter", "--entity-type", "topics",
               "--entity-name", "configured", "--delete-config", "cleanup.policy")
    every = describe_with_tool(kafka_tool, bootstrap, "configured", "--all")
    assert every["retention.ms"] == ("7200000", "DYNAMIC_TOPIC_CONFIG")
    assert every["cleanup.policy"] == ("delete", "DEFAULT_CONFIG")  # back to the broker's default
    assert every["min.insync.replicas"][1] in ("DEFAULT_CONFIG", "STATIC_BROKER_CONFIG")
    assert kopfka_overrides(bootstrap, "configured") == {"retention.ms": "7200000"}
