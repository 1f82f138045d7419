"""CreateTopics: each topic's result, with its effective configs from v5 (KIP-525), as Kafka answers.

Kafka's AdminClient reads the configs of every created topic; `null` there was its NullPointerException.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kafka_broker.handlers import create_topics
from kafka_broker.handlers.configs import ConfigSource, topic_config_entries
from kafka_broker.protocol import ErrorCode

from .harness import Broker

CONFIG_FIELDS = {"name", "value", "read_only", "config_source", "is_sensitive"}
"""Kafka's CreatableTopicConfigs: DescribeConfigs' synonyms, type and documentation are not on this wire."""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """Broker 1 of 3 whose server.properties sets log.segment.bytes."""
    b = Broker(tmp_path / "data", **{"log.segment.bytes": "1048576"})
    yield b
    b.close()


def request(*topics: dict[str, Any], validate_only: bool = False) -> dict[str, Any]:
    return {"topics": list(topics), "timeout_ms": 5000, "validate_only": validate_only}


def topic(name: str, *, partitions: int = 3, rf: int = 2, configs: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "num_partitions": partitions, "replication_factor": rf, "assignments": [],
            "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()]}


def by_name(configs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in configs}


@pytest.mark.parametrize("version", [5, 7])
async def test_created_topic_answers_its_effective_configs(broker, version):
    response = await broker.call(create_topics, version, request(topic("t", configs={"retention.ms": "3600000"})))
    (result,) = response["topics"]
    assert result["error_code"] == ErrorCode.NONE
    assert (result["num_partitions"], result["replication_factor"]) == (3, 2)
    assert "t" in broker.store.assignments

    configs = result["configs"]
    assert all(set(c) == CONFIG_FIELDS for c in configs)
    # The full list: every topic config, not only the ones the request set.
    expected = topic_config_entries(broker.services.dynamic, {"retention.ms": "3600000"}, keys=None, synonyms=False)
    assert [c["name"] for c in configs] == [e["name"] for e in expected]
    assert len(configs) > 10
    entries = by_name(configs)
    assert entries["retention.ms"] == {"name": "retention.ms", "value": "3600000", "read_only": False,
                                       "config_source": ConfigSource.TOPIC_CONFIG, "is_sensitive": False}
    assert entries["segment.bytes"]["value"] == "1048576"  # log.segment.bytes in server.properties
    assert entries["segment.bytes"]["config_source"] == ConfigSource.STATIC_BROKER_CONFIG
    assert entries["cleanup.policy"]["value"] == "delete"
    assert entries["cleanup.policy"]["config_source"] == ConfigSource.DEFAULT_CONFIG
    # …and so a client decodes them.
    assert broker.last_decoded["topics"][0]["configs"] == configs


async def test_validate_only_answers_the_configs_the_topic_would_have(broker):
    body = request(topic("t", configs={"cleanup.policy": "compact"}), validate_only=True)
    (result,) = (await broker.call(create_topics, 7, body))["topics"]
    assert result["error_code"] == ErrorCode.NONE
    assert (result["num_partitions"], result["replication_factor"]) == (3, 2)
    assert "t" not in broker.store.assignments and "t" not in broker.cache.topics
    entries = by_name(result["configs"])
    assert entries["cleanup.policy"]["value"] == "compact"
    assert entries["cleanup.policy"]["config_source"] == ConfigSource.TOPIC_CONFIG
    assert entries["retention.ms"]["config_source"] == ConfigSource.DEFAULT_CONFIG


async def test_failed_topic_answers_no_configs(broker):
    """As Kafka does: an empty list (not null), and -1 for partitions and replication factor."""
    broker.add_topic("t", {0: [1, 2]})
    body = request(topic("t"), topic("bad", configs={"retention.ms": "soon"}), topic("dup"), topic("dup"))
    exists, invalid, _, duplicate = (await broker.call(create_topics, 7, body))["topics"]
    assert exists["error_code"] == ErrorCode.TOPIC_ALREADY_EXISTS
    assert invalid["error_code"] == ErrorCode.INVALID_CONFIG
    assert duplicate["error_code"] == ErrorCode.INVALID_REQUEST
    for result in (exists, invalid, duplicate):
        assert (result["configs"], result["num_partitions"], result["replication_factor"]) == ([], -1, -1)


async def test_a_null_config_value_is_refused(broker):
    """Kafka refuses it (INVALID_CONFIG); it used to be dropped silently and the topic created without it."""
    body = request(topic("t", configs={"retention.ms": "1000"}))
    body["topics"][0]["configs"].append({"name": "cleanup.policy", "value": None})
    (result,) = (await broker.call(create_topics, 7, body))["topics"]
    assert (result["error_code"], result["error_message"]) == (
        ErrorCode.INVALID_CONFIG, "Null value not supported for topic configs: cleanup.policy")
    assert "t" not in broker.store.assignments


async def test_a_topic_marked_for_deletion_cannot_be_created_again_yet(broker):
    """Kafka's answer while a deletion is under way: the name is not free until every replica dropped it."""
    broker.add_topic("t", {0: [1]})
    broker.store.delete_at_once = False
    await broker.admin.delete_topic("t")
    broker.cache.topics["t"].marked_for_deletion = True  # as the watch of /admin/delete_topics reports it
    response = await broker.call(create_topics, 5, request(topic("t", rf=1)))
    result = response["topics"][0]
    assert (result["error_code"], result["error_message"]) == (ErrorCode.TOPIC_ALREADY_EXISTS,
                                                               "Topic 't' is marked for deletion.")
