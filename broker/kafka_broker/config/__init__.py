"""Configuration in Kafka's terms: one table of broker keys, one of topic configs, and the rules that
parse and validate both (:mod:`.definition`, :mod:`.broker`, :mod:`.topic`), and the rules of dynamic broker
configs (:mod:`.dynamic`)."""

from .authorizer import AuthorizerSettings
from .broker import (
    BROKER_CONFIGS,
    BrokerConfig,
    CleanerSettings,
    GroupSettings,
    ReplicationSettings,
    ZooKeeperSettings,
    build_config,
    load_config,
    topic_defaults,
)
from .definition import ConfigDef, ConfigError, ConfigType, Value, config_of, format_value, setting, settings_from
from .dynamic import (
    DYNAMIC_CONFIGS,
    PER_BROKER_CONFIGS,
    UNLISTED_UNLESS_SET,
    ConfigSource,
    Levels,
    broker_synonyms,
    merged,
    synonym_chain,
    validate_dynamic,
)
from .properties import parse_overrides, parse_properties
from .system_properties import ZooKeeperSaslProperties
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
    "DYNAMIC_CONFIGS",
    "PER_BROKER_CONFIGS",
    "TOPIC_CONFIGS",
    "UNLISTED_UNLESS_SET",
    "AuthorizerSettings",
    "BrokerConfig",
    "CleanerSettings",
    "ConfigDef",
    "ConfigError",
    "ConfigSource",
    "ConfigType",
    "GroupSettings",
    "Levels",
    "ReplicationSettings",
    "Synonym",
    "TopicConfigDef",
    "Value",
    "ZooKeeperSaslProperties",
    "ZooKeeperSettings",
    "broker_synonyms",
    "build_config",
    "config_of",
    "effective_value",
    "format_value",
    "load_config",
    "merged",
    "parse_overrides",
    "parse_properties",
    "parse_topic_config",
    "setting",
    "settings_from",
    "synonym_chain",
    "topic_defaults",
    "valid_stored_config",
    "validate_dynamic",
    "validate_topic_config",
]
