"""Config entries as the config APIs report them: value, source, synonyms, type, documentation.

Everything is read from the config tables (:data:`~kafka_broker.config.TOPIC_CONFIGS`,
:data:`~kafka_broker.config.BROKER_CONFIGS`). A topic config's value comes from, in order, the
topic's override (TOPIC_CONFIG), the first of its broker synonyms set in ``server.properties``
(STATIC_BROKER_CONFIG; a scaled synonym such as ``log.retention.hours`` converted), or the default
(DEFAULT_CONFIG, reported under the broker synonym that carries it, as Kafka does). The synonyms
list is that chain, highest precedence first, with each broker value as written.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from kafka_broker.config import BROKER_CONFIGS, TOPIC_CONFIGS, BrokerConfig, ConfigDef, effective_value


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


Chain = list[tuple[str, str | None, ConfigSource]]


def _topic_chain(config: BrokerConfig, name: str, overrides: dict[str, str]) -> Chain:
    chain: Chain = []
    if name in overrides:
        chain.append((name, overrides[name], ConfigSource.TOPIC_CONFIG))
    row = TOPIC_CONFIGS[name]
    for synonym in row.synonyms:
        if synonym.name in config.raw:
            chain.append((synonym.name, config.raw[synonym.name], ConfigSource.STATIC_BROKER_CONFIG))
    if row.synonyms:
        carrier = BROKER_CONFIGS[row.synonyms[-1].name]
        chain.append((carrier.name, carrier.default, ConfigSource.DEFAULT_CONFIG))
    return chain


def _entry(definition: ConfigDef, value: str | None, source: ConfigSource, chain: Chain, *,
           synonyms: bool, documentation: bool, read_only: bool) -> dict[str, Any]:
    return {
        "name": definition.name,
        "value": value,
        "read_only": read_only,
        "config_source": source,
        "is_sensitive": False,
        "synonyms": [{"name": n, "value": v, "source": s} for n, v, s in chain] if synonyms else [],
        "config_type": definition.type,
        "documentation": definition.doc if documentation else None,
    }


def topic_config_entries(
    config: BrokerConfig, overrides: dict[str, str], *, keys: list[str] | None, synonyms: bool,
    documentation: bool = False,
) -> list[dict[str, Any]]:
    """Every topic config (or those named in ``keys``) with its effective value and where it comes from."""
    entries = []
    for name, row in sorted(TOPIC_CONFIGS.items()):
        if keys and name not in keys:
            continue
        value: str | None
        if name in overrides:
            value, source = overrides[name], ConfigSource.TOPIC_CONFIG
        else:
            value, _, raw = effective_value(name, config.raw)
            source = ConfigSource.DEFAULT_CONFIG if raw is None else ConfigSource.STATIC_BROKER_CONFIG
        entries.append(_entry(row.definition, value, source, _topic_chain(config, name, overrides),
                              synonyms=synonyms, documentation=documentation, read_only=False))
    return entries


def broker_config_entries(
    config: BrokerConfig, *, keys: list[str] | None, synonyms: bool = False, documentation: bool = False
) -> list[dict[str, Any]]:
    """Every broker key kopfka knows (or those named in ``keys``): as set in server.properties, else the
    default. All are static (read-only) until dynamic broker configs exist."""
    entries = []
    for name, definition in sorted(BROKER_CONFIGS.items()):
        if keys and name not in keys:
            continue
        chain: Chain = []
        if name in config.raw:
            chain.append((name, config.raw[name], ConfigSource.STATIC_BROKER_CONFIG))
        if definition.default is not None:
            chain.append((name, definition.default, ConfigSource.DEFAULT_CONFIG))
        value, source = (chain[0][1], chain[0][2]) if chain else (None, ConfigSource.DEFAULT_CONFIG)
        entries.append(_entry(definition, value, source, chain, synonyms=synonyms, documentation=documentation,
                              read_only=True))
    return entries
