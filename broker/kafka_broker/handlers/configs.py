"""Shared pieces of the config APIs: resource types, config sources and types, Kafka's names."""

from __future__ import annotations

from enum import IntEnum

from kafka_broker.config import BROKER_TO_TOPIC_KEYS, BrokerConfig


class ResourceType(IntEnum):
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8


class ConfigSource(IntEnum):
    UNKNOWN = 0
    TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5


class ConfigType(IntEnum):
    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7


TOPIC_CONFIG_TYPES: dict[str, ConfigType] = {
    "segment.bytes": ConfigType.INT,
    "segment.ms": ConfigType.LONG,
    "retention.ms": ConfigType.LONG,
    "retention.bytes": ConfigType.LONG,
    "segment.index.bytes": ConfigType.INT,
    "index.interval.bytes": ConfigType.INT,
    "max.message.bytes": ConfigType.INT,
    "compression.type": ConfigType.STRING,
    "message.timestamp.type": ConfigType.STRING,
    "cleanup.policy": ConfigType.LIST,
    "file.delete.delay.ms": ConfigType.LONG,
    "flush.messages": ConfigType.LONG,
    "flush.ms": ConfigType.LONG,
    "min.insync.replicas": ConfigType.INT,
    "unclean.leader.election.enable": ConfigType.BOOLEAN,
    "delete.retention.ms": ConfigType.LONG,
    "min.cleanable.dirty.ratio": ConfigType.DOUBLE,
    "min.compaction.lag.ms": ConfigType.LONG,
}

_TOPIC_TO_BROKER_KEY = {topic: broker for broker, topic in BROKER_TO_TOPIC_KEYS.items()}


def topic_config_entries(
    config: BrokerConfig, overrides: dict[str, str], *, keys: list[str] | None, synonyms: bool
) -> list[dict[str, object]]:
    """Every topic config with its value and where the value comes from (topic, broker, default)."""
    entries = []
    for name in sorted(config.topic_defaults):
        if keys and name not in keys:
            continue
        broker_key = _TOPIC_TO_BROKER_KEY.get(name)
        chain = []
        if name in overrides:
            chain.append((name, overrides[name], ConfigSource.TOPIC_CONFIG))
        if broker_key and broker_key in config.raw:
            chain.append((broker_key, config.raw[broker_key], ConfigSource.STATIC_BROKER_CONFIG))
        chain.append((broker_key or name, config.topic_defaults[name], ConfigSource.DEFAULT_CONFIG))
        _, value, source = chain[0]
        entries.append({
            "name": name,
            "value": value,
            "read_only": False,
            "is_default": source == ConfigSource.DEFAULT_CONFIG,
            "config_source": source,
            "is_sensitive": False,
            "synonyms": [{"name": n, "value": v, "source": s} for n, v, s in chain] if synonyms else [],
            "config_type": TOPIC_CONFIG_TYPES.get(name, ConfigType.STRING),
            "documentation": None,
        })
    return entries


def broker_config_entries(config: BrokerConfig, *, keys: list[str] | None) -> list[dict[str, object]]:
    return [
        {"name": name, "value": value, "read_only": True, "is_default": False,
         "config_source": ConfigSource.STATIC_BROKER_CONFIG, "is_sensitive": False, "synonyms": [],
         "config_type": ConfigType.STRING, "documentation": None}
        for name, value in sorted(config.raw.items())
        if not keys or name in keys
    ]
