"""Per-topic log settings (Kafka's topic configs), with Kafka's defaults and validation.

:class:`LogConfig` is immutable; a change of topic config builds a new one with
:meth:`LogConfig.from_kafka` (Kafka's property names and string values, validated the way Kafka's
``ConfigDef`` validates them) and hands it to the partition logs of the topic. Properties that are
not log settings (``min.insync.replicas``, …) are ignored here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

from kafka_broker.storage.compression import CODEC_BY_NAME

LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1

COMPRESSION_TYPES = ("producer", *CODEC_BY_NAME)
TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")
CLEANUP_POLICIES = ("delete", "compact")


@dataclass(frozen=True, slots=True)
class LogConfig:
    """The settings of one topic's partition logs. Durations in ms, sizes in bytes; -1 = unlimited."""

    segment_bytes: int = 1024 * 1024 * 1024
    """``segment.bytes``: roll when the active segment would grow past this (1 GiB)."""
    segment_ms: int = 7 * 24 * 3600 * 1000
    """``segment.ms``: roll an active segment older than this, once it holds data (7 days)."""
    segment_index_bytes: int = 10 * 1024 * 1024
    """``segment.index.bytes``: preallocated size of each index file; a full index rolls (10 MiB)."""
    index_interval_bytes: int = 4096
    """``index.interval.bytes``: log bytes between two index entries (4096)."""
    retention_ms: int = 7 * 24 * 3600 * 1000
    """``retention.ms``: delete segments whose newest record is older than this (7 days; -1 never)."""
    retention_bytes: int = -1
    """``retention.bytes``: delete old segments while the partition is above this size (-1 never)."""
    max_message_bytes: int = 1048588
    """``max.message.bytes``: largest record batch accepted, header included (1 MiB + 12)."""
    compression_type: str = "producer"
    """``compression.type``: ``producer`` keeps the producer's codec, a codec name recompresses."""
    message_timestamp_type: str = "CreateTime"
    """``message.timestamp.type``: ``CreateTime`` (producer's) or ``LogAppendTime`` (broker's)."""
    cleanup_policy: str = "delete"
    """``cleanup.policy``: ``delete``, ``compact`` or ``compact,delete``."""
    file_delete_delay_ms: int = 60000
    """``file.delete.delay.ms``: how long deleted segments stay readable by in-flight fetches (60 s)."""
    flush_messages: int = LONG_MAX
    """``flush.messages``: fsync after this many appended records (Kafka's default: never)."""
    flush_ms: int = LONG_MAX
    """``flush.ms``: fsync when the last fsync is older than this (Kafka's default: never)."""
    delete_retention_ms: int = 24 * 3600 * 1000
    """``delete.retention.ms``: compacted topics keep a tombstone this long after its segment was cleaned (1 day)."""
    min_cleanable_dirty_ratio: float = 0.5
    """``min.cleanable.dirty.ratio``: clean when dirty bytes / cleanable bytes reach this (0.5)."""
    min_compaction_lag_ms: int = 0
    """``min.compaction.lag.ms``: records younger than this stay uncompacted (0)."""

    TOPIC_CONFIG_NAMES: ClassVar[Mapping[str, str]] = {
        "segment.bytes": "segment_bytes",
        "segment.ms": "segment_ms",
        "segment.index.bytes": "segment_index_bytes",
        "index.interval.bytes": "index_interval_bytes",
        "retention.ms": "retention_ms",
        "retention.bytes": "retention_bytes",
        "max.message.bytes": "max_message_bytes",
        "compression.type": "compression_type",
        "message.timestamp.type": "message_timestamp_type",
        "cleanup.policy": "cleanup_policy",
        "file.delete.delay.ms": "file_delete_delay_ms",
        "flush.messages": "flush_messages",
        "flush.ms": "flush_ms",
        "delete.retention.ms": "delete_retention_ms",
        "min.cleanable.dirty.ratio": "min_cleanable_dirty_ratio",
        "min.compaction.lag.ms": "min_compaction_lag_ms",
    }
    """Kafka topic config name → field name."""

    def __post_init__(self) -> None:
        for field in fields(self):
            name = _KAFKA_NAME[field.name]
            _PARSERS[name](name, str(getattr(self, field.name)))

    @classmethod
    def from_kafka(cls, props: Mapping[str, str], base: LogConfig | None = None) -> LogConfig:
        """``base`` (default: Kafka's defaults) with the topic configs in ``props`` applied.

        Raises ValueError naming the property for a value Kafka would refuse; properties that are
        not log settings are ignored.
        """
        changes: dict[str, Any] = {}
        for name, raw in props.items():
            field = cls.TOPIC_CONFIG_NAMES.get(name)
            if field is not None:
                changes[field] = _PARSERS[name](name, raw)
        return replace(base or cls(), **changes)

    def to_kafka(self) -> dict[str, str]:
        """The settings under Kafka's names, as DescribeConfigs reports them."""
        return {name: str(getattr(self, field)) for name, field in self.TOPIC_CONFIG_NAMES.items()}

    @property
    def codec(self) -> int | None:
        """The codec batches are stored in, or None for ``producer`` (as sent)."""
        return None if self.compression_type == "producer" else int(CODEC_BY_NAME[self.compression_type])

    @property
    def log_append_time(self) -> bool:
        return self.message_timestamp_type == "LogAppendTime"

    @property
    def deletes(self) -> bool:
        return "delete" in self.cleanup_policy.split(",")

    @property
    def compacts(self) -> bool:
        return "compact" in self.cleanup_policy.split(",")


