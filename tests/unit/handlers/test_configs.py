"""DescribeConfigs and IncrementalAlterConfigs: values, sources, synonyms, types and documentation from the
config tables; validation with Kafka's messages as INVALID_CONFIG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cluster.fakes import FakeZooKeeper

from kafka_broker import metadata as md
from kafka_broker.cluster.dynamic_config import DynamicBrokerConfig, reconfigure_logs
from kafka_broker.config import TOPIC_CONFIGS, ConfigType
from kafka_broker.handlers import alter_configs, describe_configs, incremental_alter_configs
from kafka_broker.handlers.configs import ConfigSource, ResourceType
from kafka_broker.protocol import ErrorCode
from kafka_broker.storage.log_config import LogConfig

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
    broker.zk = FakeZooKeeper()  # type: ignore[attr-defined]
    dynamic = broker.services.dynamic = DynamicBrokerConfig(broker.config, broker.zk.client())
    reconfigure_logs(dynamic, topics=lambda: list(broker.cache.topics), topic_changed=broker._metadata_changed,
                     set_default_log_config=lambda: setattr(broker.logs, "default_config",
                                                            LogConfig.from_kafka(broker.config.topic_defaults)))
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
    # Kafka lists a topic config's synonyms from its main broker synonym (log.retention.ms) on: with only
    # log.retention.hours set, none, and the source is DEFAULT_CONFIG (as Kafka 3.9 answers)
    assert (retention["value"], retention["config_source"], retention["synonyms"]) == (
        "7200000", ConfigSource.DEFAULT_CONFIG, [])
    assert (segment["value"], segment["config_source"]) == ("1048576", ConfigSource.STATIC_BROKER_CONFIG)
    assert [(s["name"], s["value"], s["source"]) for s in segment["synonyms"]] == [
        ("log.segment.bytes", "1048576", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.segment.bytes", "1073741824", ConfigSource.DEFAULT_CONFIG)]
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
    assert (response["results"][0]["error_code"], response["results"][0]["error_message"]) == (
        ErrorCode.INVALID_REQUEST, "Unexpected broker id, expected 1 or empty string, but received 2")
    response = await tuned.call(describe_configs, 4, describe(ResourceType.BROKER, "x"))
    assert response["results"][0]["error_message"] == "Broker id must be an integer, but it is: x"


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
        "1", ("broker.id", SET, "5"), rtype=ResourceType.BROKER))
    assert response["responses"][0]["error_code"] == ErrorCode.INVALID_REQUEST
    response = await tuned.call(incremental_alter_configs, 1, alter(
        "t", ("min.compaction.lag.ms", SET, "10"), ("max.compaction.lag.ms", SET, "5")))
    assert response["responses"][0]["error_message"] == (
        "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)")


async def test_replication_throttles_are_listed_only_where_set(tuned: Broker) -> None:
    # Kafka's KafkaConfig has no replication throttles (they are DynamicConfig.Broker's): its DescribeConfigs
    # lists one only once set, without a DEFAULT_CONFIG synonym (checked against Kafka 3.9.2).
    throttles = {"leader.replication.throttled.rate", "follower.replication.throttled.rate",
                 "replica.alter.log.dirs.io.max.bytes.per.second"}
    configs = entries(await tuned.call(describe_configs, 4, describe(ResourceType.BROKER, "1")))
    assert throttles.isdisjoint(configs)
    response = await tuned.call(incremental_alter_configs, 1,
                                broker_alter("1", ("follower.replication.throttled.rate", SET, "1048576")))
    assert response["responses"][0]["error_code"] == ErrorCode.NONE
    configs = entries(await tuned.call(describe_configs, 4, describe(ResourceType.BROKER, "1")))
    assert throttles & set(configs) == {"follower.replication.throttled.rate"}
    rate = configs["follower.replication.throttled.rate"]
    assert (rate["value"], rate["config_source"], rate["read_only"]) == (
        "1048576", ConfigSource.DYNAMIC_BROKER_CONFIG, False)
    assert [(s["name"], s["value"], s["source"]) for s in rate["synonyms"]] == [
        ("follower.replication.throttled.rate", "1048576", ConfigSource.DYNAMIC_BROKER_CONFIG)]


@pytest.mark.parametrize("version", [0, 1])
async def test_describe_configs_v0_says_is_default(tuned: Broker, version: int) -> None:
    request = describe(ResourceType.TOPIC, "t", ["cleanup.policy", "retention.ms"])
    response = await tuned.send(describe_configs, version, request | {"include_synonyms": False})
    configs = entries(response)
    if version == 0:  # v0 has is_default (the source is DEFAULT_CONFIG) instead of the source, and no synonyms
        assert [(c["value"], c["is_default"]) for c in configs.values()] == [("compact", False), ("7200000", True)]
    else:
        assert [c["config_source"] for c in configs.values()] == [ConfigSource.TOPIC_CONFIG,
                                                                  ConfigSource.DEFAULT_CONFIG]


def broker_alter(name: str, *ops: tuple[str, int, str | None], validate_only: bool = False) -> dict:
    return alter(name, *ops, validate_only=validate_only, rtype=ResourceType.BROKER)


async def test_kafka_keys_kopfka_does_not_act_on_are_reported_as_kafka_reports_them(tuned: Broker) -> None:
    configs = entries(await tuned.call(describe_configs, 4, describe(ResourceType.BROKER, "1")))
    assert len([n for n in configs if not n.startswith("kopfka.")]) == 315  # Kafka 3.9.2's, throttles unset
    node = configs["node.id"]  # broker.id's value, as if in server.properties (Kafka's populateSynonyms)
    assert (node["value"], node["config_source"], node["config_type"]) == (
        str(tuned.config.broker_id), ConfigSource.STATIC_BROKER_CONFIG, ConfigType.INT)
    assert [(s["name"], s["source"]) for s in node["synonyms"]] == [
        ("node.id", ConfigSource.STATIC_BROKER_CONFIG), ("node.id", ConfigSource.DEFAULT_CONFIG)]
    jaas = configs["sasl.jaas.config"]
    assert (jaas["value"], jaas["is_sensitive"], jaas["config_type"], jaas["read_only"]) == (
        None, True, ConfigType.PASSWORD, False)
    protocols = configs["ssl.enabled.protocols"]
    assert (protocols["value"], protocols["config_type"], protocols["config_source"]) == (
        "TLSv1.2,TLSv1.3", ConfigType.LIST, ConfigSource.DEFAULT_CONFIG)
    assert configs["transaction.max.timeout.ms"]["read_only"] is True
    assert configs["num.io.threads"]["read_only"] is False
    assert configs["alter.config.policy.class.name"]["value"] is None
    assert "kopfka has no transaction coordinator" in configs["transaction.max.timeout.ms"]["documentation"]


async def test_broker_configs_typed_sourced_and_dynamic(tuned: Broker) -> None:
    response = await tuned.call(describe_configs, 4, describe(ResourceType.BROKER, "1"))
    configs = entries(response)
    assert configs["inter.broker.protocol.version"]["value"] == "3.9-IV0"
    assert configs["log.message.format.version"]["value"] == "3.0-IV1"
    assert (configs["log.retention.ms"]["value"], configs["log.retention.ms"]["synonyms"]) == (None, [])
    assert configs["log.retention.ms"]["read_only"] is False
    assert configs["log.retention.hours"]["read_only"] is True
    assert configs["log.cleaner.io.max.bytes.per.second"]["value"] == "1.7976931348623157E308"
    response = await tuned.call(incremental_alter_configs, 1, broker_alter("", ("log.retention.ms", SET, "60000")))
    assert response["responses"][0]["error_code"] == ErrorCode.NONE
    response = await tuned.call(incremental_alter_configs, 1, broker_alter("1", ("log.retention.ms", SET, "30000")))
    assert response["responses"][0]["error_code"] == ErrorCode.NONE
    configs = entries(await tuned.call(describe_configs, 4, describe(ResourceType.BROKER, "1")))
    retention = configs["log.retention.ms"]
    assert (retention["value"], retention["config_source"]) == ("30000", ConfigSource.DYNAMIC_BROKER_CONFIG)
    assert [(s["name"], s["value"], s["source"]) for s in retention["synonyms"]] == [
        ("log.retention.ms", "30000", ConfigSource.DYNAMIC_BROKER_CONFIG),
        ("log.retention.ms", "60000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        ("log.retention.hours", "2", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG)]
    default = entries(await tuned.call(describe_configs, 4, describe(ResourceType.BROKER, "")))
    assert list(default) == ["log.retention.ms"]
    assert [(s["name"], s["value"], s["source"]) for s in default["log.retention.ms"]["synonyms"]] == [
        ("log.retention.ms", "60000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)]
    # the topic without its own retention.ms takes the new default, its partition too, without a restart
    topic = entries(await tuned.call(describe_configs, 4, describe(ResourceType.TOPIC, "t")))["retention.ms"]
    assert (topic["value"], topic["config_source"]) == ("30000", ConfigSource.DYNAMIC_BROKER_CONFIG)
    assert tuned.partition("t", 0).log.config.retention_ms == 30000
    response = await tuned.call(incremental_alter_configs, 1, broker_alter("1", ("log.retention.ms", DELETE, None)))
    assert tuned.partition("t", 0).log.config.retention_ms == 60000
    assert json.loads(tuned.zk.data(md.broker_config_path(1))) == {"version": 1, "config": {}}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "op", "code", "message"), [
    ("1", ("broker.id", SET, "5"), ErrorCode.INVALID_REQUEST,
     "Cannot update these configs dynamically: Set(broker.id)"),
    ("", ("listeners", SET, "PLAINTEXT://:1"), ErrorCode.INVALID_REQUEST,
     "Cannot update these configs at default cluster level, broker id must be specified: Set(listeners)"),
    ("1", ("min.insync.replicas", SET, "0"), ErrorCode.INVALID_REQUEST,
     "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"),
    ("1", ("log.retention.ms", APPEND, "5"), ErrorCode.INVALID_CONFIG,
     "Config value append is not allowed for config key: log.retention.ms"),
    ("1", ("no.such.key", APPEND, "5"), ErrorCode.INVALID_CONFIG, "Unknown config name: no.such.key"),
    ("x", ("log.retention.ms", SET, "5"), ErrorCode.INVALID_REQUEST, "Broker id must be an integer, but it is: x"),
])
async def test_broker_changes_refused_as_kafka_refuses_them(tuned: Broker, name: str, op: tuple, code: ErrorCode,
                                                            message: str) -> None:
    response = await tuned.call(incremental_alter_configs, 1, broker_alter(name, op))
    assert (response["responses"][0]["error_code"], response["responses"][0]["error_message"]) == (code, message)
    assert tuned.zk.data(md.broker_config_path(1)) is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("version", [0, 1, 2])
async def test_alter_configs_replaces_the_whole_set(tuned: Broker, version: int) -> None:
    request = {"resources": [
        {"resource_type": ResourceType.TOPIC, "resource_name": "t",
         "configs": [{"name": "retention.ms", "value": "1000"}, {"name": "segment.ms", "value": None}]},
        {"resource_type": ResourceType.BROKER, "resource_name": "",
         "configs": [{"name": "min.insync.replicas", "value": "2"}]},
        {"resource_type": ResourceType.BROKER, "resource_name": "2",
         "configs": [{"name": "follower.replication.throttled.rate", "value": "100"}]},
    ], "validate_only": False}
    response = await tuned.call(alter_configs, version, request)
    assert [r["error_code"] for r in response["responses"]] == [ErrorCode.NONE] * 3
    assert tuned.store.configs["t"] == {"retention.ms": "1000"}  # cleanup.policy is gone: replaced
    assert tuned.services.dynamic.current("min.insync.replicas") == 2
    assert tuned.replicas.min_insync_replicas("t") == 2
    assert tuned.services.dynamic.current("follower.replication.throttled.rate") == 2**63 - 1  # broker 2's
    assert json.loads(tuned.zk.data(md.broker_config_path(2))) == {  # type: ignore[attr-defined]
        "version": 1, "config": {"follower.replication.throttled.rate": "100"}}
    refused = await tuned.call(alter_configs, version, {"resources": [
        {"resource_type": ResourceType.BROKER, "resource_name": "1",
         "configs": [{"name": "log.retention.hours", "value": "1"}]},
        {"resource_type": ResourceType.TOPIC, "resource_name": "t",
         "configs": [{"name": "retention.ms", "value": "x"}]},
    ], "validate_only": False})
    assert [(r["error_code"], r["error_message"]) for r in refused["responses"]] == [
        (ErrorCode.INVALID_REQUEST, "Cannot update these configs dynamically: Set(log.retention.hours)"),
        (ErrorCode.INVALID_CONFIG, "Invalid value x for configuration retention.ms: Not a number of type LONG")]
