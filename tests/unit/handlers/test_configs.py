"""DescribeConfigs and IncrementalAlterConfigs: values, sources, synonyms, types and documentation from the
config tables; validation with Kafka's messages as INVALID_CONFIG."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafka_broker.config import TOPIC_CONFIGS, ConfigType
from kafka_broker.handlers import describe_configs, incremental_alter_configs
from kafka_broker.handlers.configs import ConfigSource, ResourceType
from kafka_broker.protocol import ErrorCode

from .harness import Broker

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


def describe(rtype: int, name: str, keys: list[str] | None = None) -> dict:
    return {"resources": [{"resource_type": rtype, "resource_name": name, "configuration_keys": keys}],
            "include_synonyms": True, "include_documentation": True}


def alter(name: str, *ops: tuple[str, int, str | None], validate_only: bool = False,
          rtype: int = ResourceType.TOPIC) -> dict:
    return {"resources": [{"resource_type": rtype, "resource_name": name, "configs": [
        {"name": n, "config_operation": op, "value": v} for n, op, v in ops]}], "validate_only": validate_only}


def entries(response: dict) -> dict[str, dict]:
    return {c["name"]: c for c in response["results"][0]["configs"]}


@pytest.fixture
def tuned(tmp_path: Path) -> Broker:
    broker = Broker(tmp_path / "data", **{"log.retention.hours": "2", "log.segment.bytes": "1048576"})
    broker.add_topic("t", {0: [1]}, {"cleanup.policy": "compact"})
    yield broker
    broker.close()


@pytest.mark.parametrize("version", [1, 3, 4])
async def test_topic_configs_with_sources_and_synonyms(tuned: Broker, version: int) -> None:
    response = await tuned.call(describe_configs, version, describe(ResourceType.TOPIC, "t"))
    configs = entries(response)
    assert set(configs) == set(TOPIC_CONFIGS)
    policy, retention, segment, ratio = (configs[k] for k in ("cleanup.policy", "retention.ms", "segment.bytes",
                                                              "min.cleanable.dirty.ratio"))
    assert (policy["value"], policy["config_source"]) == ("compact", ConfigSource.TOPIC_CONFIG)
    assert (retention["value"], retention["config_source"]) == ("7200000", ConfigSource.STATIC_BROKER_CONFIG)
    assert [(s["name"], s["value"], s["source"]) for s in retention["synonyms"]] == [
        ("log.retention.hours", "2", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG)]
    assert (segment["value"], segment["config_source"]) == ("1048576", ConfigSource.STATIC_BROKER_CONFIG)
    assert (ratio["value"], ratio["config_source"]) == ("0.5", ConfigSource.DEFAULT_CONFIG)
    assert [s["source"] for s in policy["synonyms"]] == [ConfigSource.TOPIC_CONFIG, ConfigSource.DEFAULT_CONFIG]
    if version >= 3:
        assert (retention["config_type"], policy["config_type"], ratio["config_type"]) == (
            ConfigType.LONG, ConfigType.LIST, ConfigType.DOUBLE)
        assert "no time limit" in retention["documentation"]


async def test_only_the_keys_asked_for(tuned: Broker) -> None:
    response = await tuned.call(describe_configs, 4, describe(ResourceType.TOPIC, "t", ["retention.ms"]))
    assert list(entries(response)) == ["retention.ms"]


async def test_broker_configs_are_typed_and_defaulted(tuned: Broker) -> None:
    response = await tuned.call(describe_configs, 4, describe(ResourceType.BROKER, "1"))
    configs = entries(response)
    assert (configs["log.retention.hours"]["value"], configs["log.retention.hours"]["config_source"]) == (
        "2", ConfigSource.STATIC_BROKER_CONFIG)
    backoff = configs["log.cleaner.backoff.ms"]  # not in server.properties: Kafka's default, typed
    assert (backoff["value"], backoff["config_source"], backoff["config_type"]) == (
        "15000", ConfigSource.DEFAULT_CONFIG, ConfigType.LONG)
    assert configs["num.partitions"]["read_only"]


async def test_describe_errors(tuned: Broker) -> None:
    response = await tuned.call(describe_configs, 4, describe(ResourceType.TOPIC, "nope"))
    assert response["results"][0]["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    response = await tuned.call(describe_configs, 4, describe(ResourceType.BROKER, "2"))
    assert response["results"][0]["error_code"] == ErrorCode.INVALID_REQUEST


async def test_set_delete_append_subtract(tuned: Broker) -> None:
    response = await tuned.call(incremental_alter_configs, 1, alter(
        "t", ("retention.ms", SET, "1000"), ("cleanup.policy", APPEND, "delete")))
    assert response["responses"][0]["error_code"] == ErrorCode.NONE
    assert tuned.store.configs["t"] == {"cleanup.policy": "compact,delete", "retention.ms": "1000"}
    assert tuned.partition("t", 0).log.config.retention_ms == 1000
    await tuned.call(incremental_alter_configs, 1, alter(
        "t", ("retention.ms", DELETE, None), ("cleanup.policy", SUBTRACT, "compact")))
    assert tuned.store.configs["t"] == {"cleanup.policy": "delete"}


@pytest.mark.parametrize(("op", "message"), [
    (("segment.bytes", SET, "3000000000"),
     "Invalid value 3000000000 for configuration segment.bytes: Not a number of type INT"),
    (("retention.ms", SET, "1_000_000"),
     "Invalid value 1_000_000 for configuration retention.ms: Not a number of type LONG"),
    (("no.such.config", SET, "1"), "Unknown topic config name: no.such.config"),
    (("retention.ms", APPEND, "5"), "Config value append is not allowed for config key: retention.ms"),
    (("min.compaction.lag.ms", SET, "10"), None),
])
async def test_invalid_values_are_refused_with_kafkas_message(tuned: Broker, op: tuple, message: str | None) -> None:
    """segment.bytes=3000000000 used to pass this validation and then fail in LogConfig, so the topic's
    partitions were never updated and a restarted broker died on the stored value."""
    response = await tuned.call(incremental_alter_configs, 1, alter("t", op))
    result = response["responses"][0]
    if message is None:
        assert result["error_code"] == ErrorCode.NONE
        return
    assert (result["error_code"], result["error_message"]) == (ErrorCode.INVALID_CONFIG, message)
    assert tuned.store.configs["t"] == {"cleanup.policy": "compact"}


async def test_validate_only_and_other_errors(tuned: Broker) -> None:
    response = await tuned.call(incremental_alter_configs, 1, alter("t", ("retention.ms", SET, "5"),
                                                                    validate_only=True))
    assert response["responses"][0]["error_code"] == ErrorCode.NONE
    assert tuned.store.configs["t"] == {"cleanup.policy": "compact"}
    response = await tuned.call(incremental_alter_configs, 1, alter("nope", ("retention.ms", SET, "5")))
    assert response["responses"][0]["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    response = await tuned.call(incremental_alter_configs, 1, alter(
        "1", ("log.retention.ms", SET, "5"), rtype=ResourceType.BROKER))
    assert response["responses"][0]["error_code"] == ErrorCode.INVALID_REQUEST
    response = await tuned.call(incremental_alter_configs, 1, alter(
        "t", ("min.compaction.lag.ms", SET, "10"), ("max.compaction.lag.ms", SET, "5")))
    assert response["responses"][0]["error_message"] == (
        "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)")
