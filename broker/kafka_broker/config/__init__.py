"""Configuration in Kafka's terms: one table of broker keys, one of topic configs, and the rules that
parse and validate both (:mod:`.definition`, :mod:`.broker`, :mod:`.topic`)."""

from .broker import (
    BROKER_CONFIGS,
    BrokerConfig,
    CleanerSettings,
    Endpoint,
    GroupSettings,
    ReplicationSettings,
    ZooKeeperSettings,
    build_config,
    load_config,
    parse_listener,
    topic_defaults,
)
from .definition import ConfigDef, ConfigError, ConfigType, Value, config_of, format_value, setting, settings_from
from .properties import parse_overrides, parse_properties
from .topic import (
    COMPRESSION_TYPES,
    TOPIC_CONFIGS,
    Synonym,
    TopicConfigDef,
    effective_value,
    parse_topic_config,
    valid_stored_config,
    validate_topic_config,
)

__all__ = [
    "BROKER_CONFIGS",
    "COMPRESSION_TYPES",
    "TOPIC_CONFIGS",
    "BrokerConfig",
    "CleanerSettings",
    "ConfigDef",
    "ConfigError",
    "ConfigType",
    "Endpoint",
    "GroupSettings",
    "ReplicationSettings",
    "Synonym",
    "TopicConfigDef",
    "Value",
    "ZooKeeperSettings",
    "build_config",
    "config_of",
    "effective_value",
    "format_value",
    "load_config",
    "parse_listener",
    "parse_overrides",
    "parse_properties",
    "parse_topic_config",
    "setting",
    "settings_from",
    "topic_defaults",
    "valid_stored_config",
    "validate_topic_config",
]