_KAFKA_NAME = {field: name for name, field in LogConfig.TOPIC_CONFIG_NAMES.items()}
_INTEGER = re.compile(r"[+-]?\d+")


def _number(*, minimum: int, maximum: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        text = str(raw).strip()
        if not _INTEGER.fullmatch(text):
            raise ValueError(f"invalid value {raw!r} for {name}: expected an integer")
        value = int(text)
        if value < minimum:
            raise ValueError(f"invalid value {value} for {name}: must be at least {minimum}")
        if value > maximum:
            raise ValueError(f"invalid value {value} for {name}: must be at most {maximum}")
        return value

    return parse


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        text = str(raw).strip()
        if text not in choices:
            raise ValueError(f"invalid value {raw!r} for {name}: expected one of {', '.join(choices)}")
        return text

    return parse


def _ratio(name: str, raw: str) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ValueError(f"invalid value {raw!r} for {name}: expected a number") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"invalid value {value} for {name}: must be between 0 and 1")
    return value


def _policy(name: str, raw: str) -> str:
    items = [item.strip() for item in str(raw).split(",") if item.strip()]
    if not items or any(item not in CLEANUP_POLICIES for item in items):
        raise ValueError(f"invalid value {raw!r} for {name}: expected a list of {', '.join(CLEANUP_POLICIES)}")
    return ",".join(dict.fromkeys(items))


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "segment.bytes": _number(minimum=14, maximum=INT_MAX),
    "segment.ms": _number(minimum=1, maximum=LONG_MAX),
    "segment.index.bytes": _number(minimum=4, maximum=INT_MAX),
    "index.interval.bytes": _number(minimum=0, maximum=INT_MAX),
    "retention.ms": _number(minimum=-1, maximum=LONG_MAX),
    "retention.bytes": _number(minimum=-(2**63), maximum=LONG_MAX),
    "max.message.bytes": _number(minimum=0, maximum=INT_MAX),
    "compression.type": _choice(COMPRESSION_TYPES),
    "message.timestamp.type": _choice(TIMESTAMP_TYPES),
    "cleanup.policy": _policy,
    "file.delete.delay.ms": _number(minimum=0, maximum=LONG_MAX),
    "flush.messages": _number(minimum=1, maximum=LONG_MAX),
    "flush.ms": _number(minimum=0, maximum=LONG_MAX),
    "delete.retention.ms": _number(minimum=0, maximum=LONG_MAX),
    "min.cleanable.dirty.ratio": _ratio,
    "min.compaction.lag.ms": _number(minimum=0, maximum=LONG_MAX),
}
