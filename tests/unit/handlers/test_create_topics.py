"""CreateTopics handler: the per-topic result, configs included (v5+), without ZooKeeper.

The handler runs with the broker's real config, metadata cache and topic admin; only the ZooKeeper
store is a fake, which applies a created topic to the cache at once, leaders elected, as the
controller and the broker's watches would.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from kafka_broker.cluster.metadata_cache import MetadataCache, PartitionInfo, TopicInfo
from kafka_broker.cluster.topic_admin import TopicAdmin
from kafka_broker.config import build_config
from kafka_broker.handlers import create_topics
from kafka_broker.handlers.configs import ConfigSource, topic_config_entries
from kafka_broker.handlers.context import RequestContext
from kafka_broker.metadata import BrokerRegistration, PartitionState
from kafka_broker.protocol import ApiKey, ErrorCode, RequestHeader, decode_response, encode_response

# Kafka's CreatableTopicConfigs, and nothing else (DescribeConfigs' extra fields are not on this wire).
CONFIG_FIELDS = {"name", "value", "read_only", "config_source", "is_sensitive"}


class FakeStore:
    """ZooKeeper as far as TopicAdmin.create_topic uses it: the topic appears in the cache, led."""

    def __init__(self, cache: MetadataCache) -> None:
        self.cache = cache
        self.created: list[str] = []

    async def create_topic(self, name: str, topic: Any, config: dict[str, str]) -> bool:
        self.created.append(name)
        info = TopicInfo(name=name, topic_id=topic.topic_id, config=dict(config))
        for p, replicas in topic.partitions.items():
            state = PartitionState(leader=replicas[0], leader_epoch=0, isr=tuple(replicas), controller_epoch=1)
            info.partitions[p] = PartitionInfo(topic=name, partition=p, replicas=list(replicas), state=state)
        self.cache.topics[name] = info
        return True


@pytest.fixture
def services() -> SimpleNamespace:
    config = build_config({"broker.id": "1", "zookeeper.connect": "zk:2181", "log.segment.bytes": "1048576"})
    cache = MetadataCache()
    for broker_id in (1, 2, 3):
        cache.brokers[broker_id] = BrokerRegistration(broker_id=broker_id, host="127.0.0.1", port=9090 + broker_id)
    store = FakeStore(cache)
    admin = TopicAdmin(store, cache, default_partitions=1, default_replication_factor=1)  # type: ignore[arg-type]
    return SimpleNamespace(config=config, cache=cache, admin=admin, store=store)


def request(*topics: dict[str, Any], validate_only: bool = False) -> dict[str, Any]:
    return {"topics": list(topics), "timeout_ms": 5000, "validate_only": validate_only}


def topic(name: str, *, partitions: int = 3, rf: int = 2, configs: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "num_partitions": partitions,
        "replication_factor": rf,
        "assignments": [],
        "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()],
    }


async def create(services: SimpleNamespace, body: dict[str, Any], *, version: int = 7) -> dict[str, Any]:
    header = RequestHeader(api_key=ApiKey.CREATE_TOPICS, api_version=version, correlation_id=1, client_id="t")
    ctx = RequestContext(header=header, services=services)  # type: ignore[arg-type]
    return await create_topics.handle(body, ctx)


def by_name(configs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in configs}


async def test_created_topic_answers_its_effective_configs(services):
    response = await create(services, request(topic("t", configs={"retention.ms": "3600000"})))
    (result,) = response["topics"]
    assert result["error_code"] == ErrorCode.NONE
    assert (result["num_partitions"], result["replication_factor"]) == (3, 2)
    assert services.store.created == ["t"]

    configs = result["configs"]
    assert configs is not None
    assert all(set(c) == CONFIG_FIELDS for c in configs)
    # The full list: every topic config the broker knows, not only the ones the request set.
    expected = topic_config_entries(services.config, {"retention.ms": "3600000"}, keys=None, synonyms=False)
    assert [c["name"] for c in configs] == [e["name"] for e in expected]
    assert len(configs) > 10
    entries = by_name(configs)
    assert entries["retention.ms"] == {"name": "retention.ms", "value": "3600000", "read_only": False,
                                       "config_source": ConfigSource.TOPIC_CONFIG, "is_sensitive": False}
    assert entries["segment.bytes"]["value"] == "1048576"  # log.segment.bytes in server.properties
    assert entries["segment.bytes"]["config_source"] == ConfigSource.STATIC_BROKER_CONFIG
    assert entries["cleanup.policy"]["value"] == "delete"
    assert entries["cleanup.policy"]["config_source"] == ConfigSource.DEFAULT_CONFIG


async def test_validate_only_answers_the_configs_the_topic_would_have(services):
    body = request(topic("t", configs={"cleanup.policy": "compact"}), validate_only=True)
    response = await create(services, body)
    (result,) = response["topics"]
    assert result["error_code"] == ErrorCode.NONE
    assert (result["num_partitions"], result["replication_factor"]) == (3, 2)
    assert services.store.created == []
    assert "t" not in services.cache.topics
    entries = by_name(result["configs"])
    assert entries["cleanup.policy"]["value"] == "compact"
    assert entries["cleanup.policy"]["config_source"] == ConfigSource.TOPIC_CONFIG
    assert entries["retention.ms"]["config_source"] == ConfigSource.DEFAULT_CONFIG


async def test_failed_topic_answers_no_configs(services):
    """As Kafka does: an empty list (not null), and -1 for partitions and replication factor."""
    await create(services, request(topic("t")))
    response = await create(services, request(topic("t"), topic("bad", configs={"retention.ms": "soon"})))
    exists, invalid = response["topics"]
    assert exists["error_code"] == ErrorCode.TOPIC_ALREADY_EXISTS
    assert invalid["error_code"] == ErrorCode.INVALID_CONFIG
    for result in (exists, invalid):
        assert (result["configs"], result["num_partitions"], result["replication_factor"]) == ([], -1, -1)


@pytest.mark.parametrize("version", [5, 7])
async def test_configs_survive_the_wire(services, version):
    """Kafka's AdminClient reads the configs array of every created topic: null there is its NPE."""
    response = await create(services, request(topic("t", configs={"retention.ms": "3600000"})), version=version)
    header = RequestHeader(api_key=ApiKey.CREATE_TOPICS, api_version=version, correlation_id=9, client_id="t")
    frame = b"".join(encode_response(header, response))  # type: ignore[arg-type]
    correlation_id, decoded = decode_response(ApiKey.CREATE_TOPICS, version, frame[4:])
    assert correlation_id == 9
    (result,) = decoded["topics"]
    assert by_name(result["configs"])["retention.ms"]["value"] == "3600000"
    assert len(result["configs"]) == len(response["topics"][0]["configs"])
