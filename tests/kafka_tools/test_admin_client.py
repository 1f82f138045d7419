"""Kafka 3.9's Java AdminClient on the API no command-line tool sends any more: the older AlterConfigs
(``Admin.alterConfigs``), which replaces a resource's whole set of dynamic configs and which web consoles
(AKHQ) still use. java/LegacyAlterConfigs.java prints "ok" or the error, then the non-default configs."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.integration.admin import create_topic

from .kafka_jars import java_command

PROGRAM = Path(__file__).parent / "java" / "LegacyAlterConfigs.java"


@pytest.fixture
def legacy_alter(kafka_jars: Path, require: Callable[[object, str], None],
                 bootstrap: str) -> Callable[..., tuple[str, dict[str, tuple[str, str]]]]:
    """`legacy_alter("topic"|"broker", name, "k=v", ...)` → (first line, name → (value, source))."""
    require("javac", "the AdminClient program runs from source: it needs a JDK (default-jdk-headless)")

    def run(kind: str, name: str, *pairs: str) -> tuple[str, dict[str, tuple[str, str]]]:
        done = subprocess.run(java_command(str(PROGRAM), bootstrap, kind, name, *pairs), capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        first, *rest = done.stdout.splitlines()
        configs = {}
        for line in rest:
            key_value, source = line.rsplit(" ", 1)
            key, value = key_value.split("=", 1)
            configs[key] = (value, source)
        return first, configs

    return run


def test_alter_configs_replaces_a_topics_set(bootstrap: str, legacy_alter) -> None:
    create_topic(bootstrap, "legacy", partitions=1, replication_factor=2,
                 config={"retention.ms": "86400000", "cleanup.policy": "compact"})
    status, configs = legacy_alter("topic", "legacy", "segment.bytes=1048576", "retention.ms=7200000")
    assert status == "ok"
    topic_level = {k: v for k, (v, source) in configs.items() if source == "DYNAMIC_TOPIC_CONFIG"}
    # cleanup.policy was not named: AlterConfigs replaces the set, so it is gone
    assert topic_level == {"segment.bytes": "1048576", "retention.ms": "7200000"}

    status, configs = legacy_alter("topic", "legacy", "retention.ms=-5")
    assert status.startswith("InvalidConfigurationException: ") and "retention.ms" in status
    assert configs["retention.ms"] == ("7200000", "DYNAMIC_TOPIC_CONFIG")  # nothing changed

    status, _ = legacy_alter("topic", "no-such-topic", "retention.ms=1000")
    assert status.startswith("UnknownTopicOrPartitionException")


def test_alter_configs_on_a_broker(bootstrap: str, legacy_alter) -> None:
    status, configs = legacy_alter("broker", "1", "log.cleaner.backoff.ms=20000", "log.retention.ms=3600000")
    assert status == "ok"
    assert configs["log.cleaner.backoff.ms"] == ("20000", "DYNAMIC_BROKER_CONFIG")
    assert configs["log.retention.ms"] == ("3600000", "DYNAMIC_BROKER_CONFIG")

    status, configs = legacy_alter("broker", "1", "log.retention.ms=1800000")  # replaces: backoff back to default
    assert status == "ok"
    assert configs["log.retention.ms"] == ("1800000", "DYNAMIC_BROKER_CONFIG")
    assert "log.cleaner.backoff.ms" not in configs

    status, configs = legacy_alter("broker", "1", "broker.id=7")
    assert status == "InvalidRequestException: Cannot update these configs dynamically: Set(broker.id)"
    assert configs["log.retention.ms"] == ("1800000", "DYNAMIC_BROKER_CONFIG")
