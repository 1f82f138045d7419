"""Dynamic broker configs: precedence of the four levels, Kafka's validation, ZooKeeper's layout and change
notices, and changes applied without a restart (topic defaults, the reads of ``current``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from kafka_broker import metadata as md
from kafka_broker.cluster.dynamic_config import DynamicBrokerConfig, DynamicConfigError
from kafka_broker.config import ConfigError, ConfigSource, synonym_chain, validate_dynamic

from .fakes import FakeZooKeeper, broker_config, settle

LONG_MAX = 2**63 - 1


@pytest.fixture
def zk() -> FakeZooKeeper:
    return FakeZooKeeper()


def dynamic_for(zk: FakeZooKeeper, tmp_path: Path, broker_id: int = 1, **static: str) -> DynamicBrokerConfig:
    return DynamicBrokerConfig(broker_config(broker_id, tmp_path / f"b{broker_id}", **static), zk.client())


def write_znode(zk: FakeZooKeeper, broker_id: int | None, config: dict[str, str]) -> None:
    client = zk.client()
    path = md.broker_config_path(broker_id)
    if zk.data(path) is None:
        client.create(path, md.encode_entity_config(config), makepath=True)
    else:
        client.set(path, md.encode_entity_config(config))


async def test_precedence_per_broker_over_default_over_static_over_table(zk: FakeZooKeeper, tmp_path: Path) -> None:
    dynamic = dynamic_for(zk, tmp_path, **{"log.retention.hours": "2", "min.insync.replicas": "2"})
    assert dynamic.config.topic_defaults["retention.ms"] == str(2 * 3_600_000)
    dynamic.watch(asyncio.get_running_loop())
    await settle()
    write_znode(zk, None, {"log.retention.ms": "60000", "log.cleaner.backoff.ms": "100"})
    await settle()
    # log.retention.ms (dynamic default) beats the static log.retention.hours: ms over hours, as in Kafka
    assert dynamic.config.topic_defaults["retention.ms"] == "60000"
    assert dynamic.current("log.cleaner.backoff.ms") == 100
    write_znode(zk, 1, {"log.retention.ms": "30000", "min.insync.replicas": "3"})
    await settle()
    assert dynamic.config.topic_defaults["retention.ms"] == "30000"
    assert dynamic.config.topic_defaults["min.insync.replicas"] == "3"
    assert dynamic.current("log.retention.ms") == 30000
    assert dynamic.current("log.retention.hours") == 2  # the static one, still there below
    assert dynamic.current("log.segment.bytes") == 1073741824  # the table default
    assert [(n, v, s) for n, v, s in synonym_chain("log.retention.ms", dynamic.levels)] == [
        ("log.retention.ms", "30000", ConfigSource.DYNAMIC_BROKER_CONFIG),
        ("log.retention.ms", "60000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        ("log.retention.hours", "2", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG)]
    assert synonym_chain("log.retention.minutes", dynamic.levels) == []
    write_znode(zk, 1, {})
    write_znode(zk, None, {})
    await settle()
    assert dynamic.config.topic_defaults["retention.ms"] == str(2 * 3_600_000)  # back to server.properties
    assert dynamic.config.topic_defaults["min.insync.replicas"] == "2"


async def test_other_brokers_configs_are_not_applied(zk: FakeZooKeeper, tmp_path: Path) -> None:
    dynamic = dynamic_for(zk, tmp_path)
    dynamic.watch(asyncio.get_running_loop())
    write_znode(zk, 2, {"log.retention.ms": "1000"})
    await settle()
    assert dynamic.config.topic_defaults["retention.ms"] == "604800000"


async def test_listeners_hear_what_changed(zk: FakeZooKeeper, tmp_path: Path) -> None:
    dynamic = dynamic_for(zk, tmp_path)
    heard: list[frozenset[str]] = []
    dynamic.on_change(heard.append)
    dynamic.watch(asyncio.get_running_loop())
    await settle()
    write_znode(zk, None, {"follower.replication.throttled.rate": "1000"})
    await settle()
    assert heard == [frozenset({"follower.replication.throttled.rate"})]
    assert dynamic.current("follower.replication.throttled.rate") == 1000
    assert dynamic.current("leader.replication.throttled.rate") == LONG_MAX


async def test_bad_stored_entries_are_left_out(zk: FakeZooKeeper, tmp_path: Path) -> None:
    """Written by another tool: a static key and a bad value are ignored, the rest applies."""
    dynamic = dynamic_for(zk, tmp_path)
    dynamic.watch(asyncio.get_running_loop())
    write_znode(zk, 1, {"broker.id": "7", "log.segment.bytes": "x", "log.retention.bytes": "5000"})
    await settle()
    assert dynamic.per_broker == {"log.retention.bytes": "5000"}
    assert dynamic.config.topic_defaults["retention.bytes"] == "5000"
    assert dynamic.config.broker_id == 1


async def test_alter_writes_kafkas_layout_and_a_change_notice(zk: FakeZooKeeper, tmp_path: Path) -> None:
    dynamic = dynamic_for(zk, tmp_path)
    await dynamic.alter(None, lambda current: {**current, "log.retention.ms": "5000"})
    await dynamic.alter(2, lambda current: {**current, "min.insync.replicas": "2"})
    assert json.loads(zk.data("/config/brokers/<default>") or b"") == {
        "version": 1, "config": {"log.retention.ms": "5000"}}
    assert json.loads(zk.data("/config/brokers/2") or b"") == {"version": 1, "config": {"min.insync.replicas": "2"}}
    notices = sorted(c for c in zk.client().get_children(md.CONFIG_CHANGES_PATH))
    assert [json.loads(zk.data(f"{md.CONFIG_CHANGES_PATH}/{c}") or b"") for c in notices] == [
        {"version": 2, "entity_path": "brokers/<default>"}, {"version": 2, "entity_path": "brokers/2"}]
    # the default applies here at once; broker 2's configs are not this broker's
    assert dynamic.config.topic_defaults["retention.ms"] == "5000"
    assert dynamic.config.topic_defaults["min.insync.replicas"] == "1"
    await dynamic.alter(None, lambda current: {**current, "log.retention.ms": "1"}, validate_only=True)
    assert json.loads(zk.data("/config/brokers/<default>") or b"")["config"] == {"log.retention.ms": "5000"}


@pytest.mark.parametrize(("props", "per_broker", "message"), [
    ({"broker.id": "5"}, True, "Cannot update these configs dynamically: Set(broker.id)"),
    ({"log.retention.minutes": "5"}, False, "Cannot update these configs dynamically: Set(log.retention.minutes)"),
    ({"log.message.format.version": "2.0"}, False,
     "Cannot update these configs dynamically: Set(log.message.format.version)"),
    ({"listeners": "PLAINTEXT://:1"}, False,
     "Cannot update these configs at default cluster level, broker id must be specified: Set(listeners)"),
    ({"listeners": "PLAINTEXT://:1"}, True, "Cannot update these configs dynamically: Set(listeners)"),
    ({"min.insync.replicas": "0"}, True, "Invalid value 0 for configuration min.insync.replicas: "
                                         "Value must be at least 1"),
    ({"log.retention.ms": "abc"}, False, "Invalid value abc for configuration log.retention.ms: "
                                         "Not a number of type LONG"),
    ({"log.cleaner.threads": "0"}, False, "Log cleaner threads should be at least 1"),
    ({"log.cleaner.min.compaction.lag.ms": "10", "log.cleaner.max.compaction.lag.ms": "5"}, False,
     "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"),
    ({"leader.replication.throttled.rate": "-1"}, True,
     "Invalid value -1 for configuration leader.replication.throttled.rate: Value must be at least 0"),
    # Kafka's keys for what kopfka does not have: static ones refused, TLS/SASL ones per broker as in Kafka
    ({"transaction.max.timeout.ms": "1000"}, True,
     "Cannot update these configs dynamically: Set(transaction.max.timeout.ms)"),
    ({"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT"}, True,
     "Cannot update these configs dynamically: Set(listener.security.protocol.map)"),
    ({"ssl.keystore.location": "/k.jks"}, True, "These security configs can be dynamically updated only "
                                                "per-listener using the listener prefix: Set(ssl.keystore.location)"),
    ({"ssl.protocol": "TLSv1.2"}, False,
     "Cannot update these configs at default cluster level, broker id must be specified: Set(ssl.protocol)"),
    ({"num.io.threads": "many"}, False, "Invalid value many for configuration num.io.threads: "
                                        "Not a number of type INT"),
])
def test_validation_with_kafkas_messages(props: dict[str, str], per_broker: bool, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_dynamic(props, per_broker=per_broker)
    assert str(caught.value) == message


def test_custom_and_dynamic_keys_are_accepted() -> None:
    validate_dynamic({"my.custom.key": "x", "log.retention.ms": "1000", "log.cleaner.threads": "2",
                      "follower.replication.throttled.rate": "1048576", "min.insync.replicas": "2"},
                     per_broker=False)
    validate_dynamic({"ssl.protocol": "TLSv1.2", "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256",
                      "listener.name.plaintext.ssl.keystore.location": "/k.jks", "num.io.threads": "16",
                      "metric.reporters": "", "producer.id.expiration.ms": "1000"}, per_broker=True)


async def test_alter_refuses_with_kafkas_message(zk: FakeZooKeeper, tmp_path: Path) -> None:
    dynamic = dynamic_for(zk, tmp_path)
    with pytest.raises(DynamicConfigError, match=r"Cannot update these configs dynamically: Set\(broker.id\)"):
        await dynamic.alter(1, lambda current: {**current, "broker.id": "3"})
    assert zk.data("/config/brokers/1") is None
