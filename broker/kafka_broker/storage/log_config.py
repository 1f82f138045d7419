"""Per-topic log settings: the topic configs the log acts on, typed.

:class:`LogConfig` is immutable; a change of topic config builds a new one with
:meth:`LogConfig.from_kafka` (Kafka's property names and string values) and hands it to the
partition logs of the topic. Names, types, defaults and validation come from the one topic config
table, :data:`kafka_broker.config.TOPIC_CONFIGS`; properties that are not log settings
(``min.insync.replicas``…) are ignored here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

from kafka_broker.config import TOPIC_CONFIGS, config_of, format_value, setting
from kafka_broker.storage.compression import CODEC_BY_NAME

LONG_MAX = 2**63 - 1


def _topic(name: str) -> Any:
    return setting(TOPIC_CONFIGS[name].definition)


@dataclass(frozen=True, slots=True)
class LogConfig:
    """The settings of one topic's partition logs. Durations in ms, sizes in bytes; -1 = unlimited."""

    segment_bytes: int = _topic("segment.bytes")
    segment_ms: int = _topic("segment.ms")
    segment_index_bytes: int = _topic("segment.index.bytes")
    index_interval_bytes: int = _topic("index.interval.bytes")
    retention_ms: int = _topic("retention.ms")
    retention_bytes: int = _topic("retention.bytes")
    max_message_bytes: int = _topic("max.message.bytes")
    compression_type: str = _topic("compression.type")
    message_timestamp_type: str = _topic("message.timestamp.type")
    cleanup_policy: tuple[str, ...] = _topic("cleanup.policy")
    file_delete_delay_ms: int = _topic("file.delete.delay.ms")
    flush_messages: int = _topic("flush.messages")
    flush_ms: int = _topic("flush.ms")
    delete_retention_ms: int = _topic("delete.retention.ms")
    min_cleanable_dirty_ratio: float = _topic("min.cleanable.dirty.ratio")
    min_compaction_lag_ms: int = _topic("min.compaction.lag.ms")

    TOPIC_CONFIG_NAMES: ClassVar[Mapping[str, str]]
    """Kafka topic config name → field name (set below)."""

    def __post_init__(self) -> None:
        # Validate (and normalise: "compact" → ("compact",)) values given directly to the constructor.
        for field in fields(self):
            definition = config_of(field)
            assert definition is not None
            value = getattr(self, field.name)
            object.__setattr__(self, field.name, definition.parse(format_value(value)))

    @classmethod
    def from_kafka(cls, props: Mapping[str, str], base: LogConfig | None = None) -> LogConfig:
        """``base`` (default: Kafka's defaults) with the topic configs in ``props`` applied.

        Raises ConfigError (a ValueError) with Kafka's message for a value Kafka would refuse;
        properties that are not log settings are ignored.
        """
        changes: dict[str, Any] = {}
        for name, raw in props.items():
            field = cls.TOPIC_CONFIG_NAMES.get(name)
            if field is not None:
                changes[field] = TOPIC_CONFIGS[name].definition.parse(raw)
        return replace(base or cls(), **changes)

    def to_kafka(self) -> dict[str, str]:
        """The settings under Kafka's names, as DescribeConfigs reports them."""
        return {name: format_value(getattr(self, field)) or "" for name, field in self.TOPIC_CONFIG_NAMES.items()}

    @property
    def codec(self) -> int | None:
        """The codec batches are stored in, or None for ``producer`` (as sent)."""
        return None if self.compression_type == "producer" else int(CODEC_BY_NAME[self.compression_type])

    @property
    def log_append_time(self) -> bool:
        return self.message_timestamp_type == "LogAppendTime"

    @property
    def deletes(self) -> bool:
        return "delete" in self.cleanup_policy

    @property
    def compacts(self) -> bool:
        return "compact" in self.cleanup_policy


def _names() -> dict[str, str]:
    names = {}
    for field in fields(LogConfig):
        definition = config_of(field)
        assert definition is not None
        names[definition.name] = field.name
    return names


LogConfig.TOPIC_CONFIG_NAMES = _names()
